"""Build every widget the notebooks build and drive it without a browser: the Colab-like check (issue #11).

Colab ships ipywidgets 7.x (7.7.1 when this was written), JupyterLab 4 ipywidgets 8. The notebooks use widgets
only through ``helpers.widgets`` (``LossWeightPanel``, ``ImageUpload``), so this check finds each place a
notebook builds one (``LossWeightPanel(...)``, ``<playground>.panel(...)``, ``ImageUpload(...)`` in
``notebooks/*.py``), rebuilds it **with the notebook's own arguments** and a recording callback instead of the
notebook's (which would need the trained models), then uses it the way a student does: ``panel.run(inline=True)``,
every slider moved, ``button.click()``, ``panel.run()`` into the output area, ``display(panel)``; an upload in the
format of the running ipywidgets version. Any widget API missing in the running ipywidgets fails it.

Arguments are evaluated without running the notebook: module-level assignments are replayed with every call
except ``P.pick``, ``P.steps``, ``Slider`` and a few builtins replaced by a placeholder (so ``layer_losses =
{layer: Loss(...) for layer in LAYERS}`` still gives the layer names, and nothing is trained or loaded).

Run it with ipywidgets 7 first on the path (``tests/test_colab_widgets.py`` does)::

    PYTHONPATH=.cache/colab-ipywidgets-7.7.1 python tests/browser/colab_widgets.py   # JSON report; exit 1 on failure
"""
from __future__ import annotations

import ast
import builtins
import io
import json
import math
import re
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
SAFE_CALLS = {"P.pick", "P.steps", "helpers.Slider", "Slider", "helpers.widgets.Slider", "range", "len", "min", "max",
              "int", "float", "round", "tuple", "list", "dict", "sorted", "zip", "enumerate", "str", "abs"}
WIDGETS = {"LossWeightPanel", "ImageUpload"}
PROTECTED = {"P", "profile", "helpers", "Slider", "LossWeightPanel", "ImageUpload"}


class Opaque:
    """Stands for a value that would need the notebook to run (a model, a dataset, a callback)."""

    def __repr__(self) -> str:
        return "<not evaluated>"

    def __format__(self, spec: str) -> str:
        return "…"

    def __call__(self, *args, **kwargs):
        return Opaque()


class _Namespace(dict):
    def __missing__(self, key):  # builtins, else a name the replay could not evaluate
        return getattr(builtins, key) if hasattr(builtins, key) else Opaque()


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


class _Neutralise(ast.NodeTransformer):
    """Replace every call that is not known to be harmless by ``_OPAQUE()``; ``callback`` names the argument
    that becomes the recorder (for a widget call)."""

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        name = _dotted(node.func)
        if name in SAFE_CALLS or name.split(".")[-1] in WIDGETS:
            return node
        return ast.copy_location(ast.Call(ast.Name("_OPAQUE", ast.Load()), [], []), node)


@dataclass
class Site:
    """One place a notebook builds a widget."""

    notebook: str
    line: int
    kind: str  # "LossWeightPanel" | "panel method" | "ImageUpload"
    call: ast.Call
    owner_class: str = ""  # for "panel method": the class whose .panel() builds it

    @property
    def name(self) -> str:
        return f"{self.notebook}:{self.line} {self.kind}"


def find_sites(path: Path) -> list[Site]:
    """The module-level statements of ``path`` that build a widget (calls inside function/class bodies are
    covered where they are called)."""
    tree = ast.parse(path.read_text())
    classes = {}  # variable -> class name, from `x = SomeClass(...)`
    sites: list[Site] = []
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call):
            cls = _dotted(stmt.value.func).split(".")[-1]
            for target in stmt.targets:
                if isinstance(target, ast.Name) and cls[:1].isupper():
                    classes[target.id] = cls
        for node in ast.walk(stmt):
            if not isinstance(node, ast.Call):
                continue
            func = _dotted(node.func)
            short = func.split(".")[-1]
            if short in WIDGETS:
                sites.append(Site(path.stem, node.lineno, short, node))
            elif short == "panel" and isinstance(node.func, ast.Attribute) and \
                    isinstance(node.func.value, ast.Name) and node.func.value.id in classes:
                sites.append(Site(path.stem, node.lineno, "panel method", node, classes[node.func.value.id]))
    return sites


def replay_namespace(path: Path) -> dict:
    """Module-level assignments of the notebook replayed with calls neutralised (smoke profile)."""
    import helpers
    from helpers.widgets import ImageUpload, LossWeightPanel, Slider

    ns = _Namespace(__builtins__=builtins, helpers=helpers, Slider=Slider, LossWeightPanel=LossWeightPanel,
                    ImageUpload=ImageUpload, P=helpers.get_profile("smoke"), profile="smoke", _OPAQUE=Opaque)
    for stmt in ast.parse(path.read_text()).body:
        if not isinstance(stmt, (ast.Assign, ast.AnnAssign)) or stmt.value is None:
            continue
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        if {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)} & PROTECTED:
            continue  # the parameters cell and `P = helpers.get_profile(profile)`: the smoke profile stays
        module = ast.Module([_Neutralise().visit(stmt)], type_ignores=[])
        ast.fix_missing_locations(module)
        try:
            exec(compile(module, str(path), "exec"), ns)  # noqa: S102 - only neutralised assignments
        except Exception:  # noqa: BLE001 - a name the replay cannot know stays unevaluated
            pass
    return ns


def _png(rgb=(200, 30, 30), size=(6, 4)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, rgb).save(buf, format="PNG")
    return buf.getvalue()


def _other_value(w) -> float:
    """A legal value of slider ``w`` different from its current one (its min or max end)."""
    lo, hi = (w.base ** w.min, w.base ** w.max) if hasattr(w, "base") else (w.min, w.max)
    return lo if not math.isclose(w.value, lo) else hi


def build(site: Site, ns: dict, calls: list) -> object:
    """Build the widget of ``site`` with a recorder as its callback."""
    def recorder(*args):
        calls.append(args)
        print("callback", len(calls))

    args = [ast.unparse(a) for a in site.call.args]
    kwargs = {k.arg: ast.unparse(k.value) for k in site.call.keywords if k.arg}
    if site.kind == "panel method":
        import helpers.playground

        owner = getattr(helpers.playground, site.owner_class, None)
        if owner is None:
            raise LookupError(f"{site.name}: class {site.owner_class} is not in helpers.playground; the check can only "
                              "build .panel() of a helpers class")
        values = [eval(a, ns) for a in args]  # noqa: S307 - neutralised notebook expressions
        return owner.panel(recorder, *values, **{k: eval(v, ns) for k, v in kwargs.items()})  # noqa: S307
    # the callback is the 2nd positional argument of LossWeightPanel, the 1st of ImageUpload
    position = 1 if site.kind == "LossWeightPanel" else 0
    key = "callback" if site.kind == "LossWeightPanel" else "on_image"
    if key in kwargs:
        kwargs[key] = "_RECORDER"
    elif len(args) > position:
        args[position] = "_RECORDER"
    ns = dict(ns, _RECORDER=recorder)
    source = f"{site.kind}({', '.join(args + [f'{k}={v}' for k, v in kwargs.items()])})"
    tree = ast.parse(source, mode="eval")
    tree = ast.fix_missing_locations(_Neutralise().visit(tree))
    return eval(compile(tree, site.name, "eval"), _Namespace(ns))  # noqa: S307


def exercise_panel(panel, calls: list) -> dict:
    """Use a LossWeightPanel like a student; return what was checked."""
    from IPython.display import display

    defaults = panel.values()
    panel.run(inline=True)
    assert calls[-1] == (defaults, int(panel.steps.value)), f"inline run gave {calls[-1]}"
    moved = {}
    for name, w in panel.sliders.items():
        w.value = _other_value(w)
        moved[name] = float(w.value)
    panel.steps.value = panel.steps.max
    panel.button.click()
    got_weights, got_steps = calls[-1]
    assert got_steps == panel.steps.max, f"button click passed {got_steps} steps, the slider says {panel.steps.max}"
    for name, v in moved.items():
        assert math.isclose(got_weights[name], v, rel_tol=1e-6), f"button click passed {name}={got_weights[name]}"
    n = len(calls)
    panel.run()  # into the output area: Output as a context manager
    assert len(calls) == n + 1
    display(panel)
    return {"sliders": {k: type(w).__name__ for k, w in panel.sliders.items()}, "defaults": defaults,
            "moved": moved, "button": panel.button.description, "clicks": len(calls)}


def exercise_upload(upload, calls: list) -> dict:
    """Upload a PNG in the running ipywidgets' value format; the callback must receive the decoded image."""
    import ipywidgets

    data = _png()
    if ipywidgets.__version__.startswith("7"):
        value = {"red.png": {"metadata": {"name": "red.png", "type": "image/png", "size": len(data)}, "content": data}}
    else:
        from datetime import datetime, timezone

        value = ({"name": "red.png", "type": "image/png", "size": len(data), "content": memoryview(data),
                  "last_modified": datetime.now(timezone.utc)},)
    upload.upload.set_trait("value", value)  # what the front end does; read-only in ipywidgets 7
    img, name = calls[-1]
    assert name == "red.png" and tuple(img.shape) == (3, 4, 6), f"upload gave {name}, {tuple(img.shape)}"
    return {"accept": upload.upload.accept, "description": upload.upload.description, "image": list(img.shape)}


def check(path: Path) -> list[dict]:
    """Every widget ``path`` builds, built and exercised; one record per site (``ok`` and ``error``)."""
    records = []
    ns = replay_namespace(path) if find_sites(path) else {}
    for site in find_sites(path):
        calls: list = []
        rec = {"notebook": site.notebook, "line": site.line, "kind": site.kind, "ok": False}
        try:
            widget = build(site, ns, calls)
            rec.update(exercise_upload(widget, calls) if site.kind == "ImageUpload" else exercise_panel(widget, calls))
            rec["ok"] = True
        except Exception as err:  # noqa: BLE001 - reported with the site named
            rec["error"] = f"{type(err).__name__}: {err}"
            if "Opaque" in rec["error"] or "not evaluated" in rec["error"]:
                rec["error"] += (" (this check evaluates a widget's arguments from the notebook's module-level "
                                 "constants and P.pick / P.steps(smoke=...) only; a value computed at run time "
                                 "is <not evaluated>: use a constant or P.pick / P.steps for slider ranges and "
                                 "steps)")
            rec["traceback"] = traceback.format_exc(limit=-4)
        records.append(rec)
    return records


def panels_expected(path: Path) -> int:
    """The notebook's ``.run(inline=True)`` calls: one per LossWeightPanel it shows."""
    return len(re.findall(r"\.run\(inline=True\)", path.read_text()))


def main() -> int:
    import contextlib

    import ipywidgets

    paths = [Path(p) for p in sys.argv[1:]] or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))
    with contextlib.redirect_stdout(io.StringIO()):  # callbacks print; keep stdout for the JSON
        records = [r for p in paths for r in check(p)]
    expected = {p.stem: panels_expected(p) for p in paths}
    print(json.dumps({"ipywidgets": ipywidgets.__version__, "ipywidgets_file": ipywidgets.__file__,
                      "expected_panels": expected, "sites": records}, indent=1, default=str))
    return 0 if all(r["ok"] for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())
