"""Slider callbacks that keep training a model of a notebook (the interactive part of notebooks 02 and 03).

A :class:`helpers.widgets.LossWeightPanel` calls them with the slider values; they train, score and draw. The
result is a small table (one row per press of the button), so static viewers show it as a table too.
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping

import matplotlib.pyplot as plt
import pandas as pd
import torch
import torch.nn as nn
from IPython.display import display

from . import metrics
from .degrade import upsample
from .evaluation import evaluate
from .losses import CONTENT_PIXEL_WEIGHT, SRLoss
from .plots import show_grid
from .results import History
from .train import TrainingDiverged, train_upscaler
from .widgets import LossWeightPanel, Slider


class FineTunePlayground:
    """The callback of a :class:`helpers.LossWeightPanel`: keep training a *copy* of ``model`` (its own Adam,
    the given crop stream, a copy of ``history`` so the step count goes on) with the slider weights
    ``{"pixel", "perceptual", "TV"}``, then display the held-out metrics of every press so far as a table
    (:meth:`table`: steps in total, the weights, the metrics row) and show bicubic | current | HR for the first
    ``n_show`` images; returns the metrics row. Weights it cannot train with (all 0, a
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
        self.rows: list[dict[str, float | str]] = []

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
        self.rows.append({"steps in total": int(self.history.last("step")), "steps now": n_steps,
                          "pixel": f"{weights['pixel']:g} ({'L1' if self.use_l1 else 'MSE'})",
                          "perceptual": weights["perceptual"], "TV": weights["TV"], **row})
        display(self.table().round(4))
        k = self.n_show
        show_grid({"bicubic": self.bicubic[:k], "current model": img[:k], "HR": self.val[1][:k]},
                  zoom=(0.4, 0.4, 0.22), panel_size=2.2)
        plt.show()
        return row

    def table(self) -> pd.DataFrame:
        """One row per press that trained, indexed by the steps in total: the steps of that press, the weights
        and the held-out metrics (:func:`helpers.evaluation.evaluate`'s row)."""
        frame = pd.DataFrame(self.rows)
        return frame.set_index("steps in total") if self.rows else frame

    def panel(self, steps: int, max_steps: int = 500) -> LossWeightPanel:
        """Sliders for the three weights calling this playground, starting at the efficient perceptual run's loss of
        notebooks 02 and 03 (pixel :data:`helpers.losses.CONTENT_PIXEL_WEIGHT` on a log slider from 1e-3, nearly
        none, to 1e3, nearly MSE alone; perceptual 1.0; TV 0.0)."""
        return LossWeightPanel({"pixel": Slider(CONTENT_PIXEL_WEIGHT, 1e-3, 1e3, 0.1, log=True),
                                "perceptual": Slider(1.0, 0.0, 2.0, 0.05),
                                "TV": Slider(0.0, 0.0, 0.2, 0.005)}, self, steps=steps, max_steps=max_steps)
