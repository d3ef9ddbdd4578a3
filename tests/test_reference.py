"""helpers.reference: resumable training, the exported half-precision file, and every committed reference model."""
import json
import subprocess
import sys
from dataclasses import replace

import pytest
import torch

from helpers import reference as R
from helpers.inference import load_upscaler

TINY = R.Spec("tiny", scale=2, steps=4, crop=16, batch=2, channels=4, n_blocks=1, chunk=2, lr=1e-2)


@pytest.fixture(scope="module")
def photos():
    g = torch.Generator().manual_seed(0)
    return {"a": torch.rand(3, 40, 40, generator=g), "b": torch.rand(3, 36, 44, generator=g)}


def test_learning_rate_halves_at_half_and_three_quarters():
    spec = replace(TINY, steps=100, lr=1.0)
    assert [spec.learning_rate(s) for s in (1, 50, 51, 75, 76, 100)] == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]


def test_an_interrupted_run_resumes_to_the_same_weights(tmp_path, photos):
    straight, hist, done = R.train(TINY, tmp_path / "a", images=photos)
    assert done and hist.last("step") == 4
    _, part, done = R.train(TINY, tmp_path / "b", max_chunks=1, images=photos)
    assert not done and part.last("step") == 2  # interrupted after one chunk: one chunk of work is kept
    resumed, hist_b, done = R.train(TINY, tmp_path / "b", images=photos)
    assert done and hist_b.series("loss")[0] == hist.series("loss")[0]
    for (k, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), k


def test_a_changed_spec_does_not_resume_a_foreign_state(tmp_path, photos):
    R.train(TINY, tmp_path, max_chunks=1, images=photos)
    with pytest.raises(Exception, match="other settings"):
        R.train(replace(TINY, lr=0.5), tmp_path, images=photos)


def test_init_needs_its_reference_model(tmp_path):
    with pytest.raises(FileNotFoundError, match="train it first"):
        R.build(replace(TINY, init="missing"), tmp_path)


def test_export_writes_half_precision_weights_and_reproducible_metrics(tmp_path, photos):
    model, hist, _ = R.train(TINY, tmp_path, images=photos)
    path = R.export(TINY, model, hist, tmp_path, command="test")
    saved = torch.load(path, weights_only=True)
    assert all(v.dtype == torch.float16 for v in saved["state"]["model"].values() if v.is_floating_point())
    meta = saved["meta"]
    assert meta["steps"] == 4 and meta["scale"] == 2 and meta["command"] == "test"
    assert meta["kwargs"] == {"scale": 2, "channels": 4, "n_blocks": 1}
    assert set(meta["held_out_photos"]) == {p.stem for p in R.held_out_photos()} | {"mean"}
    again = R.whole_photo_metrics(load_upscaler(path))
    assert again == meta["held_out_photos"]
    assert meta["held_out_crops"]["PSNR-Y"] > 10


REFERENCE_FILES = sorted(R.REFERENCE_DIR.glob("*.pt"))


def test_reference_folder_stays_small():
    assert sum(p.stat().st_size for p in REFERENCE_FILES) <= 60e6


def test_every_reference_model_reproduces_its_recorded_metrics():
    """Each committed reference/<name>.pt is a spec of helpers.reference and reproduces, from its half-precision
    weights, the whole-photo PSNR-Y it recorded (none is committed yet: the loop then has nothing to check)."""
    for path in REFERENCE_FILES:
        meta = torch.load(path, weights_only=True)["meta"]
        assert path.stem in R.SPECS and meta["reference"] == json.loads(json.dumps(R.SPECS[path.stem].__dict__))
        got = R.whole_photo_metrics(load_upscaler(path))
        for image, row in meta["held_out_photos"].items():
            assert got[image]["PSNR-Y"] == pytest.approx(row["PSNR-Y"], abs=0.02), (path.name, image)


def test_upscale_cli_loads_a_reference_model(tmp_path):
    for path in REFERENCE_FILES[:1]:
        from helpers.data import save_image
        save_image(torch.rand(3, 24, 24), tmp_path / "in.png")
        done = subprocess.run([sys.executable, "-m", "helpers.upscale", "--model", str(path),
                               str(tmp_path / "in.png"), "--out", str(tmp_path / "out")],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert list((tmp_path / "out").glob("*.png"))
