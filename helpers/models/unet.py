"""U-Net generator of pix2pix (Isola et al. 2017), introduced in notebook 06 (Pix2Pix).

Written after the reference code junyanz/pytorch-CycleGAN-and-pix2pix ``models/networks.py`` and course doc 004's
sample code: the U-Net is built recursively from :class:`UnetSkipConnectionBlock`, innermost block first.
Each block halves the resolution on the way down (4x4 convolution, stride 2) and doubles it on the way up
(4x4 transposed convolution, stride 2, as in the paper; or bilinear 2x + 3x3 convolution, free of checkerboard
patterns), and concatenates its input to its output (the skip connection).

``UnetGenerator(input_nc, output_nc, num_downs, ngf, norm)`` maps ``(B, input_nc, H, W)`` in ``[-1, 1]`` to
``(B, output_nc, H, W)`` in ``[-1, 1]`` (tanh); ``H`` and ``W`` must be multiples of ``2 ** num_downs``.
The series keeps images in ``[0, 1]``: convert at the boundary with :func:`helpers.data.to_pm1` /
:func:`helpers.data.from_pm1`.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .patchgan import norm_layer


def up_layer(kind: str, in_nc: int, out_nc: int, bias: bool) -> nn.Module:
    """A 2x upsampling layer: ``"transpose"`` (4x4 transposed convolution, stride 2) or ``"resize"``
    (bilinear 2x, then a 3x3 convolution)."""
    if kind == "transpose":
        return nn.ConvTranspose2d(in_nc, out_nc, kernel_size=4, stride=2, padding=1, bias=bias)
    if kind == "resize":
        return nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                             nn.Conv2d(in_nc, out_nc, kernel_size=3, padding=1, bias=bias))
    raise ValueError(f"Unknown upsample {kind!r}: use transpose (the paper) or resize (no checkerboards).")


class UnetSkipConnectionBlock(nn.Module):
    """One level of the U-Net: ``x -> [down -> submodule -> up] -> cat(x, up)`` (outermost: no skip, tanh).

    ``outer_nc``: channels of this block's input and of its up-convolution's output; ``inner_nc``: channels
    after its down-convolution. The outermost block reads ``input_nc`` channels and ends in tanh; the
    innermost has no submodule and no norm after its down-convolution (its map is 1x1 in pix2pix).
    ``use_dropout`` adds Dropout(0.5) after the up-convolution (the paper's noise source). ``upsample``:
    ``"transpose"`` (the paper: 4x4 transposed convolution, stride 2) or ``"resize"`` (bilinear 2x, then a 3x3
    convolution: no checkerboard pattern, Odena et al. 2016).
    """

    def __init__(self, outer_nc: int, inner_nc: int, input_nc: int | None = None,
                 submodule: nn.Module | None = None, outermost: bool = False, innermost: bool = False,
                 norm: str = "batch", use_dropout: bool = False, upsample: str = "transpose"):
        super().__init__()
        self.outermost = outermost
        use_bias = norm != "batch"  # BatchNorm has its own shift
        input_nc = outer_nc if input_nc is None else input_nc
        downconv = nn.Conv2d(input_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
        downrelu = nn.LeakyReLU(0.2, True)
        uprelu = nn.ReLU(True)
        if outermost:
            upconv = up_layer(upsample, inner_nc * 2, outer_nc, bias=True)
            model = [downconv, submodule, uprelu, upconv, nn.Tanh()]
        elif innermost:
            upconv = up_layer(upsample, inner_nc, outer_nc, bias=use_bias)
            model = [downrelu, downconv, uprelu, upconv, norm_layer(norm, outer_nc)]
        else:
            upconv = up_layer(upsample, inner_nc * 2, outer_nc, bias=use_bias)
            model = [downrelu, downconv, norm_layer(norm, inner_nc), submodule,
                     uprelu, upconv, norm_layer(norm, outer_nc)]
            if use_dropout:
                model.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)  # the skip connection


class UnetGenerator(nn.Module):
    """pix2pix's U-Net: ``num_downs`` halvings, so a ``2**num_downs`` input reaches 1x1 at the bottleneck.

    Encoder C64-C128-C256-C512-C512... (``ngf`` = 64 in the paper), decoder the mirror image with skips.
    The ``num_downs - 5`` blocks next to the innermost one carry Dropout(0.5) when ``use_dropout``, as in the
    reference code (3 blocks for ``unet_256``). Input / output in ``[-1, 1]``; see :func:`helpers.data.to_pm1`.
    ``upsample`` is every block's (:class:`UnetSkipConnectionBlock`).
    """

    def __init__(self, input_nc: int, output_nc: int, num_downs: int = 8, ngf: int = 64, norm: str = "batch",
                 use_dropout: bool = True, upsample: str = "transpose"):
        super().__init__()
        if num_downs < 5:
            raise ValueError(f"num_downs={num_downs}: the U-Net needs at least 5 levels (use 7 for 128x128 "
                             "inputs, 8 for 256x256).")
        self.num_downs = num_downs
        kw = {"norm": norm, "upsample": upsample}
        block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, innermost=True, **kw)
        for _ in range(num_downs - 5):
            block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, submodule=block, use_dropout=use_dropout, **kw)
        block = UnetSkipConnectionBlock(ngf * 4, ngf * 8, submodule=block, **kw)
        block = UnetSkipConnectionBlock(ngf * 2, ngf * 4, submodule=block, **kw)
        block = UnetSkipConnectionBlock(ngf, ngf * 2, submodule=block, **kw)
        self.model = UnetSkipConnectionBlock(output_nc, ngf, input_nc=input_nc, submodule=block, outermost=True, **kw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        multiple = 2**self.num_downs
        if x.ndim != 4 or x.shape[-2] % multiple or x.shape[-1] % multiple:
            raise ValueError(f"UnetGenerator with num_downs={self.num_downs} needs (B, C, H, W) with H and W "
                             f"multiples of {multiple}; got {tuple(x.shape)}. Crop or pad the input.")
        return self.model(x)
