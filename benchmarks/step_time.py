"""Training-step time of every model of the series, the course's way against this project's way, and the cost of
the data path on its own.

    python -m benchmarks.step_time [--repeats 7] [--warmup 2] [--only wgan,dcgan] [--out DIR]
    python -m benchmarks.step_time --readme     # only rewrite README.md's tables from the CSVs in --out

Each model is trained at the ``quick`` profile's crop and batch of the notebook that trains it, and one
*training step* (every network of the model updated once, its batch drawn included) is timed two ways:

* **course**: as the course documents write it: fp32, default (NCHW) memory format, the perceptual loss
  resizing output and target to 224x224 before VGG16 (course doc 001's ``VGG16PerceptualLoss``);
* **project**: this project's choices: ``channels_last``, bf16 autocast on the CPU (AMP on CUDA, not measured
  here) via :func:`helpers.train.autocast`, VGG features at the crop's own resolution and only up to the layer used,
  target features once without gradients; notebook 05's G step reuses its D step's fakes (one G forward per step);
  notebook 07 sets one torch thread for its small networks, and so does its project way here (on an idle machine
  one and two threads tie for it; 05, 08 and 10 run 1.4-1.5x faster with two, so they keep torch's default).

Both ways draw their batches the same way, since no course document prescribes how training images are read:
the training photos decoded once and held in memory, random crops from them (:func:`crops`, i.e.
:class:`helpers.data.RandomCrops`, the same seed both ways), or for the 16x16 GANs a tensor of images. The
speed-up is therefore the model and loss step's. The perceptual-loss cases are also run at the course's own sizes
(course doc 001: 64 -> 128 at 2x, 64 -> 256 at 4x), where the 224 resize is an up-size (128) or a down-size (256).

The data path is measured on its own (``data_path.csv``, ``data_path.png``): one batch at each crop setting of the
selected cases, drawn from the photos in memory (:func:`crops`) and by opening and decoding the photo's PNG file for
every crop (:class:`FileCrops`, a ``Dataset.__getitem__`` that reads its file), interleaved; with the one-off cost of
decoding all the training photos.

The two ways are measured interleaved (one course step, one project step, ...) so that a change in the
machine's load hits both; each reported time is the median of ``--repeats`` steps after ``--warmup`` steps.
The convolutions' multiply-accumulates of one step are counted with forward hooks (forward, input gradient
and weight gradient where autograd needs them; the gradient penalty's second-order terms are not counted),
and their throughput is compared with a peak measured on the same machine before and after the cases (large
``torch.matmul`` and a 3x3 convolution, bf16 and fp32; the higher of the two is the reference).
Writes ``results/step_time.csv``, ``results/peak.csv``, ``results/data_path.csv``, ``results/step_time.png`` and
``results/data_path.png``; after a run of every case into ``results/``, the tables of ``benchmarks/README.md``
between their ``<!-- NAME:start -->`` / ``<!-- NAME:end -->`` markers are rewritten from the CSVs.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import os
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from benchmarks import README, RESULTS, fill_blocks, machine_info, markdown_table, read_csv, write_csv
from helpers import data as hdata
from helpers.config import autocast, to_channels_last
from helpers.data import from_pm1, to_pm1  # noqa: F401  (documented range conventions)
from helpers.features import VGGFeatures
from helpers.losses import GANLoss, VGGPerceptualLoss, gradient_penalty, tv_loss
from helpers.train import set_requires_grad

MODES = ("course", "project")
Step = Callable[[], None]


# --------------------------------------------------------------------------- data: the shared path, and the file path
@dataclass(frozen=True)
class Crops:
    """A case's training batches: HR crops of ``size`` pixels (LR ``size // scale``), ``batch`` to a batch."""

    size: int
    scale: int
    batch: int

    @property
    def setting(self) -> str:
        return f"crop {self.size}, batch {self.batch}"


@functools.cache
def train_photos() -> tuple[torch.Tensor, ...]:
    """The sample set's training photos, decoded once per process, in name order: each ``(3, H, W)`` in [0, 1]."""
    return tuple(hdata.sample_images("train").values())


def crops(spec: Crops, seed: int = 0) -> hdata.RandomCrops:
    """The data path both ways share: random crops of the photos held in memory, batches
    ``(lr (B, 3, size / scale, size / scale), hr (B, 3, size, size))``; the same seed gives the same crops."""
    return hdata.RandomCrops(list(train_photos()), spec.size, spec.scale, spec.batch,
                             generator=torch.Generator().manual_seed(seed))


class PNGFiles(Sequence):
    """Photos read from their files on every access: ``files[i]`` opens and decodes ``paths[i]``, ``(3, H, W)``."""

    def __init__(self, paths: list[Path]):
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        return hdata.load_image(self.paths[index])


class FileCrops(hdata.RandomCrops):
    """The file data path, measured against :func:`crops`: :class:`helpers.data.RandomCrops` over the training
    photos' PNG files, each crop opening and decoding its file (a ``Dataset.__getitem__`` that reads the file).
    Same batches as ``crops(spec, seed)``."""

    def __init__(self, spec: Crops, seed: int = 0):
        files = PNGFiles(hdata.list_images(hdata.build_sample_data() / "train"))
        super().__init__(files, spec.size, spec.scale, spec.batch,  # decodes each photo once to check the crop fits
                         generator=torch.Generator().manual_seed(seed))
        self.images = files


def perceptual(mode: str) -> VGGPerceptualLoss:
    """Course doc 001's loss (VGG16 relu3_3, L1): with the resize to 224 (course) or at native size (project)."""
    vgg = VGGFeatures(("relu3_3",))
    if mode == "project":
        vgg = to_channels_last(vgg)
    return VGGPerceptualLoss(vgg=vgg, resize=224 if mode == "course" else None)


def prepare(mode: str, *modules: nn.Module) -> None:
    if mode == "project":
        for m in modules:
            to_channels_last(m)


def amp(mode: str):
    return autocast("cpu") if mode == "project" else contextlib.nullcontext()


def cl(mode: str, *tensors: torch.Tensor):
    return to_channels_last(*tensors) if mode == "project" else (tensors[0] if len(tensors) == 1 else tensors)


# --------------------------------------------------------------------------- the models' training steps
class Built(NamedTuple):
    """A case built one way: its training step, the networks whose convolutions count, and what the step draws
    its batches from (a :class:`helpers.data.RandomCrops`, or a tensor of images held in memory)."""

    step: Step
    modules: list[nn.Module]
    data: object


@dataclass
class Case:
    name: str
    notebook: str
    setting: str                       # crop / batch as the quick profile sets them
    build: Callable[[str], Built]      # mode -> the case built that way
    data: Crops | None = None          # the crops its steps draw; None: images held in a tensor
    threads: dict[str, int] = field(default_factory=dict)  # per mode, if the notebook sets it


def crop_case(name: str, notebook: str, build: Callable[[str, Crops], Built], data: Crops, **kwargs) -> Case:
    """A case whose steps draw crops of ``data``, which also names its setting."""
    return Case(name, notebook, data.setting, functools.partial(build, data=data), data, **kwargs)


def sr_build(model_fn: Callable[[], nn.Module], loss: str) -> Callable[[str, Crops], Built]:
    """Notebooks 02 / 03: an upscaler trained with MSE or course doc 001's perceptual loss, Adam(1e-3)."""
    def build(mode: str, data: Crops) -> Built:
        torch.manual_seed(0)
        model = model_fn()
        perc = perceptual(mode) if loss == "perceptual" else None
        prepare(mode, model)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        batches = crops(data)

        def step():
            lr, hr = cl(mode, *next(batches))
            with amp(mode):
                sr = model(lr)
                value = perc(sr, hr) if perc is not None else F.mse_loss(sr.float(), hr.float())
            opt.zero_grad(set_to_none=True)
            value.backward()
            opt.step()
        return Built(step, [model] + ([perc.vgg] if perc is not None else []), batches)
    return build


def wgan_build(mode: str, data: Crops) -> Built:
    """Notebook 04: one critic step (Wasserstein + 10 * GP in fp32) and one generator step
    (perceptual + 0.1 TV - 0.01 critic score), Adam(1e-4, (0.5, 0.9)), gradients clipped to norm 1."""
    from helpers.models.wgan import Critic, Generator

    torch.manual_seed(0)
    g, c = Generator(), Critic()
    perc = perceptual(mode)
    prepare(mode, g, c)
    opt_g = torch.optim.Adam(g.parameters(), lr=1e-4, betas=(0.5, 0.9))
    opt_c = torch.optim.Adam(c.parameters(), lr=1e-4, betas=(0.5, 0.9))
    batches = crops(data)

    def step():
        lr, hr = cl(mode, *next(batches))
        set_requires_grad(g, False)
        set_requires_grad(c, True)
        with torch.no_grad(), amp(mode):
            fake = g(lr).float()
        with amp(mode):
            wasserstein = -c(hr).float().mean() + c(fake).float().mean()
        penalty, _ = gradient_penalty(c, hr.float(), fake)
        loss_c = wasserstein + 10 * penalty
        opt_c.zero_grad(set_to_none=True)
        loss_c.backward()
        nn.utils.clip_grad_norm_(c.parameters(), 1.0)
        opt_c.step()
        set_requires_grad(c, False)
        set_requires_grad(g, True)
        with amp(mode):
            out = g(lr)
            loss_g = perc(out, hr) + 0.1 * tv_loss(out.float()) - 0.01 * c(out).float().mean()
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        nn.utils.clip_grad_norm_(g.parameters(), 1.0)
        opt_g.step()
    return Built(step, [g, c, perc.vgg], batches)


def dcgan_build(mode: str) -> Built:
    """Notebook 05: DCGAN at 16x16 (G 128@4 -> 64@8, D mirrored), z of 64, batch 64; one D step (real and fake)
    and one G step (non-saturating), Adam(2e-4, (0.5, 0.999)); the real images are held in memory either way.
    The course's G step draws new codes and runs G again (course doc 002: "feed it random vectors"); the project's
    reuses the D step's fakes, one G forward per step, as course doc 004's reference code (pix2pix, CycleGAN) does."""
    from helpers.models.dcgan import DCDiscriminator, DCGenerator

    torch.manual_seed(0)
    g, d = DCGenerator(64, 16), DCDiscriminator(16)
    prepare(mode, g, d)
    bce = GANLoss("vanilla")
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    real = torch.rand(1000, 1, 16, 16) * 2 - 1

    def step():
        x = real[torch.randint(len(real), (64,))]
        set_requires_grad(d, True)
        with amp(mode):
            fake = g(torch.randn(64, 64))
            d_real, d_fake = d(cl(mode, x)), d(fake.detach())
        loss_d = bce(d_real, True) + bce(d_fake, False)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        set_requires_grad(d, False)
        with amp(mode):
            d_gen = d(fake if mode == "project" else g(torch.randn(64, 64)))
        loss_g = bce(d_gen, True)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
    return Built(step, [g, d], real)


def pix2pix_build(mode: str, data: Crops) -> Built:
    """Notebook 06 (quick): U-Net (1 -> 3 channels, 6 levels, ngf 16, instance norm) and a PatchGAN on the
    4-channel (edges, photo) pair (ndf 16, 3 layers, batch norm), crops 64, batch 8; one D step (loss halved),
    one G step (GAN + 100 L1 in [-1, 1]), Adam(2e-4, (0.5, 0.999)). The grey image stands in for the edges."""
    from helpers.models.patchgan import NLayerDiscriminator
    from helpers.models.unet import UnetGenerator

    torch.manual_seed(0)
    g, d = UnetGenerator(1, 3, num_downs=6, ngf=16, norm="instance"), NLayerDiscriminator(4, ndf=16, n_layers=3)
    prepare(mode, g, d)
    bce = GANLoss("vanilla")
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    batches = crops(data)

    def step():
        _, photo = next(batches)
        x, y = cl(mode, to_pm1(photo.mean(1, keepdim=True)), to_pm1(photo))
        with amp(mode):
            fake = g(x)
        set_requires_grad(d, True)
        with amp(mode):
            loss_d = 0.5 * (bce(d(torch.cat([x, y], 1)), True) + bce(d(torch.cat([x, fake.detach()], 1)), False))
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        set_requires_grad(d, False)
        with amp(mode):
            loss_g = bce(d(torch.cat([x, fake], 1)), True) + 100 * F.l1_loss(fake.float(), y.float())
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
    return Built(step, [g, d], batches)


def cyclegan_build(mode: str, data: Crops) -> Built:
    """Notebook 07 (quick): two ResnetGenerators (ngf 8, 2 blocks, skip) and two PatchGANs (ndf 8, instance
    norm), crops 32, batch 4; one step of both generators (LSGAN + 10 * cycle L1) and of both discriminators
    (loss halved), Adam(2e-4, (0.5, 0.999)). Domain B is the colour-inverted crop (only the shapes matter)."""
    from helpers.models.cyclegan import ResnetGenerator
    from helpers.models.patchgan import NLayerDiscriminator

    torch.manual_seed(0)
    g_ab, g_ba = (ResnetGenerator(3, 3, ngf=8, n_blocks=2, skip=True) for _ in range(2))
    d_a, d_b = (NLayerDiscriminator(3, ndf=8, n_layers=3, norm="instance") for _ in range(2))
    prepare(mode, g_ab, g_ba, d_a, d_b)
    lsgan = GANLoss("lsgan")
    opt_g = torch.optim.Adam([*g_ab.parameters(), *g_ba.parameters()], lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam([*d_a.parameters(), *d_b.parameters()], lr=2e-4, betas=(0.5, 0.999))
    batches = crops(data)

    def step():
        _, photo = next(batches)
        a, b = cl(mode, to_pm1(photo), to_pm1(1 - photo))
        set_requires_grad([d_a, d_b], False)
        with amp(mode):
            fake_b, fake_a = g_ab(a), g_ba(b)
            rec_a, rec_b = g_ba(fake_b), g_ab(fake_a)
            loss_g = (lsgan(d_b(fake_b), True) + lsgan(d_a(fake_a), True)
                      + 10 * (F.l1_loss(rec_a.float(), a.float()) + F.l1_loss(rec_b.float(), b.float())))
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        set_requires_grad([d_a, d_b], True)
        with amp(mode):
            loss_d = 0.5 * (lsgan(d_b(b), True) + lsgan(d_b(fake_b.detach()), False)
                            + lsgan(d_a(a), True) + lsgan(d_a(fake_a.detach()), False))
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
    return Built(step, [g_ab, g_ba, d_a, d_b], batches)


def srrescycgan_build(mode: str, data: Crops) -> Built:
    """Notebook 08 (quick): G_HR = SRResDNet (PixelShuffleUpscaler 4x + a 32-channel, 2-block refinement),
    G_LR = DegradationGenerator (32, 2), D_HR / D_LR PatchGANs (ndf 32, 3 / 2 layers); crops 64, batch 8. One
    generator step (adversarial, VGG relu2_2 MSE, gradient TV, content, both cycles, identity) and one step of
    both discriminators, Adam(1e-4), as the notebook writes it; the VGG loss is the notebook's (no resize)."""
    from helpers.degrade import bicubic_down, upsample
    from helpers.models.patchgan import NLayerDiscriminator
    from helpers.models.srrescycgan import DegradationGenerator, SRResDNet, gradient_tv_loss

    torch.manual_seed(0)
    g_hr, g_lr = SRResDNet(4, {}, channels=32, n_blocks=2), DegradationGenerator(4, 32, 2)
    d_hr, d_lr = NLayerDiscriminator(3, 32, n_layers=3), NLayerDiscriminator(3, 32, n_layers=2)
    vgg = VGGFeatures(("relu2_2",))
    prepare(mode, g_hr, g_lr, d_hr, d_lr, vgg)
    bce = GANLoss("vanilla")
    opt_g = torch.optim.Adam([*g_hr.parameters(), *g_lr.parameters()], lr=1e-4)
    opt_d = torch.optim.Adam([*d_hr.parameters(), *d_lr.parameters()], lr=1e-4)
    batches = crops(data)

    def step():
        y, _ = next(batches)          # unpaired: LR from one crop, HR from another
        _, x = next(batches)
        y, x = cl(mode, y, x)
        set_requires_grad([d_hr, d_lr], False)
        with amp(mode):
            fake_hr = g_hr(y)
            rec_lr = g_lr(fake_hr)
            fake_lr = g_lr(x)
            rec_hr = g_hr(fake_lr)
            s = g_hr(fake_lr.detach())
            adv = bce(d_hr(fake_hr), True) + bce(d_lr(fake_lr), True)
            with torch.no_grad():
                f_x = vgg(x)["relu2_2"].float()
            per = F.mse_loss(vgg(s)["relu2_2"].float(), f_x)
            idt = F.l1_loss(g_hr(bicubic_down(x, 4)).float(), x) + F.l1_loss(g_lr(upsample(y, 4)).float(), y)
        s, x32 = s.float(), x.float()
        cyc = F.l1_loss(rec_lr.float(), y.float()) + F.l1_loss(rec_hr.float(), x32)
        loss_g = (1e-3 * per + 1e-2 * adv + gradient_tv_loss(s, x32) + 10 * F.l1_loss(s, x32) + 5 * cyc + idt)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        set_requires_grad([d_hr, d_lr], True)
        with amp(mode):
            loss_d = 0.5 * (bce(d_hr(x), True) + bce(d_hr(fake_hr.detach()), False)) \
                + 0.5 * (bce(d_lr(y), True) + bce(d_lr(fake_lr.detach()), False))
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
    return Built(step, [g_hr, g_lr, d_hr, d_lr, vgg], batches)


def progan_build(mode: str) -> Built:
    """Notebook 10 (quick): progressive GAN (G channels 64, 32, 16; D mirrored) at its last stage (16x16) in
    the middle of the fade-in (alpha 0.5), batch 32; one critic step (WGAN-GP, lambda 10, penalty in fp32,
    drift 1e-3) and one generator step, Adam(1e-3, (0, 0.99)); the real images are held in memory either way."""
    from helpers.models.progan import Discriminator, Generator, stage_reals

    torch.manual_seed(0)
    g, d = Generator(64, (64, 32, 16)), Discriminator((16, 32, 64))
    prepare(mode, g, d)
    opt_g = torch.optim.Adam(g.parameters(), lr=1e-3, betas=(0.0, 0.99))
    opt_d = torch.optim.Adam(d.parameters(), lr=1e-3, betas=(0.0, 0.99))
    real_pm1 = torch.rand(1000, 1, 16, 16) * 2 - 1
    expand, alpha = 2, 0.5

    def step():
        real = cl(mode, stage_reals(real_pm1[torch.randint(len(real_pm1), (32,))], expand, alpha))
        with amp(mode):
            fake = g(torch.randn(32, 64), expand, alpha).detach()
            d_real, d_fake = d(real, expand, alpha).float(), d(fake, expand, alpha).float()
        penalty, _ = gradient_penalty(lambda x: d(x, expand, alpha), real, fake.float())
        loss_d = -(d_real.mean() - d_fake.mean()) + 10 * penalty + 1e-3 * d_real.pow(2).mean()
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        set_requires_grad(d, False)
        with amp(mode):
            loss_g = -d(g(torch.randn(32, 64), expand, alpha), expand, alpha).float().mean()
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        set_requires_grad(d, True)
    return Built(step, [g, d], real_pm1)


def cases() -> list[Case]:
    """Every model at its notebook's ``quick`` crop and batch, then the perceptual-loss cases at the course's sizes
    (course doc 001: LR 64 -> HR 128 at 2x, 64 -> 256 at 4x)."""
    from helpers.models.upscalers import PixelShuffleUpscaler, Upscale2x, Upscale4x

    x2, x4 = Crops(64, 2, 8), Crops(64, 4, 8)
    return [
        crop_case("Upscale2x, MSE", "02", sr_build(Upscale2x, "mse"), x2),
        crop_case("Upscale2x, perceptual", "02", sr_build(Upscale2x, "perceptual"), x2),
        crop_case("PixelShuffleUpscaler 2x, MSE", "02", sr_build(lambda: PixelShuffleUpscaler(2), "mse"), x2),
        crop_case("Upscale4x, MSE", "03", sr_build(Upscale4x, "mse"), x4),
        crop_case("Upscale4x, perceptual", "03", sr_build(Upscale4x, "perceptual"), x4),
        crop_case("PixelShuffleUpscaler 4x, MSE", "03", sr_build(lambda: PixelShuffleUpscaler(4), "mse"), x4),
        crop_case("Upscale2x, perceptual, course size 64 → 128", "02", sr_build(Upscale2x, "perceptual"),
                  Crops(128, 2, 8)),
        crop_case("Upscale4x, perceptual, course size 64 → 256", "03", sr_build(Upscale4x, "perceptual"),
                  Crops(256, 4, 8)),
        crop_case("WGAN-GP Generator + Critic", "04", wgan_build, Crops(96, 4, 8)),
        Case("DCGAN G + D", "05", "16x16, batch 64", dcgan_build),
        crop_case("pix2pix U-Net + PatchGAN", "06", pix2pix_build, Crops(64, 1, 8)),
        crop_case("CycleGAN 2 ResnetGen + 2 PatchGAN", "07", cyclegan_build, Crops(32, 1, 4),
                  threads={"project": 1}),
        crop_case("SRResCycGAN G_HR + G_LR + 2 PatchGAN", "08", srrescycgan_build, Crops(64, 4, 8)),
        Case("ProGAN G + D (16x16 fade-in, GP)", "10", "16x16, batch 32", progan_build),
    ]


# --------------------------------------------------------------------------- counting and timing
def conv_macs(step: Step, modules: list[nn.Module]) -> int:
    """Multiply-accumulates of the convolutions in one call of ``step``: forward, plus the input gradient
    when the input needs one and the weight gradient when the weight is trained."""
    total, hooks = 0, []

    def hook(module, inputs, output):
        nonlocal total
        x, w = inputs[0], module.weight
        k = w.shape[2] * w.shape[3]
        if isinstance(module, nn.ConvTranspose2d):   # weight (in, out / groups, kh, kw)
            fwd = x.numel() * w.shape[1] * k
        else:                                        # weight (out, in / groups, kh, kw)
            fwd = output.numel() * w.shape[1] * k
        mult = 1
        if torch.is_grad_enabled() and output.requires_grad:
            mult += int(x.requires_grad) + int(w.requires_grad)
        total += fwd * mult

    seen = set()
    for root in modules:
        for m in root.modules():
            w = getattr(m, "weight", None)
            is_conv = "Conv" in type(m).__name__ and isinstance(w, torch.Tensor) and w.ndim == 4
            if is_conv and id(m) not in seen:
                seen.add(id(m))
                hooks.append(m.register_forward_hook(hook))
    try:
        step()
    finally:
        for h in hooks:
            h.remove()
    return total


@contextlib.contextmanager
def threads(n: int | None):
    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def interleaved(calls: dict[str, Callable[[], object]], repeats: int, warmup: int,
                thread_counts: dict[str, int] | None = None) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) seconds of each call: ``warmup`` untimed calls of each, then ``repeats`` rounds of one
    call of each in turn, so that a change in the machine's load hits all of them; each call runs under its
    thread count (``thread_counts``, torch's default where absent), set outside the timing."""
    counts = thread_counts or {}
    for key, call in calls.items():
        with threads(counts.get(key)):
            for _ in range(warmup):
                call()
    wall: dict[str, list[float]] = {k: [] for k in calls}
    cpu: dict[str, list[float]] = {k: [] for k in calls}
    for _ in range(repeats):
        for key, call in calls.items():
            with threads(counts.get(key)):
                t0, c0 = time.perf_counter(), time.process_time()
                call()
                wall[key].append(time.perf_counter() - t0)
                cpu[key].append(time.process_time() - c0)
    return {k: (statistics.median(wall[k]), statistics.median(cpu[k])) for k in calls}


def measure(case: Case, repeats: int, warmup: int) -> dict[str, object]:
    """One row of ``step_time.csv``: both ways' median step time (wall and CPU), conv GMAC and GFLOP/s, the type
    of what each way draws its batches from, the speed-ups and the load average around the timing."""
    built: dict[str, Built] = {}
    for mode in MODES:
        with threads(case.threads.get(mode)):
            built[mode] = case.build(mode)
    row: dict[str, object] = {"model": case.name, "notebook": case.notebook, "setting": case.setting}
    for mode in MODES:
        with threads(case.threads.get(mode)):
            row[f"{mode}_conv_gmac"] = conv_macs(built[mode].step, built[mode].modules) / 1e9
        row[f"{mode}_data"] = type(built[mode].data).__name__
    load_before = os.getloadavg()[0]
    timed = interleaved({mode: built[mode].step for mode in MODES}, repeats, warmup, case.threads)
    for mode in MODES:
        wall, cpu = timed[mode]
        row[f"{mode}_ms"] = 1000 * wall
        row[f"{mode}_cpu_ms"] = 1000 * cpu
        row[f"{mode}_threads"] = case.threads.get(mode) or torch.get_num_threads()
        row[f"{mode}_gflops"] = 2 * row[f"{mode}_conv_gmac"] / wall
    row["speedup"] = row["course_ms"] / row["project_ms"]
    row["cpu_speedup"] = row["course_cpu_ms"] / row["project_cpu_ms"]
    row["meets_2x"] = row["speedup"] >= 2.0
    row["load1_before"] = round(load_before, 2)
    row["load1_after"] = round(os.getloadavg()[0], 2)
    return row


def data_path(spec: Crops, used_by: list[str], repeats: int, warmup: int) -> dict[str, object]:
    """One row of ``data_path.csv``: median ms per batch of ``spec`` drawn from the photos in memory (:func:`crops`)
    and by decoding each crop's PNG file (:class:`FileCrops`), interleaved; and the one-off decode of all photos."""
    t0 = time.perf_counter()
    photos = hdata.sample_images("train")
    decode_all = time.perf_counter() - t0
    streams = {"file": FileCrops(spec), "memory": crops(spec)}
    load_before = os.getloadavg()[0]
    timed = interleaved({path: functools.partial(next, stream) for path, stream in streams.items()},
                        repeats, warmup)
    return {"setting": f"crop {spec.size}, scale {spec.scale}, batch {spec.batch}", "crop": spec.size,
            "scale": spec.scale, "batch": spec.batch, "cases": "; ".join(used_by),
            "file_ms": 1000 * timed["file"][0], "file_cpu_ms": 1000 * timed["file"][1],
            "memory_ms": 1000 * timed["memory"][0], "memory_cpu_ms": 1000 * timed["memory"][1],
            "ratio": timed["file"][0] / timed["memory"][0], "photos": len(photos),
            "decode_all_once_ms": 1000 * decode_all, "load1_before": round(load_before, 2),
            "load1_after": round(os.getloadavg()[0], 2)}


def data_paths(selected: list[Case], repeats: int, warmup: int) -> list[dict[str, object]]:
    """:func:`data_path` for every crop setting the selected cases draw, in order of first use."""
    users: dict[Crops, list[str]] = {}
    for case in selected:
        if case.data is not None:
            users.setdefault(case.data, []).append(case.name)
    return [data_path(spec, names, repeats, warmup) for spec, names in users.items()]


def peak(repeats: int = 5) -> list[dict[str, object]]:
    """GFLOP/s of a 2048^3 matmul and of a 3x3 convolution 64 -> 64 on (8, 64, 128, 128), forward only."""
    rows = []
    n = 2048
    for dtype in (torch.float32, torch.bfloat16):
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        times = []
        for i in range(repeats + 1):
            t0 = time.perf_counter()
            torch.matmul(a, b)
            if i:
                times.append(time.perf_counter() - t0)
        rows.append({"kernel": f"matmul {n}x{n}x{n}", "dtype": str(dtype).split(".")[1],
                     "gflops": 2 * n**3 / statistics.median(times) / 1e9})
    conv = nn.Conv2d(64, 64, 3, padding=1).eval()
    x = torch.randn(8, 64, 128, 128)
    macs = 8 * 64 * 128 * 128 * 64 * 9
    for label, cm, dtype in (("fp32 NCHW", False, None), ("bf16 autocast channels_last", True, torch.bfloat16)):
        m, inp = (to_channels_last(conv, x) if cm else (conv, x))
        times = []
        with torch.no_grad(), (torch.autocast("cpu", dtype=dtype) if dtype else contextlib.nullcontext()):
            for i in range(repeats + 1):
                t0 = time.perf_counter()
                m(inp)
                if i:
                    times.append(time.perf_counter() - t0)
        rows.append({"kernel": "conv3x3 64->64 (8,64,128,128)", "dtype": label,
                     "gflops": 2 * macs / statistics.median(times) / 1e9})
    return rows


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save(fig, path: Path, info: dict) -> None:
    """Title ``fig`` with the machine and its load, write it to ``path`` and close it."""
    busy = "busy: other jobs shared the CPU" if info["load1"] > info["logical_cpus"] else "no other jobs"
    fig.suptitle(f"{info['cpu']}, {info['torch_threads']} threads, torch {info['torch']}; "
                 f"1-min load average {info['load1']} on {info['logical_cpus']} logical CPUs ({busy})", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    pyplot().close(fig)


def plot(rows: list[dict[str, object]], peaks: list[dict[str, object]], path: Path, info: dict) -> None:
    """Speed-up per model (left) and both ways' conv GFLOP/s against the matmul peaks (right)."""
    names = [r["model"] for r in rows]
    fig, (ax1, ax2) = pyplot().subplots(1, 2, figsize=(12, 0.45 * len(rows) + 1.8), sharey=True)
    y = range(len(rows))
    speed = [r["speedup"] for r in rows]
    ax1.barh(y, speed, color=["#2a7" if s >= 2 else "#c63" for s in speed])
    ax1.axvline(2, color="k", linestyle="--", linewidth=1, label="bar: 2x")
    ax1.axvline(1, color="gray", linewidth=0.8)
    for i, s in enumerate(speed):
        ax1.text(s, i, f" {s:.2f}x", va="center", fontsize=8)
    ax1.set_yticks(list(y), names, fontsize=8)
    ax1.invert_yaxis()
    ax1.set_xlabel("training-step speed-up, project / course (wall, median; same data path)")
    ax1.legend(fontsize=8, loc="lower right")
    ax2.barh([i - 0.2 for i in y], [r["course_gflops"] for r in rows], height=0.4, label="course (fp32)")
    ax2.barh([i + 0.2 for i in y], [r["project_gflops"] for r in rows], height=0.4, label="project (bf16, CL)")
    pk = {(p["kernel"].split()[0], p["dtype"]): p["gflops"] for p in peaks}
    for (kernel, dtype), v in pk.items():
        if kernel == "matmul":
            ax2.axvline(v, linestyle=":", color="k" if dtype == "float32" else "purple", linewidth=1)
            ax2.text(v, -0.7, f"matmul {dtype}", fontsize=7, rotation=0, ha="right")
    ax2.set_xscale("log")
    ax2.set_xlabel("achieved conv GFLOP/s in a training step (log)")
    ax2.legend(fontsize=8, loc="lower right")
    save(fig, path, info)


def plot_data_path(rows: list[dict[str, object]], path: Path, info: dict) -> None:
    """Median ms per batch of each crop setting, PNG decoded per crop against photos held in memory (log scale)."""
    fig, ax = pyplot().subplots(figsize=(10, 0.6 * len(rows) + 1.8))
    y = range(len(rows))
    bars = (("file_ms", -0.2, "PNG file opened and decoded per crop"),
            ("memory_ms", 0.2, "photos decoded once, held in memory (both ways)"))
    for key, shift, label in bars:
        ax.barh([i + shift for i in y], [r[key] for r in rows], height=0.4, label=label)
        for i, r in enumerate(rows):
            ax.text(r[key], i + shift, f" {r[key]:.1f} ms", va="center", fontsize=7)
    ax.set_yticks(list(y), [r["setting"] for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlim(right=3 * max(r["file_ms"] for r in rows))  # room for the labels
    ax.set_xlabel("drawing one training batch (crops + bicubic LR), ms, median (log)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    save(fig, path, info)


# --------------------------------------------------------------------------- the README's tables, from the CSVs
def step_time_table(rows: list[dict[str, str]]) -> str:
    """``step_time.csv`` as the README's table; a note above it when the rows' two ways drew from different
    data paths (or predate the ``course_data`` column, when the course way decoded each crop's PNG file)."""
    shared = all(r.get("course_data") and r["course_data"] == r.get("project_data") for r in rows)
    note = "" if shared else (
        "*Measured before both ways shared the data path: in these rows the course way decoded every crop it drew "
        "from its PNG file (the 16x16 GANs excepted), so their speed-ups include data loading (see the data path "
        "below). To be re-measured.*\n\n")
    return note + markdown_table(
        [("model (notebook)", "l"), ("setting", "l"), ("course ms", "r"), ("project ms", "r"),
         ("speed-up (wall)", "r"), ("speed-up (CPU)", "r"), ("conv GFLOP/s course → project", "r"), ("≥ 2x", "c"),
         ("load1", "r")],
        [[f"{r['model']} ({r['notebook']})", r["setting"], f"{float(r['course_ms']):.1f}",
          f"{float(r['project_ms']):.1f}", f"{float(r['speedup']):.2f}x", f"{float(r['cpu_speedup']):.2f}x",
          f"{float(r['course_gflops']):.0f} → {float(r['project_gflops']):.0f}",
          "yes" if r["meets_2x"] == "True" else "**no**", f"{float(r['load1_before']):.2f}"] for r in rows])


def peak_table(rows: list[dict[str, str]]) -> str:
    """``peak.csv`` as the README's table."""
    return markdown_table(
        [("kernel", "l"), ("dtype", "l"), ("when", "l"), ("GFLOP/s", "r"), ("load1", "r")],
        [[r["kernel"], r["dtype"], r["when"], f"{float(r['gflops']):.0f}", f"{float(r['load1']):.2f}"] for r in rows])


def data_path_table(rows: list[dict[str, str]]) -> str:
    """``data_path.csv`` as the README's table."""
    return markdown_table(
        [("crop setting", "l"), ("cases", "l"), ("PNG decoded per crop, ms / batch", "r"),
         ("in memory, ms / batch", "r"), ("ratio", "r"), ("all photos decoded once, ms", "r"), ("load1", "r")],
        [[r["setting"], r["cases"], f"{float(r['file_ms']):.1f}", f"{float(r['memory_ms']):.1f}",
          f"{float(r['ratio']):.1f}x", f"{float(r['decode_all_once_ms']):.0f} ({r['photos']} photos)",
          f"{float(r['load1_before']):.2f}"] for r in rows])


def readme_blocks(out: Path) -> dict[str, str]:
    """The README's generated blocks, by marker name, from the CSVs in ``out``."""
    tables = {"step_time": ("step_time.csv", step_time_table), "peak": ("peak.csv", peak_table),
              "data_path": ("data_path.csv", data_path_table)}
    return {name: make(read_csv(out / csv_name)) if (out / csv_name).is_file()
            else f"*Not measured yet: `python -m benchmarks.step_time` writes `{csv_name}`.*"
            for name, (csv_name, make) in tables.items()}


def update_readme(out: Path, readme: Path = README) -> None:
    """Rewrite ``readme``'s generated blocks from the CSVs in ``out``."""
    readme.write_text(fill_blocks(readme.read_text(), readme_blocks(out)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--only", default="", help="comma-separated substrings of model names")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--readme", action="store_true",
                        help="measure nothing: rewrite README.md's tables from the CSVs in --out")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if args.readme:
        update_readme(out)
        print(f"rewrote the tables of {README} from {out}")
        return 0
    out.mkdir(parents=True, exist_ok=True)
    random.seed(0)
    info = machine_info()
    machine = {k: info[k] for k in ("cpu", "torch", "torch_threads")}
    print("machine:", info)
    peaks = [{**p, "when": "before", "load1": round(os.getloadavg()[0], 2)} for p in peak()]
    for p in peaks:
        print(f"peak {p['kernel']:<32} {p['dtype']:<28} {p['gflops']:8.1f} GFLOP/s")
    selected = [c for c in cases() if not args.only or any(s.strip().lower() in c.name.lower()
                                                           for s in args.only.split(","))]
    rows = []
    for case in selected:
        row = measure(case, args.repeats, args.warmup)
        row.update(machine)
        rows.append(row)
        print(f"{case.name:<44} course {row['course_ms']:8.1f} ms  project {row['project_ms']:7.1f} ms  "
              f"x{row['speedup']:.2f} (CPU x{row['cpu_speedup']:.2f})  conv GFLOP/s {row['course_gflops']:.1f} -> "
              f"{row['project_gflops']:.1f}  load {row['load1_before']}", flush=True)
    paths = data_paths(selected, args.repeats, args.warmup)
    for r in paths:
        print(f"data path {r['setting']:<30} PNG per crop {r['file_ms']:7.1f} ms  in memory {r['memory_ms']:6.1f} ms "
              f"per batch  x{r['ratio']:.1f}  load {r['load1_before']}", flush=True)
    peaks += [{**p, "when": "after", "load1": round(os.getloadavg()[0], 2)} for p in peak()]
    best_peak = max(p["gflops"] for p in peaks)  # the machine's best moment: the fairest reference
    for row in rows:
        row["project_pct_of_best_peak"] = 100 * row["project_gflops"] / best_peak
        row["course_pct_of_fp32_peak"] = 100 * row["course_gflops"] / max(
            p["gflops"] for p in peaks if p["dtype"] == "float32")
    write_csv(out / "step_time.csv", rows, digits=4)
    write_csv(out / "peak.csv", [{**p, **machine} for p in peaks], digits=4)
    write_csv(out / "data_path.csv", [{**r, **machine} for r in paths], digits=4)
    best = {}
    for p in peaks:
        key = (p["kernel"], p["dtype"])
        best[key] = max(best.get(key, p), p, key=lambda q: q["gflops"])
    plot(rows, list(best.values()), out / "step_time.png", machine_info())
    plot_data_path(paths, out / "data_path.png", machine_info())
    met = [r["model"] for r in rows if r["meets_2x"]]
    print(f"{len(met)}/{len(rows)} models at least 2x faster: {', '.join(met) or 'none'}")
    print(f"wrote {', '.join(f.name for f in sorted(out.glob('*')) if f.stem in ('step_time', 'peak', 'data_path'))}"
          f" in {out}")
    if out.resolve() == RESULTS and not args.only:
        update_readme(out)
        print(f"rewrote the tables of {README}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
