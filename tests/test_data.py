import urllib.error

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import data, degrade


def test_to_tensor_dtypes_and_channels():
    u8 = np.full((4, 5, 3), 255, np.uint8)
    assert torch.allclose(data.to_tensor(u8), torch.ones(3, 4, 5))
    u16 = np.full((4, 5), 65535 // 2, np.uint16)
    t = data.to_tensor(u16)
    assert t.shape == (3, 4, 5) and abs(float(t[0, 0, 0]) - 0.5) < 1e-4
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., 3] = 0  # fully transparent black -> white
    assert torch.allclose(data.to_tensor(rgba), torch.ones(3, 2, 2))
    with pytest.raises(ValueError):
        data.to_tensor(np.zeros((2, 2, 2)))


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "LA", "RGB", "CMYK", "I;16", "1"])
def test_load_image_converts_every_mode_to_rgb(tmp_path, mode):
    rgb = Image.fromarray((np.random.default_rng(0).random((10, 12, 3)) * 255).astype(np.uint8))
    img = rgb.convert(mode) if mode != "I;16" else Image.fromarray(np.full((10, 12), 30000, np.uint16))
    path = tmp_path / ("x.tif" if mode in ("CMYK", "I;16") else "x.png")
    img.save(path)
    t = data.load_image(path)
    assert t.shape == (3, 10, 12) and t.dtype == torch.float32 and 0 <= t.min() and t.max() <= 1
    if mode == "I;16":
        assert abs(float(t[0, 0, 0]) - 30000 / 65535) < 1e-4


def test_load_image_missing_and_corrupt(tmp_path):
    with pytest.raises(FileNotFoundError, match="No image file"):
        data.load_image(tmp_path / "nope.png")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG not really")
    with pytest.raises(ValueError, match="corrupt or not an image"):
        data.load_image(bad)


def test_save_and_load_round_trip(tmp_path):
    x = torch.rand(3, 8, 9)
    back = data.load_image(data.save_image(x, tmp_path / "a" / "x.png"))
    assert (back - x).abs().max() <= 0.5 / 255 + 1e-6


def test_list_images_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="No images"):
        data.list_images(tmp_path)
    with pytest.raises(FileNotFoundError, match="No folder"):
        data.list_images(tmp_path / "missing")


def test_mod_crop_keeps_top_left():
    x = torch.arange(10 * 13.0).view(1, 10, 13)
    y = data.mod_crop(x, 4)
    assert y.shape == (1, 8, 12) and torch.equal(y, x[:, :8, :12])


def test_center_crop_position_and_errors():
    x = torch.arange(6 * 8.0).view(1, 6, 8)
    y = data.center_crop(x, 4, 2)
    assert torch.equal(y, x[:, 1:5, 2:6])
    with pytest.raises(ValueError, match="smaller than the crop"):
        data.center_crop(x, 8)
    with pytest.raises(ValueError, match="not divisible by scale 4"):
        data.center_crop(x, 6, 4)


def test_sample_split_is_by_image_and_disjoint():
    names = {split: set(data.sample_images(split)) for split in data.SPLITS}
    assert names["train"].isdisjoint(names["val"])
    assert names["val"] == {"chelsea", "coffee", "grace_hopper"}
    assert len(names["train"]) == 7
    for img in data.sample_images("val").values():
        assert img.shape[0] == 3 and 0 <= img.min() and img.max() <= 1 and min(img.shape[1:]) >= 256
    with pytest.raises(ValueError):
        data.sample_images("test")


def test_random_crops_are_aligned_pairs():
    imgs = {"a": torch.rand(3, 40, 50), "b": torch.rand(3, 33, 64)}
    crops = data.RandomCrops(imgs, 16, 4, batch_size=5, generator=torch.Generator().manual_seed(1))
    lr, hr = next(crops)
    assert lr.shape == (5, 3, 4, 4) and hr.shape == (5, 3, 16, 16)
    assert torch.allclose(lr, degrade.bicubic_down(hr, 4))
    # every HR crop is a real window (maybe mirrored) of one of the images
    for patch in hr:
        found = False
        for img in imgs.values():
            for cand in (patch, patch.flip(-1)):
                win = img.unfold(1, 16, 1).unfold(2, 16, 1)  # (3, nh, nw, 16, 16)
                if (win - cand[:, None, None]).abs().amax(dim=(0, 3, 4)).min() < 1e-7:
                    found = True
        assert found


def test_random_crops_reject_bad_sizes():
    g = torch.Generator()
    with pytest.raises(ValueError, match="smaller than the crop"):
        data.RandomCrops([torch.rand(3, 20, 20)], 24, 4, 2, g)
    with pytest.raises(ValueError, match="not divisible"):
        data.RandomCrops([torch.rand(3, 40, 40)], 18, 4, 2, g)


def test_validation_pairs_are_fixed_centre_crops():
    imgs = {"a": torch.rand(3, 40, 50)}
    lr, hr = data.validation_pairs(imgs, 16, 2)
    assert torch.equal(hr[0], data.center_crop(imgs["a"], 16))
    assert lr.shape == (1, 3, 8, 8)


def test_fetch_offline_fails_fast_with_where_to_put_files(tmp_path, monkeypatch):
    def refuse(*a, **k):
        raise urllib.error.URLError("no network")
    monkeypatch.setattr(data.urllib.request, "urlretrieve", refuse)
    with pytest.raises(data.DatasetUnavailable, match=str(tmp_path / "facades")):
        data.fetch("facades", tmp_path)
    with pytest.raises(ValueError, match="Unknown dataset"):
        data.fetch("nope", tmp_path)


def test_fetch_uses_an_unpacked_folder(tmp_path):
    (tmp_path / "horse2zebra").mkdir()
    (tmp_path / "horse2zebra" / ".unpacked").touch()
    assert data.fetch("horse2zebra", tmp_path) == tmp_path / "horse2zebra"


def test_digits():
    x, y = data.digits(16)
    assert x.shape == (1797, 1, 16, 16) and y.shape == (1797,)
    assert 0 <= x.min() and x.max() <= 1 and set(y.tolist()) == set(range(10))


def test_pm1_round_trip_and_values():
    x = torch.tensor([0.0, 0.25, 1.0])
    assert torch.equal(data.to_pm1(x), torch.tensor([-1.0, -0.5, 1.0]))
    clamped = data.from_pm1(torch.tensor([-1.0, 0.0, 1.0, 3.0, -2.0]))
    assert torch.equal(clamped, torch.tensor([0.0, 0.5, 1.0, 1.0, 0.0]))
    assert torch.allclose(data.from_pm1(data.to_pm1(x)), x)
