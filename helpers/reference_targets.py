"""Issue 17's targets for the reference models, measured from the committed files (README, "Targets").

Each target is one row: what it asks, the model it is measured on, the measured value and whether it is met. The
values are the means the files record (over notebooks 02-04's three held-out crops, or notebook 11's three whole
held-out photos); bicubic is computed here on the same images with the same code. These are benchmarks, means
without spread: the notebooks' claims pair the same numbers per image and say whether a margin holds beyond its
spread. ``python -m helpers.reference --table`` prints the table.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch

from . import data, perception
from .degrade import bicubic_down
from .evaluation import bicubic_baseline
from .inference import load_upscaler, super_resolve
from .reference_store import REFERENCE_DIR, VAL_CROP, held_out_photos, photo_rows
from .upscale import evaluate_images

ADVERSARIAL = "x4_wgan"  # notebook 04's SRGAN recipe with course doc 000's losses; its start is its meta's init
PSNR_GAIN = {("crops", 4): 1.5, ("photos", 4): 1.2, ("crops", 2): 1.5}  # dB over bicubic, pixel-loss models
MAX_PSNR_COST = 2.5  # dB below the content model it started from (SRGAN paid 2.65 dB on Set5)


@dataclass(frozen=True)
class Target:
    """One target: ``measured`` against ``threshold`` (met when ``measured >= threshold``, or ``<=`` when
    ``at_most``); ``detail`` names the values the difference comes from."""

    what: str
    model: str
    measured: float
    threshold: float
    at_most: bool
    detail: str

    @property
    def met(self) -> bool:
        return self.measured <= self.threshold if self.at_most else self.measured >= self.threshold


def bicubic_crops(scale: int) -> float:
    """Bicubic's mean PSNR-Y on notebooks 02-04's held-out crops (``VAL_CROP`` px) at ``scale``."""
    lr, hr = data.validation_pairs(data.sample_images("val"), VAL_CROP, scale)
    return float(bicubic_baseline(lr, hr, scale)[0]["PSNR-Y"])


def bicubic_photos(scale: int) -> dict[str, float]:
    """Bicubic's mean measures on the whole held-out photos at ``scale``, as the reference files record theirs."""
    return photo_rows(evaluate_images([], held_out_photos(), scale=scale, on_error=print), "bicubic")["mean"]


def noise_control_swd(start: Path, scale: int, seed: int = 0) -> float:
    """Mean Laplacian SWD over the whole held-out photos of the model file ``start``'s upscale plus noise matched
    to HR's high-band power (:func:`helpers.perception.noise_matched`, one generator seeded ``seed``, the photos in
    order): the control that fools a power measure, made as notebook 04 makes it."""
    lm = load_upscaler(start)
    gen = torch.Generator().manual_seed(seed)
    swds = []
    for hr in data.sample_images("val").values():
        hr = data.mod_crop(hr, scale)[None]
        sr = super_resolve(lm.model, bicubic_down(hr, scale))
        swds.append(float(perception.laplacian_swd(perception.noise_matched(sr, hr, scale, gen), hr)[0]))
    return sum(swds) / len(swds)


def _metas(root: Path) -> dict[str, dict]:
    return {p.stem: torch.load(p, map_location="cpu", weights_only=True)["meta"] for p in sorted(root.glob("*.pt"))}


def _pixel_models(metas: dict[str, dict], scale: int) -> dict[str, dict]:
    """The content models trained with the pixel loss alone at ``scale``."""
    return {name: m for name, m in metas.items() if m["scale"] == scale and m["reference"].get("trainer") == "content"
            and not m["reference"].get("perceptual")}


def content_targets(metas: dict[str, dict]) -> list[Target]:
    """The best pixel-loss model's PSNR-Y gain over bicubic, per target of :data:`PSNR_GAIN`."""
    rows = []
    for (where, scale), gain in PSNR_GAIN.items():
        models = _pixel_models(metas, scale)
        if not models:
            continue
        key = "held_out_crops" if where == "crops" else "held_out_photos"
        psnr = {n: m[key]["PSNR-Y"] if where == "crops" else m[key]["mean"]["PSNR-Y"] for n, m in models.items()}
        best = max(psnr, key=psnr.__getitem__)
        base = bicubic_crops(scale) if where == "crops" else bicubic_photos(scale)["PSNR-Y"]
        label = "notebooks 02-04's held-out crops" if where == "crops" else "notebook 11's whole held-out photos"
        rows.append(Target(f"{scale}x pixel-loss model: PSNR-Y gain over bicubic on {label} (dB) >= {gain}", best,
                           psnr[best] - base, gain, False, f"{psnr[best]:.2f} vs bicubic {base:.2f}"))
    return rows


def adversarial_targets(metas: dict[str, dict], root: Path = REFERENCE_DIR) -> list[Target]:
    """:data:`ADVERSARIAL` against its start, bicubic and its start plus matched noise (:func:`noise_control_swd`)
    on the whole held-out photos: its PSNR-Y cost, its checkerboard score and the two perception measures (SWD
    lower, high-band power nearer HR's; against the noise control the SWD alone, as its power is HR's by
    construction)."""
    if ADVERSARIAL not in metas:
        return []
    adv = metas[ADVERSARIAL]["held_out_photos"]["mean"]
    start_name = metas[ADVERSARIAL]["reference"]["init"]
    start = metas[start_name]["held_out_photos"]["mean"]
    bic = bicubic_photos(metas[ADVERSARIAL]["scale"])
    noisy = noise_control_swd(root / f"{start_name}.pt", metas[ADVERSARIAL]["scale"])

    def off(row: dict[str, float]) -> float:  # distance of the high-band power ratio from HR's, in octaves
        return abs(math.log2(row["HF ratio"]))

    vs = f"{ADVERSARIAL} vs {start_name}"
    return [
        Target(f"PSNR-Y cost of the adversarial fine-tune (dB) <= {MAX_PSNR_COST}", ADVERSARIAL,
               start["PSNR-Y"] - adv["PSNR-Y"], MAX_PSNR_COST, True,
               f"{vs}: {adv['PSNR-Y']:.2f} vs {start['PSNR-Y']:.2f}"),
        Target("checkerboard score no higher than the content model's (difference <= 0)", ADVERSARIAL,
               adv["checkerboard"] - start["checkerboard"], 0.0, True,
               f"{vs}: {adv['checkerboard']:.2f} vs {start['checkerboard']:.2f}"),
        Target("Laplacian SWD below the content model's (difference <= 0)", ADVERSARIAL, adv["SWD"] - start["SWD"],
               0.0, True, f"{vs}: {adv['SWD']:.1f} vs {start['SWD']:.1f}"),
        Target("Laplacian SWD below bicubic's (difference <= 0)", ADVERSARIAL, adv["SWD"] - bic["SWD"], 0.0, True,
               f"{ADVERSARIAL} vs bicubic: {adv['SWD']:.1f} vs {bic['SWD']:.1f}"),
        Target("Laplacian SWD below the content model's plus noise matched to HR's high-band power (difference <= 0)",
               ADVERSARIAL, adv["SWD"] - noisy, 0.0, True, f"{vs} + noise: {adv['SWD']:.1f} vs {noisy:.1f}"),
        Target("high-band power nearer HR's than the content model's (difference of \\|log2 HF ratio\\| <= 0)",
               ADVERSARIAL, off(adv) - off(start), 0.0, True,
               f"{vs}: HF ratio {adv['HF ratio']:.2f} vs {start['HF ratio']:.2f}"),
    ]


def table(root: Path = REFERENCE_DIR) -> str:
    """The targets as a markdown table (the README carries it; ``tests/test_reference_targets.py`` checks that
    the two agree)."""
    metas = _metas(root)
    lines = ["| target | model | measured | from | met |", "|---|---|---|---|---|"]
    for t in content_targets(metas) + adversarial_targets(metas, root):
        lines.append(f"| {t.what} | `{t.model}` | {t.measured:+.2f} | {t.detail} | {'yes' if t.met else 'no'} |")
    return "\n".join(lines)
