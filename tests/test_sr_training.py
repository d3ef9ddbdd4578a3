"""SR training on tiny tensors: the loss mix (helpers.losses), the training loop bookkeeping (helpers.train),
evaluation and per-image scores (helpers.evaluation), checkpoints (helpers.inference), the plots and the playground."""
import math

import matplotlib.pyplot as plt
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from helpers import metrics
from helpers.evaluation import (
    batchnorm_check,
    bicubic_baseline,
    evaluate,
    per_image_scores,
    results_table,
)
from helpers.inference import SAVED_UPSCALERS, Checkpoint, load_upscaler, save_upscalers, super_resolve
from helpers.losses import CONTENT_PIXEL_WEIGHT, SRLoss, course_losses
from helpers.models.registry import macs_per_lr_pixel
from helpers.models.upscalers import PixelShuffleUpscaler, Upscale2x
from helpers.playground import FineTunePlayground
from helpers.plots import plot_curves_with_baseline, plot_psnr_per_cpu_second, plot_psnr_per_mac, sr_grid
from helpers.results import History
from helpers.train import TrainingDiverged, train_fixed_steps, train_for_cpu_budget, train_upscaler


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
    lm = load_upscaler(path)
    loaded, got = lm.model, lm.meta
    assert got == meta and not loaded.training
    x = torch.rand(1, 3, 5, 5)
    assert torch.allclose(loaded(x), model(x))
    Checkpoint(tmp_path / "bad.pt", {"x": 1}).save(0, {"other": model})
    with pytest.raises(ValueError, match="not an upscaler checkpoint"):
        load_upscaler(tmp_path / "bad.pt")


# --- the functions notebook 02 writes out and notebook 03 imports -------------------------------------------

def test_macs_per_lr_pixel_by_hand():
    lr_conv = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1))
    assert macs_per_lr_pixel(lr_conv) == 3 * 4 * 9
    mixed = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Upsample(scale_factor=2), nn.Conv2d(4, 3, 1))
    mixed.train()
    assert macs_per_lr_pixel(mixed) == 3 * 4 * 9 + 4 * 3 * 1 * 2**2  # the second conv runs at 4x the pixels
    assert not mixed.training
    # head 5x5 3->4, one block of two 3x3 4->4, tail 3x3 4->3*2^2 (all at LR size)
    assert macs_per_lr_pixel(PixelShuffleUpscaler(2, channels=4, n_blocks=1)) == 3 * 4 * 25 + 2 * 4 * 4 * 9 + 4 * 12 * 9
    assert macs_per_lr_pixel(lr_conv, lr_side=8) == 3 * 4 * 9


def dropout_model():
    """LR 8x8 -> HR 16x16 with dropout, so the training result depends on the torch seed."""
    torch.manual_seed(3)
    return nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(3, 3, 3, padding=1), nn.Dropout(0.5))


def test_train_fixed_steps_seeds_and_returns_adam():
    a, hist, opt = train_fixed_steps(dropout_model(), SRLoss(), Crops(), 3, seed=5, lr=0.01, use_amp=False)
    b, _, _ = train_fixed_steps(dropout_model(), SRLoss(), Crops(), 3, seed=5, lr=0.01, use_amp=False)
    c, _, _ = train_fixed_steps(dropout_model(), SRLoss(), Crops(), 3, seed=6, lr=0.01, use_amp=False)
    assert torch.equal(a[1].weight, b[1].weight)
    assert not torch.equal(a[1].weight, c[1].weight)
    assert isinstance(opt, torch.optim.Adam) and opt.param_groups[0]["lr"] == 0.01
    assert opt.param_groups[0]["params"][0] is a[1].weight
    assert [r["step"] for r in hist.records] == [1, 2, 3]
    crops = Crops()
    _, hist, _ = train_fixed_steps(PixelShuffleUpscaler(2, 4, 0), SRLoss(), crops, 2, val=(crops.lr, crops.hr),
                                   scale=2, eval_every=1, use_amp=False)
    assert [r["step"] for r in hist.records if "PSNR-Y" in r] == [0, 1, 2]


def test_train_for_cpu_budget_stops_at_max_steps_or_budget():
    crops = Crops()
    kw = dict(val=(crops.lr, crops.hr), scale=2, eval_every=2, use_amp=False)
    torch.manual_seed(0)
    model, hist = train_for_cpu_budget(PixelShuffleUpscaler(2, 4, 1), SRLoss(), crops, 1e9, chunk=2, max_steps=5, **kw)
    assert hist.last("step") == 6  # chunks of 2 until the step count reaches 5
    assert [r["step"] for r in hist.records if "PSNR-Y" in r] == [0, 2, 4, 6]
    assert hist.last("cpu_s") > 0
    _, hist = train_for_cpu_budget(PixelShuffleUpscaler(2, 4, 1), SRLoss(), crops, 0.0, chunk=3, max_steps=100, **kw)
    assert hist.last("step") == 3  # budget spent after the first chunk
    _, hist = train_for_cpu_budget(PixelShuffleUpscaler(2, 4, 0), SRLoss(), crops, 1e9, chunk=2, max_steps=4, **kw)
    assert hist.last("step") == 4  # stops as soon as max_steps is reached
    # the same as training the chunks by hand with Adam(1e-3)
    torch.manual_seed(0)
    ref = PixelShuffleUpscaler(2, 4, 1)
    opt = torch.optim.Adam(ref.parameters(), lr=1e-3)
    h = None
    for _ in range(3):
        h = train_upscaler(ref, SRLoss(), crops, 2, opt, history=h, **kw)
    assert h.last("step") == 6 and torch.equal(ref.tail.weight, model.tail.weight)
    with pytest.raises(ValueError, match="chunk"):
        train_for_cpu_budget(ref, SRLoss(), crops, 1.0, chunk=0, max_steps=5, **kw)


def test_bicubic_baseline_scores_bicubic():
    crops = Crops()
    row, img = bicubic_baseline(crops.lr, crops.hr, 2)
    bic = F.interpolate(crops.lr, scale_factor=2, mode="bicubic").clamp(0, 1)
    assert torch.allclose(img, bic)
    assert math.isclose(row["PSNR-Y"], float(metrics.psnr(bic, crops.hr, 2, y_channel=True).mean()), rel_tol=1e-6)
    assert math.isclose(row["MSE"], float(((bic - crops.hr) ** 2).mean()), rel_tol=1e-5)


def two_histories():
    from helpers.results import History
    a, b = History(), History()
    for step, (psnr, cpu) in enumerate([(20.0, 0.0), (22.0, 1.5), (23.0, 3.0)]):
        a.log(step, **{"PSNR-Y": psnr, "cpu_s": cpu, "MSE": 0.1 / (step + 1)})
        b.log(2 * step, **{"PSNR-Y": psnr + 1, "cpu_s": cpu / 2, "MSE": 0.05})
    return {"a": a, "b": b}


def test_plot_curves_with_baseline_draws_the_baseline_in_every_panel():
    fig = plot_curves_with_baseline(two_histories(), ["MSE", "PSNR-Y"], {"MSE": 0.02, "PSNR-Y": 21.5}, title="t")
    assert len(fig.axes) == 2
    for ax, value in zip(fig.axes, (0.02, 21.5)):
        dashed = [ln for ln in ax.lines if ln.get_linestyle() == "--"]
        assert len(dashed) == 1 and list(dashed[0].get_ydata()) == [value, value]
    assert "bicubic" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    plt.close(fig)
    with pytest.raises(ValueError, match="SSIM-Y"):
        plot_curves_with_baseline(two_histories(), ["SSIM-Y"], {"MSE": 0.02})


def test_plot_psnr_per_cpu_second_plots_psnr_against_cpu_time():
    fig = plot_psnr_per_cpu_second(two_histories(), 21.0, "2x")
    ax = fig.axes[0]
    a, b, base = ax.lines
    assert list(a.get_xdata()) == [0.0, 1.5, 3.0] and list(a.get_ydata()) == [20.0, 22.0, 23.0]
    assert list(b.get_xdata()) == [0.0, 0.75, 1.5] and list(b.get_ydata()) == [21.0, 23.0, 24.0]
    assert list(base.get_ydata()) == [21.0, 21.0] and base.get_linestyle() == "--"
    assert ax.get_xlabel() == "training CPU-seconds" and ax.get_title() == "2x"
    plt.close(fig)


def test_results_table():
    crops = Crops()
    bic_row, bic = bicubic_baseline(crops.lr, crops.hr, 2)
    hist = two_histories()
    brighter = PixelShuffleUpscaler(2, 4, 0)
    with torch.no_grad():
        brighter.tail.bias.fill_(0.1)  # bicubic + 0.1
    models = {"a": PixelShuffleUpscaler(2, 4, 0), "b": brighter}
    results, images = results_table(models, hist, crops.lr, crops.hr, 2, bic_row)
    assert list(results) == ["bicubic", "a", "b"] and list(images) == ["a", "b"]
    assert results["a"]["steps"] == 2 and results["b"]["steps"] == 4 and results["b"]["train CPU-s"] == 1.5
    assert math.isclose(results["a"]["PSNR-Y"], bic_row["PSNR-Y"], abs_tol=0.05)  # untrained = bicubic
    assert torch.allclose(images["b"], (F.interpolate(crops.lr, scale_factor=2, mode="bicubic") + 0.1).clamp(0, 1),
                          atol=1e-2)
    assert results["b"]["PSNR-Y"] < results["a"]["PSNR-Y"]


def test_sr_grid_adds_hr_and_psnr_captions():
    crops = Crops()
    bic = F.interpolate(crops.lr, scale_factor=2, mode="bicubic").clamp(0, 1)
    fig = sr_grid({"bicubic": bic}, crops.hr, 2, title="grid", zoom=None)
    assert len(fig.axes) == 2 * 2  # 2 images x (bicubic, HR)
    want = [f"{v:.2f} dB" for v in metrics.psnr(bic, crops.hr, 2, y_channel=True)]
    assert [fig.axes[0].get_xlabel(), fig.axes[2].get_xlabel()] == want
    assert fig.axes[1].get_title() == "HR" and fig.axes[1].get_xlabel() == ""
    plt.close(fig)


def test_fine_tune_playground_trains_a_copy_and_continues_the_history(capsys):
    crops = Crops()
    model = PixelShuffleUpscaler(2, 4, 1)
    before = model.tail.weight.clone()
    hist = train_upscaler(model, SRLoss(), crops, 0, torch.optim.Adam(model.parameters()), val=(crops.lr, crops.hr),
                          scale=2, eval_every=1, use_amp=False)
    hist.log(7, loss=1.0)
    play = FineTunePlayground(model, hist, crops, (crops.lr, crops.hr), 2, perceptual_loss=None)
    row = play({"pixel": 1.0, "perceptual": 0.0, "TV": 0.0}, 2)
    assert torch.equal(model.tail.weight, before) and not torch.equal(play.model.tail.weight, before)
    assert play.history.last("step") == 9 and hist.last("step") == 7
    assert play.history.records[-1]["mse"] > 0 and "PSNR-Y" in row
    table = play.table()
    assert list(table.index) == [9] and table.loc[9, "steps now"] == 2 and table.loc[9, "pixel"] == "1 (MSE)"
    assert table.loc[9, "PSNR-Y"] == row["PSNR-Y"] and "{" not in capsys.readouterr().out  # a table, not a dict
    play.use_l1 = True
    play({"pixel": 1.0, "perceptual": 0.0, "TV": 0.0}, 1)
    assert "l1" in play.history.records[-1] and play.history.last("step") == 10
    assert list(play.table().index) == [9, 10] and play.table().loc[10, "pixel"] == "1 (L1)"
    assert play({"pixel": 0.0, "perceptual": 1.0, "TV": 0.0}, 1) is None  # reported, not raised
    assert "cannot train with these weights: perceptual > 0 needs" in capsys.readouterr().out
    assert play({"pixel": 0.0, "perceptual": 0.0, "TV": 0.0}, 1) is None
    assert play.history.last("step") == 10 and len(play.table()) == 2  # failed presses add no row
    panel = play.panel(steps=3, max_steps=7)
    assert panel.values() == pytest.approx({"pixel": CONTENT_PIXEL_WEIGHT, "perceptual": 1.0, "TV": 0.0})
    assert panel.callback is play
    plt.close("all")


def test_course_losses_mse_and_perceptual(capsys):
    losses, perceptual, distance, lpips_metric = course_losses()
    out = capsys.readouterr().out
    assert f"VGG16 weights in use: {perceptual.vgg.source}" in out and "LPIPS:" in out
    assert set(losses) == {"MSE", "perceptual", "perceptual + pixel"}
    assert (losses["MSE"].pixel, losses["MSE"].perceptual, losses["MSE"].pixel_kind) == (1.0, 0.0, "mse")
    assert (losses["perceptual"].pixel, losses["perceptual"].perceptual) == (0.0, 1.0)
    both = losses["perceptual + pixel"]
    assert (both.pixel, both.perceptual, both.pixel_kind, both.tv) == (CONTENT_PIXEL_WEIGHT, 1.0, "mse", 0.0)
    assert both.perceptual_loss is perceptual and 0 < CONTENT_PIXEL_WEIGHT
    assert losses["perceptual"].perceptual_loss is perceptual and perceptual.layer_weights == {"relu3_3": 1.0}
    assert isinstance(distance, metrics.VGGDistance) and isinstance(lpips_metric, metrics.LPIPSMetric)


def test_save_upscalers_writes_self_describing_checkpoints(tmp_path, capsys):
    torch.manual_seed(0)
    models = {"course perceptual": Upscale2x(), "course MSE": Upscale2x(),
              "PixelShuffle MSE": PixelShuffleUpscaler(scale=2),
              "PixelShuffle perceptual": PixelShuffleUpscaler(scale=2)}
    histories = {}
    for i, name in enumerate(models):
        histories[name] = History()
        histories[name].log(10 + i, loss=1.0)
    results = {name: {"PSNR-Y": 30.0 + i} for i, name in enumerate(models)}
    saved = save_upscalers(tmp_path, 2, models, histories, results, "hed", profile="smoke", seed=3)
    assert saved == {"perceptual": "upscale2x_perceptual.pt", "mse": "upscale2x_mse.pt",
                     "pixelshuffle_mse": "upscale2x_pixelshuffle_mse.pt",
                     "pixelshuffle_perceptual": "upscale2x_pixelshuffle_perceptual.pt"}
    lr = torch.rand(1, 3, 8, 8)
    for key, (name, _, weights) in SAVED_UPSCALERS.items():
        lm = load_upscaler(tmp_path / saved[key])
        model, meta = lm.model, lm.meta
        assert meta["steps"] == histories[name].last("step") and meta["loss_weights"] == weights
        assert meta["scale"] == 2 and meta["profile"] == "smoke" and meta["seed"] == 3
        assert meta["vgg_source"] == ("hed" if key.endswith("perceptual") else "not used")
        with torch.no_grad():
            assert torch.allclose(model(lr), models[name].eval()(lr), atol=1e-6)
    assert load_upscaler(tmp_path / saved["mse"]).meta["architecture"] == "Upscale2x"
    assert load_upscaler(tmp_path / saved["pixelshuffle_mse"]).meta["kwargs"] == {"scale": 2}
    # other settings: the old file is kept under a backup name, never overwritten
    save_upscalers(tmp_path, 2, models, histories, results, "hed", profile="quick", seed=3)
    assert len(list(tmp_path.glob("upscale2x_mse.pt.bak-*"))) == 1
    models["PixelShuffle MSE"] = PixelShuffleUpscaler(scale=2, channels=4, n_blocks=1)
    with pytest.raises(ValueError, match="would not load again"):
        save_upscalers(tmp_path, 2, models, histories, results, "hed", profile="quick", seed=3)


def test_plot_psnr_per_mac_scales_steps_by_each_models_cost():
    fig = plot_psnr_per_mac(two_histories(), {"a": 2e9, "b": 0.5e9}, 21.0, "2x")
    ax = fig.axes[0]
    a, b, base = ax.lines
    assert list(a.get_xdata()) == [0.0, 2.0, 4.0] and list(a.get_ydata()) == [20.0, 22.0, 23.0]
    assert list(b.get_xdata()) == [0.0, 1.0, 2.0] and list(b.get_ydata()) == [21.0, 23.0, 24.0]
    assert list(base.get_ydata()) == [21.0, 21.0] and base.get_linestyle() == "--"
    assert "GMACs" in ax.get_xlabel() and ax.get_title() == "2x"
    plt.close(fig)
    with pytest.raises(ValueError, match="b"):
        plot_psnr_per_mac(two_histories(), {"a": 1.0}, 21.0, "2x")


class AbsDistance:
    """Stands in for a VGGDistance: per image, the mean absolute difference."""

    name = "VGG-dist (test)"

    def __call__(self, x, y):
        return (x - y).abs().mean(dim=(1, 2, 3))


def test_per_image_scores_are_the_table_values_per_image():
    crops = Crops()
    bic = F.interpolate(crops.lr, scale_factor=2, mode="bicubic").clamp(0, 1)
    brighter = (bic + 0.1).clamp(0, 1)
    scores = per_image_scores({"bicubic": bic, "brighter": brighter}, crops.hr, 2, AbsDistance())
    assert list(scores) == ["bicubic", "brighter"]
    assert set(scores["bicubic"]) == {"PSNR-Y", "SSIM-Y", "VGG-dist (test)"}
    assert all(len(v) == 2 for v in scores["bicubic"].values())  # one value per image
    want = metrics.psnr(bic, crops.hr, 2, y_channel=True).tolist()
    assert scores["bicubic"]["PSNR-Y"] == pytest.approx(want)
    assert scores["bicubic"]["PSNR-Y"][0] != pytest.approx(scores["bicubic"]["PSNR-Y"][1])  # not a mean
    row = metrics.sr_metrics(bic, crops.hr, 2)
    assert sum(scores["bicubic"]["SSIM-Y"]) / 2 == pytest.approx(row["SSIM-Y"])
    want = (brighter - crops.hr).abs().mean(dim=(1, 2, 3)).tolist()
    assert scores["brighter"]["VGG-dist (test)"] == pytest.approx(want)
    assert set(per_image_scores({"bicubic": bic}, crops.hr, 2)["bicubic"]) == {"PSNR-Y", "SSIM-Y"}
    with pytest.raises(ValueError, match="do not match"):
        per_image_scores({"lr": crops.lr}, crops.hr, 2)


def test_upscaler_claims_pair_the_right_methods_per_crop():
    from helpers.evaluation import CLAIM_METHODS, upscaler_claims

    def row(psnr, dist, swd, rise, hf, cb=1.0):
        return {"PSNR-Y": psnr, "VGG-dist": dist, "SWD": swd, "rise width (px)": rise, "HF ratio": hf,
                "checkerboard": [cb, cb]}

    scores = {"bicubic": row([30.0, 28.0], [0.30, 0.20], [90, 80], [3.0, 2.5], [0.2, 0.3]),
              "course MSE before training": row([28.0, 26.0], [0.3, 0.2], [99, 98], [3.0, 3.0], [0.1, 0.1]),
              "course MSE at equal MACs": row([29.0, 27.0], [0.25, 0.15], [80, 70], [2.8, 2.4], [0.3, 0.3]),
              "course MSE": row([29.0, 27.0], [0.25, 0.15], [80, 70], [2.8, 2.4], [0.3, 0.3]),
              "course perceptual": row([28.0, 26.5], [0.20, 0.10], [60, 55], [2.0, 2.0], [0.8, 0.9]),
              "PixelShuffle MSE": row([31.0, 29.5], [0.28, 0.18], [70, 60], [2.6, 2.2], [0.4, 0.5]),
              "PixelShuffle perceptual": row([30.0, 29.0], [0.2, 0.1], [40, 35], [2.0, 1.9], [0.9, 1.3], 1.2),
              "PixelShuffle MSE + noise": row([28.0, 27.0], [0.3, 0.2], [50, 45], [2.6, 2.3], [1.0, 1.0])}
    got = {c.name: c for c in upscaler_claims(scores, 4, 100, 60, 2000, 1400.4, "VGG-dist")}
    kinds = [c.kind for c in got.values()]
    headline = ["pixelshuffle_mse_beats_bicubic", "efficient_beats_course_at_equal_macs",
                "mse_beats_perceptual_on_psnr", "course_model_passes_its_start"]
    assert [c.name for c in got.values() if c.kind == "headline"] == headline and len(kinds) == 13
    beat = got["pixelshuffle_mse_beats_bicubic"]
    assert (beat.value, beat.control_value, beat.margin, beat.n) == (30.25, 29.0, 1.25, 2)
    assert got["efficient_beats_course_at_equal_macs"].margin == pytest.approx(2.25)
    assert got["efficient_beats_course_at_equal_macs"].control == "course MSE at equal MACs"
    assert "1400 GMACs: 2000 vs 60 steps" in got["efficient_beats_course_at_equal_macs"].basis
    assert "Upscale4x" in got["efficient_beats_course_at_equal_macs"].statement
    assert got["mse_beats_perceptual_on_psnr"].margin == pytest.approx(0.75)
    swd = got["perceptual_beats_mse_on_swd"]
    assert not swd.higher_is_better and swd.margin == pytest.approx(27.5) and swd.control == "PixelShuffle MSE"
    noise = got["perceptual_beats_noise_matched_on_swd"]
    assert noise.control == "PixelShuffle MSE + noise" and noise.margin == pytest.approx(10.0)
    assert got["perceptual_is_sharper"].margin == pytest.approx(0.45)
    start = got["course_model_passes_its_start"]
    assert start.control == "course MSE before training" and start.margin == pytest.approx(1.0)
    hf = got["perceptual_hf_ratio_nearer_1"]   # |1 - ratio|: 0.1, 0.3 against 0.6, 0.5
    assert hf.value == pytest.approx(0.2) and hf.control_value == pytest.approx(0.55)
    assert got["perceptual_no_more_checkerboard"].margin == pytest.approx(-0.2)
    assert got["course_mse_beats_perceptual_on_psnr"].margin == pytest.approx(0.75)
    vgg = got["course_perceptual_beats_mse_on_vgg_dist"]
    assert not vgg.higher_is_better and vgg.margin == pytest.approx(0.05) and vgg.measure == "VGG-dist"
    assert got["course_mse_beats_bicubic"].verdict == "fails"
    demoted = upscaler_claims(scores, 4, 100, 60, 2000, 1400.4, "VGG-dist", course_start_kind="observation")
    assert [c.name for c in demoted if c.kind == "headline"] == headline[:3]
    del scores["PixelShuffle MSE + noise"]
    with pytest.raises(ValueError, match=r"PixelShuffle MSE \+ noise"):
        upscaler_claims(scores, 4, 100, 60, 2000, 1400.4, "VGG-dist")
    assert len(CLAIM_METHODS) == 8


def test_per_image_scores_add_the_perception_measures():
    hr = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))  # white: power in every band
    bic = F.interpolate(F.avg_pool2d(hr, 2), scale_factor=2, mode="bicubic").clamp(0, 1)
    scores = per_image_scores({"bicubic": bic, "HR": hr}, hr, 2, perception_measures=True)
    assert {"HF ratio", "SWD", "checkerboard", "rise width (px)"} <= set(scores["bicubic"])
    assert scores["HR"]["SWD"] == pytest.approx([0.0, 0.0]) and scores["HR"]["HF ratio"] == pytest.approx([1.0, 1.0])
    assert all(r < 1 for r in scores["bicubic"]["HF ratio"])  # bicubic lacks the high band


def test_batchnorm_check_scores_both_modes_without_touching_the_running_averages():
    crops = Crops()
    torch.manual_seed(0)
    model = Upscale2x()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rows = batchnorm_check(model, crops.lr, crops.hr, 2)
    assert set(rows) == {"running averages (eval)", "batch statistics (train)"}
    assert all(set(r) == {"PSNR-Y", "mean error R", "mean error G", "mean error B"} for r in rows.values())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # a copy was scored
    assert rows["running averages (eval)"]["PSNR-Y"] != pytest.approx(rows["batch statistics (train)"]["PSNR-Y"])
    nn.init.zeros_(model.model[-1].weight)
    nn.init.zeros_(model.model[-1].bias)   # the untrained model is its bilinear base in both modes
    rows = batchnorm_check(model, crops.lr, crops.hr, 2)
    assert rows["running averages (eval)"] == pytest.approx(rows["batch statistics (train)"])
    base = F.interpolate(crops.lr, scale_factor=2, mode="bilinear", align_corners=True).clamp(0, 1)
    want = (base - crops.hr).mean(dim=(0, 2, 3))
    assert [rows["running averages (eval)"][f"mean error {c}"] for c in "RGB"] == pytest.approx(want.tolist(), abs=1e-6)


def test_reference_claims_pair_the_reference_models_per_crop():
    from helpers.evaluation import reference_claims

    def row(psnr, swd, hf):
        return {"PSNR-Y": psnr, "SWD": swd, "HF ratio": hf}

    scores = {"reference MSE": row([30.0, 28.0], [60.0, 50.0], [0.4, 0.5]),
              "reference perceptual": row([29.0, 27.5], [40.0, 45.0], [0.9, 1.2]),
              "reference MSE + noise": row([27.0, 26.0], [30.0, 35.0], [1.0, 1.0])}
    got = {c.name: c for c in reference_claims(scores, start="x2_mse")}
    assert [c.name for c in got.values() if c.kind == "headline"] == ["reference_mse_beats_perceptual_on_psnr"]
    assert all(c.source == "reference" for c in got.values())
    psnr = got["reference_mse_beats_perceptual_on_psnr"]
    assert (psnr.subject, psnr.control, psnr.n) == ("reference MSE", "reference perceptual", 2)
    assert psnr.margin == pytest.approx(0.75) and "x2_mse's weights" in psnr.basis
    hf = got["reference_perceptual_restores_high_band_power"]  # |1 - ratio|: 0.1, 0.2 against 0.6, 0.5
    assert hf.value == pytest.approx(0.15) and hf.control_value == pytest.approx(0.55) and not hf.higher_is_better
    swd = got["reference_perceptual_beats_mse_on_swd"]
    assert swd.margin == pytest.approx(12.5) and swd.verdict == "holds"
    noise = got["reference_perceptual_beats_noise_matched_on_swd"]
    assert noise.control == "reference MSE + noise" and noise.margin == pytest.approx(-10.0)
    assert noise.verdict != "holds"


def test_reference_outputs_load_score_and_add_the_noise_control(tmp_path, capsys):
    from dataclasses import replace

    from helpers import reference as R
    from helpers.evaluation import SR_REFERENCES, reference_outputs, reference_summary
    hr = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))  # white: power the LR cannot carry
    lr = F.avg_pool2d(hr, 2)
    assert reference_outputs(2, lr, hr, tmp_path) is None
    assert "reference models missing" in capsys.readouterr().out
    for name, stem in SR_REFERENCES[2].items():
        spec = replace(R.Spec(stem, scale=2, steps=1, crop=16, batch=1, channels=4, n_blocks=1),
                       init="x2_mse" if "perceptual" in name else None)
        model = R.build(spec, tmp_path)
        Checkpoint(tmp_path / f"{stem}.pt", {"architecture": "PixelShuffleUpscaler", "kwargs": spec.kwargs(),
                                             "scale": 2, "steps": 7, "reference": {"init": spec.init}}
                   ).save(7, {"model": model})
    outputs, models = reference_outputs(2, lr, hr, tmp_path, seed=3)
    assert list(outputs) == ["reference MSE", "reference perceptual", "reference MSE + noise"]
    assert all(o.shape == hr.shape for o in outputs.values())
    assert torch.equal(outputs["reference MSE"], super_resolve(models["reference MSE"].model, lr))
    assert not torch.equal(outputs["reference MSE + noise"], outputs["reference MSE"])
    again, _ = reference_outputs(2, lr, hr, tmp_path, seed=3)
    assert torch.equal(again["reference MSE + noise"], outputs["reference MSE + noise"])  # the noise is seeded
    summary = reference_summary(models)
    assert summary["reference perceptual"] == {"file": "x2_perceptual.pt", "steps": 7, "trained on": "cpu",
                                               "starts from": "x2_mse"}
    assert summary["reference MSE"]["starts from"] == "-"
