"""Progressive growing GAN (Karras, Aila, Laine & Lehtinen, ICLR 2018), introduced in notebook 10 (written out
there as well). Names and structure follow the sample code of course doc 004 (itself after rosinality's
``progressive-gan-pytorch``): ``Generator.progression`` / ``to_rgb``, ``Discriminator.progression`` /
``from_rgb`` / ``linear``, and ``forward(input, expand=0, alpha=-1)``.

* ``expand`` is the stage: stage ``s`` works at ``4 * 2**s`` pixels (0: 4x4, 1: 8x8, 2: 16x16, ...).
* ``alpha`` in ``[0, 1)`` fades the newest block in: ``(1 - alpha) * old path + alpha * new block``; any other
  value (the default ``-1``, or ``1``) uses the new block alone.
* :class:`PixelNorm` (Karras sec. 4.2), equalized learning rate (:class:`EqualizedConv2d`,
  :class:`EqualizedLinear`, sec. 4.1) and the minibatch standard deviation channel (:func:`minibatch_stddev`,
  sec. 3). Unlike course doc 004's sample, which takes the standard deviation of the *input image*
  (``input.std(0).mean()``), we take it over the last block's features, as the paper does.
* Images are ``(B, C, H, W)``; the generator's output is linear (no ``tanh``, as in the paper) and meant for
  the ``[-1, 1]`` range: clamp and convert with :func:`helpers.data.from_pm1` to show or score it.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F


class PixelNorm(nn.Module):
    """Karras et al. (2018) eq. in sec. 4.2: ``b = a / sqrt(mean_c(a^2) + eps)`` over the channel dimension
    (dim 1), at every pixel. ``(B, C, ...)`` -> same shape; every pixel's feature vector gets RMS 1."""

    def __init__(self, eps: float = 1e-8):
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + self.eps)


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


class EqualizedLinear(nn.Module):
    """Linear layer with the equalized learning rate: N(0, 1) weights times ``gain / sqrt(in_features)``."""

    def __init__(self, in_features: int, out_features: int, gain: float = math.sqrt(2)):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.scale = gain / math.sqrt(in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)


def minibatch_stddev(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Karras et al. (2018, sec. 3): the standard deviation of every feature at every pixel over the minibatch,
    averaged into one number, appended as a constant extra channel. ``(B, C, H, W)`` -> ``(B, C + 1, H, W)``.

    A discriminator that sees this number can tell a batch of near-identical fakes from a varied real batch.
    """
    if x.ndim != 4 or x.shape[0] < 2:
        raise ValueError(f"minibatch_stddev needs a batch (B >= 2, C, H, W), got shape {tuple(x.shape)}.")
    std = torch.sqrt(x.var(dim=0, unbiased=False) + eps).mean()
    return torch.cat([x, std.expand(x.shape[0], 1, *x.shape[2:])], dim=1)


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


def fade_alpha(step: int, fade_steps: int) -> float:
    """The fade-in weight of a new stage ``step`` steps after it was added: rises linearly from 0 to 1 over
    ``fade_steps`` steps, then stays 1 (``fade_steps = 0``: the new block takes over at once)."""
    if fade_steps < 0 or step < 0:
        raise ValueError(f"step and fade_steps must be >= 0, got {step} and {fade_steps}.")
    return 1.0 if fade_steps == 0 else min(1.0, step / fade_steps)


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


def forward_macs(model: nn.Module, *args, **kwargs) -> int:
    """Multiply-accumulates of one forward pass ``model(*args, **kwargs)`` per sample, counted with forward hooks
    on every layer with a weight of its own: a 4-D weight is a convolution (``C_in * C_out * k * k`` per output
    pixel: :class:`EqualizedConv2d`, ``nn.Conv2d``), a 2-D one a linear layer (``in * out``: :class:`EqualizedLinear`,
    ``nn.Linear``), so copies of these classes (a notebook's) count too. The batch in ``args`` must have at least
    2 samples (the critic's minibatch std needs them) and does not change the result. Additions, norms and
    activations are not counted."""
    total, hooks = 0, []

    def hook(module: nn.Module, inp: tuple, outp: torch.Tensor) -> None:
        nonlocal total
        total += module.weight.numel() * (outp.shape[-1] * outp.shape[-2] if outp.ndim == 4 else 1)

    for m in model.modules():
        weight = getattr(m, "weight", None)
        if isinstance(weight, torch.Tensor) and weight.ndim in (2, 4) and not any(m.children()):
            hooks.append(m.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(*args, **kwargs)
    finally:
        for h in hooks:
            h.remove()
    return total


def step_macs(G: Generator, D: Discriminator, expand: int, alpha: float = -1, batch_size: int = 32) -> int:
    """Multiply-accumulates of one training step (:func:`helpers.gan_training.progan_step`) at stage ``expand``.

    Forward passes per step: the generator twice (the critic's fakes, the generator step's fakes), the critic
    four times (real, fake, the gradient penalty's interpolates, the generator step), each followed by a backward
    pass counted as twice its forward (the usual rule), so ``3 * batch_size * (2 * G + 4 * D)`` with ``G`` and
    ``D`` the per-sample :func:`forward_macs` at this stage and ``alpha`` (``0 <= alpha < 1`` adds the old
    path's ``to_rgb`` / ``from_rgb``). The rule is the same at every stage, so the ratio between stages, which
    is what an equal-compute comparison needs, rests on the exact layer counts.
    """
    device = next(G.parameters()).device
    g = forward_macs(G, torch.zeros(2, G.code_dim, device=device), expand, alpha)
    size = 4 * 2**expand
    d = forward_macs(D, torch.zeros(2, 1, size, size, device=device), expand, alpha)
    return 3 * batch_size * (2 * g + 4 * d)
