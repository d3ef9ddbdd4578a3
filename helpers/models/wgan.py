"""The WGAN-GP upscaler's networks from course doc 000, introduced in notebook 04 (written out there as well).

* :class:`Generator`: ResNetBlocks with 7x7 kernels 3->16->32->64->128->256 at LR resolution,
  ``PixelShuffle(4)`` (256 -> 16 channels at HR size), a 7x7 convolution 16->3 without activation, added to
  the bilinear 4x upsample. ``(B, 3, h, w) -> (B, 3, 4h, 4w)``, not clamped.
* :class:`Critic`: six strided convolutions (9x9, then 5x5; 32->64->128->256->512->1024), LeakyReLU(0.01),
  average pooling, ``Linear(1024, 1, bias=False)``, no final activation. ``(B, 3, H, W) -> (B, 1)`` scores.
  The course pools with a fixed 4x4 window (256x256 inputs only); here the pooling is adaptive, so the critic
  accepts any crop of at least 64x64 and is identical to the course's at 256x256.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .upscalers import ResNetBlock


class Generator(nn.Module):
    """Course doc 000's generator: ResNet blocks at LR size, PixelShuffle(4), 7x7 conv, plus the bilinear upsample."""

    def __init__(self):
        super().__init__()
        self.upBilinear = nn.Upsample(scale_factor=4, mode="bilinear", align_corners=True)
        self.model = nn.Sequential(
            ResNetBlock(3, 16, kernel_size=7),
            ResNetBlock(16, 32, kernel_size=7),
            ResNetBlock(32, 64, kernel_size=7),
            ResNetBlock(64, 128, kernel_size=7),
            ResNetBlock(128, 256, kernel_size=7),
            nn.PixelShuffle(upscale_factor=4),  # 256 channels at h x w -> 16 channels at 4h x 4w
            nn.Conv2d(16, 3, kernel_size=7, padding=3),  # no activation: a residual on the upsample
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.upBilinear(x) + self.model(x)


class Critic(nn.Module):
    """Course doc 000's critic: 6 stride-2 convolutions, LeakyReLU(0.01), average pooling, bias-free linear score."""

    def __init__(self):
        super().__init__()
        channels = [3, 32, 64, 128, 256, 512, 1024]
        layers: list[nn.Module] = []
        for i, (c_in, c_out) in enumerate(zip(channels[:-1], channels[1:])):
            k = 9 if i == 0 else 5
            layers += [nn.Conv2d(c_in, c_out, kernel_size=k, stride=2, padding=k // 2), nn.LeakyReLU(0.01)]
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1024, 1, bias=False)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if min(x.shape[-2:]) < 64:
            raise ValueError(f"The critic needs crops of at least 64x64, got {tuple(x.shape[-2:])}.")
        return self.model(x)
