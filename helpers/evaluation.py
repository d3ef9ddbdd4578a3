"""Scoring upscalers on held-out pairs: the series' metrics row for a model or for bicubic, tables of them, and the
per-image scores that claims pair.

Introduced in notebook 02 and reused by 03, 04, 08 and 11. Images are ``(B, 3, H, W)`` RGB in ``[0, 1]``.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn as nn

from . import metrics, perception
from .claims import Claim, compare
from .degrade import upsample
from .inference import LoadedModel, load_upscaler, super_resolve
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


def per_image_scores(images: Mapping[str, torch.Tensor], hr: torch.Tensor, scale: int,
                     distance: metrics.VGGDistance | None = None,
                     perception_measures: bool = False) -> dict[str, dict[str, list[float]]]:
    """Each method's score on each held-out image: the paired samples a claim compares.

    ``images``: ``{method: (B, 3, H, W)}`` in ``[0, 1]`` (bicubic and the SR outputs of :func:`results_table`),
    ``hr``: ``(B, 3, H, W)``. Returns ``{method: {"PSNR-Y": [B floats] (dB), "SSIM-Y": [B floats] in [-1, 1],
    distance.name: [B floats] (>= 0, lower is closer)}}`` with the conventions of
    :func:`helpers.metrics.sr_metrics` (BT.601 Y, border ``scale``), so each list's mean is the table's value.
    ``perception_measures=True`` adds the weight-free measures of :func:`helpers.perception.perception_scores`
    ("HF ratio", "SWD", "checkerboard" at the period ``scale``, "rise width (px)"; ``H`` and ``W`` multiples of
    ``scale``).
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
        if perception_measures:
            row.update({k: v.tolist() for k, v in perception.perception_scores(sr.cpu(), ref.cpu(), scale).items()})
        scores[name] = row
    return scores


def batchnorm_check(model: nn.Module, lr: torch.Tensor, hr: torch.Tensor, scale: int) -> dict[str, dict[str, float]]:
    """What BatchNorm's two modes make of the same weights, for a model with BatchNorm layers (the course's).

    Scores a copy of ``model`` (so its running averages stay untouched) on ``lr`` ``(B, 3, h, w)`` against ``hr``
    ``(B, 3, scale*h, scale*w)`` in ``[0, 1]``, once in eval mode (BatchNorm uses its running averages, as every
    evaluation of the series does) and once in train mode (the statistics of this batch, as during training).
    Returns ``{"running averages (eval)": row, "batch statistics (train)": row}``, each row with "PSNR-Y" (dB)
    and the mean error ``sr - hr`` of each colour channel ("mean error R", "G", "B"; clamped output, a
    colour cast shows as a channel far from 0).
    """
    rows = {}
    for mode, training in (("running averages (eval)", False), ("batch statistics (train)", True)):
        twin = copy.deepcopy(model).train(training)
        with torch.no_grad():
            sr = twin(lr.to(next(twin.parameters()).device)).float().clamp(0, 1).cpu()
        err = (sr - hr.float()).mean(dim=(0, 2, 3))
        rows[mode] = {"PSNR-Y": float(metrics.psnr(sr, hr.float(), scale, y_channel=True).mean()),
                      **{f"mean error {c}": float(e) for c, e in zip("RGB", err)}}
    return rows


#: The methods :func:`upscaler_claims` pairs: bicubic, the course model (before its MSE training, at the efficient
#: model's budget of multiply-accumulates, at the end, and its perceptual run), the efficient model with each loss,
#: and the efficient MSE model with noise matched to HR's high band.
CLAIM_METHODS = ("bicubic", "course MSE before training", "course MSE at equal MACs", "course MSE",
                 "course perceptual", "PixelShuffle MSE", "PixelShuffle perceptual", "PixelShuffle MSE + noise")


def upscaler_claims(scores: Mapping[str, Mapping[str, list[float]]], scale: int, steps: int, mac_steps: int,
                    fast_steps: int, budget_gmacs: float, distance_name: str,
                    course_start_kind: str = "headline") -> list[Claim]:
    """The lesson of notebooks 02 (``scale`` 2) and 03 (4) as claims over :func:`per_image_scores` (with the
    perception measures) of the methods in :data:`CLAIM_METHODS`, paired per held-out crop.

    Headline: the PixelShuffle MSE model (``fast_steps`` steps) beats bicubic and, at equal multiply-accumulates
    (``budget_gmacs``), the course's MSE model after ``mac_steps`` steps; on the same architecture, start and
    steps, MSE wins PSNR-Y; the course model ends (``steps`` steps) above its own start (``course_start_kind``:
    an observation where the notebook's budget does not let it climb back, as at 4x in ``quick``). Observations (the
    perception side of the lesson, which did not hold in the quick profile yet): the perceptual loss against the
    MSE model and against the MSE model plus matched noise on the Laplacian SWD, the rise width, the high-band
    power ratio and the checkerboard score; the course model's two losses; the course model vs bicubic.
    """
    missing = [m for m in CLAIM_METHODS if m not in scores]
    if missing:
        raise ValueError(f"upscaler_claims needs the scores of {', '.join(missing)}; per_image_scores got "
                         f"{', '.join(scores)}.")
    crops = f"same {len(scores['bicubic']['PSNR-Y'])} held-out crops"
    same_fast = f"same architecture, start and crops, {fast_steps} steps each; {crops}"
    same = f"equal steps ({steps}), same start and crops; {crops}"

    def versus(name: str, statement: str, subject: str, control: str, measure: str = "PSNR-Y", **kw) -> Claim:
        unit = " (dB)" if measure == "PSNR-Y" else ""
        return compare(name, statement, measure=measure + unit, subject=subject, values=scores[subject][measure],
                       control=control, control_values=scores[control][measure], **kw)

    def off_one(method: str) -> list[float]:
        return [abs(1.0 - r) for r in scores[method]["HF ratio"]]

    course = f"Upscale{scale}x"
    swd, sharp = "SWD", "rise width (px)"
    return [
        versus("pixelshuffle_mse_beats_bicubic", "The efficient PixelShuffle model trained with MSE beats bicubic",
               "PixelShuffle MSE", "bicubic", basis=f"{fast_steps} steps; {crops}"),
        versus("efficient_beats_course_at_equal_macs",
               f"At equal multiply-accumulates the efficient model beats the course's {course} (both MSE)",
               "PixelShuffle MSE", "course MSE at equal MACs",
               basis=f"equal MACs ({budget_gmacs:.0f} GMACs: {fast_steps} vs {mac_steps} steps); {crops}"),
        versus("mse_beats_perceptual_on_psnr", "MSE training wins on distortion: a higher PSNR-Y than the "
               "perceptual loss", "PixelShuffle MSE", "PixelShuffle perceptual", basis=same_fast),
        versus("perceptual_beats_mse_on_swd", "The perceptual loss wins on perception: its Laplacian-patch "
               "statistics are closer to HR's than the MSE model's (a measure no model trains on)",
               "PixelShuffle perceptual", "PixelShuffle MSE", measure=swd, higher_is_better=False, kind="observation",
               basis=same_fast),
        versus("perceptual_beats_noise_matched_on_swd", "The perceptual model's detail is not just added power: it "
               "beats the MSE model plus noise matched to HR's high-band power on the Laplacian SWD",
               "PixelShuffle perceptual", "PixelShuffle MSE + noise", measure=swd, higher_is_better=False,
               kind="observation", basis=same_fast),
        versus("perceptual_is_sharper", "The perceptual model's edges rise faster than the MSE model's (10-90 % "
               "rise width across HR's strongest edges)", "PixelShuffle perceptual", "PixelShuffle MSE",
               measure=sharp, higher_is_better=False, kind="observation", basis=same_fast),
        versus("course_model_passes_its_start", f"The course's {course} trained with MSE ends above its own start",
               "course MSE", "course MSE before training", kind=course_start_kind, basis=f"{steps} steps; {crops}"),
        compare("perceptual_hf_ratio_nearer_1", "The perceptual model's high-band power is nearer HR's than the MSE "
                "model's", measure="|1 - HF ratio|", subject="PixelShuffle perceptual",
                values=off_one("PixelShuffle perceptual"), control="PixelShuffle MSE",
                control_values=off_one("PixelShuffle MSE"), higher_is_better=False, kind="observation",
                basis=same_fast),
        versus("perceptual_no_more_checkerboard", "The perceptual model shows no more checkerboard at the sub-pixel "
               "period than the MSE model", "PixelShuffle perceptual", "PixelShuffle MSE", measure="checkerboard",
               higher_is_better=False, kind="observation", basis=same_fast),
        versus("course_mse_beats_perceptual_on_psnr",
               "Course model: the MSE run scores a higher PSNR-Y than the perceptual run", "course MSE",
               "course perceptual", kind="observation", basis=same),
        versus("course_perceptual_beats_mse_on_swd",
               "Course model: the perceptual run is closer to HR on the Laplacian SWD than the MSE run",
               "course perceptual", "course MSE", measure=swd, higher_is_better=False, kind="observation",
               basis=same),
        versus("course_perceptual_beats_mse_on_vgg_dist",
               "Course model: the perceptual run is closer to HR in VGG features than the MSE run (VGG-dist shares "
               "layers with the perceptual loss)", "course perceptual", "course MSE", measure=distance_name,
               higher_is_better=False, kind="observation", basis=same),
        versus("course_mse_beats_bicubic", f"The course's {course} trained with MSE beats bicubic", "course MSE",
               "bicubic", kind="observation", basis=f"{steps} steps; {crops}"),
    ]


#: The reference models notebooks 02 and 03 show beside their live models: name in the notebook -> file stem under
#: ``reference/``. The perceptual model is the MSE model fine-tuned with the perceptual loss (SRGAN's way).
SR_REFERENCES = {2: {"reference MSE": "x2_mse", "reference perceptual": "x2_perceptual"},
                 4: {"reference MSE": "x4_mse", "reference perceptual": "x4_wgan_control"}}


def reference_outputs(scale: int, lr: torch.Tensor, hr: torch.Tensor, root: Path, device: torch.device | str = "cpu",
                      seed: int = 0) -> tuple[dict[str, torch.Tensor], dict[str, LoadedModel]] | None:
    """The reference models of :data:`SR_REFERENCES` at ``scale`` on held-out pairs ``lr`` ``(B, 3, h, w)``,
    ``hr`` ``(B, 3, scale*h, scale*w)`` in ``[0, 1]``: ``({name: SR (B, 3, H, W)}, {name: LoadedModel})``, the SR
    outputs with "reference MSE + noise" (the MSE model's output plus noise matched to HR's high-band power,
    seeded by ``seed``). ``None`` (and a message saying how to restore them) where a file under ``root`` is missing.
    """
    paths = {name: root / f"{stem}.pt" for name, stem in SR_REFERENCES[scale].items()}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        print("reference models missing:", missing,
              "-- restore them with `git checkout reference/` or train them with `make reference`")
        return None
    models = {name: load_upscaler(path, device) for name, path in paths.items()}
    outputs = {name: super_resolve(lm.model, lr) for name, lm in models.items()}
    outputs["reference MSE + noise"] = perception.noise_matched(outputs["reference MSE"], hr, scale,
                                                                torch.Generator().manual_seed(seed))
    return outputs, models


def reference_summary(models: Mapping[str, LoadedModel]) -> dict[str, dict[str, str | int]]:
    """Where each reference model comes from, read from its meta: ``{name: {"file", "steps", "trained on",
    "starts from"}}``, ready for ``pandas.DataFrame(...).T``."""
    return {name: {"file": f"{lm.name}.pt", "steps": lm.meta["steps"], "trained on": lm.meta.get("trained_on", "cpu"),
                   "starts from": lm.meta["reference"]["init"] or "-"} for name, lm in models.items()}


def reference_claims(scores: Mapping[str, Mapping[str, list[float]]], start: str) -> list[Claim]:
    """Notebooks 02-03's lesson on the long-trained reference models, over :func:`per_image_scores` (with the
    perception measures) of "reference MSE", "reference perceptual" and "reference MSE + noise", paired per
    held-out crop; ``start`` names the MSE model the perceptual one was fine-tuned from. Headline: trained long,
    MSE still wins PSNR-Y. Observations: the perceptual model's high-band power nearer HR's, its Laplacian SWD
    against the MSE model's and against the MSE model plus matched noise."""
    n = len(scores["reference MSE"]["PSNR-Y"])
    basis = f"reference models, the same start ({start}'s weights before the fine-tune); the same {n} crops"
    mse, perc, noisy = (scores[k] for k in ("reference MSE", "reference perceptual", "reference MSE + noise"))
    off_one = {name: [abs(1 - v) for v in row["HF ratio"]] for name, row in scores.items()}
    return [
        compare("reference_mse_beats_perceptual_on_psnr", "Trained long, MSE still wins on distortion: the reference "
                "MSE model has a higher PSNR-Y than its perceptual fine-tune", measure="PSNR-Y (dB)",
                subject="reference MSE", values=mse["PSNR-Y"], control="reference perceptual",
                control_values=perc["PSNR-Y"], source="reference", basis=basis),
        compare("reference_perceptual_restores_high_band_power", "The perceptual fine-tune brings the high-band power "
                "closer to HR's than the MSE model", measure="|1 - HF power ratio|", subject="reference perceptual",
                values=off_one["reference perceptual"], control="reference MSE",
                control_values=off_one["reference MSE"], higher_is_better=False, kind="observation", source="reference",
                basis=basis),
        compare("reference_perceptual_beats_mse_on_swd", "The perceptual fine-tune's patch statistics are closer to "
                "HR's than the MSE model's", measure="Laplacian SWD (x1e3)", subject="reference perceptual",
                values=perc["SWD"], control="reference MSE", control_values=mse["SWD"], higher_is_better=False,
                kind="observation", source="reference", basis=basis),
        compare("reference_perceptual_beats_noise_matched_on_swd", "The perceptual fine-tune beats the MSE model plus "
                "matched noise on the Laplacian SWD", measure="Laplacian SWD (x1e3)", subject="reference perceptual",
                values=perc["SWD"], control="reference MSE + noise", control_values=noisy["SWD"],
                higher_is_better=False, kind="observation", source="reference", basis=basis + "; noise seeded"),
    ]
