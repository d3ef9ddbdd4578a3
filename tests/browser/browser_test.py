"""The slider panels in a real JupyterLab, driven by headless Chromium (issue #11).

For each notebook: start JupyterLab (127.0.0.1, random port, token; ``NB_PROFILE=smoke`` and a temporary
``NB_RUN_DIR`` in its environment, so the parameters cells pick ``smoke``), open a copy of the notebook, run all
cells, then for every ``LossWeightPanel`` on the page: move its first slider one step with the keyboard (arrow
key on the focused handle), press the button, wait for the panel's output area to change, and check that it
shows new text and a new image and no traceback. Screenshots of the cell's output before and after go to the
output folder, listed in its ``index.json``. A step that fails or times out fails the check with the notebook
and the panel named.

As a script (``make browser-test`` runs every notebook that has a panel)::

    python tests/browser/browser_test.py --notebooks all            # or 01,02, or paths to .py/.ipynb files
    python tests/browser/browser_test.py --notebooks 01 --out /tmp/shots

As a pytest module (``make test`` runs notebooks 01 and 02 this way): runs only when ``BROWSER_NOTEBOOKS`` is
set (``01,02``, ``all``, paths); ``BROWSER_OUT`` sets the screenshot folder. Without it the test is skipped, so
``pytest tests`` stays fast; with it, a missing browser or package fails instead of skipping.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import signal
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lab import CHROMIUM, BrowserCheckFailed, LabNotebook, LabServer, chromium, notebook_copy  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
PANEL_CALL = re.compile(r"\.run\(inline=True\)")  # every panel is run once inline with its defaults

# seconds; a loaded 2-core CI machine is slow, these only bound a hang
RUN_ALL_TIMEOUT = float(os.environ.get("BROWSER_RUN_TIMEOUT", 900))
STEP_TIMEOUT = float(os.environ.get("BROWSER_STEP_TIMEOUT", 300))


# --- which notebooks ------------------------------------------------------------------------------------------
def expected_panels(path: Path) -> int:
    """How many slider panels a notebook builds: its ``panel.run(inline=True)`` calls."""
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text())["cells"]
        text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    else:
        text = path.read_text()
    return len(PANEL_CALL.findall(text))


def resolve(spec: str) -> list[Path]:
    """``"all"`` (every notebook with a panel), ``"01,02"`` (numbers or stems), or paths to ``.py``/``.ipynb``."""
    found: list[Path] = []
    for item in [s.strip() for s in spec.split(",") if s.strip()]:
        if item == "all":
            found += [p for p in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")) if expected_panels(p)]
        elif Path(item).suffix in (".py", ".ipynb") and Path(item).exists():
            found.append(Path(item).resolve())
        else:
            hits = sorted(NOTEBOOKS.glob(f"{item}*.ipynb"))
            if not hits:
                raise ValueError(f"no notebook matches {item!r}: give a number (01), a stem, a path, or 'all'")
            found += hits
    return list(dict.fromkeys(found))


def default_out() -> Path:
    """``runs/latest/browser`` next to the latest ``make run`` (runs/latest is its symlink), else ``runs/browser``
    (never create runs/latest as a folder: helpers.run replaces that symlink)."""
    latest = ROOT / "runs" / "latest"
    return latest / "browser" if latest.is_symlink() else ROOT / "runs" / "browser"


# --- the check of one panel -----------------------------------------------------------------------------------
_STATE = """(i) => {
  const box = document.querySelector(`[data-bt-panel="${i}"]`);
  const out = box.lastElementChild;
  const cell = box.closest('.jp-Cell');
  const srcs = el => Array.from(el.querySelectorAll('img')).map(im => im.src);
  const stderr = Array.from(out.querySelectorAll('[data-mime-type="application/vnd.jupyter.stderr"]'))
                      .map(e => e.innerText);
  const shown = Array.from(cell.querySelectorAll('.jp-OutputArea-output'))
                     .filter(e => !box.contains(e) && !e.contains(box));
  const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  const text = Array.from(out.querySelectorAll('.jp-OutputArea-output'))
                    .filter(e => e.getAttribute('data-mime-type') !== 'application/vnd.jupyter.stderr')
                    .map(e => e.innerText).join('\\n').trim();
  return {text, images: srcs(out), stderr, cell_images: srcs(cell),
          inline_text: shown.map(e => e.innerText).join('\\n').trim(), status: kernel ? kernel.status : 'none'};
}"""

_SLIDER = """(args) => {
  const [i, k] = args;
  const s = document.querySelectorAll(`[data-bt-panel="${i}"] > .widget-slider`)[k];
  const h = s.querySelector('.noUi-handle');
  return {name: (s.querySelector('.widget-label') || {}).textContent || `slider ${k}`,
          readout: (s.querySelector('.widget-readout') || {}).textContent || '',
          now: parseFloat(h.getAttribute('aria-valuenow')), max: parseFloat(h.getAttribute('aria-valuemax'))};
}"""

# the output area shows new text and a new, loaded image (or a traceback), and the kernel is idle again
_UPDATED = """(args) => {
  const [i, oldImages] = args;
  const box = document.querySelector(`[data-bt-panel="${i}"]`);
  const out = box.lastElementChild;
  const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  if (out.innerText.includes('Traceback (most recent call last)')) return true;
  const fresh = Array.from(out.querySelectorAll('img'))
                     .some(im => !oldImages.includes(im.src) && im.complete && im.naturalWidth > 0);
  return fresh && out.innerText.trim().length > 0 && kernel && kernel.status === 'idle';
}"""


# every image in the panel's cell decoded and two frames painted, so a screenshot shows whole figures
_SETTLE = """async (i) => {
  const cell = document.querySelector(`[data-bt-panel="${i}"]`).closest('.jp-Cell');
  await Promise.all(Array.from(cell.querySelectorAll('img')).map(im => im.decode().catch(() => null)));
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
}"""


def _screenshot(nb: LabNotebook, i: int, locator, path: Path) -> None:
    """The cell's outputs, scrolled to the top of the notebook and clipped from the page (an element screenshot
    beyond the notebook's scroll area leaves parts unpainted)."""
    locator.evaluate("e => e.scrollIntoView({block: 'start'})")
    nb.page.evaluate(_SETTLE, i)
    box, view = locator.bounding_box(), nb.page.viewport_size
    top = max(box["y"], 0)
    clip = {"x": max(box["x"], 0), "y": top, "width": min(box["width"], view["width"]),
            "height": max(1, min(box["y"] + box["height"], view["height"]) - top)}
    nb.page.screenshot(path=path, clip=clip, animations="disabled")


def _digest(srcs: list[str]) -> list[str]:
    return [hashlib.sha1(s.encode()).hexdigest()[:12] for s in srcs]


def _short(text: str, n: int = 400) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[:n] + " …"


def check_panel(nb: LabNotebook, panel: dict, shots: Path, stem: str, timeout: float) -> dict:
    """Move the panel's first slider one step, press its button, check the output area; return the record."""
    page, i = nb.page, panel["index"]
    where = (f"{nb.name}, panel {i + 1} ({', '.join(panel['sliders'])}; button '{panel['button']}', "
             f"cell {panel['cell']})")
    box = page.locator(f'[data-bt-panel="{i}"]')
    cell_out = box.locator("xpath=ancestor::div[contains(@class, 'jp-Cell-outputWrapper')][1]")
    rec = {"index": i, "cell": panel["cell"], "sliders": panel["sliders"], "button": panel["button"]}
    base = f"{stem}_panel{i + 1}"
    _screenshot(nb, i, cell_out, shots / f"{base}_before.png")
    rec["before"] = f"{base}_before.png"
    before = page.evaluate(_STATE, i)

    # 1. move the first slider one step with the keyboard, as a user would (focus the handle, press an arrow)
    s = page.evaluate(_SLIDER, [i, 0])
    key = "ArrowRight" if s["now"] < s["max"] else "ArrowLeft"
    box.locator(":scope > .widget-slider").nth(0).locator(".noUi-handle").focus()
    page.keyboard.press(key)
    nb.wait("(args) => { const [i, old] = args; const r = document.querySelectorAll("
            "`[data-bt-panel=\"${i}\"] > .widget-slider`)[0].querySelector('.widget-readout');"
            " return r && r.textContent !== old; }", timeout, f"slider '{s['name']}' to move ({where})",
            arg=[i, s["readout"]], polling=200)
    moved = page.evaluate(_SLIDER, [i, 0])
    rec["moved"] = {"slider": s["name"], "key": key, "from": s["readout"], "to": moved["readout"]}

    # 2. press the button and wait for the output area to change
    t0 = time.monotonic()
    box.locator(":scope > .widget-hbox button").click()
    try:
        nb.wait(_UPDATED, timeout, "the output area", arg=[i, before["cell_images"]])
    except BrowserCheckFailed as err:
        now = page.evaluate(_STATE, i)
        raise BrowserCheckFailed(f"{nb.name}: timed out after {timeout:.0f} s waiting for the output area of "
                                 f"{where} to show new text and a new image after pressing '{panel['button']}'; "
                                 f"output area now: {_short(now['text'] + ' ' + ' '.join(now['stderr'])) or 'empty'}"
                                 ) from err
    rec["seconds"] = round(time.monotonic() - t0, 1)
    with contextlib.suppress(BrowserCheckFailed):  # let the last drawing settle before the screenshot
        nb.wait("(i) => { const k = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;"
                " return k && k.status === 'idle'; }", 30, "the kernel to be idle", arg=i)
    after = page.evaluate(_STATE, i)
    _screenshot(nb, i, cell_out, shots / f"{base}_after.png")
    rec["after"] = f"{base}_after.png"
    rec.update(text_before=before["text"] or before["inline_text"], text_after=after["text"],
               images_before=_digest(before["cell_images"]), images_after=_digest(after["images"]))

    # 3. the checks
    trace = [t for t in after["stderr"] if "Traceback (most recent call last)" in t]
    if trace or "Traceback (most recent call last)" in after["text"]:
        raise BrowserCheckFailed(f"{where}: pressing '{panel['button']}' raised in the callback:\n"
                                 + "\n".join((trace or [after["text"]])[0].splitlines()[-12:]))
    if not after["text"]:
        raise BrowserCheckFailed(f"{where}: the output area shows no metrics text after pressing '{panel['button']}'")
    if after["text"] == before["text"]:
        raise BrowserCheckFailed(f"{where}: the metrics text did not change after pressing '{panel['button']}': "
                                 f"{_short(after['text'])}")
    new_images = [d for d in rec["images_after"] if d not in rec["images_before"]]
    if not new_images:
        raise BrowserCheckFailed(f"{where}: no new image was drawn after pressing '{panel['button']}'")
    rec["text_differs_from_inline_run"] = after["text"] != before["inline_text"]
    return rec


# --- one notebook ---------------------------------------------------------------------------------------------
class Session:
    """One JupyterLab server and one Chromium for several notebooks; writes screenshots and ``index.json``."""

    def __init__(self, out: Path, profile: str = "smoke"):
        self.out, self.profile = Path(out), profile
        self.out.mkdir(parents=True, exist_ok=True)
        self.index = {"profile": profile, "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                      "chromium": CHROMIUM, "server_log": "jupyterlab.log", "notebooks": []}
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> Session:
        try:
            self.root = Path(self._stack.enter_context(tempfile.TemporaryDirectory(prefix="browser-test-lab-")))
            env = {"NB_PROFILE": self.profile, "NB_RUN_DIR": str(self.root / "_runs")}
            self.lab = self._stack.enter_context(LabServer(self.root, env=env, log_path=self.out / "jupyterlab.log"))
            self.browser = self._stack.enter_context(chromium())
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()  # Chromium first, then the server (and its kernels), then the folder

    def write_index(self) -> None:
        (self.out / "index.json").write_text(json.dumps(self.index, indent=1, ensure_ascii=False))

    def check_notebook(self, source: Path, log=print) -> dict:
        """Open a copy of ``source``, run all cells, check every panel. Raises :class:`BrowserCheckFailed`."""
        stem = source.stem
        expected = expected_panels(source)
        entry = {"notebook": stem, "source": str(source), "expected_panels": expected, "panels": [], "ok": False}
        self.index["notebooks"].append(entry)
        copy = notebook_copy(source, self.root)
        nb, t0 = None, time.monotonic()
        try:
            nb = LabNotebook(self.browser, self.lab, copy.name, name=f"notebook {stem}")
            log(f"[{stem}] open in JupyterLab ({time.monotonic() - t0:.0f} s); running all cells …")
            entry["seconds_run_all"] = round(nb.run_all(RUN_ALL_TIMEOUT), 1)
            log(f"[{stem}] all cells ran in {entry['seconds_run_all']:.0f} s")
            panels = nb.panels()
            if len(panels) < max(expected, 1):
                raise BrowserCheckFailed(f"notebook {stem}: the page shows {len(panels)} slider panel(s), the notebook "
                                         f"builds {expected} (its `.run(inline=True)` calls)")
            for panel in panels:
                try:
                    rec = check_panel(nb, panel, self.out, stem, STEP_TIMEOUT)
                except BrowserCheckFailed:
                    with contextlib.suppress(Exception):
                        nb.page.locator(f'[data-bt-panel="{panel["index"]}"]').screenshot(
                            path=self.out / f"{stem}_panel{panel['index'] + 1}_failed.png")
                        entry["panels"].append({**panel, "failed": f"{stem}_panel{panel['index'] + 1}_failed.png"})
                    raise
                entry["panels"].append(rec)
                log(f"[{stem}] panel {panel['index'] + 1} ({', '.join(panel['sliders'])}): "
                    f"{rec['moved']['slider']} {rec['moved']['from']} → {rec['moved']['to']}, "
                    f"'{panel['button']}' redrew in {rec['seconds']:.0f} s: {_short(rec['text_after'], 160)}"
                    + ("" if rec["text_differs_from_inline_run"] else " (same text as the inline run; new image)"))
            entry["ok"] = True
            return entry
        except BrowserCheckFailed as err:
            entry["error"] = str(err)
            raise
        finally:
            entry["seconds"] = round(time.monotonic() - t0, 1)
            if nb is not None:
                nb.close()
            self.write_index()


# --- pytest ---------------------------------------------------------------------------------------------------
def _requested() -> list[Path]:
    spec = os.environ.get("BROWSER_NOTEBOOKS", "")
    return resolve(spec) if spec else []


def _missing() -> str | None:
    import importlib.util

    for module, what in (("playwright", "playwright"), ("jupyterlab", "jupyterlab")):
        if importlib.util.find_spec(module) is None:
            return f"{what} is not installed (pip install -r requirements-browser.txt, or make browser-test)"
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing (apt-get install -y chromium, or make browser-test)"
    return None


try:
    import pytest
except ImportError:  # script use needs no pytest
    pytest = None

if pytest is not None:
    @pytest.fixture(scope="module")
    def browser_session():
        missing = _missing()
        if missing:
            pytest.fail(f"BROWSER_NOTEBOOKS is set but {missing}")
        out = Path(os.environ.get("BROWSER_OUT") or default_out())
        with Session(out) as session:
            yield session

    @pytest.mark.parametrize("source", _requested() or [None], ids=lambda p: p.stem if p else "not-requested")
    def test_slider_panels_in_jupyterlab(source, request):
        if source is None:
            pytest.skip("browser test not requested: set BROWSER_NOTEBOOKS=01,02 (or all), or run make browser-test")
        session = request.getfixturevalue("browser_session")
        entry = session.check_notebook(source, log=lambda msg: None)
        assert entry["ok"] and len(entry["panels"]) >= max(entry["expected_panels"], 1)


# --- script ---------------------------------------------------------------------------------------------------
def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--notebooks", default="all", help="'all' (every notebook with a panel), '01,02', or paths")
    ap.add_argument("--out", type=Path, default=None, help="screenshots and index.json (default runs/latest/browser)")
    ap.add_argument("--profile", default="smoke", choices=["smoke", "quick", "full"])
    args = ap.parse_args(argv)
    missing = _missing()
    if missing:
        print(f"browser test: {missing}", file=sys.stderr)
        return 2
    try:
        sources = resolve(args.notebooks)
    except ValueError as err:
        print(f"browser test: {err}", file=sys.stderr)
        return 2
    out = args.out or default_out()
    # SIGTERM (a CI timeout) must still stop the server: turn it into an exception that unwinds the with-blocks
    signal.signal(signal.SIGTERM, _interrupt)
    t0 = time.monotonic()
    failures = []
    with Session(out, args.profile) as session:
        print(f"JupyterLab on 127.0.0.1:{session.lab.port}, profile {args.profile}, screenshots in {out}")
        for source in sources:
            try:
                session.check_notebook(source)
            except BrowserCheckFailed as err:
                failures.append(str(err))
                print(f"FAILED {err}", file=sys.stderr)
    print(f"{len(sources) - len(failures)}/{len(sources)} notebooks passed in {time.monotonic() - t0:.0f} s; "
          f"screenshots listed in {out / 'index.json'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
