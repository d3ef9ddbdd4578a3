"""A reusable panel of loss-weight sliders with a "train N steps" button and an output area, and an image
upload button.

The panel only collects values and calls a **plain function** ``callback(weights: dict, steps: int)`` that the
notebook passes in; whatever the callback displays lands in the panel's output area. Tests and headless runs
(papermill, nbval) call :meth:`LossWeightPanel.run` directly; a notebook calls it once with the defaults so
its batch run shows the result without a browser. :class:`ImageUpload` decodes an uploaded photo and hands
it to a plain function the same way (notebooks 09 and 11). Only core widgets common to ipywidgets 7 (Colab)
and 8.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import ipywidgets as W
import torch

from .data import decode_image


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


def uploaded_files(value: object) -> list[tuple[str, bytes]]:
    """``(file name, bytes)`` of each file in a ``FileUpload``'s value.

    ipywidgets 8 gives a tuple of dicts with ``name`` and ``content``; ipywidgets 7 (Colab) a dict
    ``{name: {"metadata": ..., "content": ...}}``. Both are read here.
    """
    if isinstance(value, Mapping):
        return [(str(name), bytes(item["content"])) for name, item in value.items()]
    return [(str(item["name"]), bytes(item["content"])) for item in value]


class ImageUpload:
    """An upload button for one image and an output area.

    ``on_image(img, name)`` receives each uploaded file decoded to ``(3, H, W)`` float RGB in ``[0, 1]``;
    whatever it displays lands in the output area. A file that is not an image prints what to do instead.
    Headless runs call :meth:`show` with ``[(name, bytes)]`` directly.
    """

    def __init__(self, on_image: Callable[[torch.Tensor, str], None], description: str = "upload an image"):
        self.on_image = on_image
        self.upload = W.FileUpload(accept="image/*", multiple=False, description=description)
        self.output = W.Output()
        self.upload.observe(lambda change: self.show(uploaded_files(change["new"])), names="value")
        self.widget = W.VBox([self.upload, self.output])

    def show(self, files: list[tuple[str, bytes]]) -> None:
        """Decode each ``(name, bytes)`` and call ``on_image``; the output area shows the results."""
        self.output.clear_output(wait=True)
        with self.output:
            for name, data in files:
                try:
                    img = decode_image(data, name)
                except ValueError as err:
                    print(err)
                    continue
                self.on_image(img, name)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
