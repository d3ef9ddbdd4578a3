import pytest
import torch

from helpers import config


def test_profile_from_argument_env_and_default(monkeypatch):
    monkeypatch.delenv("NB_PROFILE", raising=False)
    assert config.get_profile().name == "quick"
    monkeypatch.setenv("NB_PROFILE", "smoke")
    assert config.get_profile().name == "smoke"
    assert config.get_profile("full").name == "full"


def test_misspelt_profile_is_an_error(monkeypatch):
    monkeypatch.delenv("NB_PROFILE", raising=False)
    with pytest.raises(ValueError, match="smoke, quick, full"):
        config.get_profile("quik")


def test_pick_returns_the_profiles_value():
    assert [config.Profile(n).pick(1, 2, 3) for n in ("smoke", "quick", "full")] == [1, 2, 3]
    assert config.Profile("smoke").is_smoke and not config.Profile("quick").is_smoke


def test_steps_are_capped_by_nb_step_cap_and_sizes_are_not(monkeypatch):
    monkeypatch.delenv("NB_STEP_CAP", raising=False)
    assert config.get_profile("full").steps(3, 200, 3000) == 3000
    monkeypatch.setenv("NB_STEP_CAP", "2")
    full = config.get_profile("full")
    assert (full.steps(3, 200, 3000), full.steps(1, 1, 1), full.pick(48, 64, 256)) == (2, 1, 256)
    assert config.get_profile("smoke").steps(3, 200, 3000) == 2
    monkeypatch.setenv("NB_STEP_CAP", "")
    assert config.get_profile("full").steps(3, 200, 3000) == 3000


@pytest.mark.parametrize("bad", ["0", "-1", "two", "2.5"])
def test_a_bad_step_cap_is_an_error(monkeypatch, bad):
    monkeypatch.setenv("NB_STEP_CAP", bad)
    with pytest.raises(ValueError, match="whole number >= 1"):
        config.get_profile("full")


def test_seed_everything_is_reproducible():
    config.seed_everything(3)
    a = torch.rand(4)
    g = config.seed_everything(3)
    assert torch.equal(a, torch.rand(4))
    assert torch.equal(torch.rand(2, generator=g), torch.rand(2, generator=torch.Generator().manual_seed(3)))


def test_pick_device():
    assert config.pick_device("cpu") == torch.device("cpu")
    assert config.pick_device("auto").type in ("cpu", "cuda", "mps")


def test_output_dir_prefers_argument_then_env(tmp_path, monkeypatch):
    monkeypatch.setenv("NB_RUN_DIR", str(tmp_path / "env"))
    assert config.output_dir(tmp_path / "arg", "01_x") == tmp_path / "arg" / "01_x"
    assert config.output_dir(None, "01_x") == tmp_path / "env" / "01_x"
    assert (tmp_path / "env" / "01_x").is_dir()


def test_cache_dir_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv("SRGAN_CACHE", str(tmp_path / "c"))
    assert config.cache_dir() == tmp_path / "c" and (tmp_path / "c").is_dir()
