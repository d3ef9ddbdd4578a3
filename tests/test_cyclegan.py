import random

import pytest
import torch
import torch.nn as nn

from helpers.models.cyclegan import ImagePool, ResnetBlock, ResnetGenerator, linear_decay


def test_paper_generator_parameter_count():
    # pytorch-CycleGAN-and-pix2pix prints 11.378 M for resnet_9blocks with ngf=64 and instance norm
    assert sum(p.numel() for p in ResnetGenerator(3, 3, 64, 9).parameters()) == 11_378_179


def test_small_generator_parameter_count_by_hand():
    # ngf=4, one block: c7s1-4, d8, d16, R16, u8, u4, c7s1-3 (all with bias)
    by_hand = (3 * 4 * 49 + 4) + (4 * 8 * 9 + 8) + (8 * 16 * 9 + 16) + 2 * (16 * 16 * 9 + 16) \
        + (16 * 8 * 9 + 8) + (8 * 4 * 9 + 4) + (4 * 3 * 49 + 3)
    assert sum(p.numel() for p in ResnetGenerator(3, 3, ngf=4, n_blocks=1).parameters()) == by_hand == 8739


def test_generator_layout():
    g = ResnetGenerator(3, 2, ngf=4, n_blocks=2)
    convs = [m for m in g.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert [c.kernel_size[0] for c in convs] == [7, 3, 3, 3, 3, 3, 3, 3, 3, 7]
    assert [c.stride[0] for c in convs] == [1, 2, 2, 1, 1, 1, 1, 2, 2, 1]
    assert [c.out_channels for c in convs] == [4, 8, 16, 16, 16, 16, 16, 8, 4, 2]
    assert [isinstance(c, nn.ConvTranspose2d) for c in convs] == [False] * 7 + [True, True, False]
    assert all(c.padding[0] == 0 for c in convs if c.kernel_size[0] == 7)  # padded by reflection instead
    pads = [m.padding[0] for m in g.modules() if isinstance(m, nn.ReflectionPad2d)]
    assert pads == [3, 1, 1, 1, 1, 3]
    norms = [m for m in g.modules() if isinstance(m, nn.InstanceNorm2d)]
    assert len(norms) == 1 + 2 + 2 * 2 + 2 and not any(n.affine for n in norms)
    assert isinstance(g.model[-1], nn.Tanh)
    assert sum(isinstance(m, ResnetBlock) for m in g.modules()) == 2
    assert not any(isinstance(m, nn.InstanceNorm2d) for m in ResnetGenerator(3, 3, 4, 1, norm="none").modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in ResnetGenerator(3, 3, 4, 1, norm="batch").modules())


def test_generator_shapes_and_range():
    torch.manual_seed(0)
    g = ResnetGenerator(3, 3, ngf=4, n_blocks=1)
    with torch.no_grad():
        y = g(torch.rand(2, 3, 32, 48) * 2 - 1)
    assert y.shape == (2, 3, 32, 48)
    assert float(y.abs().max()) <= 1
    assert ResnetGenerator(1, 3, ngf=4, n_blocks=0)(torch.rand(1, 1, 16, 16)).shape == (1, 3, 16, 16)


def test_generator_bad_input():
    g = ResnetGenerator(3, 3, ngf=4, n_blocks=1)
    with pytest.raises(ValueError, match="divisible by 4"):
        g(torch.rand(1, 3, 30, 32))
    with pytest.raises(ValueError, match="divisible by 4"):
        g(torch.rand(1, 3, 32, 30))
    with pytest.raises(ValueError):
        ResnetGenerator(3, 3, ngf=4, n_blocks=1, norm="group")
    with pytest.raises(ValueError):
        ResnetGenerator(3, 3, ngf=0, n_blocks=1)
    with pytest.raises(ValueError):
        ResnetGenerator(3, 3, ngf=4, n_blocks=-1)


def test_resnet_block_is_residual():
    block = ResnetBlock(4)
    for m in block.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)
    x = torch.randn(2, 4, 6, 6)
    assert torch.equal(block(x), x)  # zero branch -> exactly the input
    nn.init.constant_(block.block[5].bias, 0.5)  # a constant is removed by the instance norm after it
    assert torch.allclose(block(x), x, atol=1e-6)


class FixedRng:
    """Stand-in for random.Random with chosen draws."""

    def __init__(self, draws, index):
        self.draws, self.index = list(draws), index

    def random(self):
        return self.draws.pop(0)

    def randrange(self, n):
        assert 0 <= self.index < n
        return self.index


def _imgs(*values):
    return torch.tensor(values, dtype=torch.float32).view(-1, 1, 1, 1)


def test_image_pool_fills_then_swaps_with_probability_half():
    pool = ImagePool(2, rng=FixedRng([0.3, 0.7, 0.49, 0.5], index=1))
    assert pool.query(_imgs(1, 2)).flatten().tolist() == [1, 2]  # filling: returned as they come
    # draw 0.3 < 0.5: return stored #1 (2), store 3 there; draw 0.7: return the new image 4
    assert pool.query(_imgs(3, 4)).flatten().tolist() == [2, 4]
    assert [float(i) for i in pool.images] == [1, 3]
    # 0.49 swaps (returns 3, stores 5), 0.5 does not (returns 6)
    assert pool.query(_imgs(5, 6)).flatten().tolist() == [3, 6]
    assert [float(i) for i in pool.images] == [1, 5]


def test_image_pool_stores_detached_and_size_zero_passes_through():
    x = torch.rand(3, 3, 4, 4, requires_grad=True)
    assert ImagePool(0).query(x) is x
    pool = ImagePool(50)
    out = pool.query(x * 2)
    assert len(pool.images) == 3 and not out.requires_grad
    assert all(not i.requires_grad for i in pool.images)
    assert torch.equal(out, (x * 2).detach())
    with pytest.raises(ValueError):
        ImagePool(-1)


def test_image_pool_half_of_queries_return_history():
    pool = ImagePool(5, rng=random.Random(0))
    pool.query(torch.full((5, 1, 1, 1), -1.0))
    out = pool.query(torch.arange(2000.0).view(-1, 1, 1, 1)).flatten()
    new = (out == torch.arange(2000.0)).float().mean()
    assert 0.45 < float(new) < 0.55


def test_linear_decay_values():
    assert [linear_decay(s, 100) for s in (0, 49, 50)] == [1.0, 1.0, 1.0]
    assert linear_decay(75, 100) == 0.5
    assert linear_decay(99, 100) == pytest.approx(0.02)
    assert linear_decay(100, 100) == 0.0
    assert linear_decay(150, 100) == 0.0
    assert linear_decay(79, 100, decay_start=80) == 1.0
    assert linear_decay(90, 100, decay_start=80) == 0.5
    assert linear_decay(3, 7) == 1.0 and linear_decay(5, 7) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        linear_decay(0, 0)


def test_linear_decay_drives_an_optimiser():
    opt = torch.optim.Adam([nn.Parameter(torch.zeros(1))], lr=2e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: linear_decay(s, 10))
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[:6] == [2e-4] * 6
    assert lrs[6:] == pytest.approx([1.6e-4, 1.2e-4, 0.8e-4, 0.4e-4])
    assert opt.param_groups[0]["lr"] == 0.0


def _tile(values):
    """Four values as a 2x2 pattern, same in all 3 channels, tiled to (1, 3, 8, 8)."""
    return torch.tensor(values).view(1, 1, 2, 2).repeat(1, 3, 4, 4)


def test_skip_generator_starts_as_identity():
    torch.manual_seed(0)
    g = ResnetGenerator(3, 3, ngf=4, n_blocks=1, skip=True)
    last = [m for m in g.modules() if isinstance(m, nn.Conv2d)][-1]
    assert torch.equal(last.weight, torch.zeros_like(last.weight)) and torch.equal(last.bias, torch.zeros(3))
    first = [m for m in g.modules() if isinstance(m, nn.Conv2d)][0]
    assert float(first.weight.abs().sum()) > 0  # only the last convolution is zeroed
    x = torch.rand(2, 3, 8, 12, generator=torch.Generator().manual_seed(1)) * 1.9 - 0.95
    assert torch.allclose(g(x), x, atol=1e-6)
    # inputs at the ends of the range are clamped to +-0.999 before atanh
    ends = _tile([-1.0, 1.0, 0.0, 0.5])
    assert torch.allclose(g(ends), _tile([-0.999, 0.999, 0.0, 0.5]), atol=1e-6)
    assert sum(p.numel() for p in g.parameters()) == 8739  # same parameters as without skip


def test_skip_generator_adds_in_tanh_space():
    g = ResnetGenerator(3, 3, ngf=4, n_blocks=0, skip=True)
    last = [m for m in g.modules() if isinstance(m, nn.Conv2d)][-1]
    with torch.no_grad():
        last.bias.copy_(torch.tensor([0.5, 0.0, -1.0]))
    x = _tile([-0.5, 0.0, 0.25, 0.8])
    want = torch.tanh(torch.atanh(x) + torch.tensor([0.5, 0.0, -1.0]).view(1, 3, 1, 1))
    assert torch.allclose(g(x), want, atol=1e-6)
    assert torch.allclose(g(x)[:, 1], x[:, 1], atol=1e-6)


def test_skip_generator_learns_and_plain_one_does_not_copy():
    torch.manual_seed(0)
    g = ResnetGenerator(3, 3, ngf=4, n_blocks=1, skip=True)
    x = torch.rand(1, 3, 8, 8) * 1.8 - 0.9
    opt = torch.optim.SGD(g.parameters(), lr=0.1)
    (g(x) - (x + 0.05)).abs().mean().backward()
    opt.step()
    assert not torch.allclose(g(x), x, atol=1e-4)  # the zeroed last layer receives a gradient
    plain = ResnetGenerator(3, 3, ngf=4, n_blocks=1)
    assert not plain.skip and not torch.allclose(plain(x), x, atol=1e-2)
    with pytest.raises(ValueError, match="input_nc"):
        ResnetGenerator(1, 3, ngf=4, n_blocks=1, skip=True)
