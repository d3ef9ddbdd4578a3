"""helpers.models.upscalers: shapes, parameter counts, the course's layout, the efficient model's bicubic start."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from helpers.models.registry import build_upscaler, count_parameters
from helpers.models.upscalers import PixelShuffleUpscaler, ResNetBlock, Upscale2x, Upscale4x


def conv_params(cin, cout, k):
    return cin * cout * k * k + cout


def block_params(cin, cout, k):
    shortcut = conv_params(cin, cout, 1) if cin != cout else 0
    return conv_params(cin, cout, k) + conv_params(cout, cout, k) + 2 * 2 * cout + shortcut


def test_resnet_block_shape_and_parameters():
    block = ResNetBlock(3, 64, kernel_size=9)
    assert block(torch.rand(2, 3, 20, 17)).shape == (2, 64, 20, 17)
    assert count_parameters(block) == block_params(3, 64, 9)
    assert isinstance(ResNetBlock(8, 8, 3).shortcut, nn.Identity)


def test_resnet_block_order_relu_before_batchnorm():
    kinds = [type(m) for m in ResNetBlock(4, 6, 5).body]
    assert kinds == [nn.Conv2d, nn.ReLU, nn.BatchNorm2d, nn.Conv2d, nn.ReLU, nn.BatchNorm2d]
    convs = [m for m in ResNetBlock(4, 6, 5).body if isinstance(m, nn.Conv2d)]
    assert [c.kernel_size for c in convs] == [(5, 5), (5, 5)] and [c.padding for c in convs] == [(2, 2), (2, 2)]


def test_resnet_block_is_body_plus_shortcut():
    block = ResNetBlock(2, 3, 3).eval()
    x = torch.rand(1, 2, 6, 6)
    assert torch.allclose(block(x), block.body(x) + block.shortcut(x))
    with torch.no_grad():  # a zero body leaves exactly the 1x1 shortcut
        for m in block.body:
            if isinstance(m, nn.BatchNorm2d):
                m.weight.zero_()
                m.bias.zero_()
        block.shortcut.weight.copy_(torch.arange(6.0).view(3, 2, 1, 1))
        block.shortcut.bias.copy_(torch.tensor([1.0, 0.0, -1.0]))
    x = torch.ones(1, 2, 4, 4)
    expected = torch.tensor([0 + 1 + 1, 2 + 3 + 0, 4 + 5 - 1.0]).view(1, 3, 1, 1).expand(1, 3, 4, 4)
    assert torch.allclose(block(x), expected)


def test_resnet_block_rejects_even_kernel():
    with pytest.raises(ValueError, match="odd"):
        ResNetBlock(3, 8, 4)


def test_upscale2x_matches_the_course():
    model = Upscale2x()
    expected = (block_params(3, 64, 9) + block_params(64, 32, 7) + block_params(32, 16, 5) + conv_params(16, 3, 5))
    assert count_parameters(model) == expected == 521_795
    assert model(torch.rand(2, 3, 12, 10)).shape == (2, 3, 24, 20)
    assert model.upsample.mode == "bilinear" and model.upsample.align_corners is True
    assert model.upsample.scale_factor == 2


def test_upscale4x_matches_the_course():
    model = Upscale4x()
    expected = (block_params(3, 64, 9) + block_params(64, 48, 7) + block_params(48, 32, 5)
                + block_params(32, 24, 5) + conv_params(24, 3, 5))
    assert count_parameters(model) == expected
    assert model(torch.rand(1, 3, 8, 6)).shape == (1, 3, 32, 24)
    assert model.upsample.scale_factor == 4 and model.upsample.align_corners is True


@pytest.mark.parametrize("cls", [Upscale2x, Upscale4x])
def test_course_models_add_the_upsampled_input(cls):
    model = cls().eval()
    with torch.no_grad():
        last = model.model[-1]
        last.weight.zero_()
        last.bias.zero_()
    x = torch.rand(1, 3, 8, 8)
    assert torch.allclose(model(x), model.upsample(x))


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_pixelshuffle_starts_at_bicubic(scale):
    model = PixelShuffleUpscaler(scale, channels=8, n_blocks=2)
    x = torch.rand(2, 3, 7, 5)
    y = model(x)
    assert y.shape == (2, 3, 7 * scale, 5 * scale)
    assert torch.equal(y, F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False))


def test_pixelshuffle_parameters_and_layout():
    model = PixelShuffleUpscaler(4, channels=16, n_blocks=3)
    expected = conv_params(3, 16, 5) + 3 * 2 * conv_params(16, 16, 3) + conv_params(16, 3 * 16, 3)
    assert count_parameters(model) == expected
    assert model.shuffle.upscale_factor == 4 and len(model.blocks) == 3


def test_pixelshuffle_residual_blocks_and_tail_are_used():
    model = PixelShuffleUpscaler(2, channels=4, n_blocks=1).eval()
    with torch.no_grad():
        model.tail.bias.copy_(torch.tensor([0.5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -0.5]))
    x = torch.zeros(1, 3, 3, 3)
    y = model(x)
    # channel 0 of the tail -> red, top-left sub-pixel; channel 11 -> blue, bottom-right sub-pixel
    assert torch.allclose(y[0, 0, ::2, ::2], torch.full((3, 3), 0.5))
    assert torch.allclose(y[0, 2, 1::2, 1::2], torch.full((3, 3), -0.5))
    assert float(y[0, 1].detach().abs().sum()) == 0.0


def test_pixelshuffle_bad_arguments():
    with pytest.raises(ValueError, match="scale"):
        PixelShuffleUpscaler(1)
    with pytest.raises(ValueError, match="channels"):
        PixelShuffleUpscaler(2, channels=0)


def test_build_upscaler():
    model = build_upscaler("PixelShuffleUpscaler", scale=3, channels=8, n_blocks=1)
    assert isinstance(model, PixelShuffleUpscaler) and model.scale == 3
    assert isinstance(build_upscaler("Upscale2x"), Upscale2x)
    with pytest.raises(ValueError, match="Unknown upscaler"):
        build_upscaler("SRGAN")
