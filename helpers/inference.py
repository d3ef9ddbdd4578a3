"""Inference and checkpoints: save and load the series' models, super-resolve, tile large images.

Imports neither matplotlib nor ipywidgets, so ``python -m helpers.upscale`` stays light.

* :class:`Checkpoint`: one training run's file (meta, step, module states, history), written atomically and
  read with ``torch.load(weights_only=True)`` only: a foreign pickle is refused, never executed.
* :func:`save_upscaler` / :func:`load_upscaler`: self-describing upscaler checkpoints (``architecture``,
  ``kwargs``, ``scale``, ``steps``, loss weights, settings in the meta) and back, as a :class:`LoadedModel`.
* :func:`super_resolve`: eval-mode inference in chunks; :func:`upscale_tiled`: overlapping tiles that equal a
  whole-image pass.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from .config import autocast, to_channels_last
from .losses import CONTENT_PIXEL_WEIGHT
from .models.registry import build_upscaler
from .results import History


# --------------------------------------------------------------------------- checkpoints
class CheckpointError(ValueError):
    """A file that is not a loadable checkpoint of this series; the message says how to make one."""


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
            saved = torch.load(self.path, map_location="cpu", weights_only=True)
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


@dataclass
class LoadedModel:
    name: str  # the checkpoint's file stem, used in output names
    model: nn.Module
    meta: dict
    scale: int
    radius: int  # LR pixels of context each output pixel needs (see receptive_radius)


# --------------------------------------------------------------------------- models
def receptive_radius(model: nn.Module, probe: int = 16) -> int:
    """LR pixels on each side that one output pixel can depend on (an upper bound), found by tracing.

    One forward pass on a ``probe x probe`` input records the width each ``Conv2d`` runs at; a convolution
    with kernel ``k`` at ``f`` times the LR size reads ``dilation * (k // 2) / f`` LR pixels further. The sum over
    all convolutions bounds the chain, plus 2 LR pixels for the bicubic / bilinear skip.
    """
    widths: list[tuple[nn.Conv2d, int]] = []
    hooks = [m.register_forward_hook(lambda m, args, out: widths.append((m, args[0].shape[-1])))
             for m in model.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            super_resolve(model, torch.zeros(1, 3, probe, probe, device=next(model.parameters()).device),
                          use_amp=False)
    finally:
        for h in hooks:
            h.remove()
    reach = sum(m.dilation[-1] * (m.kernel_size[-1] // 2) * probe / w for m, w in widths)
    return math.ceil(reach - 1e-9) + 2


def load_upscaler(path: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Rebuild a generator saved by notebook 02, 03 or 04 (``Checkpoint.save(step, {"model": model})``).

    Reads with ``torch.load(weights_only=True)``, so a foreign pickle is refused rather than executed. The
    true scale is measured with a probe forward pass and must agree with ``meta["scale"]`` when present.
    Raises :class:`CheckpointError` with what to do for a missing, foreign or inconsistent file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"No checkpoint at {path}: give the path of a .pt file saved by notebook 02, 03 or 04.")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(
            f"{path} cannot be read as a checkpoint of this series ({type(err).__name__}: {str(err)[:80]}). Only "
            "plain tensors and settings are loaded (weights_only=True), never code: a file from another program, "
            "or one saved by an older version of these notebooks with other objects in it, is refused. Re-make it "
            "with its notebook (make run ONLY=NN) or give a .pt file saved by notebook 02, 03, 04 or 08.") from err
    meta = saved.get("meta") if isinstance(saved, dict) else None
    state = saved.get("state", {}) if isinstance(saved, dict) else {}
    if not isinstance(meta, dict) or "architecture" not in meta or "model" not in state:
        raise CheckpointError(f"{path} is not an upscaler checkpoint of this series (no meta architecture / model "
                              "state): make one with notebook 02, 03 or 04.")
    try:
        model = build_upscaler(meta["architecture"], **meta.get("kwargs", {}))
        model.load_state_dict(state["model"])
    except (ValueError, TypeError, RuntimeError) as err:
        raise CheckpointError(f"{path}: cannot rebuild {meta['architecture']} from it ({err}). The file does not "
                              "fit this version of helpers.models: retrain with the current notebook.") from err
    model = model.to(device).eval()
    with torch.no_grad():
        probe = super_resolve(model, torch.zeros(1, 3, 8, 8, device=device), use_amp=False)
    scale = probe.shape[-1] // 8
    if probe.shape[-2:] != (8 * scale, 8 * scale) or scale < 2:
        raise CheckpointError(f"{path}: the model maps 8x8 to {tuple(probe.shape[-2:])}, not an integer upscale.")
    if "scale" in meta and int(meta["scale"]) != scale:
        raise CheckpointError(f"{path}: the meta says scale {meta['scale']} but the model upscales {scale}x; "
                              "the checkpoint is inconsistent: re-save it with its notebook.")
    return LoadedModel(path.stem, model, meta, scale, receptive_radius(model))


# --------------------------------------------------------------------------- tiled inference
class GlobalGridUpsample(nn.Module):
    """Bilinear ``align_corners=True`` upsampling of a patch *on the whole image's grid*.

    ``nn.Upsample(scale_factor=s, mode="bilinear", align_corners=True)`` reads HR row ``Y`` from LR row
    ``Y * (h - 1) / (s*h - 1)`` of the whole ``h``-row image, so its output on a tile is not a crop of its
    output on the image. This module maps a patch whose top-left LR pixel is ``origin`` in an image of LR size
    ``full`` to ``(B, C, s * patch_h, s * patch_w)``, with the coordinates computed as PyTorch's CPU kernel does
    (float32 ``scale * index``). Outermost HR rows that need LR pixels outside the patch are clamped: they lie
    in the halo that :func:`upscale_tiled` discards.
    """

    def __init__(self, scale: int, full: tuple[int, int], origin: tuple[int, int]):
        super().__init__()
        self.scale, self.full, self.origin = scale, full, origin

    def _axis(self, x: torch.Tensor, dim: int, n_full: int, start: int) -> torch.Tensor:
        n = x.shape[dim]
        ratio = torch.tensor((n_full - 1) / (self.scale * n_full - 1), dtype=torch.float32) if n_full > 1 else 0
        src = torch.arange(self.scale * start, self.scale * (start + n), dtype=torch.float32) * ratio
        lo = src.floor().long()
        hi = lo + (lo < n_full - 1).long()
        lam = (src - lo).clamp(0, 1).to(x.dtype)
        lo, hi = (lo - start).clamp(0, n - 1).to(x.device), (hi - start).clamp(0, n - 1).to(x.device)
        shape = [1] * x.ndim
        shape[dim] = -1
        lam = lam.to(x.device).view(shape)
        return x.index_select(dim, lo) * (1 - lam) + x.index_select(dim, hi) * lam

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._axis(x, x.ndim - 2, self.full[0], self.origin[0])
        return self._axis(x, x.ndim - 1, self.full[1], self.origin[1])


def _swap_upsamplers(model: nn.Module, make) -> list[tuple[nn.Module, str, nn.Module]]:
    """Replace every bilinear ``align_corners=True`` ``nn.Upsample`` by ``make(module)``; return what to restore."""
    swapped = []
    for parent in model.modules():
        for name, child in parent.named_children():
            if isinstance(child, nn.Upsample) and child.mode == "bilinear" and child.align_corners:
                swapped.append((parent, name, child))
                setattr(parent, name, make(child))
    return swapped


def upscale_tiled(lm: LoadedModel, lr: torch.Tensor, tile: int = 128, use_amp: bool = True) -> torch.Tensor:
    """Upscale one ``(3, h, w)`` LR image in ``[0, 1]`` to ``(3, s*h, s*w)`` (fp32, clamped), tile by tile.

    The LR image is cut into ``tile x tile`` cores; each is run with ``lm.radius`` extra LR pixels of context on
    every side that is not an image border, and only the core's output is kept. Memory is bounded by the tile,
    not the image (plus the output). Bilinear ``align_corners=True`` upsamplers sample the whole image's grid
    (:class:`GlobalGridUpsample`), so the result matches a whole-image pass for every model of the series.
    """
    if tile < 1:
        raise ValueError(f"tile must be >= 1 LR pixel, got {tile}.")
    s, r = lm.scale, lm.radius
    h, w = lr.shape[-2:]
    out = torch.empty(3, s * h, s * w)
    grids: list[GlobalGridUpsample] = []

    def make(up: nn.Upsample) -> GlobalGridUpsample:
        grids.append(GlobalGridUpsample(int(up.scale_factor), (h, w), (0, 0)))
        return grids[-1]

    swapped = _swap_upsamplers(lm.model, make)
    try:
        for y0 in range(0, h, tile):
            y1 = min(y0 + tile, h)
            for x0 in range(0, w, tile):
                x1 = min(x0 + tile, w)
                py0, px0 = max(y0 - r, 0), max(x0 - r, 0)
                for g in grids:
                    g.origin = (py0, px0)
                patch = lr[None, :, py0:min(y1 + r, h), px0:min(x1 + r, w)]
                sr = super_resolve(lm.model, patch, use_amp=use_amp)[0]
                oy, ox = s * (y0 - py0), s * (x0 - px0)
                out[:, s * y0:s * y1, s * x0:s * x1] = sr[:, oy:oy + s * (y1 - y0), ox:ox + s * (x1 - x0)].cpu()
    finally:
        for parent, name, child in swapped:
            setattr(parent, name, child)
    return out


#: The generators notebooks 02 and 03 save: file key -> (model name in the notebook, architecture, loss weights).
SAVED_UPSCALERS = {
    "perceptual": ("course perceptual", "course", {"pixel": 0.0, "perceptual": 1.0, "tv": 0.0}),
    "mse": ("course MSE", "course", {"pixel": 1.0, "perceptual": 0.0, "tv": 0.0}),
    "pixelshuffle_mse": ("PixelShuffle MSE", "PixelShuffleUpscaler", {"pixel": 1.0, "perceptual": 0.0, "tv": 0.0}),
    "pixelshuffle_perceptual": ("PixelShuffle perceptual", "PixelShuffleUpscaler",
                                {"pixel": CONTENT_PIXEL_WEIGHT, "perceptual": 1.0, "tv": 0.0}),
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
