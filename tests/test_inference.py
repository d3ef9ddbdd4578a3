"""helpers.inference: checkpoints are read with weights_only=True, so a file that would run code is refused with
a message that says how to re-make it; files saved by the current Checkpoint load."""

import numpy as np
import pytest
import torch

from helpers.inference import Checkpoint, CheckpointError, CheckpointMismatch, load_upscaler
from helpers.models.upscalers import PixelShuffleUpscaler

META = {"architecture": "PixelShuffleUpscaler", "kwargs": {"scale": 2, "channels": 4, "n_blocks": 1}, "scale": 2}


class Payload:
    """An object whose unpickling would run code (os.system in a real attack)."""

    ran = False

    def __reduce__(self):
        return (Payload._run, ())

    @staticmethod
    def _run():
        Payload.ran = True
        return "ran"


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"meta": META, "state": {"model": PixelShuffleUpscaler(2, 4, 1).state_dict()}, "x": Payload()}, path)
    with pytest.raises(CheckpointError, match="Re-make it with its notebook"):
        load_upscaler(path)
    with pytest.raises(CheckpointMismatch, match="cannot be read"):
        Checkpoint(path, META).load()
    assert not Payload.ran


def test_an_older_checkpoint_with_numpy_objects_gets_the_remake_message(tmp_path):
    path = tmp_path / "old.pt"
    torch.save({"meta": {**META, "psnr": np.float64(30.0)}, "state": {"model": PixelShuffleUpscaler(2, 4, 1)
                                                                      .state_dict()}}, path, )
    with pytest.raises(CheckpointError, match="older version of these notebooks"):
        load_upscaler(path)


def test_current_checkpoints_load_with_history_and_extras(tmp_path):
    model = PixelShuffleUpscaler(2, 4, 1)
    with torch.no_grad():
        model.tail.bias.fill_(0.1)
    path = Checkpoint(tmp_path / "m.pt", META).save(7, {"model": model}, metrics={"PSNR-Y": 30.5, "LPIPS": "n/a"})
    lm = load_upscaler(path)
    x = torch.rand(1, 3, 8, 8)
    assert lm.scale == 2 and lm.meta == META and torch.allclose(lm.model(x), model.eval()(x))
    saved = Checkpoint(path, META).load()
    assert saved["step"] == 7 and saved["metrics"]["LPIPS"] == "n/a"
