"""PatchGAN discriminator (Isola et al. 2017), shared by notebooks 06 (Pix2Pix) and 07 (CycleGAN).

``NLayerDiscriminator(input_nc, ndf, n_layers, norm)`` maps ``(B, input_nc, H, W)`` to a map of logits
``(B, 1, H', W')``: one real/fake decision per overlapping patch, no sigmoid (use ``GANLoss``). With
``n_layers=3`` each output sees a 70x70 patch of the input (:func:`receptive_field`).
"""
from __future__ import annotations

import torch.nn as nn


def norm_layer(kind: str, channels: int) -> nn.Module:
    """``"batch"`` (Pix2Pix), ``"instance"`` (CycleGAN) or ``"none"``."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"Unknown norm {kind!r}: use batch, instance or none.")


class NLayerDiscriminator(nn.Module):
    """C64-C128-C256-C512 PatchGAN for ``n_layers=3``: 4x4 convolutions, stride 2 except the last two,
    LeakyReLU 0.2, no norm on the first layer, a 1-channel 4x4 convolution at the end."""

    def __init__(self, input_nc: int, ndf: int = 64, n_layers: int = 3, norm: str = "batch"):
        super().__init__()
        use_bias = norm != "batch"  # BatchNorm has its own shift
        layers: list[nn.Module] = [nn.Conv2d(input_nc, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2**n, 8)
            stride = 2 if n < n_layers else 1
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=stride, padding=1, bias=use_bias),
                       norm_layer(norm, ndf * mult), nn.LeakyReLU(0.2, True)]
        layers.append(nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


def receptive_field(model: nn.Module) -> int:
    """Side of the input patch that one output of a plain conv stack sees: ``r += (k - 1) * jump``."""
    field, jump = 1, 1
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            field += (m.kernel_size[0] - 1) * jump
            jump *= m.stride[0]
    return field
