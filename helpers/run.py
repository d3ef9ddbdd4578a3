"""The batch run behind ``make run``: execute every notebook with papermill, collect metrics, write a report.

    python -m helpers.run [--profile quick] [--only 01,02] [--out runs] [--update-notebooks]
                          [--allow-failed-claims] [--enforce-claims] [--timeout SECONDS]

Each notebook runs in ``notebooks/`` with ``NB_PROFILE`` and ``NB_RUN_DIR`` set in its environment (its
parameters cell reads them), so the executed copy has no injected cell. Results land in
``runs/<timestamp>/<notebook>/`` (executed notebook, figures, ``metrics.json``), with ``runs/latest``
pointing at the newest run, ``summary.json`` and ``report.html``. A failing notebook stops the run with the
notebook, cell and error named, and a non-zero exit status; so do a dead kernel (out of memory, a crash), a cell
running longer than ``--timeout`` seconds and Ctrl-C (exit status 130), and the summary and the report are
still written. The run ends with the table of every claim of the
series; under ``quick`` and ``full`` a headline claim that does not hold fails the run, naming the notebook, the
claim and its values (``--allow-failed-claims`` runs on regardless; ``--enforce-claims`` enforces them under
``smoke`` too, where too few steps break most lessons: a way to see the check fail). ``--update-notebooks`` copies
the executed notebooks back over ``notebooks/`` (how the committed outputs are made), only when all passed.

``--step-cap N`` (``make full-check``: ``--profile full --step-cap 2``) caps every training loop at ``N`` steps
(``$NB_STEP_CAP``, read by :meth:`helpers.config.Profile.steps`) while shapes, widths and crops stay the profile's:
a CPU check that the ``full`` configuration builds and runs, before a GPU hour is spent on it. Claims are not
enforced then (no lesson holds after two steps) and ``--update-notebooks`` is refused. Every notebook's peak
memory (the kernel's peak resident set, Linux) is recorded in the summary and printed.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from .config import PROFILE_NAMES, PROJECT_ROOT
from .report import broken_headlines, build_report, claim_rows, claims_text
from .results import read_metrics

NOTEBOOKS = PROJECT_ROOT / "notebooks"
#: Default ``--timeout``: seconds one cell may run. Generous: a ``full`` training cell on a GPU takes long.
DEFAULT_CELL_TIMEOUT_S = 7200


def find_notebooks(only: list[str] | None = None, folder: Path = NOTEBOOKS) -> list[Path]:
    """``NN_topic.ipynb`` files in order; ``only`` keeps those whose ``NN`` prefix is listed."""
    found = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if only:
        unknown = set(only) - {p.name[:2] for p in found}
        if unknown:
            raise SystemExit(f"No notebook numbered {', '.join(sorted(unknown))} in {folder}.")
        found = [p for p in found if p.name[:2] in only]
    return found


def strip_run_metadata(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Remove papermill's and the kernel's per-run metadata (timings, paths) from an executed notebook."""
    nb.metadata.pop("papermill", None)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    return nb


def peak_rss_mb(pid: int) -> float | None:
    """A running process's peak resident set (``VmHWM``) in MiB, or ``None`` where ``/proc`` does not tell it."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    kb = next((line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")), None)
    return None if kb is None else int(kb) / 1024


def _ipc_kernel_manager(peaks: list[float | None]):
    """A kernel manager on local IPC sockets instead of TCP (no "running over TCP without encryption" warning),
    which appends the kernel's peak memory (:func:`peak_rss_mb`) to ``peaks`` just before shutting it down.

    Each kernel's sockets live in a fresh temporary folder (jupyter's default is ``kernel-ipc-N`` files in the
    working folder, which two runs at once would share: a kernel then answers the other run, "Invalid Signature").
    """
    from jupyter_client.manager import AsyncKernelManager

    class IPCKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.transport = "ipc"
            self.ip = str(Path(tempfile.mkdtemp(prefix="srgan-kernel-")) / "kernel-ipc")

        async def shutdown_kernel(self, now: bool = False, restart: bool = False) -> None:
            pid = getattr(self.provisioner, "pid", None)
            peaks.append(None if pid is None else peak_rss_mb(pid))
            await super().shutdown_kernel(now=now, restart=restart)

    return IPCKernelManager


def execute(path: Path, out_dir: Path, profile: str, timeout: float | None = None,
            step_cap: int | None = None) -> tuple[Path, float, float | None]:
    """Run one notebook with papermill, each cell limited to ``timeout`` seconds (``None``: no limit), every
    training loop to ``step_cap`` steps (``None``: the profile's); return the executed copy's path, the seconds
    it took and the kernel's peak memory in MiB (``None`` where it could not be read)."""
    import papermill

    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / path.name
    env = {"NB_PROFILE": profile, "NB_RUN_DIR": str(out_dir.parent), "SRGAN_BATCH": "1",
           "NB_STEP_CAP": "" if step_cap is None else str(step_cap)}
    peaks: list[float | None] = []
    manager = _ipc_kernel_manager(peaks)
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    start = time.perf_counter()
    try:
        papermill.execute_notebook(str(path), str(target), cwd=str(path.parent), kernel_name="python3",
                                   progress_bar=False, log_output=False, kernel_manager_class=manager,
                                   execution_timeout=timeout)
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    seconds = time.perf_counter() - start
    nb = strip_run_metadata(nbformat.read(target, as_version=4))
    nbformat.write(nb, target)
    return target, seconds, (peaks or [None])[-1]


def _running_cell(executed: Path) -> str:
    """`` in cell N`` for the last cell papermill started in the executed copy, counted among the code cells
    from 1 (the execution count a cell that raised is named by), or ``""`` when there is none."""
    try:
        cells = [c for c in nbformat.read(executed, as_version=4).cells if c.cell_type == "code"]
    except (OSError, ValueError):  # not written yet
        return ""
    started = [n for n, c in enumerate(cells, start=1) if c.metadata.get("papermill", {}).get("start_time")]
    return f" in cell {started[-1]}" if started else ""


def failure_status(err: BaseException, executed: Path, timeout: float | None) -> str:
    """The ``status`` of a notebook that did not finish: which cell, and what happened in words."""
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    if isinstance(err, PapermillExecutionError):
        return f"failed in cell {err.exec_count or err.cell_index}: {err.ename}: {err.evalue}"
    if isinstance(err, CellTimeoutError):
        return (f"timed out{_running_cell(executed)}: a cell ran longer than --timeout {timeout:g} s (raise it for "
                "a longer profile)")
    if isinstance(err, DeadKernelError):
        return (f"kernel died{_running_cell(executed)} ({err}): out of memory, a crash in native code or an "
                "exit from the notebook")
    return f"interrupted{_running_cell(executed)} (Ctrl-C)"


def _link_latest(run_dir: Path) -> None:
    latest = run_dir.parent / "latest"
    if latest.is_symlink() or latest.exists():
        latest.unlink()
    latest.symlink_to(run_dir.name, target_is_directory=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="quick", choices=PROFILE_NAMES)
    parser.add_argument("--only", default="", help="comma-separated notebook numbers, e.g. 01,03")
    parser.add_argument("--out", default=str(PROJECT_ROOT / "runs"))
    parser.add_argument("--notebooks", default=str(NOTEBOOKS), help="folder of NN_topic.ipynb notebooks")
    parser.add_argument("--update-notebooks", action="store_true",
                        help="copy the executed notebooks back into notebooks/ (the committed outputs), only when "
                             "every notebook ran and every headline claim holds")
    parser.add_argument("--allow-failed-claims", action="store_true",
                        help="report headline claims that do not hold, but exit 0 (a teacher running on regardless)")
    parser.add_argument("--enforce-claims", action="store_true",
                        help="enforce headline claims under the smoke profile too (they are enforced for quick "
                             "and full); e.g. to see a broken lesson fail the run")
    parser.add_argument("--timeout", type=float, default=DEFAULT_CELL_TIMEOUT_S,
                        help=f"seconds one cell may run before the run stops naming it (default "
                             f"{DEFAULT_CELL_TIMEOUT_S}; 0: no limit)")
    parser.add_argument("--step-cap", type=int, default=None, metavar="N",
                        help="cap every training loop at N steps, shapes unchanged (with --profile full: the CPU "
                             "check that the full configuration runs); claims are not enforced then")
    args = parser.parse_args(argv)
    if args.timeout < 0:
        parser.error("--timeout must be >= 0 (0: no limit).")
    if args.step_cap is not None and args.step_cap < 1:
        parser.error("--step-cap must be >= 1.")
    if args.step_cap is not None and args.update_notebooks:
        parser.error("--update-notebooks with --step-cap would commit outputs of capped runs: drop one of them.")

    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError
    from tqdm.auto import tqdm

    notebooks = find_notebooks([s.strip() for s in args.only.split(",") if s.strip()] or None, Path(args.notebooks))
    run_dir = Path(args.out) / time.strftime("%Y%m%d-%H%M%S")
    run_dir.mkdir(parents=True, exist_ok=True)
    _link_latest(run_dir)
    results, failed, interrupted, executed_copies = [], None, False, []
    bar = tqdm(notebooks, desc=f"notebooks ({args.profile})", unit="nb")
    for path in bar:
        bar.set_postfix_str(path.stem)
        out = run_dir / path.stem
        start, peak = time.perf_counter(), None
        try:
            executed, seconds, peak = execute(path, out, args.profile, args.timeout or None, args.step_cap)
            status = "ok"
        except (PapermillExecutionError, CellTimeoutError, DeadKernelError, KeyboardInterrupt) as err:
            seconds = time.perf_counter() - start
            status = failure_status(err, out / path.name, args.timeout)
            failed, interrupted = (path.name, status), isinstance(err, KeyboardInterrupt)
        results.append({"name": path.stem, "seconds": seconds, "status": status, "peak_rss_mb": peak,
                        "step_cap": args.step_cap, "metrics": read_metrics(out)})
        if failed:
            break
        executed_copies.append((executed, path))
    bar.close()

    (run_dir / "summary.json").write_text(json.dumps(results, indent=2))
    report = build_report(run_dir, results)
    width = max(len(r["name"]) for r in results) if results else 10
    cap = "" if args.step_cap is None else f", every training loop capped at {args.step_cap} steps"
    print(f"\nRun {run_dir} (profile {args.profile}{cap})")
    for r in results:
        vgg = r["metrics"].get("vgg_weights", "-")
        peak = "?" if r["peak_rss_mb"] is None else f"{r['peak_rss_mb']:,.0f}"
        print(f"  {r['name']:<{width}}  {r['seconds']:6.0f} s  peak {peak:>6} MiB  {r['status'][:60]:<8}  VGG: {vgg}")
    print(f"Report: {report}")
    rows = claim_rows(results)
    print(f"\nClaims of this run ({len(rows)}):\n{claims_text(rows)}")
    if failed:
        print(f"\nFAILED: {failed[0]} {failed[1]}\nThe executed copy with the error is in {run_dir}.", file=sys.stderr)
        return 130 if interrupted else 1
    enforced = (args.profile != "smoke" and args.step_cap is None) or args.enforce_claims
    broken = broken_headlines(rows) if enforced else []
    for c in broken:
        print(f"\nHEADLINE CLAIM DOES NOT HOLD: {c['notebook']}: {c['name']} ({c['statement']}): {c['subject']} "
              f"{c['value']:.4g} vs {c['control']} {c['control_value']:.4g} on {c['measure']}, margin "
              f"{c['margin']:+.3g} ± {c['spread']:.3g} -> {c['verdict']}", file=sys.stderr)
    if broken and not args.allow_failed_claims:
        print(f"{len(broken)} headline claim(s) do not hold: the lesson is broken in this run (see above). "
              "--allow-failed-claims runs on regardless.", file=sys.stderr)
        return 1
    if args.update_notebooks:
        for executed, path in executed_copies:
            nbformat.write(nbformat.read(executed, as_version=4), path)
        print(f"Wrote {len(executed_copies)} executed notebook(s) back into {Path(args.notebooks)}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
