"""helpers.sr: the loss mix, training loop bookkeeping, evaluation and checkpoint loading, on tiny tensors."""
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from helpers import metrics
from helpers.models.upscalers import PixelShuffleUpscaler
from helpers.sr import SRLoss, evaluate, load_upscaler, super_resolve, train_upscaler
from helpers.train import Checkpoint, TrainingDiverged


def fixed_pair():
    sr = torch.zeros(1, 3, 4, 4)
    hr = torch.zeros(1, 3, 4, 4)
    hr[..., 0, :] = 0.5  # top row differs by 0.5
    return sr, hr


def test_srloss_pixel_terms_by_hand():
    sr, hr = fixed_pair()
    assert math.isclose(float(SRLoss(pixel=1.0)(sr, hr)), 0.25 / 4)        # MSE: 0.5^2 on 1/4 of the pixels
    assert math.isclose(float(SRLoss(pixel=2.0, pixel_kind="l1")(sr, hr)), 2 * 0.5 / 4)


def test_srloss_tv_and_perceptual_terms_and_log():
    sr, hr = fixed_pair()
    fake_perc = lambda a, b: (a - b).abs().sum()  # noqa: E731
    loss = SRLoss(pixel=1.0, perceptual=0.5, tv=3.0, perceptual_loss=fake_perc)
    total = float(loss(hr, sr))  # tv of hr: vertical step 0.5 between rows 0 and 1, on 4 of 12 pairs
    tv = 0.5 * 4 / 12
    assert math.isclose(loss.terms["tv"], tv, rel_tol=1e-6)
    assert math.isclose(loss.terms["perceptual"], 0.5 * 12)
    assert math.isclose(total, 0.0625 + 0.5 * 6 + 3.0 * tv, rel_tol=1e-6)
    assert set(loss.terms) == {"mse", "perceptual", "tv"}
    only_pixel = SRLoss(pixel=1.0)
    only_pixel(sr, hr)
    assert set(only_pixel.terms) == {"mse"}


def test_srloss_bad_arguments():
    with pytest.raises(ValueError, match="perceptual_loss"):
        SRLoss(pixel=0.0, perceptual=1.0)
    with pytest.raises(ValueError, match="All loss weights"):
        SRLoss(pixel=0.0)
    with pytest.raises(ValueError, match=">= 0"):
        SRLoss(pixel=-1.0)
    with pytest.raises(ValueError, match="mse"):
        SRLoss(pixel_kind="l2")


class Crops:
    """Endless identical batches: LR 8x8, HR 16x16."""

    def __init__(self):
        g = torch.Generator().manual_seed(0)
        self.hr = torch.rand(2, 3, 16, 16, generator=g)
        self.lr = F.avg_pool2d(self.hr, 2)

    def __next__(self):
        return self.lr, self.hr


def test_train_upscaler_history_and_clocks():
    model = PixelShuffleUpscaler(2, channels=8, n_blocks=1)
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    crops = Crops()
    hist = train_upscaler(model, SRLoss(), crops, 4, opt, val=(crops.lr, crops.hr), scale=2, eval_every=2,
                          use_amp=False)
    evals = [r for r in hist.records if "PSNR-Y" in r]
    assert [r["step"] for r in evals] == [0, 2, 4]
    assert [r["step"] for r in hist.records if "loss" in r] == [1, 2, 3, 4]
    assert evals[0]["train_s"] == 0 and evals[-1]["train_s"] > evals[1]["train_s"] > 0
    assert all("mse" in r for r in hist.records if "loss" in r)
    assert evals[-1]["PSNR-Y"] > evals[0]["PSNR-Y"]  # it learns
    hist = train_upscaler(model, SRLoss(), crops, 3, opt, val=(crops.lr, crops.hr), scale=2, eval_every=2,
                          history=hist, use_amp=False)
    assert [r["step"] for r in hist.records if "PSNR-Y" in r] == [0, 2, 4, 6, 7]
    assert hist.last("cpu_s") >= evals[-1]["cpu_s"]


def test_train_upscaler_nan_guard_and_arguments():
    model = PixelShuffleUpscaler(2, channels=4, n_blocks=0)
    opt = torch.optim.SGD(model.parameters(), 0.1)
    with pytest.raises(TrainingDiverged, match="step 1"):
        train_upscaler(model, lambda sr, hr: (sr * float("nan")).mean(), Crops(), 2, opt, use_amp=False)
    with pytest.raises(ValueError, match="val"):
        train_upscaler(model, SRLoss(), Crops(), 1, opt, eval_every=1)
    with pytest.raises(ValueError, match="steps"):
        train_upscaler(model, SRLoss(), Crops(), -1, opt)


def test_evaluate_bicubic_model_equals_bicubic_metrics():
    crops = Crops()
    model = PixelShuffleUpscaler(2, channels=4, n_blocks=0)  # untrained = bicubic
    row, sr = evaluate(model, crops.lr, crops.hr, 2, use_amp=False)
    bic = F.interpolate(crops.lr, scale_factor=2, mode="bicubic").clamp(0, 1)
    assert torch.allclose(sr, bic)
    assert math.isclose(row["PSNR-Y"], float(metrics.psnr(bic, crops.hr, 2, y_channel=True).mean()), rel_tol=1e-6)
    assert math.isclose(row["MSE"], float(metrics.mse(bic, crops.hr).mean()), rel_tol=1e-6)
    with pytest.raises(ValueError, match="2x model"):
        evaluate(PixelShuffleUpscaler(4, 4, 0), crops.lr, crops.hr, 2, use_amp=False)


def test_super_resolve_restores_mode_and_uses_running_stats():
    model = nn.Sequential(nn.BatchNorm2d(3), nn.Upsample(scale_factor=2))
    model.train()
    x = torch.rand(4, 3, 4, 4) * 5 + 3
    y = super_resolve(model, x, batch_size=3, use_amp=False)
    assert model.training and y.shape == (4, 3, 8, 8)
    assert torch.allclose(y, F.interpolate(x, scale_factor=2).clamp(0, 1), atol=1e-4)  # running stats: identity
    with pytest.raises(ValueError, match="LR images"):
        super_resolve(model, torch.rand(3, 4, 4))


def test_load_upscaler_roundtrip(tmp_path):
    model = PixelShuffleUpscaler(3, channels=4, n_blocks=1)
    with torch.no_grad():
        model.tail.bias.fill_(0.25)
    meta = {"architecture": "PixelShuffleUpscaler", "kwargs": {"scale": 3, "channels": 4, "n_blocks": 1}}
    path = Checkpoint(tmp_path / "m.pt", meta).save(5, {"model": model})
    loaded, got = load_upscaler(path)
    assert got == meta and not loaded.training
    x = torch.rand(1, 3, 5, 5)
    assert torch.allclose(loaded(x), model(x))
    Checkpoint(tmp_path / "bad.pt", {"x": 1}).save(0, {"other": model})
    with pytest.raises(ValueError, match="not an upscaler checkpoint"):
        load_upscaler(tmp_path / "bad.pt")
