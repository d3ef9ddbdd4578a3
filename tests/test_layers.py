"""The layering that helpers/__init__.py and the README state is the one the imports have; the command-line
inference path stays light."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

import helpers

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "helpers"


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE).with_suffix("")
    return ".".join(rel.parts)


def _layer_of(module: str) -> int:
    """Index in helpers.LAYERS of a module ("models.registry" belongs to "models")."""
    top = module.split(".")[0]
    for i, layer in enumerate(helpers.LAYERS):
        if top in layer:
            return i
    raise AssertionError(f"helpers.{module} is in no layer of helpers.LAYERS: add it there and to the README")


def _imports(path: Path) -> set[str]:
    """Package modules imported anywhere in the file (function-level imports included), as names under helpers."""
    module = _module_name(path)
    package = module.split(".")[:-1] if path.name != "__init__.py" else module.split(".")
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
                names = [target] if node.module else [f"{'.'.join(base)}.{a.name}".lstrip(".") for a in node.names]
            elif node.module and node.module.startswith("helpers"):
                target = node.module[len("helpers."):] if node.module != "helpers" else ""
                names = [target] if target else [a.name for a in node.names]
            else:
                continue
            found.update(n for n in names if n)
        elif isinstance(node, ast.Import):
            found.update(a.name[len("helpers."):] for a in node.names if a.name.startswith("helpers."))
    return found


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py")


def test_every_module_has_a_layer():
    for path in MODULES:
        _layer_of(_module_name(path))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _module_name(p))
def test_imports_run_one_way(path):
    module = _module_name(path)
    mine = _layer_of(module)
    for target in _imports(path):
        if target.split(".")[0] == module.split(".")[0] == "models":
            continue  # inside the models package: checked by test_models_have_no_cycle
        assert _layer_of(target) < mine, (f"helpers.{module} (layer {mine}) imports helpers.{target} "
                                          f"(layer {_layer_of(target)}): imports must run to earlier layers")


def test_models_have_no_cycle():
    graph = {_module_name(p): {t for t in _imports(p) if t.startswith("models.")}
             for p in (PACKAGE / "models").glob("*.py") if p.name != "__init__.py"}
    assert not any("models.registry" in deps for name, deps in graph.items() if name != "models.registry"), \
        "a model module imports the registry back"

    def visit(node, path):
        assert node not in path, f"import cycle in helpers.models: {' -> '.join([*path, node])}"
        for nxt in graph.get(node, ()):
            visit(nxt, [*path, node])
    for name in graph:
        visit(name, [])


def test_the_readme_states_the_same_layers():
    arrows = " -> ".join(", ".join(layer) for layer in helpers.LAYERS)
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert arrows in readme, f"README.md must state the layers as: {arrows}"
    assert arrows in " ".join(helpers.__doc__.split()), "helpers/__init__.py's docstring must state the same layers"


def test_the_upscale_command_imports_neither_widgets_nor_plotting():
    code = ("import sys, runpy; sys.argv = ['helpers.upscale', '--help']\n"
            "try:\n    runpy.run_module('helpers.upscale', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'matplotlib', 'ipywidgets', 'IPython'})\n"
            "print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert "HEAVY []" in out, out[-400:]
    assert "--model" in out
