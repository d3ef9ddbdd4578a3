import errno
import hashlib
import io
import tarfile
import urllib.error

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

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
    monkeypatch.setattr(data.urllib.request, "urlopen", refuse)
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


# --------------------------------------------------------------------------- bad input (issue 19)
def _exif_png(path, orientation):
    arr = np.zeros((24, 40, 3), np.uint8)  # stored 40 wide, 24 high, as a phone writes a portrait shot
    arr[0, 0] = (255, 0, 0)  # red at the stored top-left
    arr[0, -1] = (0, 0, 255)  # blue at the stored top-right
    exif = Image.Exif()
    exif[0x0112] = orientation  # "rotate 90 CW to display"
    Image.fromarray(arr).save(path, exif=exif)
    return arr


def test_exif_rotated_photo_comes_out_upright(tmp_path):
    arr = _exif_png(tmp_path / "portrait.png", 6)
    t = data.load_image(tmp_path / "portrait.png")
    upright = torch.from_numpy(np.rot90(arr, k=-1).copy()).permute(2, 0, 1).float() / 255  # 90 degrees clockwise
    assert t.shape == (3, 40, 24) and torch.equal(t, upright)
    assert t[:, 0, -1].tolist() == [1, 0, 0] and t[:, -1, -1].tolist() == [0, 0, 1]
    assert torch.equal(data.decode_image((tmp_path / "portrait.png").read_bytes()), t)  # uploads too


def test_images_above_the_pixel_limit_are_refused_before_decoding(tmp_path, monkeypatch):
    path = tmp_path / "bomb.png"
    Image.new("L", (1000, 800)).save(path)  # a few kB on disk, 0.8 megapixels decoded
    monkeypatch.setenv("SRGAN_MAX_PIXELS", "799999")

    def no_decoding(self):
        raise AssertionError("decoded an image above the limit")
    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(data.ImageTooLarge) as err:
        data.load_image(path)
    message = str(err.value)
    assert "1000x800 = 0.8 megapixels, above the limit of 0.799999 megapixels" in message
    assert "SRGAN_MAX_PIXELS=800000" in message and "--max-pixels 800000" in message
    with pytest.raises(data.ImageTooLarge):
        data.decode_image(path.read_bytes(), "the upload", max_pixels=1000)
    monkeypatch.setenv("SRGAN_MAX_PIXELS", "lots")
    with pytest.raises(ValueError, match="not a whole number"):
        data.load_image(path)


def test_the_pixel_limit_can_be_raised_past_pillows_own(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.new("RGB", (100, 50), (0, 255, 0)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow would refuse 5000 pixels as a bomb
    monkeypatch.setenv("SRGAN_MAX_PIXELS", "5000")
    assert data.load_image(path).shape == (3, 50, 100)
    assert Image.MAX_IMAGE_PIXELS == 1000  # Pillow's own setting is left as it was


def test_float_images_outside_0_1_are_refused_never_clipped(tmp_path):
    hdr = np.linspace(0, 3, 12 * 10, dtype=np.float32).reshape(12, 10)
    Image.fromarray(hdr, mode="F").save(tmp_path / "hdr.tif")
    with pytest.raises(ValueError, match=r"hdr.tif: its values run from 0 to 3 .*Scale it to \[0, 1\]"):
        data.load_image(tmp_path / "hdr.tif")
    unit = hdr / 3
    Image.fromarray(unit, mode="F").save(tmp_path / "unit.tif")
    assert torch.equal(data.load_image(tmp_path / "unit.tif")[1], torch.from_numpy(unit))  # in range: kept exactly
    Image.fromarray(np.full((4, 4), 70000, np.int32), mode="I").save(tmp_path / "int32.tif")
    with pytest.raises(ValueError, match="outside the 16-bit range"):
        data.load_image(tmp_path / "int32.tif")
    for bad in (np.full((2, 2, 3), 1.5), np.full((2, 2, 3), -0.1), np.full((2, 2, 3), np.nan)):
        with pytest.raises(ValueError, match="float data must be finite and in"):
            data.to_tensor(bad)


def test_an_image_smaller_than_the_scale_is_refused():
    with pytest.raises(ValueError, match="Image of 3x10 is smaller than the scale 4"):
        data.mod_crop(torch.rand(3, 3, 10), 4)
    assert data.mod_crop(torch.rand(3, 4, 10), 4).shape == (3, 4, 8)


def test_a_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    def disk_full(self, fp, *args, **kwargs):
        with open(fp, "wb") as f:
            f.write(b"\x89PNG\r\n")  # the start of a file, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(Image.Image, "save", disk_full)
    with pytest.raises(OSError, match="No space left"):
        data.save_image(torch.rand(3, 4, 4), tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


# --------------------------------------------------------------------------- downloads (no network: a fake urlopen)
class FakeResponse(io.BytesIO):
    """What ``urlopen`` returns: a readable body with headers; ``fail_after`` cuts the connection."""

    def __init__(self, body, length=None, fail_after=None):
        super().__init__(body)
        self.headers = {"Content-Length": str(len(body) if length is None else length)}
        self.fail_after = fail_after

    def read(self, n=-1):
        if self.fail_after is not None and self.tell() >= self.fail_after:
            raise ConnectionResetError("connection reset by peer")
        return super().read(n if self.fail_after is None else min(n, self.fail_after))


def _serve(monkeypatch, response):
    calls = []

    def urlopen(url, timeout=None):
        calls.append((url, timeout))
        return response
    monkeypatch.setattr(data.urllib.request, "urlopen", urlopen)
    return calls


def test_download_is_renamed_into_place_only_when_whole(tmp_path, monkeypatch):
    body = b"x" * 3_000_000
    calls = _serve(monkeypatch, FakeResponse(body))
    dest = data.download("https://example.org/a.zip", tmp_path / "a.zip", hashlib.sha256(body).hexdigest())
    assert dest.read_bytes() == body and calls == [("https://example.org/a.zip", data.DOWNLOAD_TIMEOUT_S)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zip"]


@pytest.mark.parametrize("response, message", [
    (FakeResponse(b"x" * 100, length=1000), "stopped after 100 of 1000 bytes"),
    (FakeResponse(b"x" * 100), "has SHA-256"),
    (FakeResponse(b"x" * 3_000_000, fail_after=1 << 20), "connection reset"),
])
def test_a_partial_or_wrong_download_is_never_taken_for_a_whole_one(tmp_path, monkeypatch, response, message):
    _serve(monkeypatch, response)
    with pytest.raises(OSError, match=message):
        data.download("https://example.org/a.zip", tmp_path / "a.zip", sha256="0" * 64)
    assert list(tmp_path.iterdir()) == []  # neither a.zip nor a.zip.part


def _tar_gz(members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tf.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def test_fetch_checks_the_known_sha256_and_unpacks(tmp_path, monkeypatch):
    archive = _tar_gz({"Set5_HR/baby.png": b"png bytes"})
    url, what, _ = data.DATA_HUB["set5"]
    monkeypatch.setitem(data.DATA_HUB, "set5", (url, what, hashlib.sha256(archive).hexdigest()))
    _serve(monkeypatch, FakeResponse(archive))
    assert (data.sr_benchmark_hr("set5", tmp_path) / "baby.png").read_bytes() == b"png bytes"
    # a truncated archive placed by hand is refused by its hash, not unpacked
    (tmp_path / "set5" / ".unpacked").unlink()
    (tmp_path / "set5" / "Set5_HR.tar.gz").write_bytes(archive[:50])
    with pytest.raises(data.DatasetUnavailable, match="has SHA-256 .* incomplete or another file. Delete it"):
        data.fetch("set5", tmp_path)


def test_fetch_times_out_instead_of_hanging(tmp_path, monkeypatch):
    def slow(url, timeout=None):
        assert timeout == data.DOWNLOAD_TIMEOUT_S
        raise TimeoutError("timed out")
    monkeypatch.setattr(data.urllib.request, "urlopen", slow)
    with pytest.raises(data.DatasetUnavailable, match="timed out"):
        data.fetch("facades", tmp_path)
    assert list((tmp_path / "facades").iterdir()) == []
