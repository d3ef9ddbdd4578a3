"""CycleGAN pieces (Zhu et al. 2017), introduced in notebook 07 and reused by SRResCycGAN (a later notebook).

* :class:`ResnetGenerator` -- c7s1-ngf, d(2ngf), d(4ngf), R(4ngf) x ``n_blocks``, u(2ngf), u(ngf), c7s1-3 with
  reflection padding, instance norm and a ``tanh`` output. It maps ``(B, input_nc, H, W)`` in ``[-1, 1]`` to
  ``(B, output_nc, H, W)`` in ``[-1, 1]`` (``H`` and ``W`` divisible by 4); convert explicitly with
  :func:`helpers.data.to_pm1` / :func:`helpers.data.from_pm1` at the series' ``[0, 1]`` boundary.
* :class:`ImagePool` -- the history of generated images the discriminators see (Shrivastava et al. 2017).
* :func:`linear_decay` -- the learning-rate schedule: constant for the first half, then linearly to 0.

The PatchGAN discriminator is :class:`helpers.models.patchgan.NLayerDiscriminator` (``norm="instance"``).
"""
from __future__ import annotations

import random

import torch
import torch.nn as nn

from .patchgan import norm_layer


class ResnetBlock(nn.Module):
    """R``dim``: ``x + [pad, conv3x3, norm, ReLU, pad, conv3x3, norm](x)`` with reflection padding; shape kept."""

    def __init__(self, dim: int, norm: str = "instance"):
        super().__init__()
        self.block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), norm_layer(norm, dim), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), norm_layer(norm, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class ResnetGenerator(nn.Module):
    """Zhu et al.'s generator: c7s1-ngf, d2ngf, d4ngf, R4ngf x n_blocks, u2ngf, ungf, c7s1-output_nc, tanh.

    ``ngf=64, n_blocks=9`` is the paper's 256x256 model (6 blocks at 128x128). Maps ``(B, input_nc, H, W)``
    in ``[-1, 1]`` to ``(B, output_nc, H, W)`` in ``[-1, 1]``; ``H`` and ``W`` must be divisible by 4 (two
    stride-2 downsamplings). ``norm`` is ``"instance"`` (the paper), ``"batch"`` or ``"none"``.

    ``skip=True`` (not in the paper; notebook 07's short CPU runs) adds the input in tanh space,
    ``tanh(atanh(x) + net(x))``, with the last convolution initialised to zero, so the untrained generator is
    the identity (up to clamping ``x`` to ``[-0.999, 0.999]``) and training learns only the change.
    Needs ``input_nc == output_nc``.
    """

    def __init__(self, input_nc: int = 3, output_nc: int = 3, ngf: int = 64, n_blocks: int = 9,
                 norm: str = "instance", skip: bool = False):
        super().__init__()
        if ngf < 1 or n_blocks < 0:
            raise ValueError(f"ngf must be >= 1 and n_blocks >= 0, got ngf={ngf}, n_blocks={n_blocks}.")
        if skip and input_nc != output_nc:
            raise ValueError(f"skip=True adds the input to the output: input_nc ({input_nc}) must equal "
                             f"output_nc ({output_nc}).")
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7), norm_layer(norm, ngf), nn.ReLU(True)]
        for mult in (1, 2):  # d(2 ngf), d(4 ngf): 3x3 convolutions with stride 2
            layers += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1),
                       norm_layer(norm, ngf * mult * 2), nn.ReLU(True)]
        layers += [ResnetBlock(ngf * 4, norm) for _ in range(n_blocks)]
        for mult in (4, 2):  # u(2 ngf), u(ngf): 3x3 transposed convolutions with stride 1/2
            layers += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1),
                       norm_layer(norm, ngf * mult // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        self.skip = skip
        if skip:  # start as the identity: the last convolution outputs 0
            nn.init.zeros_(layers[-2].weight)
            nn.init.zeros_(layers[-2].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % 4 or x.shape[-2] % 4:
            raise ValueError(f"ResnetGenerator needs H and W divisible by 4, got {tuple(x.shape[-2:])}: "
                             "crop the input first (helpers.mod_crop(img, 4)).")
        if not self.skip:
            return self.model(x)
        change = self.model[:-1](x).float()  # everything but the tanh
        return torch.tanh(torch.atanh(x.float().clamp(-0.999, 0.999)) + change)


class ImagePool:
    """A buffer of up to ``size`` previously generated images (Shrivastava et al. 2017; Zhu et al. use 50).

    ``query(images)`` goes through the batch image by image: while the pool is not full, the image is stored
    and returned; afterwards, with probability 1/2 a random stored image is returned and the new one takes its
    place, otherwise the new image is returned. The discriminator thus sees a history of the generator's
    outputs, not only the latest. ``size=0`` returns the batch unchanged. Images are stored detached.
    """

    def __init__(self, size: int = 50, rng: random.Random | None = None):
        if size < 0:
            raise ValueError(f"ImagePool size must be >= 0, got {size}.")
        self.size = size
        self.images: list[torch.Tensor] = []
        self.rng = rng or random.Random(0)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images
        out = []
        for img in images.detach():
            img = img.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(img)
                out.append(img)
            elif self.rng.random() < 0.5:
                i = self.rng.randrange(self.size)
                out.append(self.images[i].clone())
                self.images[i] = img
            else:
                out.append(img)
        return torch.cat(out, 0)


def linear_decay(step: int, total: int, decay_start: int | None = None) -> float:
    """Learning-rate factor: 1 for ``step < decay_start`` (default ``total // 2``), then linearly to 0 at
    ``total``. Zhu et al.: 100 epochs at 2e-4, then 100 epochs decaying to 0. Use with ``LambdaLR``."""
    if total <= 0:
        raise ValueError(f"total must be positive, got {total}.")
    start = total // 2 if decay_start is None else decay_start
    if step < start:
        return 1.0
    return max(0.0, 1.0 - (step - start) / max(1, total - start))
