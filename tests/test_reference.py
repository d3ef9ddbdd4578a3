"""helpers.reference: resumable training, the exported half-precision file, and every committed reference model."""
import subprocess
import sys
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from helpers import reference as R
from helpers import reference_cycle as C
from helpers import reference_store as S
from helpers.config import PROJECT_ROOT
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


def _recipe_pair(tmp_path, photos):
    """A tiny content model, then a tiny critic fine-tune and its no-critic control from it."""
    base = R.Spec("base", scale=4, steps=2, crop=64, batch=2, channels=4, n_blocks=1, chunk=1)
    model, hist, _ = R.train(base, tmp_path, images=photos)
    R.export(base, model, hist, tmp_path, command="test")
    critic = replace(base, name="critic", init="base", trainer="critic", pixel=10.0, perceptual=1.0, tv=0.1,
                     adv=0.01, critic_lr=4e-4, lr=1e-4, n_critic=2)
    return critic, replace(critic, name="control", trainer="no-critic", adv=0.0)


@pytest.fixture(scope="module")
def big_photos():
    g = torch.Generator().manual_seed(1)
    return {"a": torch.rand(3, 80, 80, generator=g), "b": torch.rand(3, 72, 96, generator=g)}


def test_the_critic_recipe_resumes_to_the_same_weights_and_steps_the_critic(tmp_path, big_photos):
    critic, _ = _recipe_pair(tmp_path, big_photos)
    start = R.build(critic, tmp_path).state_dict()
    straight, hist, done = R.train(critic, tmp_path, images=big_photos)
    assert done and hist.last("step") == 2 and hist.series("wasserstein")[0] == [1.0, 2.0]
    assert any(not torch.equal(start[k], v) for k, v in straight.state_dict().items())
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "base.pt").write_bytes((tmp_path / "base.pt").read_bytes())
    _, part, done = R.train(critic, tmp_path / "b", max_chunks=1, images=big_photos)
    assert not done and part.last("step") == 1
    resumed, hist_b, done = R.train(critic, tmp_path / "b", images=big_photos)
    assert done and hist_b.series("loss") == hist.series("loss")
    for (k, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), k
    saved = torch.load(tmp_path / ".state" / "critic.pt", weights_only=True)
    assert saved["state"]["opt_c"]["state"], "the critic's optimiser never stepped"


def test_the_no_critic_control_trains_the_generator_alone(tmp_path, big_photos):
    _, control = _recipe_pair(tmp_path, big_photos)
    _, hist, done = R.train(control, tmp_path, images=big_photos)
    assert done and hist.last("step") == 2 and not hist.series("wasserstein")[0]
    saved = torch.load(tmp_path / ".state" / "control.pt", weights_only=True)
    assert not saved["state"]["opt_c"]["state"], "the control's critic stepped"


def test_each_adversarial_reference_has_a_control_that_differs_only_by_the_critic():
    recipes = [s for s in R.SPECS.values() if s.trainer == "critic"]
    assert recipes
    for spec in recipes:
        control = R.SPECS[f"{spec.name}_control"]
        assert control.trainer == "no-critic" and control.adv == 0 and spec.adv > 0
        assert replace(control, name=spec.name, trainer="critic", adv=spec.adv) == spec
        assert R.SPECS[spec.init].trainer == "content" and R.SPECS[spec.init].kwargs() == spec.kwargs()


def test_an_unknown_trainer_is_refused():
    with pytest.raises(ValueError, match="Unknown trainer"):
        replace(TINY, trainer="gan")


def test_an_unknown_architecture_is_refused():
    with pytest.raises(ValueError, match="Unknown architecture"):
        replace(TINY, architecture="SRResNet")


def test_a_course_spec_starts_at_its_bilinear_base_and_exports_as_the_course_model(tmp_path, photos):
    spec = replace(TINY, name="course", architecture="course", steps=2, chunk=1, lr=1e-3)
    assert spec.kwargs() == {} and spec.model_class() == "Upscale2x"
    assert replace(spec, scale=4).model_class() == "Upscale4x"
    model = R.build(spec, tmp_path).eval()
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        assert torch.allclose(model(x), F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True))
    trained, hist, done = R.train(spec, tmp_path, images=photos)
    assert done and not torch.equal(trained.model[-1].weight, torch.zeros_like(trained.model[-1].weight))
    path = R.export(spec, trained, hist, tmp_path, command="test")
    meta = torch.load(path, weights_only=True)["meta"]
    assert meta["architecture"] == "Upscale2x" and meta["kwargs"] == {}
    assert type(load_upscaler(path).model).__name__ == "Upscale2x"


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
    assert set(meta["held_out_photos"]) == {p.stem for p in S.held_out_photos()} | {"mean"}
    again = S.whole_photo_metrics(load_upscaler(path))
    assert again == meta["held_out_photos"]
    assert meta["held_out_crops"]["PSNR-Y"] > 10


REFERENCE_FILES = sorted(R.REFERENCE_DIR.glob("*.pt"))


def test_reference_folder_stays_small():
    assert sum(p.stat().st_size for p in REFERENCE_FILES) <= 60e6


def test_every_reference_model_reproduces_its_recorded_metrics():
    """Each committed reference/<name>.pt is a spec of helpers.reference (or helpers.reference_cycle) and reproduces,
    from its half-precision weights, the whole-photo PSNR-Y it recorded (on the machine that trained it)."""
    assert {p.stem for p in REFERENCE_FILES} == set(R.SPECS) | set(C.SPECS), "a spec without its model, or the reverse"
    for path in REFERENCE_FILES:
        meta = torch.load(path, weights_only=True)["meta"]
        if path.stem in C.SPECS:  # notebook 08's real-world models, scored on real-world LR
            assert C.CycleSpec(**meta["reference"]) == C.SPECS[path.stem]
            got = C.realworld_photo_metrics(load_upscaler(path))
        else:  # the recorded spec, with today's defaults for fields added after it was trained, is the spec
            assert R.Spec(**meta["reference"]) == R.SPECS[path.stem]
            got = S.whole_photo_metrics(load_upscaler(path))
        assert meta["architecture"] == {**R.SPECS, **C.SPECS}[path.stem].model_class()
        for image, row in meta["held_out_photos"].items():
            assert got[image]["PSNR-Y"] == pytest.approx(row["PSNR-Y"], abs=0.02), (path.name, image)


def test_the_readme_tables_are_the_committed_models_meta():
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    assert R.table() in readme and C.table() in readme
    assert R.table().count("\n") == len([p for p in REFERENCE_FILES if p.stem in R.SPECS]) + 1
    assert C.table().count("\n") == len([p for p in REFERENCE_FILES if p.stem in C.SPECS]) + 1 + 2 * any(
        p.stem in C.SPECS for p in REFERENCE_FILES)  # + bicubic and the bicubic-trained start


def test_upscale_cli_loads_a_reference_model(tmp_path):
    for path in REFERENCE_FILES[:1]:
        from helpers.data import save_image
        save_image(torch.rand(3, 24, 24), tmp_path / "in.png")
        done = subprocess.run([sys.executable, "-m", "helpers.upscale", "--model", str(path),
                               str(tmp_path / "in.png"), "--out", str(tmp_path / "out")],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert list((tmp_path / "out").glob("*.png"))


def test_the_command_says_what_to_do_when_a_start_model_is_missing(monkeypatch, tmp_path, capsys):
    """A fine-tune whose init file is missing stops with a message naming the command that makes it, status 1."""
    monkeypatch.setattr(R, "REFERENCE_DIR", tmp_path)
    monkeypatch.setattr(C, "REFERENCE_DIR", tmp_path)
    monkeypatch.setattr(C.train, "__defaults__", (tmp_path, None, None, "cpu", None))
    monkeypatch.setattr(C.start, "__defaults__", (tmp_path, "cpu"))
    assert R.main(["--name", "x4_srrescycgan"]) == 1
    err = capsys.readouterr().err
    assert "x4_srrescycgan:" in err and "python -m helpers.reference --name x4_mse" in err


def test_unknown_photos_are_refused():
    with pytest.raises(ValueError, match="Unknown photos"):
        replace(TINY, photos="div2k")


def test_the_photos_spec_adds_the_package_photos_to_the_sample_set(monkeypatch, photos):
    monkeypatch.setattr(R.data, "sample_images", lambda split: {"a": photos["a"]} if split == "train" else {})
    monkeypatch.setattr(R.package_photos, "package_photos", lambda: {"b": photos["b"]})
    assert list(R.training_photos(TINY)) == ["a"]
    assert list(R.training_photos(replace(TINY, photos="sample+packages"))) == ["a", "b"]


def test_the_command_says_what_to_do_when_the_package_photos_cannot_be_fetched(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(R, "REFERENCE_DIR", tmp_path)

    def offline(spec, **kwargs):
        raise R.package_photos.PhotoFetchError("Could not fetch scipy==1.9.3; when online, run: pip download ...")
    monkeypatch.setattr(R, "train", offline)
    assert R.main(["--name", "x4_mse_photos"]) == 1
    assert "x4_mse_photos: Could not fetch scipy==1.9.3" in capsys.readouterr().err


def test_notebook_03_crosses_depth_and_photos_on_reference_specs():
    """Notebook 03's question (more photos or a bigger model?) names four specs that differ as it says."""
    import ast
    import re
    source = (PROJECT_ROOT / "notebooks" / "03_upscale_4x.py").read_text(encoding="utf-8")
    names = ast.literal_eval(re.search(r"^CONTENT_REFS = (\(.*\))$", source, re.M).group(1))
    assert names == ("x4_mse", "x4_mse_deep", "x4_mse_photos", "x4_mse_deep_photos")
    mse, deep, photos, deep_photos = (R.SPECS[n] for n in names)
    assert (deep.n_blocks, deep.steps) == (2 * mse.n_blocks, 3 * mse.steps)
    assert replace(photos, name="x4_mse", photos="sample") == mse and photos.photos == "sample+packages"
    assert replace(deep_photos, name="x4_mse_deep", photos="sample") == deep
