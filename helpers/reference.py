"""Long-trained reference upscalers (``make reference``): what a method does, not what a few CPU-minutes buy.

Each entry of :data:`SPECS` is trained with the notebooks' own code (:class:`helpers.models.upscalers.
PixelShuffleUpscaler`, :class:`helpers.losses.SRLoss`, :func:`helpers.train.train_upscaler`, the sample set's
training photos and :class:`helpers.data.RandomCrops`), in chunks. After every chunk the training state (model,
Adam moments, crop generator, history) is saved atomically to ``reference/.state/<name>.pt`` (ignored by git),
so an interrupted run resumes where its last chunk ended. When the steps are done, the weights are written in
half precision with their meta to ``reference/<name>.pt`` (committed): architecture, code commit, command,
steps, training CPU-seconds, the VGG weights the perceptual term used, held-out metrics on the crops of
notebooks 02-04 and on the whole held-out photos as notebook 11 scores them, and the training curve.
``python -m helpers.upscale --model reference/<name>.pt`` loads each, and ``tests/test_reference.py``
reproduces its recorded whole-photo metrics from the half-precision file.

    python -m helpers.reference --name x4_mse            # train (or resume) one, then write reference/x4_mse.pt
    python -m helpers.reference --all                    # every spec, in order (what make reference runs)
"""
from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from . import data
from .config import PROJECT_ROOT, seed_everything
from .evaluation import evaluate
from .features import VGGFeatures
from .inference import Checkpoint, LoadedModel, load_upscaler
from .losses import SRLoss, VGGPerceptualLoss
from .models.registry import build_upscaler
from .results import History
from .train import train_upscaler
from .upscale import evaluate_images

REFERENCE_DIR = PROJECT_ROOT / "reference"
VAL_CROP = 256  # HR side of notebooks 02-04's held-out crops


@dataclass(frozen=True)
class Spec:
    """One reference model: a PixelShuffleUpscaler of ``channels`` x ``n_blocks`` trained ``steps`` steps of
    ``pixel * MSE + perceptual * VGG relu3_3`` on ``crop``-pixel HR crops, batch ``batch``, Adam(``lr``) halved at
    half and at three quarters of the steps; ``init`` names the reference model it starts from (fine-tunes)."""

    name: str
    scale: int
    steps: int
    crop: int
    batch: int = 16
    channels: int = 64
    n_blocks: int = 8
    pixel: float = 1.0
    perceptual: float = 0.0
    lr: float = 1e-3
    init: str | None = None
    chunk: int = 100
    seed: int = 0

    def learning_rate(self, step: int) -> float:
        """Adam's learning rate for ``step`` (1-based): ``lr``, halved after 1/2 and again after 3/4 of the steps."""
        return self.lr * 0.5 ** ((step > self.steps // 2) + (step > 3 * self.steps // 4))

    def kwargs(self) -> dict[str, int]:
        return {"scale": self.scale, "channels": self.channels, "n_blocks": self.n_blocks}


SPECS: dict[str, Spec] = {s.name: s for s in (
    Spec("x4_mse", scale=4, steps=5000, crop=64, n_blocks=6),
    Spec("x2_mse", scale=2, steps=3000, crop=48, n_blocks=6),
)}


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT, capture_output=True,
                              text=True, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _cpu_s(history: History) -> float:
    """Training CPU-seconds so far (process time, all threads; logged after every chunk)."""
    return history.last("cpu_s") if history.series("cpu_s")[1] else 0.0


def loss_for(spec: Spec) -> tuple[SRLoss, str | None]:
    """The spec's loss and the VGG16 weights its perceptual term uses (``None`` without one)."""
    if not spec.perceptual:
        return SRLoss(pixel=spec.pixel), None
    perceptual = VGGPerceptualLoss(vgg=VGGFeatures(("relu3_3",)))
    return SRLoss(pixel=spec.pixel, perceptual=spec.perceptual, perceptual_loss=perceptual), perceptual.vgg.source


def build(spec: Spec, root: Path = REFERENCE_DIR) -> nn.Module:
    """The spec's untrained model, or its ``init`` reference model's weights (which must exist under ``root``)."""
    model = build_upscaler("PixelShuffleUpscaler", **spec.kwargs())
    if spec.init:
        path = root / f"{spec.init}.pt"
        if not path.is_file():
            raise FileNotFoundError(f"{spec.name} starts from {path}, which does not exist: train it first "
                                    f"(python -m helpers.reference --name {spec.init}).")
        model.load_state_dict(load_upscaler(path).model.state_dict())
    return model


def train(spec: Spec, root: Path = REFERENCE_DIR, max_chunks: int | None = None,
          images: Mapping[str, torch.Tensor] | None = None) -> tuple[nn.Module, History, bool]:
    """Train (or resume) ``spec`` chunk by chunk, saving the state after each under ``root/.state``.

    ``max_chunks`` stops early (a test's interruption); ``images`` replaces the sample set's training photos.
    Returns ``(model, history, done)``; the training state is kept until :func:`export` has written the weights.
    """
    seed_everything(spec.seed)
    model = build(spec, root)
    opt = torch.optim.Adam(model.parameters(), lr=spec.lr)
    gen = torch.Generator().manual_seed(spec.seed)
    crops = data.RandomCrops(images if images is not None else data.sample_images("train"), spec.crop, spec.scale,
                             spec.batch, generator=gen)
    state = Checkpoint(root / ".state" / f"{spec.name}.pt", asdict(spec))
    saved = state.load()
    history = Checkpoint.restore(saved, {"model": model, "opt": opt}) if saved else History()
    if saved:
        gen.set_state(saved["generator"])
    loss_fn, _ = loss_for(spec)
    chunks = 0
    while (step := int(history.last("step")) if history.records else 0) < spec.steps:
        if max_chunks is not None and chunks >= max_chunks:
            return model, history, False
        n = min(spec.chunk, spec.steps - step)
        for group in opt.param_groups:
            group["lr"] = spec.learning_rate(step + 1)
        cpu0 = time.process_time()
        train_upscaler(model, loss_fn, crops, n, opt, history=history, desc=f"{spec.name} {step}+{n}")
        history.log(step + n, cpu_s=_cpu_s(history) + time.process_time() - cpu0)
        state.save(step + n, {"model": model, "opt": opt}, history, generator=gen.get_state())
        chunks += 1
        print(f"{spec.name}: step {step + n}/{spec.steps}, loss {history.last('loss'):.5f}, "
              f"{_cpu_s(history):.0f} CPU-s", flush=True)
    return model, history, True


def held_out_photos() -> list[Path]:
    """The whole held-out photos of the sample set, as notebook 11 scores them."""
    return sorted(data.list_images(data.build_sample_data() / "val"))


def whole_photo_metrics(lm: LoadedModel) -> dict[str, dict[str, float]]:
    """PSNR-Y / SSIM-Y / PSNR-RGB per held-out photo and their mean, ``{image or "mean": {metric: value}}``, with
    notebook 11's code (:func:`helpers.upscale.evaluate_images`: bicubic degradation, tiles = whole image)."""
    rows = [r for r in evaluate_images([lm], held_out_photos(), on_error=print) if r["method"] == lm.name]
    return {("mean" if r["image"].startswith("mean") else r["image"]):
            {k: float(r[k]) for k in ("PSNR-Y", "SSIM-Y", "PSNR-RGB")} for r in rows}


def export(spec: Spec, model: nn.Module, history: History, root: Path = REFERENCE_DIR,
           command: str = "") -> Path:
    """Write ``root/<name>.pt``: half-precision weights and the meta (see the module docstring). The whole-photo
    metrics are computed from the written half-precision file, as a user loads it."""
    _, vgg_source = loss_for(spec)
    val_lr, val_hr = data.validation_pairs(data.sample_images("val"), VAL_CROP, spec.scale)
    crops_row, _ = evaluate(model, val_lr, val_hr, spec.scale)
    meta: dict[str, Any] = {
        "architecture": "PixelShuffleUpscaler", "kwargs": spec.kwargs(), "scale": spec.scale,
        "steps": int(history.last("step")), "reference": asdict(spec), "commit": _commit(),
        "command": command or " ".join(["python", "-m", "helpers.reference", *sys.argv[1:]]),
        "train_cpu_s": round(_cpu_s(history), 1), "vgg_weights": vgg_source,
        "held_out_crops": {k: v for k, v in crops_row.items() if isinstance(v, float)},
        "curve": [[int(s), float(v)] for s, v in zip(*history.series("loss"))][:: max(1, spec.steps // 100)],
    }
    path, half = root / f"{spec.name}.pt", {"model": copy.deepcopy(model).half()}
    Checkpoint(path, meta).save(meta["steps"], half)
    meta["held_out_photos"] = whole_photo_metrics(load_upscaler(path))
    Checkpoint(path, meta).save(meta["steps"], half)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.reference", description=__doc__.split("\n\n")[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--name", choices=sorted(SPECS), action="append", help="the reference model(s) to train")
    which.add_argument("--all", action="store_true", help="every reference model, in order")
    args = parser.parse_args(argv)
    for name in SPECS if args.all else args.name:
        spec = SPECS[name]
        if (REFERENCE_DIR / f"{name}.pt").is_file():
            print(f"{name}: reference/{name}.pt exists; delete it to retrain.")
            continue
        t0 = time.perf_counter()
        model, history, _ = train(spec)
        path = export(spec, model, history)
        meta = torch.load(path, weights_only=True)["meta"]
        print(f"{name}: wrote {path} ({path.stat().st_size / 1e6:.1f} MB) after {time.perf_counter() - t0:.0f} s; "
              f"held-out photos {json.dumps(meta['held_out_photos']['mean'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
