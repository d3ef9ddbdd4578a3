"""helpers.run when a notebook does not finish: a dead kernel, a cell past --timeout, Ctrl-C. Each names the
notebook, still writes summary.json and report.html, exits non-zero and writes nothing back (issue 19)."""
import json

import nbformat
import pytest

from helpers import run


def _notebook(folder, name, source):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell(source)]
    nbformat.write(nb, folder / f"{name}.ipynb")


@pytest.fixture
def folders(tmp_path):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    _notebook(notebooks, "01_ok", "print('fine')")
    _notebook(notebooks, "02_dies", "import os\nos._exit(1)")
    _notebook(notebooks, "03_sleeps", "import time\ntime.sleep(60)")
    return notebooks, tmp_path / "runs"


def _main(folders, *extra):
    notebooks, out = folders
    return run.main(["--notebooks", str(notebooks), "--out", str(out), "--profile", "smoke", *extra])


def _summary(out):
    return {r["name"]: r["status"] for r in json.loads((out / "latest" / "summary.json").read_text())}


def test_a_dead_kernel_names_the_notebook_and_still_writes_summary_and_report(folders, capsys):
    notebooks, out = folders
    before = (notebooks / "01_ok.ipynb").read_text()
    assert _main(folders, "--only", "01,02,03", "--update-notebooks") == 1
    err = capsys.readouterr().err
    assert "FAILED: 02_dies.ipynb kernel died in cell 2" in err
    summary = _summary(out)
    assert summary["01_ok"] == "ok" and summary["02_dies"].startswith("kernel died in cell 2")
    assert "03_sleeps" not in summary  # the run stopped at the failure
    assert "02_dies" in (out / "latest" / "report.html").read_text()
    assert (notebooks / "01_ok.ipynb").read_text() == before  # nothing written back


def test_a_cell_past_the_timeout_names_the_notebook_and_cell(folders, capsys):
    _, out = folders
    assert _main(folders, "--only", "03", "--timeout", "2") == 1
    err = capsys.readouterr().err
    assert "FAILED: 03_sleeps.ipynb timed out in cell 2: a cell ran longer than --timeout 2 s" in err
    assert _summary(out)["03_sleeps"].startswith("timed out in cell 2")
    assert (out / "latest" / "report.html").exists()


def test_ctrl_c_names_the_notebook_writes_the_summary_and_exits_130(folders, monkeypatch, capsys):
    notebooks, out = folders
    real_execute = run.execute

    def execute(path, *args, **kwargs):
        if path.name.startswith("03"):
            raise KeyboardInterrupt  # what Ctrl-C raises in the runner's process while papermill waits
        return real_execute(path, *args, **kwargs)

    monkeypatch.setattr(run, "execute", execute)
    before = (notebooks / "01_ok.ipynb").read_text()
    assert _main(folders, "--only", "01,03", "--update-notebooks") == 130
    assert "FAILED: 03_sleeps.ipynb interrupted (Ctrl-C)" in capsys.readouterr().err
    assert _summary(out) == {"01_ok": "ok", "03_sleeps": "interrupted (Ctrl-C)"}
    assert (out / "latest" / "report.html").exists()
    assert (notebooks / "01_ok.ipynb").read_text() == before


def test_timeout_must_not_be_negative(folders):
    with pytest.raises(SystemExit):
        _main(folders, "--timeout", "-1")
