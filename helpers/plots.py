"""Figures: side-by-side image grids with zoomed crops, training curves, and saving into the run folder.

Images are ``(B, 3, H, W)`` or ``(3, H, W)`` tensors in ``[0, 1]``; columns of one grid may differ in size
(an LR input is shown nearest-upsampled to the HR size, so pixels stay visible).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.patches import Rectangle
from matplotlib.transforms import Bbox

from . import metrics
from .config import PROJECT_ROOT
from .evaluation import per_image_scores, reference_outputs, reference_summary
from .results import History


def to_numpy(img: torch.Tensor) -> np.ndarray:
    """``(3, H, W)`` or ``(1, H, W)`` in ``[0, 1]`` -> ``(H, W, 3)`` / ``(H, W)`` float array for imshow."""
    arr = img.detach().float().clamp(0, 1).cpu()
    return arr[0].numpy() if arr.shape[0] == 1 else arr.permute(1, 2, 0).numpy()


def _resize_to(img: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(img.shape[-2:]) == size:
        return img
    return F.interpolate(img[None].float(), size=size, mode="nearest")[0]


def show_grid(columns: Mapping[str, torch.Tensor], captions: Mapping[str, Sequence[str]] | None = None,
              zoom: tuple[float, float, float] | None = (0.35, 0.35, 0.25), title: str | None = None,
              panel_size: float = 2.6) -> plt.Figure:
    """One row per image, one column per method (e.g. ``{"bicubic": ..., "MSE": ..., "HR": ...}``).

    ``captions[col][row]`` is written under each panel (metrics). ``zoom = (top, left, size)`` as fractions of
    the image marks a box on every panel and adds a row of enlarged crops under each image row.
    """
    names = list(columns)
    batches = [c if c.ndim == 4 else c[None] for c in columns.values()]
    n_rows = batches[0].shape[0]
    size = (max(b.shape[-2] for b in batches), max(b.shape[-1] for b in batches))
    rows_per_img = 2 if zoom else 1
    fig, axes = plt.subplots(n_rows * rows_per_img, len(names),
                             figsize=(panel_size * len(names), panel_size * n_rows * rows_per_img),
                             squeeze=False)
    for r in range(n_rows):
        for c, (name, batch) in enumerate(zip(names, batches)):
            img = _resize_to(batch[r], size)
            ax = axes[r * rows_per_img, c]
            ax.imshow(to_numpy(img), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            if r == 0:
                ax.set_title(name, fontsize=10)
            if captions and name in captions:
                ax.set_xlabel(captions[name][r], fontsize=8)
            if zoom:
                h, w = size
                top, left, s = int(zoom[0] * h), int(zoom[1] * w), max(4, int(zoom[2] * min(h, w)))
                ax.add_patch(Rectangle((left, top), s, s, fill=False, edgecolor="#ffcc00", linewidth=1.2))
                zax = axes[r * rows_per_img + 1, c]
                zax.imshow(to_numpy(img[:, top:top + s, left:left + s]), cmap="gray", vmin=0, vmax=1,
                           interpolation="nearest")
                zax.set_xticks([]), zax.set_yticks([])
                for spine in zax.spines.values():
                    spine.set_edgecolor("#ffcc00")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def plot_curves(histories: Mapping[str, History], keys: Sequence[str], title: str | None = None,
                logy: Sequence[str] = ()) -> plt.Figure:
    """One panel per metric ``key``, one line per run (``{"MSE": history_a, "perceptual": history_b}``)."""
    fig, axes = plt.subplots(1, len(keys), figsize=(3.6 * len(keys), 3.0), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for label, hist in histories.items():
            steps, values = hist.series(key)
            if values:
                ax.plot(steps, values, label=label, linewidth=1.4)
        ax.set_title(key, fontsize=10)
        ax.set_xlabel("step")
        if key in logy:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def save_figure(fig: plt.Figure, out_dir: Path, name: str) -> Path:
    """Save ``fig`` as ``<out_dir>/<name>.png`` (150 dpi) and return the path."""
    path = Path(out_dir) / f"{name}.png"
    fig.savefig(path, dpi=150, bbox_inches="tight")
    return path


def plot_curves_with_baseline(histories: Mapping[str, History], keys: Sequence[str],
                              baseline: Mapping[str, float | str], title: str | None = None,
                              label: str = "bicubic") -> plt.Figure:
    """:func:`helpers.plots.plot_curves` (one panel per metric in ``keys``) with ``baseline[key]`` drawn as a
    dashed grey line in every panel, labelled ``label`` in the first panel's legend."""
    missing = [k for k in keys if not isinstance(baseline.get(k), float)]
    if missing:
        raise ValueError(f"The baseline row has no number for {missing}: score it with the same metrics.")
    fig = plot_curves(histories, keys, title=title)
    for ax, key in zip(fig.axes, keys):
        ax.axhline(baseline[key], color="gray", linestyle="--", linewidth=1, label=label)
    fig.axes[0].legend(fontsize=7)
    return fig


def _psnr_against(curves: Mapping[str, tuple[list[float], list[float]]], xlabel: str, baseline_psnr: float,
                  title: str, label: str) -> plt.Figure:
    """Held-out PSNR-Y (dB) curves ``{name: (x, psnr)}`` against ``xlabel``, the baseline as a dashed grey line."""
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    for name, (x, psnr) in curves.items():
        ax.plot(x, psnr, marker=".", label=name)
    ax.axhline(baseline_psnr, color="gray", linestyle="--", linewidth=1, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("held-out PSNR-Y (dB)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def plot_psnr_per_cpu_second(histories: Mapping[str, History], baseline_psnr: float, title: str,
                             label: str = "bicubic") -> plt.Figure:
    """Held-out PSNR-Y (dB) against cumulative training CPU-seconds (``cpu_s``), one line per history, and
    the baseline as a dashed grey line (the benchmarks' time-to-quality; the notebooks compare per MAC)."""
    curves = {name: (hist.series("cpu_s")[1], hist.series("PSNR-Y")[1]) for name, hist in histories.items()}
    return _psnr_against(curves, "training CPU-seconds", baseline_psnr, title, label)


def sr_grid(columns: Mapping[str, torch.Tensor], hr: torch.Tensor, scale: int, title: str,
            zoom: tuple[float, float, float] = (0.4, 0.4, 0.22), panel_size: float = 2.3) -> plt.Figure:
    """:func:`helpers.plots.show_grid` of the SR images in ``columns`` (each ``(B, 3, H, W)`` in ``[0, 1]``) and
    ``hr`` as the last column "HR", with each image's PSNR-Y (border ``scale``) under it."""
    cols = {**columns, "HR": hr}
    captions = {name: [f"{v:.2f} dB" for v in metrics.psnr(img, hr, scale, y_channel=True)]
                for name, img in columns.items()}
    return show_grid(cols, captions, zoom=zoom, panel_size=panel_size, title=title)


def image_rows(rows: Mapping[str, torch.Tensor], title: str, max_rows: int | None = None) -> plt.Figure:
    """One row of small grey images per entry of ``rows`` (label -> ``(N, 1, H, W)`` in ``[0, 1]``), the label
    left of the row: e.g. a GAN's fixed noise batch at successive training steps (notebooks 05, 10). With
    ``max_rows``, evenly spaced entries (first and last kept). Rows may differ in image size."""
    labels = list(rows)
    if max_rows is not None and len(labels) > max_rows:
        labels = [labels[round(i * (len(labels) - 1) / (max_rows - 1))] for i in range(max_rows)]
    cols = max(len(rows[k]) for k in labels)
    fig, axes = plt.subplots(len(labels), cols, figsize=(9, 0.62 * len(labels) + 0.3), squeeze=False)
    for r, label in enumerate(labels):
        for c in range(cols):
            axes[r, c].set_xticks([]), axes[r, c].set_yticks([])
            if c < len(rows[label]):
                axes[r, c].imshow(rows[label][c, 0], cmap="gray", vmin=0, vmax=1)
        axes[r, 0].set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(pad=0.3)
    return fig


def plot_psnr_per_mac(histories: Mapping[str, History], macs_per_step: Mapping[str, float], baseline_psnr: float,
                      title: str, label: str = "bicubic") -> plt.Figure:
    """Held-out PSNR-Y (dB) against training compute, one line per history: ``step * macs_per_step[name]``
    (multiply-accumulates of the forward passes; e.g. MACs per LR pixel times LR pixels per batch) in units of
    10^9, so models of different cost compare at equal compute; ``baseline_psnr`` as a dashed grey line."""
    missing = [name for name in histories if name not in macs_per_step]
    if missing:
        raise ValueError(f"No MACs per step for {missing}: give every history its cost.")
    curves = {}
    for name, hist in histories.items():
        steps, psnr = hist.series("PSNR-Y")
        curves[name] = ([s * macs_per_step[name] / 1e9 for s in steps], psnr)
    return _psnr_against(curves, "training compute (forward GMACs)", baseline_psnr, title, label)


def plot_perception_distortion(points: Mapping[str, tuple[float, float]], perception_label: str, title: str,
                               hr_value: float | None = None, path: Sequence[str] = (),
                               baseline: str = "bicubic") -> plt.Figure:
    """The perception-distortion plane (Blau & Michaeli 2018): every method a point ``{name: (PSNR-Y in dB,
    perception value)}``, the perception measure on x, PSNR-Y on y. ``baseline`` (if among the points) is drawn
    grey, ``hr_value`` (where HR itself lies on the perception axis, e.g. 1 for a power ratio, 0 for a distance) as
    a dashed vertical line labelled "HR", and the points named in ``path`` joined in order (e.g. a network
    interpolation from the content to the adversarial model)."""
    missing = [name for name in path if name not in points]
    if missing:
        raise ValueError(f"The path names {missing}, which are not among the points.")
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    if path:
        ax.plot([points[n][1] for n in path], [points[n][0] for n in path], color="tab:purple", linewidth=1,
                alpha=0.6, zorder=1)
    for name, (psnr, value) in points.items():
        grey = name == baseline
        ax.scatter(value, psnr, color="gray" if grey else None, marker="s" if grey else "o", zorder=2)
    ax.margins(x=0.12, y=0.12)
    if hr_value is not None:
        ax.axvline(hr_value, color="gray", linestyle="--", linewidth=1)
        ax.annotate("HR", (hr_value, 1), xycoords=("data", "axes fraction"), xytext=(3, -12),
                    textcoords="offset points", fontsize=7, color="gray")
    ax.set_xlabel(perception_label)
    ax.set_ylabel("PSNR-Y (dB), higher = less distortion")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    place_labels(ax, [(name, value, psnr, "gray" if name == baseline else "black")
                      for name, (psnr, value) in points.items()])
    return fig


# Where a point's label may go, in points from the point: right, left, above, below, then farther out.
LABEL_OFFSETS = ((5, 2), (5, -9), (-5, 2), (-5, -9), (0, 6), (0, -14), (10, 10), (-10, 10), (10, -18), (-10, -18),
                 (22, 16), (-22, 16), (22, -26), (-22, -26), (0, 26), (0, -34))
#: A label placed this many points or farther from its point gets a thin leader line to it.
LEADER_FROM_PT = 14.0


def _overlap(a: Bbox, b: Bbox) -> float:
    """Area (display pixels²) shared by two matplotlib ``Bbox``es."""
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return max(w, 0.0) * max(h, 0.0)


def place_labels(ax: plt.Axes, labels: Sequence[tuple[str, float, float, str]], fontsize: float = 7,
                 marker_px: float = 8.0) -> list:
    """Annotate points ``(text, x, y, colour)`` (data coordinates) so that no label covers another label or a
    point, where the axes leave room: each label takes the first of :data:`LABEL_OFFSETS` that overlaps nothing
    placed so far and stays inside the axes, else the one that overlaps least; a label :data:`LEADER_FROM_PT`
    points or more from its point is joined to it by a thin line. Call after the layout is final
    (``tight_layout``). Returns the annotations, in the order of ``labels``."""
    renderer = ax.figure.canvas.get_renderer()
    inside = ax.get_window_extent(renderer)
    half = marker_px / 2
    taken = []
    for _, x, y, _ in labels:
        px, py = ax.transData.transform((x, y))
        taken.append(Bbox.from_extents(px - half, py - half, px + half, py + half))
    placed = []
    for text, x, y, colour in labels:
        best = None
        for dx, dy in LABEL_OFFSETS:
            ha = "left" if dx > 0 else "right" if dx < 0 else "center"
            note = ax.annotate(text, (x, y), textcoords="offset points", xytext=(dx, dy), fontsize=fontsize,
                               color=colour, ha=ha)
            box = note.get_window_extent(renderer)
            cost = sum(_overlap(box, other) for other in taken)
            cost += box.width * box.height - _overlap(box, inside)  # the part outside the axes
            if best is None or cost < best[0]:
                if best is not None:
                    best[1].remove()
                best = (cost, note, box, (dx, dy))
            else:
                note.remove()
            if cost == 0:
                break
        _, note, box, (dx, dy) = best
        if np.hypot(dx, dy) >= LEADER_FROM_PT:  # the same label again, now with its leader line
            note.remove()
            note = ax.annotate(text, (x, y), textcoords="offset points", xytext=(dx, dy), fontsize=fontsize,
                               color=colour, ha=note.get_ha(),
                               arrowprops={"arrowstyle": "-", "color": colour, "lw": 0.5, "alpha": 0.6,
                                           "shrinkA": 1, "shrinkB": half})
        taken.append(box)
        placed.append(note)
    return placed


def show_reference_models(scale: int, lr: torch.Tensor, hr: torch.Tensor, bicubic: torch.Tensor,
                          image_names: list[str], out: Path, device: torch.device | str = "cpu",
                          seed: int = 0) -> dict[str, dict[str, list[float]]]:
    """Notebooks 02-03's section on the reference models (:func:`helpers.evaluation.reference_outputs` from
    ``reference/``) on the held-out pairs ``lr`` / ``hr`` (``bicubic``: the bicubic upscale of ``lr``,
    ``(B, 3, H, W)`` in ``[0, 1]``, one image per name of ``image_names``): displays where each model comes from
    and its scores per image (with the perception measures), draws their grid beside bicubic and HR and saves it
    as ``out/grid_reference.png``. Returns :func:`helpers.evaluation.per_image_scores` of the models and the noise
    control, ``{}`` where a file is missing."""
    import pandas as pd
    from IPython.display import display

    ref = reference_outputs(scale, lr, hr, PROJECT_ROOT / "reference", device, seed)
    if ref is None:
        return {}
    outputs, models = ref
    scores = per_image_scores(outputs, hr, scale, perception_measures=True)
    display(pd.DataFrame(reference_summary(models)).T)
    display(pd.DataFrame({(name, key): values for name, row in scores.items() for key, values in row.items()
                          if key != "SSIM-Y"}, index=image_names).T.round(3))
    fig = sr_grid({"bicubic": bicubic, **{name: outputs[name] for name in models}}, hr, scale,
                  title=f"{scale}x, reference models on the held-out crops")
    save_figure(fig, out, "grid_reference")
    plt.show()
    return scores
