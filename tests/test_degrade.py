import io
import math
import re

import numpy as np
import pytest
import torch
from PIL import Image

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


# ------------------------------------------------------------------ exact behaviour (mutation testing, issue 19)
def test_batch_check_wants_three_channels_and_a_batch():
    for bad in (torch.rand(1, 1, 8, 8), torch.rand(1, 4, 8, 8), torch.rand(2, 1, 3, 8, 8)):
        shape = re.escape(str(tuple(bad.shape)))
        with pytest.raises(ValueError, match=rf"^Expected images of shape \(B, 3, H, W\), got {shape}: "
                                             r"add a batch dimension with img\[None\] or convert to RGB first.$"):
            degrade.gaussian_blur(bad, 1.0)


def test_divisibility_is_checked_on_both_sides():
    with pytest.raises(ValueError, match=r"^HR size 32x30 is not divisible by scale 4: crop it to a multiple of 4 "
                                         r"first \(helpers.data.mod_crop\(img, 4\)\).$"):
        degrade.bicubic_down(torch.rand(1, 3, 32, 30), 4)
    degrade.check_divisible(32, 28, 4)


def _step(h=16, w=16):
    """A hard vertical edge, 0 left and 1 right: bicubic interpolation overshoots on both sides of it."""
    return (torch.arange(w) >= w // 2).float().expand(1, 3, h, w).contiguous()


def test_bicubic_is_clamped_where_it_overshoots():
    step = _step()
    raw = torch.nn.functional.interpolate(step, scale_factor=0.5, mode="bicubic", antialias=True, align_corners=False)
    assert raw.min() < 0 and raw.max() > 1  # the ringing that the clamp removes
    assert torch.equal(degrade.bicubic_down(step, 2), raw.clamp(0, 1))
    raw_up = torch.nn.functional.interpolate(step, scale_factor=2, mode="bicubic", align_corners=False)
    assert raw_up.min() < 0 and raw_up.max() > 1
    assert torch.equal(degrade.upsample(step, 2), raw_up.clamp(0, 1))


def test_upsample_samples_at_pixel_centres():
    ramp = torch.tensor([0.0, 1.0]).view(1, 1, 1, 2).expand(1, 3, 1, 2)
    up = degrade.upsample(ramp, 2, mode="bilinear")[0, 0, 0]
    assert torch.allclose(up, torch.tensor([0.0, 0.25, 0.75, 1.0]))  # align_corners=True would give thirds


def test_gaussian_kernel_formula_and_radius():
    for sigma in (0.2, 0.5, 1.0, 1.3):
        radius = max(1, math.ceil(3 * sigma))
        x = torch.arange(-radius, radius + 1, dtype=torch.float32)
        g = torch.exp(-x**2 / (2 * sigma**2))
        assert torch.allclose(degrade.gaussian_kernel1d(sigma), g / g.sum(), atol=1e-7)
    assert degrade.gaussian_kernel1d(0.2).numel() == 3  # radius at least 1
    assert degrade.gaussian_kernel1d(1.3).numel() == 2 * 4 + 1  # ceil(3.9) = 4
    with pytest.raises(ValueError, match="^sigma must be positive, got -1$"):
        degrade.gaussian_kernel1d(-1)


def test_blur_is_the_2d_gaussian_with_reflected_edges():
    x = torch.rand(2, 3, 9, 11)
    for sigma in (0.8, 1.3):
        k = degrade.gaussian_kernel1d(sigma)
        r = (k.numel() - 1) // 2
        ref = torch.nn.functional.conv2d(torch.nn.functional.pad(x, (r, r, r, r), mode="reflect"),
                                         torch.outer(k, k).expand(3, 1, -1, -1), groups=3)
        assert torch.allclose(degrade.gaussian_blur(x, sigma), ref, atol=1e-6)


def test_every_degradation_clamps_to_0_1():
    over = torch.full((1, 3, 8, 8), 1.5)
    under = torch.full((1, 3, 8, 8), -0.5)
    for f in (lambda t: degrade.gaussian_blur(t, 1.0), lambda t: degrade.add_gaussian_noise(t, 0.01),
              lambda t: degrade.colour_shift(t, (0.0, 0.0, 0.0))):
        assert torch.equal(f(over), torch.ones_like(over)) and torch.equal(f(under), torch.zeros_like(under))
    assert torch.equal(degrade.colour_shift(torch.full((1, 3, 1, 1), 0.5), (0.6, 0, 0))[0, :, 0, 0],
                       torch.tensor([1.0, 0.5, 0.5]))


def test_noise_is_the_generators_normal_draws_added():
    x = torch.full((2, 3, 4, 4), 0.5)
    y = degrade.add_gaussian_noise(x, 0.1, torch.Generator().manual_seed(5))
    expected = 0.5 + 0.1 * torch.randn((2, 3, 4, 4), generator=torch.Generator().manual_seed(5))
    assert torch.allclose(y, expected.clamp(0, 1), atol=1e-7)


def _pillow_jpeg(one, quality):
    arr = (one.permute(1, 2, 0).numpy() * 255).round().clip(0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=quality)
    return torch.from_numpy(np.asarray(Image.open(buf), dtype=np.float32) / 255).permute(2, 0, 1)


def test_jpeg_is_pillows_round_trip_of_the_8_bit_image():
    x = torch.rand(2, 3, 16, 16)
    x[0, :, :4] = 0.0  # black and white blocks: the rounding and the ends of the 8-bit range
    x[0, :, 4:8] = 1.0
    for quality in (20, 75):
        y = degrade.jpeg(x, quality)
        assert torch.equal(y, torch.stack([_pillow_jpeg(one, quality) for one in x]))
    assert degrade.jpeg(x.double(), 75).dtype == torch.float64
    assert torch.equal(degrade.jpeg(x * 3 - 1, 75), degrade.jpeg((x * 3 - 1).clamp(0, 1), 75))  # saturates, no wrap
    grey = torch.full((1, 3, 8, 8), 0.2)  # 51 / 255: a flat image survives JPEG exactly
    assert torch.allclose(degrade.jpeg(grey, 90), torch.full((1, 3, 8, 8), 51 / 255))


def test_shift_in_both_directions_at_once():
    x = torch.arange(20.0).view(1, 1, 4, 5).expand(1, 3, 4, 5)
    assert torch.equal(degrade.shift(x, 0), x) and torch.equal(degrade.shift(x, 0, 0), x)
    y = degrade.shift(x, 1, 2)[0, 0]
    assert y.tolist() == [[0, 0, 1, 2, 3], [0, 0, 1, 2, 3], [0, 0, 1, 2, 3], [5, 5, 6, 7, 8]]
    y = degrade.shift(x, -2, -1)[0, 0]
    assert y.tolist() == [[7, 8, 9, 9, 9], [12, 13, 14, 14, 14], [17, 18, 19, 19, 19], [17, 18, 19, 19, 19]]
    assert degrade.shift(x, 4, -3).shape == x.shape
    for dx, dy in ((5, 0), (-5, 0), (0, 4), (0, -4)):
        with pytest.raises(ValueError, match=rf"^Shift \({dx}, {dy}\) is larger than the image 4x5.$"):
            degrade.shift(x, dx, dy)


def _replay(hr, scale, seed, ranges):
    """realworld_degrade by hand: the documented steps with the documented order of random draws."""
    g = torch.Generator().manual_seed(seed)
    out, params = [], []
    for img in hr:
        (b0, b1), (n0, n1), (q0, q1) = ranges
        p = {"blur_sigma": b0 + (b1 - b0) * float(torch.rand((), generator=g)),
             "noise_sigma": n0 + (n1 - n0) * float(torch.rand((), generator=g)),
             "jpeg_quality": int(torch.randint(q0, q1 + 1, (), generator=g))}
        x = degrade.bicubic_down(degrade.gaussian_blur(img[None], p["blur_sigma"]), scale)
        if p["noise_sigma"]:
            x = degrade.add_gaussian_noise(x, p["noise_sigma"], g)
        out.append(degrade.jpeg(x, p["jpeg_quality"]))
        params.append(p)
    return torch.cat(out), params


def test_realworld_degrade_follows_its_documented_recipe():
    hr = torch.rand(3, 3, 16, 16)
    ranges = tuple(degrade.REALWORLD_RANGES[k] for k in ("blur_sigma", "noise_sigma", "jpeg_quality"))
    lr, params = degrade.realworld_degrade(hr, generator=torch.Generator().manual_seed(7))
    ref, ref_params = _replay(hr, 4, 7, ranges)
    assert lr.shape == (3, 3, 4, 4) and torch.equal(lr, ref) and params == ref_params
    custom = ((1.0, 2.0), (0.0, 0.0), (1, 3))  # no noise: it draws no random numbers
    lr, params = degrade.realworld_degrade(hr, 2, torch.Generator().manual_seed(8), *custom)
    ref, ref_params = _replay(hr, 2, 8, custom)
    assert torch.equal(lr, ref) and params == ref_params
    assert all(1 <= p["jpeg_quality"] <= 3 and p["noise_sigma"] == 0 for p in params)


def test_realworld_parameters_stay_in_their_ranges():
    assert degrade.REALWORLD_RANGES == {"blur_sigma": (0.6, 1.6), "noise_sigma": (0.01, 0.04), "jpeg_quality": (50, 90)}
    _, params = degrade.realworld_degrade(torch.rand(40, 3, 8, 8), 2, torch.Generator().manual_seed(0),
                                          (0.5, 0.7), (0.01, 0.02), (94, 95))
    for key, (lo, hi) in (("blur_sigma", (0.5, 0.7)), ("noise_sigma", (0.01, 0.02)), ("jpeg_quality", (94, 95))):
        values = [p[key] for p in params]
        assert lo <= min(values) < lo + 0.3 * (hi - lo) and hi - 0.3 * (hi - lo) < max(values) <= hi
    _, fixed = degrade.realworld_degrade(torch.rand(2, 3, 8, 8), 2, None, (1.0, 1.0), (0.03, 0.03), (1, 1))
    assert fixed[1] == {"blur_sigma": 1.0, "noise_sigma": 0.03, "jpeg_quality": 1}
    _, top = degrade.realworld_degrade(torch.rand(1, 3, 8, 8), 2, None, (1.0, 1.0), (0.0, 0.0), (95, 95))
    assert top[0]["jpeg_quality"] == 95


@pytest.mark.parametrize("kwargs, message", [
    ({"blur_sigma": (1.0, 0.5)}, r"^blur_sigma range \(1.0, 0.5\) must be \(low, high\) with 0 <= low <= high.$"),
    ({"noise_sigma": (-0.01, 0.02)}, r"^noise_sigma range \(-0.01, 0.02\) must be"),
    ({"jpeg_quality": (60, 50)}, r"^jpeg_quality range \(60, 50\) must be"),
    ({"blur_sigma": (0.0, 1.0)},
     r"^blur_sigma must be > 0 and jpeg_quality within 1-95, got \(0.0, 1.0\), \(50, 90\).$"),
    ({"jpeg_quality": (0, 50)}, "jpeg_quality within 1-95"),
    ({"jpeg_quality": (50, 96)}, "jpeg_quality within 1-95"),
])
def test_realworld_degrade_rejects_bad_ranges(kwargs, message):
    with pytest.raises(ValueError, match=message):
        degrade.realworld_degrade(torch.rand(1, 3, 8, 8), 2, **kwargs)


def test_realworld_degrade_checks_its_input():
    with pytest.raises(ValueError, match="not divisible by scale 4"):
        degrade.realworld_degrade(torch.rand(1, 3, 18, 16))
    gen = torch.Generator().manual_seed(0)
    state = gen.get_state()
    with pytest.raises(ValueError, match="HR size 16x18 is not divisible by scale 4"):
        degrade.realworld_degrade(torch.rand(2, 3, 16, 18), generator=gen)  # the width: checked up front too
    assert torch.equal(gen.get_state(), state)  # a refused batch draws nothing: a seeded held-out set stays put
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        degrade.realworld_degrade(torch.rand(3, 16, 16))
