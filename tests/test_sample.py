"""helpers.sample: generator checkpoints round-trip, sampling is seeded, bad files get clear errors, the CLI."""
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers.inference import Checkpoint, CheckpointError
from helpers.models.dcgan import DCGenerator, FCGenerator
from helpers.models.progan import Generator as ProGANGenerator
from helpers.models.upscalers import PixelShuffleUpscaler
from helpers.sample import grid_image, load_generator, main, sample, save_generator

ROOT = Path(__file__).resolve().parent.parent


def _meta(arch, kwargs, size, latent, **extra):
    return {"architecture": arch, "kwargs": kwargs, "image_size": size, "latent_size": latent,
            "data_range": "[-1, 1]", "steps": 7, "notebook": "test", **extra}


CASES = {
    "fc": (lambda: FCGenerator(z_dim=8, size=16, hidden=16), _meta("FCGenerator", {"z_dim": 8, "size": 16,
                                                                                   "hidden": 16}, 16, 8)),
    "dcgan": (lambda: DCGenerator(z_dim=8, size=16, ngf=4), _meta("DCGenerator", {"z_dim": 8, "size": 16, "ngf": 4},
                                                                  16, 8)),
    "progan": (lambda: ProGANGenerator(code_dim=8, channels=[8, 4, 4]),
               _meta("ProGANGenerator", {"code_dim": 8, "channels": [8, 4, 4]}, 8, 8, stage=1)),
}


def _trained_like(make):
    """A generator whose weights differ from a fresh one's (and BatchNorm running stats that are not the defaults)."""
    torch.manual_seed(1)
    model = make()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
        for name, buf in model.named_buffers():
            if "running_mean" in name:
                buf.add_(0.1)
    return model


@pytest.mark.parametrize("case", CASES)
def test_round_trip_gives_the_same_samples(tmp_path, case):
    make, meta = CASES[case]
    model = _trained_like(make)
    path = save_generator(tmp_path / f"{case}.pt", model, meta)
    loaded, got = load_generator(path)
    assert type(loaded) is type(model) and not loaded.training
    assert got["kind"] == "unconditional generator" and got["channels"] == 1
    assert {k: got[k] for k in meta} == meta
    a, b = sample(model, meta, 6, seed=3), sample(loaded, got, 6, seed=3)
    assert a.shape == (6, 1, meta["image_size"], meta["image_size"])
    assert torch.equal(a, b)
    assert 0 <= a.min() and a.max() <= 1
    assert not list(tmp_path.glob("*.tmp")), "the temporary file of the atomic save is left behind"


def test_the_same_seed_gives_the_same_samples_and_another_seed_others():
    make, meta = CASES["dcgan"]
    model = _trained_like(make)
    assert torch.equal(sample(model, meta, 4, seed=0), sample(model, meta, 4, seed=0))
    assert not torch.allclose(sample(model, meta, 4, seed=0), sample(model, meta, 4, seed=1))


def test_samples_map_the_data_range_to_0_1():
    make, meta = CASES["fc"]
    model = _trained_like(make)
    with torch.no_grad():
        model.net[-2].bias.fill_(50.0)  # tanh saturates at +1 -> white
    assert torch.allclose(sample(model, meta, 2), torch.ones(2, 1, 16, 16))
    with torch.no_grad():
        model.net[-2].bias.fill_(-50.0)
    assert torch.allclose(sample(model, meta, 2), torch.zeros(2, 1, 16, 16))


def test_save_refuses_a_model_its_meta_does_not_rebuild(tmp_path):
    make, meta = CASES["dcgan"]
    with pytest.raises(CheckpointError, match="constructor arguments"):
        save_generator(tmp_path / "a.pt", make(), {**meta, "kwargs": {"z_dim": 8, "size": 16, "ngf": 8}})
    with pytest.raises(CheckpointError, match="meta says FCGenerator"):
        save_generator(tmp_path / "b.pt", make(), {**meta, "architecture": "FCGenerator"})
    with pytest.raises(CheckpointError, match="lacks"):
        save_generator(tmp_path / "c.pt", make(), {k: v for k, v in meta.items() if k != "steps"})
    with pytest.raises(CheckpointError, match="meta says 32x32"):
        save_generator(tmp_path / "d.pt", make(), {**meta, "image_size": 32})
    with pytest.raises(CheckpointError, match="must name its stage"):
        save_generator(tmp_path / "e.pt", CASES["progan"][0](), {k: v for k, v in CASES["progan"][1].items()
                                                                 if k != "stage"})
    assert not list(tmp_path.iterdir()), "a refused save wrote a file"


def test_wrong_files_get_errors_that_say_what_to_do(tmp_path):
    with pytest.raises(CheckpointError, match="No generator checkpoint.*notebook 05 or 10"):
        load_generator(tmp_path / "missing.pt")
    (tmp_path / "text.pt").write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_generator(tmp_path / "text.pt")

    class Evil:
        def __reduce__(self):
            return (print, ("ran code",))
    (tmp_path / "evil.pt").write_bytes(pickle.dumps(Evil()))
    with pytest.raises(CheckpointError, match="weights_only"):
        load_generator(tmp_path / "evil.pt")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a generator checkpoint"):
        load_generator(tmp_path / "foreign.pt")
    up = Checkpoint(tmp_path / "up.pt", {"architecture": "PixelShuffleUpscaler", "kwargs": {"scale": 2}, "scale": 2})
    up.save(1, {"model": PixelShuffleUpscaler(scale=2)})
    with pytest.raises(CheckpointError, match="upscaler checkpoint.*helpers.upscale"):
        load_generator(tmp_path / "up.pt")
    make, meta = CASES["dcgan"]
    path = save_generator(tmp_path / "g.pt", make(), meta)
    path.write_bytes(path.read_bytes()[:200])  # truncated: a damaged download
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_generator(path)
    saved = {"meta": {**meta, "kind": "unconditional generator", "kwargs": {"z_dim": 8, "size": 16, "ngf": 8}},
             "state": {"model": make().state_dict()}}
    torch.save(saved, tmp_path / "mismatch.pt")
    with pytest.raises(CheckpointError, match="cannot rebuild 'DCGenerator'"):
        load_generator(tmp_path / "mismatch.pt")


def test_grid_tiles_samples_with_padding_and_zoom():
    imgs = torch.zeros(5, 1, 4, 4)
    im = grid_image(imgs, nrow=3, pad=1, zoom=2)
    assert im.size == (2 * (3 * 5 + 1), 2 * (2 * 5 + 1)) and im.mode == "L"
    px = np.asarray(im)
    assert px[0, 0] == 255 and px[2, 2] == 0  # padding white, sample black
    assert grid_image(torch.ones(2, 3, 4, 4)).mode == "RGB"


def test_cli_writes_the_grid_and_the_raw_samples(tmp_path):
    make, meta = CASES["dcgan"]
    model = _trained_like(make)
    ckpt = save_generator(tmp_path / "g.pt", model, meta)
    out = tmp_path / "o" / "grid.png"
    assert main(["--model", str(ckpt), "--n", "10", "--out", str(out), "--seed", "0", "--zoom", "1"]) == 0
    raw = np.load(out.with_suffix(".npy"))
    assert raw.shape == (10, 1, 16, 16) and raw.dtype == np.float32 and 0 <= raw.min() and raw.max() <= 1
    np.testing.assert_array_equal(raw, sample(model, meta, 10, seed=0).numpy())
    assert Image.open(out).size == (4 * 18 + 2, 3 * 18 + 2)
    with pytest.raises(SystemExit) as exit_:
        main(["--model", str(ckpt), "--out", str(out)])  # exists, no --overwrite
    assert exit_.value.code == 2
    assert main(["--model", str(ckpt), "--out", str(out), "--overwrite", "--n", "4"]) == 0


def test_cli_bad_checkpoint_exits_1_with_the_message_and_stays_light(tmp_path):
    (tmp_path / "bad.pt").write_text("nope")
    code = ("import sys, runpy; sys.argv = ['helpers.sample', '--model', sys.argv[1], '--out', sys.argv[2]]\n"
            "try:\n    runpy.run_module('helpers.sample', run_name='__main__')\nexcept SystemExit as e:\n"
            "    heavy = sorted({m.split('.')[0] for m in sys.modules} & {'matplotlib', 'ipywidgets', 'IPython'})\n"
            "    print('HEAVY', heavy, 'EXIT', e.code)")
    res = subprocess.run([sys.executable, "-c", code, str(tmp_path / "bad.pt"), str(tmp_path / "g.png")],
                         capture_output=True, text=True, cwd=ROOT)
    assert "HEAVY [] EXIT 1" in res.stdout, res.stdout + res.stderr
    assert "cannot be read as a checkpoint" in res.stderr
    assert not (tmp_path / "g.png").exists()
