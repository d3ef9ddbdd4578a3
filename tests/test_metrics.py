import importlib.util
import math
import urllib.error
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from helpers import data, degrade, metrics
from helpers import features as F


def test_rgb_to_y_bt601():
    rgb = torch.tensor([[1.0, 1, 1], [0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]]).view(5, 3, 1, 1)
    y = metrics.rgb_to_y(rgb).flatten() * 255
    assert torch.allclose(y, torch.tensor([235.0, 16, 16 + 65.481, 16 + 128.553, 16 + 24.966]), atol=1e-3)


def test_psnr_of_known_mse():
    hr = torch.zeros(2, 3, 8, 8)
    sr = hr + 0.1
    assert torch.allclose(metrics.psnr(sr, hr), torch.tensor([20.0, 20.0]), atol=1e-4)
    assert torch.allclose(metrics.mse(sr, hr), torch.full((2,), 0.01))
    assert math.isinf(float(metrics.psnr(hr, hr)[0]))


def test_psnr_y_uses_luma_only():
    hr = torch.zeros(1, 3, 8, 8)
    sr = hr.clone()
    sr[:, 0] = 0.1  # red error of 0.1 -> luma error 0.1 * 65.481 / 255
    expected = -20 * math.log10(0.1 * 65.481 / 255)
    assert abs(float(metrics.psnr(sr, hr, y_channel=True)) - expected) < 1e-3


def test_crop_border_removes_exactly_scale_pixels():
    hr = torch.zeros(1, 3, 12, 12)
    sr = hr.clone()
    sr[..., :2, :] = 1
    sr[..., :, -2:] = 1
    assert math.isinf(float(metrics.psnr(sr, hr, crop_border=2)))
    assert not math.isinf(float(metrics.psnr(sr, hr, crop_border=1)))
    inner = hr.clone()
    inner[..., 2, 5] = 1  # just inside a border of 2
    assert not math.isinf(float(metrics.psnr(inner, hr, crop_border=2)))
    with pytest.raises(ValueError, match="too small"):
        metrics.psnr(sr, hr, crop_border=6)


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="Shapes differ"):
        metrics.psnr(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 9))


def test_ssim_matches_scikit_image(photos):
    from skimage.metrics import structural_similarity

    noisy = degrade.add_gaussian_noise(photos, 0.05, torch.Generator().manual_seed(0))
    ours = metrics.ssim(noisy, photos)
    for i in range(len(photos)):
        ref = structural_similarity(noisy[i].permute(1, 2, 0).numpy(), photos[i].permute(1, 2, 0).numpy(),
                                    channel_axis=2, gaussian_weights=True, sigma=1.5,
                                    use_sample_covariance=False, data_range=1.0)
        assert abs(float(ours[i]) - ref) < 1e-4
    assert torch.allclose(metrics.ssim(photos, photos), torch.ones(3))


def test_ssim_y_and_too_small():
    x = torch.rand(1, 3, 20, 20)
    assert metrics.ssim(x, x, y_channel=True).shape == (1,)
    with pytest.raises(ValueError, match="at least 11x11"):
        metrics.ssim(x, x, crop_border=5)


def test_unit_normalise():
    f = torch.tensor([3.0, 4.0]).view(1, 2, 1, 1)
    assert torch.allclose(metrics.unit_normalise(f).flatten(), torch.tensor([0.6, 0.8]))


@pytest.fixture(scope="module")
def distance():
    from helpers.features import VGGFeatures

    return metrics.VGGDistance(VGGFeatures(metrics.DIST_LAYERS, source="hed"))


def test_vgg_distance_properties(distance, photos):
    assert distance.name == "VGG-dist (hed)"
    assert torch.allclose(distance(photos, photos), torch.zeros(3), atol=1e-6)
    noisy = degrade.add_gaussian_noise(photos, 0.05, torch.Generator().manual_seed(1))
    assert torch.allclose(distance(photos, noisy), distance(noisy, photos), rtol=1e-4)
    blurs = [distance(degrade.gaussian_blur(photos, s), photos) for s in (0.5, 1.0, 2.0)]
    assert (blurs[0] < blurs[1]).all() and (blurs[1] < blurs[2]).all()
    noises = [distance(degrade.add_gaussian_noise(photos, s, torch.Generator().manual_seed(2)), photos)
              for s in (0.02, 0.05, 0.1)]
    assert (noises[0] < noises[1]).all() and (noises[1] < noises[2]).all()


def test_vgg_distance_needs_its_layers():
    from helpers.features import VGGFeatures

    with pytest.raises(ValueError, match="missing"):
        metrics.VGGDistance(VGGFeatures(("relu1_2",), source="random"))


def test_lpips_unavailable_reports_a_reason(monkeypatch):
    import lpips

    def offline(*a, **k):
        raise urllib.error.URLError("no network")
    monkeypatch.setattr(lpips, "LPIPS", offline)
    monkeypatch.delenv("SRGAN_VGG_WEIGHTS", raising=False)
    m = metrics.LPIPSMetric()
    assert not m.available and "unavailable offline" in m.reason
    assert m(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)) is None
    row = metrics.sr_metrics(torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32), 2, lpips_metric=m)
    assert row["LPIPS"] == "unavailable offline"
    assert set(row) == {"PSNR-Y", "SSIM-Y", "PSNR-RGB", "LPIPS"}


def test_sr_metrics_averages_over_the_batch():
    hr = torch.zeros(2, 3, 16, 16)
    sr = hr.clone()
    sr[0] += 0.1
    sr[1] += 0.01
    row = metrics.sr_metrics(sr, hr, 2)
    assert abs(row["PSNR-RGB"] - (20 + 40) / 2) < 1e-3


# --------------------------------------------------------------------------- LPIPS: why not, and offline VGG (issue 19)
@pytest.fixture
def no_network(tmp_path, monkeypatch):
    """torch.hub (torchvision's downloads) offline, with an empty cache."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("SRGAN_VGG_WEIGHTS", raising=False)
    monkeypatch.setattr(F, "_CACHE", {})

    def refuse(*args, **kwargs):
        raise urllib.error.URLError("no network")
    monkeypatch.setattr(torch.hub, "urlopen", refuse)


def test_lpips_offline_missing_and_mismatch_are_told_apart(no_network, monkeypatch):
    offline = metrics.LPIPSMetric()
    assert offline.label == "unavailable offline" and "could not download the alex backbone (URLError" in offline.reason
    assert "SRGAN_VGG_WEIGHTS" in offline.reason
    import lpips

    def old_api(*args, **kwargs):
        raise TypeError("__init__() got an unexpected keyword argument 'pretrained'")
    monkeypatch.setattr(lpips, "LPIPS", old_api)
    mismatch = metrics.LPIPSMetric()
    assert mismatch.label == "unavailable: lpips version mismatch"
    assert "lpips 0.1.4, torch" in mismatch.reason and "unexpected keyword argument" in mismatch.reason
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "lpips" else real_find_spec(name, *a))
    missing = metrics.LPIPSMetric()
    assert missing.label == "unavailable: lpips not installed" and "pip install lpips" in missing.reason
    row = metrics.sr_metrics(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32), 2, lpips_metric=missing)
    assert row["LPIPS"] == "unavailable: lpips not installed"


@pytest.fixture
def standin_vgg16(tmp_path, monkeypatch):
    """A randomly initialised torchvision VGG16 (features, fp16: 29 MB) in $SRGAN_VGG_WEIGHTS, taken for
    torchvision's ImageNet file by its hash prefix. It checks the loading path; its LPIPS is not calibrated."""
    import torchvision

    path = tmp_path / "vgg16-standin.pth"
    torch.manual_seed(0)
    torch.save({f"features.{k}": v.half() for k, v in torchvision.models.vgg16().features.state_dict().items()}, path)
    prefix = data.sha256_file(path)[:8]
    monkeypatch.setattr(F, "_imagenet_weights", lambda arch: SimpleNamespace(url=f"https://x/vgg16-{prefix}.pth"))
    monkeypatch.setenv("SRGAN_VGG_WEIGHTS", str(path))
    return path


def test_lpips_vgg_is_computed_offline_from_torchvisions_vgg16_file(no_network, standin_vgg16):
    import lpips

    state = torch.load(standin_vgg16, weights_only=True)
    x, y = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    for requested in ("vgg", "alex"):  # vgg: read from the file; alex: its download fails, LPIPS-VGG instead
        m = metrics.LPIPSMetric(requested)
        assert m.available and m.net == "vgg"
        assert m.description == "lpips (vgg) on file:vgg16-standin.pth, normalize=True"
        net = m.model.net
        assert torch.equal(net.slice1[0].weight, state["features.0.weight"].float())  # the file's backbone ...
        assert torch.equal(getattr(net.slice5, "28").bias, state["features.28.bias"].float())
        linear = torch.load(Path(lpips.__file__).parent / "weights/v0.1/vgg.pth", map_location="cpu", weights_only=True)
        assert torch.equal(m.model.lin0.model[1].weight, linear["lin0.model.1.weight"])  # ... and lpips' own layers
        value = m(x, y)
        assert value.shape == (2,) and torch.isfinite(value).all() and (value > 0).all()
        assert torch.allclose(m(x, x), torch.zeros(2), atol=1e-6)


def test_lpips_vgg_is_not_computed_from_another_vgg_file(no_network, tmp_path, monkeypatch):
    other = tmp_path / "my_vgg.pth"
    torch.save({f"features.{k}": v.half() for k, v in F._random("vgg16").state_dict.items()}, other)
    monkeypatch.setenv("SRGAN_VGG_WEIGHTS", str(other))  # a VGG16, but not torchvision's ImageNet file
    m = metrics.LPIPSMetric("vgg")
    assert not m.available and m.label == "unavailable offline"
