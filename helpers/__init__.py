"""Shared plumbing of the srgan-notebooks series. Each module's docstring says which notebook introduced it.

Layers (:data:`LAYERS`; a module imports only from layers above its own, ``tests/test_layers.py`` checks it
against the real imports)::

    config -> degrade -> data, results -> features, claims, package_photos -> metrics -> models, losses, perception
    -> inference, digit_scores, style_transfer, textures -> evaluation -> train -> wgan_gp, gan_training, translation
    -> plots, widgets -> playground, notebook -> report, upscale, sample -> reference_store
    -> reference_cycle, reference_targets -> run, reference

The names below are imported on first use (an explicit table, no scanning), so ``python -m helpers.upscale``
loads neither matplotlib nor ipywidgets.
"""
from __future__ import annotations

import importlib
from typing import Any

#: The import layers, top (ground) to bottom (faces). ``models`` is the package ``helpers.models``.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("config",),
    ("degrade",),
    ("data", "results"),
    ("features", "claims", "package_photos"),
    ("metrics",),
    ("models", "losses", "perception"),
    ("inference", "digit_scores", "style_transfer", "textures"),
    ("evaluation",),
    ("train",),
    ("wgan_gp", "gan_training", "translation"),
    ("plots", "widgets"),
    ("playground", "notebook"),
    ("report", "upscale", "sample"),
    ("reference_store",),
    ("reference_cycle", "reference_targets"),
    ("run", "reference"),
)

_EXPORTS = {
    "config": ("Profile", "autocast", "cache_dir", "get_profile", "output_dir", "pick_device", "seed_everything",
               "to_channels_last"),
    "data": ("RandomCrops", "center_crop", "load_image", "mod_crop", "sample_images", "save_image",
             "validation_pairs"),
    "degrade": ("bicubic_down", "upsample"),
    "results": ("History", "write_metrics"),
    "features": ("HEDEdges", "VGGFeatures", "load_vgg_weights"),
    "losses": ("GANLoss", "SRLoss", "VGGPerceptualLoss", "gradient_penalty", "tv_loss"),
    "metrics": ("LPIPSMetric", "VGGDistance", "psnr", "rgb_to_y", "sr_metrics", "ssim"),
    "models.registry": ("count_parameters",),
    "inference": ("Checkpoint", "load_upscaler", "super_resolve"),
    "train": ("TrainingDiverged", "check_finite", "progress"),
    "plots": ("plot_curves", "save_figure", "show_grid"),
    "widgets": ("ImageUpload", "LossWeightPanel", "Slider"),
    "notebook": ("setup",),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'helpers' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
