"""Shared plumbing of the srgan-notebooks series. Explicit imports only; each module's docstring says
which notebook introduced it. Layers (imports run downwards): config -> data, degrade -> features, metrics
-> models, losses -> train, plots, widgets -> run, report."""
from .config import Profile, cache_dir, get_profile, output_dir, pick_device, seed_everything
from .data import RandomCrops, center_crop, load_image, mod_crop, sample_images, save_image, validation_pairs
from .degrade import bicubic_down, upsample
from .features import HEDEdges, VGGFeatures, load_vgg_weights
from .losses import GANLoss, VGGPerceptualLoss, gradient_penalty, tv_loss
from .metrics import LPIPSMetric, VGGDistance, psnr, rgb_to_y, sr_metrics, ssim
from .plots import plot_curves, save_figure, show_grid
from .report import write_metrics
from .train import Checkpoint, History, TrainingDiverged, autocast, check_finite, progress, to_channels_last
from .widgets import ImageUpload, LossWeightPanel, Slider

__all__ = [
    "Checkpoint", "GANLoss", "HEDEdges", "History", "ImageUpload", "LPIPSMetric", "LossWeightPanel", "Profile",
    "RandomCrops", "Slider", "TrainingDiverged", "VGGDistance", "VGGFeatures", "VGGPerceptualLoss", "autocast",
    "bicubic_down", "cache_dir", "center_crop", "check_finite", "get_profile", "gradient_penalty", "load_image",
    "load_vgg_weights", "mod_crop", "output_dir", "pick_device", "plot_curves", "progress", "psnr", "rgb_to_y",
    "sample_images", "save_figure", "save_image", "seed_everything", "show_grid", "sr_metrics", "ssim",
    "to_channels_last", "tv_loss", "upsample", "validation_pairs", "write_metrics",
]
