"""helpers.reference_cycle: notebook 08's SRResCycGAN at length, its settings, resuming, its control and export."""
import ast
import re
from dataclasses import replace

import pytest
import torch

from helpers import reference as R
from helpers import reference_cycle as C
from helpers import reference_store as S
from helpers.config import PROJECT_ROOT
from helpers.data import load_image
from helpers.inference import load_upscaler
from helpers.results import History
from helpers.upscale import evaluate_images

NOTEBOOK = (PROJECT_ROOT / "notebooks" / "08_srrescycgan.py").read_text(encoding="utf-8")
TINY = C.CycleSpec("tiny", steps=4, dsgan_steps=2, pretrain_steps=2, crop=64, batch=2, channels=4, n_blocks=1,
                   ndf=4, init="base", chunk=2)


def _literal(pattern: str):
    """The Python literal that ``pattern``'s group 1 captures in notebook 08."""
    return ast.literal_eval(re.search(pattern, NOTEBOOK).group(1))


def test_the_settings_are_notebook_08s():
    assert _literal(r"names_lr, names_hr = (\[.*?\], \[.*?\])\n") == (list(C.NAMES_LR), list(C.NAMES_HR))
    assert f"for n in names_lr for _ in range({C.DRAWS})]" in NOTEBOOK
    assert _literal(r"GUESS_RANGES = (\{.*?\})") == C.GUESS_RANGES
    assert _literal(r"default_weights = (\{.*?\})\n") == C.WEIGHTS
    assert _literal(r"LAMBDA_LOW, CONTROL_LOW = (\S+), ") == C.LAMBDA_LOW
    assert f"realworld_degrade(val_hr, SCALE, torch.Generator().manual_seed({C.VAL_SEED}))" in NOTEBOOK
    assert f"val_crop = P.pick(smoke=96, quick={C.VAL_CROP}," in NOTEBOOK


def test_the_control_drops_the_unpaired_terms_only():
    assert C.SPECS["x4_srrescycgan"].weights() == {**C.WEIGHTS, "λ_adv": 1e-3}  # the one change: SRGAN's weight
    control = C.SPECS["x4_srrescycgan_supervised"]
    assert control.weights() == {**C.WEIGHTS, "λ_adv": 0.0, "λ_cyc": 0.0, "λ_id": 0.0}
    assert replace(control, name="x4_srrescycgan", trainer="cycle", adv=1e-3) == C.SPECS["x4_srrescycgan"]
    assert control.start_meta() == C.SPECS["x4_srrescycgan"].start_meta()


def test_an_unknown_trainer_is_refused():
    with pytest.raises(ValueError, match="cycle, supervised"):
        C.CycleSpec("x", trainer="gan")


@pytest.fixture(scope="module")
def photos():
    g = torch.Generator().manual_seed(3)
    return {n: torch.rand(3, 80, 88, generator=g) for n in (*C.NAMES_LR, *C.NAMES_HR)}


@pytest.fixture()
def root(tmp_path, photos):
    """A folder with a tiny bicubic-trained 4x model ``base.pt``, the start of TINY."""
    base = R.Spec("base", scale=4, steps=2, crop=32, batch=2, channels=4, n_blocks=1, chunk=2)
    model, hist, _ = R.train(base, tmp_path, images=photos)
    R.export(base, model, hist, tmp_path, command="test")
    return tmp_path


def test_the_domains_share_no_photo_and_the_lr_domain_is_degraded(photos):
    lr, hr = C.domains(photos, 0)
    assert len(lr) == len(C.NAMES_LR) * C.DRAWS and len(hr) == len(C.NAMES_HR)
    assert lr[0].shape == (3, 20, 22) and torch.equal(hr[0], photos[C.NAMES_HR[0]])
    assert not torch.equal(lr[0], lr[1])  # four independent draws of one photo
    again, _ = C.domains(photos, 0)
    assert all(torch.equal(a, b) for a, b in zip(lr, again))


def test_g_hr_starts_as_the_init_model(root):
    g_hr, init = C.build_g_hr(TINY, root), load_upscaler(root / "base.pt")
    x = torch.rand(1, 3, 8, 8)
    assert torch.allclose(g_hr(x), init.model.float()(x), atol=1e-6)
    with pytest.raises(FileNotFoundError, match="train it first"):
        C.build_g_hr(replace(TINY, init="missing"), root)


def test_the_start_is_trained_once_and_shared(root, photos, monkeypatch):
    g_hr, g_lr = C.start(TINY, photos, root)
    assert not torch.equal(g_lr.tail.weight, torch.zeros_like(g_lr.tail.weight))  # G_LR left bicubic
    assert not torch.allclose(g_hr.decoder[1].weight, torch.zeros(1))  # the pre-training moved the refinement
    monkeypatch.setattr(C, "degradation_gan_step", lambda *a, **k: pytest.fail("the start was trained again"))
    g_hr2, g_lr2 = C.start(replace(TINY, name="other", trainer="supervised"), photos, root)
    for a, b in ((g_hr, g_hr2), (g_lr, g_lr2)):
        assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_an_interrupted_cycle_run_resumes_to_the_same_weights(root, photos):
    straight, hist, done, _ = C.train(TINY, root, images=photos)
    assert done and hist.last("step") == 4 and hist.series("cycle")[1][-1] > 0
    other = root / "b"
    other.mkdir()
    (other / "base.pt").write_bytes((root / "base.pt").read_bytes())
    _, part, done, _ = C.train(TINY, other, max_chunks=1, images=photos)
    assert not done and part.last("step") == 2
    resumed, hist_b, done, _ = C.train(TINY, other, images=photos)
    assert done and hist_b.series("loss") == hist.series("loss")
    for (k, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), k


def test_the_control_never_steps_the_discriminators(root, photos):
    control = replace(TINY, name="control", trainer="supervised")
    C.train(control, root, images=photos)
    saved = torch.load(root / ".state" / "control.pt", weights_only=True)
    assert not saved["state"]["opt_d"]["state"], "the control's discriminators were trained"
    assert saved["state"]["opt_g"]["state"]
    history = History(saved["history"])
    assert history.series("cycle")[1] == [0.0, 0.0] and history.series("adversarial")[1] == [0.0, 0.0]


def test_realworld_lr_is_seeded_and_a_quarter_of_the_photo(tmp_path):
    photos = S.held_out_photos()
    a = C.realworld_lr_dir(tmp_path / "a", photos)
    b = C.realworld_lr_dir(tmp_path / "b", photos)
    c = C.realworld_lr_dir(tmp_path / "c", photos, seed=1)
    for path in photos:
        hr, lr = load_image(path), load_image(a / f"{path.stem}.png")
        assert lr.shape[-2:] == (hr.shape[-2] // 4, hr.shape[-1] // 4)
        assert torch.equal(lr, load_image(b / f"{path.stem}.png"))
        assert not torch.equal(lr, load_image(c / f"{path.stem}.png"))


def test_export_records_real_world_metrics_with_their_baselines(root, photos, tmp_path):
    model, hist, _, source = C.train(TINY, root, images=photos)
    path = C.export(TINY, model, hist, source, root, command="test")
    saved = torch.load(path, weights_only=True)
    meta = saved["meta"]
    assert all(v.dtype == torch.float16 for v in saved["state"]["model"].values() if v.is_floating_point())
    assert meta["architecture"] == "SRResDNet" and meta["reference"]["trainer"] == "cycle"
    assert meta["kwargs"] == {"scale": 4, "upscale_kwargs": {"channels": 4, "n_blocks": 1}, "channels": 4,
                              "n_blocks": 1}
    assert set(meta["baselines"]) == {"bicubic", "base"} and "seed 2020" in meta["held_out_lr"]
    assert meta["loss_weights"] == {**C.WEIGHTS, "λ_adv": TINY.adv}
    assert set(meta["held_out_photos"]) == {p.stem for p in S.held_out_photos()} | {"mean"}
    assert C.realworld_photo_metrics(load_upscaler(path)) == meta["held_out_photos"]
    rows = evaluate_images([], S.held_out_photos(), lr_dir=C.realworld_lr_dir(tmp_path / "lr"), scale=4)
    assert meta["baselines"]["bicubic"] == S.photo_rows(rows, "bicubic")["mean"]  # bicubic on the real-world LR
    assert meta["held_out_crops"]["PSNR-Y"] > 10


def test_the_table_lists_bicubic_and_the_start_before_the_models(root, photos, monkeypatch):
    model, hist, _, source = C.train(TINY, root, images=photos)
    meta = torch.load(C.export(TINY, model, hist, source, root, command="test"), weights_only=True)["meta"]
    monkeypatch.setattr(C, "SPECS", {"tiny": TINY, "absent": replace(TINY, name="absent")})
    lines = C.table(root).splitlines()
    assert len(lines) == 5 and [line.split(" | ")[0] for line in lines[2:]] == ["| bicubic", "| `base`", "| `tiny`"]
    assert lines[4].startswith("| `tiny` | cycle | 4 | cpu (")
    assert lines[4].endswith(f"| {meta['held_out_photos']['mean']['PSNR-Y']:.2f} | "
                             f"{meta['held_out_photos']['mean']['SSIM-Y']:.2f} | "
                             f"{meta['held_out_photos']['mean']['SWD']:.1f} | "
                             f"{meta['held_out_photos']['mean']['HF ratio']:.2f} |")
    assert f"| {meta['baselines']['bicubic']['PSNR-Y']:.2f} |" in lines[2]
