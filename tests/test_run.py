"""helpers.run end to end on two tiny notebooks: the claims table, a broken headline claim failing the run,
and notebooks written back only when everything passed."""
import json

import nbformat
import pytest

from helpers import run

CELL = """import helpers
from helpers import claims
nb = helpers.setup("{name}", profile, run_dir)
claims.answer(nb.out, claims.compare("{claim}", "A beats B", measure="score", subject="A", values=[{a}],
                                     control="B", control_values=[{b}]))"""


def _notebook(folder, name, a, b):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell("profile = None\nrun_dir = None")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(CELL.format(name=name, claim=f"{name}_claim", a=a, b=b))]
    path = folder / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    base = tmp_path_factory.mktemp("runner")
    notebooks = base / "notebooks"
    notebooks.mkdir()
    _notebook(notebooks, "01_good", "3.0, 3.1", "1.0, 1.2")
    _notebook(notebooks, "02_broken", "1.0, 1.1", "3.0, 3.2")
    return notebooks, base / "runs"


def _main(folders, *extra):
    notebooks, out = folders
    return run.main(["--notebooks", str(notebooks), "--out", str(out), *extra])


def test_a_broken_headline_claim_fails_a_quick_run_and_nothing_is_written_back(folders, capsys):
    notebooks, out = folders
    before = (notebooks / "01_good.ipynb").read_text()
    assert _main(folders, "--profile", "quick", "--update-notebooks") == 1
    captured = capsys.readouterr()
    assert "HEADLINE CLAIM DOES NOT HOLD: 02_broken: 02_broken_claim" in captured.err
    assert "A 1.05 vs B 3.1" in captured.err
    assert "01_good_claim" in captured.out and "holds" in captured.out  # the claims table
    assert (notebooks / "01_good.ipynb").read_text() == before  # not written back: a claim broke
    summary = json.loads((out / "latest" / "summary.json").read_text())
    assert [c["verdict"] for r in summary for c in r["metrics"]["claims"]] == ["holds", "fails"]
    assert "id='claims'" in (out / "latest" / "report.html").read_text()


def test_allow_failed_claims_and_the_smoke_profile(folders, capsys):
    assert _main(folders, "--profile", "quick", "--allow-failed-claims") == 0
    assert _main(folders, "--profile", "smoke") == 0
    assert _main(folders, "--profile", "smoke", "--enforce-claims") == 1
    assert "02_broken_claim" in capsys.readouterr().err


def test_update_notebooks_writes_back_when_all_pass(folders):
    notebooks, _ = folders
    assert _main(folders, "--profile", "quick", "--only", "01", "--update-notebooks") == 0
    executed = nbformat.read(notebooks / "01_good.ipynb", as_version=4)
    assert executed.cells[1].outputs, "the executed copy was written back"


def test_a_step_cap_reaches_the_notebook_is_not_enforced_and_peak_memory_is_recorded(folders, capsys):
    notebooks, out = folders
    assert _main(folders, "--profile", "full", "--step-cap", "2") == 0  # 02's broken claim is not enforced
    captured = capsys.readouterr()
    assert "every training loop capped at 2 steps" in captured.out
    summary = json.loads((out / "latest" / "summary.json").read_text())
    assert [r["step_cap"] for r in summary] == [2, 2]
    import sys

    if sys.platform.startswith("linux"):  # the kernel's VmHWM: a Python with torch and helpers imported
        assert all(100 < r["peak_rss_mb"] < 4000 for r in summary), [r["peak_rss_mb"] for r in summary]
    executed = nbformat.read(out / "latest" / "01_good" / "01_good.ipynb", as_version=4)
    assert "profile full (every training loop capped at 2 steps)" in executed.cells[1].outputs[0]["text"]
    assert _main(folders, "--profile", "quick") == 1  # and the next run, uncapped, enforces them again


@pytest.mark.parametrize("extra", [["--step-cap", "0"], ["--step-cap", "2", "--update-notebooks"]])
def test_a_bad_step_cap_or_writing_capped_outputs_back_is_refused(folders, extra):
    with pytest.raises(SystemExit):
        _main(folders, "--profile", "full", *extra)


def test_peak_rss_reads_this_process_and_none_for_a_missing_one():
    import os
    import sys

    if sys.platform.startswith("linux"):
        assert run.peak_rss_mb(os.getpid()) > 10
    assert run.peak_rss_mb(2**22 + 12345) is None
