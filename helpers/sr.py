"""Training and evaluating an upscaler, introduced in notebook 02 and reused by 03, 04 and the ``upscale`` command.

Images are ``(B, 3, H, W)`` RGB in ``[0, 1]``; a model maps LR ``(B, 3, h, w)`` to SR ``(B, 3, s*h, s*w)``.

* :class:`SRLoss`: ``pixel * (MSE or L1) + perceptual * VGG loss + tv * TV``, each term logged.
* :func:`train_upscaler`: ``steps`` Adam (or any optimiser) steps on random crops, bf16 autocast and
  ``channels_last``, a NaN guard, and a held-out evaluation every ``eval_every`` steps into a ``History``
  whose rows carry the cumulative training time (wall ``train_s`` and process ``cpu_s``).
* :func:`evaluate`: the series' metrics row (PSNR-Y / SSIM-Y with border = scale, VGG-dist, LPIPS or
  "unavailable offline") plus the SR images.
* :func:`save_upscalers` / :func:`load_upscaler`: the self-describing checkpoints of notebooks 02 / 03 and back.

Written out in notebook 02 (``# twin:`` cells) and imported by 03: :func:`course_losses` (the two losses and
the metrics), :func:`macs_per_lr_pixel` (the cost of a forward pass), :func:`train_fixed_steps` (one Adam run of
a fixed number of steps), :func:`train_for_cpu_budget` (train until a CPU-time budget is spent), the report
makers :func:`bicubic_baseline`, :func:`plot_curves_with_baseline`, :func:`plot_psnr_per_cpu_second`,
:func:`results_table`, :func:`best_over_baseline`, :func:`sr_grid`, :func:`base_psnr_ladder`, and the slider
callback :class:`FineTunePlayground`.
"""
from __future__ import annotations

import copy
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import metrics
from .degrade import upsample
from .features import VGGFeatures
from .losses import VGGPerceptualLoss, tv_loss
from .plots import plot_curves, show_grid
from .train import History, TrainingDiverged, autocast, check_finite, progress, to_channels_last
from .widgets import LossWeightPanel, Slider

PIXEL_KINDS = ("mse", "l1")


class SRLoss(nn.Module):
    """Weighted sum ``pixel * d(sr, hr) + perceptual * P(sr, hr) + tv * TV(sr)``; ``d`` is MSE or L1.

    ``perceptual_loss`` is a callable such as :class:`helpers.losses.VGGPerceptualLoss`; it is needed only
    when ``perceptual > 0``. Pixel and TV terms are computed in fp32. After each call ``terms`` holds the
    unweighted value of every active term (floats, for logging).
    """

    def __init__(self, pixel: float = 1.0, perceptual: float = 0.0, tv: float = 0.0, pixel_kind: str = "mse",
                 perceptual_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None):
        super().__init__()
        if pixel_kind not in PIXEL_KINDS:
            raise ValueError(f"Unknown pixel loss {pixel_kind!r}: use 'mse' or 'l1'.")
        if min(pixel, perceptual, tv) < 0:
            raise ValueError(f"Loss weights must be >= 0, got pixel={pixel}, perceptual={perceptual}, tv={tv}.")
        if pixel == perceptual == tv == 0:
            raise ValueError("All loss weights are 0: give at least one term a positive weight.")
        if perceptual > 0 and perceptual_loss is None:
            raise ValueError("perceptual > 0 needs perceptual_loss=VGGPerceptualLoss(...).")
        self.pixel, self.perceptual, self.tv, self.pixel_kind = pixel, perceptual, tv, pixel_kind
        self.perceptual_loss = perceptual_loss
        self.terms: dict[str, float] = {}

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        total = sr.new_zeros((), dtype=torch.float32)
        terms = {}
        if self.pixel:
            d = (F.mse_loss if self.pixel_kind == "mse" else F.l1_loss)(sr.float(), hr.float())
            total, terms[self.pixel_kind] = total + self.pixel * d, d
        if self.perceptual:
            p = self.perceptual_loss(sr, hr).float()
            total, terms["perceptual"] = total + self.perceptual * p, p
        if self.tv:
            t = tv_loss(sr.float())
            total, terms["tv"] = total + self.tv * t, t
        self.terms = {k: float(v.detach()) for k, v in terms.items()}
        return total


@torch.no_grad()
def super_resolve(model: nn.Module, lr: torch.Tensor, batch_size: int = 4, use_amp: bool = True) -> torch.Tensor:
    """Run ``model`` in eval mode on ``lr`` in chunks; returns fp32 SR images clamped to ``[0, 1]`` on ``lr``'s device.

    The model's train/eval mode is restored afterwards (BatchNorm uses its running statistics here).
    """
    if lr.ndim != 4 or lr.shape[1] != 3:
        raise ValueError(f"Expected LR images (B, 3, h, w), got {tuple(lr.shape)}.")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        out = []
        for chunk in lr.split(batch_size):
            with autocast(device, use_amp):
                out.append(model(to_channels_last(chunk.to(device))).float().clamp(0, 1).to(lr.device))
    finally:
        model.train(was_training)
    return torch.cat(out).contiguous()


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


def train_upscaler(model: nn.Module, loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                   crops: Iterator[tuple[torch.Tensor, torch.Tensor]], steps: int,
                   optimizer: torch.optim.Optimizer, *, val: tuple[torch.Tensor, torch.Tensor] | None = None,
                   scale: int | None = None, eval_every: int = 0, history: History | None = None,
                   distance: metrics.VGGDistance | None = None, lpips_metric: metrics.LPIPSMetric | None = None,
                   use_amp: bool = True, desc: str = "train") -> History:
    """Train ``model`` for ``steps`` steps of ``loss_fn(sr, hr)`` on batches from ``crops``; return the history.

    Every step logs ``loss`` (and ``loss_fn.terms`` if it has them). With ``val=(lr, hr)`` and ``eval_every > 0``
    the held-out metrics (:func:`evaluate`) are logged before the first step of a fresh history, every
    ``eval_every`` steps and after the last one, together with the cumulative training time ``train_s`` (wall)
    and ``cpu_s`` (process CPU time, all threads), which exclude the evaluations. Passing the ``history`` of an
    earlier call continues its step count and clocks (fine-tuning). A NaN/inf loss raises
    :class:`helpers.train.TrainingDiverged`.
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}.")
    if eval_every and (val is None or scale is None):
        raise ValueError("eval_every > 0 needs val=(lr, hr) and scale.")
    history = history if history is not None else History()
    device = next(model.parameters()).device
    start = int(history.last("step")) if history.records else 0
    train_s = history.last("train_s") if history.series("train_s")[1] else 0.0
    cpu_s = history.last("cpu_s") if history.series("cpu_s")[1] else 0.0

    def log_eval(step: int) -> None:
        row, _ = evaluate(model, val[0], val[1], scale, distance, lpips_metric, use_amp)
        history.log(step, train_s=train_s, cpu_s=cpu_s, **{k: v for k, v in row.items() if isinstance(v, float)})

    if eval_every and not history.records:
        log_eval(start)
    model.train()
    to_channels_last(model)
    bar = progress(range(start + 1, start + steps + 1), desc=desc, leave=False,
                   disable=bool(os.environ.get("SRGAN_NO_BARS")))
    for step in bar:
        t0, c0 = time.perf_counter(), time.process_time()
        lr, hr = next(crops)
        lr, hr = to_channels_last(lr.to(device), hr.to(device))
        with autocast(device, use_amp):
            sr = model(lr)
            loss = loss_fn(sr, hr)
        check_finite(step, loss=loss)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        train_s += time.perf_counter() - t0
        cpu_s += time.process_time() - c0
        history.log(step, loss=loss, **getattr(loss_fn, "terms", {}))
        if eval_every and (step % eval_every == 0 or step == start + steps):
            log_eval(step)
    return history


def load_upscaler(path: str | os.PathLike, device: torch.device | str = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild a generator saved by notebook 02 / 03 with ``Checkpoint.save(step, {"model": model})``.

    The checkpoint's meta must hold ``architecture`` (a class name of :mod:`helpers.models.upscalers`) and
    ``kwargs`` (its constructor arguments). Returns ``(model in eval mode, meta)``.
    """
    from .models.upscalers import build_upscaler

    saved = torch.load(path, map_location="cpu", weights_only=False)
    meta = saved.get("meta", {})
    if "architecture" not in meta or "model" not in saved.get("state", {}):
        raise ValueError(f"{path} is not an upscaler checkpoint of this series (no architecture / model state): "
                         "make it with notebook 02 or 03.")
    model = build_upscaler(meta["architecture"], **meta.get("kwargs", {}))
    model.load_state_dict(saved["state"]["model"])
    return model.to(device).eval(), meta


#: The generators notebooks 02 and 03 save: file key -> (model name in the notebook, architecture, loss weights).
SAVED_UPSCALERS = {
    "perceptual": ("course perceptual", "course", {"pixel": 0.0, "perceptual": 1.0, "tv": 0.0}),
    "mse": ("course MSE", "course", {"pixel": 1.0, "perceptual": 0.0, "tv": 0.0}),
    "pixelshuffle_mse": ("PixelShuffle MSE", "PixelShuffleUpscaler", {"pixel": 1.0, "perceptual": 0.0, "tv": 0.0}),
}


def save_upscalers(out: str | os.PathLike, scale: int, models: Mapping[str, nn.Module],
                   histories: Mapping[str, History], results: Mapping[str, Mapping], vgg_source: str,
                   **settings) -> dict[str, str]:
    """Save the generators of :data:`SAVED_UPSCALERS` as ``<out>/upscale<scale>x_<key>.pt``; return key -> file name.

    Self-describing checkpoints (:class:`helpers.train.Checkpoint`, atomic; a file from other settings is moved
    to a backup name, never overwritten): the meta holds ``architecture`` ("course" = ``Upscale2x`` /
    ``Upscale4x``), ``kwargs``, ``scale``, ``steps``, ``loss_weights``, the VGG source and ``settings``
    (profile, crop, batch size, seed), so :func:`load_upscaler` and ``python -m helpers.upscale`` rebuild them.
    """
    from .models.upscalers import build_upscaler
    from .train import Checkpoint

    saved = {}
    for key, (name, arch, weights) in SAVED_UPSCALERS.items():
        architecture, kwargs = (f"Upscale{scale}x", {}) if arch == "course" else (arch, {"scale": scale})
        shapes = {k: v.shape for k, v in build_upscaler(architecture, **kwargs).state_dict().items()}
        if shapes != {k: v.shape for k, v in models[name].state_dict().items()}:
            raise ValueError(f"{name} is not a {architecture}({kwargs}): its checkpoint would not load again; "
                             "save it with helpers.train.Checkpoint and its own meta.")
        meta = {"architecture": architecture, "kwargs": kwargs, "scale": scale,
                "steps": int(histories[name].last("step")), **settings, "loss_weights": weights,
                "vgg_source": vgg_source if weights["perceptual"] else "not used"}
        ckpt = Checkpoint(Path(out) / f"upscale{scale}x_{key}.pt", meta, on_mismatch="backup")
        ckpt.load()  # moves a file made with other settings aside instead of overwriting it silently
        saved[key] = ckpt.save(meta["steps"], {"model": models[name]}, histories[name], metrics=results[name]).name
    return saved


def course_losses(device: torch.device | str = "cpu") -> tuple[dict[str, SRLoss], VGGPerceptualLoss,
                                                               metrics.VGGDistance, metrics.LPIPSMetric]:
    """The losses and held-out metrics of notebooks 02 and 03: ``({"MSE": ..., "perceptual": ...}, perceptual,
    distance, lpips_metric)``.

    "MSE" is ``SRLoss(pixel=1)``; "perceptual" is ``SRLoss(perceptual=1)`` with the course's loss of notebook 01
    (VGG16 relu3_3, L1, frozen; ``perceptual.vgg.source`` names the weights in use); ``distance`` is the VGG
    distance on :data:`helpers.metrics.DIST_LAYERS` and ``lpips_metric`` LPIPS where its weights are available.
    Prints which VGG16 weights and whether LPIPS are in use.
    """
    perc_vgg = to_channels_last(VGGFeatures(("relu3_3",)).to(device))
    perceptual = VGGPerceptualLoss(vgg=perc_vgg)
    distance = metrics.VGGDistance(VGGFeatures(metrics.DIST_LAYERS).to(device))
    lpips_metric = metrics.LPIPSMetric()
    print("VGG16 weights in use:", perc_vgg.source)
    print("LPIPS:", "available" if lpips_metric.available else lpips_metric.reason)
    if not lpips_metric.available:
        print("-> the perceptual-vs-MSE comparison on LPIPS needs the pretrained weights (online / Colab); "
              f"here we report {distance.name}, the LPIPS paper's uncalibrated VGG distance on our backbone.")
    losses = {"MSE": SRLoss(pixel=1.0), "perceptual": SRLoss(pixel=0.0, perceptual=1.0, perceptual_loss=perceptual)}
    return losses, perceptual, distance, lpips_metric


def macs_per_lr_pixel(model: nn.Module, lr_side: int = 16) -> int:
    """Multiply-accumulates of one forward pass per LR input pixel: the sum of ``C_in*C_out*k*k`` over the
    convolutions, each times the number of pixels it runs at per LR pixel (``scale**2`` for those at HR size).

    Measured with forward hooks on a zero image ``(1, 3, lr_side, lr_side)``; leaves the model in eval mode.
    """
    total, hooks = 0, []

    def hook(module, inp, outp):
        nonlocal total
        total += module.in_channels * module.out_channels * module.kernel_size[0] * module.kernel_size[1] \
            * outp.shape[-1] * outp.shape[-2] // lr_side**2
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(hook))
    with torch.no_grad():
        model.eval()(torch.zeros(1, 3, lr_side, lr_side, device=next(model.parameters()).device))
    for h in hooks:
        h.remove()
    return total


def train_fixed_steps(model: nn.Module, loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                      crops: Iterator[tuple[torch.Tensor, torch.Tensor]], steps: int, *, seed: int = 0,
                      lr: float = 1e-3, device: torch.device | str = "cpu",
                      **train_kwargs) -> tuple[nn.Module, History, torch.optim.Optimizer]:
    """One training run: seed torch, move ``model`` to ``device``, Adam(``lr``), ``steps`` steps of
    :func:`train_upscaler` on ``crops`` (pass ``val``, ``scale``, ``eval_every``, ... as ``train_kwargs``).

    Returns ``(model, history, optimizer)``; give every run a fresh crop stream with the same seed so that
    runs differ only in model and loss.
    """
    torch.manual_seed(seed)
    model = model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    hist = train_upscaler(model, loss_fn, crops, steps, opt, **train_kwargs)
    return model, hist, opt


def train_for_cpu_budget(model: nn.Module, loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                         crops: Iterator[tuple[torch.Tensor, torch.Tensor]], budget_cpu_s: float, *, chunk: int,
                         max_steps: int, val: tuple[torch.Tensor, torch.Tensor], scale: int, eval_every: int,
                         lr: float = 1e-3, device: torch.device | str = "cpu",
                         **train_kwargs) -> tuple[nn.Module, History]:
    """Train ``model`` with Adam(``lr``) in chunks of ``chunk`` steps until its training CPU time ``cpu_s``
    (process time, evaluations excluded) reaches ``budget_cpu_s`` or its step count reaches ``max_steps``.

    At least one chunk is trained; the last chunk may overshoot both limits (the check runs between chunks).
    The held-out evaluation (``val``, ``scale``, every ``eval_every`` steps) logs the clock, so it is
    required. Returns ``(model, history)``: accuracy per CPU-second, not per step.
    """
    if chunk < 1 or max_steps < 1 or eval_every < 1:
        raise ValueError(f"chunk, max_steps and eval_every must be >= 1, got {chunk}, {max_steps}, {eval_every}.")
    model = model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    hist = None
    while hist is None or (hist.last("cpu_s") < budget_cpu_s and hist.last("step") < max_steps):
        hist = train_upscaler(model, loss_fn, crops, chunk, opt, val=val, scale=scale, eval_every=eval_every,
                              history=hist, **train_kwargs)
    return model, hist


def bicubic_baseline(lr: torch.Tensor, hr: torch.Tensor, scale: int, distance: metrics.VGGDistance | None = None,
                     lpips_metric: metrics.LPIPSMetric | None = None) -> tuple[dict[str, float | str], torch.Tensor]:
    """The classical baseline: bicubic upsampling of ``lr`` ``(B, 3, h, w)`` in ``[0, 1]``, scored against ``hr``
    ``(B, 3, scale*h, scale*w)`` like :func:`evaluate` scores a model. Returns ``(metrics row, images)``."""
    bicubic = upsample(lr, scale)
    row = metrics.sr_metrics(bicubic, hr, scale, distance, lpips_metric)
    row["MSE"] = float(metrics.mse(bicubic, hr).mean())
    return row, bicubic


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


def plot_psnr_per_cpu_second(histories: Mapping[str, History], baseline_psnr: float, title: str,
                             label: str = "bicubic") -> plt.Figure:
    """Held-out PSNR-Y (dB) against cumulative training CPU-seconds (``cpu_s``), one line per history, and
    the baseline as a dashed grey line."""
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    for name, hist in histories.items():
        ax.plot(hist.series("cpu_s")[1], hist.series("PSNR-Y")[1], marker=".", label=name)
    ax.axhline(baseline_psnr, color="gray", linestyle="--", linewidth=1, label=label)
    ax.set_xlabel("training CPU-seconds")
    ax.set_ylabel("held-out PSNR-Y (dB)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


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


def best_over_baseline(results: Mapping[str, Mapping[str, float | str]], names: Sequence[str],
                       key: str = "PSNR-Y", baseline: str = "bicubic") -> tuple[str, float]:
    """The entry of ``names`` with the highest ``results[name][key]`` and its margin over ``results[baseline]``."""
    if not names:
        raise ValueError("names is empty: say which results to compare.")
    best = max(names, key=lambda n: results[n][key])
    return best, results[best][key] - results[baseline][key]


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


def sr_grid(columns: Mapping[str, torch.Tensor], hr: torch.Tensor, scale: int, title: str,
            zoom: tuple[float, float, float] = (0.4, 0.4, 0.22), panel_size: float = 2.3) -> plt.Figure:
    """:func:`helpers.plots.show_grid` of the SR images in ``columns`` (each ``(B, 3, H, W)`` in ``[0, 1]``) and
    ``hr`` as the last column "HR", with each image's PSNR-Y (border ``scale``) under it."""
    cols = {**columns, "HR": hr}
    captions = {name: [f"{v:.2f} dB" for v in metrics.psnr(img, hr, scale, y_channel=True)]
                for name, img in columns.items()}
    return show_grid(cols, captions, zoom=zoom, panel_size=panel_size, title=title)


class FineTunePlayground:
    """The callback of a :class:`helpers.LossWeightPanel`: keep training a *copy* of ``model`` (its own Adam,
    the given crop stream, a copy of ``history`` so the step count goes on) with the slider weights
    ``{"pixel", "perceptual", "TV"}``, then print the held-out metrics and show bicubic | current | HR
    for the first ``n_show`` images; returns the metrics row. Weights it cannot train with (all 0, a
    perceptual weight without ``perceptual_loss``, a NaN) are reported in a printed line and return ``None``,
    so the panel stays usable. Set ``use_l1 = True`` for an L1 instead of an MSE pixel term."""

    def __init__(self, model: nn.Module, history: History, crops: Iterator[tuple[torch.Tensor, torch.Tensor]],
                 val: tuple[torch.Tensor, torch.Tensor], scale: int, perceptual_loss: Callable | None,
                 distance: metrics.VGGDistance | None = None, lpips_metric: metrics.LPIPSMetric | None = None,
                 lr: float = 1e-3, n_show: int = 2):
        self.model = copy.deepcopy(model)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=lr)
        self.crops, self.history = crops, copy.deepcopy(history)
        self.val, self.scale, self.perceptual_loss = val, scale, perceptual_loss
        self.distance, self.lpips_metric, self.n_show = distance, lpips_metric, n_show
        self.bicubic = upsample(val[0], scale)
        self.use_l1 = False

    def __call__(self, weights: Mapping[str, float], n_steps: int) -> dict[str, float | str] | None:
        try:
            loss = SRLoss(pixel=weights["pixel"], perceptual=weights["perceptual"], tv=weights["TV"],
                          pixel_kind="l1" if self.use_l1 else "mse", perceptual_loss=self.perceptual_loss)
            self.history = train_upscaler(self.model, loss, self.crops, n_steps, self.optimizer,
                                          history=self.history, desc="fine-tune")
        except (ValueError, TrainingDiverged) as err:  # e.g. all weights 0: say so instead of crashing the panel
            print("cannot train with these weights:", err)
            return None
        row, img = evaluate(self.model, self.val[0], self.val[1], self.scale, self.distance, self.lpips_metric)
        shown = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}
        print(f"after {int(self.history.last('step'))} steps in total ({n_steps} now, weights {dict(weights)}):", shown)
        k = self.n_show
        show_grid({"bicubic": self.bicubic[:k], "current model": img[:k], "HR": self.val[1][:k]},
                  zoom=(0.4, 0.4, 0.22), panel_size=2.2)
        plt.show()
        return row

    def panel(self, steps: int, max_steps: int = 500) -> LossWeightPanel:
        """Sliders for the three weights (pixel 0.05, perceptual 1.0, TV 0.0 to start) calling this playground."""
        return LossWeightPanel({"pixel": Slider(0.05, 0.0, 1.0, 0.01), "perceptual": Slider(1.0, 0.0, 2.0, 0.05),
                                "TV": Slider(0.0, 0.0, 0.2, 0.005)}, self, steps=steps, max_steps=max_steps)
