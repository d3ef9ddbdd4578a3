"""Trained GANs you can use (issue 18): self-describing generator checkpoints and a sampling command.

Notebooks 05 (fully connected GAN, DCGAN) and 10 (progressive GAN, one file per stage) save their trained
unconditional generators with :func:`save_generator`; :func:`load_generator` rebuilds one without the notebook,
and the command draws from it::

    python -m helpers.sample --model runs/latest/05_gan_dcgan/gan05_dcgan.pt --n 64 --out grid.png --seed 0

writes ``grid.png`` (the samples tiled, 8-bit greyscale or RGB, ``--zoom`` pixels per sample pixel) and
``grid.npy`` (the raw samples ``(n, C, H, W)`` float32 in ``[0, 1]``). The same ``--seed`` gives the same codes
``z ~ N(0, I)`` and so the same samples. A missing, foreign (another program's pickle, an upscaler) or corrupt
file stops with a message that says what to do, as ``python -m helpers.upscale`` does; the exit status is 1
for a bad checkpoint, 2 for bad usage.

The checkpoint is a :class:`helpers.inference.Checkpoint` file (written atomically: a temporary file, then a
rename; read with ``torch.load(weights_only=True)``, so a foreign pickle is refused, never executed) whose meta
holds ``kind`` ("unconditional generator"), ``architecture`` (a class name of
:data:`helpers.models.registry.GENERATORS`), ``kwargs`` (its constructor arguments), ``image_size``,
``channels``, ``latent_size``, ``data_range`` (``"[-1, 1]"`` for every generator of the series), ``steps``,
``notebook`` and, for a progressive generator, ``stage`` (``expand``: the image is ``4 * 2**stage`` pixels).

Imports neither matplotlib nor ipywidgets (the grid is written with PIL).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from PIL import Image

from .inference import Checkpoint, CheckpointError
from .models.registry import GENERATORS, STAGED_GENERATORS, build_generator

KIND = "unconditional generator"
#: The output ranges a generator may declare, and how each maps to ``[0, 1]``.
DATA_RANGES = {"[-1, 1]": (-1.0, 1.0), "[0, 1]": (0.0, 1.0)}
REQUIRED = ("architecture", "kwargs", "image_size", "latent_size", "data_range", "steps", "notebook")
MAKE_ONE = "make one with notebook 05 or 10 (make run ONLY=05), which save their generators in the run folder"


def generate(model: nn.Module, meta: Mapping[str, Any], z: torch.Tensor) -> torch.Tensor:
    """Images of a loaded generator for codes ``z`` ``(n, latent_size)``, as ``(n, C, H, W)`` float32 in
    ``[0, 1]`` on the CPU: eval mode (BatchNorm's running statistics), clamped to the declared data range."""
    lo, hi = DATA_RANGES[meta["data_range"]]
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            stage = {"expand": meta["stage"]} if "stage" in meta else {}
            out = model(z.to(device), **stage).float()
    finally:
        model.train(was_training)
    return ((out.clamp(lo, hi) - lo) / (hi - lo)).cpu()


def _check(model: nn.Module, meta: Mapping[str, Any], where: str) -> None:
    """Raise :class:`CheckpointError` unless ``model`` is ``meta``'s architecture and draws images of its size."""
    missing = [k for k in REQUIRED if k not in meta]
    if missing:
        raise CheckpointError(f"{where}: the meta lacks {missing}; a generator checkpoint needs {list(REQUIRED)}.")
    arch = meta["architecture"]
    if arch not in GENERATORS:
        raise CheckpointError(f"{where}: {arch!r} is not an unconditional generator of this series (known: "
                              f"{', '.join(GENERATORS)}).")
    if type(model).__name__ != GENERATORS[arch].__name__:  # by name: a notebook's own copy of the class passes
        raise CheckpointError(f"{where}: the model is a {type(model).__name__}, the meta says {arch}.")
    if meta["data_range"] not in DATA_RANGES:
        raise CheckpointError(f"{where}: data_range {meta['data_range']!r} is not one of {list(DATA_RANGES)}.")
    if (arch in STAGED_GENERATORS) != ("stage" in meta):
        raise CheckpointError(f"{where}: a {arch} checkpoint " + ("must name its stage (meta 'stage')."
                              if arch in STAGED_GENERATORS else "has no stage; the meta names one."))
    size, latent = int(meta["image_size"]), int(meta["latent_size"])
    try:
        img = generate(model, meta, torch.zeros(2, latent))
    except (RuntimeError, ValueError) as err:
        raise CheckpointError(f"{where}: the model does not take codes of latent_size {latent} ({err}).") from err
    if img.ndim != 4 or img.shape[-2:] != (size, size):
        raise CheckpointError(f"{where}: the model draws {tuple(img.shape[1:])} images, the meta says "
                              f"{size}x{size}; the checkpoint is inconsistent: re-save it with its notebook.")


def save_generator(path: str | Path, model: nn.Module, meta: Mapping[str, Any]) -> Path:
    """Save a trained unconditional generator as a self-describing checkpoint; return its path.

    ``meta`` holds at least ``architecture`` (a key of :data:`GENERATORS`), ``kwargs`` (the constructor
    arguments that rebuild it), ``image_size``, ``latent_size``, ``data_range``, ``steps`` and ``notebook``
    (and ``stage`` for a progressive generator); ``kind`` and ``channels`` are added. The model is checked
    first (the architecture rebuilt from the meta has the same weight shapes, a probe draw has the declared
    size), so a file that would not load again is never written. Written atomically (temporary file + rename).
    """
    meta = {**meta, "kind": KIND}
    where = f"save_generator({Path(path).name})"
    _check(model, meta, where)
    try:
        rebuilt = build_generator(meta["architecture"], **meta["kwargs"])
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{where}: kwargs {meta['kwargs']} do not build a {meta['architecture']} ({err}).") \
            from err
    shapes = {k: v.shape for k, v in rebuilt.state_dict().items()}
    if shapes != {k: v.shape for k, v in model.state_dict().items()}:
        raise CheckpointError(f"{where}: the model is not a {meta['architecture']}({meta['kwargs']}): give the "
                              "constructor arguments it was built with.")
    meta["channels"] = int(generate(model, meta, torch.zeros(1, int(meta["latent_size"]))).shape[1])
    return Checkpoint(path, meta).save(int(meta["steps"]), {"model": model})


def load_generator(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a generator saved by :func:`save_generator`: ``(model in eval mode on device, meta)``.

    Raises :class:`helpers.inference.CheckpointError` saying what to do for a missing file, a file that is not
    a checkpoint (or not a plain-tensor one), an upscaler checkpoint, or a meta that does not fit the weights.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"No generator checkpoint at {path}: give the path of a .pt file; {MAKE_ONE}.")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(
            f"{path} cannot be read as a checkpoint of this series ({type(err).__name__}: {str(err)[:80]}). Only "
            "plain tensors and settings are loaded (weights_only=True), never code, so a file from another "
            f"program or a damaged file is refused: {MAKE_ONE}.") from err
    meta = saved.get("meta") if isinstance(saved, dict) else None
    state = saved.get("state", {}) if isinstance(saved, dict) else {}
    if isinstance(meta, dict) and meta.get("kind") != KIND and "scale" in meta:
        raise CheckpointError(f"{path} is an upscaler checkpoint ({meta.get('architecture')}, {meta['scale']}x), "
                              "not a generator: upscale images with python -m helpers.upscale --model "
                              f"{path} ... instead.")
    if not isinstance(meta, dict) or meta.get("kind") != KIND or not isinstance(state, dict) or "model" not in state:
        raise CheckpointError(f"{path} is not a generator checkpoint of this series (no meta kind "
                              f"{KIND!r} and model state): {MAKE_ONE}.")
    try:
        model = build_generator(meta["architecture"], **meta.get("kwargs", {}))
        model.load_state_dict(state["model"])
    except (ValueError, TypeError, RuntimeError, KeyError) as err:
        raise CheckpointError(f"{path}: cannot rebuild {meta.get('architecture')!r} from it ({str(err)[:200]}). "
                              "The file does not fit this version of helpers.models: retrain with the current "
                              "notebook.") from err
    model = model.to(device).eval()
    _check(model, meta, str(path))
    return model, meta


def sample(model: nn.Module, meta: Mapping[str, Any], n: int, seed: int = 0) -> torch.Tensor:
    """``n`` samples ``(n, C, H, W)`` float32 in ``[0, 1]`` from codes ``z ~ N(0, I)`` drawn on the CPU with
    ``torch.Generator().manual_seed(seed)``: the same seed gives the same samples."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}.")
    z = torch.randn(n, int(meta["latent_size"]), generator=torch.Generator().manual_seed(seed))
    return generate(model, meta, z)


def grid_image(images: torch.Tensor, nrow: int | None = None, pad: int = 2, zoom: int = 1) -> Image.Image:
    """Tile ``(n, C, H, W)`` images in ``[0, 1]`` (C = 1 or 3) into one PIL image, ``nrow`` per row (default
    ``ceil(sqrt(n))``), ``pad`` white pixels between them, each pixel repeated ``zoom`` times (nearest)."""
    n, c, h, w = images.shape
    if c not in (1, 3):
        raise ValueError(f"A grid needs 1 or 3 channels, got {c}.")
    nrow = nrow or math.ceil(math.sqrt(n))
    rows = math.ceil(n / nrow)
    canvas = torch.ones(c, rows * (h + pad) + pad, nrow * (w + pad) + pad)
    for i, img in enumerate(images):
        y, x = pad + (i // nrow) * (h + pad), pad + (i % nrow) * (w + pad)
        canvas[:, y:y + h, x:x + w] = img
    pixels = (canvas.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    im = Image.fromarray(pixels[..., 0] if c == 1 else pixels)
    return im.resize((im.width * zoom, im.height * zoom), Image.NEAREST) if zoom > 1 else im


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.sample", description=(
        "Draw samples from a generator checkpoint saved by notebook 05 or 10: writes a grid PNG and the raw "
        "samples (.npy, (n, C, H, W) float32 in [0, 1]) next to it."))
    parser.add_argument("--model", required=True, help="generator checkpoint (.pt) from a run folder")
    parser.add_argument("--n", type=int, default=64, help="number of samples (default 64)")
    parser.add_argument("--out", default="grid.png", help="grid PNG; the samples go to the same name with .npy")
    parser.add_argument("--seed", type=int, default=0, help="seed of the latent codes (default 0)")
    parser.add_argument("--nrow", type=int, default=None, help="samples per grid row (default ceil(sqrt(n)))")
    parser.add_argument("--zoom", type=int, default=4, help="grid pixels per sample pixel (default 4)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    args = parser.parse_args(argv)
    if args.n < 1 or args.zoom < 1 or (args.nrow is not None and args.nrow < 1):
        parser.error("--n, --zoom and --nrow must be at least 1.")
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        parser.error(f"--out must name a .png file, got {out}.")
    npy = out.with_suffix(".npy")
    existing = [str(p) for p in (out, npy) if p.exists()]
    if existing and not args.overwrite:
        parser.error(f"{' and '.join(existing)} already exist{'s' if len(existing) == 1 else ''}: pass --overwrite "
                     "or choose another --out.")
    try:
        model, meta = load_generator(args.model)
    except CheckpointError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    images = sample(model, meta, args.n, args.seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    grid_image(images, args.nrow, zoom=args.zoom).save(out)
    np.save(npy, images.numpy())
    info = {k: meta[k] for k in ("architecture", "image_size", "latent_size", "steps", "notebook", "stage")
            if k in meta}
    print(f"{args.n} samples of {Path(args.model).name} ({json.dumps(info)}), seed {args.seed}: {out} and {npy}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
