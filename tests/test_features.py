import email.message
import io
import shutil
import socket
from types import SimpleNamespace

import h5py
import pytest
import torch

from helpers import data
from helpers import features as F


def test_layer_names_match_torchvision_indices():
    names = F.vgg_layer_names("vgg16")
    assert len(names) == 31 and names.index("relu3_3") == 15  # the course's features[:16]
    assert names[:4] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2"] and names[-1] == "pool5"
    assert F.vgg_layer_names("vgg19").index("relu5_4") == 35
    assert F.conv_indices("vgg16") == [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
    with pytest.raises(ValueError):
        F.vgg_layer_names("vgg11")


def test_build_matches_torchvision_keys_and_shapes():
    import torchvision

    ours = F.build_vgg_features("vgg16").state_dict()
    theirs = torchvision.models.vgg16(weights=None).features.state_dict()
    assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in theirs.items()}


def test_hed_conversion_shapes_and_kernel_layout(tmp_path):
    h5 = F.hed_h5_path()
    state = F.convert_hed_h5(h5)
    assert state["features.0.weight"].shape == (64, 3, 3, 3)
    assert state["features.28.weight"].shape == (512, 512, 3, 3)
    assert state["dsn3.weight"].shape == (1, 256, 1, 1) and state["fuse.weight"].shape == (1, 5, 1, 1)
    with h5py.File(h5) as f:
        k = f["block2/layers/conv2d_1/vars/0"][()]  # conv2_2: (kh, kw, in, out)
        assert float(state["features.7.weight"][5, 7, 0, 2]) == float(k[0, 2, 7, 5])
        assert float(state["features.0.bias"][3]) == float(f["block1/layers/conv2d/vars/1"][3])


def test_hed_conversion_refuses_a_corrupt_or_missing_file(tmp_path):
    bad = tmp_path / "hed.h5"
    shutil.copy(F.hed_h5_path(), bad)
    with open(bad, "r+b") as f:
        f.seek(10_000_000)
        f.write(b"\0" * 16)
    with pytest.raises(F.WeightsUnavailable, match="SHA-256"):
        F.convert_hed_h5(bad)
    with pytest.raises(F.WeightsUnavailable, match="no HED weight file"):
        F.convert_hed_h5(tmp_path / "missing.h5")


def test_hed_state_is_cached_and_a_damaged_cache_rebuilt(tmp_path):
    state = F.hed_state_dict(tmp_path)
    cached = tmp_path / "hed_bsds500_torch.pt"
    assert cached.exists()
    cached.write_bytes(b"garbage")
    again = F.hed_state_dict(tmp_path)
    assert torch.equal(state["features.0.weight"], again["features.0.weight"])


def test_caffe_and_imagenet_input_norm():
    x = torch.tensor([0.2, 0.4, 0.6]).view(1, 3, 1, 1)
    caffe = F.InputNorm("caffe")(x).flatten()
    expected = torch.tensor([0.6 * 255 - 104.00699, 0.4 * 255 - 116.66877, 0.2 * 255 - 122.67892])
    assert torch.allclose(caffe, expected, atol=1e-4)
    imnet = F.InputNorm("imagenet")(x).flatten()
    assert torch.allclose(imnet, (torch.tensor([0.2, 0.4, 0.6]) - torch.tensor(F.IMAGENET_MEAN)) /
                          torch.tensor(F.IMAGENET_STD))


def test_source_order_falls_through_to_hed(monkeypatch):
    monkeypatch.delenv("SRGAN_VGG_SOURCE", raising=False)
    monkeypatch.delenv("SRGAN_VGG_WEIGHTS", raising=False)
    monkeypatch.setattr(F, "_CACHE", {})

    def offline(arch):
        raise F.WeightsUnavailable("offline")
    monkeypatch.setitem(F._LOADERS, "torchvision", offline)
    w = F.load_vgg_weights("vgg16", verbose=False)
    assert w.source == "hed-bsds500-imagenet-init" and w.convention == "caffe"
    w19 = F.load_vgg_weights("vgg19", verbose=False)
    assert w19.source == "random"


def test_file_source_and_bad_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(F, "_CACHE", {})
    good = tmp_path / "mine.pth"
    torch.save({"features." + k: v for k, v in F._random("vgg16").state_dict.items()}, good)
    monkeypatch.setenv("SRGAN_VGG_WEIGHTS", str(good))
    w = F.load_vgg_weights("vgg16", source="file")
    assert w.source == "file:mine.pth" and "file:mine.pth" in capsys.readouterr().out
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"nope")
    monkeypatch.setenv("SRGAN_VGG_WEIGHTS", str(bad))
    monkeypatch.setattr(F, "_CACHE", {})
    with pytest.raises(F.WeightsUnavailable, match="not a torchvision vgg16"):
        F.load_vgg_weights("vgg16", source="file")


def test_random_source_is_seeded_and_announced(monkeypatch, capsys):
    monkeypatch.setattr(F, "_CACHE", {})
    a = F.load_vgg_weights("vgg16", "random").state_dict["0.weight"]
    assert "RANDOM weights" in capsys.readouterr().out
    assert torch.equal(a, F._random("vgg16").state_dict["0.weight"])
    with pytest.raises(ValueError, match="Unknown VGG weight source"):
        F.load_vgg_weights("vgg16", "imagenet")


def test_extractor_returns_named_layers_frozen_and_truncated():
    vgg = F.VGGFeatures(("relu1_2", "conv2_2"), source="hed")
    assert len(vgg.features) == F.vgg_layer_names().index("conv2_2") + 1
    out = vgg(torch.rand(2, 3, 32, 32))
    assert out["relu1_2"].shape == (2, 64, 32, 32) and out["conv2_2"].shape == (2, 128, 16, 16)
    assert out["conv2_2"].min() < 0  # before the ReLU: conv outputs are not clipped
    assert not any(p.requires_grad for p in vgg.parameters())
    vgg.train()
    assert not vgg.training
    with pytest.raises(ValueError, match="Unknown vgg16 layers"):
        F.VGGFeatures(("relu5_4",), source="hed")


def test_hed_edges_find_a_vertical_step():
    x = torch.zeros(1, 3, 64, 64)
    x[..., 32:] = 1.0
    e = F.HEDEdges()(x)
    assert e.shape == (1, 1, 64, 64) and 0 <= e.min() and e.max() <= 1
    profile = e[0, 0, 16:48].mean(0)
    assert 29 <= int(profile.argmax()) <= 34
    assert profile[30:34].max() > 0.5 and profile[:16].max() < 0.2 and profile[48:].max() < 0.2


def test_hed_edges_handle_odd_sizes():
    assert F.HEDEdges()(torch.rand(1, 3, 37, 51)).shape == (1, 1, 37, 51)


# --------------------------------------------------------------------------- issue 19: conventions and downloads
def test_hed_input_convention_is_bgr_0_255_minus_the_mean_by_hand():
    """The first layer's exact response at one pixel, computed by hand from the loaded HED weights: fails under an
    RGB/BGR swap, a missing mean or a missing x255 in the input conversion."""
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 5, 5, generator=gen)
    x[0, 0] = 0.8 + 0.2 * x[0, 0]  # red high
    x[0, 2] = 0.2 * x[0, 2]  # blue low: a swap cannot go unseen

    def by_hand(w, b, order=(2, 1, 0), mean=F.CAFFE_MEAN_BGR, gain=255.0):
        """conv1_1 at pixel (2, 2): bias + sum over input channel c and 3x3 taps of weight x input, where HED's
        channel c is RGB channel order[c] (B, G, R) times gain minus the Caffe mean of c."""
        out = b.clone()
        for c in range(3):
            for i in range(3):
                for j in range(3):
                    out += w[:, c, i, j] * (gain * float(x[0, order[c], 1 + i, 1 + j]) - mean[c])
        return out

    hed = F.HEDEdges()
    vgg = F.VGGFeatures(("conv1_1",), source="hed")
    w, b = hed.features[0].weight, hed.features[0].bias
    assert torch.equal(w, vgg.features[0].weight)
    expected = by_hand(w, b)
    for response in (hed.features[0](hed.norm(x))[0, :, 2, 2], vgg(x)["conv1_1"][0, :, 2, 2]):
        assert torch.allclose(response, expected, rtol=1e-5, atol=1e-3)
        for wrong in (by_hand(w, b, order=(0, 1, 2)), by_hand(w, b, mean=(0.0, 0.0, 0.0)), by_hand(w, b, gain=1.0)):
            assert (response - wrong).abs().max() > 1.0  # each mistake moves the response far beyond the tolerance


class _HubResponse(io.BytesIO):
    """What torch.hub's ``urlopen`` returns: a body, ``info()`` with headers, usable in ``with``."""

    def info(self):
        msg = email.message.Message()
        msg["Content-Length"] = str(len(self.getvalue()))
        return msg


def test_torchvision_download_has_a_timeout_a_hash_check_and_leaves_no_partial_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    seen = []

    def urlopen(request, *args, **kwargs):
        seen.append(socket.getdefaulttimeout())
        return _HubResponse(b"half a weight file")
    monkeypatch.setattr(torch.hub, "urlopen", urlopen)
    with pytest.raises(F.WeightsUnavailable, match="invalid hash value"):
        F._from_torchvision("vgg16")
    assert seen == [data.DOWNLOAD_TIMEOUT_S] and socket.getdefaulttimeout() is None
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []  # nothing kept to be taken for the weights


def test_is_torchvision_imagenet_file_compares_the_sha256_prefix(tmp_path, monkeypatch):
    path = tmp_path / "vgg16-imagenet.pth"
    path.write_bytes(b"not vgg16")
    assert not F.is_torchvision_imagenet_file(path)  # its SHA-256 does not start with 397923af
    prefix = data.sha256_file(path)[:8]
    monkeypatch.setattr(F, "_imagenet_weights", lambda arch: SimpleNamespace(url=f"https://x/vgg16-{prefix}.pth"))
    assert F.is_torchvision_imagenet_file(path) and not F.is_torchvision_imagenet_file(tmp_path / "missing.pth")
