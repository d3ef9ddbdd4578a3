import importlib.metadata
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

    with pytest.raises(ValueError, match=r"^VGGDistance needs an extractor with layers \('relu1_2', 'relu2_2', "
                                         r"'relu3_3', 'relu4_3', 'relu5_3'\); missing \['relu2_2', 'relu3_3', "
                                         r"'relu4_3', 'relu5_3'\].$"):
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


def test_lpips_vgg_from_the_file_prints_nothing_builds_no_graph_and_never_downloads(no_network, standin_vgg16,
                                                                                      monkeypatch, capsys):
    downloads = []
    monkeypatch.setattr(metrics.LPIPSMetric, "_load_downloaded", lambda self, net: downloads.append(net))
    m = metrics.LPIPSMetric("vgg")  # as if online: the file is used all the same, nothing is downloaded
    assert m.available and m.description == "lpips (vgg) on file:vgg16-standin.pth, normalize=True"
    assert downloads == [] and capsys.readouterr().out == ""
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    assert not m(x, torch.rand(1, 3, 32, 32)).requires_grad  # a metric: no autograd graph kept


def test_lpips_vgg_is_not_computed_from_another_vgg_file(no_network, tmp_path, monkeypatch):
    other = tmp_path / "my_vgg.pth"
    torch.save({f"features.{k}": v.half() for k, v in F._random("vgg16").state_dict.items()}, other)
    monkeypatch.setenv("SRGAN_VGG_WEIGHTS", str(other))  # a VGG16, but not torchvision's ImageNet file
    m = metrics.LPIPSMetric("vgg")
    assert not m.available and m.label == "unavailable offline"


# ------------------------------------------------------------------ exact behaviour (mutation testing, issue 19)
def test_inputs_are_clamped_to_0_1_before_comparing():
    hr = torch.full((1, 3, 8, 8), 1.0)
    assert math.isinf(float(metrics.psnr(torch.full_like(hr, 1.5), hr)))  # 1.5 counts as 1
    assert math.isinf(float(metrics.psnr(hr, torch.full_like(hr, 1.5))))
    zero = torch.zeros(1, 3, 8, 8)
    assert math.isinf(float(metrics.psnr(torch.full_like(zero, -0.5), zero)))
    assert math.isinf(float(metrics.psnr(zero, torch.full_like(zero, -0.5))))
    assert torch.allclose(metrics.mse(torch.full_like(zero, 0.5), torch.full_like(zero, -3.0)), torch.tensor([0.25]))


def test_defaults_are_no_border_and_rgb():
    hr = torch.zeros(1, 3, 12, 12)
    edge = hr.clone()
    edge[..., 0, 0] = 1  # only a corner pixel differs: counted without a border crop
    assert float(metrics.mse(edge, hr)) == pytest.approx(1 / 144)
    chroma = hr.clone()
    chroma[:, 0], chroma[:, 2] = 0.1, -0.0  # red error only: RGB MSE 0.01 / 3, luma 0.1 * 65.481 / 255
    assert float(metrics.mse(chroma, hr)) == pytest.approx(0.01 / 3)
    assert float(metrics.mse(chroma, hr, y_channel=True)) == pytest.approx((0.1 * 65.481 / 255) ** 2, rel=1e-5)
    assert float(metrics.psnr(edge, hr)) == pytest.approx(10 * math.log10(144), rel=1e-6)
    assert float(metrics.psnr(chroma, hr)) == pytest.approx(10 * math.log10(3 / 0.01), rel=1e-5)
    x = torch.rand(1, 3, 11, 11)
    assert metrics.ssim(x, x).item() == pytest.approx(1.0)  # 11x11 is enough: no border crop by default


def test_too_small_checks_read_height_and_width():
    for shape in ((1, 3, 4, 20), (1, 3, 20, 4)):
        with pytest.raises(ValueError, match=r"^Image \(\d+, \d+\) is too small for a border crop of 2.$"):
            metrics.mse(torch.zeros(shape), torch.zeros(shape), crop_border=2)
    assert metrics.mse(torch.zeros(1, 3, 5, 5), torch.ones(1, 3, 5, 5), crop_border=2).item() == 1.0  # 1x1 left
    for shape in ((1, 3, 10, 30), (1, 3, 30, 10)):
        with pytest.raises(ValueError, match=r"^SSIM needs images of at least 11x11 after the border crop, got "
                                             r"\(\d+, \d+\).$"):
            metrics.ssim(torch.zeros(shape), torch.zeros(shape))
    x = torch.rand(1, 3, 13, 13)
    assert metrics.ssim(x, x, crop_border=1).item() == pytest.approx(1.0)  # 11x11 after the crop


def test_shape_errors_say_what_is_wrong():
    with pytest.raises(ValueError, match=r"^Shapes differ: \(1, 3, 8, 8\) vs \(1, 3, 8, 9\); compare images of the "
                                         r"same size.$"):
        metrics.mse(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 9))
    with pytest.raises(ValueError, match=r"^Expected \(B, C, H, W\) images, got \(3, 8, 8\).$"):
        metrics.mse(torch.zeros(3, 8, 8), torch.zeros(3, 8, 8))


def test_ssim_of_known_constant_images():
    # constant images: SSIM = (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1), with C1 = 0.01^2 (the C2 part is 1)
    a, b = torch.full((1, 1, 11, 11), 0.01), torch.full((1, 1, 11, 11), 0.03)
    c1 = 0.01**2
    assert metrics.ssim(a, b).item() == pytest.approx((2 * 0.01 * 0.03 + c1) / (0.01**2 + 0.03**2 + c1), rel=1e-4)
    # zero-mean images: the luminance part is 1, SSIM = (2 cov + C2) / (var_x + var_y + C2), C2 = 0.03^2
    x = torch.rand(1, 1, 11, 11) * 0.2
    w = metrics._gaussian_window()
    assert w.shape == (11, 11) and float(w.sum()) == pytest.approx(1.0) and w.argmax().item() == 60
    g = torch.exp(-((torch.arange(11.0) - 5) ** 2) / (2 * 1.5**2))
    assert torch.allclose(w, torch.outer(g, g) / g.sum() ** 2)
    mu = (w * x[0, 0]).sum()
    var = (w * x[0, 0] ** 2).sum() - mu**2
    c2 = 0.03**2
    y = 0.5 - x  # same variance, covariance -var, means mu and 0.5 - mu
    num = (2 * mu * (0.5 - mu) + c1) * (-2 * var + c2)
    den = (mu**2 + (0.5 - mu) ** 2 + c1) * (2 * var + c2)
    assert metrics.ssim(x, y).item() == pytest.approx(float(num / den), rel=1e-4)


def test_unit_normalise_of_small_features():
    f = torch.tensor([3e-6, 4e-6]).view(1, 2, 1, 1)
    assert torch.allclose(metrics.unit_normalise(f).flatten(), torch.tensor([0.6, 0.8]), atol=1e-5)
    assert torch.equal(metrics.unit_normalise(torch.zeros(1, 2, 1, 1)), torch.zeros(1, 2, 1, 1))


def test_vgg_distance_builds_no_graph(distance):
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    assert not distance(x, torch.rand(1, 3, 32, 32)).requires_grad  # a metric: no autograd graph kept


def test_vgg_distance_is_the_lpips_papers_formula(distance):
    x, y = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    fx, fy = distance.vgg(x), distance.vgg(y)
    per_layer = []
    for layer in ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3"):
        a = fx[layer] / fx[layer].norm(dim=1, keepdim=True)
        b = fy[layer] / fy[layer].norm(dim=1, keepdim=True)
        per_layer.append((a - b).pow(2).sum(dim=1).mean(dim=(1, 2)))
    assert torch.allclose(distance(x, y), torch.stack(per_layer).mean(0), rtol=1e-4)
    row = metrics.sr_metrics(x, y, 4, distance=distance)
    assert list(row) == ["PSNR-Y", "SSIM-Y", "PSNR-RGB", "VGG-dist (hed)"]
    assert row["VGG-dist (hed)"] == pytest.approx(float(distance(x, y).mean()), rel=1e-5)


def test_sr_metrics_use_the_scale_as_border_and_y_for_the_y_columns():
    hr = torch.rand(2, 3, 24, 24)
    sr = degrade.add_gaussian_noise(hr, 0.05, torch.Generator().manual_seed(0))
    sr[..., :3, :] = 1 - hr[..., :3, :]  # a wrong border of 3 rows: cropped at scale 3
    row = metrics.sr_metrics(sr, hr, 3)
    assert row["PSNR-Y"] == pytest.approx(float(metrics.psnr(sr, hr, 3, y_channel=True).mean()), rel=1e-6)
    assert row["SSIM-Y"] == pytest.approx(float(metrics.ssim(sr, hr, 3, y_channel=True).mean()), rel=1e-6)
    assert row["PSNR-RGB"] == pytest.approx(float(metrics.psnr(sr, hr, 3).mean()), rel=1e-6)
    assert row["PSNR-RGB"] != pytest.approx(float(metrics.psnr(sr, hr, 2).mean()), rel=1e-3)


class FakeLPIPS(torch.nn.Module):
    """Stands in for ``lpips.LPIPS``: records its arguments, talks as lpips does, returns the mean absolute
    difference per image as ``(B, 1, 1, 1)``."""

    calls: list[dict] = []

    def __init__(self, **kwargs):
        super().__init__()
        FakeLPIPS.calls.append(kwargs)
        self.lin = torch.nn.Linear(1, 1)
        print("Setting up [LPIPS] perceptual loss")

    def forward(self, x, y, normalize=False):
        self.normalize = normalize
        return (x - y).abs().mean(dim=(1, 2, 3), keepdim=True)


def test_a_downloaded_backbone_gives_a_quiet_frozen_metric(monkeypatch, capsys):
    import lpips

    monkeypatch.setattr(lpips, "LPIPS", FakeLPIPS)
    monkeypatch.delenv("SRGAN_VGG_WEIGHTS", raising=False)
    FakeLPIPS.calls.clear()
    m = metrics.LPIPSMetric()
    assert FakeLPIPS.calls == [{"net": "alex", "verbose": False}] and capsys.readouterr().out == ""
    assert m.available and (m.net, m.label, m.reason) == ("alex", "", "")
    assert m.description == "lpips (alex) on torchvision's ImageNet weights, normalize=True"
    assert not m.model.training and not any(p.requires_grad for p in m.model.parameters())
    x, y = torch.zeros(2, 3, 16, 16), torch.full((2, 3, 16, 16), 0.25)
    assert torch.equal(m(x, y), torch.tensor([0.25, 0.25])) and m.model.normalize is True
    assert metrics.sr_metrics(x, y, 2, lpips_metric=m)["LPIPS"] == 0.25


def test_why_the_perceptual_metric_is_unavailable(monkeypatch):
    import lpips
    import torchvision

    monkeypatch.delenv("SRGAN_VGG_WEIGHTS", raising=False)

    def offline(**kwargs):
        raise urllib.error.URLError("no network")
    monkeypatch.setattr(lpips, "LPIPS", offline)
    m = metrics.LPIPSMetric()
    assert (m.label, m.description, m.model, m.net) == ("unavailable offline", "", None, "alex")
    assert m.reason == ("unavailable offline: torchvision could not download the alex backbone (URLError: <urlopen "
                        "error no network>). For LPIPS-VGG offline, set $SRGAN_VGG_WEIGHTS to torchvision's ImageNet "
                        "VGG16 file (vgg16-397923af.pth).")
    versions = (f"lpips {importlib.metadata.version('lpips')}, torch {torch.__version__}, torchvision "
                f"{torchvision.__version__}")
    reasons = {
        "Error(s) in loading state_dict for LPIPS": (
            "unavailable: lpips version mismatch", f"unavailable: lpips does not work with this torch / torchvision "
            f"({versions}; RuntimeError: Error(s) in loading state_dict for LPIPS): a version mismatch; install the "
            "versions pinned in requirements.txt."),
        "boom": ("unavailable: lpips failed", f"unavailable: lpips failed ({versions}; RuntimeError: boom)."),
    }
    for message, (label, reason) in reasons.items():
        def broken(message=message, **kwargs):
            raise RuntimeError(message)
        monkeypatch.setattr(lpips, "LPIPS", broken)
        m = metrics.LPIPSMetric()
        assert (m.label, m.reason, m.available) == (label, reason, False)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "lpips" else real_find_spec(name))
    assert metrics.LPIPSMetric().reason == ("the lpips package is not installed: pip install lpips (the Colab set-up "
                                            "cell installs it)")
