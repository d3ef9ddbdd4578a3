import pytest
import torch
import torch.nn as nn

from helpers.models.wgan import Critic, Generator


def test_generator_shapes_layout_and_residual():
    g = Generator().eval()
    x = torch.rand(2, 3, 16, 20)
    assert g(x).shape == (2, 3, 64, 80)
    convs = [m for m in g.model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size[0] > 1]
    assert {c.kernel_size[0] for c in convs} == {7}
    assert [b.body[0].out_channels for b in g.model[:5]] == [16, 32, 64, 128, 256]
    assert isinstance(g.model[5], nn.PixelShuffle) and g.model[5].upscale_factor == 4
    assert (g.model[6].in_channels, g.model[6].out_channels) == (16, 3)
    with torch.no_grad():
        nn.init.zeros_(g.model[6].weight)
        nn.init.zeros_(g.model[6].bias)
    up = nn.functional.interpolate(x, scale_factor=4, mode="bilinear", align_corners=True)
    assert torch.allclose(g(x), up, atol=1e-6)


def test_critic_layout_and_scores():
    c = Critic()
    convs = [m for m in c.modules() if isinstance(m, nn.Conv2d)]
    assert [m.out_channels for m in convs] == [32, 64, 128, 256, 512, 1024]
    assert [m.kernel_size[0] for m in convs] == [9, 5, 5, 5, 5, 5]
    assert all(m.stride[0] == 2 and m.padding[0] == m.kernel_size[0] // 2 for m in convs)
    assert {m.negative_slope for m in c.modules() if isinstance(m, nn.LeakyReLU)} == {0.01}
    linear = c.model[-1]
    assert linear.bias is None and linear.in_features == 1024
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.Sigmoid)) for m in c.modules())
    assert c(torch.rand(3, 3, 96, 96)).shape == (3, 1)
    assert c(torch.rand(1, 3, 256, 256)).shape == (1, 1)
    with pytest.raises(ValueError, match="at least 64x64"):
        c(torch.rand(1, 3, 32, 32))

