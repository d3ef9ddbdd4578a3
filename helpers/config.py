"""Ground layer: run profiles, device choice, seeding and paths. Imports nothing of the package.

A notebook's parameters cell holds ``profile = None``; :func:`get_profile` resolves it from the
argument, then the ``NB_PROFILE`` environment variable, then ``"quick"``. Per-notebook numbers are
chosen with :meth:`Profile.pick`, so every notebook states its smoke / quick / full settings in one line;
training-step counts with :meth:`Profile.steps`, which ``$NB_STEP_CAP`` caps (``make full-check`` runs the
``full`` shapes for two steps on a CPU, to catch a shape or memory error before a GPU hour is spent).
"""
from __future__ import annotations

import contextlib
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
import torch.nn as nn

T = TypeVar("T")

PROFILE_NAMES = ("smoke", "quick", "full")
PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Profile:
    """How much work a notebook does.

    ``smoke``: seconds on a laptop CPU, proves the code runs (CI, nbval).
    ``quick``: a few CPU minutes, results worth looking at (the default, ``make run``).
    ``full``: the course's settings, meant for a GPU.
    """

    name: str
    step_cap: int | None = None

    def pick(self, smoke: T, quick: T, full: T) -> T:
        """Return the value for this profile."""
        return {"smoke": smoke, "quick": quick, "full": full}[self.name]

    def steps(self, smoke: int, quick: int, full: int) -> int:
        """A training-step count for this profile, at most :attr:`step_cap` when one is set (shapes and sizes,
        picked with :meth:`pick`, stay the profile's own)."""
        n = self.pick(smoke, quick, full)
        return n if self.step_cap is None else min(n, self.step_cap)

    @property
    def is_smoke(self) -> bool:
        return self.name == "smoke"


def get_profile(name: str | None = None) -> Profile:
    """Resolve a profile: explicit name, else ``$NB_PROFILE``, else ``"quick"``; its step cap from
    ``$NB_STEP_CAP`` (unset or empty: none).

    Raises ``ValueError`` naming the allowed values for anything else (a misspelt profile must not
    silently run the defaults; a step cap is a whole number >= 1).
    """
    chosen = name or os.environ.get("NB_PROFILE") or "quick"
    if chosen not in PROFILE_NAMES:
        raise ValueError(f"Unknown profile {chosen!r}: use one of {', '.join(PROFILE_NAMES)} "
                         "(set it in the parameters cell or with NB_PROFILE).")
    cap = os.environ.get("NB_STEP_CAP") or None
    if cap is not None and not (cap.isdigit() and int(cap) >= 1):
        raise ValueError(f"NB_STEP_CAP={cap!r}: use a whole number >= 1 (the most training steps of any loop), "
                         "or leave it unset.")
    return Profile(chosen, None if cap is None else int(cap))


def pick_device(preference: str = "auto") -> torch.device:
    """``"auto"`` picks cuda, then mps, then cpu; any other value is used as given (``"cpu"``, ``"cuda:1"``)."""
    if preference != "auto":
        return torch.device(preference)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a CPU ``torch.Generator`` seeded the same for explicit use."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def cache_dir() -> Path:
    """Folder for converted weights and built sample data: ``$SRGAN_CACHE`` or ``~/.cache/srgan-notebooks``."""
    path = Path(os.environ.get("SRGAN_CACHE") or Path.home() / ".cache" / "srgan-notebooks")
    path.mkdir(parents=True, exist_ok=True)
    return path


def output_dir(run_dir: str | os.PathLike | None, notebook: str) -> Path:
    """Where a notebook writes figures, metrics and checkpoints.

    ``run_dir`` comes from the parameters cell (the batch runner sets it); otherwise ``$NB_RUN_DIR``,
    otherwise ``runs/interactive`` under the project. The notebook's own subfolder is created.
    """
    base = Path(run_dir or os.environ.get("NB_RUN_DIR") or PROJECT_ROOT / "runs" / "interactive")
    path = base / notebook
    path.mkdir(parents=True, exist_ok=True)
    return path


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
