"""What a run records: a notebook's ``metrics.json`` and the metric history of a training run.

Every notebook writes ``<run>/<notebook>/metrics.json`` through :func:`write_metrics`; the batch runner reads
them back (:func:`read_metrics`) into the run's summary and report.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):  # numpy / torch scalars
        return value.item()
    return value


def write_metrics(out_dir: str | Path, **values: Any) -> Path:
    """Merge ``values`` into ``<out_dir>/metrics.json`` (created if missing) and return its path."""
    path = Path(out_dir) / "metrics.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data.update(_plain(values))
    path.write_text(json.dumps(data, indent=2, sort_keys=True))
    return path


def read_metrics(out_dir: str | Path) -> dict[str, Any]:
    """The notebook's metrics, or ``{}`` if it wrote none."""
    path = Path(out_dir) / "metrics.json"
    return json.loads(path.read_text()) if path.exists() else {}


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
