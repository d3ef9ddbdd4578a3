"""helpers.models.srrescycgan (notebook 08) and helpers.degrade.realworld_degrade: shapes, parameter counts,
starting points, hand-computed losses, reproducible degradations, checkpoint round trip."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from helpers import degrade
from helpers.degrade import realworld_degrade
from helpers.inference import Checkpoint
from helpers.models.registry import build_upscaler, count_parameters
from helpers.models.srrescycgan import (
    DegradationGenerator,
    ResDBlock,
    SRResDNet,
    gradient_tv_loss,
    image_gradients,
)
from helpers.models.upscalers import PixelShuffleUpscaler


def conv(cin, cout, k):
    return cin * cout * k * k + cout


# --------------------------------------------------------------------------- gradient TV loss
def test_image_gradients_are_forward_differences():
    img = torch.tensor([[1.0, 4.0, 9.0], [2.0, 2.0, 0.0]]).view(1, 1, 2, 3)
    dh, dv = image_gradients(img)
    assert dh.shape == (1, 1, 2, 2) and dv.shape == (1, 1, 1, 3)
    assert dh.flatten().tolist() == [3.0, 5.0, 0.0, -2.0]
    assert dv.flatten().tolist() == [1.0, -2.0, -9.0]


def test_gradient_tv_loss_hand_computed():
    target = torch.tensor([[0.0, 1.0], [0.0, 1.0]]).view(1, 1, 2, 2)
    output = torch.tensor([[0.0, 1.0], [0.0, 0.5]]).view(1, 1, 2, 2)
    # horizontal: target (1, 1), output (1, 0.5) -> mean |diff| 0.25; vertical: (0, 0) vs (0, -0.5) -> 0.25
    assert gradient_tv_loss(output, target).item() == pytest.approx(0.5)


def test_gradient_tv_loss_weights_directions_separately():
    target = torch.zeros(1, 1, 3, 3)
    ramp = torch.arange(3.0).view(1, 1, 1, 3).expand(1, 1, 3, 3)  # horizontal gradient 1 everywhere
    # horizontal part: mean |1 - 0| = 1; vertical part: 0
    assert gradient_tv_loss(ramp, target).item() == pytest.approx(1.0)
    # vertical ramp of step 2: horizontal 0, vertical mean |2| = 2
    assert gradient_tv_loss(2 * ramp.transpose(-1, -2), target).item() == pytest.approx(2.0)


def test_gradient_tv_loss_ignores_constant_offset_and_is_symmetric():
    hr = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    assert gradient_tv_loss(hr + 0.25, hr).item() == pytest.approx(0.0, abs=1e-6)
    sr = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    assert gradient_tv_loss(sr, hr).item() == pytest.approx(gradient_tv_loss(hr, sr).item())
    assert gradient_tv_loss(sr, hr).item() > 0


def test_gradient_tv_loss_rejects_bad_shapes():
    with pytest.raises(ValueError, match="same size"):
        gradient_tv_loss(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 5))
    with pytest.raises(ValueError, match="batch dimension"):
        image_gradients(torch.zeros(3, 4, 4))


# --------------------------------------------------------------------------- G_HR
def test_resd_block_layout_and_residual():
    block = ResDBlock(4)
    assert [type(m) for m in block.body] == [nn.PReLU, nn.Conv2d, nn.PReLU, nn.Conv2d]
    assert count_parameters(block) == 2 * (4 + conv(4, 4, 3))
    with torch.no_grad():
        block.body[3].weight.zero_()
        block.body[3].bias.fill_(0.5)
    x = torch.rand(1, 4, 5, 5)
    assert torch.allclose(block(x), x + 0.5)


def test_srresdnet_shape_parameters_and_start():
    g = SRResDNet(4, {"channels": 8, "n_blocks": 1}, channels=6, n_blocks=2)
    x = torch.rand(2, 3, 8, 10)
    assert g(x).shape == (2, 3, 32, 40)
    upscaler = count_parameters(PixelShuffleUpscaler(4, 8, 1))
    refine = conv(3, 6, 3) + 2 * (2 * (6 + conv(6, 6, 3))) + 6 + conv(6, 12, 3)
    assert count_parameters(g) == upscaler + refine
    assert g.encoder.stride == (2, 2)
    assert torch.equal(g(x), g.upscale(x))  # zero decoder: G_HR starts as its upscaler


def test_srresdnet_subtracts_the_refinement():
    g = SRResDNet(2, {"channels": 4, "n_blocks": 0}, channels=4, n_blocks=1)
    with torch.no_grad():
        g.decoder[1].bias.fill_(0.1)  # refine(u) = 0.1 everywhere (zero weights)
    x = torch.rand(1, 3, 6, 6)
    assert torch.allclose(g(x), g.upscale(x) - 0.1, atol=1e-6)


def test_srresdnet_loads_upscaler_weights_and_rejects_bad_sizes():
    base = PixelShuffleUpscaler(4, 8, 1)
    with torch.no_grad():
        base.tail.weight.normal_()
    g = SRResDNet(4, {"channels": 8, "n_blocks": 1}, channels=4, n_blocks=1)
    g.upscale.load_state_dict(base.state_dict())
    x = torch.rand(1, 3, 6, 6)
    assert torch.allclose(g(x), base(x))
    with pytest.raises(ValueError, match="channels"):
        SRResDNet(4, channels=0)


# --------------------------------------------------------------------------- G_LR
def test_degradation_generator_shape_parameters_and_bicubic_start():
    g = DegradationGenerator(4, channels=8, n_blocks=2, noise_channels=1)
    x = torch.rand(2, 3, 32, 24)
    out = g(x)
    assert out.shape == (2, 3, 8, 6)
    expected = conv(4, 8, 3) + conv(8, 8, 3) + 2 * 2 * conv(8, 8, 3) + conv(8, 3, 3)
    assert count_parameters(g) == expected
    assert [m.stride for m in g.head if isinstance(m, nn.Conv2d)] == [(2, 2), (2, 2)]
    assert torch.allclose(out, degrade.bicubic_down(x, 4), atol=1e-6)  # zero tail: bicubic downsampling
    assert len([m for m in DegradationGenerator(8).head if isinstance(m, nn.Conv2d)]) == 3


def test_degradation_generator_uses_its_noise_channel():
    g = DegradationGenerator(2, channels=4, n_blocks=0, noise_channels=1)
    with torch.no_grad():
        g.tail.weight.normal_(generator=torch.Generator().manual_seed(0))
    x = torch.rand(1, 3, 8, 8)
    a, b = g(x, torch.zeros(1, 1, 8, 8)), g(x, torch.ones(1, 1, 8, 8))
    assert torch.equal(a, g(x, torch.zeros(1, 1, 8, 8)))
    assert not torch.allclose(a, b)
    plain = DegradationGenerator(2, channels=4, n_blocks=0, noise_channels=0)
    assert plain.head[0].in_channels == 3


def test_degradation_generator_rejects_bad_input():
    with pytest.raises(ValueError, match="power of 2"):
        DegradationGenerator(3)
    with pytest.raises(ValueError, match="divisible"):
        DegradationGenerator(4)(torch.rand(1, 3, 10, 8))


# --------------------------------------------------------------------------- real-world degradation
def test_realworld_degrade_is_the_documented_chain():
    hr = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    lr, params = realworld_degrade(hr, 4, torch.Generator().manual_seed(5), blur_sigma=(1.2, 1.2),
                                   noise_sigma=(0.0, 0.0), jpeg_quality=(70, 70))
    assert lr.shape == (2, 3, 8, 8)
    assert params == [{"blur_sigma": pytest.approx(1.2), "noise_sigma": 0.0, "jpeg_quality": 70}] * 2
    expected = degrade.jpeg(degrade.bicubic_down(degrade.gaussian_blur(hr, 1.2), 4), 70)
    assert torch.allclose(lr, expected, atol=1e-6)


def test_realworld_degrade_noise_uses_the_generator_after_the_parameters():
    hr = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    gen = torch.Generator().manual_seed(9)
    lr, params = realworld_degrade(hr, 2, gen, blur_sigma=(1.0, 1.0), noise_sigma=(0.05, 0.05), jpeg_quality=(95, 95))
    replay = torch.Generator().manual_seed(9)
    torch.rand((), generator=replay), torch.rand((), generator=replay), torch.randint(95, 96, (), generator=replay)
    noisy = degrade.add_gaussian_noise(degrade.bicubic_down(degrade.gaussian_blur(hr, 1.0), 2), 0.05, replay)
    assert torch.allclose(lr, degrade.jpeg(noisy, 95), atol=1e-6)


def test_realworld_degrade_is_reproducible_and_random_per_image():
    hr = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    a, pa = realworld_degrade(hr, 4, torch.Generator().manual_seed(7))
    b, pb = realworld_degrade(hr, 4, torch.Generator().manual_seed(7))
    c, _ = realworld_degrade(hr, 4, torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and pa == pb and not torch.equal(a, c)
    assert len({p["blur_sigma"] for p in pa}) == 3  # every image draws its own parameters
    lo, hi = degrade.REALWORLD_RANGES["blur_sigma"]
    for p in pa:
        assert lo <= p["blur_sigma"] <= hi
        n_lo, n_hi = degrade.REALWORLD_RANGES["noise_sigma"]
        assert n_lo <= p["noise_sigma"] <= n_hi
        assert 50 <= p["jpeg_quality"] <= 90 and isinstance(p["jpeg_quality"], int)
    assert 0 <= a.min() and a.max() <= 1


def test_realworld_degrade_quality_range_includes_both_ends():
    hr = torch.rand(40, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    _, params = realworld_degrade(hr, 2, torch.Generator().manual_seed(0), jpeg_quality=(60, 61))
    assert {p["jpeg_quality"] for p in params} == {60, 61}


def test_realworld_degrade_noise_and_blur_move_away_from_bicubic():
    y, x = torch.meshgrid(torch.linspace(0, 6, 64), torch.linspace(0, 6, 64), indexing="ij")
    hr = (0.5 + 0.4 * torch.sin(x) * torch.cos(y)).expand(1, 3, 64, 64).contiguous()
    clean = degrade.bicubic_down(hr, 4)

    def err(**ranges):
        lr, _ = realworld_degrade(hr, 4, torch.Generator().manual_seed(0), jpeg_quality=(95, 95), **ranges)
        return float(F.mse_loss(lr, clean))
    quiet = err(blur_sigma=(0.5, 0.5), noise_sigma=(0.0, 0.0))
    assert err(blur_sigma=(0.5, 0.5), noise_sigma=(0.03, 0.03)) > quiet + 0.0004  # noise variance 0.0009
    assert err(blur_sigma=(3.0, 3.0), noise_sigma=(0.0, 0.0)) > quiet


def test_realworld_degrade_rejects_bad_input():
    with pytest.raises(ValueError, match="divisible"):
        realworld_degrade(torch.rand(1, 3, 10, 10), 4)
    with pytest.raises(ValueError, match="low <= high"):
        realworld_degrade(torch.rand(1, 3, 8, 8), 4, noise_sigma=(0.05, 0.01))
    with pytest.raises(ValueError, match="jpeg_quality"):
        realworld_degrade(torch.rand(1, 3, 8, 8), 4, jpeg_quality=(0, 90))
    with pytest.raises(ValueError, match="B, 3, H, W"):
        realworld_degrade(torch.rand(3, 8, 8), 4)


# --------------------------------------------------------------------------- checkpoint round trip
def test_g_hr_checkpoint_loads_with_the_series_loaders(tmp_path):
    from helpers.inference import load_upscaler

    kwargs = {"scale": 4, "upscale_kwargs": {"channels": 8, "n_blocks": 1}, "channels": 4, "n_blocks": 1}
    g = SRResDNet(**kwargs)
    with torch.no_grad():
        g.decoder[1].weight.normal_()
    meta = {"architecture": "SRResDNet", "kwargs": kwargs, "scale": 4, "profile": "smoke", "steps": 1,
            "loss_weights": {"λ_cyc": 5.0}, "vgg_source": "random"}
    Checkpoint(tmp_path / "g.pt", meta).save(1, {"model": g})
    assert isinstance(build_upscaler("SRResDNet", **kwargs), SRResDNet)
    loaded = load_upscaler(tmp_path / "g.pt")
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        assert torch.allclose(loaded.model(x), g.eval()(x))
    assert loaded.scale == 4 and loaded.meta["architecture"] == "SRResDNet"
