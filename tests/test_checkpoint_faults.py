"""helpers.inference.Checkpoint when a save is interrupted (Ctrl-C, disk full): the last complete checkpoint is
kept and loads, never a half-written one (issue 19)."""
import errno

import pytest
import torch

from helpers import inference
from helpers.inference import Checkpoint
from helpers.models.upscalers import PixelShuffleUpscaler

META = {"architecture": "PixelShuffleUpscaler", "kwargs": {"scale": 2, "channels": 4, "n_blocks": 1}, "scale": 2}


@pytest.mark.parametrize("fault", [KeyboardInterrupt(), OSError(errno.ENOSPC, "No space left on device")])
def test_an_interrupted_save_keeps_the_last_checkpoint(tmp_path, monkeypatch, fault):
    ckpt = Checkpoint(tmp_path / "m.pt", META)
    model = PixelShuffleUpscaler(**META["kwargs"])
    ckpt.save(10, {"model": model})
    saved_weights = {k: v.clone() for k, v in model.state_dict().items()}
    real_save = torch.save

    def interrupted(obj, f, *args, **kwargs):
        real_save(obj, f, *args, **kwargs)
        with open(f, "r+b") as handle:  # half the bytes reached the disk
            handle.truncate(len(handle.read()) // 2)
        raise fault

    monkeypatch.setattr(inference.torch, "save", interrupted)
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    with pytest.raises(type(fault)):
        ckpt.save(20, {"model": model})
    saved = ckpt.load()
    assert saved["step"] == 10
    assert all(torch.equal(saved["state"]["model"][k], v) for k, v in saved_weights.items())
