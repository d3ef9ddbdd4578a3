"""Training pieces: fast execution settings, a divergence guard, metric history and safe checkpoints.

Speed on a CPU (measured in notebook 01 and ``make bench``): bf16 autocast plus ``channels_last`` make the
series' convolutions several times faster than fp32 with the default memory format. On CUDA the same
context uses fp16/bf16 AMP; elsewhere it is a no-op.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from tqdm.auto import tqdm


# --------------------------------------------------------------------------- speed
def autocast(device: torch.device | str, enabled: bool = True) -> contextlib.AbstractContextManager:
    """bf16 autocast on CPU and CUDA (fp16 on CUDA devices without bf16); a no-op on other devices."""
    kind = torch.device(device).type
    if not enabled or kind not in ("cpu", "cuda"):
        return contextlib.nullcontext()
    dtype = torch.bfloat16
    if kind == "cuda" and not torch.cuda.is_bf16_supported():
        dtype = torch.float16
    return torch.autocast(kind, dtype=dtype)


def to_channels_last(*items: nn.Module | torch.Tensor) -> Any:
    """Move modules / 4-D tensors to ``channels_last`` memory format (returns one item or a tuple)."""
    out = tuple(x.to(memory_format=torch.channels_last) if isinstance(x, nn.Module) or x.ndim == 4 else x
                for x in items)
    return out[0] if len(out) == 1 else out


def set_requires_grad(nets: nn.Module | Iterable[nn.Module], flag: bool) -> None:
    """Switch gradients of one or several networks on or off (freeze D while G steps, as in pix2pix)."""
    for net in [nets] if isinstance(nets, nn.Module) else nets:
        for p in net.parameters():
            p.requires_grad_(flag)


def progress(iterable: Iterable | int, **kwargs: Any) -> tqdm:
    """A tqdm.auto bar (a widget in Jupyter, text under papermill); ``progress(100)`` iterates ``range(100)``."""
    if isinstance(iterable, int):
        iterable = range(iterable)
    return tqdm(iterable, mininterval=1.0, **kwargs)


# --------------------------------------------------------------------------- divergence guard
class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the message names the loss, the step and what to try."""


def check_finite(step: int, **losses: torch.Tensor | float) -> None:
    """Raise :class:`TrainingDiverged` if any loss is NaN or infinite."""
    for name, value in losses.items():
        v = float(value.detach()) if isinstance(value, torch.Tensor) else float(value)
        if not math.isfinite(v):
            raise TrainingDiverged(
                f"{name} is {v} at step {step}: training diverged. Lower the learning rate, lower the weight "
                "of the adversarial term, or turn off autocast (use_amp=False) to rule out bf16 overflow. "
                "The last good checkpoint, if one was saved, is untouched.")


# --------------------------------------------------------------------------- history
class History:
    """Metric history: ``log(step, loss=..., psnr=...)`` appends; ``series(name)`` gives ``(steps, values)``."""

    def __init__(self, records: list[dict[str, float]] | None = None):
        self.records: list[dict[str, float]] = list(records or [])

    def log(self, step: int, **values: float | torch.Tensor) -> dict[str, float]:
        row = {"step": float(step)}
        row.update({k: float(v.detach()) if isinstance(v, torch.Tensor) else float(v) for k, v in values.items()})
        self.records.append(row)
        return row

    def series(self, name: str) -> tuple[list[float], list[float]]:
        rows = [r for r in self.records if name in r]
        return [r["step"] for r in rows], [r[name] for r in rows]

    def last(self, name: str) -> float:
        steps, values = self.series(name)
        if not values:
            raise KeyError(f"No value logged for {name!r}.")
        return values[-1]

    def state_dict(self) -> list[dict[str, float]]:
        return list(self.records)


# --------------------------------------------------------------------------- checkpoints
class CheckpointMismatch(RuntimeError):
    """A checkpoint exists for different settings; it is kept, nothing is overwritten."""


class Checkpoint:
    """One training run's checkpoint file: train-or-load and resume, without silent overwrites.

    ``meta`` describes the run (architecture, loss weights, profile...). ``load()`` returns the saved dict if
    the file exists and its meta equals ``meta``; if the meta differs it raises :class:`CheckpointMismatch`
    (pass ``on_mismatch="backup"`` to move the old file to ``<name>.bak-<time>`` and start fresh). ``save()``
    writes atomically (temporary file, then rename), so an interrupted save never destroys the last one.
    """

    def __init__(self, path: str | os.PathLike, meta: Mapping[str, Any], on_mismatch: str = "raise"):
        if on_mismatch not in ("raise", "backup"):
            raise ValueError("on_mismatch must be 'raise' or 'backup'.")
        self.path = Path(path)
        self.meta = json.loads(json.dumps(dict(meta)))  # plain JSON types, so comparisons are exact
        self.on_mismatch = on_mismatch

    def load(self) -> dict[str, Any] | None:
        if not self.path.exists():
            return None
        try:
            saved = torch.load(self.path, map_location="cpu", weights_only=False)
        except Exception as err:
            raise CheckpointMismatch(f"{self.path} cannot be read ({err}); move it away to train afresh.") from err
        if saved.get("meta") == self.meta:
            return saved
        if self.on_mismatch == "backup":
            backup = self.path.with_name(f"{self.path.name}.bak-{time.strftime('%Y%m%d-%H%M%S')}")
            shutil.move(self.path, backup)
            print(f"Checkpoint {self.path.name} was made with other settings: kept as {backup.name}.")
            return None
        raise CheckpointMismatch(
            f"{self.path} was saved with other settings:\n  saved:   {saved.get('meta')}\n  current: {self.meta}\n"
            "Use another run folder, delete the file, or pass on_mismatch='backup' to keep it under a new name.")

    def save(self, step: int, modules: Mapping[str, nn.Module | torch.optim.Optimizer],
             history: History | None = None, **extra: Any) -> Path:
        payload = {"meta": self.meta, "step": step, "state": {k: m.state_dict() for k, m in modules.items()},
                   "history": history.state_dict() if history else [], **extra}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        torch.save(payload, tmp)
        tmp.replace(self.path)
        return self.path

    @staticmethod
    def restore(saved: Mapping[str, Any], modules: Mapping[str, nn.Module | torch.optim.Optimizer]) -> History:
        """Load the saved states into ``modules`` (same keys as at save time); return the history."""
        missing = set(modules) - set(saved["state"])
        if missing:
            raise CheckpointMismatch(f"The checkpoint has no state for {sorted(missing)}.")
        for key, module in modules.items():
            module.load_state_dict(saved["state"][key])
        return History(saved.get("history"))


def timed(fn, *args: Any, repeat: int = 3, **kwargs: Any) -> tuple[float, Any]:
    """Best wall time of ``repeat`` calls (after one warm-up) in seconds, and the last result."""
    result = fn(*args, **kwargs)
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - start)
    return best, result

