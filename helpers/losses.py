"""Losses shared by the notebooks. Images are ``(B, 3, H, W)`` in ``[0, 1]``; every loss returns a scalar.

GAN losses take the discriminator's raw outputs (logits / critic scores): there is no sigmoid in any
discriminator of the series, ``BCEWithLogits`` does it stably.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import metrics
from .config import to_channels_last
from .features import VGGFeatures


# Introduced in notebook 01; the notebook writes this class out, tests/test_notebooks.py keeps the two equal.
class VGGPerceptualLoss(nn.Module):
    """Course doc 001's perceptual loss, generalised to several layers.

    ``sum_l w_l * criterion(phi_l(output), phi_l(target))`` over the VGG16 layers in ``layer_weights``.
    The course's ``VGG16PerceptualLoss`` is the default: ``features[:16]`` (up to relu3_3), L1, frozen.
    ``resize=224`` reproduces the course's bilinear resize of both images before VGG (it costs time and
    blurs small crops). The target's features are computed without gradients.
    """

    def __init__(self, layer_weights: dict[str, float] | None = None, criterion: str = "l1",
                 resize: int | None = None, vgg: VGGFeatures | None = None):
        super().__init__()
        self.layer_weights = dict(layer_weights or {"relu3_3": 1.0})
        self.vgg = vgg if vgg is not None else VGGFeatures(tuple(self.layer_weights))
        self.distance = {"l1": F.l1_loss, "mse": F.mse_loss}[criterion]
        self.resize = resize

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.resize:
            size = (self.resize, self.resize)
            output = F.interpolate(output, size=size, mode="bilinear", align_corners=False)
            target = F.interpolate(target, size=size, mode="bilinear", align_corners=False)
        f_out = self.vgg(output)
        with torch.no_grad():
            f_tgt = self.vgg(target)
        loss = output.new_zeros(())
        for layer, weight in self.layer_weights.items():
            if weight:
                loss = loss + weight * self.distance(f_out[layer].float(), f_tgt[layer].float())
        return loss


def tv_loss(img: torch.Tensor) -> torch.Tensor:
    """Anisotropic total variation: mean ``|x[i, j+1] - x[i, j]|`` plus mean ``|x[i+1, j] - x[i, j]|``."""
    dx = (img[..., :, 1:] - img[..., :, :-1]).abs().mean()
    dy = (img[..., 1:, :] - img[..., :-1, :]).abs().mean()
    return dx + dy


GAN_MODES = ("vanilla", "lsgan", "wgan", "hinge")


class GANLoss(nn.Module):
    """Adversarial loss on raw discriminator outputs, for ``mode`` in :data:`GAN_MODES`.

    ``loss(pred, target_is_real)``: vanilla = BCE with logits (the non-saturating generator loss when the
    generator calls it with ``True``), lsgan = MSE to 1 / 0, wgan = ``-mean`` for real and ``+mean`` for fake,
    hinge = ``relu(1 - D)`` / ``relu(1 + D)`` for the discriminator and ``-mean(D)`` for the generator
    (``for_discriminator=False``). ``real_label`` < 1 gives one-sided label smoothing.
    """

    def __init__(self, mode: str = "vanilla", real_label: float = 1.0, fake_label: float = 0.0):
        super().__init__()
        if mode not in GAN_MODES:
            raise ValueError(f"Unknown GAN mode {mode!r}: use one of {', '.join(GAN_MODES)}.")
        self.mode, self.real_label, self.fake_label = mode, real_label, fake_label

    def forward(self, pred: torch.Tensor, target_is_real: bool, for_discriminator: bool = True) -> torch.Tensor:
        pred = pred.float()
        if self.mode in ("vanilla", "lsgan"):
            target = torch.full_like(pred, self.real_label if target_is_real else self.fake_label)
            if self.mode == "vanilla":
                return F.binary_cross_entropy_with_logits(pred, target)
            return F.mse_loss(pred, target)
        if self.mode == "wgan":
            return -pred.mean() if target_is_real else pred.mean()
        if not for_discriminator:  # hinge, generator side
            return -pred.mean()
        return F.relu(1 - pred).mean() if target_is_real else F.relu(1 + pred).mean()


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                     generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """WGAN-GP (Gulrajani et al. 2017): ``mean((||grad D(x_hat)||_2 - 1)^2)`` on random interpolates
    ``x_hat = eps * real + (1 - eps) * fake``, ``eps ~ U[0, 1]`` per sample. The caller applies lambda.

    Returns ``(penalty, grad_norms (B,))``; the norms are detached, for logging.
    """
    eps = torch.rand((real.shape[0], 1, 1, 1), generator=generator, dtype=real.dtype, device="cpu").to(real.device)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    score = critic(x_hat)
    (grad,) = torch.autograd.grad(score.float().sum(), x_hat, create_graph=True)
    norms = grad.flatten(1).norm(2, dim=1)
    return (norms - 1).pow(2).mean(), norms.detach()


PIXEL_KINDS = ("mse", "l1")


class SRLoss(nn.Module):
    """Weighted sum ``pixel * d(sr, hr) + perceptual * P(sr, hr) + tv * TV(sr)``; ``d`` is MSE or L1.

    ``perceptual_loss`` is a callable such as :class:`helpers.losses.VGGPerceptualLoss`; it is needed only
    when ``perceptual > 0``. Pixel and TV terms are computed in fp32. After each call ``terms`` holds the
    unweighted value of every active term (floats, for logging).
    """

    def __init__(self, pixel: float = 1.0, perceptual: float = 0.0, tv: float = 0.0, pixel_kind: str = "mse",
                 perceptual_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None):
        super().__init__()
        if pixel_kind not in PIXEL_KINDS:
            raise ValueError(f"Unknown pixel loss {pixel_kind!r}: use 'mse' or 'l1'.")
        if min(pixel, perceptual, tv) < 0:
            raise ValueError(f"Loss weights must be >= 0, got pixel={pixel}, perceptual={perceptual}, tv={tv}.")
        if pixel == perceptual == tv == 0:
            raise ValueError("All loss weights are 0: give at least one term a positive weight.")
        if perceptual > 0 and perceptual_loss is None:
            raise ValueError("perceptual > 0 needs perceptual_loss=VGGPerceptualLoss(...).")
        self.pixel, self.perceptual, self.tv, self.pixel_kind = pixel, perceptual, tv, pixel_kind
        self.perceptual_loss = perceptual_loss
        self.terms: dict[str, float] = {}

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        total = sr.new_zeros((), dtype=torch.float32)
        terms = {}
        if self.pixel:
            d = (F.mse_loss if self.pixel_kind == "mse" else F.l1_loss)(sr.float(), hr.float())
            total, terms[self.pixel_kind] = total + self.pixel * d, d
        if self.perceptual:
            p = self.perceptual_loss(sr, hr).float()
            total, terms["perceptual"] = total + self.perceptual * p, p
        if self.tv:
            t = tv_loss(sr.float())
            total, terms["tv"] = total + self.tv * t, t
        self.terms = {k: float(v.detach()) for k, v in terms.items()}
        return total


#: The pixel (MSE) weight next to the perceptual loss (weight 1) in the efficient model's perceptual run of notebooks
#: 02 and 03: small, as in SRGAN's content loss (a VGG term plus a pixel term that keeps the colours), chosen by
#: measurement in those notebooks.
CONTENT_PIXEL_WEIGHT = 10.0


def course_losses(device: torch.device | str = "cpu") -> tuple[dict[str, SRLoss], VGGPerceptualLoss,
                                                               metrics.VGGDistance, metrics.LPIPSMetric]:
    """The losses and held-out metrics of notebooks 02 and 03: ``({"MSE": ..., "perceptual": ...,
    "perceptual + pixel": ...}, perceptual, distance, lpips_metric)``.

    "MSE" is ``SRLoss(pixel=1)``; "perceptual" is ``SRLoss(perceptual=1)`` with the course's loss of notebook 01
    (VGG16 relu3_3, L1, frozen; ``perceptual.vgg.source`` names the weights in use); "perceptual + pixel" adds a
    small MSE term (:data:`CONTENT_PIXEL_WEIGHT`) to it, as SRGAN's content loss does; ``distance`` is the VGG
    distance on :data:`helpers.metrics.DIST_LAYERS` and ``lpips_metric`` LPIPS where its weights are available.
    Prints which VGG16 weights and whether LPIPS are in use.
    """
    perc_vgg = to_channels_last(VGGFeatures(("relu3_3",)).to(device))
    perceptual = VGGPerceptualLoss(vgg=perc_vgg)
    distance = metrics.VGGDistance(VGGFeatures(metrics.DIST_LAYERS).to(device))
    lpips_metric = metrics.LPIPSMetric()
    print("VGG16 weights in use:", perc_vgg.source)
    print("LPIPS:", "available" if lpips_metric.available else lpips_metric.reason)
    if not lpips_metric.available:
        print("-> the perceptual-vs-MSE comparison on LPIPS needs the pretrained weights (online / Colab); "
              f"here we report {distance.name}, the LPIPS paper's uncalibrated VGG distance on our backbone.")
    losses = {"MSE": SRLoss(pixel=1.0), "perceptual": SRLoss(pixel=0.0, perceptual=1.0, perceptual_loss=perceptual),
              "perceptual + pixel": SRLoss(pixel=CONTENT_PIXEL_WEIGHT, perceptual=1.0, perceptual_loss=perceptual)}
    return losses, perceptual, distance, lpips_metric
