import pytest
import torch
import torch.nn as nn

from helpers.models.dcgan import (
    DCDiscriminator,
    DCGenerator,
    FCDiscriminator,
    FCGenerator,
    dcgan_init,
    dcgan_stages,
)


def test_stages_and_bad_size():
    assert dcgan_stages(16) == 2 and dcgan_stages(32) == 3
    for bad in (8, 28, 64):
        with pytest.raises(ValueError, match="16 or 32"):
            DCGenerator(size=bad)
        with pytest.raises(ValueError):
            DCDiscriminator(size=bad)


@pytest.mark.parametrize("size", [16, 32])
def test_dcgan_shapes_range_and_logits(size):
    g, d = DCGenerator(z_dim=8, size=size, ngf=4), DCDiscriminator(size=size, ndf=4)
    img = g(torch.randn(3, 8))
    assert img.shape == (3, 1, size, size)
    assert img.abs().max() <= 1
    logits = d(img)
    assert logits.shape == (3,)
    d.eval()
    assert (d(torch.full((2, 1, size, size), 5.0)).abs() > 0).all()  # raw logits: not squashed into (0, 1)
    assert not any(isinstance(m, nn.Sigmoid) for m in d.modules())


def test_dcgan_layout_16():
    g, d = DCGenerator(z_dim=8, size=16, ngf=4), DCDiscriminator(size=16, ndf=4)
    convs = [m for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(c.in_channels, c.out_channels, c.stride[0]) for c in convs] == [(8, 16, 1), (16, 8, 2), (8, 1, 2)]
    assert [type(m) for m in g.net][-1] is nn.Tanh
    assert sum(isinstance(m, nn.BatchNorm2d) for m in g.modules()) == 2
    assert sum(isinstance(m, nn.ReLU) for m in g.modules()) == 2
    dconv = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.stride[0]) for c in dconv] == [(1, 4, 2), (4, 8, 2), (8, 1, 1)]
    assert isinstance(d.net[1], nn.LeakyReLU)  # no BatchNorm on D's input layer
    assert {m.negative_slope for m in d.modules() if isinstance(m, nn.LeakyReLU)} == {0.2}
    assert sum(isinstance(m, nn.BatchNorm2d) for m in d.modules()) == 1
    # parameter counts: G 8*16*16 + 2*16 + 16*8*16 + 2*8 + 8*16 ; D 16*4 + 4*8*16 + 2*8 + 8*16
    assert sum(p.numel() for p in g.parameters()) == 2048 + 32 + 2048 + 16 + 128
    assert sum(p.numel() for p in d.parameters()) == 64 + 512 + 16 + 128


def test_dcgan_32_has_one_more_stage():
    g = DCGenerator(z_dim=8, size=32, ngf=4)
    convs = [m for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [c.out_channels for c in convs] == [32, 16, 8, 1]


def test_dcgan_init_statistics():
    torch.manual_seed(0)
    conv, bn, lin = nn.Conv2d(64, 64, 4), nn.BatchNorm2d(4096), nn.Linear(3, 3)
    for m in (conv, bn, lin):
        m.apply(dcgan_init)
    assert abs(float(conv.weight.detach().std()) - 0.02) < 0.002 and abs(float(conv.weight.detach().mean())) < 0.002
    assert abs(float(bn.weight.detach().mean()) - 1.0) < 0.002 and abs(float(bn.weight.detach().std()) - 0.02) < 0.002
    assert torch.equal(bn.bias, torch.zeros(4096)) and torch.equal(conv.bias, torch.zeros(64))
    g = DCGenerator(z_dim=64, size=16, ngf=32)
    assert abs(float(g.net[0].weight.detach().std()) - 0.02) < 0.002  # applied by the constructor


def test_fc_gan_shapes():
    g, d = FCGenerator(z_dim=8, size=16, hidden=32), FCDiscriminator(size=16, hidden=32)
    img = g(torch.randn(5, 8))
    assert img.shape == (5, 1, 16, 16) and img.abs().max() <= 1
    assert d(img).shape == (5,)
    assert sum(p.numel() for p in g.parameters()) == (8 * 32 + 32) + (32 * 32 + 32) + (32 * 256 + 256)
    assert sum(p.numel() for p in d.parameters()) == (256 * 32 + 32) + (32 * 32 + 32) + (32 + 1)
    assert {m.negative_slope for m in d.modules() if isinstance(m, nn.LeakyReLU)} == {0.2}


def test_generator_gradients_flow_through_discriminator():
    g, d = DCGenerator(z_dim=8, size=16, ngf=4), DCDiscriminator(size=16, ndf=4)
    d(g(torch.randn(4, 8))).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in g.parameters())


def test_default_discriminator_mirrors_default_generator():
    g, d = DCGenerator(), DCDiscriminator()  # z 64, size 16: G 128@4 -> 64@8 -> 1@16; D 1@16 -> 64@8 -> 128@4 -> 1
    g_channels = [m.out_channels for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    d_channels = [m.out_channels for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert g_channels == [128, 64, 1] and d_channels == [64, 128, 1]
    # conv weights (no biases) + the one BatchNorm's scale and shift
    assert sum(p.numel() for p in d.parameters()) == 1 * 64 * 16 + 64 * 128 * 16 + 2 * 128 + 128 * 1 * 16 == 134_400
