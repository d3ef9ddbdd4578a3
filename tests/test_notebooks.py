"""The notebooks as files: paired scripts in sync, papermill parameters, and notebook code that has a
twin in helpers kept identical to it (the d2l ``#@save`` idea, checked instead of generated)."""
import importlib
import inspect
import re
import textwrap
from pathlib import Path

import jupytext
import nbformat
import papermill
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))
TWIN = re.compile(r"^# twin: (?P<module>[\w.]+)\.(?P<name>\w+)\s*$", re.M)


def _without_versions(text: str) -> str:
    """Drop the header lines that record jupytext's own version (they change with an upgrade, not the content)."""
    return re.sub(r"^#\s+(format_version|jupytext_version): .*\n", "", text, flags=re.M)


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_paired_script_is_in_sync(path):
    script = path.with_suffix(".py")
    assert script.exists(), f"{path.name} has no paired {script.name}: run `make sync`"
    expected = jupytext.writes(jupytext.read(path), fmt="py:percent")
    assert _without_versions(expected) == _without_versions(script.read_text()), \
        f"{path.name} and {script.name} differ: run `make sync`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell_and_kernel(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata.kernelspec.name == "python3"
    params = papermill.inspect_notebook(str(path))
    assert {"profile", "run_dir"} <= set(params), f"{path.name}: parameters cell lacks profile / run_dir"
    assert params["profile"]["default"] == "None"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebook_was_executed(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), f"{path.name}: commit it executed (make notebooks)"
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{path.name} was committed with an error output"
    assert any(o.get("data", {}).get(kind) for c in code for o in c.outputs for kind in ("image/png", "image/jpeg")), \
        f"{path.name} shows no figure"


def _twin_cells():
    for path in NOTEBOOKS:
        for cell in nbformat.read(path, as_version=4).cells:
            match = TWIN.search(cell.source) if cell.cell_type == "code" else None
            if match:
                yield pytest.param(path, cell.source, match["module"], match["name"], id=f"{path.stem}:{match['name']}")


@pytest.mark.parametrize("path,source,module,name", list(_twin_cells()))
def test_notebook_definition_equals_its_helpers_twin(path, source, module, name):
    obj = getattr(importlib.import_module(module), name)
    helper = textwrap.dedent(inspect.getsource(obj)).strip()
    start = re.search(rf"^(class|def) {name}\b", source, re.M)
    assert start, f"{path.name}: the twin cell does not define {name}"
    cell = source[start.start():].strip()
    assert cell == helper, f"{path.name}: {name} differs from {module}.{name}; change both"
