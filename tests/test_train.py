import math

import pytest
import torch
import torch.nn as nn

from helpers import inference, results, train


def test_check_finite_names_the_loss_and_step():
    train.check_finite(3, g=torch.tensor(1.0), d=0.5)
    with pytest.raises(train.TrainingDiverged, match="d_loss is nan at step 7"):
        train.check_finite(7, g_loss=1.0, d_loss=torch.tensor(float("nan")))
    with pytest.raises(train.TrainingDiverged, match="inf"):
        train.check_finite(1, loss=math.inf)


def test_history():
    h = results.History()
    h.log(1, loss=torch.tensor(2.0))
    h.log(2, loss=1.0, psnr=20)
    assert h.series("loss") == ([1.0, 2.0], [2.0, 1.0])
    assert h.last("psnr") == 20
    with pytest.raises(KeyError):
        h.last("ssim")
    assert results.History(h.state_dict()).series("psnr") == ([2.0], [20.0])


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 3, 1))


def test_checkpoint_round_trip(tmp_path):
    model, other = _model(), nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 3, 1))
    opt = torch.optim.Adam(model.parameters())
    model(torch.rand(1, 3, 8, 8)).sum().backward()
    opt.step()
    hist = results.History()
    hist.log(5, loss=0.3)
    ck = inference.Checkpoint(tmp_path / "a.pt", {"arch": "x", "lr": 1e-3})
    assert ck.load() is None
    ck.save(5, {"model": model, "opt": opt}, hist, note="hi")
    assert not (tmp_path / "a.pt.tmp").exists()
    saved = inference.Checkpoint(tmp_path / "a.pt", {"lr": 1e-3, "arch": "x"}).load()
    assert saved["step"] == 5 and saved["note"] == "hi"
    opt2 = torch.optim.Adam(other.parameters())
    restored = inference.Checkpoint.restore(saved, {"model": other, "opt": opt2})
    assert restored.last("loss") == pytest.approx(0.3)
    for a, b in zip(model.parameters(), other.parameters()):
        assert torch.equal(a, b)
    assert opt2.state_dict()["state"][0]["step"] == 1
    with pytest.raises(inference.CheckpointMismatch, match="no state for"):
        inference.Checkpoint.restore(saved, {"critic": other})


def test_checkpoint_mismatch_keeps_the_file(tmp_path):
    path = tmp_path / "a.pt"
    inference.Checkpoint(path, {"lr": 1}).save(1, {"m": _model()})
    before = path.read_bytes()
    with pytest.raises(inference.CheckpointMismatch, match="other settings"):
        inference.Checkpoint(path, {"lr": 2}).load()
    assert path.read_bytes() == before
    assert inference.Checkpoint(path, {"lr": 2}, on_mismatch="backup").load() is None
    backups = list(tmp_path.glob("a.pt.bak-*"))
    assert len(backups) == 1 and backups[0].read_bytes() == before and not path.exists()
    path.write_bytes(b"junk")
    with pytest.raises(inference.CheckpointMismatch, match="cannot be read"):
        inference.Checkpoint(path, {"lr": 2}).load()
    with pytest.raises(ValueError):
        inference.Checkpoint(path, {}, on_mismatch="overwrite")


def test_autocast_and_channels_last():
    m = _model()
    x = torch.rand(1, 3, 8, 8)
    with train.autocast("cpu"):
        y = m(x)
    assert y.dtype == torch.bfloat16
    with train.autocast("cpu", enabled=False):
        assert m(x).dtype == torch.float32
    with train.autocast("meta"):
        pass
    m2, x2 = train.to_channels_last(m, x)
    assert x2.is_contiguous(memory_format=torch.channels_last)
    assert m2[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert train.to_channels_last(torch.rand(3)).shape == (3,)


def test_progress_and_timed():
    assert list(train.progress(3, disable=True)) == [0, 1, 2]
    calls = []
    seconds, result = train.timed(lambda: calls.append(1) or len(calls), repeat=2)
    assert seconds >= 0 and result == 3 and len(calls) == 3
