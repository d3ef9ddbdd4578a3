"""Super-resolution generators of the series, introduced in notebook 02 (2x) and 03 (4x).

All models map an LR batch ``(B, 3, h, w)`` in ``[0, 1]`` to ``(B, 3, scale * h, scale * w)``; outputs are
*not* clamped (training sees the raw values, metrics and plots clamp).

* :class:`ResNetBlock` and :class:`Upscale2x` / :class:`Upscale4x`: the course's models (course doc 001), which
  upsample first (bilinear, ``align_corners=True``) and then refine at HR size. Notebook 04 reuses
  ``ResNetBlock``.
* :class:`PixelShuffleUpscaler`: the efficient design (ESPCN, Shi et al. 2016; SRResNet, Ledig et al. 2017):
  every convolution runs at LR size, a sub-pixel convolution (``PixelShuffle``) makes the HR image at the end,
  and the network only predicts a residual on top of a bicubic upsample.
* :func:`icnr_`: ICNR initialisation of a sub-pixel convolution (Aitken et al. 2017), for tails that do not start
  at zero; notebook 04 measures the checkerboard score it is meant to keep low.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class ResNetBlock(nn.Module):
    """The course's residual block (course doc 001): ``conv(k) -> ReLU -> BN -> conv(k) -> ReLU -> BN`` plus a shortcut.

    Both convolutions use ``kernel_size`` with padding ``kernel_size // 2`` (odd kernels keep ``H x W``);
    BatchNorm sits *after* the nonlinearity, as the course puts it. The shortcut is a 1x1 convolution that
    maps ``in_ch`` to ``out_ch`` channels (the identity when they are equal).
    ``(B, in_ch, H, W) -> (B, out_ch, H, W)``.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3):
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd to keep the size, got {kernel_size}.")
        pad = kernel_size // 2
        self.body = nn.Sequential(
            nn.Conv2d(in_ch, out_ch, kernel_size, padding=pad), nn.ReLU(), nn.BatchNorm2d(out_ch),
            nn.Conv2d(out_ch, out_ch, kernel_size, padding=pad), nn.ReLU(), nn.BatchNorm2d(out_ch),
        )
        self.shortcut = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.shortcut(x)


class Upscale2x(nn.Module):
    """Course doc 001's 2x upscaler: bilinear 2x upsample (``align_corners=True``), ResNetBlocks 3->64 (9x9),
    64->32 (7x7), 32->16 (5x5), a plain 5x5 convolution 16->3, added to the upsampled input.
    ``(B, 3, h, w) -> (B, 3, 2h, 2w)``."""

    def __init__(self):
        super().__init__()
        self.upsample = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
        self.model = nn.Sequential(
            ResNetBlock(3, 64, kernel_size=9),
            ResNetBlock(64, 32, kernel_size=7),
            ResNetBlock(32, 16, kernel_size=5),
            nn.Conv2d(16, 3, kernel_size=5, padding=2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        up = self.upsample(x)
        return up + self.model(up)


class Upscale4x(nn.Module):
    """Course doc 001's 4x upscaler (64->256 in the course): bilinear 4x upsample (``align_corners=True``),
    ResNetBlocks 3->64 (9x9), 64->48 (7x7), 48->32 (5x5), 32->24 (5x5), a plain 5x5 convolution 24->3,
    added to the upsampled input. ``(B, 3, h, w) -> (B, 3, 4h, 4w)``."""

    def __init__(self):
        super().__init__()
        self.upsample = nn.Upsample(scale_factor=4, mode="bilinear", align_corners=True)
        self.model = nn.Sequential(
            ResNetBlock(3, 64, kernel_size=9),
            ResNetBlock(64, 48, kernel_size=7),
            ResNetBlock(48, 32, kernel_size=5),
            ResNetBlock(32, 24, kernel_size=5),
            nn.Conv2d(24, 3, kernel_size=5, padding=2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        up = self.upsample(x)
        return up + self.model(up)


def icnr_(weight: torch.Tensor, scale: int, init=nn.init.kaiming_normal_) -> torch.Tensor:
    """ICNR initialisation (Aitken et al. 2017) of a sub-pixel convolution's weight, in place.

    ``weight``: ``(C * scale**2, C_in, k, k)``, the convolution before ``PixelShuffle(scale)``. One kernel per
    output channel ``c`` is drawn with ``init`` and repeated for its ``scale**2`` sub-pixel positions (channels
    ``c * scale**2 ... (c + 1) * scale**2 - 1``, the ones ``PixelShuffle`` puts into the same ``scale x scale``
    block), so at the start convolution + shuffle equals a convolution followed by nearest-neighbour upsampling:
    no checkerboard. Returns ``weight``.
    """
    out_ch = weight.shape[0]
    if out_ch % scale**2:
        raise ValueError(f"The weight has {out_ch} output channels, not a multiple of scale**2 = {scale**2}: is it "
                         "the convolution right before PixelShuffle(scale)?")
    with torch.no_grad():
        base = init(torch.empty(out_ch // scale**2, *weight.shape[1:], dtype=weight.dtype, device=weight.device))
        weight.copy_(base.repeat_interleave(scale**2, dim=0))
    return weight


class PixelShuffleUpscaler(nn.Module):
    """Compute at LR size, upsample at the end (ESPCN / SRResNet style), on top of a bicubic skip.

    ``head``: 5x5 conv 3->``channels`` + ReLU; ``n_blocks`` residual blocks ``x + conv3(ReLU(conv3(x)))``
    without BatchNorm (EDSR, Lim et al. 2017); ``tail``: 3x3 conv ``channels -> 3 * scale**2`` and
    ``PixelShuffle(scale)``, added to ``bicubic(x, scale)``. The tail starts at zero, so an untrained model *is* bicubic
    (unclamped) and training can only start from the classical baseline. ``(B, 3, h, w) -> (B, 3, scale*h, scale*w)``.
    """

    def __init__(self, scale: int, channels: int = 64, n_blocks: int = 4):
        super().__init__()
        if scale < 2 or int(scale) != scale:
            raise ValueError(f"scale must be an integer >= 2, got {scale}.")
        if channels < 1 or n_blocks < 0:
            raise ValueError(f"channels must be >= 1 and n_blocks >= 0, got {channels}, {n_blocks}.")
        self.scale = int(scale)
        self.head = nn.Sequential(nn.Conv2d(3, channels, 5, padding=2), nn.ReLU())
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(),
                          nn.Conv2d(channels, channels, 3, padding=1))
            for _ in range(n_blocks))
        self.tail = nn.Conv2d(channels, 3 * self.scale**2, 3, padding=1)
        self.shuffle = nn.PixelShuffle(self.scale)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        h = self.head(x)
        for block in self.blocks:
            h = h + block(h)
        return skip + self.shuffle(self.tail(h))
