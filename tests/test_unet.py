import pytest
import torch
import torch.nn as nn

from helpers.models.unet import UnetGenerator, UnetSkipConnectionBlock


def _convs(model, kind):
    return [m for m in model.modules() if type(m) is kind]




def test_unet_256_parameter_count_matches_reference():
    # pix2pix's unet_256 (3 -> 3, ngf 64, BatchNorm) reports 54.414 M parameters
    assert sum(p.numel() for p in UnetGenerator(3, 3, 8, 64).parameters()) == 54_413_955


def test_generator_shape_range_and_levels():
    torch.manual_seed(0)
    g = UnetGenerator(1, 3, num_downs=5, ngf=4).eval()
    y = g(torch.rand(2, 1, 32, 32) * 2 - 1)
    assert y.shape == (2, 3, 32, 32)
    assert y.abs().max() <= 1
    assert isinstance(g.model.model[-1], nn.Tanh)
    downs = _convs(g, nn.Conv2d)
    assert [c.stride[0] for c in downs] == [2] * 5
    assert [(c.in_channels, c.out_channels) for c in downs] == [(1, 4), (4, 8), (8, 16), (16, 32), (32, 32)]
    ups = _convs(g, nn.ConvTranspose2d)
    # modules() visits a block's submodule before its up-convolution: innermost up-convolution first
    assert [(c.in_channels, c.out_channels) for c in ups] == [(32, 32), (64, 16), (32, 8), (16, 4), (8, 3)]
    assert all(c.kernel_size == (4, 4) and c.stride == (2, 2) and c.padding == (1, 1) for c in downs + ups)


def test_bottleneck_is_one_by_one():
    g = UnetGenerator(1, 3, num_downs=6, ngf=2)
    seen = {}
    inner = [m for m in g.modules() if isinstance(m, UnetSkipConnectionBlock)][-1]
    inner.model[1].register_forward_hook(lambda m, i, o: seen.update(shape=tuple(o.shape)))
    g(torch.zeros(1, 1, 64, 64))
    assert seen["shape"] == (1, 16, 1, 1)


def test_skip_connection_concatenates_input():
    block = UnetSkipConnectionBlock(4, 8, innermost=True, norm="none")
    x = torch.randn(1, 4, 8, 8)
    y = block(x)
    assert y.shape == (1, 8, 8, 8)
    assert torch.equal(y[:, :4], x)  # input first, then the block's output


def test_dropout_in_the_blocks_next_to_the_bottleneck():
    def n_dropout(m):
        return [d.p for d in m.modules() if isinstance(d, nn.Dropout)]

    assert n_dropout(UnetGenerator(3, 3, 8, 4)) == [0.5, 0.5, 0.5]
    assert n_dropout(UnetGenerator(3, 3, 7, 4)) == [0.5, 0.5]
    assert n_dropout(UnetGenerator(3, 3, 8, 4, use_dropout=False)) == []
    # the innermost and the four outer blocks carry none
    blocks = [m for m in UnetGenerator(3, 3, 6, 4).modules() if isinstance(m, UnetSkipConnectionBlock)]
    has = [any(isinstance(x, nn.Dropout) for x in b.model) for b in blocks]
    assert has == [False, False, False, False, True, False]


def test_norms_and_biases():
    bn = UnetGenerator(1, 3, 5, 4, norm="batch")
    assert sum(isinstance(m, nn.BatchNorm2d) for m in bn.modules()) == 7  # 3 down + 4 up
    # with BatchNorm only the outermost up-convolution (before tanh) has a bias, as in the reference code
    biased = [c.bias is not None for c in _convs(bn, nn.Conv2d) + _convs(bn, nn.ConvTranspose2d)]
    assert biased == [False] * 5 + [False, False, False, False, True]
    inst = UnetGenerator(1, 3, 5, 4, norm="instance")
    assert sum(isinstance(m, nn.InstanceNorm2d) for m in inst.modules()) == 7
    assert all(c.bias is not None for c in _convs(inst, nn.Conv2d) + _convs(inst, nn.ConvTranspose2d))
    slopes = {m.negative_slope for m in bn.modules() if isinstance(m, nn.LeakyReLU)}
    assert slopes == {0.2}
    assert sum(isinstance(m, nn.LeakyReLU) for m in bn.modules()) == 4  # none before the first conv
    assert sum(isinstance(m, nn.ReLU) for m in bn.modules()) == 5


def test_bad_input_gets_clear_errors():
    with pytest.raises(ValueError, match="at least 5"):
        UnetGenerator(3, 3, num_downs=4)
    with pytest.raises(ValueError, match="multiples of 32"):
        UnetGenerator(3, 3, num_downs=5, ngf=2)(torch.zeros(1, 3, 48, 40))
    with pytest.raises(ValueError, match="norm"):
        UnetGenerator(3, 3, num_downs=5, ngf=2, norm="group")


def test_resize_upsampling_replaces_every_transposed_convolution():
    torch.manual_seed(0)
    g = UnetGenerator(5, 3, num_downs=5, ngf=4, norm="instance", upsample="resize")
    assert _convs(g, nn.ConvTranspose2d) == []
    ups = [m for m in g.modules() if isinstance(m, nn.Upsample)]
    assert len(ups) == 5 and {(u.scale_factor, u.mode) for u in ups} == {(2.0, "bilinear")}
    assert sum(1 for m in _convs(g, nn.Conv2d) if m.kernel_size == (3, 3)) == 5
    y = g(torch.randn(2, 5, 32, 32))
    assert y.shape == (2, 3, 32, 32) and y.abs().max() <= 1
    assert len(_convs(UnetGenerator(5, 3, num_downs=5, ngf=4), nn.ConvTranspose2d)) == 5  # the paper's default


def test_resize_upsampling_of_a_constant_has_no_periodic_pattern():
    # bilinear 2x of a constant map is constant: nothing for the following 3x3 convolution to turn into a checkerboard
    from helpers.models.unet import up_layer

    up = up_layer("resize", 1, 1, bias=False)
    with torch.no_grad():
        up[1].weight.fill_(1.0)
    y = up(torch.ones(1, 1, 8, 8))[..., 1:-1, 1:-1]
    assert torch.allclose(y, torch.full_like(y, 9.0))
    tr = up_layer("transpose", 1, 1, bias=False)
    with torch.no_grad():
        tr.weight.fill_(1.0)
    inner = tr(torch.ones(1, 1, 8, 8))[..., 2:-2, 2:-2]
    assert inner.std() == 0  # 4x4 kernel, stride 2: even overlap inside, uneven only at the border
    with pytest.raises(ValueError, match="resize"):
        up_layer("pixelshuffle", 1, 1, bias=True)
