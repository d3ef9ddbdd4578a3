"""Weight-free perception measures: what an upscaler's output looks like next to HR, measured without any network
(nothing here can be the training loss of a model it scores). Introduced for notebook 11's leaderboard and
``python -m helpers.upscale``; notebook 09 uses the patch distance.

Inputs are ``(B, 3, H, W)`` RGB in ``[0, 1]`` (values are clamped), ``sr`` and ``hr`` of the same size; every
measure returns one value per image, ``(B,)``. Spectra are taken on BT.601 luma (:func:`helpers.metrics.rgb_to_y`)
after removing the mean and applying a 2-D Hann window, so the image border does not leak power into every
frequency.

* :func:`hf_power_ratio`: power of ``sr`` over that of ``hr`` in the band an LR image cannot carry, radial
  frequencies ``1 / (2 scale) < f <= 1/2`` cycles per pixel. About 1: the right amount of detail; well below 1:
  blur (bicubic, an MSE model); above 1: noise or artefacts. Noise fools it, hence :func:`noise_matched`.
* :func:`laplacian_swd`: the sliced Wasserstein distance between 7x7 RGB patches of the Laplacian pyramids of
  ``sr`` and ``hr`` (Karras et al. 2018, the ProGAN paper of course doc 004), each level's descriptors normalised by
  HR's per-channel mean and std at that level (Karras normalise each set by its own, which would hide blur),
  averaged over levels, times 1000. Lower is closer; 0 for identical images.
* :func:`checkerboard_score`: how much more ``sr``'s spectrum peaks at the multiples of ``1 / period`` (where a
  sub-pixel convolution of that period puts its checkerboard) than ``hr``'s does, each peak measured against the
  ring of frequencies around it, so HR's own periodic structure (JPEG 8-px blocks) cancels. About 1: none. The
  score is scale-free and sensitive: a coherent pattern far below visibility (half a grey level) already scores
  near 10 on photos, whose spectra are weak at these frequencies; compare models with each other.
* :func:`rise_width`: the mean 10-90 % rise width, in pixels, of an image's luma across HR's strongest edges
  (a sharp step: 0.8 px; a step blurred by a Gaussian of std ``s``: about ``2.56 s``). Lower is sharper.
* :func:`noise_matched`: the control every perception claim must beat: ``sr`` plus grey Gaussian noise whose
  power in the high band brings ``sr``'s up to ``hr``'s.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .metrics import Y_COEFFS, rgb_to_y

SWD_PATCH = 7  # patch side of the Laplacian-pyramid descriptors (Karras et al. 2018)
SWD_MIN_SIDE = 16  # the coarsest pyramid level is at least this large (Karras et al. 2018)
SWD_DIRECTIONS = 128  # random projections per level
SWD_MAX_PATCHES = 4096  # patches per image and level (a regular grid, strided when the level is larger)
EDGE_COUNT = 64  # strongest HR edges measured by rise_width
EDGE_RADIUS = 6  # half-length of the profile across an edge, pixels


def _check_pair(sr: torch.Tensor, hr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if sr.shape != hr.shape or sr.ndim != 4 or sr.shape[1] != 3:
        raise ValueError(f"Expected two (B, 3, H, W) RGB batches of the same size, got {tuple(sr.shape)} and "
                         f"{tuple(hr.shape)}.")
    return sr.detach().float().clamp(0, 1), hr.detach().float().clamp(0, 1)


def power_spectrum(y: torch.Tensor) -> torch.Tensor:
    """Windowed power spectrum ``(B, H, W)`` (``torch.fft`` order) of a luma batch ``(B, 1, H, W)``: mean removed,
    2-D Hann window, ``|FFT|^2`` divided by the window's energy (so white noise of variance ``v`` has power ``v``
    per frequency)."""
    _, _, h, w = y.shape
    window = torch.outer(torch.hann_window(h, periodic=False, dtype=y.dtype),
                         torch.hann_window(w, periodic=False, dtype=y.dtype))
    centred = (y[:, 0] - y[:, 0].mean(dim=(-2, -1), keepdim=True)) * window
    return torch.fft.fft2(centred).abs().pow(2) / window.pow(2).sum()


def radial_frequency(h: int, w: int) -> torch.Tensor:
    """``(H, W)`` radial frequency in cycles per pixel of every bin of an ``H x W`` FFT (``torch.fft`` order)."""
    fy, fx = torch.fft.fftfreq(h), torch.fft.fftfreq(w)
    return torch.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)


def high_band(h: int, w: int, scale: int) -> torch.Tensor:
    """``(H, W)`` boolean mask of the frequencies an image downsampled ``scale`` times cannot carry:
    ``1 / (2 scale) < f <= 1/2`` cycles per pixel."""
    if scale < 2:
        raise ValueError(f"scale must be >= 2, got {scale}.")
    f = radial_frequency(h, w)
    return (f > 0.5 / scale) & (f <= 0.5)


def band_power(img: torch.Tensor, scale: int) -> torch.Tensor:
    """Luma power of ``(B, 3, H, W)`` RGB in the high band of :func:`high_band`, summed over its bins, ``(B,)``."""
    spectrum = power_spectrum(rgb_to_y(img.float()))
    return spectrum[:, high_band(*img.shape[-2:], scale)].sum(dim=1)


def hf_power_ratio(sr: torch.Tensor, hr: torch.Tensor, scale: int) -> torch.Tensor:
    """High-band luma power of ``sr`` over that of ``hr``, ``(B,)``: about 1 right, well below 1 blur, above 1
    noise or artefacts."""
    sr, hr = _check_pair(sr, hr)
    return band_power(sr, scale) / band_power(hr, scale).clamp_min(1e-12)


def noise_matched(sr: torch.Tensor, hr: torch.Tensor, scale: int,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """``sr`` plus grey (equal in R, G, B) white Gaussian noise whose high-band luma power makes up what ``sr``
    lacks of ``hr``'s (no noise where ``sr`` has as much or more), clamped to ``[0, 1]``: ``(B, 3, H, W)``.

    A perception claim that does not beat this control only says "it added power", not "it added the right
    detail". Seeded by ``generator``.
    """
    sr, hr = _check_pair(sr, hr)
    b, _, h, w = sr.shape
    noise = torch.randn(b, 1, h, w, generator=generator).expand(b, 3, h, w)
    luma_gain = sum(Y_COEFFS) / 255.0  # the luma of grey noise n is n * luma_gain (the offset is removed)
    noise_power = power_spectrum(noise[:, :1] * luma_gain)[:, high_band(h, w, scale)].sum(dim=1)
    deficit = (band_power(hr, scale) - band_power(sr, scale)).clamp_min(0)
    sigma = (deficit / noise_power).sqrt().view(b, 1, 1, 1)
    return (sr + sigma * noise).clamp(0, 1)


def _peak_ratio(y: torch.Tensor, period: int) -> torch.Tensor:
    """Mean over the peaks at ``(i / period, j / period)`` (not both 0) of the power in the 3x3 bins at the peak
    over the mean power in the ring of bins 2-4 away (Chebyshev distance), ``(B,)``."""
    spectrum = power_spectrum(y)
    _, h, w = spectrum.shape
    if h % period or w % period:
        raise ValueError(f"Image {h}x{w} is not a multiple of the period {period}: crop it first.")
    dy, dx = torch.meshgrid(torch.arange(-4, 5), torch.arange(-4, 5), indexing="ij")
    dist = torch.maximum(dy.abs(), dx.abs())
    inner, ring = dist <= 1, dist >= 2
    ratios = []
    for i in range(period):
        for j in range(period):
            if i == 0 and j == 0:
                continue
            rows = (i * h // period + dy) % h
            cols = (j * w // period + dx) % w
            patch = spectrum[:, rows, cols]
            ratios.append(patch[:, inner].mean(dim=1) / patch[:, ring].mean(dim=1).clamp_min(1e-12))
    return torch.stack(ratios, dim=1).mean(dim=1)


def checkerboard_score(sr: torch.Tensor, hr: torch.Tensor, period: int) -> torch.Tensor:
    """``sr``'s spectral peakiness at the multiples of ``1 / period`` over ``hr``'s, ``(B,)``; about 1: no
    checkerboard, above 1: a periodic pattern of that period (a sub-pixel convolution's is ``period = scale``).
    ``H`` and ``W`` must be multiples of ``period``."""
    if period < 2:
        raise ValueError(f"period must be >= 2, got {period}.")
    sr, hr = _check_pair(sr, hr)
    return _peak_ratio(rgb_to_y(sr), period) / _peak_ratio(rgb_to_y(hr), period)


_BINOMIAL = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


def _blur_down(img: torch.Tensor) -> torch.Tensor:
    """5-tap binomial blur and 2x decimation, per channel, reflect padding: one Gaussian-pyramid step."""
    c = img.shape[1]
    k = torch.outer(_BINOMIAL, _BINOMIAL).to(img).expand(c, 1, 5, 5)
    return F.conv2d(F.pad(img, (2, 2, 2, 2), mode="reflect"), k, groups=c)[..., ::2, ::2]


def laplacian_pyramid(img: torch.Tensor, min_side: int = SWD_MIN_SIDE) -> list[torch.Tensor]:
    """Laplacian pyramid of ``(B, C, H, W)``, finest level first: each level is the image minus the bilinear
    upsample of its blurred, decimated version; the last level is the coarsest Gaussian level (side >= ``min_side``)."""
    levels, current = [], img
    while min(current.shape[-2:]) // 2 >= min_side:
        down = _blur_down(current)
        up = F.interpolate(down, size=current.shape[-2:], mode="bilinear", align_corners=False)
        levels.append(current - up)
        current = down
    levels.append(current)
    return levels


def _patches(level: torch.Tensor) -> torch.Tensor:
    """``(B, N, C * 7 * 7)`` patch descriptors on a regular grid, strided so that ``N <= SWD_MAX_PATCHES``."""
    h, w = level.shape[-2:]
    positions = (h - SWD_PATCH + 1) * (w - SWD_PATCH + 1)
    stride = max(1, math.ceil(math.sqrt(positions / SWD_MAX_PATCHES)))
    return F.unfold(level, SWD_PATCH, stride=stride).transpose(1, 2)


def laplacian_swd(sr: torch.Tensor, hr: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Sliced Wasserstein distance (x1000) between the 7x7 RGB patches of ``sr``'s and ``hr``'s Laplacian
    pyramids, averaged over levels, ``(B,)``; 0 for identical images, larger for blur, noise, artefacts or colour
    shifts. Descriptors are normalised per channel by HR's mean and std at each level. ``seed`` fixes the
    :data:`SWD_DIRECTIONS` random directions. Images need a side of at least ``2 * SWD_MIN_SIDE``."""
    sr, hr = _check_pair(sr, hr)
    if min(sr.shape[-2:]) < 2 * SWD_MIN_SIDE:
        raise ValueError(f"laplacian_swd needs images of at least {2 * SWD_MIN_SIDE} px a side, got "
                         f"{tuple(sr.shape[-2:])}.")
    gen = torch.Generator().manual_seed(seed)
    per_level = []
    for lev_sr, lev_hr in zip(laplacian_pyramid(sr), laplacian_pyramid(hr)):
        mean = lev_hr.mean(dim=(0, 2, 3), keepdim=True)
        std = lev_hr.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
        a, b = _patches((lev_sr - mean) / std), _patches((lev_hr - mean) / std)
        dirs = torch.randn(a.shape[-1], SWD_DIRECTIONS, generator=gen)
        dirs = dirs / dirs.norm(dim=0, keepdim=True)
        proj_a, _ = torch.sort(a @ dirs, dim=1)
        proj_b, _ = torch.sort(b @ dirs, dim=1)
        per_level.append((proj_a - proj_b).abs().mean(dim=(1, 2)))
    return torch.stack(per_level, dim=1).mean(dim=1) * 1e3


def _edge_points(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The :data:`EDGE_COUNT` strongest edge points of one luma image ``(H, W)`` (Sobel magnitude, local maxima
    in a 9x9 window, at least :data:`EDGE_RADIUS` + 1 px from the border): rows, cols, and whether the gradient
    is mostly horizontal."""
    sobel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    img = y[None, None]
    gx = F.conv2d(F.pad(img, (1, 1, 1, 1), mode="replicate"), sobel[None, None])[0, 0]
    gy = F.conv2d(F.pad(img, (1, 1, 1, 1), mode="replicate"), sobel.T[None, None])[0, 0]
    mag = torch.sqrt(gx**2 + gy**2)
    peaks = mag == F.max_pool2d(mag[None, None], 9, stride=1, padding=4)[0, 0]
    m = EDGE_RADIUS + 1
    valid = torch.zeros_like(peaks)
    valid[m:-m, m:-m] = True
    score = torch.where(peaks & valid & (mag > 1e-6), mag, torch.zeros_like(mag)).flatten()
    top = torch.topk(score, min(EDGE_COUNT, int((score > 0).sum()))).indices
    rows, cols = top // y.shape[1], top % y.shape[1]
    return rows, cols, gx.flatten()[top].abs() >= gy.flatten()[top].abs()


def _crossing(t: torch.Tensor, level: float) -> torch.Tensor:
    """Sub-pixel position where each rising profile ``(N, L)`` reaches ``level``: ``k`` samples lie below it, so
    the crossing is between samples ``k - 1`` and ``k`` (linear interpolation, fraction clamped to ``[0, 1]``;
    robust to a profile that wiggles)."""
    k = (t < level).sum(dim=1).clamp(1, t.shape[1] - 1)
    before, after = t.gather(1, (k - 1)[:, None])[:, 0], t.gather(1, k[:, None])[:, 0]
    frac = ((level - before) / (after - before).clamp_min(1e-6)).clamp(0, 1)
    return (k - 1) + frac


def rise_width(img: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """Mean 10-90 % rise width (pixels) of ``img``'s luma across ``hr``'s :data:`EDGE_COUNT` strongest edges,
    ``(B,)``: a profile of ``2 * EDGE_RADIUS + 1`` px along the edge's dominant gradient axis, oriented by HR's
    gradient and normalised between the means of its two end pixels at each side. Lower is sharper."""
    img, hr = _check_pair(img, hr)
    y_img, y_hr = rgb_to_y(img)[:, 0], rgb_to_y(hr)[:, 0]
    offsets = torch.arange(-EDGE_RADIUS, EDGE_RADIUS + 1)
    widths = []
    for b in range(img.shape[0]):
        rows, cols, horizontal = _edge_points(y_hr[b])
        if len(rows) == 0:
            raise ValueError("rise_width needs an HR image with edges; this one is flat.")
        r = torch.where(horizontal[:, None], rows[:, None], rows[:, None] + offsets)
        c = torch.where(horizontal[:, None], cols[:, None] + offsets, cols[:, None])
        prof, ref = y_img[b][r, c], y_hr[b][r, c]
        flip = (ref[:, -2:].mean(dim=1) < ref[:, :2].mean(dim=1))[:, None]
        prof = torch.where(flip, prof.flip(1), prof)
        low, high = prof[:, :2].mean(dim=1, keepdim=True), prof[:, -2:].mean(dim=1, keepdim=True)
        t = (prof - low) / (high - low).clamp_min(1e-6)
        widths.append((_crossing(t, 0.9) - _crossing(t, 0.1)).mean())
    return torch.stack(widths)


def perception_scores(sr: torch.Tensor, hr: torch.Tensor, scale: int) -> dict[str, torch.Tensor]:
    """The measures of this module that apply to one batch, ``{name: (B,)}``, in this order: "HF ratio", "SWD"
    (left out below ``2 * SWD_MIN_SIDE`` px a side), "checkerboard" (period ``scale``) and "rise width (px)" (left
    out when HR has no edge)."""
    scores = {"HF ratio": hf_power_ratio(sr, hr, scale)}
    if min(sr.shape[-2:]) >= 2 * SWD_MIN_SIDE:
        scores["SWD"] = laplacian_swd(sr, hr)
    scores["checkerboard"] = checkerboard_score(sr, hr, scale)
    try:
        scores["rise width (px)"] = rise_width(sr, hr)
    except ValueError:  # a flat HR image: no edge to measure
        pass
    return scores
