"""Neural style transfer losses of Gatys, Ecker & Bethge, "Image Style Transfer Using Convolutional Neural
Networks" (CVPR 2016), introduced in notebook 09 (which writes them out; a test keeps both copies identical).

Features are VGG activations ``{layer name: (B, C, H, W)}`` as :class:`helpers.features.VGGFeatures` returns
them. The paper's layer names (``conv4_2``, ``conv1_1`` ...) are Caffe blobs that its in-place ReLUs overwrite,
so they are the *rectified* responses: ``relu4_2``, ``relu1_1`` ... here.

* ``gram_matrix``: ``G = F F^T / (C H W)`` with ``F`` the ``(C, H*W)`` feature matrix. With this normalisation
  the paper's per-layer style error ``E_l = 1/(4 N_l^2 M_l^2) sum (G_raw - A_raw)^2`` (eq. 4, ``N_l = C``,
  ``M_l = H W``) is exactly ``1/4 * sum (G - A)^2``.
* ``content_loss``: eq. 1, ``1/2 * sum (F - P)^2`` on one layer (the paper's ``conv4_2``), averaged over the batch.
* ``style_loss``: eq. 5, ``sum_l w_l E_l`` (the paper: ``conv1_1 ... conv5_1``, ``w_l = 1/5``).

Notebook 09 also needs a style image whose structure is easy to see and a control that copies only colours:

* ``stained_glass``: a generated style image, Voronoi cells of one saturated colour each between dark lead lines.
* ``match_histograms``: the photo recoloured to the style's per-channel histograms (scikit-image's
  ``match_histograms``), the control a style transfer must beat to show it moved more than colours.
"""
from __future__ import annotations

import colorsys
from collections.abc import Mapping

import numpy as np
import torch

GATYS_CONTENT_LAYER = "relu4_2"
GATYS_STYLE_WEIGHTS = {"relu1_1": 0.2, "relu2_1": 0.2, "relu3_1": 0.2, "relu4_1": 0.2, "relu5_1": 0.2}


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` feature maps -> ``(B, C, C)`` Gram matrices ``F F^T / (C * H * W)`` in float32.

    Entry ``(i, j)`` is the mean over positions of ``f_i * f_j``, divided by ``C``: channel correlations with
    no memory of *where* a feature fired, which is why they describe texture. The ``1 / (C H W)`` makes
    Gatys et al.'s ``E_l`` equal to ``1/4 * sum (G - A)^2`` (see the module docstring).
    """
    if features.ndim != 4:
        raise ValueError(f"gram_matrix expects feature maps (B, C, H, W), got shape {tuple(features.shape)}: "
                         "add a batch dimension with x[None].")
    b, c, h, w = features.shape
    flat = features.float().reshape(b, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def content_loss(features: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Tensor],
                 layer: str = GATYS_CONTENT_LAYER) -> torch.Tensor:
    """Gatys et al. eq. 1 on one layer: ``1/2 * sum (F - P)^2`` per image, averaged over the batch.

    ``features`` / ``targets`` map layer names to ``(B, C, H, W)`` (targets may have batch 1). Only ``layer``
    is read. A scalar float32 tensor.
    """
    if layer not in features or layer not in targets:
        raise KeyError(f"content layer {layer!r} is missing: features have {sorted(features)}, targets have "
                       f"{sorted(targets)}. Ask VGGFeatures for it (VGGFeatures(layers=(..., {layer!r}))).")
    diff = features[layer].float() - targets[layer].float()
    return 0.5 * diff.pow(2).sum(dim=(1, 2, 3)).mean()


def style_loss(features: Mapping[str, torch.Tensor], target_grams: Mapping[str, torch.Tensor],
               layer_weights: Mapping[str, float] | None = None) -> torch.Tensor:
    """Gatys et al. eq. 4-5: ``sum_l w_l * 1/4 * sum (G_l - A_l)^2`` per image, averaged over the batch.

    ``target_grams`` holds the style image's :func:`gram_matrix` per layer, ``(1 or B, C, C)``;
    ``layer_weights`` defaults to the paper's five layers with ``w_l = 1/5``. Layers with weight 0 are
    skipped. A scalar float32 tensor; 0 exactly when every weighted Gram matrix matches.
    """
    weights = dict(GATYS_STYLE_WEIGHTS if layer_weights is None else layer_weights)
    missing = [layer for layer, w in weights.items() if w and (layer not in features or layer not in target_grams)]
    if missing:
        raise KeyError(f"style layers {missing} are missing from the features or the target Gram matrices: "
                       "compute both with the same VGGFeatures layers.")
    loss = torch.zeros((), dtype=torch.float32, device=next(iter(features.values())).device)
    for layer, weight in weights.items():
        if weight:
            diff = gram_matrix(features[layer]) - target_grams[layer].float()
            loss = loss + weight * 0.25 * diff.pow(2).sum(dim=(1, 2)).mean()
    return loss


def stained_glass(side: int, cell: int = 16, line: float = 2.0, seed: int = 0) -> torch.Tensor:
    """A generated style image with visible structure: ``(3, side, side)`` RGB in ``[0, 1]``.

    Voronoi cells around one random point per ``cell x cell`` block (so about ``cell`` px across), each filled
    with one saturated colour of random hue, separated by dark "lead" lines about ``line`` px wide (the pixels
    whose two nearest points are less than ``line`` px apart in distance). Deterministic given ``seed``.
    """
    if side < 1 or cell < 2 or line <= 0:
        raise ValueError(f"stained_glass needs side >= 1, cell >= 2 and line > 0, got side={side}, cell={cell}, "
                         f"line={line}.")
    gen = torch.Generator().manual_seed(seed)
    blocks = -(-side // cell)  # ceil: every block, and so every pixel, has a point near it
    n = blocks * blocks
    grid = torch.stack(torch.meshgrid(torch.arange(blocks), torch.arange(blocks), indexing="ij"), -1).reshape(n, 2)
    points = (grid + torch.rand(n, 2, generator=gen)) * cell
    colours = torch.tensor([colorsys.hsv_to_rgb(float(h), 0.75, 0.9) for h in torch.rand(n, generator=gen)])
    centres = torch.arange(side) + 0.5
    pixels = torch.stack(torch.meshgrid(centres, centres, indexing="ij"), -1).reshape(side * side, 2)
    chunk = max(1, 2**22 // n)  # pixels per chunk: a (chunk, n) distance matrix of at most 4M entries
    img = torch.empty(side * side, 3)
    for start in range(0, side * side, chunk):
        nearest = torch.cdist(pixels[start:start + chunk], points).topk(2, dim=1, largest=False)
        lead = (nearest.values[:, 1] - nearest.values[:, 0]) < line
        img[start:start + chunk] = torch.where(lead[:, None], torch.full((3,), 0.08), colours[nearest.indices[:, 0]])
    return img.T.reshape(3, side, side).contiguous()


def match_histograms(img: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """``img`` ``(B, 3, H, W)`` recoloured so that each channel's histogram is ``reference``'s (``(1 or B, 3, H',
    W')``, any size), in ``[0, 1]``: every pixel keeps its rank in its channel, so the photo's structure stays and
    only its colours move (scikit-image's ``match_histograms`` per image)."""
    from skimage.exposure import match_histograms as skimage_match

    if img.ndim != 4 or reference.ndim != 4 or img.shape[1] != 3 or reference.shape[1] != 3 \
            or reference.shape[0] not in (1, img.shape[0]):
        raise ValueError(f"match_histograms expects (B, 3, H, W) images and a (1 or B, 3, H, W) reference, got "
                         f"{tuple(img.shape)} and {tuple(reference.shape)}: add a batch dimension with x[None].")
    refs = reference.expand(img.shape[0], -1, -1, -1)
    out = [skimage_match(x.detach().float().cpu().numpy(), r.detach().float().cpu().numpy(), channel_axis=0)
           for x, r in zip(img, refs)]
    return torch.from_numpy(np.stack(out)).to(img.device, torch.float32).clamp(0, 1)
