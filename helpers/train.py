"""Training pieces: fast execution settings, a divergence guard, metric history and safe checkpoints.

Speed on a CPU (measured in notebook 01 and ``make bench``): bf16 autocast plus ``channels_last`` make the
series' convolutions several times faster than fp32 with the default memory format. On CUDA the same
context uses fp16/bf16 AMP; elsewhere it is a no-op.
"""
from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
import torch.nn as nn
from tqdm.auto import tqdm

from . import metrics
from .config import autocast, to_channels_last
from .evaluation import evaluate
from .results import History


def set_requires_grad(nets: nn.Module | Iterable[nn.Module], flag: bool) -> None:
    """Switch gradients of one or several networks on or off (freeze D while G steps, as in pix2pix)."""
    for net in [nets] if isinstance(nets, nn.Module) else nets:
        for p in net.parameters():
            p.requires_grad_(flag)


BATCH_ENV = "SRGAN_BATCH"  # set by ``make run`` / ``make test``: no live bars, one summary line per loop


class _SummaryBar(tqdm):
    """A disabled tqdm (its methods are no-ops) that prints one line when its loop ends: what a static viewer
    of an executed notebook can show instead of a bar frozen at "0%"."""

    def __init__(self, iterable: Iterable, desc: str | None = None, **kwargs: Any):
        super().__init__(iterable, desc=desc, disable=True, **kwargs)
        self._items, self._label, self._t0 = iterable, desc or "loop", time.perf_counter()

    def __iter__(self):
        count = 0
        for count, item in enumerate(self._items, 1):  # noqa: B007
            yield item
        print(f"{self._label}: {count} iterations in {time.perf_counter() - self._t0:.1f} s")


def progress(iterable: Iterable | int, **kwargs: Any) -> tqdm:
    """A tqdm.auto bar (a widget in Jupyter); ``progress(100)`` iterates ``range(100)``. Under ``$SRGAN_BATCH``
    (papermill, nbval) one summary line instead; under ``$SRGAN_NO_BARS`` (benchmarks) nothing."""
    if isinstance(iterable, int):
        iterable = range(iterable)
    if os.environ.get("SRGAN_NO_BARS"):
        return tqdm(iterable, disable=True, **kwargs)
    if os.environ.get(BATCH_ENV):
        return _SummaryBar(iterable, **{k: v for k, v in kwargs.items() if k in ("desc", "total", "unit")})
    return tqdm(iterable, mininterval=1.0, **kwargs)


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


def timed(fn, *args: Any, repeat: int = 3, **kwargs: Any) -> tuple[float, Any]:
    """Best wall time of ``repeat`` calls (after one warm-up) in seconds, and the last result."""
    result = fn(*args, **kwargs)
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - start)
    return best, result


# --------------------------------------------------------------------------- training an upscaler
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
    bar = progress(range(start + 1, start + steps + 1), desc=desc, leave=False)
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
