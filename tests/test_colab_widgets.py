"""Colab-like widget check (issue #11): every panel and upload the notebooks build works with ipywidgets 7.7.1.

Colab ships ipywidgets 7.x; the project is developed with 8.x. The first run installs ipywidgets 7.7.1 (and
ipython_genutils, which it imports) with ``pip install --target .cache/colab-ipywidgets-7.7.1 --no-deps``; every
run then starts the project's Python with that folder first on ``PYTHONPATH`` and runs
``tests/browser/colab_widgets.py``, which rebuilds each widget with the notebook's own arguments and clicks it.
The same check also runs here in-process against the installed ipywidgets 8. And the notebooks' Colab set-up
cells must leave Colab's ipywidgets alone.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))
import colab_widgets  # noqa: E402

COLAB_IPYWIDGETS = "7.7.1"
TARGET = ROOT / ".cache" / f"colab-ipywidgets-{COLAB_IPYWIDGETS}"
NOTEBOOK_SCRIPTS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
WIDGET_PACKAGES = ("ipywidgets", "widgetsnbextension", "jupyterlab_widgets", "jupyterlab-widgets")


@pytest.fixture(scope="module")
def ipywidgets7() -> Path:
    """A folder holding ipywidgets 7.7.1 alone (installed once; .cache/ is git-ignored)."""
    if not (TARGET / "ipywidgets" / "__init__.py").exists():
        tmp = TARGET.with_name(TARGET.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        cmd = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps",
               "--target", str(tmp), f"ipywidgets=={COLAB_IPYWIDGETS}", "ipython_genutils==0.2.0"]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            pytest.fail(f"could not install ipywidgets {COLAB_IPYWIDGETS} into {tmp} (needs the package registry "
                        f"once): {' '.join(cmd)}\n{done.stderr[-1500:]}")
        shutil.rmtree(TARGET, ignore_errors=True)
        tmp.rename(TARGET)
    return TARGET


@pytest.fixture(scope="module")
def colab_report(ipywidgets7) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ipywidgets7), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "browser" / "colab_widgets.py")], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"the Colab-like check crashed (exit {done.returncode}):\n"
                    f"{done.stdout[-2000:]}{done.stderr[-3000:]}")


def _failures(records: list[dict]) -> str:
    return "\n\n".join(f"{r['notebook']}:{r['line']} {r['kind']}: {r['error']}\n{r['traceback']}"
                       for r in records if not r["ok"])


def _check_report(records: list[dict], expected: dict[str, int]) -> None:
    assert records, "no widget found in notebooks/*.py: the search for LossWeightPanel/ImageUpload is broken"
    assert not _failures(records), _failures(records)
    for stem, n in expected.items():
        built = sum(r["kind"] != "ImageUpload" for r in records if r["notebook"] == stem)
        assert built == n, f"{stem} shows {n} slider panel(s) (.run(inline=True) calls) but the check built {built}"
    for r in records:
        if r["kind"] != "ImageUpload":
            # three callback calls: run(inline=True), button.click(), run(); every slider moved off its default
            assert r["clicks"] == 3 and set(r["moved"]) == set(r["sliders"]), r


def test_every_notebook_widget_works_with_colab_ipywidgets_7(colab_report):
    assert colab_report["ipywidgets"] == COLAB_IPYWIDGETS, \
        f"the check ran with ipywidgets {colab_report['ipywidgets']} from {colab_report['ipywidgets_file']}"
    assert Path(colab_report["ipywidgets_file"]).is_relative_to(TARGET)
    _check_report(colab_report["sites"], colab_report["expected_panels"])


def test_every_notebook_widget_works_with_installed_ipywidgets(capsys):
    records = [r for p in NOTEBOOK_SCRIPTS for r in colab_widgets.check(p)]
    _check_report(records, {p.stem: colab_widgets.panels_expected(p) for p in NOTEBOOK_SCRIPTS})


def test_a_widget_class_missing_from_ipywidgets_fails_the_check(monkeypatch):
    """An ipywidgets without FloatLogSlider (as if Colab's lacked it): notebook 04's second panel fails, named."""
    import types

    import ipywidgets

    import helpers.widgets

    crippled = types.SimpleNamespace(**{k: getattr(ipywidgets, k) for k in dir(ipywidgets) if k != "FloatLogSlider"})
    monkeypatch.setattr(helpers.widgets, "W", crippled)
    records = colab_widgets.check(ROOT / "notebooks" / "04_wgan_gp_upscaler.py")
    assert [r["ok"] for r in records] == [True, False]
    assert records[1]["line"] > records[0]["line"] and "FloatLogSlider" in records[1]["error"]


def test_a_widget_that_cannot_be_built_fails_the_check(tmp_path):
    script = tmp_path / "99_broken.py"
    script.write_text("import helpers\n\n"
                      "panel = helpers.LossWeightPanel({'w': helpers.Slider(1.0, 2.0)}, print, steps=2)\n"
                      "panel.run(inline=True)\n")
    (rec,) = colab_widgets.check(script)
    assert not rec["ok"] and rec["line"] == 3 and "TypeError" in rec["error"]


def _colab_cell(script: Path) -> str:
    cells = script.read_text().split("# %%")
    found = [c for c in cells if '"google.colab" in sys.modules' in c]
    assert len(found) == 1, f"{script.name}: expected one Colab set-up cell, found {len(found)}"
    return found[0]


@pytest.mark.parametrize("script", NOTEBOOK_SCRIPTS, ids=lambda p: p.stem[:2])
def test_colab_setup_cell_leaves_ipywidgets_alone(script):
    code = "\n".join(line.split("  #")[0] for line in _colab_cell(script).splitlines()
                     if not line.lstrip().startswith("#"))
    for name in WIDGET_PACKAGES:
        assert name not in code, f"{script.name}: the Colab set-up cell installs or touches {name}: {code.strip()}"
    assert " -U" not in code and "--upgrade" not in code, f"{script.name}: the Colab cell upgrades packages"


def test_installing_the_project_pulls_no_widget_package():
    """The Colab cell pip-installs the project itself: its dependencies must not bring another ipywidgets."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = project.get("dependencies", []) + [d for extra in project.get("optional-dependencies", {}).values()
                                              for d in extra]
    assert not [d for d in deps if any(d.lower().startswith(w) for w in WIDGET_PACKAGES)], deps


def test_replay_keeps_names_without_running_anything(tmp_path):
    script = tmp_path / "98_replay.py"
    script.write_text("import helpers\nprofile = None\nP = helpers.get_profile(profile)\n"
                      "n = P.pick(smoke=2, quick=30, full=200)\nmodel = build_model(n)\n"
                      "losses = {k: make_loss(k) for k in ('a', 'b')}\n")
    ns = colab_widgets.replay_namespace(script)
    assert ns["P"].name == "smoke" and ns["n"] == 2
    assert isinstance(ns["model"], colab_widgets.Opaque) and list(ns["losses"]) == ["a", "b"]
