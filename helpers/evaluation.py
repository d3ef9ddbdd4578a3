"""Scoring upscalers on held-out pairs: the series' metrics row for a model or for bicubic, tables of them, and the
per-image scores that claims pair.

Introduced in notebook 02 and reused by 03, 04, 08 and 11. Images are ``(B, 3, H, W)`` RGB in ``[0, 1]``.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import metrics
from .claims import Claim, compare
from .degrade import upsample
from .inference import super_resolve
from .results import History


def evaluate(model: nn.Module, lr: torch.Tensor, hr: torch.Tensor, scale: int,
             distance: metrics.VGGDistance | None = None, lpips_metric: metrics.LPIPSMetric | None = None,
             use_amp: bool = True) -> tuple[dict[str, float | str], torch.Tensor]:
    """Metrics row (:func:`helpers.metrics.sr_metrics` plus RGB ``MSE``) and the SR images ``(B, 3, H, W)``."""
    sr = super_resolve(model, lr, use_amp=use_amp)
    if sr.shape != hr.shape:
        raise ValueError(f"The model made {tuple(sr.shape)} from {tuple(lr.shape)}, expected {tuple(hr.shape)}: "
                         f"is it a {scale}x model?")
    row = metrics.sr_metrics(sr, hr.to(sr), scale, distance, lpips_metric)
    row["MSE"] = float(metrics.mse(sr, hr.to(sr)).mean())
    return row, sr


def bicubic_baseline(lr: torch.Tensor, hr: torch.Tensor, scale: int, distance: metrics.VGGDistance | None = None,
                     lpips_metric: metrics.LPIPSMetric | None = None) -> tuple[dict[str, float | str], torch.Tensor]:
    """The classical baseline: bicubic upsampling of ``lr`` ``(B, 3, h, w)`` in ``[0, 1]``, scored against ``hr``
    ``(B, 3, scale*h, scale*w)`` like :func:`evaluate` scores a model. Returns ``(metrics row, images)``."""
    bicubic = upsample(lr, scale)
    row = metrics.sr_metrics(bicubic, hr, scale, distance, lpips_metric)
    row["MSE"] = float(metrics.mse(bicubic, hr).mean())
    return row, bicubic


def results_table(models: Mapping[str, nn.Module], histories: Mapping[str, History], lr: torch.Tensor,
                  hr: torch.Tensor, scale: int, baseline: dict[str, float | str], baseline_name: str = "bicubic",
                  distance: metrics.VGGDistance | None = None, lpips_metric: metrics.LPIPSMetric | None = None,
                  ) -> tuple[dict[str, dict[str, float | str]], dict[str, torch.Tensor]]:
    """Score every model on ``(lr, hr)`` with :func:`evaluate` and add its ``steps`` and ``train CPU-s`` (from
    its history). Returns ``({baseline_name: baseline, name: row, ...}, {name: SR images (B, 3, H, W)})``,
    ready for ``pandas.DataFrame(results).T``."""
    results, sr_images = {baseline_name: baseline}, {}
    for name, model in models.items():
        results[name], sr_images[name] = evaluate(model, lr, hr, scale, distance, lpips_metric)
        results[name]["steps"] = int(histories[name].last("step"))
        results[name]["train CPU-s"] = histories[name].last("cpu_s")
    return results, sr_images


def base_psnr_ladder(lr: torch.Tensor, hr: torch.Tensor, scale: int, results: Mapping[str, Mapping[str, float | str]],
                     course_history: History, course: str = "course MSE",
                     efficient: str = "PixelShuffle MSE") -> dict[str, float]:
    """Held-out PSNR-Y (dB) from the bases up: bicubic, the course model's bilinear ``align_corners=True``
    base, the course model before and after training (first and last evaluation of ``course_history``)
    and the efficient model after training (``results`` as made by :func:`results_table`)."""
    bilinear = F.interpolate(lr, scale_factor=scale, mode="bilinear", align_corners=True).clamp(0, 1)
    return {"bicubic": results["bicubic"]["PSNR-Y"],
            "bilinear, align_corners=True (the course's base)": float(metrics.psnr(bilinear, hr, scale, True).mean()),
            f"{course} before training": course_history.series("PSNR-Y")[1][0],
            f"{course} after training": results[course]["PSNR-Y"],
            f"{efficient} after training": results[efficient]["PSNR-Y"]}


def per_image_scores(images: Mapping[str, torch.Tensor], hr: torch.Tensor, scale: int,
                     distance: metrics.VGGDistance | None = None) -> dict[str, dict[str, list[float]]]:
    """Each method's score on each held-out image: the paired samples a claim compares.

    ``images``: ``{method: (B, 3, H, W)}`` in ``[0, 1]`` (bicubic and the SR outputs of :func:`results_table`),
    ``hr``: ``(B, 3, H, W)``. Returns ``{method: {"PSNR-Y": [B floats] (dB), "SSIM-Y": [B floats] in [-1, 1],
    distance.name: [B floats] (>= 0, lower is closer)}}`` with the conventions of
    :func:`helpers.metrics.sr_metrics` (BT.601 Y, border ``scale``), so each list's mean is the table's value.
    """
    scores = {}
    for name, sr in images.items():
        if sr.shape != hr.shape:
            raise ValueError(f"{name}: images {tuple(sr.shape)} do not match HR {tuple(hr.shape)}.")
        sr, ref = sr.float(), hr.to(sr.device).float()
        row = {"PSNR-Y": metrics.psnr(sr, ref, scale, y_channel=True).tolist(),
               "SSIM-Y": metrics.ssim(sr, ref, scale, y_channel=True).tolist()}
        if distance is not None:
            row[distance.name] = distance(sr, ref).tolist()
        scores[name] = row
    return scores


def upscaler_claims(scores: Mapping[str, Mapping[str, list[float]]], scale: int, steps: int, fast_steps: int,
                    budget_gmacs: float, distance_name: str) -> list[Claim]:
    """The lesson of notebooks 02 (``scale`` 2) and 03 (4) as claims over :func:`per_image_scores` of "bicubic",
    "course MSE", "course perceptual" and "PixelShuffle MSE", paired per held-out crop.

    Headline: the PixelShuffle MSE model (``fast_steps`` steps) beats bicubic, and beats the course's MSE model
    (``steps`` steps) at equal multiply-accumulates (``budget_gmacs``). Observations (not yet a lesson at this
    budget): MSE vs perceptual on PSNR-Y and on ``distance_name`` at equal steps, and the course model vs bicubic.
    """
    crops = f"same {len(scores['bicubic']['PSNR-Y'])} held-out crops"
    same = f"equal steps ({steps}), same start and crops; {crops}"

    def versus(name: str, statement: str, subject: str, control: str, measure: str = "PSNR-Y", **kw) -> Claim:
        unit = " (dB)" if measure == "PSNR-Y" else ""
        return compare(name, statement, measure=measure + unit, subject=subject, values=scores[subject][measure],
                       control=control, control_values=scores[control][measure], **kw)

    course = f"Upscale{scale}x"
    return [
        versus("pixelshuffle_mse_beats_bicubic", "The efficient PixelShuffle model trained with MSE beats bicubic",
               "PixelShuffle MSE", "bicubic", basis=f"{fast_steps} steps; {crops}"),
        versus("efficient_beats_course_at_equal_macs",
               f"At equal multiply-accumulates the efficient model beats the course's {course} (both MSE)",
               "PixelShuffle MSE", "course MSE",
               basis=f"equal MACs ({budget_gmacs:.0f} GMACs: {fast_steps} vs {steps} steps); {crops}"),
        versus("course_mse_beats_perceptual_on_psnr",
               "Course model: the MSE run scores a higher PSNR-Y than the perceptual run", "course MSE",
               "course perceptual", kind="observation", basis=same),
        versus("course_perceptual_beats_mse_on_vgg_dist",
               "Course model: the perceptual run is closer to HR in VGG features than the MSE run (VGG-dist shares "
               "layers with the perceptual loss)", "course perceptual", "course MSE", measure=distance_name,
               higher_is_better=False, kind="observation", basis=same),
        versus("course_mse_beats_bicubic", f"The course's {course} trained with MSE beats bicubic", "course MSE",
               "bicubic", kind="observation", basis=f"{steps} steps; {crops}"),
    ]
