"""Degradations: how LR inputs and distorted images are made. Knows nothing of models.

All functions take and return images as ``(B, 3, H, W)`` float tensors in ``[0, 1]`` (a single
``(3, H, W)`` image is accepted where noted) and clamp their results to ``[0, 1]``.

LR convention (introduced in notebook 01, used by every super-resolution notebook): PyTorch's bicubic
interpolation (a = -0.75) **with antialiasing**, on an HR image whose sides are multiples of the scale.
This is close to, not identical with, MATLAB's ``imresize`` (a = -0.5) that the SR papers use, so
absolute PSNR values are comparable between notebooks here, not digit for digit with papers.
"""
from __future__ import annotations

import io
import math

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


def _check_batch(img: torch.Tensor) -> None:
    if img.ndim != 4 or img.shape[1] != 3:
        raise ValueError(f"Expected images of shape (B, 3, H, W), got {tuple(img.shape)}: "
                         "add a batch dimension with img[None] or convert to RGB first.")


def check_divisible(height: int, width: int, scale: int) -> None:
    """Raise a ``ValueError`` that says what to do when an HR size does not divide by ``scale``."""
    if height % scale or width % scale:
        raise ValueError(f"HR size {height}x{width} is not divisible by scale {scale}: crop it to a "
                         f"multiple of {scale} first (helpers.data.mod_crop(img, {scale})).")


def bicubic_down(hr: torch.Tensor, scale: int) -> torch.Tensor:
    """Downsample ``(B, 3, H, W)`` by an integer ``scale`` with antialiased bicubic interpolation.

    Returns ``(B, 3, H / scale, W / scale)`` in ``[0, 1]``. ``H`` and ``W`` must divide by ``scale``.
    """
    _check_batch(hr)
    check_divisible(hr.shape[-2], hr.shape[-1], scale)
    size = (hr.shape[-2] // scale, hr.shape[-1] // scale)
    return F.interpolate(hr, size=size, mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)


def upsample(lr: torch.Tensor, scale: int, mode: str = "bicubic") -> torch.Tensor:
    """Upsample ``(B, 3, h, w)`` to ``(B, 3, h * scale, w * scale)``: the classical baseline, clamped to ``[0, 1]``."""
    _check_batch(lr)
    size = (lr.shape[-2] * scale, lr.shape[-1] * scale)
    align = None if mode == "nearest" else False
    return F.interpolate(lr, size=size, mode=mode, align_corners=align).clamp(0, 1)


def gaussian_kernel1d(sigma: float) -> torch.Tensor:
    """Normalised 1-D Gaussian of radius ``ceil(3 sigma)`` (length ``2 * radius + 1``)."""
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    radius = max(1, math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-(x**2) / (2 * sigma**2))
    return k / k.sum()


def gaussian_blur(img: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``(B, 3, H, W)`` with reflect padding; same shape out."""
    _check_batch(img)
    k = gaussian_kernel1d(sigma).to(img)
    r = (k.numel() - 1) // 2
    c = img.shape[1]
    x = F.pad(img, (r, r, 0, 0), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    x = F.pad(x, (0, 0, r, r), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
    return x.clamp(0, 1)


def add_gaussian_noise(img: torch.Tensor, sigma: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Add i.i.d. Gaussian noise of standard deviation ``sigma`` (in ``[0, 1]`` units), then clamp."""
    _check_batch(img)
    noise = torch.randn(img.shape, generator=generator, dtype=img.dtype, device="cpu").to(img.device)
    return (img + sigma * noise).clamp(0, 1)


def jpeg(img: torch.Tensor, quality: int) -> torch.Tensor:
    """Round-trip every image through Pillow's JPEG encoder at ``quality`` (1-95)."""
    _check_batch(img)
    out = []
    for one in img:
        arr = (one.permute(1, 2, 0).detach().cpu().numpy() * 255).round().clip(0, 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format="JPEG", quality=int(quality))
        dec = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"), dtype=np.float32) / 255
        out.append(torch.from_numpy(dec).permute(2, 0, 1))
    return torch.stack(out).to(img)


def shift(img: torch.Tensor, dx: int, dy: int = 0) -> torch.Tensor:
    """Translate by whole pixels (content moves right by ``dx``, down by ``dy``), edges replicated."""
    _check_batch(img)
    h, w = img.shape[-2:]
    if abs(dx) >= w or abs(dy) >= h:
        raise ValueError(f"Shift ({dx}, {dy}) is larger than the image {h}x{w}.")
    pad = (max(dx, 0), max(-dx, 0), max(dy, 0), max(-dy, 0))
    padded = F.pad(img, pad, mode="replicate")
    top, left = max(-dy, 0), max(-dx, 0)
    return padded[..., top:top + h, left:left + w]


def colour_shift(img: torch.Tensor, delta: tuple[float, float, float]) -> torch.Tensor:
    """Add a constant per RGB channel (e.g. ``(0.05, 0, -0.05)`` warms the image), then clamp."""
    _check_batch(img)
    return (img + torch.tensor(delta, dtype=img.dtype, device=img.device).view(1, 3, 1, 1)).clamp(0, 1)


# Introduced in notebook 08 (SRResCycGAN, course doc 003): the "unknown" real-world degradation of its LR domain.
REALWORLD_RANGES = {"blur_sigma": (0.6, 1.6), "noise_sigma": (0.01, 0.04), "jpeg_quality": (50, 90)}


def realworld_degrade(hr: torch.Tensor, scale: int = 4, generator: torch.Generator | None = None,
                      blur_sigma: tuple[float, float] = REALWORLD_RANGES["blur_sigma"],
                      noise_sigma: tuple[float, float] = REALWORLD_RANGES["noise_sigma"],
                      jpeg_quality: tuple[int, int] = REALWORLD_RANGES["jpeg_quality"],
                      ) -> tuple[torch.Tensor, list[dict[str, float]]]:
    """A random, per-image "real-world" degradation (notebook 08): for each image of ``(B, 3, H, W)`` in ``[0, 1]``

    1. Gaussian blur (:func:`gaussian_blur`) with ``sigma ~ U(blur_sigma)`` HR pixels,
    2. antialiased bicubic downsampling by ``scale`` (:func:`bicubic_down`),
    3. Gaussian noise (:func:`add_gaussian_noise`) with ``sigma ~ U(noise_sigma)`` (in ``[0, 1]`` units),
    4. JPEG (:func:`jpeg`) at an integer quality ``~ U{jpeg_quality[0], ..., jpeg_quality[1]}``.

    All random numbers (the three parameters, then the noise) come from ``generator`` image by image, so a seeded
    ``torch.Generator`` gives the same LR images on every machine (held-out sets stay fixed). A range ``(a, a)``
    fixes a parameter. Returns ``(lr (B, 3, H/scale, W/scale), [{"blur_sigma", "noise_sigma", "jpeg_quality"}, ...])``.
    """
    _check_batch(hr)
    check_divisible(hr.shape[-2], hr.shape[-1], scale)
    for name, (lo, hi) in (("blur_sigma", blur_sigma), ("noise_sigma", noise_sigma), ("jpeg_quality", jpeg_quality)):
        if lo > hi or lo < 0:
            raise ValueError(f"{name} range {(lo, hi)} must be (low, high) with 0 <= low <= high.")
    if blur_sigma[0] <= 0 or not 1 <= jpeg_quality[0] <= jpeg_quality[1] <= 95:
        raise ValueError(f"blur_sigma must be > 0 and jpeg_quality within 1-95, got {blur_sigma}, {jpeg_quality}.")

    def uniform(lo: float, hi: float) -> float:
        return lo + (hi - lo) * float(torch.rand((), generator=generator))

    out, params = [], []
    for img in hr:
        p = {"blur_sigma": uniform(*blur_sigma), "noise_sigma": uniform(*noise_sigma),
             "jpeg_quality": int(torch.randint(jpeg_quality[0], jpeg_quality[1] + 1, (), generator=generator))}
        x = bicubic_down(gaussian_blur(img[None], p["blur_sigma"]), scale)
        if p["noise_sigma"] > 0:
            x = add_gaussian_noise(x, p["noise_sigma"], generator)
        out.append(jpeg(x, p["jpeg_quality"]))
        params.append(p)
    return torch.cat(out), params
