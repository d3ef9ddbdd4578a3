"""helpers.reference_targets: issue 17's targets, measured from the reference files' meta and bicubic."""
import pytest
import torch

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
    assert [r.what for r in rows] == [
        "4x pixel-loss model: PSNR-Y gain over bicubic on notebooks 02-04's held-out crops (dB) >= 1.5",
        "4x pixel-loss model: PSNR-Y gain over bicubic on notebook 11's whole held-out photos (dB) >= 1.2",
        "2x pixel-loss model: PSNR-Y gain over bicubic on notebooks 02-04's held-out crops (dB) >= 1.5"]
    assert [r.detail for r in rows] == ["28.60 vs bicubic 27.00", "29.30 vs bicubic 28.00", "32.40 vs bicubic 31.00"]


def test_a_scale_without_models_is_skipped_not_the_rest(bicubic):
    rows = T.content_targets({"two": _meta(2, crops=32.4, **{"PSNR-Y": 33.0})})
    assert [(r.model, r.what[:2]) for r in rows] == [("two", "2x")]


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
    assert all(r.at_most and r.model == T.ADVERSARIAL for r in rows.values())
    assert [r.threshold for r in rows.values()] == [T.MAX_PSNR_COST, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert [r.detail for r in rows.values()] == [
        "x4_wgan vs start: 28.50 vs 29.50", "x4_wgan vs start: 11.00 vs 12.00", "x4_wgan vs start: 70.0 vs 60.0",
        "x4_wgan vs bicubic: 70.0 vs 100.0", "x4_wgan vs start + noise: 70.0 vs 65.0",
        "x4_wgan vs start: HF ratio 2.00 vs 0.25"]


def test_without_the_adversarial_model_there_are_no_adversarial_targets(bicubic):
    assert T.adversarial_targets({"x4_mse": _meta(4, crops=28.0)}) == []


def test_the_targets_are_the_issues():
    assert T.PSNR_GAIN == {("crops", 4): 1.5, ("photos", 4): 1.2, ("crops", 2): 1.5} and T.MAX_PSNR_COST == 2.5
    assert T.ADVERSARIAL == "x4_wgan"  # the WGAN-GP fine-tune with course doc 000's losses


def test_the_table_is_read_from_the_files_in_root(tmp_path, bicubic):
    torch.save({"meta": _meta(4, crops=28.6, **{"PSNR-Y": 29.3})}, tmp_path / "a.pt")
    torch.save({"meta": _meta(2, crops=30.0, **{"PSNR-Y": 31.0})}, tmp_path / "two.pt")
    (tmp_path / "notes.txt").write_text("not a model")
    assert T.table(tmp_path).split("\n") == [
        "| target | model | measured | from | met |", "|---|---|---|---|---|",
        "| 4x pixel-loss model: PSNR-Y gain over bicubic on notebooks 02-04's held-out crops (dB) >= 1.5 | `a` | "
        "+1.60 | 28.60 vs bicubic 27.00 | yes |",
        "| 4x pixel-loss model: PSNR-Y gain over bicubic on notebook 11's whole held-out photos (dB) >= 1.2 | `a` | "
        "+1.30 | 29.30 vs bicubic 28.00 | yes |",
        "| 2x pixel-loss model: PSNR-Y gain over bicubic on notebooks 02-04's held-out crops (dB) >= 1.5 | `two` | "
        "-1.00 | 30.00 vs bicubic 31.00 | no |"]


def test_the_noise_control_pairs_one_generator_with_the_photos_in_order(monkeypatch):
    """The control is the start's upscale plus matched noise, one generator seeded once across the photos in order
    (notebook 04's convention), the SWD averaged over the photos."""
    g = torch.Generator().manual_seed(3)
    photos = {"a": torch.rand(3, 66, 70, generator=g), "b": torch.rand(3, 64, 64, generator=g)}
    model = torch.nn.Sequential(torch.nn.Upsample(scale_factor=4, mode="nearest"), torch.nn.Conv2d(3, 3, 1))
    torch.nn.init.eye_(model[1].weight.view(3, 3))
    torch.nn.init.zeros_(model[1].bias)
    monkeypatch.setattr(T.data, "sample_images", lambda split: photos if split == "val" else {})
    monkeypatch.setattr(T, "load_upscaler", lambda path: type("LM", (), {"model": model})())
    gen, expected = torch.Generator().manual_seed(0), []
    for hr in photos.values():
        hr = hr[:, :64, :68][None]  # cropped to a multiple of 4
        sr = T.super_resolve(model, T.bicubic_down(hr, 4))
        expected.append(float(T.perception.laplacian_swd(T.perception.noise_matched(sr, hr, 4, gen), hr)[0]))
    path = T.REFERENCE_DIR / "start.pt"
    assert T.noise_control_swd(path, 4) == pytest.approx(sum(expected) / 2, rel=1e-5)
    assert T.noise_control_swd(path, 4, seed=1) != pytest.approx(sum(expected) / 2, rel=1e-5)


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
