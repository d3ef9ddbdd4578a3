import json
from datetime import datetime, timezone

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from helpers import plots, report, results, widgets

matplotlib.use("Agg")


def test_panel_calls_the_plain_callback_with_slider_values():
    calls = []
    sliders = {"mse": widgets.Slider(1.0, 0, 2), "perc": widgets.Slider(0.1, 1e-3, 10, 0.1, log=True)}
    panel = widgets.LossWeightPanel(sliders, lambda w, n: calls.append((w, n)), steps=8)
    assert panel.values() == pytest.approx({"mse": 1.0, "perc": 0.1})
    panel.run(inline=True)
    panel.sliders["mse"].value = 0.5
    panel.steps.value = 4
    panel.button.click()
    assert calls[0] == (pytest.approx({"mse": 1.0, "perc": 0.1}), 8)
    assert calls[1] == (pytest.approx({"mse": 0.5, "perc": 0.1}), 4)
    assert type(panel.sliders["perc"]).__name__ == "FloatLogSlider"



def _png_bytes(rgb: tuple[int, int, int], size: tuple[int, int] = (5, 3)) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, rgb).save(buf, format="PNG")
    return buf.getvalue()


def test_uploaded_files_reads_ipywidgets_7_and_8_values():
    v8 = ({"name": "a.png", "type": "image/png", "size": 3, "content": memoryview(b"abc")},)
    v7 = {"b.png": {"metadata": {"name": "b.png"}, "content": b"xyz"}}
    assert widgets.uploaded_files(v8) == [("a.png", b"abc")]
    assert widgets.uploaded_files(v7) == [("b.png", b"xyz")]
    assert widgets.uploaded_files(()) == []


def test_image_upload_decodes_and_reports_bad_files(capsys):
    got = []
    upload = widgets.ImageUpload(lambda img, name: got.append((img, name)))
    upload.show([("red.png", _png_bytes((255, 0, 0))), ("notes.txt", b"not an image")])
    assert [name for _, name in got] == ["red.png"]
    img = got[0][0]
    assert img.shape == (3, 3, 5)
    assert img[:, 0, 0].tolist() == [1.0, 0.0, 0.0]
    blue = {"name": "blue.png", "type": "image/png", "size": 1, "last_modified": datetime.now(timezone.utc),
            "content": memoryview(_png_bytes((0, 0, 255)))}
    upload.upload.value = (blue,)
    assert got[-1][1] == "blue.png" and got[-1][0][:, 1, 2].tolist() == [0.0, 0.0, 1.0]


def test_show_grid_layout_and_captions():
    cols = {"LR": torch.rand(2, 3, 8, 8), "SR": torch.rand(2, 3, 16, 16), "HR": torch.rand(2, 3, 16, 16)}
    fig = plots.show_grid(cols, captions={"SR": ["a", "b"]}, title="t")
    assert len(fig.axes) == 2 * 2 * 3
    assert fig.axes[3 + 1].get_xlabel() == "" and fig.axes[1].get_xlabel() == "a"
    fig = plots.show_grid(cols, zoom=None)
    assert len(fig.axes) == 2 * 3
    assert plots.to_numpy(torch.rand(3, 4, 5)).shape == (4, 5, 3)
    assert plots.to_numpy(torch.rand(1, 4, 5)).shape == (4, 5)


def test_plot_curves_and_save(tmp_path):
    h = results.History()
    for i in range(3):
        h.log(i, loss=1 / (i + 1), psnr=20 + i)
    fig = plots.plot_curves({"a": h}, ["loss", "psnr"], logy=["loss"])
    assert fig.axes[0].get_yscale() == "log" and len(fig.axes[1].lines) == 1
    assert plots.save_figure(fig, tmp_path, "curves").exists()


def test_perception_distortion_plane_places_points_and_path():
    pts = {"bicubic": (27.0, 0.1), "MSE": (28.5, 0.2), "GAN": (26.0, 0.9), "mix": (27.5, 0.5)}
    fig = plots.plot_perception_distortion(pts, "HF ratio", "t", hr_value=1.0, path=["MSE", "mix", "GAN"])
    ax = fig.axes[0]
    assert ax.get_xlabel() == "HF ratio" and ax.get_ylabel().startswith("PSNR-Y")
    offsets = [tuple(c.get_offsets()[0]) for c in ax.collections]
    assert offsets == [(0.1, 27.0), (0.2, 28.5), (0.9, 26.0), (0.5, 27.5)]  # x = perception, y = PSNR
    path, hr_line = ax.lines
    assert list(path.get_xdata()) == [0.2, 0.5, 0.9] and list(path.get_ydata()) == [28.5, 27.5, 26.0]
    assert list(hr_line.get_xdata()) == [1.0, 1.0]
    assert [t.get_text() for t in ax.texts] == ["HR", "bicubic", "MSE", "GAN", "mix"]
    with pytest.raises(ValueError, match="not among the points"):
        plots.plot_perception_distortion(pts, "x", "t", path=["MSE", "nope"])


def test_perception_distortion_labels_do_not_overlap():
    """A cluster like 03's plane (two pairs of points almost on top of each other): every label finds its own room."""
    pts = {"bicubic": (27.4, 104.0), "PixelShuffle MSE": (28.6, 63.0), "PixelShuffle perceptual": (26.15, 72.0),
           "PixelShuffle MSE + noise": (26.1, 53.0), "course MSE": (25.57, 124.0),
           "course MSE before training": (25.54, 151.0), "course MSE at equal MACs": (25.22, 157.0),
           "course perceptual": (25.21, 185.0)}
    fig = plots.plot_perception_distortion(pts, "SWD", "t", hr_value=0.0)
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ax.texts if t.get_text() != "HR"]
    assert len(boxes) == len(pts)
    for i, a in enumerate(boxes):
        assert all(plots._overlap(a, b) == 0 for b in boxes[i + 1:]), [t.get_text() for t in ax.texts]
    inside = ax.get_window_extent(renderer)
    assert all(plots._overlap(b, inside) == b.width * b.height for b in boxes)  # every label inside the axes
    plt.close(fig)


def test_labels_pushed_far_from_their_point_get_a_leader_line_and_near_ones_do_not():
    """Nine models on one spot (11's 4x plane at its worst): the outer ring is used, and only there a line joins a
    label to its point."""
    pts = {f"model {i}": (28.0 + 0.01 * i, 60.0 + 0.1 * i) for i in range(9)} | {"far": (24.0, 150.0)}
    fig = plots.plot_perception_distortion(pts, "SWD", "t")
    notes = [t for t in fig.axes[0].texts if t.get_text() in pts]
    far = [n for n in notes if np.hypot(*n.xyann) >= plots.LEADER_FROM_PT]
    assert far, [n.xyann for n in notes]
    assert all((n.arrow_patch is not None) == (n in far) for n in notes)
    assert next(n for n in notes if n.get_text() == "model 0").arrow_patch is None  # the first takes (5, 2)
    plt.close(fig)


def test_overlap_is_the_shared_area():
    from matplotlib.transforms import Bbox
    a, b = Bbox.from_extents(0, 0, 4, 3), Bbox.from_extents(2, 1, 10, 10)
    assert plots._overlap(a, b) == 4.0 and plots._overlap(b, a) == 4.0
    assert plots._overlap(a, Bbox.from_extents(5, 5, 6, 6)) == 0.0


def test_metrics_file_merges(tmp_path):
    results.write_metrics(tmp_path, a=1, table={"x": {"PSNR": torch.tensor(2.5)}})
    results.write_metrics(tmp_path, b="z")
    data = json.loads((tmp_path / "metrics.json").read_text())
    assert data == {"a": 1, "b": "z", "table": {"x": {"PSNR": 2.5}}}
    assert results.read_metrics(tmp_path / "none") == {}


def test_report_references_existing_images(tmp_path):
    from html.parser import HTMLParser

    nb = tmp_path / "01_x"
    nb.mkdir()
    (nb / "grid.png").write_bytes(b"png")
    results.write_metrics(nb, key_figure="grid.png", profile="smoke", table={"bicubic": {"PSNR-Y": 30.0}})
    path = report.build_report(tmp_path, [{"name": "01_x", "seconds": 3.0, "status": "ok",
                                           "metrics": results.read_metrics(nb)}])

    class Images(HTMLParser):
        srcs: list = []

        def handle_starttag(self, tag, attrs):
            if tag == "img":
                self.srcs.append(dict(attrs)["src"])
    parser = Images()
    parser.feed(path.read_text())
    assert parser.srcs == ["01_x/grid.png"] and all((tmp_path / s).exists() for s in parser.srcs)
    assert "30" in path.read_text() and "bicubic" in path.read_text()
