"""Where the reference models are kept and how they are made safely: the resumable chunk loop every reference run
uses, the half-precision writer and the meta every file carries, and the held-out photos they are scored on.

:mod:`helpers.reference` (notebooks 02-04's upscalers) and :mod:`helpers.reference_cycle` (notebook 08's
SRResCycGAN) build on it.
"""
from __future__ import annotations

import copy
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from . import data
from .config import PROJECT_ROOT
from .inference import Checkpoint, LoadedModel, load_upscaler
from .results import History
from .upscale import evaluate_images

REFERENCE_DIR = PROJECT_ROOT / "reference"
VAL_CROP = 256  # HR side of notebooks 02-04's held-out crops
#: What the meta records per held-out photo: distortion, then notebook 11's weight-free perception measures.
PHOTO_MEASURES = ("PSNR-Y", "SSIM-Y", "PSNR-RGB", "SWD", "HF ratio", "rise width (px)", "checkerboard")


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT, capture_output=True,
                              text=True, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _cpu_s(history: History) -> float:
    """Training CPU-seconds so far (process time, all threads; logged after every chunk)."""
    return history.last("cpu_s") if history.series("cpu_s")[1] else 0.0


def _wall_s(history: History) -> float:
    """Training wall-seconds so far (logged after every chunk; on a GPU the CPU time undercounts)."""
    return history.last("wall_s") if history.series("wall_s")[1] else 0.0


def run_chunks(spec: Any, run: Any, generators: Mapping[str, torch.Generator], root: Path,
               max_chunks: int | None, minutes: float | None, device: torch.device | str) -> tuple[History, bool]:
    """The resumable loop of every reference model: ``run.chunk(step, n, history)`` up to ``spec.steps`` in chunks
    of ``spec.chunk``, the state (``run.modules``, the random ``generators`` by name, torch's random state and the
    history) saved atomically to ``root/.state/<spec.name>.pt`` after each, and restored from it first (a state
    saved for another spec raises :class:`helpers.inference.CheckpointMismatch`). ``max_chunks`` and ``minutes`` of
    wall time stop early. Returns ``(history, done)``."""
    state = Checkpoint(root / ".state" / f"{spec.name}.pt", asdict(spec))
    saved = state.load()
    history = Checkpoint.restore(saved, run.modules) if saved else History()
    if saved:
        for key, gen in generators.items():
            gen.set_state(saved[key])
        torch.set_rng_state(saved["rng"])
    chunks, deadline = 0, None if minutes is None else time.monotonic() + 60 * minutes
    while (step := int(history.last("step")) if history.records else 0) < spec.steps:
        if (max_chunks is not None and chunks >= max_chunks) or (deadline and time.monotonic() > deadline):
            return history, False
        n = min(spec.chunk, spec.steps - step)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        run.chunk(step, n, history)
        history.log(step + n, cpu_s=_cpu_s(history) + time.process_time() - cpu0,
                    wall_s=_wall_s(history) + time.perf_counter() - wall0)
        state.save(step + n, run.modules, history, rng=torch.get_rng_state(),
                   **{key: gen.get_state() for key, gen in generators.items()})
        chunks += 1
        print(f"{spec.name}: step {step + n}/{spec.steps}, loss {history.last('loss'):.5f}, "
              f"{_cpu_s(history):.0f} CPU-s, {_wall_s(history):.0f} s on {device}", flush=True)
    return history, True


def held_out_photos() -> list[Path]:
    """The whole held-out photos of the sample set, as notebook 11 scores them."""
    return sorted(data.list_images(data.build_sample_data() / "val"))


def whole_photo_metrics(lm: LoadedModel, lr_dir: Path | None = None) -> dict[str, dict[str, float]]:
    """PSNR-Y / SSIM-Y / PSNR-RGB and the perception measures per held-out photo and their mean, ``{image or
    "mean": {metric: value}}``, with notebook 11's code (:func:`helpers.upscale.evaluate_images`: bicubic
    degradation, or the LR images of ``lr_dir``; tiles = whole image)."""
    return photo_rows(evaluate_images([lm], held_out_photos(), lr_dir=lr_dir, on_error=print), lm.name)


def photo_rows(rows: list[dict], method: str) -> dict[str, dict[str, float]]:
    """``method``'s rows of :func:`helpers.upscale.evaluate_images` as ``{image or "mean": {measure: value}}``."""
    return {("mean" if r["image"].startswith("mean") else r["image"]):
            {k: float(r[k]) for k in PHOTO_MEASURES if isinstance(r.get(k), float)}
            for r in rows if r["method"] == method}


def base_meta(spec: Any, history: History, command: str, trained_on: str, vgg_source: str | None,
              crops_row: Mapping[str, Any]) -> dict[str, Any]:
    """The meta every reference file carries (see the module docstring), but its architecture and held-out photos."""
    return {"scale": spec.scale, "steps": int(history.last("step")), "reference": asdict(spec), "commit": _commit(),
            "command": command or " ".join(["python", "-m", "helpers.reference", *sys.argv[1:]]),
            "train_cpu_s": round(_cpu_s(history), 1), "train_wall_s": round(_wall_s(history), 1),
            "trained_on": trained_on, "vgg_weights": vgg_source,
            "held_out_crops": {k: v for k, v in crops_row.items() if isinstance(v, float)},
            "curve": (c := [[int(s), float(v)] for s, v in zip(*history.series("loss"))])[:: max(1, len(c) // 100)]}


def write(path: Path, model: nn.Module, meta: dict[str, Any],
          photo_metrics: Callable[[LoadedModel], dict[str, Any]]) -> Path:
    """Write ``model`` in half precision with ``meta`` to ``path``, then add ``meta["held_out_photos"] =
    photo_metrics(the written file, loaded as a user loads it)`` and write again."""
    half = {"model": copy.deepcopy(model).cpu().half()}
    Checkpoint(path, meta).save(meta["steps"], half)
    meta["held_out_photos"] = photo_metrics(load_upscaler(path))
    Checkpoint(path, meta).save(meta["steps"], half)
    return path
