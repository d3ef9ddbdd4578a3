"""A paired translation task whose truth is known and multimodal, and a texture measure no network trains on
(introduced in notebook 06, pix2pix).

The task: random **label maps** (Voronoi cells, each cell one of a few classes) -> **photos** in which every
class is its own colour plus a *random-phase* texture with the class's oriented power spectrum (a Gaussian
bump at one spatial frequency and orientation). The phase is drawn afresh for every sample, so one label map
has infinitely many correct photos: the L1-optimal output is the per-class median, a flat colour, while a
sample from the right distribution carries texture with the right spectrum.

* :class:`TextureTask` -- the classes (colour, contrast, frequency, orientation); :meth:`TextureTask.sample`
  draws ``(labels (B, K, H, W) one-hot, photos (B, 3, H, W) in [0, 1])``; :meth:`TextureTask.mean_colour`
  paints every region its class colour (the per-class mean, the best any L1 model can do in expectation).
* :func:`label_maps` -- random Voronoi label maps ``(B, H, W)`` of class indices.
* :func:`class_spectra` -- the oriented power spectrum of every class region, estimated from Hann-windowed
  patches lying wholly inside the region, pooled into (radial, orientation) bins: ``(B, K, bins)``.
* :func:`texture_distance` -- per image ``(B,)``: the mean absolute difference, in dB, between the binned
  power spectra of output and truth, averaged over the classes present (0 for the truth itself; blur and a
  flat colour raise it; white noise of the right power raises it too, because its spectrum has the wrong shape).
* :func:`noise_matched_per_class` -- the control that fools a power measure: grey Gaussian noise added in every
  class region so that its luma variance there equals the truth's.

Luma is BT.601 (:func:`helpers.metrics.rgb_to_y`); images are ``(B, 3, H, W)`` RGB in ``[0, 1]``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .metrics import rgb_to_y


@dataclass(frozen=True)
class TextureClass:
    """One class of the task: RGB ``colour`` in [0, 1], luma-texture ``contrast`` (std, in [0, 1] units),
    the spectrum's centre ``frequency`` (cycles/px, < 0.5), its ``orientation`` (degrees: the direction of the
    wave vector, so 0 = vertical stripes) and ``bandwidth`` (cycles/px, std of the Gaussian bump)."""

    name: str
    colour: tuple[float, float, float]
    contrast: float
    frequency: float
    orientation: float
    bandwidth: float = 0.03


#: The four classes of notebook 06: four orientations, two frequencies, four colours. No frequency or harmonic
#: of it lies at 0.5 cycles/px, so a period-2 peak in an output (a checkerboard) is an artefact, not a texture.
DEFAULT_CLASSES = (
    TextureClass("grass", (0.35, 0.55, 0.25), 0.10, 0.2, 0.0),
    TextureClass("sand", (0.75, 0.65, 0.45), 0.08, 0.125, 45.0),
    TextureClass("water", (0.25, 0.40, 0.65), 0.10, 0.2, 90.0),
    TextureClass("brick", (0.65, 0.35, 0.30), 0.09, 0.125, 135.0),
)


def label_maps(n: int, size: int, n_classes: int, cells: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` random label maps ``(n, size, size)`` (int64 class indices): ``cells`` Voronoi cells with random
    centres, each given a random class."""
    if n_classes < 1 or cells < 1 or size < 1:
        raise ValueError(f"label_maps needs n_classes, cells and size >= 1; got {n_classes}, {cells}, {size}.")
    centres = torch.rand(n, cells, 2, generator=generator) * size
    classes = torch.randint(n_classes, (n, cells), generator=generator)
    coords = torch.stack(torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij"), -1).float() + 0.5
    d = ((coords.view(1, -1, 1, 2) - centres.view(n, 1, cells, 2)) ** 2).sum(-1)  # (n, size*size, cells)
    nearest = d.argmin(-1)
    return classes.gather(1, nearest).view(n, size, size)


def _frequencies(h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """FFT frequency grids ``(h, w)`` in cycles/px: ``(fy, fx)``."""
    fy = torch.fft.fftfreq(h).view(h, 1).expand(h, w)
    fx = torch.fft.fftfreq(w).view(1, w).expand(h, w)
    return fy, fx


class TextureTask:
    """Label maps -> photos with random-phase class textures (see the module docstring).

    ``sample(n, size, generator)`` returns ``(labels, photos)``: ``labels`` ``(n, K, size, size)`` one-hot float,
    ``photos`` ``(n, 3, size, size)`` in [0, 1]; about one Voronoi cell per ``cell_size`` x ``cell_size`` pixels
    (at least 2).
    """

    def __init__(self, classes: tuple[TextureClass, ...] = DEFAULT_CLASSES, cell_size: int = 32):
        if not classes:
            raise ValueError("TextureTask needs at least one class.")
        for c in classes:
            if not 0 < c.frequency < 0.5:
                raise ValueError(f"class {c.name!r}: frequency {c.frequency} must lie in (0, 0.5) cycles/px.")
        self.classes, self.cell_size = classes, cell_size

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def amplitude(self, h: int, w: int) -> torch.Tensor:
        """``(K, h, w)`` FFT amplitudes: each class's Gaussian bump at ``±f0 (cos θ, sin θ)``, scaled so that
        white noise of unit variance filtered by it has unit variance."""
        fy, fx = _frequencies(h, w)
        amps = []
        for c in self.classes:
            theta = math.radians(c.orientation)
            cx, cy = c.frequency * math.cos(theta), c.frequency * math.sin(theta)
            bump = sum(torch.exp(-((fx - s * cx) ** 2 + (fy - s * cy) ** 2) / (2 * c.bandwidth**2)) for s in (1, -1))
            amps.append(bump / bump.pow(2).mean().sqrt())
        return torch.stack(amps)

    def textures(self, n: int, h: int, w: int, generator: torch.Generator) -> torch.Tensor:
        """``(n, K, h, w)`` zero-mean, unit-variance random-phase textures, one per class (filtered white noise)."""
        noise = torch.randn(n, self.n_classes, h, w, generator=generator)
        return torch.fft.ifft2(torch.fft.fft2(noise) * self.amplitude(h, w)).real

    def render(self, labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Label maps ``(n, H, W)`` (class indices) -> photos ``(n, 3, H, W)`` in [0, 1], a fresh phase each."""
        n, h, w = labels.shape
        one_hot = F.one_hot(labels, self.n_classes).permute(0, 3, 1, 2).float()  # (n, K, H, W)
        colours = torch.tensor([c.colour for c in self.classes])  # (K, 3)
        contrast = torch.tensor([c.contrast for c in self.classes]).view(1, -1, 1, 1)
        luma = (one_hot * contrast * self.textures(n, h, w, generator)).sum(1, keepdim=True)  # grey texture
        return (torch.einsum("nkhw,kc->nchw", one_hot, colours) + luma).clamp(0, 1)

    def sample(self, n: int, size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` pairs: one-hot labels ``(n, K, size, size)`` and photos ``(n, 3, size, size)`` in [0, 1]."""
        cells = max(2, round(size * size / self.cell_size**2))
        labels = label_maps(n, size, self.n_classes, cells, generator)
        photos = self.render(labels, generator)
        return F.one_hot(labels, self.n_classes).permute(0, 3, 1, 2).float(), photos

    def mean_colour(self, labels: torch.Tensor) -> torch.Tensor:
        """One-hot labels ``(n, K, H, W)`` -> every region painted its class colour ``(n, 3, H, W)``."""
        colours = torch.tensor([c.colour for c in self.classes], device=labels.device)
        return torch.einsum("nkhw,kc->nchw", labels.float(), colours)


def _bins(patch: int, radial: int, angular: int) -> torch.Tensor:
    """``(patch, patch)`` bin index of each FFT frequency (-1 = unused: below one cycle per patch or above
    0.5 cycles/px)."""
    fy, fx = _frequencies(patch, patch)
    r = (fx**2 + fy**2).sqrt()
    angle = torch.atan2(fy, fx) % math.pi  # orientation of the wave vector, in [0, π)
    a_bin = ((angle / math.pi * angular + 0.5).floor() % angular).long()  # bins centred on 0, π/angular, ...
    edges = torch.linspace(1 / patch, 0.5 + 1e-6, radial + 1)  # up to Nyquist; the corners beyond are unused
    r_bin = torch.bucketize(r, edges, right=True) - 1
    idx = r_bin * angular + a_bin
    return torch.where((r_bin >= 0) & (r_bin < radial), idx, torch.full_like(idx, -1))


def class_spectra(img: torch.Tensor, labels: torch.Tensor, patch: int = 16, stride: int = 8, radial: int = 4,
                  angular: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """Binned luma power spectrum of every class region.

    ``img`` ``(B, 3, H, W)`` in [0, 1], ``labels`` ``(B, K, H, W)`` one-hot. Patches of ``patch`` px at
    ``stride`` lying wholly inside one class are mean-removed, Hann-windowed and Fourier-transformed; their
    power is averaged per class and pooled into ``radial`` x ``angular`` (radius, orientation) bins.
    Returns ``(spectra (B, K, radial*angular), patches per class (B, K))``; classes without a patch get 0.
    """
    if img.ndim != 4 or img.shape[1] != 3 or labels.ndim != 4 or labels.shape[-2:] != img.shape[-2:] \
            or labels.shape[0] != img.shape[0]:
        raise ValueError(f"class_spectra needs img (B, 3, H, W) and one-hot labels (B, K, H, W) of the same B, H, W; "
                         f"got {tuple(img.shape)} and {tuple(labels.shape)}.")
    luma = rgb_to_y(img.float().clamp(0, 1))
    tiles = F.unfold(luma, patch, stride=stride)  # (B, p*p, L)
    inside = F.unfold(labels.float(), patch, stride=stride).view(labels.shape[0], labels.shape[1], patch * patch, -1)
    inside = (inside.min(2).values > 0.5).float()  # (B, K, L): the patch lies wholly in class k
    tiles = tiles - tiles.mean(1, keepdim=True)
    hann = torch.hann_window(patch, periodic=False, device=img.device)
    window = (hann[:, None] * hann[None, :]).flatten()[None, :, None]
    tiles = (tiles * window).transpose(1, 2).reshape(img.shape[0], -1, patch, patch)  # (B, L, p, p)
    power = torch.fft.fft2(tiles).abs().pow(2) / window.pow(2).sum()  # (B, L, p, p)
    bins = _bins(patch, radial, angular).to(img.device).flatten()
    used = bins >= 0
    one_hot_bins = F.one_hot(bins[used], radial * angular).float()  # (F, nb)
    binned = power.flatten(2)[..., used] @ one_hot_bins / one_hot_bins.sum(0)  # (B, L, nb) mean power per bin
    counts = inside.sum(2)  # (B, K)
    spectra = torch.einsum("bkl,bln->bkn", inside, binned) / counts.clamp(min=1)[..., None]
    return spectra, counts


def texture_distance(img: torch.Tensor, truth: torch.Tensor, labels: torch.Tensor, floor: float = 0.01,
                     min_patches: int = 4, **spectra_kw) -> torch.Tensor:
    """Per-class texture distance ``(B,)`` in dB: for every class with at least ``min_patches`` patches,
    the mean over bins of ``|10 log10((P_img + ε) / (P_truth + ε))|`` with ``ε = floor`` x the truth's mean
    bin power in that class (so a flat region scores about ``-10 log10(floor)`` = 20 dB, not infinity);
    averaged over those classes. Lower is closer; 0 for ``img == truth``. ``img``, ``truth`` ``(B, 3, H, W)``
    in [0, 1], ``labels`` ``(B, K, H, W)`` one-hot; ``spectra_kw`` go to :func:`class_spectra`."""
    if img.shape != truth.shape:
        raise ValueError(f"texture_distance: img {tuple(img.shape)} and truth {tuple(truth.shape)} differ in shape.")
    p_img, counts = class_spectra(img, labels, **spectra_kw)
    p_true, _ = class_spectra(truth, labels, **spectra_kw)
    eps = floor * p_true.mean(-1, keepdim=True) + 1e-12
    db = (10 * torch.log10((p_img + eps) / (p_true + eps))).abs().mean(-1)  # (B, K)
    usable = (counts >= min_patches).float()
    if bool((usable.sum(1) == 0).any()):
        raise ValueError(f"texture_distance: an image has no class with {min_patches} patches of "
                         f"{spectra_kw.get('patch', 16)} px wholly inside it; use larger images or regions.")
    return (db * usable).sum(1) / usable.sum(1)


def noise_matched_per_class(img: torch.Tensor, truth: torch.Tensor, labels: torch.Tensor,
                            generator: torch.Generator) -> torch.Tensor:
    """``img`` plus grey Gaussian noise ``(B, 3, H, W)``, clamped to [0, 1]: in every class region the noise
    variance is ``max(0, var(truth luma) - var(img luma))`` there, so the region's luma variance (its total
    texture power) equals the truth's. The control that a measure of power alone cannot tell from texture."""
    if img.shape != truth.shape or labels.shape[0] != img.shape[0] or labels.shape[-2:] != img.shape[-2:]:
        raise ValueError(f"noise_matched_per_class: img {tuple(img.shape)}, truth {tuple(truth.shape)} and labels "
                         f"{tuple(labels.shape)} must share B, H, W.")
    m = labels.float()
    area = m.sum((2, 3)).clamp(min=1)  # (B, K)

    def region_var(x: torch.Tensor) -> torch.Tensor:
        y = rgb_to_y(x.float().clamp(0, 1)) * 255 / 219  # luma rescaled so that grey noise of std σ adds σ
        mean = (y * m).sum((2, 3)) / area
        return (((y - mean[..., None, None]) ** 2) * m).sum((2, 3)) / area  # (B, K)

    sigma = (region_var(truth) - region_var(img)).clamp(min=0).sqrt()  # (B, K)
    sigma_map = (m * sigma[..., None, None]).sum(1, keepdim=True)  # (B, 1, H, W)
    noise = torch.randn(img.shape[0], 1, *img.shape[-2:], generator=generator).to(img.device)
    return (img + sigma_map * noise).clamp(0, 1)
