"""Every architecture a checkpoint may name, by class name (what checkpoints store in their meta): the upscalers
(:data:`ARCHITECTURES`) and the unconditional GAN generators (:data:`GENERATORS`).

The model modules do not import this one, so there is no import cycle: ``registry`` imports ``upscalers``,
``wgan``, ``srrescycgan``, ``dcgan`` and ``progan``, and nothing in ``helpers.models`` imports ``registry`` back.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .dcgan import DCGenerator, FCGenerator
from .progan import Generator as ProGANGenerator
from .srrescycgan import SRResDNet
from .upscalers import PixelShuffleUpscaler, Upscale2x, Upscale4x
from .wgan import Generator

#: class name in a checkpoint's meta -> constructor. "WGANGenerator" is notebook 04's generator (course doc 000),
#: "SRResDNet" notebook 08's G_HR (course doc 003).
ARCHITECTURES: dict[str, type[nn.Module]] = {
    "Upscale2x": Upscale2x, "Upscale4x": Upscale4x, "PixelShuffleUpscaler": PixelShuffleUpscaler,
    "WGANGenerator": Generator, "SRResDNet": SRResDNet,
}


def build_upscaler(name: str, **kwargs) -> nn.Module:
    """A model from its class name and constructor arguments; ``ValueError`` naming the known ones otherwise."""
    if name not in ARCHITECTURES:
        raise ValueError(f"Unknown upscaler {name!r}: use one of {', '.join(ARCHITECTURES)}.")
    return ARCHITECTURES[name](**kwargs)


#: class name in a generator checkpoint's meta -> constructor: unconditional generators from a latent code
#: ``(B, latent)`` to images. Notebook 05's fully connected GAN and DCGAN, notebook 10's progressive generator.
GENERATORS: dict[str, type[nn.Module]] = {
    "FCGenerator": FCGenerator, "DCGenerator": DCGenerator, "ProGANGenerator": ProGANGenerator,
}
#: The generators whose ``forward`` takes a stage (``expand``): a checkpoint of one names its stage.
STAGED_GENERATORS = ("ProGANGenerator",)


def build_generator(name: str, **kwargs) -> nn.Module:
    """An unconditional generator from its class name and constructor arguments; ``ValueError`` otherwise."""
    if name not in GENERATORS:
        raise ValueError(f"Unknown generator {name!r}: use one of {', '.join(GENERATORS)}.")
    return GENERATORS[name](**kwargs)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


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
