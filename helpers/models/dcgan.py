"""Fully connected GAN and DCGAN (Radford, Metz & Chintala 2016) for small single-channel images.
Introduced in notebook 05 (vanilla GAN and DCGAN); reused by later GAN notebooks.

Conventions: the latent code ``z`` is ``(B, z_dim)`` from ``N(0, I)``; generators end in ``tanh`` and return
``(B, 1, size, size)`` in ``[-1, 1]`` (use :func:`helpers.data.to_pm1` / :func:`helpers.data.from_pm1` to move between
that and the
series' ``[0, 1]``); discriminators return raw **logits** ``(B,)`` with no sigmoid, for ``helpers.losses.GANLoss``.
``size`` is 16 or 32 (DCGAN: one stride-2 stage per doubling above 4x4).
"""
from __future__ import annotations

import torch
import torch.nn as nn

DCGAN_SIZES = (16, 32)



def dcgan_stages(size: int) -> int:
    """Number of stride-2 stages between 4x4 and ``size`` (16 -> 2, 32 -> 3); other sizes raise ``ValueError``."""
    if size not in DCGAN_SIZES:
        raise ValueError(f"DCGAN image size {size} is not supported: use 16 or 32 (resize the data, e.g. "
                         "helpers.data.digits(size=16)).")
    return size.bit_length() - 3  # 16 -> 2, 32 -> 3 stride-2 stages after the 4x4 start


def dcgan_init(module: nn.Module) -> None:
    """Radford et al.'s initialisation: conv weights ~ N(0, 0.02), BatchNorm scale ~ N(1, 0.02), biases 0.
    Use as ``net.apply(dcgan_init)``."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class FCGenerator(nn.Module):
    """Goodfellow et al.'s (2014) multilayer-perceptron generator: z -> hidden -> hidden -> size*size, tanh.

    ``(B, z_dim)`` -> ``(B, 1, size, size)`` in ``[-1, 1]``.
    """

    def __init__(self, z_dim: int = 64, size: int = 16, hidden: int = 256):
        super().__init__()
        self.z_dim, self.size = z_dim, size
        self.net = nn.Sequential(
            nn.Linear(z_dim, hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, size * size), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, 1, self.size, self.size)


class FCDiscriminator(nn.Module):
    """Multilayer-perceptron discriminator: ``(B, 1, size, size)`` in ``[-1, 1]`` -> logits ``(B,)``."""

    def __init__(self, size: int = 16, hidden: int = 256):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(size * size, hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(-1)


class DCGenerator(nn.Module):
    """DCGAN generator: z as a 1x1 map -> 4x4 (transposed conv, kernel 4) -> doubling stride-2 transposed
    convs (kernel 4, padding 1) with BatchNorm + ReLU, channels halving -> 1 channel + tanh at ``size``.

    ``(B, z_dim)`` -> ``(B, 1, size, size)`` in ``[-1, 1]``. For size 16: ``z -> 4ngf@4 -> 2ngf@8 -> 1@16``.
    """

    def __init__(self, z_dim: int = 64, size: int = 16, ngf: int = 32):
        super().__init__()
        stages = dcgan_stages(size)
        self.z_dim, self.size = z_dim, size
        ch = ngf * 2**stages
        layers: list[nn.Module] = [nn.ConvTranspose2d(z_dim, ch, 4, 1, 0, bias=False), nn.BatchNorm2d(ch),
                                   nn.ReLU(True)]
        for _ in range(stages - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, 1, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(dcgan_init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(-1, self.z_dim, 1, 1))


class DCDiscriminator(nn.Module):
    """DCGAN discriminator: stride-2 convs (kernel 4, padding 1), LeakyReLU 0.2, BatchNorm on all but the
    first, channels doubling down to 4x4, then a 4x4 valid conv to one logit (no sigmoid).

    ``(B, 1, size, size)`` in ``[-1, 1]`` -> logits ``(B,)``. For size 16: ``1@16 -> ndf@8 -> 2ndf@4 -> 1``;
    the default ``ndf = 64`` mirrors the default generator's channels (``2ngf@8``, ``4ngf@4``).
    """

    def __init__(self, size: int = 16, ndf: int = 64):
        super().__init__()
        stages = dcgan_stages(size)
        layers: list[nn.Module] = [nn.Conv2d(1, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        ch = ndf
        for _ in range(stages - 1):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch * 2), nn.LeakyReLU(0.2, True)]
            ch *= 2
        layers.append(nn.Conv2d(ch, 1, 4, 1, 0, bias=False))
        self.net = nn.Sequential(*layers)
        self.apply(dcgan_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(-1)
