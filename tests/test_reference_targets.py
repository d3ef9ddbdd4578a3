"""helpers.reference_targets: issue 17's targets, measured from the reference files' meta and bicubic."""
import pytest

from helpers import reference_targets as T
from helpers.config import PROJECT_ROOT


def _meta(scale, trainer="content", perceptual=0.0, init=None, crops=None, **photos):
    return {"scale": scale, "reference": {"trainer": trainer, "perceptual": perceptual, "init": init},
            "held_out_crops": {"PSNR-Y": crops}, "held_out_photos": {"mean": photos}}


@pytest.fixture
def bicubic(monkeypatch):
    monkeypatch.setattr(T, "bicubic_crops", lambda scale: {4: 27.0, 2: 31.0}[scale])
    monkeypatch.setattr(T, "bicubic_photos", lambda scale: {"PSNR-Y": 28.0, "SWD": 100.0, "HF ratio": 0.05,
                                                            "checkerboard": 1.0})
    monkeypatch.setattr(T, "noise_control_swd", lambda path, scale: {"start.pt": 65.0}[path.name])


def test_met_is_at_least_or_at_most_the_threshold_inclusive():
    assert T.Target("", "m", 1.5, 1.5, False, "").met and not T.Target("", "m", 1.49, 1.5, False, "").met
    assert T.Target("", "m", 0.0, 0.0, True, "").met and not T.Target("", "m", 0.01, 0.0, True, "").met


def test_the_best_pixel_loss_model_per_scale_is_measured_against_bicubic(bicubic):
    metas = {"a": _meta(4, crops=28.6, **{"PSNR-Y": 29.3}), "b": _meta(4, crops=28.4, **{"PSNR-Y": 29.1}),
             "perc": _meta(4, perceptual=1.0, crops=30.0, **{"PSNR-Y": 30.0}),
             "gan": _meta(4, trainer="critic", crops=30.0, **{"PSNR-Y": 30.0}),
             "two": _meta(2, crops=32.4, **{"PSNR-Y": 33.0})}
    rows = T.content_targets(metas)
    assert [(r.model, round(r.measured, 6), r.threshold, r.met) for r in rows] == [
        ("a", 1.6, 1.5, True), ("a", 1.3, 1.2, True), ("two", 1.4, 1.5, False)]
    assert "crops" in rows[0].what and "whole held-out photos" in rows[1].what and rows[2].what.startswith("2x")
    assert rows[0].detail == "28.60 vs bicubic 27.00"


def test_the_adversarial_model_is_measured_against_its_start_and_bicubic(bicubic):
    start = _meta(4, crops=28.0, **{"PSNR-Y": 29.5, "SWD": 60.0, "HF ratio": 0.25, "checkerboard": 12.0})
    adv = _meta(4, trainer="critic", perceptual=1.0, init="start", crops=27.0,
                **{"PSNR-Y": 28.5, "SWD": 70.0, "HF ratio": 2.0, "checkerboard": 11.0})
    rows = {r.what.split(" (")[0]: r for r in T.adversarial_targets({"start": start, T.ADVERSARIAL: adv})}
    cost = rows["PSNR-Y cost of the adversarial fine-tune"]
    assert cost.measured == pytest.approx(1.0) and cost.threshold == T.MAX_PSNR_COST and cost.met
    assert rows["checkerboard score no higher than the content model's"].measured == pytest.approx(-1.0)
    swd = rows["Laplacian SWD below the content model's"]
    assert swd.measured == pytest.approx(10.0) and not swd.met
    assert rows["Laplacian SWD below bicubic's"].measured == pytest.approx(-30.0)
    noise = rows["Laplacian SWD below the content model's plus noise matched to HR's high-band power"]
    assert noise.measured == pytest.approx(5.0) and not noise.met
    hf = rows["high-band power nearer HR's than the content model's"]
    assert hf.measured == pytest.approx(1.0 - 2.0) and hf.met  # one octave above HR against two below


def test_without_the_adversarial_model_there_are_no_adversarial_targets(bicubic):
    assert T.adversarial_targets({"x4_mse": _meta(4, crops=28.0)}) == []


def test_the_targets_are_the_issues():
    assert T.PSNR_GAIN == {("crops", 4): 1.5, ("photos", 4): 1.2, ("crops", 2): 1.5} and T.MAX_PSNR_COST == 2.5


def test_bicubic_is_measured_on_the_held_out_crops_and_photos():
    assert T.bicubic_crops(4) == pytest.approx(27.358, abs=0.005)
    assert T.bicubic_crops(2) == pytest.approx(31.648, abs=0.005)
    assert T.bicubic_photos(4)["PSNR-Y"] == pytest.approx(28.37, abs=0.01)


def test_the_readme_carries_the_measured_targets():
    table = T.table()
    assert table in (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    assert table.count("\n") == 1 + 3 + 6


def test_the_noise_control_is_notebook_04s():
    """x4_mse plus matched noise (seed 0, photos in order) on the whole held-out photos: notebook 04's value."""
    assert T.noise_control_swd(PROJECT_ROOT / "reference" / "x4_mse.pt", 4) == pytest.approx(76.034, abs=0.01)
    assert T.noise_control_swd(PROJECT_ROOT / "reference" / "x4_mse.pt", 4, seed=1) != pytest.approx(76.034, abs=0.01)
