"""A throw-away JupyterLab server and a headless Chromium page driving it (issue #11).

:class:`LabServer` starts ``python -m jupyterlab`` on 127.0.0.1 with a random free port and a random token,
in a temporary root folder holding *copies* of the notebooks (outputs cleared, so the committed notebooks are
never touched) and a private Jupyter config/settings/runtime folder (no news, no update check, read-only
extension manager: the closed network refuses those connections anyway). It is stopped, whatever happens,
when the ``with`` block ends. :func:`chromium` starts the system Chromium (``/usr/bin/chromium``, Debian's
``chromium`` package) through Playwright's ``executable_path``: Playwright never downloads a browser here.
:class:`LabNotebook` opens one notebook, runs all its cells and finds the slider panels
(``helpers.widgets.LossWeightPanel``) in the rendered page.

Everything that can hang has a timeout and raises :class:`BrowserCheckFailed` naming the notebook (and the
panel) so the failure says where to look.
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

CHROMIUM = os.environ.get("BROWSER_CHROMIUM", "/usr/bin/chromium")
# Chromium switches: nothing may phone home from the closed network (these connections are refused and only
# slow the start down), and no GPU is needed for screenshots.
CHROMIUM_ARGS = ["--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-default-apps", "--no-first-run", "--disable-dev-shm-usage", "--disable-gpu",
                 "--disable-features=Translate,MediaRouter,OptimizationHints"]


class BrowserCheckFailed(AssertionError):
    """A step of the browser check failed or timed out; the message names the notebook and the widget."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def notebook_copy(source: Path, target_dir: Path) -> Path:
    """Write ``source`` (an ``.ipynb``, or a jupytext ``.py`` script) into ``target_dir`` as an ``.ipynb``
    without outputs, widget state or jupytext pairing (so the server never writes a paired script)."""
    import jupytext
    import nbformat

    nb = jupytext.read(source) if source.suffix == ".py" else nbformat.read(source, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    for key in ("widgets", "jupytext", "papermill"):
        nb.metadata.pop(key, None)
    target = target_dir / (source.stem + ".ipynb")
    nbformat.write(nb, target)
    return target


class LabServer:
    """``with LabServer(root, env=...) as lab:`` — a JupyterLab server for ``root``; ``lab.url(path)``.

    ``env`` is added to the server's (hence the kernels') environment, e.g. ``NB_PROFILE=smoke``. The server
    log goes to ``log_path``. On exit the server's whole process group (server and kernels) is terminated,
    then killed after 15 s.
    """

    def __init__(self, root: Path, env: dict[str, str] | None = None, log_path: Path | None = None,
                 start_timeout: float = 180.0):
        self.root, self.extra_env, self.start_timeout = Path(root), dict(env or {}), start_timeout
        self.log_path = log_path
        self.port, self.token = free_port(), secrets.token_hex(24)
        self.process: subprocess.Popen | None = None
        self._config = Path(tempfile.mkdtemp(prefix="browser-test-jupyter-"))

    def url(self, path: str = "lab") -> str:
        sep = "&" if "?" in path else "?"
        return f"http://127.0.0.1:{self.port}/{path}{sep}token={self.token}"

    def _write_config(self) -> dict[str, str]:
        dirs = {name: self._config / name for name in ("config", "data", "runtime", "settings", "workspaces")}
        for d in dirs.values():
            d.mkdir(parents=True, exist_ok=True)
        # no "Would you like to get notified about official Jupyter news?" toast, and no news fetch
        (dirs["config"] / "labconfig").mkdir(exist_ok=True)
        (dirs["config"] / "labconfig" / "page_config.json").write_text(json.dumps(
            {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
        (dirs["config"] / "jupyter_server_config.json").write_text(json.dumps({"LabApp": {"news_url": None}}))
        return {"JUPYTER_CONFIG_DIR": str(dirs["config"]), "JUPYTER_DATA_DIR": str(dirs["data"]),
                "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]), "JUPYTERLAB_SETTINGS_DIR": str(dirs["settings"]),
                "JUPYTERLAB_WORKSPACES_DIR": str(dirs["workspaces"])}

    def __enter__(self) -> LabServer:
        env = {**os.environ, **self._write_config(), **self.extra_env}
        cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
               "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
               "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: run-all and kernel status
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
               "--LabApp.extension_manager=readonly"]
        log = open(self.log_path, "w") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True)  # own process group: stop kills the kernels too
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BrowserCheckFailed(f"JupyterLab exited with code {self.process.returncode} while starting; "
                                         f"see {self.log_path}:\n{self.log_tail()}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(self.url("api/status"), timeout=2) as r:
                    if r.status == 200:
                        return
            time.sleep(0.3)
        raise BrowserCheckFailed(f"JupyterLab did not answer on port {self.port} within {self.start_timeout:.0f} s; "
                                 f"see {self.log_path}:\n{self.log_tail()}")

    def log_tail(self, n: int = 15) -> str:
        if not self.log_path or not Path(self.log_path).exists():
            return ""
        return "\n".join(Path(self.log_path).read_text(errors="replace").splitlines()[-n:])

    def stop(self) -> None:
        """Terminate the server and its kernels (process group), kill them after 15 s; idempotent."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        # kernels left in the group after a clean server exit
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
        shutil.rmtree(self._config, ignore_errors=True)

    def __exit__(self, *exc) -> None:
        self.stop()


@contextlib.contextmanager
def chromium(headless: bool = True) -> Iterator[object]:
    """The system Chromium driven by Playwright (no browser download); yields a ``Browser``."""
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise BrowserCheckFailed(f"{CHROMIUM} not found: run `make browser-test` (it installs Debian's chromium) "
                                 "or set BROWSER_CHROMIUM to a Chromium binary.")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=headless, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# --- JavaScript run in the page -------------------------------------------------------------------------------
_NOTEBOOK_READY = """() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  return !!(w && w.content && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel
            && w.sessionContext.session.kernel.status === 'idle'); }"""

# all code cells executed (or one raised, which stops run-all) and the kernel idle
_RUN_STATE = """() => { const w = window.jupyterapp.shell.currentWidget;
  const kernel = w.sessionContext.session && w.sessionContext.session.kernel;
  const cells = w.content.widgets.filter(c => c.model.type === 'code');
  let done = 0, error = null;
  cells.forEach((c, i) => {
    if (c.model.executionCount !== null) done += 1;
    const outs = c.model.outputs.toJSON();
    for (const o of outs) if (o.output_type === 'error' && !error)
      error = {cell: w.content.widgets.indexOf(c), ename: o.ename, evalue: o.evalue,
               source: c.model.sharedModel.getSource().slice(0, 300)};
  });
  return {total: cells.length, done, error, status: kernel ? kernel.status : 'none'}; }"""

# Find the LossWeightPanel views: a VBox whose last child is an Output widget, holding sliders and an HBox with a
# button. Tag them with data-bt-panel so Playwright locators can address them; describe each.
_FIND_PANELS = """() => {
  const panels = [];
  document.querySelectorAll('[data-bt-panel]').forEach(e => e.removeAttribute('data-bt-panel'));
  const root = window.jupyterapp.shell.currentWidget.content.node;  // this notebook only
  const cells = Array.from(root.querySelectorAll('.jp-Cell'));
  root.querySelectorAll('.widget-vbox').forEach(box => {
    const kids = Array.from(box.children);
    const last = kids[kids.length - 1];
    if (!last || !last.classList.contains('widget-output')) return;
    const button = box.querySelector(':scope > .widget-hbox button');
    const sliders = kids.filter(k => k.classList.contains('widget-slider'));
    if (!button || sliders.length === 0) return;
    const cell = box.closest('.jp-Cell');
    box.setAttribute('data-bt-panel', String(panels.length));
    panels.push({index: panels.length, cell: cells.indexOf(cell), button: button.textContent.trim(),
                 sliders: sliders.map(s => (s.querySelector('.widget-label') || {}).textContent || '')});
  });
  return panels; }"""


class LabNotebook:
    """One notebook open in a Chromium page of a :class:`LabServer`; ``name`` is used in every message."""

    def __init__(self, browser, lab: LabServer, path: str, name: str, load_timeout: float = 180.0):
        self.lab, self.path, self.name = lab, path, name
        self.page = browser.new_page(viewport={"width": 1400, "height": 2400}, device_scale_factor=1)
        # ?reset: a fresh workspace, so the notebooks opened before are not restored next to this one
        self.page.goto(lab.url(f"lab/tree/{path}?reset"), timeout=load_timeout * 1000)
        self.wait(_NOTEBOOK_READY, load_timeout, "JupyterLab to open it and start its kernel")

    def wait(self, js: str, timeout: float, what: str, arg=None, polling: int = 500) -> None:
        """Wait until the page function ``js`` returns something truthy, else fail naming ``what``."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            self.page.wait_for_function(js, arg=arg, timeout=timeout * 1000, polling=polling)
        except PlaywrightTimeout:
            raise BrowserCheckFailed(f"{self.name}: timed out after {timeout:.0f} s waiting for {what}") from None

    def run_all(self, timeout: float) -> float:
        """Run all cells, wait until every code cell ran and the kernel is idle; fail on the first error.
        Returns the seconds it took."""
        t0 = time.monotonic()
        self.page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        deadline = t0 + timeout
        state = {}
        while time.monotonic() < deadline:
            state = self.page.evaluate(_RUN_STATE)
            if state["error"] and state["status"] == "idle":
                e = state["error"]
                raise BrowserCheckFailed(f"{self.name}: cell {e['cell']} raised {e['ename']}: {e['evalue']}\n"
                                         f"cell source: {e['source']}")
            if state["done"] == state["total"] and state["status"] == "idle":
                return time.monotonic() - t0
            time.sleep(1.0)
        raise BrowserCheckFailed(f"{self.name}: timed out after {timeout:.0f} s running all cells "
                                 f"({state.get('done')}/{state.get('total')} code cells done, kernel "
                                 f"{state.get('status')})")

    def panels(self) -> list[dict]:
        """The slider panels now rendered, in page order: ``{index, cell, button, sliders}``."""
        return self.page.evaluate(_FIND_PANELS)

    def shutdown_kernel(self) -> None:
        with contextlib.suppress(Exception):
            self.page.evaluate("window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")

    def close(self) -> None:
        self.shutdown_kernel()
        with contextlib.suppress(Exception):
            self.page.close()
