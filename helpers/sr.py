"""Training and evaluating an upscaler, introduced in notebook 02 and reused by 03, 04 and the ``upscale`` command.

Images are ``(B, 3, H, W)`` RGB in ``[0, 1]``; a model maps LR ``(B, 3, h, w)`` to SR ``(B, 3, s*h, s*w)``.

* :class:`SRLoss`: ``pixel * (MSE or L1) + perceptual * VGG loss + tv * TV``, each term logged.
* :func:`train_upscaler`: ``steps`` Adam (or any optimiser) steps on random crops, bf16 autocast and
  ``channels_last``, a NaN guard, and a held-out evaluation every ``eval_every`` steps into a ``History``
  whose rows carry the cumulative training time (wall ``train_s`` and process ``cpu_s``).
* :func:`evaluate`: the series' metrics row (PSNR-Y / SSIM-Y with border = scale, VGG-dist, LPIPS or
  "unavailable offline") plus the SR images.
* :func:`load_upscaler`: rebuild a model saved with :class:`helpers.train.Checkpoint` by notebook 02 / 03.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import metrics
from .losses import tv_loss
from .train import History, autocast, check_finite, progress, to_channels_last

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
