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
    assert data.center_crop(x, 5).shape == (1, 5, 5)  # the default scale is 1: any size divides


def test_sample_split_is_by_image_and_disjoint():
    names = {split: set(data.sample_images(split)) for split in data.SPLITS}
    assert names["train"].isdisjoint(names["val"])
    assert names["val"] == {"chelsea", "coffee", "grace_hopper"}
    assert len(names["train"]) == 7
    for img in data.sample_images("val").values():
        assert img.shape[0] == 3 and 0 <= img.min() and img.max() <= 1 and min(img.shape[1:]) >= 256
    with pytest.raises(ValueError, match=r"^Unknown split 'test': use 'train' or 'val'.$"):
        data.sample_images("test")
    assert set(data.sample_images()) == names["train"]  # the default split


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
    with pytest.raises(data.DatasetUnavailable, match=str(tmp_path / "new" / "facades")):
        data.fetch("facades", tmp_path / "new")  # its folders are made as needed
    with pytest.raises(ValueError, match=r"^Unknown dataset 'nope': known are bsd100, div2k_train_hr, "
                                         r"div2k_valid_hr, facades, horse2zebra, set14, set5, urban100.$"):
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
    assert message.endswith("(a guard against decompression bombs: a small file can hold a huge image). If you trust "
                            "it, raise the limit: set SRGAN_MAX_PIXELS=800000 in the environment (or pass "
                            "--max-pixels 800000 to python -m helpers.upscale); or downscale the image first.")
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
    (FakeResponse(b"x" * 100, length=1000), r"^https://example.org/a.zip stopped after 100 of 1000 bytes: try again.$"),
    (FakeResponse(b"x" * 100), r"^https://example.org/a.zip has SHA-256 [0-9a-f]{64}, expected 0{64}: the file is "
                               r"corrupt or was changed on the server; try again, or report it if it persists.$"),
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


# ------------------------------------------------------------------ exact behaviour (mutation testing, issue 19)
def test_integer_images_scale_exactly():
    assert torch.equal(data.to_tensor(np.array([[0, 65535]], np.uint16))[0], torch.tensor([[0.0, 1.0]]))
    assert torch.equal(data.to_tensor(np.array([[0, 255]], np.uint8))[:, 0, 1], torch.ones(3))
    grey = data.to_tensor(np.array([[0.0, 0.25, 1.0]], np.float32))  # float data at both ends of [0, 1] is kept
    assert grey.shape == (3, 1, 3) and torch.equal(grey[2, 0], torch.tensor([0.0, 0.25, 1.0]))
    assert data.to_tensor(np.array([[True, False]])).tolist() == [[[1.0, 0.0]]] * 3
    with pytest.raises(ValueError, match=r"^Cannot make an RGB image from an array of shape \(2, 2, 5\).$"):
        data.to_tensor(np.zeros((2, 2, 5), np.uint8))
    with pytest.raises(ValueError, match=r"^its values run from 0 to 2 \(float data must be finite and in "
                                         r"\[0, 1\]; clipping would silently whiten or blacken it\). Scale it to "
                                         r"\[0, 1\] first \(e.g. divide by its maximum\) or save it as an 8- or "
                                         r"16-bit PNG.$"):
        data.to_tensor(np.array([[0.0, 2.0]]))


def test_alpha_composites_over_white():
    rgba = np.array([[[255, 0, 0, 255], [0, 0, 255, 51], [0, 0, 0, 0]]], np.uint8)
    t = data.to_tensor(rgba)
    a = 51 / 255
    assert torch.allclose(t[:, 0, 0], torch.tensor([1.0, 0.0, 0.0]))  # opaque: its own colour
    assert torch.allclose(t[:, 0, 1], torch.tensor([1 - a, 1 - a, 1.0]))  # blue at 20 %: mostly white
    assert torch.allclose(t[:, 0, 2], torch.ones(3))


@pytest.mark.parametrize("mode", ["RGBA", "LA", "PA", "P"])
def test_transparent_pixels_of_every_mode_load_white(tmp_path, mode):
    rgba = Image.new("RGBA", (2, 1), (0, 0, 0, 255))
    rgba.putpixel((1, 0), (0, 0, 0, 0))
    if mode == "P":
        img = Image.new("P", (2, 1), 0)
        img.putpalette([0, 0, 0, 10, 20, 30])
        img.putpixel((1, 0), 1)
        img.info["transparency"] = 1
    elif mode == "PA":
        img = rgba.convert("PA")
    else:
        img = rgba.convert(mode)
    t = data.image_to_tensor(img)
    assert torch.allclose(t[:, 0, 0], torch.zeros(3)) and torch.allclose(t[:, 0, 1], torch.ones(3))


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_a_transparent_colour_loads_white_too(tmp_path, mode):
    img = Image.new(mode, (2, 1), 0)
    img.putpixel((1, 0), (9, 9, 9) if mode == "RGB" else 9)
    img.save(tmp_path / "key.png", transparency=(0, 0, 0) if mode == "RGB" else 0)  # a PNG tRNS colour key
    t = data.load_image(tmp_path / "key.png")
    assert torch.allclose(t[:, 0, 0], torch.ones(3)) and torch.allclose(t[:, 0, 1], torch.full((3,), 9 / 255))


def test_sixteen_bit_range_is_checked_at_both_ends(tmp_path):
    ok = np.array([[0, 65535]], np.int32)
    Image.fromarray(ok, mode="I").save(tmp_path / "ok.tif")
    assert torch.equal(data.load_image(tmp_path / "ok.tif")[0], torch.tensor([[0.0, 1.0]]))
    for bad, low, high in ((np.array([[0, 65536]], np.int32), 0, 65536), (np.array([[-1, 5]], np.int32), -1, 5)):
        Image.fromarray(bad, mode="I").save(tmp_path / "bad.tif")
        with pytest.raises(ValueError, match=rf"^Cannot use {tmp_path / 'bad.tif'}: its integer values run from {low} "
                                             rf"to {high}, outside the 16-bit range 0-65535 this reader scales to "
                                             r"\[0, 1\]. Save it as a 16-bit PNG.$"):
            data.load_image(tmp_path / "bad.tif")


def test_pixel_limit_default_and_bounds(tmp_path, monkeypatch):
    monkeypatch.delenv("SRGAN_MAX_PIXELS", raising=False)
    assert data.max_image_pixels() == data.DEFAULT_MAX_PIXELS == 100_000_000
    monkeypatch.setenv("SRGAN_MAX_PIXELS", "1")
    assert data.max_image_pixels() == 1
    monkeypatch.setenv("SRGAN_MAX_PIXELS", "0")
    with pytest.raises(ValueError, match=r"^\$SRGAN_MAX_PIXELS='0' must be at least 1.$"):
        data.max_image_pixels()
    monkeypatch.setenv("SRGAN_MAX_PIXELS", "2.5")
    with pytest.raises(ValueError,
                       match=r"^\$SRGAN_MAX_PIXELS='2.5' is not a whole number of pixels \(e.g. 200000000\).$"):
        data.max_image_pixels()


def test_an_explicit_pixel_limit_wins_and_the_limit_itself_is_allowed(tmp_path, monkeypatch):
    path = tmp_path / "x.png"
    Image.new("RGB", (40, 25)).save(path)  # 1000 pixels
    monkeypatch.delenv("SRGAN_MAX_PIXELS", raising=False)
    with pytest.raises(data.ImageTooLarge, match=rf"^{path} is 40x25 = 0.001 megapixels, above the limit of "
                                                  r"0.000999 megapixels \(a guard"):
        data.load_image(path, max_pixels=999)
    monkeypatch.setenv("SRGAN_MAX_PIXELS", "10")
    assert data.load_image(path, max_pixels=1000).shape == (3, 25, 40)
    monkeypatch.setenv("SRGAN_MAX_PIXELS", "1000")
    assert data.decode_image(path.read_bytes()).shape == (3, 25, 40)


def test_read_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(ValueError, match=rf"^Cannot read {bad} as an image \(.*\). The file is corrupt or not an "
                                         r"image: re-export it as PNG or JPEG.$"):
        data.load_image(bad)
    with pytest.raises(ValueError, match="Cannot read my upload as an image"):
        data.decode_image(b"nope", "my upload")
    with pytest.raises(FileNotFoundError, match=rf"^No image file at {tmp_path / 'x.png'}: check the path \(it is "
                                                r"resolved from .*\) or give an absolute one.$"):
        data.open_image(tmp_path / "x.png")
    hdr = np.full((2, 2), 2.0, np.float32)
    Image.fromarray(hdr, mode="F").save(tmp_path / "f.tif")
    with pytest.raises(ValueError, match=rf"Cannot use {tmp_path / 'f.tif'}: its values"):
        data.load_image(tmp_path / "f.tif")
    with pytest.raises(ValueError, match=r"^Cannot use the image: its values"):
        data.image_to_tensor(Image.fromarray(hdr, mode="F"))
    with pytest.raises(ValueError, match=r"^Cannot use the upload: its values"):
        buf = io.BytesIO()
        Image.fromarray(hdr, mode="F").save(buf, format="TIFF")
        data.decode_image(buf.getvalue())


def test_every_image_extension_is_listed_in_any_case(tmp_path):
    names = ["a.png", "b.jpg", "c.jpeg", "d.bmp", "e.tif", "f.tiff", "g.webp", "H.PNG", "i.JPG"]
    for name in names + ["notes.txt", "j.gif", "k.png.part"]:
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in data.list_images(tmp_path)] == sorted(names)
    (tmp_path / "sub").mkdir()
    with pytest.raises(FileNotFoundError, match=r"^No images \(.png, .jpg, .jpeg, .bmp, .tif, .tiff, .webp\) in "
                                                rf"{tmp_path / 'sub'}.$"):
        data.list_images(tmp_path / "sub")
    with pytest.raises(FileNotFoundError, match=rf"^No folder at {tmp_path / 'missing'}.$"):
        data.list_images(tmp_path / "missing")


def test_load_folder_keys_by_stem_in_name_order(tmp_path):
    for name, value in (("b", 0.0), ("a", 1.0)):
        data.save_image(torch.full((3, 2, 2), value), tmp_path / f"{name}.png")
    folder = data.load_folder(tmp_path)
    assert list(folder) == ["a", "b"] and float(folder["a"].min()) == 1.0 and float(folder["b"].max()) == 0.0


def test_save_image_clamps_creates_folders_and_overwrites(tmp_path):
    path = tmp_path / "a" / "b" / "x.png"
    data.save_image(torch.tensor([-0.5, 0.5, 1.5]).view(3, 1, 1), path)
    assert np.asarray(Image.open(path)).tolist() == [[[0, 128, 255]]]
    data.save_image(torch.zeros(3, 1, 1), path)
    assert np.asarray(Image.open(path)).tolist() == [[[0, 0, 0]]]


def test_a_write_that_fails_before_the_file_exists_reraises_its_error(tmp_path, monkeypatch):
    def refuse(self, fp, *args, **kwargs):
        raise OSError(errno.EDQUOT, "Disk quota exceeded")
    monkeypatch.setattr(Image.Image, "save", refuse)
    with pytest.raises(OSError, match="Disk quota exceeded"):
        data.save_image(torch.rand(3, 4, 4), tmp_path / "x.png")


def test_sample_dir_is_in_the_checkout_when_it_has_a_data_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "PROJECT_ROOT", tmp_path)
    monkeypatch.setenv("SRGAN_CACHE", str(tmp_path / "cache"))
    assert data.sample_dir() == tmp_path / "cache" / "sample"
    (tmp_path / "data").mkdir()
    assert data.sample_dir() == tmp_path / "data" / "sample"


def test_sizes_smaller_than_the_scale_or_crop_are_refused_on_either_side():
    with pytest.raises(ValueError, match=r"^Image of 10x3 is smaller than the scale 4: no 4x4 block is left to make an "
                                         r"LR pixel from. Use an image of at least 4x4 \(far larger for metrics\).$"):
        data.mod_crop(torch.rand(3, 10, 3), 4)
    assert data.mod_crop(torch.rand(3, 4, 4), 4).shape == (3, 4, 4)
    with pytest.raises(ValueError, match=r"^Image of 20x10 is smaller than the crop 16x16: use a smaller crop or a "
                                         r"larger image.$"):
        data.center_crop(torch.rand(3, 20, 10), 16)
    assert data.center_crop(torch.rand(3, 16, 16), 16).shape == (3, 16, 16)
    with pytest.raises(ValueError, match=r"^Crop size 6 is not divisible by scale 4: use a multiple of 4.$"):
        data.center_crop(torch.rand(3, 20, 20), 6, 4)
    with pytest.raises(ValueError, match="^RandomCrops needs at least one image.$"):
        data.RandomCrops([], 8, 2, 1, torch.Generator())


def test_random_crops_cover_every_position_and_flip_left_right_half_the_time():
    img = torch.arange(6.0).view(1, 2, 3).expand(3, 2, 3).contiguous()  # 2x3: crops of 2 at 2 positions
    crops = data.RandomCrops({"a": img}, 2, 1, batch_size=400, generator=torch.Generator().manual_seed(0))
    assert iter(crops) is crops
    _, hr = next(crops)
    windows = [img[:, :, 0:2], img[:, :, 1:3]]
    kinds = [next(i for i, w in enumerate(windows + [w.flip(-1) for w in windows]) if torch.equal(p, w)) for p in hr]
    counts = np.bincount(kinds, minlength=4)
    assert (counts > 60).all()  # both positions, each plain and mirrored, about 100 times
    plain = data.RandomCrops([img], 2, 1, batch_size=50, generator=torch.Generator().manual_seed(0), flip=False)
    _, hr = next(plain)
    assert all(torch.equal(p, windows[0]) or torch.equal(p, windows[1]) for p in hr)
    exact = data.RandomCrops([img[:, :2, :2], img[:, :2, :2]], 2, 1, 20, torch.Generator(), flip=False)
    assert torch.equal(next(exact)[1], img[:, :2, :2].expand(20, 3, 2, 2))


def test_download_timeout_is_set_inside_and_restored():
    import socket

    before = socket.getdefaulttimeout()
    with data.download_timeout(7.5):
        assert socket.getdefaulttimeout() == 7.5
    assert socket.getdefaulttimeout() == before
    socket.setdefaulttimeout(3.0)  # a default the user set: restored, not replaced by None
    try:
        with data.download_timeout(7.5):
            pass
        assert socket.getdefaulttimeout() == 3.0
    finally:
        socket.setdefaulttimeout(before)
    with data.download_timeout():
        assert socket.getdefaulttimeout() == data.DOWNLOAD_TIMEOUT_S == 60.0
    with pytest.raises(KeyError), data.download_timeout(1.0):
        raise KeyError("inside")
    assert socket.getdefaulttimeout() == before


def test_the_datasets_hosts_and_names():
    for name, (url, what, sha) in data.DATA_HUB.items():
        assert url.startswith("https://") and url.endswith((".zip", ".tar.gz")) and sha is None, name
        assert what.split("/")[0] in url, name  # the archive's top folder is named after it
    assert data.SR_BENCHMARKS == {"set5": "Set5", "set14": "Set14", "bsd100": "BSD100", "urban100": "Urban100"}
    assert data.DATA_HUB["urban100"][0].endswith("/eugenesiow/Urban100/resolve/main/data/Urban100_HR.tar.gz")
    assert data.DATA_HUB["urban100"][1] == "Urban100_HR/*.png"
    with pytest.raises(ValueError, match="^Unknown test set 'set6': use one of set5, set14, bsd100, urban100.$"):
        data.sr_benchmark_hr("set6")


def test_datasets_dir_is_made_where_srgan_data_says(tmp_path, monkeypatch):
    monkeypatch.setenv("SRGAN_DATA", str(tmp_path / "a" / "b"))
    assert data.datasets_dir() == tmp_path / "a" / "b" and (tmp_path / "a" / "b").is_dir()
    assert data.datasets_dir() == tmp_path / "a" / "b"  # a second call finds it
    monkeypatch.setenv("SRGAN_DATA", "")
    monkeypatch.setenv("SRGAN_CACHE", str(tmp_path / "cache"))
    assert data.datasets_dir() == tmp_path / "cache" / "datasets"


def test_fetch_unpacks_a_zip_and_marks_it_done(tmp_path, monkeypatch):
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("horse2zebra/trainA/1.jpg", b"jpg bytes")
    _serve(monkeypatch, FakeResponse(buf.getvalue()))
    root = data.fetch("horse2zebra", tmp_path)
    assert root == tmp_path / "horse2zebra" and (root / "horse2zebra" / "trainA" / "1.jpg").read_bytes() == b"jpg bytes"
    assert (root / ".unpacked").exists() and (root / "horse2zebra.zip").exists()
    monkeypatch.setattr(data.urllib.request, "urlopen", None)  # done: no second download
    assert data.fetch("horse2zebra", tmp_path) == root


def test_offline_message_names_the_archive_and_the_folder(tmp_path, monkeypatch):
    def refuse(*a, **k):
        raise urllib.error.URLError("no network")
    monkeypatch.setattr(data.urllib.request, "urlopen", refuse)
    with pytest.raises(data.DatasetUnavailable) as err:
        data.fetch("facades", tmp_path)
    assert str(err.value) == (
        "The dataset 'facades' is not available: the download failed (<urlopen error no network>). Offline? "
        "Download the file facades.tar.gz from https://efrosgans.eecs.berkeley.edu/pix2pix/datasets/facades.tar.gz "
        f"on a machine with internet and place it under {tmp_path / 'facades'} (or point $SRGAN_DATA there); it is "
        "unpacked from there on the next run. The notebooks run on the embedded sample data by default.")


def test_torchvision_datasets_get_their_split_and_fail_clearly_offline(tmp_path, monkeypatch):
    import torchvision

    calls = []

    class Fake:
        def __init__(self, root, download, transform, **split):
            calls.append((root, download, type(transform).__name__, split))
    for cls in ("MNIST", "FashionMNIST", "Flowers102"):
        monkeypatch.setattr(torchvision.datasets, cls, Fake)
    data.torchvision_dataset("mnist", root=tmp_path)
    data.torchvision_dataset("fashion_mnist", train=False, root=tmp_path)
    data.torchvision_dataset("flowers102", root=tmp_path)
    data.torchvision_dataset("flowers102", train=False, root=tmp_path)
    assert calls == [(tmp_path, True, "ToTensor", {"train": True}), (tmp_path, True, "ToTensor", {"train": False}),
                     (tmp_path, True, "ToTensor", {"split": "train"}), (tmp_path, True, "ToTensor", {"split": "test"})]
    assert data.TORCHVISION_DATASETS == ("mnist", "fashion_mnist", "flowers102")
    with pytest.raises(ValueError, match="^Unknown torchvision dataset 'cifar': use one of mnist, fashion_mnist, "
                                         "flowers102.$"):
        data.torchvision_dataset("cifar", root=tmp_path)

    def offline(*a, **k):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")
    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
    with pytest.raises(data.DatasetUnavailable, match="The dataset 'mnist' is not available: the download failed "
                                                      r"\(Error downloading.*Download it on a machine"):
        data.torchvision_dataset("mnist", root=tmp_path)


# slow (scikit-learn, the sample photographs): the second stage of `make mutation`'s runner
def test_digits_are_sklearns_scaled_to_0_1_and_resized_bilinearly():
    from sklearn.datasets import load_digits

    x8, y = data.digits(8)
    d = load_digits()
    assert torch.equal(x8[:, 0], torch.from_numpy(d.images.astype(np.float32) / 16)) and x8.max() == 1.0
    assert torch.equal(y, torch.from_numpy(d.target)) and y.dtype == torch.int64
    assert data.digits()[0].shape == (len(y), 1, 16, 16) and data.digits(9)[0].shape[-2:] == (9, 9)
    x12, _ = data.digits(12)
    ref = torch.nn.functional.interpolate(x8[:5], size=(12, 12), mode="bilinear", align_corners=False).clamp(0, 1)
    assert torch.allclose(x12[:5], ref)


def test_build_sample_data_writes_every_photograph(tmp_path):
    from sklearn.datasets import load_sample_images

    root = data.build_sample_data(tmp_path / "new" / "folder")  # folders made as needed
    assert root == tmp_path / "new" / "folder"
    written = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert written == {f"train/{n}.png" for n in ("astronaut", "china", "flower", "hubble_deep_field",
                                                   "immunohistochemistry", "motorcycle", "rocket")} | {
        f"val/{n}.png" for n in ("chelsea", "coffee", "grace_hopper")}
    tmp_path = root
    sk = load_sample_images().images
    assert np.array_equal(np.asarray(Image.open(tmp_path / "train" / "china.png")), sk[0])
    assert np.array_equal(np.asarray(Image.open(tmp_path / "train" / "flower.png")), sk[1])
    motorcycle = np.asarray(Image.open(tmp_path / "train" / "motorcycle.png"))
    import skimage.data

    assert np.array_equal(motorcycle, skimage.data.stereo_motorcycle()[0])  # the left view
    assert np.array_equal(np.asarray(Image.open(tmp_path / "val" / "coffee.png")), skimage.data.coffee())
    hopper = np.asarray(Image.open(tmp_path / "val" / "grace_hopper.png"))
    assert hopper.shape == (600, 512, 3)


def test_a_download_is_written_to_its_part_file_first(tmp_path, monkeypatch):
    seen = []

    class Watching(FakeResponse):
        def read(self, n=-1):
            seen.append(sorted(p.name for p in tmp_path.iterdir()))
            return super().read(n)
    _serve(monkeypatch, Watching(b"x" * 10))
    data.download("https://example.org/a.zip", tmp_path / "a.zip")
    assert seen[0] == ["a.zip.part"] and sorted(p.name for p in tmp_path.iterdir()) == ["a.zip"]


def test_sha256_file_hashes_the_whole_file(tmp_path):
    body = bytes(range(256)) * 9000  # 2.3 MB: more than one of the 1 MiB blocks it reads
    (tmp_path / "f.bin").write_bytes(body)
    assert data.sha256_file(tmp_path / "f.bin") == hashlib.sha256(body).hexdigest()
