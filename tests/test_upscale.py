"""The command-line upscaler (helpers.upscale): checkpoints, tiling, evaluation and bad input."""
import errno
import urllib.error
import urllib.request

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn as nn
from PIL import Image

from helpers import degrade, metrics, upscale
from helpers.data import DATA_HUB, load_image, mod_crop, save_image, sr_benchmark_hr
from helpers.inference import (
    Checkpoint,
    CheckpointError,
    GlobalGridUpsample,
    LoadedModel,
    load_upscaler,
    receptive_radius,
    super_resolve,
    upscale_tiled,
)
from helpers.models.registry import build_upscaler
from helpers.models.upscalers import PixelShuffleUpscaler, Upscale2x, Upscale4x
from helpers.models.wgan import Generator
from helpers.upscale import evaluate_images, main, read_image, with_means

TINY = {"scale": 2, "channels": 4, "n_blocks": 1}


def tiny_model() -> PixelShuffleUpscaler:
    model = PixelShuffleUpscaler(**TINY)
    nn.init.normal_(model.tail.weight, std=0.2)  # not bicubic: the residual path matters
    return model


def save_ckpt(path, model, architecture, kwargs, scale):
    meta = {"architecture": architecture, "kwargs": kwargs, "scale": scale, "profile": "smoke", "steps": 1,
            "loss_weights": {"pixel": 1.0}, "vgg_source": "not used"}
    Checkpoint(path, meta).save(1, {"model": model})
    return path


@pytest.fixture
def ckpt(tmp_path):
    return save_ckpt(tmp_path / "tiny.pt", tiny_model(), "PixelShuffleUpscaler", TINY, 2)


def write_rgb(path, h, w, seed=0):
    rng = np.random.default_rng(seed)
    Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8)).save(path)
    return path


# --------------------------------------------------------------------------- checkpoints
def test_build_upscaler_makes_the_wgan_generator():
    assert isinstance(build_upscaler("WGANGenerator"), Generator)
    with pytest.raises(ValueError, match="WGANGenerator"):
        build_upscaler("Nope")


def test_load_model_rebuilds_the_same_function(ckpt):
    lm = load_upscaler(ckpt)
    original = tiny_model()
    original.load_state_dict(torch.load(ckpt, weights_only=True)["state"]["model"])
    x = torch.rand(1, 3, 20, 20)
    assert lm.scale == 2 and lm.name == "tiny" and lm.meta["profile"] == "smoke"
    assert torch.equal(super_resolve(lm.model, x, use_amp=False), super_resolve(original, x, use_amp=False))
    assert not lm.model.training


@pytest.mark.parametrize("model, expected", [
    (PixelShuffleUpscaler(**TINY), 2 + 2 + 1 + 2),          # head 5x5, block 2x 3x3, tail 3x3, bicubic skip
    (PixelShuffleUpscaler(4), 2 + 4 * 2 + 1 + 2),
    (Upscale4x(), 6 + 2),                                    # 24 HR px of convs = 6 LR px, bilinear skip
    (Upscale2x(), 10 + 2),                                   # 4+4+3+3+2+2+2 = 20 HR px at 2x
    (Generator(), 31 + 2),                                   # 5 blocks x 2 x 3 LR px, 7x7 at HR = 0.75 LR px
])
def test_receptive_radius_by_hand(model, expected):
    assert receptive_radius(model) == expected


def test_load_model_errors(tmp_path, ckpt):
    with pytest.raises(CheckpointError, match="No checkpoint"):
        load_upscaler(tmp_path / "missing.pt")
    (tmp_path / "foreign.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot be read as a checkpoint"):
        load_upscaler(tmp_path / "foreign.pt")
    Checkpoint(tmp_path / "other.pt", {"profile": "smoke"}).save(1, {"model": tiny_model()})
    with pytest.raises(CheckpointError, match="not an upscaler checkpoint"):
        load_upscaler(tmp_path / "other.pt")
    save_ckpt(tmp_path / "lying.pt", tiny_model(), "PixelShuffleUpscaler", TINY, 4)
    with pytest.raises(CheckpointError, match="meta says scale 4"):
        load_upscaler(tmp_path / "lying.pt")
    save_ckpt(tmp_path / "wrong.pt", tiny_model(), "PixelShuffleUpscaler", {**TINY, "channels": 8}, 2)
    with pytest.raises(CheckpointError, match="cannot rebuild"):
        load_upscaler(tmp_path / "wrong.pt")


# --------------------------------------------------------------------------- tiling
@pytest.mark.parametrize("factory, scale", [(tiny_model, 2), (Upscale4x, 4), (Generator, 4)])
def test_tiles_match_whole_image_inference(factory, scale):
    model = factory().eval()
    if isinstance(model, Upscale4x):  # non-trivial BatchNorm statistics (eval mode: still local)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 2)
    lm = LoadedModel("m", model, {}, scale, receptive_radius(model))
    lr = torch.rand(3, 45, 38)
    whole = super_resolve(model, lr[None], use_amp=False)[0]
    for tile in (16, 13, 1000):
        tiled = upscale_tiled(lm, lr, tile=tile, use_amp=False)
        assert tiled.shape == (3, 45 * scale, 38 * scale)
        assert (tiled - whole).abs().max() < 1e-5, tile


def test_tiles_without_halo_do_not_match():
    model = tiny_model().eval()
    lr = torch.rand(3, 40, 40)
    whole = super_resolve(model, lr[None], use_amp=False)[0]
    no_halo = upscale_tiled(LoadedModel("m", model, {}, 2, 0), lr, tile=16, use_amp=False)
    assert (no_halo - whole).abs().max() > 1e-3
    # 7 LR px (14 HR px) from the first seam at HR 32, a halo-less tile is still exact
    assert (no_halo[:, :18, :18] - whole[:, :18, :18]).abs().max() < 1e-5


def test_global_grid_upsample_equals_nn_upsample_and_crops_of_it():
    x = torch.rand(1, 3, 11, 9)
    ref = nn.Upsample(scale_factor=4, mode="bilinear", align_corners=True)(x)
    assert (GlobalGridUpsample(4, (11, 9), (0, 0))(x) - ref).abs().max() < 1e-6
    part = GlobalGridUpsample(4, (11, 9), (3, 2))(x[..., 3:9, 2:7])  # rows 3..8, cols 2..6
    # the innermost rows / columns need only the patch; the outermost are clamped (halo)
    assert (part[..., 4:-4, 4:-4] - ref[..., 16:32, 12:24]).abs().max() < 1e-6
    plain = nn.Upsample(scale_factor=4, mode="bilinear", align_corners=True)(x[..., 3:9, 2:7])
    assert (plain[..., 4:-4, 4:-4] - ref[..., 16:32, 12:24]).abs().max() > 1e-3  # why the swap is needed


# --------------------------------------------------------------------------- images
@pytest.mark.parametrize("mode, note", [("L", "grayscale"), ("RGBA", "composited over white"),
                                        ("P", "palette"), ("I;16", "16-bit"), ("RGB", None)])
def test_read_image_notes_unusual_modes(tmp_path, mode, note):
    rgb = Image.fromarray((np.random.default_rng(0).random((12, 10, 3)) * 255).astype(np.uint8))
    img = {"L": rgb.convert("L"), "RGBA": rgb.convert("RGBA"), "P": rgb.convert("P"), "RGB": rgb,
           "I;16": Image.fromarray((np.arange(120).reshape(12, 10) * 500).astype(np.uint16))}[mode]
    img.save(tmp_path / "x.png")
    tensor, got = read_image(tmp_path / "x.png")
    assert tensor.shape == (3, 12, 10)
    assert got is None if note is None else note in got


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_read_image_notes_a_transparent_colour(tmp_path, mode):
    img = Image.new(mode, (6, 4), (0, 0, 0) if mode == "RGB" else 0)
    img.save(tmp_path / "key.png", transparency=(0, 0, 0) if mode == "RGB" else 0)
    tensor, got = read_image(tmp_path / "key.png")
    assert got == f"{mode} with a transparent colour: composited over white" and float(tensor.min()) == 1.0


# --------------------------------------------------------------------------- command line
def test_cli_upscales_files_and_folders(tmp_path, ckpt):
    folder = tmp_path / "in"
    folder.mkdir()
    write_rgb(folder / "a.png", 30, 20)
    write_rgb(tmp_path / "b.jpg", 24, 24, seed=1)
    out = tmp_path / "out"
    assert main(["--model", str(ckpt), str(folder), str(tmp_path / "b.jpg"), "--out", str(out), "--fp32"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a_tiny.png", "b_tiny.png"]
    sr = load_image(out / "a_tiny.png")
    expected = super_resolve(load_upscaler(ckpt).model, load_image(folder / "a.png")[None], use_amp=False)[0]
    assert sr.shape == (3, 60, 40)
    assert (sr - expected).abs().max() <= 0.5 / 255 + 1e-6


def test_cli_never_overwrites_without_flag(tmp_path, ckpt, capsys):
    write_rgb(tmp_path / "a.png", 20, 20)
    out = tmp_path / "out"
    out.mkdir()
    (out / "a_tiny.png").write_bytes(b"keep")
    assert main(["--model", str(ckpt), str(tmp_path / "a.png"), "--out", str(out)]) == 1
    assert (out / "a_tiny.png").read_bytes() == b"keep"
    assert "--overwrite" in capsys.readouterr().err
    assert main(["--model", str(ckpt), str(tmp_path / "a.png"), "--out", str(out), "--overwrite"]) == 0
    assert load_image(out / "a_tiny.png").shape == (3, 40, 40)


def test_cli_bad_inputs_fail_alone(tmp_path, ckpt, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    write_rgb(folder / "good.png", 20, 20)
    (folder / "corrupt.png").write_bytes(b"\x89PNG broken")
    write_rgb(folder / "tiny.png", 5, 5)
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(folder / "gray.png")
    (tmp_path / "foreign.pt").write_bytes(b"junk")
    code = main(["--model", str(ckpt), "--model", str(tmp_path / "foreign.pt"), str(folder),
                 str(tmp_path / "missing.png"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good_tiny.png", "gray_tiny.png"]
    for expected in ("foreign.pt cannot be read as a checkpoint", "corrupt.png as an image",
                     "tiny needs at least 8x8 (its receptive field is 15x15", "No file or folder",
                     "gray.png: grayscale"):
        assert expected in err


def test_cli_refuses_other_scales(tmp_path, ckpt, capsys):
    write_rgb(tmp_path / "a.png", 20, 20)
    assert main(["--model", str(ckpt), "--scale", "4", str(tmp_path / "a.png"), "--out", str(tmp_path / "o")]) == 1
    assert "is a 2x model but this run is 4x" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [[], ["--model", "x.pt"], ["--model", "x.pt", "--lr", "d", "a.png"],
                                  ["--model", "x.pt", "--hr", "d", "a.png"]])
def test_cli_usage_errors_exit_2(tmp_path, argv):
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--out", str(tmp_path / "o")] if argv else argv)
    assert exc.value.code == 2


def test_cli_evaluation_table(tmp_path, ckpt, capsys):
    hr_dir = tmp_path / "hr"
    hr_dir.mkdir()
    for i, (h, w) in enumerate([(33, 40), (40, 40)]):  # 33 rows: cropped to 32
        write_rgb(hr_dir / f"im{i}.png", h, w, seed=i)
    out = tmp_path / "eval"
    assert main(["--model", str(ckpt), "--hr", str(hr_dir), "--out", str(out), "--fp32", "--no-perceptual"]) == 0
    printed = capsys.readouterr().out
    header = [line for line in (out / "metrics.csv").read_text().splitlines() if line.startswith("#")]
    assert any("border crop = scale = 2 px" in line and "BT.601" in line for line in header)
    assert any("multiple of 2" in line and "antialiasing" in line for line in header)
    assert "border crop = scale = 2 px" in printed
    df = pd.read_csv(out / "metrics.csv", comment="#")
    assert list(df["method"]) == ["bicubic"] * 3 + ["tiny"] * 3
    assert list(df["image"]) == ["im0", "im1", "mean (2)"] * 2
    hr = mod_crop(load_image(hr_dir / "im0.png"), 2)[None]
    assert hr.shape[-2] == 32
    lr = degrade.bicubic_down(hr, 2)
    assert df["PSNR-Y"][0] == pytest.approx(float(metrics.psnr(degrade.upsample(lr, 2), hr, 2, y_channel=True)),
                                            abs=1e-5)
    sr = super_resolve(load_upscaler(ckpt).model, lr, use_amp=False)
    assert df["SSIM-Y"][3] == pytest.approx(float(metrics.ssim(sr, hr, 2, y_channel=True)), abs=1e-5)
    assert df["PSNR-Y"][2] == pytest.approx((df["PSNR-Y"][0] + df["PSNR-Y"][1]) / 2, abs=1e-5)
    assert (out / "im0_tiny.png").exists()
    # the CSV is not overwritten silently
    with pytest.raises(SystemExit) as exc:
        main(["--model", str(ckpt), "--hr", str(hr_dir), "--out", str(out), "--no-perceptual"])
    assert exc.value.code == 2


def test_cli_evaluation_with_own_lr(tmp_path, ckpt, capsys):
    hr_dir, lr_dir = tmp_path / "hr", tmp_path / "lr"
    write_rgb(hr_dir.mkdir() or hr_dir / "a.png", 40, 40)
    write_rgb(hr_dir / "b.png", 40, 40, seed=1)
    lr_dir.mkdir()
    lr = torch.zeros(3, 20, 20) + 0.5  # a flat LR: far from bicubic, so its row must differ
    save_image(lr, lr_dir / "ax2.png")
    save_image(lr[:, :10], lr_dir / "b.png")  # wrong size
    code = main(["--model", str(ckpt), "--hr", str(hr_dir), "--lr", str(lr_dir), "--out", str(tmp_path / "o"),
                 "--no-perceptual"])
    assert code == 1
    assert "not a 2x pair" in capsys.readouterr().err
    df = pd.read_csv(tmp_path / "o" / "metrics.csv", comment="#")
    hr = load_image(hr_dir / "a.png")[None]
    flat = degrade.upsample(load_image(lr_dir / "ax2.png")[None], 2)
    assert df["PSNR-Y"][0] == pytest.approx(float(metrics.psnr(flat, hr, 2, y_channel=True)), abs=1e-5)


def test_cli_evaluation_perceptual_columns(tmp_path, ckpt, capsys):
    hr_dir = tmp_path / "hr"
    hr_dir.mkdir()
    write_rgb(hr_dir / "a.png", 32, 32)
    assert main(["--model", str(ckpt), "--hr", str(hr_dir), "--out", str(tmp_path / "o"), "--fp32"]) == 0
    df = pd.read_csv(tmp_path / "o" / "metrics.csv", comment="#")
    vgg_col = next(c for c in df.columns if c.startswith("VGG-dist"))
    distance = metrics.VGGDistance()
    hr = load_image(hr_dir / "a.png")[None]
    bicubic = degrade.upsample(degrade.bicubic_down(hr, 2), 2)
    assert df[vgg_col][0] == pytest.approx(float(distance(bicubic, hr)), rel=1e-4)
    assert "LPIPS" in df.columns


def test_cli_dataset_offline_fails_fast_with_where_to_put_it(tmp_path, ckpt, capsys, monkeypatch):
    monkeypatch.setenv("SRGAN_DATA", str(tmp_path / "data"))

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    assert main(["--model", str(ckpt), "--dataset", "set5", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "'set5' is not available" in err and str(tmp_path / "data" / "set5") in err and "Set5_HR.tar.gz" in err


def test_cli_dataset_uses_the_placed_files(tmp_path, ckpt, capsys, monkeypatch):
    monkeypatch.setenv("SRGAN_DATA", str(tmp_path / "data"))
    root = tmp_path / "data" / "set14"
    (root / "Set14_HR").mkdir(parents=True)
    (root / ".unpacked").touch()
    write_rgb(root / "Set14_HR" / "baboon.png", 32, 36)
    out = tmp_path / "o"
    assert main(["--model", str(ckpt), "--dataset", "set14", "--out", str(out), "--no-perceptual", "--fp32"]) == 0
    df = pd.read_csv(out / "metrics.csv", comment="#")
    assert list(df["image"]) == ["baboon", "mean (1)"] * 2


def test_sr_benchmark_urls_and_names():
    assert DATA_HUB["set5"][0].endswith("/eugenesiow/Set5/resolve/main/data/Set5_HR.tar.gz")
    assert DATA_HUB["urban100"][0].endswith("/Urban100_HR.tar.gz")
    with pytest.raises(ValueError, match="set5, set14, bsd100, urban100"):
        sr_benchmark_hr("div2k")
    with pytest.raises(SystemExit):
        main(["--model", "x.pt", "--dataset", "set5", "--hr", "d", "--out", "o"])


def test_with_means_averages_numbers_and_keeps_text():
    rows = with_means({"bicubic": [{"image": "a", "method": "bicubic", "PSNR-Y": 20.0, "LPIPS": "n/a"},
                                   {"image": "b", "method": "bicubic", "PSNR-Y": 30.0, "LPIPS": "n/a"}],
                       "empty": []})
    assert rows[-1] == {"image": "mean (2)", "method": "bicubic", "PSNR-Y": 25.0, "LPIPS": "n/a"}
    assert len(rows) == 3


def test_evaluate_images_needs_a_model_or_a_scale():
    with pytest.raises(ValueError, match="scale="):
        evaluate_images([], [])


# --------------------------------------------------------------------------- bad input and faults (issue 19)
def test_cli_turns_an_exif_rotated_photo_upright(tmp_path, ckpt):
    arr = (np.random.default_rng(0).random((24, 40, 3)) * 255).astype(np.uint8)  # stored 40 wide, 24 high
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display", as a phone tags a portrait shot
    Image.fromarray(arr).save(tmp_path / "phone.png", exif=exif)
    assert main(["--model", str(ckpt), str(tmp_path / "phone.png"), "--out", str(tmp_path / "o"), "--fp32"]) == 0
    sr = load_image(tmp_path / "o" / "phone_tiny.png")
    assert sr.shape == (3, 80, 48)  # upright: 24 wide, 40 high, times 2
    upright = torch.from_numpy(np.rot90(arr, k=-1).copy()).permute(2, 0, 1).float() / 255
    expected = super_resolve(load_upscaler(ckpt).model, upright[None], use_amp=False)[0]
    assert (sr - expected).abs().max() <= 0.5 / 255 + 1e-6


def test_cli_refuses_images_above_the_pixel_limit_and_goes_on(tmp_path, ckpt, capsys):
    write_rgb(tmp_path / "small.png", 20, 20)
    write_rgb(tmp_path / "large.png", 30, 20)
    out = tmp_path / "o"
    assert main(["--model", str(ckpt), str(tmp_path / "large.png"), str(tmp_path / "small.png"), "--out", str(out),
                 "--max-pixels", "500"]) == 1
    err = capsys.readouterr().err
    assert "large.png is 20x30 = 0.0006 megapixels, above the limit of 0.0005 megapixels" in err
    assert "--max-pixels 600" in err
    assert sorted(p.name for p in out.iterdir()) == ["small_tiny.png"]
    assert "1 error(s); the other inputs were processed:\n  - " in err  # listed again at the end


def test_cli_refuses_an_output_above_the_memory_limit_up_front(tmp_path, ckpt, capsys, monkeypatch):
    write_rgb(tmp_path / "a.png", 100, 50)
    called = []
    monkeypatch.setattr(upscale, "upscale_tiled", lambda *a, **k: called.append(a))
    # 2x of 100x50: 200x100 pixels x 3 channels x 4 bytes = 240,000 bytes
    assert main(["--model", str(ckpt), str(tmp_path / "a.png"), "--out", str(tmp_path / "o"),
                 "--max-output-gb", "0.0002"]) == 1
    err = capsys.readouterr().err
    assert "the 2x output would be 200x100 pixels, 0.0 GB in memory (scale² × the input" in err
    assert "above the limit of 0.0002 GB" in err and "--max-output-gb" in err
    assert not called and not (tmp_path / "o" / "a_tiny.png").exists()
    upscale.check_output_memory((100, 50), 2, 0.00024, "a.png")  # 240,000 bytes: exactly at the limit is allowed
    with pytest.raises(upscale.UpscaleError):
        upscale.check_output_memory((100, 50), 2, 0.000239, "a.png")


def test_cli_refuses_float_images_above_1(tmp_path, ckpt, capsys):
    Image.fromarray(np.full((20, 20), 2.5, np.float32), mode="F").save(tmp_path / "hdr.tif")
    assert main(["--model", str(ckpt), str(tmp_path / "hdr.tif"), "--out", str(tmp_path / "o")]) == 1
    assert "hdr.tif: its values run from 2.5 to 2.5" in capsys.readouterr().err
    assert not (tmp_path / "o" / "hdr_tiny.png").exists()


def test_cli_evaluation_refuses_hr_smaller_than_the_scale_and_goes_on(tmp_path, ckpt, capsys):
    hr_dir = tmp_path / "hr"
    hr_dir.mkdir()
    write_rgb(hr_dir / "good.png", 32, 36)
    write_rgb(hr_dir / "sliver.png", 1, 36)
    out = tmp_path / "eval"
    assert main(["--model", str(ckpt), "--hr", str(hr_dir), "--out", str(out), "--fp32", "--no-perceptual"]) == 1
    assert "Image of 1x36 is smaller than the scale 2" in capsys.readouterr().err
    assert list(pd.read_csv(out / "metrics.csv", comment="#")["image"]) == ["good", "mean (1)"] * 2


def test_cli_goes_on_past_a_full_disk_and_reports_it(tmp_path, ckpt, capsys, monkeypatch):
    for name in ("a", "b", "c"):
        write_rgb(tmp_path / f"{name}.png", 20, 20)
    real_save = Image.Image.save

    def save(self, fp, *args, **kwargs):
        if str(fp).endswith("b_tiny.png"):
            with open(fp, "wb") as f:
                f.write(b"\x89PNG")  # a partial file, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", save)
    out = tmp_path / "o"
    assert main(["--model", str(ckpt), *(str(tmp_path / f"{n}.png") for n in "abc"), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "No space left on device" in err and "free disk space or choose another --out" in err
    assert sorted(p.name for p in out.iterdir()) == ["a_tiny.png", "c_tiny.png"]  # no partial b_tiny.png
    assert "1 error(s); the other inputs were processed" in err
