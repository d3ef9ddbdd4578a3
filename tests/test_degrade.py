import pytest
import torch

from helpers import degrade


def test_bicubic_down_shape_range_and_constant():
    hr = torch.rand(2, 3, 32, 48)
    lr = degrade.bicubic_down(hr, 4)
    assert lr.shape == (2, 3, 8, 12) and lr.min() >= 0 and lr.max() <= 1
    flat = torch.full((1, 3, 16, 16), 0.3)
    assert torch.allclose(degrade.bicubic_down(flat, 2), torch.full((1, 3, 8, 8), 0.3), atol=1e-6)


def test_bicubic_down_is_antialiased():
    # a 1-pixel checkerboard averages to grey only with antialiasing
    hr = ((torch.arange(16)[:, None] + torch.arange(16)[None]) % 2).float().expand(1, 3, 16, 16)
    lr = degrade.bicubic_down(hr, 2)
    assert (lr - 0.5).abs().max() < 0.05


def test_bicubic_down_rejects_sizes_not_divisible():
    with pytest.raises(ValueError, match="not divisible by scale 4"):
        degrade.bicubic_down(torch.rand(1, 3, 30, 32), 4)


def test_bicubic_down_rejects_unbatched():
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        degrade.bicubic_down(torch.rand(3, 32, 32), 2)


def test_upsample_shape_and_nearest_values():
    lr = torch.rand(1, 3, 5, 7)
    assert degrade.upsample(lr, 3).shape == (1, 3, 15, 21)
    near = degrade.upsample(lr, 2, mode="nearest")
    assert torch.equal(near[..., ::2, ::2], lr)


def test_gaussian_kernel():
    k = degrade.gaussian_kernel1d(1.0)
    assert k.numel() == 7 and abs(float(k.sum()) - 1) < 1e-6 and int(k.argmax()) == 3
    assert degrade.gaussian_kernel1d(2.0).numel() == 13
    with pytest.raises(ValueError):
        degrade.gaussian_kernel1d(0)


def test_blur_keeps_constant_and_mean_and_reduces_variance():
    flat = torch.full((1, 3, 20, 20), 0.7)
    assert torch.allclose(degrade.gaussian_blur(flat, 1.5), flat, atol=1e-6)
    x = torch.rand(1, 3, 40, 40)
    y = degrade.gaussian_blur(x, 1.5)
    assert y.shape == x.shape and y.var() < 0.3 * x.var()
    assert abs(float(y.mean() - x.mean())) < 0.01
    assert degrade.gaussian_blur(x, 3.0).var() < y.var()


def test_noise_has_the_asked_standard_deviation():
    x = torch.full((1, 3, 64, 64), 0.5)
    y = degrade.add_gaussian_noise(x, 0.05, torch.Generator().manual_seed(0))
    assert abs(float((y - x).std()) - 0.05) < 0.003
    assert abs(float((y - x).mean())) < 0.003


def test_jpeg_round_trip_shape_and_loss():
    x = torch.rand(2, 3, 32, 32)
    y = degrade.jpeg(x, 10)
    assert y.shape == x.shape and 0 <= y.min() and y.max() <= 1
    assert (degrade.jpeg(x, 90) - x).abs().mean() < (y - x).abs().mean()


def test_shift_moves_content_right_and_replicates_edges():
    x = torch.arange(5.0).view(1, 1, 1, 5).expand(1, 3, 2, 5)
    y = degrade.shift(x, 2)
    assert y[0, 0, 0].tolist() == [0, 0, 0, 1, 2]
    y = degrade.shift(x, -1)
    assert y[0, 0, 0].tolist() == [1, 2, 3, 4, 4]
    col = torch.arange(4.0).view(1, 1, 4, 1).expand(1, 3, 4, 3)
    assert degrade.shift(col, 0, 1)[0, 0, :, 0].tolist() == [0, 0, 1, 2]
    with pytest.raises(ValueError):
        degrade.shift(x, 5)


def test_colour_shift_adds_per_channel_and_clamps():
    x = torch.full((1, 3, 2, 2), 0.5)
    y = degrade.colour_shift(x, (0.1, 0.0, -0.6))
    assert torch.allclose(y[0, :, 0, 0], torch.tensor([0.6, 0.5, 0.0]))
