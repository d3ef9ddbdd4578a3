"""Image quality measures. Inputs are ``(B, 3, H, W)`` RGB in ``[0, 1]``; each returns one value per image ``(B,)``.

Conventions (every table in the series states which it uses):

* PSNR-Y / SSIM-Y: BT.601 luma of RGB in ``[0, 1]``, ``Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255``,
  with ``crop_border = scale`` pixels removed on every side, as the SR papers do (SRCNN, EDSR, BasicSR).
* SSIM: Wang et al. 2004, 11x11 Gaussian window with sigma 1.5, ``K1 = 0.01``, ``K2 = 0.03``, data range 1.
* VGG-dist: the LPIPS paper's uncalibrated baseline: channel-wise unit normalisation of relu1_2, relu2_2,
  relu3_3, relu4_3, relu5_3; squared difference summed over channels, averaged over space and over layers.
* LPIPS: the ``lpips`` package (Zhang et al. 2018) with ``normalize=True`` for ``[0, 1]`` inputs: its own
  calibrated linear layers (shipped in its wheel) on torchvision's ImageNet backbone, downloaded, or read offline
  from ``$SRGAN_VGG_WEIGHTS`` when that names torchvision's ImageNet VGG16 file (LPIPS-VGG). Otherwise it is
  reported as unavailable with the reason (offline, package missing, version mismatch), never computed on other
  weights.
"""
from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import io
import os
import urllib.error
from pathlib import Path

import torch
import torch.nn.functional as F

from .data import download_timeout
from .features import VGGFeatures, is_torchvision_imagenet_file, load_vgg_weights

Y_COEFFS = (65.481, 128.553, 24.966)
Y_OFFSET = 16.0
DIST_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")


def rgb_to_y(img: torch.Tensor) -> torch.Tensor:
    """BT.601 luma: ``(B, 3, H, W)`` RGB in ``[0, 1]`` -> ``(B, 1, H, W)`` in ``[16/255, 235/255]``."""
    w = torch.tensor(Y_COEFFS, dtype=img.dtype, device=img.device).view(1, 3, 1, 1)
    return (Y_OFFSET + (img * w).sum(dim=1, keepdim=True)) / 255.0


def _prepare(sr: torch.Tensor, hr: torch.Tensor, crop_border: int,
             y_channel: bool) -> tuple[torch.Tensor, torch.Tensor]:
    if sr.shape != hr.shape:
        raise ValueError(f"Shapes differ: {tuple(sr.shape)} vs {tuple(hr.shape)}; compare images of the same size.")
    if sr.ndim != 4:
        raise ValueError(f"Expected (B, C, H, W) images, got {tuple(sr.shape)}.")
    sr, hr = sr.float().clamp(0, 1), hr.float().clamp(0, 1)
    if crop_border:
        if min(sr.shape[-2:]) <= 2 * crop_border:
            raise ValueError(f"Image {tuple(sr.shape[-2:])} is too small for a border crop of {crop_border}.")
        sr = sr[..., crop_border:-crop_border, crop_border:-crop_border]
        hr = hr[..., crop_border:-crop_border, crop_border:-crop_border]
    if y_channel:
        sr, hr = rgb_to_y(sr), rgb_to_y(hr)
    return sr, hr


def mse(sr: torch.Tensor, hr: torch.Tensor, crop_border: int = 0, y_channel: bool = False) -> torch.Tensor:
    """Mean squared error per image, ``(B,)``."""
    sr, hr = _prepare(sr, hr, crop_border, y_channel)
    return (sr - hr).pow(2).mean(dim=(1, 2, 3))


def psnr(sr: torch.Tensor, hr: torch.Tensor, crop_border: int = 0, y_channel: bool = False) -> torch.Tensor:
    """PSNR in dB per image, ``(B,)``: ``10 log10(1 / MSE)`` for data range 1 (``inf`` for identical images)."""
    return 10 * torch.log10(1.0 / mse(sr, hr, crop_border, y_channel))


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return torch.outer(g, g)


def ssim(sr: torch.Tensor, hr: torch.Tensor, crop_border: int = 0, y_channel: bool = False) -> torch.Tensor:
    """Structural similarity per image, ``(B,)``, averaged over channels and valid window positions."""
    sr, hr = _prepare(sr, hr, crop_border, y_channel)
    c = sr.shape[1]
    if min(sr.shape[-2:]) < 11:
        raise ValueError(f"SSIM needs images of at least 11x11 after the border crop, got {tuple(sr.shape[-2:])}.")
    win = _gaussian_window().to(sr).expand(c, 1, 11, 11)
    c1, c2 = 0.01**2, 0.03**2

    def filt(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, win, groups=c)

    mu_x, mu_y = filt(sr), filt(hr)
    var_x = filt(sr * sr) - mu_x**2
    var_y = filt(hr * hr) - mu_y**2
    cov = filt(sr * hr) - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    return (num / den).mean(dim=(1, 2, 3))


def unit_normalise(feat: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Divide every spatial position's feature vector by its L2 norm over channels."""
    return feat / (feat.pow(2).sum(dim=1, keepdim=True).sqrt() + eps)


class VGGDistance(torch.nn.Module):
    """The LPIPS paper's uncalibrated VGG baseline on whichever VGG16 backbone is loaded; ``(B,)`` per pair.

    ``name`` (e.g. ``"VGG-dist (hed)"``) says which backbone made the number.
    """

    def __init__(self, vgg: VGGFeatures | None = None):
        super().__init__()
        self.vgg = vgg if vgg is not None else VGGFeatures(DIST_LAYERS)
        missing = [layer for layer in DIST_LAYERS if layer not in self.vgg.layers]
        if missing:
            raise ValueError(f"VGGDistance needs an extractor with layers {DIST_LAYERS}; missing {missing}.")
        self.name = f"VGG-dist ({self.vgg.source.split('-')[0]})"

    @torch.no_grad()
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        fx, fy = self.vgg(x.float()), self.vgg(y.float())
        total = torch.zeros(x.shape[0], device=x.device)
        for layer in DIST_LAYERS:
            diff = unit_normalise(fx[layer]) - unit_normalise(fy[layer])
            total = total + diff.pow(2).sum(dim=1).mean(dim=(1, 2))
        return total / len(DIST_LAYERS)


#: Exceptions that mean "no network here" when torchvision downloads a backbone.
OFFLINE_ERRORS = (urllib.error.URLError, ConnectionError, TimeoutError)
#: Exceptions that mean "this lpips does not fit this torch / torchvision" (an API or state-dict change).
MISMATCH_ERRORS = (ImportError, AttributeError, TypeError, KeyError, NotImplementedError)


class LPIPSMetric:
    """LPIPS (``lpips`` package) with its calibrated linear layers on torchvision's ImageNet backbone.

    The backbone is read from ``$SRGAN_VGG_WEIGHTS`` when that file is torchvision's ImageNet VGG16
    (:func:`helpers.features.is_torchvision_imagenet_file`) and ``net`` is ``"vgg"``, or when the download of
    ``net``'s backbone fails for want of a network (LPIPS-VGG offline, ``net`` becomes ``"vgg"``); otherwise it is
    downloaded by torchvision. When none works, ``available`` is False, ``label`` is the short text for a table
    cell ("unavailable offline", "unavailable: lpips not installed", "unavailable: lpips version mismatch") and
    ``reason`` says why and what to do. Call it on ``[0, 1]`` images; returns ``(B,)`` or ``None`` when
    unavailable. ``description`` says which network and backbone made the numbers.
    """

    def __init__(self, net: str = "alex"):
        self.net, self.model, self.reason, self.label, self.description = net, None, "", "", ""
        if importlib.util.find_spec("lpips") is None:
            self._unavailable("unavailable: lpips not installed", "the lpips package is not installed: pip install "
                              "lpips (the Colab set-up cell installs it)")
            return
        vgg_file = os.environ.get("SRGAN_VGG_WEIGHTS", "")
        local = bool(vgg_file) and is_torchvision_imagenet_file(vgg_file)
        try:
            if net == "vgg" and local:
                self._load_vgg_from_file(vgg_file)
            else:
                try:
                    self._load_downloaded(net)
                except OFFLINE_ERRORS:
                    if not local:
                        raise
                    self._load_vgg_from_file(vgg_file)
        except OFFLINE_ERRORS as err:
            self._unavailable("unavailable offline", f"unavailable offline: torchvision could not download the {net} "
                              f"backbone ({type(err).__name__}: {err}). For LPIPS-VGG offline, set "
                              "$SRGAN_VGG_WEIGHTS to torchvision's ImageNet VGG16 file (vgg16-397923af.pth).")
        except Exception as err:
            import torchvision

            versions = (f"lpips {importlib.metadata.version('lpips')}, torch {torch.__version__}, torchvision "
                        f"{torchvision.__version__}")
            if isinstance(err, MISMATCH_ERRORS) or "state_dict" in str(err):
                self._unavailable("unavailable: lpips version mismatch", f"unavailable: lpips does not work with "
                                  f"this torch / torchvision ({versions}; {type(err).__name__}: {err}): a version "
                                  "mismatch; install the versions pinned in requirements.txt.")
            else:
                self._unavailable("unavailable: lpips failed", f"unavailable: lpips failed ({versions}; "
                                  f"{type(err).__name__}: {err}).")

    def _unavailable(self, label: str, reason: str) -> None:
        self.model, self.label, self.reason = None, label, reason

    def _load_downloaded(self, net: str) -> None:
        import lpips

        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), download_timeout():
            model = lpips.LPIPS(net=net, verbose=False)
        self._ready(model, net, "torchvision's ImageNet weights")

    def _load_vgg_from_file(self, path: str) -> None:
        """LPIPS-VGG: the package's linear layers (``pnet_rand=True`` skips the backbone download), then the
        backbone's convolutions from the torchvision VGG16 file; ``vgg.features[i]`` sits in one of lpips'
        ``slice1 ... slice5`` under the same index ``i``."""
        import lpips

        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            model = lpips.LPIPS(net="vgg", pnet_rand=True, verbose=False)
        features = load_vgg_weights("vgg16", "file", verbose=False).state_dict  # keys "<index>.weight|bias"
        model.net.load_state_dict({f"{name}.{key}": features[key] for name, part in model.net.named_children()
                                   for key in part.state_dict()})
        self._ready(model, "vgg", f"file:{Path(path).name}")

    def _ready(self, model: torch.nn.Module, net: str, backbone: str) -> None:
        self.model, self.net = model.eval().requires_grad_(False), net
        self.description = f"lpips ({net}) on {backbone}, normalize=True"

    @property
    def available(self) -> bool:
        return self.model is not None

    @torch.no_grad()
    def __call__(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor | None:
        if self.model is None:
            return None
        return self.model(sr.float(), hr.float(), normalize=True).flatten()


def sr_metrics(sr: torch.Tensor, hr: torch.Tensor, scale: int, distance: VGGDistance | None = None,
               lpips_metric: LPIPSMetric | None = None) -> dict[str, float | str]:
    """The series' standard table row, averaged over the batch: PSNR-Y and SSIM-Y (border = scale), PSNR-RGB,
    and, when given, VGG-dist and LPIPS (:attr:`LPIPSMetric.label`, e.g. "unavailable offline", when it is
    unavailable)."""
    row: dict[str, float | str] = {
        "PSNR-Y": float(psnr(sr, hr, scale, y_channel=True).mean()),
        "SSIM-Y": float(ssim(sr, hr, scale, y_channel=True).mean()),
        "PSNR-RGB": float(psnr(sr, hr, scale).mean()),
    }
    if distance is not None:
        row[distance.name] = float(distance(sr, hr).mean())
    if lpips_metric is not None:
        value = lpips_metric(sr, hr)
        row["LPIPS"] = float(value.mean()) if value is not None else lpips_metric.label
    return row
