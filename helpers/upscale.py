"""Upscale images (or evaluate upscalers) from the command line with the checkpoints the series saves (issue 10).

Every upscaler checkpoint of notebooks 02-04 is self-describing: its meta holds ``architecture``, ``kwargs``,
``scale``, ``profile``, ``steps``, ``loss_weights`` and the VGG weight source, so
:func:`helpers.inference.load_upscaler` rebuilds it
with one call, without the notebook that trained it::

    python -m helpers.upscale --model runs/.../upscale4x_perceptual.pt photo.jpg photos/ --out sr/
    python -m helpers.upscale --model a.pt --model b.pt --hr my_hr_pngs/ --out eval/        # evaluation
    python -m helpers.upscale --model a.pt --hr hr/ --lr lr/ --out eval/                     # your own LR

* Outputs are 8-bit RGB PNGs named ``<input stem>_<checkpoint stem>.png``; an existing file is never
  overwritten without ``--overwrite``.
* Large images are processed in overlapping tiles (``--tile`` LR pixels plus a halo of
  :func:`receptive_radius` LR pixels on each side), so memory stays bounded by the tile (plus the output
  image). Convolutions, eval-mode BatchNorm and the bicubic skip (``align_corners=False``) are local, so the
  halo makes tiles agree with one whole-image pass. The course's ``Upscale2x`` / ``Upscale4x`` and notebook 04's
  WGAN generator upsample with bilinear ``align_corners=True``, whose sampling grid depends on the *whole*
  image size (source row ``Y * (h - 1) / (s*h - 1)``); a plain tile would sample another grid (measured:
  outputs differ by up to 0.07-0.34 for untrained models). During a tile pass every such ``nn.Upsample`` is
  replaced by :class:`GlobalGridUpsample`, which samples the whole image's grid, so these models tile
  exactly too (fp32: within 1e-5 of whole-image inference, tested).
* Evaluation (``--hr DIR``, or ``--dataset set5|set14|bsd100|urban100`` downloaded once with
  :func:`helpers.data.sr_benchmark_hr`; offline it stops at once saying where to place the files): each HR image
  is cropped at the bottom / right to a multiple of the scale (:func:`helpers.data.mod_crop`), degraded exactly as
  in training (PyTorch bicubic with antialiasing, :func:`helpers.degrade.bicubic_down`) unless ``--lr DIR`` gives
  the LR images (paired by file stem, also ``<stem>x4`` / ``<stem>_x4``), upscaled, and scored with
  :func:`helpers.metrics.sr_metrics`: PSNR-Y and SSIM-Y (BT.601 Y, border crop = scale), PSNR-RGB, VGG-dist and
  LPIPS (or "unavailable offline"). Bicubic is the first row. The table is printed and written to
  ``<out>/metrics.csv`` with the convention in its header.
* Bad input gets a message on stderr saying what to do, and the other inputs are still processed: an unreadable
  file, an image above ``--max-pixels`` (default ``$SRGAN_MAX_PIXELS`` or 100 megapixels, checked from the header
  before decoding), an output above ``--max-output-gb`` (scale² × the input, as float32), float pixel values
  outside ``[0, 1]``, an LR image smaller than the receptive field, an HR image smaller than the scale, a failed
  write (disk full), a foreign or mismatching checkpoint. Photos are turned upright by their EXIF orientation.
  The errors are listed again at the end; the exit status is 1 if any input failed, 2 for bad usage.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from . import degrade, metrics, perception
from .data import (
    DEFAULT_MAX_PIXELS,
    IMAGE_EXTENSIONS,
    SR_BENCHMARKS,
    DatasetUnavailable,
    image_to_tensor,
    list_images,
    mod_crop,
    open_image,
    save_image,
    sr_benchmark_hr,
)
from .inference import CheckpointError, LoadedModel, load_upscaler, upscale_tiled
from .train import progress

CSV_NAME = "metrics.csv"
#: Default for ``--max-output-gb``: the largest output image (float32 RGB) one input may make.
DEFAULT_MAX_OUTPUT_GB = 4.0


class UpscaleError(Exception):
    """One input (image or checkpoint) cannot be processed; the message says what to do."""


# --------------------------------------------------------------------------- images
def read_image(path: Path, max_pixels: int | None = None) -> tuple[torch.Tensor, str | None]:
    """``(3, H, W)`` in ``[0, 1]`` (upright by EXIF) and a note on how an unusual mode was converted (``None`` for
    plain RGB). Raises a clear ``FileNotFoundError`` / ``ValueError`` (too large, unreadable, floats beyond 1)."""
    im = open_image(path, max_pixels)
    mode, transparent = im.mode, "transparency" in im.info
    img = image_to_tensor(im, str(path))
    notes = {"L": "grayscale: its one channel is repeated to RGB", "1": "1-bit: converted to RGB",
             "LA": "grayscale with alpha: composited over white", "RGBA": "RGBA: composited over white",
             "PA": "palette with alpha: composited over white", "CMYK": "CMYK: converted to RGB",
             "P": "palette image: " + ("composited over white" if transparent else "expanded to RGB"),
             "I;16": "16-bit grayscale: scaled by 1/65535 to RGB, written as 8-bit",
             "I": "32-bit integer grayscale: read as 16-bit, written as 8-bit RGB", "F": "float grayscale: RGB"}
    note = notes.get(mode, f"mode {mode}: converted to RGB" if mode.startswith("I;16") else None)
    if mode == "RGB" or mode == "YCbCr":
        note = None
    if transparent and mode in ("RGB", "L"):
        note = f"{mode} with a transparent colour: composited over white"
    return img, note


def check_size(lr: torch.Tensor, lm: LoadedModel, what: str) -> str | None:
    """Raise if the LR image is smaller than ``radius + 1`` (no output pixel sees its context on even one side);
    return a note if it is smaller than the whole receptive field ``2 * radius + 1`` (borders dominate)."""
    field, side = 2 * lm.radius + 1, min(lr.shape[-2:])
    if side < lm.radius + 1:
        raise UpscaleError(f"{what}: the LR image is {lr.shape[-2]}x{lr.shape[-1]}; {lm.name} needs at least "
                           f"{lm.radius + 1}x{lm.radius + 1} (its receptive field is {field}x{field} LR pixels): "
                           "give a larger image.")
    if side < field:
        return (f"{what}: the LR image is smaller than {lm.name}'s receptive field ({field}x{field} LR pixels); "
                "every output pixel sees the zero padding.")
    return None


def check_output_memory(lr_size: tuple[int, int], scale: int, max_gb: float, what: str) -> None:
    """Refuse, before any work, an LR image of ``lr_size = (h, w)`` whose ``scale``x output would take more than
    ``max_gb`` GB as float32 RGB (``scale² × h × w × 3 × 4`` bytes): the output is held whole in memory."""
    h, w = lr_size
    gb = scale * scale * h * w * 3 * 4 / 1e9
    if gb > max_gb:
        raise UpscaleError(f"{what}: the {scale}x output would be {scale * h}x{scale * w} pixels, {gb:.1f} GB in "
                           f"memory (scale² × the input, float32 RGB), above the limit of {max_gb:g} GB: crop or "
                           f"downscale the input, or raise the limit with --max-output-gb {gb:.0f} if this machine "
                           "has the memory.")


def expand_inputs(inputs: list[str]) -> tuple[list[Path], list[str]]:
    """Files as given, folders as their images (sorted, not recursive); and the errors for bad entries."""
    files, errors = [], []
    for item in map(Path, inputs):
        if item.is_dir():
            try:
                files += list_images(item)
            except FileNotFoundError as err:
                errors.append(f"{err} Put .png / .jpg files there or name the files directly.")
        elif item.is_file():
            files.append(item)
        else:
            errors.append(f"No file or folder at {item}: check the path.")
    return files, errors


def find_lr(lr_dir: Path, stem: str, scale: int) -> Path:
    for name in (stem, f"{stem}x{scale}", f"{stem}_x{scale}"):
        for ext in IMAGE_EXTENSIONS:
            for candidate in (lr_dir / f"{name}{ext}", lr_dir / f"{name}{ext.upper()}"):
                if candidate.is_file():
                    return candidate
    raise UpscaleError(f"No LR image for {stem} in {lr_dir}: name it {stem}.png (or {stem}x{scale}.png).")


# --------------------------------------------------------------------------- evaluation table
@torch.no_grad()
def vgg_distances(distance: metrics.VGGDistance, hr: torch.Tensor, srs: dict[str, torch.Tensor]) -> dict[str, float]:
    """:class:`helpers.metrics.VGGDistance` of each ``(3, H, W)`` SR image to one HR image (HR features once)."""
    f_hr = {k: metrics.unit_normalise(v) for k, v in distance.vgg(hr[None].float()).items()}
    out = {}
    for name, sr in srs.items():
        f_sr = distance.vgg(sr[None].float())
        out[name] = float(sum((metrics.unit_normalise(f_sr[layer]) - f_hr[layer]).pow(2).sum(dim=1).mean()
                              for layer in metrics.DIST_LAYERS) / len(metrics.DIST_LAYERS))
    return out


def convention(scale: int, lr_dir: Path | None, distance: metrics.VGGDistance | None,
               lpips_metric: metrics.LPIPSMetric | None, models: list[LoadedModel]) -> list[str]:
    lr = (f"LR: the given images in {lr_dir}, paired by file stem" if lr_dir else
          f"LR: HR cropped at bottom/right to a multiple of {scale}, then PyTorch bicubic (a=-0.75) with "
          f"antialiasing, 1/{scale} (helpers.degrade.bicubic_down, as in training)")
    lpips_text = ("not computed (--no-perceptual)" if lpips_metric is None else
                  lpips_metric.description if lpips_metric.available else lpips_metric.reason)
    lines = [f"srgan-notebooks upscale evaluation, scale {scale}x", lr,
             f"PSNR-Y, SSIM-Y: BT.601 Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255, border crop = scale = "
             f"{scale} px; SSIM Gaussian 11x11 sigma 1.5; PSNR-RGB with the same crop; outputs clamped to [0, 1]",
             f"VGG-dist: LPIPS paper's uncalibrated VGG16 baseline, weights: "
             f"{distance.vgg.source if distance else 'not computed (--no-perceptual)'}",
             f"LPIPS: {lpips_text}",
             "weight-free perception (helpers.perception, on the whole image): HF ratio = luma power above the LR "
             f"Nyquist (1/{2 * scale} cycles/px) over HR's (1 = as much detail as HR); SWD = Laplacian-patch sliced "
             "Wasserstein distance x1e3 (0 = HR); checkerboard = spectral peaks at the upsampler's period over HR's "
             "(1 = none); rise width = 10-90 % edge width in px across HR's strongest edges"]
    for lm in models:
        m = lm.meta
        lines.append(f"model {lm.name}: {m['architecture']} {m.get('kwargs', {})}, profile {m.get('profile', '?')}, "
                     f"steps {m.get('steps', '?')}, loss weights {m.get('loss_weights', '?')}")
    return lines


def print_table(rows: list[dict], header: list[str]) -> None:
    import pandas as pd

    df = pd.DataFrame(rows)
    print("\n".join(f"# {line}" for line in header))
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.float_format", "{:.4f}".format):
        print(df.to_string(index=False))


def write_csv(rows: list[dict], header: list[str], path: Path) -> None:
    import pandas as pd

    with open(path, "w", newline="") as f:
        f.write("".join(f"# {line}\n" for line in header))
        pd.DataFrame(rows).to_csv(f, index=False, float_format="%.6f")


def evaluate_images(models: list[LoadedModel], hr_files: list[Path], *, lr_dir: Path | None = None, tile: int = 128,
                    use_amp: bool = True, distance: metrics.VGGDistance | None = None,
                    lpips_metric: metrics.LPIPSMetric | None = None,
                    on_error: Callable[[str], None] = print,
                    on_images: Callable[[str, dict[str, torch.Tensor]], object] | None = None,
                    device: str | torch.device = "cpu", scale: int | None = None, max_pixels: int | None = None,
                    max_output_gb: float = DEFAULT_MAX_OUTPUT_GB) -> list[dict]:
    """Score bicubic and every model on HR images, the convention of :func:`convention` (the CLI's ``--hr``).

    Each HR image is cropped to a multiple of the scale, degraded with :func:`helpers.degrade.bicubic_down`
    (or paired with its LR image in ``lr_dir``), upscaled with :func:`upscale_tiled` and scored. Returns one
    row per image and method (``image``, ``method``, PSNR-Y, SSIM-Y, PSNR-RGB, VGG-dist, LPIPS, and the
    weight-free measures of :func:`helpers.perception.perception_scores`), then per
    method a ``mean (n)`` row. ``on_images(stem, {method: (3, sH, sW) in [0, 1]})`` sees the outputs; a bad
    image (unreadable, above ``max_pixels``, an output above ``max_output_gb``, smaller than the scale) is reported
    to ``on_error`` and skipped. ``scale`` defaults to the first model's (with no models: bicubic alone, ``scale``
    required).
    """
    if not models and not scale:
        raise ValueError("evaluate_images needs at least one model, or scale= for bicubic alone.")
    scale = scale or models[0].scale
    per_method: dict[str, list[dict]] = {"bicubic": [], **{lm.name: [] for lm in models}}
    for path in progress(hr_files, desc="evaluate", unit="img"):
        try:
            hr = read_image(path, max_pixels)[0]
            check_output_memory((hr.shape[-2] // scale, hr.shape[-1] // scale), scale, max_output_gb, path.name)
            hr = mod_crop(hr, scale)
            if lr_dir:
                lr = read_image(find_lr(lr_dir, path.stem, scale), max_pixels)[0]
                if tuple(lr.shape[-2:]) != (hr.shape[-2] // scale, hr.shape[-1] // scale):
                    raise UpscaleError(f"{path.name}: LR is {lr.shape[-2]}x{lr.shape[-1]}, HR (cropped to a multiple "
                                       f"of {scale}) is {hr.shape[-2]}x{hr.shape[-1]}: not a {scale}x pair.")
            else:
                lr = degrade.bicubic_down(hr[None], scale)[0]
            for lm in models:
                if note := check_size(lr, lm, path.name):
                    tqdm.write(f"note: {note}", file=sys.stderr)
            srs = {"bicubic": degrade.upsample(lr[None], scale)[0]}
            for lm in models:
                srs[lm.name] = upscale_tiled(lm, lr, tile, use_amp)
            hr = hr.to(device)
            dists = vgg_distances(distance, hr, {k: v.to(device) for k, v in srs.items()}) if distance else {}
            for name, sr in srs.items():
                row = metrics.sr_metrics(sr[None].to(device), hr[None], scale, None, lpips_metric)
                if distance is not None:
                    row = {**{k: row[k] for k in ("PSNR-Y", "SSIM-Y", "PSNR-RGB")}, distance.name: dists[name],
                           **{k: v for k, v in row.items() if k == "LPIPS"}}
                row.update({k: float(v[0]) for k, v in perception.perception_scores(sr[None].cpu(), hr[None].cpu(),
                                                                                     scale).items()})
                per_method[name].append({"image": path.stem, "method": name, **row})
            if on_images is not None:
                on_images(path.stem, srs)
        except (UpscaleError, FileNotFoundError, ValueError) as err:
            on_error(str(err))
    return with_means(per_method)


def with_means(per_method: dict[str, list[dict]]) -> list[dict]:
    """Each method's rows followed by a ``mean (n)`` row (numbers averaged, text kept)."""
    rows = []
    for name, method_rows in per_method.items():
        if not method_rows:
            continue
        rows += method_rows
        mean = {"image": f"mean ({len(method_rows)})", "method": name}
        for key, value in method_rows[0].items():
            if key not in mean:
                mean[key] = (float(np.mean([r[key] for r in method_rows])) if isinstance(value, float) else value)
        rows.append(mean)
    return rows


# --------------------------------------------------------------------------- command line
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m helpers.upscale", description=__doc__.split("\n\n")[0],
                                epilog="Example: python -m helpers.upscale --model upscale4x_perceptual.pt photo.jpg "
                                       "--out sr/   |   evaluation: ... --model a.pt --hr hr_pngs/ --out eval/")
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="image files or folders of images to upscale")
    p.add_argument("--model", action="append", required=True, metavar="CKPT",
                   help="a checkpoint saved by notebook 02, 03 or 04 (repeat for several)")
    p.add_argument("--out", required=True, type=Path, help="folder for the PNGs (and metrics.csv)")
    p.add_argument("--hr", type=Path, help="evaluation: folder of HR images (degraded as in training)")
    p.add_argument("--dataset", choices=sorted(SR_BENCHMARKS), help="evaluation on a standard test set (HR "
                   "images downloaded once to $SRGAN_DATA; offline: says where to place them)")
    p.add_argument("--lr", type=Path, help="evaluation with your own LR images, paired with --hr by file stem")
    p.add_argument("--scale", type=int, help="refuse checkpoints of another scale (default in evaluation: the "
                                             "first model's)")
    p.add_argument("--tile", type=int, default=128, help="tile size in LR pixels (default 128)")
    p.add_argument("--fp32", action="store_true", help="no bf16 autocast (slower on CPU, exact tiling)")
    p.add_argument("--no-perceptual", action="store_true", help="evaluation: skip VGG-dist and LPIPS")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--max-pixels", type=int, default=None, help="refuse input images with more pixels (default "
                   f"$SRGAN_MAX_PIXELS or {DEFAULT_MAX_PIXELS:,}): a guard against decompression bombs")
    p.add_argument("--max-output-gb", type=float, default=DEFAULT_MAX_OUTPUT_GB, help="refuse an input whose "
                   f"output would take more memory, scale² × input as float32 (default {DEFAULT_MAX_OUTPUT_GB:g})")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args(argv)
    if args.hr and args.dataset:
        p.error("give either --hr DIR or --dataset NAME, not both.")
    if args.lr and not args.hr:
        p.error("--lr needs --hr (the HR images to compare with).")
    evaluating = bool(args.hr or args.dataset)
    if evaluating and args.inputs:
        p.error("give either INPUT files/folders to upscale or --hr DIR / --dataset NAME to evaluate, not both.")
    if not evaluating and not args.inputs:
        p.error("nothing to do: give INPUT files/folders, or --hr DIR / --dataset NAME to evaluate.")
    if args.tile < 1:
        p.error("--tile must be >= 1.")
    if (args.max_pixels is not None and args.max_pixels < 1) or args.max_output_gb <= 0:
        p.error("--max-pixels and --max-output-gb must be positive.")
    stems = [Path(m).stem for m in args.model]
    if len(set(stems)) != len(stems):
        p.error(f"two checkpoints share a file name ({stems}): outputs are named after it; rename one.")
    if evaluating and (args.out / CSV_NAME).exists() and not args.overwrite:
        p.error(f"{args.out / CSV_NAME} exists: pass --overwrite or choose another --out.")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    evaluating = bool(args.hr or args.dataset)
    failures: list[str] = []

    def fail(msg: str) -> None:
        failures.append(msg)
        tqdm.write(f"error: {msg}", file=sys.stderr)

    def finish() -> int:
        """List the errors again after the progress output, so none is lost in it; 1 if any."""
        if failures:
            listed = "\n".join(f"  - {msg}" for msg in failures)
            print(f"\n{len(failures)} error(s); the other inputs were processed:\n{listed}", file=sys.stderr)
        return 1 if failures else 0

    models: list[LoadedModel] = []
    for path in args.model:
        try:
            lm = load_upscaler(path, args.device)
            scale = args.scale or (models[0].scale if evaluating and models else None)
            if scale and lm.scale != scale:
                raise UpscaleError(f"{path} is a {lm.scale}x model but this run is {scale}x "
                                   f"({'--scale' if args.scale else 'the first model'}): run it separately"
                                   f"{' with its own --out' if evaluating else ''}.")
            models.append(lm)
        except (UpscaleError, CheckpointError) as err:
            fail(str(err))
    if not models:
        print("error: no usable checkpoint; nothing was done.", file=sys.stderr)
        return 1
    use_amp = not args.fp32
    args.out.mkdir(parents=True, exist_ok=True)

    def save(sr: torch.Tensor, stem: str, lm: LoadedModel, planned: set[Path]) -> None:
        target = args.out / f"{stem}_{lm.name}.png"
        if target in planned:
            raise UpscaleError(f"two inputs are named {stem}: {target.name} would be written twice; rename one.")
        planned.add(target)
        if target.exists() and not args.overwrite:
            raise UpscaleError(f"{target} exists: pass --overwrite or choose another --out.")
        try:
            save_image(sr, target)  # a failed write leaves no partial file
        except OSError as err:
            raise UpscaleError(f"cannot write {target} ({err}): free disk space or choose another --out.") from err

    planned: set[Path] = set()
    if not evaluating:  # ------------------------------------------------------------- upscale mode
        files, errors = expand_inputs(args.inputs)
        for msg in errors:
            fail(msg)
        for path in progress(files, desc="upscale", unit="img"):
            try:
                lr, note = read_image(path, args.max_pixels)
            except (FileNotFoundError, ValueError) as err:
                fail(str(err))
                continue
            if note:
                tqdm.write(f"note: {path.name}: {note}.", file=sys.stderr)
            for lm in models:
                try:
                    check_output_memory(tuple(lr.shape[-2:]), lm.scale, args.max_output_gb, str(path))
                    if note := check_size(lr, lm, str(path)):
                        tqdm.write(f"note: {note}", file=sys.stderr)
                    save(upscale_tiled(lm, lr, args.tile, use_amp), path.stem, lm, planned)
                except UpscaleError as err:
                    fail(str(err))
        return finish()

    # ------------------------------------------------------------------------------------ evaluation mode
    try:
        hr_dir = sr_benchmark_hr(args.dataset) if args.dataset else args.hr
        hr_files = list_images(hr_dir)
    except (FileNotFoundError, DatasetUnavailable) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    distance = lpips_metric = None
    if not args.no_perceptual:
        distance, lpips_metric = metrics.VGGDistance().to(args.device), metrics.LPIPSMetric()
    rows = evaluate_images(models, hr_files, lr_dir=args.lr, tile=args.tile, use_amp=use_amp, distance=distance,
                           lpips_metric=lpips_metric, on_error=fail,
                           on_images=lambda stem, srs: [save(srs[lm.name], stem, lm, planned) for lm in models],
                           device=args.device, max_pixels=args.max_pixels, max_output_gb=args.max_output_gb)
    if rows:
        header = convention(models[0].scale, args.lr, distance, lpips_metric, models)
        print_table(rows, header)
        write_csv(rows, header, args.out / CSV_NAME)
        print(f"written: {args.out / CSV_NAME}")
    return finish()

if __name__ == "__main__":
    sys.exit(main())
