"""A reusable panel of loss-weight sliders with a "train N steps" button and an output area.

The panel only collects values and calls a **plain function** ``callback(weights: dict, steps: int)`` that the
notebook passes in; whatever the callback displays lands in the panel's output area. Tests and headless runs
(papermill, nbval) call :meth:`LossWeightPanel.run` directly; a notebook calls it once with the defaults so
its batch run shows the result without a browser. Only core widgets common to ipywidgets 7 (Colab) and 8.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import ipywidgets as W


@dataclass(frozen=True)
class Slider:
    """One weight: default value and range. ``log=True`` gives a logarithmic slider (``min``/``max`` as
    values; the slider moves in powers of ten)."""

    value: float
    min: float
    max: float
    step: float = 0.01
    log: bool = False


class LossWeightPanel:
    """Sliders for named weights, a steps slider, a button and an output area.

    ``callback(weights, steps)`` receives ``{name: value}`` and the number of steps to train.
    """

    def __init__(self, sliders: Mapping[str, Slider], callback: Callable[[dict[str, float], int], None],
                 steps: int = 20, max_steps: int = 500, button_text: str = "train N steps"):
        self.callback = callback
        self.sliders: dict[str, W.Widget] = {}
        for name, s in sliders.items():
            if s.log:
                widget = W.FloatLogSlider(value=s.value, base=10, min=math.log10(s.min), max=math.log10(s.max),
                                          step=s.step, description=name, continuous_update=False)
            else:
                widget = W.FloatSlider(value=s.value, min=s.min, max=s.max, step=s.step, description=name,
                                       continuous_update=False)
            self.sliders[name] = widget
        self.steps = W.IntSlider(value=steps, min=0, max=max_steps, step=max(1, steps // 4 or 1),
                                 description="N steps", continuous_update=False)
        self.button = W.Button(description=button_text, button_style="primary")
        self.output = W.Output()
        self.button.on_click(lambda _: self.run())
        self.widget = W.VBox([*self.sliders.values(), W.HBox([self.steps, self.button]), self.output])

    def values(self) -> dict[str, float]:
        """The sliders' current values."""
        return {name: float(w.value) for name, w in self.sliders.items()}

    def run(self, inline: bool = False) -> None:
        """Call the callback with the current values.

        Its displays replace the output area's content, or, with ``inline=True`` (the notebooks' one call
        with the defaults), go to the calling cell's own output, which static viewers and nbval see.
        """
        if inline:
            self.callback(self.values(), int(self.steps.value))
            return
        self.output.clear_output(wait=True)
        with self.output:
            self.callback(self.values(), int(self.steps.value))

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
