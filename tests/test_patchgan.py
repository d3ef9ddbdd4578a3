import pytest
import torch
import torch.nn as nn

from helpers.models.patchgan import NLayerDiscriminator, norm_layer, receptive_field
from helpers.train import set_requires_grad


def test_70x70_patchgan_shape_and_receptive_field():
    d = NLayerDiscriminator(6, ndf=8, n_layers=3)
    assert receptive_field(d) == 70
    assert d(torch.rand(2, 6, 64, 64)).shape == (2, 1, 6, 6)
    assert receptive_field(NLayerDiscriminator(3, 8, n_layers=1)) == 16
    assert receptive_field(NLayerDiscriminator(3, 8, n_layers=2)) == 34


def test_patchgan_layout():
    d = NLayerDiscriminator(3, ndf=4, n_layers=3, norm="instance")
    convs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [4, 8, 16, 32, 1]
    assert [c.stride[0] for c in convs] == [2, 2, 2, 1, 1]
    assert all(c.bias is not None for c in convs)
    assert sum(isinstance(m, nn.InstanceNorm2d) for m in d.modules()) == 3
    bn = NLayerDiscriminator(3, ndf=4, norm="batch")
    assert [c.bias is None for c in bn.modules() if isinstance(c, nn.Conv2d)] == [False, True, True, True, False]
    slopes = {m.negative_slope for m in d.modules() if isinstance(m, nn.LeakyReLU)}
    assert slopes == {0.2}
    with pytest.raises(ValueError):
        norm_layer("group", 4)
    assert isinstance(norm_layer("none", 4), nn.Identity)


def test_set_requires_grad():
    a, b = nn.Linear(2, 2), nn.Linear(2, 2)
    set_requires_grad([a, b], False)
    assert not any(p.requires_grad for p in [*a.parameters(), *b.parameters()])
    set_requires_grad(a, True)
    assert all(p.requires_grad for p in a.parameters())
