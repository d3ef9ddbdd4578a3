"""helpers.perception on known cases: blur, white noise, periodic patterns, sharp and blurred steps."""
import math

import pytest
import torch

from helpers import perception as P
from helpers.degrade import bicubic_down, gaussian_blur, upsample


@pytest.fixture(scope="module")
def hr() -> torch.Tensor:
    """Two 128x128 'photos': smoothed noise with sharp rectangles (edges at every scale), seeded."""
    g = torch.Generator().manual_seed(0)
    base = gaussian_blur(torch.rand(2, 3, 128, 128, generator=g), 1.0)
    for b, (r0, c0) in enumerate([(20, 30), (50, 40)]):
        base[b, :, r0:r0 + 50, c0:c0 + 40] += torch.tensor([0.4, 0.2, -0.1])[:, None, None]
    return base.clamp(0, 1)


def sinusoid(freq: float, size: int = 128, axis: int = -1) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32)
    wave = torch.cos(2 * math.pi * freq * x)
    return (wave[None, :] if axis == -1 else wave[:, None]).expand(size, size)[None, None].expand(1, 3, size, size)


def test_radial_frequency_and_band():
    f = P.radial_frequency(8, 8)
    assert f[0, 0] == 0 and f[0, 4] == pytest.approx(0.5) and f[4, 4] == pytest.approx(math.sqrt(0.5))
    band = P.high_band(8, 8, 2)  # 0.25 < f <= 0.5
    assert not band[0, 2]  # f = 0.25 exactly: carried by the LR image
    assert band[0, 3] and band[0, 4]  # 0.375 and 0.5
    assert not band[4, 4]  # corner beyond 1/2
    with pytest.raises(ValueError, match="scale"):
        P.high_band(8, 8, 1)


def test_power_spectrum_of_white_noise_is_its_variance():
    g = torch.Generator().manual_seed(1)
    y = 0.1 * torch.randn(4, 1, 64, 64, generator=g)
    assert float(P.power_spectrum(y).mean()) == pytest.approx(0.01, rel=0.1)


def test_hf_ratio_identity_blur_noise(hr):
    assert torch.allclose(P.hf_power_ratio(hr, hr, 4), torch.ones(2))
    blurred = P.hf_power_ratio(gaussian_blur(hr, 1.5), hr, 4)
    assert (blurred < 0.3).all()
    bicubic = upsample(bicubic_down(hr, 4), 4)
    assert (P.hf_power_ratio(bicubic, hr, 4) < 0.3).all()
    noisy = (hr + 0.05 * torch.randn(hr.shape, generator=torch.Generator().manual_seed(2))).clamp(0, 1)
    assert (P.hf_power_ratio(noisy, hr, 4) > 1.2).all()


def test_hf_ratio_counts_only_the_high_band(hr):
    # scale 2: the band is 0.25 < f <= 0.5; a wave at 0.2 is outside, one at 0.35 inside
    low = P.hf_power_ratio((hr + 0.05 * sinusoid(0.2)).clamp(0, 1), hr, 2)
    high = P.hf_power_ratio((hr + 0.05 * sinusoid(0.35)).clamp(0, 1), hr, 2)
    assert torch.allclose(low, torch.ones(2), atol=0.15)
    assert (high > 2).all()
    # the same wave at 0.2 is inside the band of scale 4 (f > 0.125)
    assert (P.hf_power_ratio((hr + 0.05 * sinusoid(0.2)).clamp(0, 1), hr, 4) > 1.4).all()


def test_noise_matched_brings_blur_up_to_hr_power(hr):
    blurred = gaussian_blur(hr, 1.5)
    g = torch.Generator().manual_seed(3)
    matched = P.noise_matched(blurred, hr, 4, g)
    assert matched.shape == hr.shape and matched.min() >= 0 and matched.max() <= 1
    assert torch.allclose(P.hf_power_ratio(matched, hr, 4), torch.ones(2), atol=0.12)
    # grey noise: equal in R, G and B
    added = matched - blurred
    inside = (matched > 0) & (matched < 1)
    assert torch.allclose((added[:, 0] - added[:, 1])[inside.all(dim=1)], torch.zeros(1), atol=1e-6)
    again = P.noise_matched(blurred, hr, 4, torch.Generator().manual_seed(3))
    assert torch.equal(matched, again)
    # an image with more high-band power than HR gets no noise
    noisy = (hr + 0.05 * torch.randn(hr.shape, generator=torch.Generator().manual_seed(4))).clamp(0, 1)
    assert torch.equal(P.noise_matched(noisy, hr, 4, g), noisy)


def test_checkerboard_score_sees_a_periodic_pattern_not_blur(hr):
    assert torch.allclose(P.checkerboard_score(hr, hr, 4), torch.ones(2))
    grid = torch.zeros(1, 1, 128, 128)
    grid[..., ::4, :] += 1
    grid[..., :, ::4] += 1
    pattern = (hr + 0.03 * (grid - grid.mean())).clamp(0, 1)
    assert (P.checkerboard_score(pattern, hr, 4) > 5).all()
    assert (P.checkerboard_score(gaussian_blur(hr, 1.5), hr, 4) < 1.5).all()


def test_checkerboard_score_ignores_what_hr_already_has(hr):
    blocks = torch.zeros(1, 1, 128, 128)
    blocks[..., ::8, :] += 1
    blocks[..., :, ::8] += 1
    jpeg_like = (hr + 0.03 * (blocks - blocks.mean())).clamp(0, 1)  # 8-px block edges in HR and SR alike
    assert torch.allclose(P.checkerboard_score(jpeg_like, jpeg_like, 4), torch.ones(2))
    assert (P.checkerboard_score(jpeg_like, hr, 4) > 1.5).all()  # ... but not when only SR has them


def test_checkerboard_rejects_sizes_off_the_period(hr):
    with pytest.raises(ValueError, match="multiple of the period"):
        P.checkerboard_score(hr[..., :126, :126], hr[..., :126, :126], 4)
    with pytest.raises(ValueError, match="period"):
        P.checkerboard_score(hr, hr, 1)


def test_laplacian_pyramid_reconstructs_and_stops_at_min_side():
    img = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    levels = P.laplacian_pyramid(img, min_side=16)
    assert [lev.shape[-1] for lev in levels] == [64, 32, 16]
    rebuilt = levels[-1]
    for lev in reversed(levels[:-1]):
        rebuilt = lev + torch.nn.functional.interpolate(rebuilt, size=lev.shape[-2:], mode="bilinear",
                                                        align_corners=False)
    assert torch.allclose(rebuilt, img, atol=1e-5)
    down = P._blur_down(torch.ones(1, 1, 8, 8))
    assert down.shape[-1] == 4 and torch.allclose(down, torch.ones(1, 1, 4, 4))


def test_swd_zero_for_identity_and_grows_with_blur_noise_and_colour(hr):
    assert torch.allclose(P.laplacian_swd(hr, hr), torch.zeros(2), atol=1e-4)
    light, heavy = P.laplacian_swd(gaussian_blur(hr, 0.8), hr), P.laplacian_swd(gaussian_blur(hr, 2.0), hr)
    assert (light > 5).all() and (heavy > light).all()
    noisy = (hr + 0.05 * torch.randn(hr.shape, generator=torch.Generator().manual_seed(6))).clamp(0, 1)
    assert (P.laplacian_swd(noisy, hr) > 5).all()
    cast = (hr + torch.tensor([0.1, -0.05, 0.1])[None, :, None, None]).clamp(0, 1)
    assert (P.laplacian_swd(cast, hr) > 5).all()
    assert torch.equal(P.laplacian_swd(noisy, hr, seed=1), P.laplacian_swd(noisy, hr, seed=1))
    with pytest.raises(ValueError, match="at least 32"):
        P.laplacian_swd(hr[..., :24, :24], hr[..., :24, :24])


def test_rise_width_of_steps():
    step = torch.zeros(1, 3, 64, 64)
    step[..., 32:] = 1
    assert float(P.rise_width(step, step)[0]) == pytest.approx(0.8, abs=1e-4)
    for sigma in (1.0, 1.5, 2.0):  # a Gaussian-blurred step rises 10-90 % over 2 * 1.2816 * sigma
        width = float(P.rise_width(gaussian_blur(step, sigma), step)[0])
        assert width == pytest.approx(2 * 1.2816 * sigma, rel=0.06)
    falling = 1 - step  # edges are oriented by HR's gradient
    assert float(P.rise_width(falling, falling)[0]) == pytest.approx(0.8, abs=1e-4)
    vertical = step.transpose(-1, -2)
    assert float(P.rise_width(gaussian_blur(vertical, 1.5), vertical)[0]) == pytest.approx(3.84, rel=0.06)
    with pytest.raises(ValueError, match="flat"):
        P.rise_width(torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 32, 32))


def test_crossing_interpolates_between_samples():
    t = torch.tensor([[0.0, 0.0, 0.5, 1.0, 1.0]])
    assert float(P._crossing(t, 0.1)[0]) == pytest.approx(1.2)
    assert float(P._crossing(t, 0.9)[0]) == pytest.approx(2.8)


def test_inputs_are_checked(hr):
    with pytest.raises(ValueError, match="same size"):
        P.hf_power_ratio(hr, hr[..., :64, :64], 4)
    with pytest.raises(ValueError, match="RGB"):
        P.rise_width(hr[:, :1], hr[:, :1])


def test_perception_scores_keys(hr):
    scores = P.perception_scores(gaussian_blur(hr, 1.0), hr, 4)
    assert list(scores) == ["HF ratio", "SWD", "checkerboard", "rise width (px)"]
    assert all(v.shape == (2,) for v in scores.values())
    small = P.perception_scores(hr[..., :24, :24], hr[..., :24, :24], 4)  # too small for the pyramid
    assert list(small) == ["HF ratio", "checkerboard", "rise width (px)"]
    flat = torch.full((1, 3, 32, 32), 0.5)
    assert list(P.perception_scores(flat, flat, 4)) == ["HF ratio", "SWD", "checkerboard"]
