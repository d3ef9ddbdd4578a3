import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from helpers.models.progan import (
    ConvBlock,
    Discriminator,
    EqualizedConv2d,
    EqualizedLinear,
    Generator,
    PixelNorm,
    fade_alpha,
    forward_macs,
    minibatch_stddev,
    stage_reals,
    step_macs,
)


# --------------------------------------------------------------------------- pixel norm
def test_pixel_norm_hand_computed():
    # pixel 1: (3, 4) has mean square 12.5; pixel 2: (1, -1) has mean square 1
    x = torch.tensor([[3.0, 1.0], [4.0, -1.0]]).view(1, 2, 1, 2)
    y = PixelNorm(eps=0.0)(x)
    expected = torch.tensor([[3 / math.sqrt(12.5), 1.0], [4 / math.sqrt(12.5), -1.0]]).view(1, 2, 1, 2)
    assert torch.allclose(y, expected, atol=1e-6)
    # mean square over the channels is 1 at every pixel, and samples do not mix
    z = torch.randn(3, 5, 2, 2) * 7
    assert torch.allclose(PixelNorm()(z).pow(2).mean(1), torch.ones(3, 2, 2), atol=1e-5)


def test_pixel_norm_eps_and_latent_codes():
    assert PixelNorm().eps == 1e-8
    assert torch.equal(PixelNorm()(torch.zeros(1, 3, 1, 1)), torch.zeros(1, 3, 1, 1))  # eps avoids 0/0
    y = PixelNorm(eps=1.0)(torch.tensor([[2.0, 2.0]]))  # works on (B, C) codes: 2 / sqrt(4 + 1)
    assert torch.allclose(y, torch.full((1, 2), 2 / math.sqrt(5)))


# --------------------------------------------------------------------------- equalized learning rate
def test_equalized_conv_scale_constant_and_forward():
    conv = EqualizedConv2d(3, 8, 3, padding=1)
    assert conv.scale == pytest.approx(math.sqrt(2) / math.sqrt(3 * 3 * 3))
    assert EqualizedConv2d(8, 1, 1, gain=1.0).scale == pytest.approx(1 / math.sqrt(8))
    assert torch.equal(conv.bias, torch.zeros(8))
    x = torch.randn(2, 3, 5, 5)
    expected = F.conv2d(x, conv.weight * conv.scale, conv.bias, padding=1)
    assert torch.allclose(conv(x), expected, atol=1e-6)
    assert conv(x).shape == (2, 8, 5, 5)
    # the stored weights are N(0, 1), not He-initialised: the scale lives in the forward pass
    big = EqualizedConv2d(64, 64, 3)
    assert 0.95 < float(big.weight.detach().std()) < 1.05
    assert abs(float(big.weight.detach().mean())) < 0.02


def test_equalized_linear_scale_constant():
    lin = EqualizedLinear(16, 4)
    assert lin.scale == pytest.approx(math.sqrt(2 / 16))
    assert EqualizedLinear(16, 1, gain=1.0).scale == pytest.approx(0.25)
    x = torch.randn(3, 16)
    assert torch.allclose(lin(x), x @ (lin.weight * lin.scale).t() + lin.bias, atol=1e-6)


# --------------------------------------------------------------------------- minibatch standard deviation
def test_minibatch_stddev_hand_computed():
    # two samples, two features at one pixel: (1, 10) and (3, 14); biased std per feature = 1 and 2 -> mean 1.5
    x = torch.tensor([[1.0, 10.0], [3.0, 14.0]]).view(2, 2, 1, 1)
    y = minibatch_stddev(x, eps=0.0)
    assert y.shape == (2, 3, 1, 1)
    assert torch.equal(y[:, :2], x)
    assert torch.allclose(y[:, 2], torch.full((2, 1, 1), 1.5))


def test_minibatch_stddev_is_biased_constant_and_collapse_gives_zero():
    x = torch.tensor([0.0, 0.0, 0.0, 4.0]).view(4, 1, 1, 1)  # biased std sqrt(3), unbiased 2
    assert torch.allclose(minibatch_stddev(x, eps=0.0)[:, 1], torch.full((4, 1, 1), math.sqrt(3)))
    y = minibatch_stddev(torch.randn(3, 4, 2, 5))
    assert y.shape == (3, 5, 2, 5)
    assert torch.all(y[:, 4] == y[0, 4, 0, 0])  # one number, replicated everywhere
    same = torch.randn(1, 4, 2, 2).expand(5, 4, 2, 2)  # a collapsed batch
    assert float(minibatch_stddev(same)[0, 4, 0, 0]) == pytest.approx(1e-4, rel=1e-3)  # sqrt(eps)
    with pytest.raises(ValueError, match="B >= 2"):
        minibatch_stddev(torch.randn(1, 4, 2, 2))


# --------------------------------------------------------------------------- blocks and networks
def test_conv_block_layout():
    g = ConvBlock(8, 4, 4, 3, 3, 1)
    assert [type(m) for m in g.conv] == [EqualizedConv2d, nn.LeakyReLU, PixelNorm] * 2
    assert [m.negative_slope for m in g.conv if isinstance(m, nn.LeakyReLU)] == [0.2, 0.2]
    assert g(torch.randn(2, 8, 1, 1)).shape == (2, 4, 4, 4)  # the first block: 1x1 code -> 4x4
    d = ConvBlock(5, 4, 3, 1, 4, 0, pixel_norm=False)
    assert not any(isinstance(m, PixelNorm) for m in d.modules())
    assert d(torch.randn(2, 5, 4, 4)).shape == (2, 4, 1, 1)  # the last critic block: 4x4 -> 1x1
    assert ConvBlock(3, 6, 3, 1)(torch.randn(1, 3, 7, 7)).shape == (1, 6, 7, 7)  # second conv defaults to first


@pytest.fixture
def nets():
    torch.manual_seed(0)
    return Generator(code_dim=8, channels=(8, 6, 4)), Discriminator(channels=(4, 6, 8))


def test_shapes_per_stage(nets):
    g, d = nets
    z = torch.randn(3, 8)
    for s, size in enumerate((4, 8, 16)):
        img = g(z, expand=s)
        assert img.shape == (3, 1, size, size)
        assert g(z, expand=s, alpha=0.5).shape == (3, 1, size, size)
        assert d(img, expand=s).shape == (3,)
        assert d(img, expand=s, alpha=0.5).shape == (3,)
    assert g(z.view(3, 8, 1, 1)).shape == (3, 1, 4, 4)  # codes as 1x1 maps work too
    rgb = Generator(code_dim=8, channels=(8, 4), img_channels=3)
    assert rgb(z, 1).shape == (3, 3, 8, 8)
    assert Discriminator(channels=(4, 8), img_channels=3)(rgb(z, 1), 1).shape == (3,)


def test_layout_and_parameter_counts(nets):
    g, d = nets
    assert len(g.progression) == len(g.to_rgb) == 3
    assert [m.weight.shape[0] for m in g.to_rgb] == [1, 1, 1]
    assert [m.scale for m in g.to_rgb] == pytest.approx([1 / math.sqrt(c) for c in (8, 6, 4)])  # gain 1
    assert [m.weight.shape[0] for m in d.from_rgb] == [4, 6, 8]
    assert d.progression[-1].conv[0].weight.shape[1] == 9  # 8 features + the minibatch std channel
    assert d.n_layer == 3
    assert d.linear.scale == pytest.approx(1 / math.sqrt(8))  # the critic's last layer: gain 1
    # G: block0 8*8*16+8 + 8*8*9+8 ; block1 8*6*9+6 + 6*6*9+6 ; block2 6*4*9+4 + 4*4*9+4 ; to_rgb (8+1)+(6+1)+(4+1)
    g_expected = (1024 + 8 + 576 + 8) + (432 + 6 + 324 + 6) + (216 + 4 + 144 + 4) + 9 + 7 + 5
    assert sum(p.numel() for p in g.parameters()) == g_expected
    # D: block0 4*6*9+6 + 6*6*9+6 ; block1 6*8*9+8 + 8*8*9+8 ; last 9*8*9+8 + 8*8*16+8 ; from_rgb 8+12+16 ; linear 9
    d_expected = (216 + 6 + 324 + 6) + (432 + 8 + 576 + 8) + (648 + 8 + 1024 + 8) + 8 + 12 + 16 + 9
    assert sum(p.numel() for p in d.parameters()) == d_expected


def test_generator_fade_in_ends_and_blend(nets):
    g, _ = nets
    z = torch.randn(4, 8)
    with torch.no_grad():
        for s in (1, 2):
            old = g(z, expand=s - 1)
            # alpha = 0: exactly the old path's image, upsampled (nearest)
            assert torch.allclose(g(z, s, alpha=0.0), F.interpolate(old, scale_factor=2), atol=1e-5)
            new = g(z, s)
            assert not torch.allclose(new, F.interpolate(old, scale_factor=2), atol=1e-3)
            assert torch.allclose(g(z, s, alpha=1.0), new)
            a = 0.3
            blend = (1 - a) * F.interpolate(old, scale_factor=2) + a * new
            assert torch.allclose(g(z, s, alpha=a), blend, atol=1e-5)
        # alpha = 1 is the new block by hand: to_rgb[1](progression[1](up(progression[0](norm z))))
        h = g.progression[0](g.code_norm(z.view(4, 8, 1, 1)))
        by_hand = g.to_rgb[1](g.progression[1](F.interpolate(h, scale_factor=2)))
        assert torch.allclose(g(z, 1, alpha=1.0), by_hand, atol=1e-6)
        # stage 0 ignores alpha (nothing to fade)
        assert torch.equal(g(z, 0, alpha=0.0), g(z, 0))


def test_discriminator_fade_in_ends_and_blend(nets):
    _, d = nets
    x = torch.randn(4, 1, 16, 16)
    with torch.no_grad():
        pooled = F.avg_pool2d(x, 2)
        assert torch.allclose(d(x, 2, alpha=0.0), d(pooled, 1), atol=1e-5)  # alpha 0: old critic, pooled image
        assert torch.allclose(d(x, 2, alpha=1.0), d(x, 2))
        # a blend of the two 8x8 feature maps: for linear-in-features parts check via the score difference
        s0, s1, s5 = d(x, 2, alpha=0.0), d(x, 2, alpha=1.0), d(x, 2, alpha=0.5)
        assert not torch.allclose(s5, s0, atol=1e-4) and not torch.allclose(s5, s1, atol=1e-4)


def test_discriminator_uses_minibatch_std(nets):
    _, d = nets
    x = torch.randn(4, 1, 4, 4)
    with torch.no_grad():
        one = d(x, 0)[0]
        other = d(torch.cat([x[:1], torch.randn(3, 1, 4, 4) * 5]), 0)[0]
    assert not torch.allclose(one, other)  # the first sample's score depends on the rest of the batch


def test_bad_stage_and_size_errors(nets):
    g, d = nets
    with pytest.raises(ValueError, match="stage in 0..2"):
        g(torch.randn(2, 8), expand=3)
    with pytest.raises(ValueError, match="stage in 0..2"):
        d(torch.randn(2, 1, 32, 32), expand=3)
    with pytest.raises(ValueError, match="reads 8x8"):
        d(torch.randn(2, 1, 16, 16), expand=1)


# --------------------------------------------------------------------------- schedule and real images
def test_fade_alpha():
    assert fade_alpha(0, 100) == 0.0
    assert fade_alpha(25, 100) == 0.25
    assert fade_alpha(100, 100) == 1.0
    assert fade_alpha(150, 100) == 1.0
    assert fade_alpha(0, 0) == 1.0
    with pytest.raises(ValueError):
        fade_alpha(-1, 10)


def test_stage_reals():
    x = torch.randn(2, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    assert torch.equal(stage_reals(x, 2), x)
    assert torch.allclose(stage_reals(x, 0), F.avg_pool2d(x, 4))
    assert torch.allclose(stage_reals(x, 1, alpha=1.0), F.avg_pool2d(x, 2))
    # fading in: (1 - a) * coarse upsampled + a * sharp
    sharp = F.avg_pool2d(x, 2)
    coarse = F.interpolate(F.avg_pool2d(x, 4), scale_factor=2)
    assert torch.allclose(stage_reals(x, 1, alpha=0.0), coarse)
    assert torch.allclose(stage_reals(x, 1, alpha=0.25), 0.75 * coarse + 0.25 * sharp)
    assert torch.allclose(stage_reals(x, 0, alpha=0.25), F.avg_pool2d(x, 4))  # stage 0: nothing to blend
    hand = torch.tensor([[0.0, 2.0], [4.0, 6.0]]).repeat(1, 1, 4, 4)  # 8x8; every 2x2 block averages to 3
    assert torch.allclose(stage_reals(hand, 0), torch.full((1, 1, 4, 4), 3.0))
    with pytest.raises(ValueError, match="Cannot pool"):
        stage_reals(torch.randn(1, 1, 12, 12), 2)


# --------------------------------------------------------------------------- compute per step


def test_forward_macs_counts_convolutions_and_linear_layers_by_hand():
    conv = EqualizedConv2d(2, 3, 3, padding=1)
    assert forward_macs(conv, torch.zeros(2, 2, 5, 5)) == 2 * 3 * 9 * 25  # per sample, whatever the batch
    assert forward_macs(conv, torch.zeros(7, 2, 5, 5)) == 2 * 3 * 9 * 25
    assert forward_macs(EqualizedLinear(4, 5), torch.zeros(2, 4)) == 20
    assert forward_macs(nn.Conv2d(2, 3, 3, padding=1), torch.zeros(2, 2, 5, 5)) == 2 * 3 * 9 * 25
    assert forward_macs(nn.Sequential(nn.Linear(4, 5), nn.LeakyReLU(0.2), PixelNorm()), torch.zeros(2, 4)) == 20
    assert not conv._forward_hooks  # the hooks are removed again


def test_forward_macs_of_the_stages(nets):
    g, d = nets
    z = torch.zeros(2, 8)
    block0 = 8 * 8 * 16 * 16 + 8 * 8 * 9 * 16  # 4x4 kernel on the 1x1 code (4x4 out, padding 3), then 3x3 at 4x4
    assert forward_macs(g, z, 0) == block0 + 8 * 16  # + to_rgb at 4x4
    stage1 = block0 + 8 * 6 * 9 * 64 + 6 * 6 * 9 * 64 + 6 * 64
    assert forward_macs(g, z, 1) == stage1
    assert forward_macs(g, z, 1, 0.5) == stage1 + 8 * 64  # fading in: the old to_rgb on the upsampled features
    critic0 = 8 * 16 + 9 * 8 * 9 * 16 + 8 * 8 * 16 + 8  # from_rgb, 3x3 on 8 + std channel, 4x4 to 1x1, linear
    assert forward_macs(d, torch.zeros(2, 1, 4, 4), 0) == critic0


def test_step_macs_is_two_generator_and_four_critic_passes_with_backward(nets):
    g, d = nets
    for s, alpha in ((0, -1), (1, 0.5), (2, -1)):
        size = 4 * 2**s
        gm, dm = forward_macs(g, torch.zeros(2, 8), s, alpha), forward_macs(d, torch.zeros(2, 1, size, size), s, alpha)
        assert step_macs(g, d, s, alpha, batch_size=5) == 3 * 5 * (2 * gm + 4 * dm)
    assert step_macs(g, d, 0, batch_size=2) == 3 * 2 * (2 * 25728 + 4 * 11528)
    assert step_macs(g, d, 0) < step_macs(g, d, 1) < step_macs(g, d, 2)
