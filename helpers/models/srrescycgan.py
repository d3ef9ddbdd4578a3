"""SRResCycGAN's networks and its gradient-difference TV loss, introduced in notebook 08 (Umer & Micheloni 2020,
course doc 003).

All images are RGB ``(B, 3, H, W)`` in ``[0, 1]``; generator outputs are *not* clamped (training sees the raw
values, metrics and plots clamp).

* :class:`SRResDNet` (G_HR, LR -> HR): "upscale, then refine". A :class:`helpers.models.upscalers.PixelShuffleUpscaler`
  makes a first 4x estimate ``u`` (it can start from notebook 03's weights), a small ResDNet predicts the artefacts
  of ``u`` (noise, ringing, blur residue) and subtracts them: ``x_hat = u - R(u)``.
  ``(B, 3, h, w) -> (B, 3, s*h, s*w)``.
* :class:`DegradationGenerator` (G_LR, HR -> LR): convolution -> ResNet blocks -> convolution, the learned
  degradation, plus an antialiased bicubic skip. ``(B, 3, H, W) -> (B, 3, H/s, W/s)``.
* :func:`gradient_tv_loss`: the notes' total-variation loss *to a target*,
  ``L1(dh(sr) - dh(hr)) + L1(dv(sr) - dv(hr))``.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .upscalers import PixelShuffleUpscaler


def image_gradients(img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward differences of ``(B, C, H, W)``: horizontal ``x[..., :, 1:] - x[..., :, :-1]`` ``(B, C, H, W-1)``
    and vertical ``x[..., 1:, :] - x[..., :-1, :]`` ``(B, C, H-1, W)``."""
    if img.ndim != 4:
        raise ValueError(f"Expected images (B, C, H, W), got {tuple(img.shape)}: add a batch dimension with img[None].")
    return img[..., :, 1:] - img[..., :, :-1], img[..., 1:, :] - img[..., :-1, :]


def gradient_tv_loss(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """Course doc 003's TV loss: ``mean|dh(sr) - dh(hr)| + mean|dv(sr) - dv(hr)|`` (forward differences, fp32).

    Unlike the plain TV regulariser (:func:`helpers.losses.tv_loss`, which pulls every gradient to 0 and blurs),
    this one pulls the output's gradients to the target's: edges the target has are kept, noise it lacks is
    penalised. Zero exactly when ``sr - hr`` is a constant.
    """
    if sr.shape != hr.shape:
        raise ValueError(f"Shapes differ: {tuple(sr.shape)} vs {tuple(hr.shape)}; compare images of the same size.")
    sh, sv = image_gradients(sr.float())
    th, tv = image_gradients(hr.float())
    return (sh - th).abs().mean() + (sv - tv).abs().mean()


class ResDBlock(nn.Module):
    """ResDNet's residual block: ``x + conv3(PReLU(conv3(PReLU(x))))`` (pre-activation, no BatchNorm); shape kept."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(nn.PReLU(channels), nn.Conv2d(channels, channels, 3, padding=1),
                                  nn.PReLU(channels), nn.Conv2d(channels, channels, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SRResDNet(nn.Module):
    """G_HR: upscale, then refine (SRResDNet, as SRResCycGAN's G_HR; Umer & Micheloni 2020).

    ``upscale``: ``PixelShuffleUpscaler(scale, **upscale_kwargs)`` (notebook 03's efficient model), ``u``.
    ``refine`` (a small ResDNet on ``u``): a 3x3 stride-2 encoder ``3 -> channels`` (stride 2: our choice, it runs
    the refinement at half the HR size), ``n_blocks`` :class:`ResDBlock`, a decoder ``conv3 channels -> 12`` +
    ``PixelShuffle(2)`` back to full size; the output is ``u - refine(u)``. The decoder starts at zero, so an
    untrained refinement passes ``u`` through: G_HR starts as its upscaler (e.g. notebook 03's model). The paper's
    trainable projection layer is left out (course doc 003 leaves it out too). ``(B, 3, h, w) -> (B, 3, s*h, s*w)``.
    """

    def __init__(self, scale: int = 4, upscale_kwargs: dict | None = None, channels: int = 32, n_blocks: int = 2):
        super().__init__()
        if channels < 1 or n_blocks < 0:
            raise ValueError(f"channels must be >= 1 and n_blocks >= 0, got {channels}, {n_blocks}.")
        self.scale = int(scale)
        self.upscale = PixelShuffleUpscaler(self.scale, **(upscale_kwargs or {}))
        self.encoder = nn.Conv2d(3, channels, 3, stride=2, padding=1)
        self.blocks = nn.Sequential(*[ResDBlock(channels) for _ in range(n_blocks)])
        self.decoder = nn.Sequential(nn.PReLU(channels), nn.Conv2d(channels, 3 * 4, 3, padding=1), nn.PixelShuffle(2))
        nn.init.zeros_(self.decoder[1].weight)
        nn.init.zeros_(self.decoder[1].bias)

    def refine(self, u: torch.Tensor) -> torch.Tensor:
        """The estimated artefacts of ``u`` ``(B, 3, H, W)`` (H, W even) -> same shape."""
        return self.decoder(self.blocks(self.encoder(u)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = self.upscale(x)
        return u - self.refine(u)


class DegradationGenerator(nn.Module):
    """G_LR, the learned degradation (course doc 003: convolution -> ResNet -> convolution), ``scale``x down.

    ``head``: two 3x3 stride-2 convolutions (for ``scale = 4``; ``log2(scale)`` in general) with LeakyReLU,
    ``3 + noise_channels -> channels``; ``n_blocks`` residual blocks ``x + conv3(LeakyReLU(conv3(x)))`` at LR size;
    ``tail``: 3x3 conv ``channels -> 3``, added to the antialiased bicubic downsample of the input. With
    ``noise_channels > 0`` (not in the notes: a deterministic network cannot draw random sensor noise) that many
    channels of N(0, 1) noise are appended to the input. The tail starts at zero, so the untrained G_LR *is*
    bicubic downsampling. ``(B, 3, H, W) -> (B, 3, H/scale, W/scale)``; ``H``, ``W`` must divide by ``scale``.
    """

    def __init__(self, scale: int = 4, channels: int = 32, n_blocks: int = 2, noise_channels: int = 1):
        super().__init__()
        if scale < 2 or scale & (scale - 1):
            raise ValueError(f"scale must be a power of 2 (2, 4, 8), got {scale}.")
        if channels < 1 or n_blocks < 0 or noise_channels < 0:
            raise ValueError(f"channels must be >= 1, n_blocks and noise_channels >= 0; got {channels}, "
                             f"{n_blocks}, {noise_channels}.")
        self.scale, self.noise_channels = int(scale), int(noise_channels)
        head: list[nn.Module] = []
        c_in = 3 + self.noise_channels
        for _ in range(self.scale.bit_length() - 1):
            head += [nn.Conv2d(c_in, channels, 3, stride=2, padding=1), nn.LeakyReLU(0.2)]
            c_in = channels
        self.head = nn.Sequential(*head)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.LeakyReLU(0.2),
                          nn.Conv2d(channels, channels, 3, padding=1))
            for _ in range(n_blocks))
        self.tail = nn.Conv2d(channels, 3, 3, padding=1)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        h, w = x.shape[-2:]
        if h % self.scale or w % self.scale:
            raise ValueError(f"HR size {h}x{w} is not divisible by {self.scale}: crop it first "
                             f"(helpers.data.mod_crop(img, {self.scale})).")
        skip = F.interpolate(x, size=(h // self.scale, w // self.scale), mode="bicubic", antialias=True,
                             align_corners=False)
        if self.noise_channels:
            if noise is None:
                noise = torch.randn(x.shape[0], self.noise_channels, h, w, device=x.device, dtype=x.dtype)
            x = torch.cat([x, noise.to(x)], dim=1)
        f = self.head(x)
        for block in self.blocks:
            f = f + block(f)
        return skip + self.tail(f)
