"""Slider callbacks that keep training a model of a notebook (the interactive part of notebooks 02 and 03).

A :class:`helpers.widgets.LossWeightPanel` calls them with the slider values; they train, score and draw.
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping

import matplotlib.pyplot as plt
import torch
import torch.nn as nn

from . import metrics
from .degrade import upsample
from .evaluation import evaluate
from .losses import SRLoss
from .plots import show_grid
from .results import History
from .train import TrainingDiverged, train_upscaler
from .widgets import LossWeightPanel, Slider


class FineTunePlayground:
    """The callback of a :class:`helpers.LossWeightPanel`: keep training a *copy* of ``model`` (its own Adam,
    the given crop stream, a copy of ``history`` so the step count goes on) with the slider weights
    ``{"pixel", "perceptual", "TV"}``, then print the held-out metrics and show bicubic | current | HR
    for the first ``n_show`` images; returns the metrics row. Weights it cannot train with (all 0, a
    perceptual weight without ``perceptual_loss``, a NaN) are reported in a printed line and return ``None``,
    so the panel stays usable. Set ``use_l1 = True`` for an L1 instead of an MSE pixel term."""

    def __init__(self, model: nn.Module, history: History, crops: Iterator[tuple[torch.Tensor, torch.Tensor]],
                 val: tuple[torch.Tensor, torch.Tensor], scale: int, perceptual_loss: Callable | None,
                 distance: metrics.VGGDistance | None = None, lpips_metric: metrics.LPIPSMetric | None = None,
                 lr: float = 1e-3, n_show: int = 2):
        self.model = copy.deepcopy(model)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=lr)
        self.crops, self.history = crops, copy.deepcopy(history)
        self.val, self.scale, self.perceptual_loss = val, scale, perceptual_loss
        self.distance, self.lpips_metric, self.n_show = distance, lpips_metric, n_show
        self.bicubic = upsample(val[0], scale)
        self.use_l1 = False

    def __call__(self, weights: Mapping[str, float], n_steps: int) -> dict[str, float | str] | None:
        try:
            loss = SRLoss(pixel=weights["pixel"], perceptual=weights["perceptual"], tv=weights["TV"],
                          pixel_kind="l1" if self.use_l1 else "mse", perceptual_loss=self.perceptual_loss)
            self.history = train_upscaler(self.model, loss, self.crops, n_steps, self.optimizer,
                                          history=self.history, desc="fine-tune")
        except (ValueError, TrainingDiverged) as err:  # e.g. all weights 0: say so instead of crashing the panel
            print("cannot train with these weights:", err)
            return None
        row, img = evaluate(self.model, self.val[0], self.val[1], self.scale, self.distance, self.lpips_metric)
        shown = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}
        print(f"after {int(self.history.last('step'))} steps in total ({n_steps} now, weights {dict(weights)}):", shown)
        k = self.n_show
        show_grid({"bicubic": self.bicubic[:k], "current model": img[:k], "HR": self.val[1][:k]},
                  zoom=(0.4, 0.4, 0.22), panel_size=2.2)
        plt.show()
        return row

    def panel(self, steps: int, max_steps: int = 500) -> LossWeightPanel:
        """Sliders for the three weights (pixel 0.05, perceptual 1.0, TV 0.0 to start) calling this playground."""
        return LossWeightPanel({"pixel": Slider(0.05, 0.0, 1.0, 0.01), "perceptual": Slider(1.0, 0.0, 2.0, 0.05),
                                "TV": Slider(0.0, 0.0, 0.2, 0.005)}, self, steps=steps, max_steps=max_steps)
