"""Long-trained reference upscalers (``make reference``): what a method does, not what a few CPU-minutes buy.

Each entry of :data:`SPECS` is trained with the notebooks' own code (:class:`helpers.models.upscalers.
PixelShuffleUpscaler`, the sample set's training photos and :class:`helpers.data.RandomCrops`), in chunks: a
content model with :class:`helpers.losses.SRLoss` and :func:`helpers.train.train_upscaler` (notebooks 02-03), or
notebook 04's SRGAN recipe, a fine-tune of a content model with course doc 000's losses
(:class:`helpers.wgan_gp.GeneratorLoss`, :class:`helpers.wgan_gp.CriticLoss`, :class:`helpers.wgan_gp.UpscaleTrainer`)
with the course's critic, or its control with the same generator steps and no critic. After every chunk the
training state (models, Adam moments, crop generator, random state, history) is saved atomically to
``reference/.state/<name>.pt`` (ignored by git), so an interrupted run resumes where its last chunk ended. When
the steps are done, the weights are written in half precision with their meta to ``reference/<name>.pt``
(committed): architecture, code commit, command, steps, training CPU- and wall-seconds and the device, the VGG
weights the perceptual term used, held-out metrics on the crops of notebooks 02-04 and on the whole held-out
photos as notebook 11 scores them (distortion and perception measures), and the training curve.
``python -m helpers.upscale --model reference/<name>.pt`` loads each, and ``tests/test_reference.py``
reproduces its recorded whole-photo metrics from the half-precision file.

    python -m helpers.reference --name x4_mse            # train (or resume) one, then write reference/x4_mse.pt
    python -m helpers.reference --all                    # every spec, in order (what make reference runs)
    python -m helpers.reference --name x4_srrescycgan    # notebook 08's real-world model (helpers.reference_cycle)
    python -m helpers.reference --name x4_wgan --device cuda --minutes 3   # on a GPU, pausing after 3 minutes
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from . import data, package_photos, reference_cycle, reference_targets
from .config import seed_everything
from .evaluation import evaluate
from .features import VGGFeatures
from .inference import CheckpointMismatch, load_upscaler
from .losses import SRLoss, VGGPerceptualLoss
from .models.registry import build_upscaler
from .models.wgan import Critic
from .reference_store import REFERENCE_DIR, VAL_CROP, base_meta, run_chunks, whole_photo_metrics, write
from .results import History
from .train import train_upscaler
from .wgan_gp import CriticLoss, GeneratorLoss, UpscaleTrainer

TRAINERS = ("content", "critic", "no-critic")
PHOTO_SETS = ("sample", "sample+packages")  # the sample set's training photos; and helpers.package_photos' four
RAMPED_EPOCH = 2  # an UpscaleTrainer epoch past the course's first: n_critic critic steps per generator step


@dataclass(frozen=True)
class Spec:
    """One reference model, a PixelShuffleUpscaler of ``channels`` x ``n_blocks`` (or, with ``architecture="course"``,
    course doc 001's ``Upscale2x`` / ``Upscale4x`` as notebooks 02-03 start it: the last convolution at zero, so the
    untrained model is its bilinear base) trained ``steps`` generator steps on ``crop``-pixel HR crops, batch
    ``batch``, with Adam(``lr``) halved at half and at three quarters of the steps; ``init`` names the reference
    model it starts from (a fine-tune); ``photos`` the training photos (:data:`PHOTO_SETS`: the sample set's
    seven, or those and :mod:`helpers.package_photos`' four).

    ``trainer="content"``: ``pixel * MSE + perceptual * VGG relu3_3`` (:class:`helpers.losses.SRLoss`), Adam's
    default betas. ``"critic"``: notebook 04's SRGAN recipe, course doc 000's generator loss (``content - adv *
    mean critic score``, content = that SRLoss + ``tv`` * TV) at full weight from the first step, the course's
    critic stepping ``n_critic`` times per generator step with its own Adam(``critic_lr``, halved alike) and the
    WGAN-GP loss (penalty weight 10). ``"no-critic"``: its control, the same generator loss with the adversarial
    term off, the same generator steps, no critic.
    """

    name: str
    scale: int
    steps: int
    crop: int
    batch: int = 16
    channels: int = 64
    n_blocks: int = 8
    pixel: float = 1.0
    perceptual: float = 0.0
    lr: float = 1e-3
    init: str | None = None
    chunk: int = 100
    seed: int = 0
    trainer: str = "content"
    tv: float = 0.0
    adv: float = 0.0
    critic_lr: float | None = None
    n_critic: int = 5
    architecture: str = "PixelShuffleUpscaler"
    photos: str = "sample"

    def __post_init__(self) -> None:
        if self.trainer not in TRAINERS:
            raise ValueError(f"Unknown trainer {self.trainer!r}: use one of {', '.join(TRAINERS)}.")
        if self.photos not in PHOTO_SETS:
            raise ValueError(f"Unknown photos {self.photos!r}: use one of {', '.join(PHOTO_SETS)}.")
        if self.architecture not in ("PixelShuffleUpscaler", "course"):
            raise ValueError(f"Unknown architecture {self.architecture!r}: use PixelShuffleUpscaler or course.")

    def learning_rate(self, step: int) -> float:
        """Adam's learning rate for ``step`` (1-based): ``lr``, halved after 1/2 and again after 3/4 of the steps."""
        return self.lr * 0.5 ** ((step > self.steps // 2) + (step > 3 * self.steps // 4))

    def model_class(self) -> str:
        """The registry name of the model (:data:`helpers.models.registry.ARCHITECTURES`)."""
        return f"Upscale{self.scale}x" if self.architecture == "course" else self.architecture

    def kwargs(self) -> dict[str, int]:
        """The model's constructor arguments (the course models take none)."""
        if self.architecture == "course":
            return {}
        return {"scale": self.scale, "channels": self.channels, "n_blocks": self.n_blocks}


def _recipe(name: str, trainer: str, pixel: float) -> Spec:
    """Notebook 04's SRGAN recipe (or its no-critic control) from ``x4_mse``, course doc 000's weights (TV 0.1,
    adversarial 0.01, 5 critic steps per generator step); generator lr 1e-4 as SRGAN's fine-tune, the critic
    four times faster (the two time-scale rule, Heusel et al. 2017)."""
    return Spec(name, scale=4, steps=2000, crop=64, n_blocks=6, pixel=pixel, perceptual=1.0, lr=1e-4,
                init="x4_mse", trainer=trainer, tv=0.1, adv=0.01 if trainer == "critic" else 0.0, critic_lr=4e-4)


SPECS: dict[str, Spec] = {s.name: s for s in (
    Spec("x4_mse", scale=4, steps=5000, crop=64, n_blocks=6),
    _recipe("x4_wgan", "critic", pixel=0.0),          # course doc 000's content loss: perceptual + TV
    _recipe("x4_wgan_control", "no-critic", pixel=0.0),
    _recipe("x4_wgan_px", "critic", pixel=10.0),      # + notebooks 02-03's pixel term (losses.CONTENT_PIXEL_WEIGHT)
    _recipe("x4_wgan_px_control", "no-critic", pixel=10.0),
    Spec("x2_mse", scale=2, steps=3000, crop=48, n_blocks=6),
    # x4_mse twice as deep, trained three times longer: does capacity bound the content model? (notebook 03)
    Spec("x4_mse_deep", scale=4, steps=15000, crop=64, n_blocks=12),
    # x4_mse's and x4_mse_deep's recipes on eleven photos: the sample set's seven, four from packages (data or depth?)
    Spec("x4_mse_photos", scale=4, steps=5000, crop=64, n_blocks=6, photos="sample+packages"),
    Spec("x4_mse_deep_photos", scale=4, steps=15000, crop=64, n_blocks=12, photos="sample+packages"),
    # notebook 02's perceptual run at length: x2_mse fine-tuned, VGG relu3_3 + 10 x MSE (CONTENT_PIXEL_WEIGHT)
    Spec("x2_perceptual", scale=2, steps=1500, crop=48, n_blocks=6, pixel=10.0, perceptual=1.0, lr=1e-4,
         init="x2_mse"),
    # course doc 001's models at length, as notebooks 02-03 train them (MSE, lr 1e-3, BatchNorm in train mode)
    Spec("x2_course_mse", scale=2, steps=3000, crop=64, batch=8, architecture="course"),
    Spec("x4_course_mse", scale=4, steps=3000, crop=64, batch=8, architecture="course"),
)}


def loss_for(spec: Spec) -> tuple[SRLoss, str | None]:
    """The spec's SRLoss (for ``"critic"``/``"no-critic"``: the content part of the generator loss, TV aside) and
    the VGG16 weights its perceptual term uses (``None`` without one)."""
    if not spec.perceptual:
        return SRLoss(pixel=spec.pixel), None
    perceptual = VGGPerceptualLoss(vgg=VGGFeatures(("relu3_3",)))
    return (SRLoss(pixel=spec.pixel, perceptual=spec.perceptual, perceptual_loss=perceptual),
            perceptual.vgg.source)


def training_photos(spec: Spec) -> dict[str, torch.Tensor]:
    """The spec's training photos, ``{name: (3, H, W)}`` in ``[0, 1]``: the sample set's, and for
    ``photos="sample+packages"`` :func:`helpers.package_photos.package_photos` too."""
    photos = data.sample_images("train")
    return {**photos, **package_photos.package_photos()} if spec.photos == "sample+packages" else photos


def build(spec: Spec, root: Path = REFERENCE_DIR) -> nn.Module:
    """The spec's untrained model, or its ``init`` reference model's weights (which must exist under ``root``)."""
    model = build_upscaler(spec.model_class(), **spec.kwargs())
    if spec.architecture == "course":
        nn.init.zeros_(model.model[-1].weight)
        nn.init.zeros_(model.model[-1].bias)
    if spec.init:
        path = root / f"{spec.init}.pt"
        if not path.is_file():
            raise FileNotFoundError(f"{spec.name} starts from {path}, which does not exist: train it first "
                                    f"(python -m helpers.reference --name {spec.init}).")
        model.load_state_dict(load_upscaler(path).model.state_dict())
    return model


class _ContentRun:
    """``trainer="content"``: :func:`helpers.train.train_upscaler` on the spec's SRLoss, chunk by chunk."""

    def __init__(self, spec: Spec, model: nn.Module, crops: data.RandomCrops):
        self.spec, self.model, self.crops = spec, model, crops
        self.opt = torch.optim.Adam(model.parameters(), lr=spec.lr)
        self.loss_fn, _ = loss_for(spec)
        self.loss_fn.to(next(model.parameters()).device)
        self.modules: dict[str, nn.Module | torch.optim.Optimizer] = {"model": model, "opt": self.opt}

    def chunk(self, step: int, n: int, history: History) -> None:
        for group in self.opt.param_groups:
            group["lr"] = self.spec.learning_rate(step + 1)
        train_upscaler(self.model, self.loss_fn, self.crops, n, self.opt, history=history,
                       desc=f"{self.spec.name} {step}+{n}")


class _RecipeRun:
    """``trainer="critic"`` / ``"no-critic"``: :class:`helpers.wgan_gp.UpscaleTrainer` with course doc 000's losses
    and critic; logs per chunk the mean content loss (``loss``) and, with the critic, its Wasserstein estimate
    and gradient norm at the interpolates."""

    def __init__(self, spec: Spec, model: nn.Module, crops: data.RandomCrops):
        device = next(model.parameters()).device
        self.spec, critic = spec, Critic().to(device)
        content, _ = loss_for(spec)
        g_loss = GeneratorLoss(critic, content.to(device), tv_weight=spec.tv, adv_weight=spec.adv, ramp_epochs=1)
        self.trainer = UpscaleTrainer(model, critic, g_loss, CriticLoss(critic), crops, lr=spec.lr,
                                      n_critic=spec.n_critic, critic_lr=spec.critic_lr)
        self.modules = {"model": model, "critic": critic, "opt": self.trainer.opt_g, "opt_c": self.trainer.opt_c}

    def chunk(self, step: int, n: int, history: History) -> None:
        t, spec = self.trainer, self.spec
        factor = spec.learning_rate(step + 1) / spec.lr
        for opt, lr in ((t.opt_g, spec.lr), (t.opt_c, spec.critic_lr or spec.lr)):
            for group in opt.param_groups:
                group["lr"] = lr * factor
        t.history = History()
        if spec.trainer == "critic":
            t.step = step * spec.n_critic
            t.epoch(RAMPED_EPOCH, n * spec.n_critic)
        else:
            t.step = step
            t.epoch(0, n, adversarial=False)
        logs = {"loss": sum(t.history.series("content_loss")[1]) / n}
        if spec.trainer == "critic":
            for key in ("wasserstein", "gp_grad_norm"):
                values = t.history.series(key)[1]
                logs[key] = sum(values) / len(values)
        history.log(step + n, **logs)


def train(spec: Spec, root: Path = REFERENCE_DIR, max_chunks: int | None = None,
          images: Mapping[str, torch.Tensor] | None = None, device: torch.device | str = "cpu",
          minutes: float | None = None) -> tuple[nn.Module, History, bool]:
    """Train (or resume) ``spec`` chunk by chunk on ``device``, saving the state after each under ``root/.state``.

    ``max_chunks`` stops early (a test's interruption), as does ``minutes`` of wall time (checked between chunks);
    ``images`` replaces the spec's training photos (:func:`training_photos`). Returns ``(model, history, done)``;
    the training state is kept until :func:`export` has written the weights.
    """
    seed_everything(spec.seed)
    model = build(spec, root).to(device)
    gen = torch.Generator().manual_seed(spec.seed)
    crops = data.RandomCrops(images if images is not None else training_photos(spec), spec.crop, spec.scale,
                             spec.batch, generator=gen)
    run = _ContentRun(spec, model, crops) if spec.trainer == "content" else _RecipeRun(spec, model, crops)
    history, done = run_chunks(spec, run, {"generator": gen}, root, max_chunks, minutes, device)
    return model, history, done


def export(spec: Spec, model: nn.Module, history: History, root: Path = REFERENCE_DIR,
           command: str = "", trained_on: str = "cpu") -> Path:
    """Write ``root/<name>.pt``: half-precision weights and the meta (see the module docstring). The whole-photo
    metrics are computed from the written half-precision file, as a user loads it."""
    _, vgg_source = loss_for(spec)
    val_lr, val_hr = data.validation_pairs(data.sample_images("val"), VAL_CROP, spec.scale)
    crops_row, _ = evaluate(model, val_lr, val_hr, spec.scale)
    meta = {"architecture": spec.model_class(), "kwargs": spec.kwargs(),
            **base_meta(spec, history, command, trained_on, vgg_source, crops_row)}
    return write(root / f"{spec.name}.pt", model, meta, whole_photo_metrics)


def table(root: Path = REFERENCE_DIR) -> str:
    """The committed reference models as a markdown table, every number read from the files' meta (the README
    carries it; ``tests/test_reference.py`` checks that the two agree)."""
    cols = ("PSNR-Y", "SWD", "HF ratio", "rise width (px)", "checkerboard")
    lines = ["| model | trainer | starts from | steps | trained on (wall s) | " + " | ".join(cols) + " |",
             "|---|---|---|---|---|" + "---|" * len(cols)]
    for name in SPECS:
        path = root / f"{name}.pt"
        if not path.is_file():
            continue
        meta = torch.load(path, map_location="cpu", weights_only=True)["meta"]
        spec, mean = meta["reference"], meta["held_out_photos"]["mean"]
        lines.append(f"| `{name}` | {spec['trainer']} | {spec['init'] or '-'} | {meta['steps']} | "
                     f"{meta.get('trained_on', 'cpu')} ({meta.get('train_wall_s', 0):.0f}) | "
                     + " | ".join(f"{mean[c]:.2f}" if c != "SWD" else f"{mean[c]:.1f}" for c in cols) + " |")
    return "\n".join(lines)


def device_name(device: torch.device) -> str:
    """``"cpu"`` or the GPU's name, for the meta."""
    return torch.cuda.get_device_name(device) if device.type == "cuda" else device.type


def main(argv: list[str] | None = None) -> int:
    specs: dict[str, Any] = {**SPECS, **reference_cycle.SPECS}
    parser = argparse.ArgumentParser(prog="python -m helpers.reference", description=__doc__.split("\n\n")[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--name", choices=sorted(specs), action="append", help="the reference model(s) to train")
    which.add_argument("--all", action="store_true", help="every reference model, in order")
    which.add_argument("--table", action="store_true",
                       help="print the committed models' tables and their targets (the README's)")
    parser.add_argument("--device", default="cpu", help="where to train (cpu, cuda); the export runs on the CPU")
    parser.add_argument("--minutes", type=float, help="pause each model after this much wall time (resumable)")
    args = parser.parse_args(argv)
    if args.table:
        print(table(), reference_cycle.table(), reference_targets.table(), sep="\n\n")
        return 0
    for name in specs if args.all else args.name:
        spec = specs[name]
        if (REFERENCE_DIR / f"{name}.pt").is_file():
            print(f"{name}: reference/{name}.pt exists; delete it to retrain.")
            continue
        t0, trained_on = time.perf_counter(), device_name(torch.device(args.device))
        try:
            if name in reference_cycle.SPECS:
                model, history, done, vgg_source = reference_cycle.train(spec, device=args.device,
                                                                         minutes=args.minutes)
            else:
                model, history, done = train(spec, device=args.device, minutes=args.minutes)
        except (FileNotFoundError, CheckpointMismatch, package_photos.PhotoFetchError) as err:
            # a missing start model, a foreign training state, extra photos that cannot be fetched
            print(f"{name}: {err}", file=sys.stderr)
            return 1
        if not done:
            step = int(history.last("step")) if history.records else 0
            print(f"{name}: paused at step {step}/{spec.steps}; run the same command to resume.")
            continue
        path = (reference_cycle.export(spec, model.cpu(), history, vgg_source, trained_on=trained_on)
                if name in reference_cycle.SPECS else export(spec, model.cpu(), history, trained_on=trained_on))
        meta = torch.load(path, weights_only=True)["meta"]
        print(f"{name}: wrote {path} ({path.stat().st_size / 1e6:.1f} MB) after {time.perf_counter() - t0:.0f} s; "
              f"held-out photos {json.dumps(meta['held_out_photos']['mean'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
