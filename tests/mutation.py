"""Mutation testing of the helpers with mutmut 2.5.1 (issue 19): ``make mutation``, not part of ``make test``.

``python tests/mutation.py [MODULE ...]`` copies ``helpers/``, ``tests/`` and ``pyproject.toml`` to
``runs/mutation/work`` (mutmut 2 rewrites the files it mutates: the checkout is never touched, notebooks can run
meanwhile) and runs mutmut on each module against its own test file only (:data:`STAGES`), one module after the
other, each with its own cache (``runs/mutation/<module>.mutmut-cache``). It prints and writes
``runs/mutation/summary.json`` (merged with the other modules' last runs): per module killed / total, counting
untested, skipped and timed-out mutants as survivors, and the survivors (``mutmut show ID`` in
``runs/mutation/work`` after copying a cache back to ``.mutmut-cache`` shows one). ``tests/MUTANTS.md`` explains the
survivors of the last run; its results table is rewritten from ``summary.json`` after every run. ``python
tests/mutation.py --recheck MODULE ...`` tests only the last run's survivors again (after adding tests: minutes
instead of an hour).

Each mutant's tests run in a process forked from a server that has imported torch, numpy, Pillow and pytest once
(``serve``; the mutated ``helpers`` are imported fresh in every child): about 3 s less per mutant than a new
interpreter. A module's slow tests run only when its fast ones pass (the second stage of :data:`STAGES`).
"""
from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time

#: module -> test stages (pytest arguments); a stage runs only when the ones before it passed.
STAGES: dict[str, list[list[str]]] = {
    "degrade": [["tests/test_degrade.py"]],
    "metrics": [["tests/test_metrics.py", "-k", "not lpips and not vgg_distance_properties"],
                ["tests/test_metrics.py", "-k", "lpips or vgg_distance_properties"]],
    "losses": [["tests/test_losses.py"]],
    "data": [["tests/test_data.py", "-k", "not digits and not sample"],
             ["tests/test_data.py", "-k", "digits or sample"]],
    "inference": [["tests/test_inference.py", "tests/test_checkpoint_faults.py"],
                  ["tests/test_sr_training.py", "tests/test_upscale.py"]],
    "gan_training": [["tests/test_gan_training.py"]],
    # the work copy has no .gitignore, README or reference/: the tests that read them stay out
    "package_photos": [["tests/test_package_photos.py", "-k", "not ignored_by_git"]],
    "reference_targets": [["tests/test_reference_targets.py", "-k", "not readme and not notebook_04"]],
}
#: The modules that must reach :data:`GOAL`; the others are measured and reported.
REQUIRED = ("degrade", "metrics", "losses", "data")
GOAL = 0.9
PYTEST = ["-x", "-q", "-p", "no:cacheprovider"]


def fresh_files(work: str) -> None:
    """Give the next mutant's tests the files a checkout has, anew: ``<work>/data`` from ``<work>/data-template``
    (the checkout's ``data/``) and ``<work>/cache`` (``$SRGAN_CACHE``) from ``<work>/cache-template`` (the files,
    not the folders, of the user's cache: converted weights, the digit classifier). A mutant of the sample-data
    code writes its files there (``XXchelsea.pngXX``); left behind, they would fail every later mutant's tests,
    which would then count as killed, and in the user's cache they would spoil it."""
    for name in ("data", "cache"):
        shutil.rmtree(os.path.join(work, name), ignore_errors=True)
        shutil.copytree(os.path.join(work, f"{name}-template"), os.path.join(work, name))


def make_templates(root: str, work: str) -> None:
    """``<work>/data-template`` and ``<work>/cache-template`` for :func:`fresh_files`."""
    shutil.copytree(os.path.join(root, "data"), os.path.join(work, "data-template"))
    user_cache = os.environ.get("SRGAN_CACHE") or os.path.expanduser("~/.cache/srgan-notebooks")
    template = os.path.join(work, "cache-template")
    os.makedirs(template)
    for entry in os.scandir(user_cache) if os.path.isdir(user_cache) else []:
        if entry.is_file():
            shutil.copy2(entry.path, template)


def serve(path: str) -> None:
    """Answer each request (``cwd NUL arg NUL ...`` + newline) with the exit status of ``pytest arg ...`` run in a
    forked child, in ``cwd`` (its files fresh: :func:`fresh_files`), with nothing of ``helpers`` imported before
    the fork."""
    sys.dont_write_bytecode = True  # a mutant may keep a file's size and mtime: never read a stale .pyc
    sys.pycache_prefix = os.path.join(os.path.dirname(path), "no-pycache")
    import numpy  # noqa: F401
    import PIL.Image  # noqa: F401
    import pytest
    import torch  # noqa: F401
    import torchvision  # noqa: F401   (and the other slow imports of the tests: seconds each under load)

    for name in ("torchvision.datasets", "sklearn.datasets", "skimage.data", "skimage.metrics", "lpips"):
        try:
            __import__(name)
        except ImportError:
            pass

    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    srv.listen(1)
    while True:
        conn, _ = srv.accept()
        with conn:
            request = conn.makefile("rb").readline().decode().rstrip("\n")
            if not request:
                continue
            cwd, *args = request.split("\0")
            fresh_files(cwd)
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    srv.close()
                    os.chdir(cwd)
                    sys.path.insert(0, cwd)
                    quiet = os.open(os.devnull, os.O_WRONLY)
                    os.dup2(quiet, 1)
                    os.dup2(quiet, 2)
                    code = int(pytest.main(args))
                finally:
                    os._exit(code)
            code = wait_or_kill(pid, conn)
            if code is not None:
                conn.sendall(f"{1 if code < 0 else code}\n".encode())


def wait_or_kill(pid: int, conn: socket.socket) -> int | None:
    """The exit status of child ``pid``; ``None`` after killing it when the client hung up first (mutmut's
    timeout killed the client: the child may be in an endless loop that a mutant made)."""
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        readable, _, _ = select.select([conn], [], [], 0.5)
        if readable and not conn.recv(1, socket.MSG_PEEK):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return None


def client(path: str, module: str) -> int:
    """mutmut's test command: run ``module``'s stages through the server; 0 only when every stage passed, else 1.

    Always 1, never pytest's own code: mutmut 2 counts only exit status 1 as "the tests failed", so a mutant that
    breaks the module's import (pytest: 2, "interrupted: errors during collection") would count as a survivor."""
    for stage in STAGES[module]:
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(path)
            s.sendall(("\0".join([os.getcwd(), *PYTEST, *stage]) + "\n").encode())
            code = int(s.makefile("rb").readline() or b"1")
        if code:
            return 1
    return 0


#: mutmut 2's statuses of a mutant that made a test fail ("suspicious": it failed, but slowly).
KILLED = ("ok_killed", "ok_suspicious")


def counts(cache: str) -> tuple[int, int, list[int]]:
    """``(killed, total, survivor ids)`` from a mutmut 2 cache; survived, timed-out, skipped and untested
    mutants are all survivors."""
    with sqlite3.connect(cache) as db:
        rows = db.execute("select id, status from Mutant order by id").fetchall()
    return sum(s in KILLED for _, s in rows), len(rows), [i for i, s in rows if s not in KILLED]


def measure(module: str, root: str, out: str, recheck: bool = False) -> dict:
    """Run mutmut on ``helpers/<module>.py`` in ``<out>/work``; return its counts and survivors. ``recheck``: test
    only the survivors of the module's last run again (its cache), e.g. after adding tests; killed mutants stay
    killed as long as no test was removed."""
    work, sock = os.path.join(out, "work"), os.path.join(out, f"{module}.sock")
    cache = os.path.join(out, f"{module}.mutmut-cache")
    if recheck and not os.path.exists(cache):
        raise FileNotFoundError(f"No {cache} to recheck: run `python tests/mutation.py {module}` first.")
    shutil.rmtree(work, ignore_errors=True)
    for name in ("helpers", "tests"):
        shutil.copytree(os.path.join(root, name), os.path.join(work, name),
                        ignore=shutil.ignore_patterns("__pycache__", "browser"))
    shutil.copy(os.path.join(root, "pyproject.toml"), work)
    make_templates(root, work)
    fresh_files(work)
    targets = [None]
    if recheck:
        shutil.copy(cache, os.path.join(work, ".mutmut-cache"))
        targets = [str(i) for i in counts(cache)[2]]
    if os.path.exists(sock):
        os.unlink(sock)
    env = dict(os.environ, OMP_NUM_THREADS="1", SRGAN_NO_BARS="1", SRGAN_CACHE=os.path.join(work, "cache"))
    server = subprocess.Popen([sys.executable, __file__, "serve", sock], env=env)
    try:
        while not os.path.exists(sock):
            if server.poll() is not None:
                raise RuntimeError(f"the test server for {module} did not start")
            time.sleep(0.2)
        runner = f"{sys.executable} -S {os.path.abspath(__file__)} client {sock} {module}"
        start = time.time()
        for target in targets:
            subprocess.run([os.path.join(os.path.dirname(sys.executable), "mutmut"), "run", "--no-progress",
                            *([target] if target else []), "--paths-to-mutate", f"helpers/{module}.py",
                            "--tests-dir", "tests", "--runner", runner], cwd=work, env=env, check=False)
        seconds = time.time() - start
    finally:
        server.kill()
        server.wait()
    shutil.move(os.path.join(work, ".mutmut-cache"), cache)
    killed, total, survivors = counts(cache)
    return {"module": module, "killed": killed, "total": total, "rate": killed / total, "survivors": survivors,
            "seconds": round(seconds)}


MUTANTS_MD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "MUTANTS.md")
TABLE_START, TABLE_END = "<!-- mutation:start -->", "<!-- mutation:end -->"


def _ids(survivors: list[int], most: int = 40) -> str:
    """Survivor ids for the table: all of them up to ``most``, else their number."""
    if len(survivors) > most:
        return f"{len(survivors)} mutants (ids in runs/mutation/summary.json)"
    return ", ".join(map(str, survivors)) or "-"


def results_table(rows: list[dict]) -> str:
    """``summary.json``'s rows as MUTANTS.md's table: per module killed / total, the rate against :data:`GOAL`
    for the required modules, the survivors' ids and when and how the numbers were made."""
    lines = ["| module | required | killed / total | rate | survivors (mutmut ids) | run |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        required = r["module"] in REQUIRED
        verdict = ("" if not required else " (goal met)" if r["rate"] >= GOAL else " (**below the goal**)")
        how = f"{r.get('date', '?')}, {r['seconds'] / 60:.0f} min" + (", survivors rechecked" if r.get("rechecked")
                                                                       else "")
        lines.append(f"| `{r['module']}` | {'yes' if required else 'measured'} | {r['killed']} / {r['total']} | "
                     f"{r['rate']:.1%}{verdict} | {_ids(r['survivors'])} | {how} |")
    total = [r for r in rows if r["module"] in REQUIRED]
    if total:
        killed, count = sum(r["killed"] for r in total), sum(r["total"] for r in total)
        lines.append(f"\nThe {len(total)} required modules together: {killed} / {count} = {killed / count:.1%} "
                     f"killed (goal {GOAL:.0%} each).")
    return "\n".join(lines)


def write_table(rows: list[dict], path: str = MUTANTS_MD) -> None:
    """Rewrite the block between :data:`TABLE_START` and :data:`TABLE_END` of ``path`` with :func:`results_table`."""
    text = open(path, encoding="utf-8").read()
    head, rest = text.split(TABLE_START, 1)
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"{head}{TABLE_START}\n{results_table(rows)}\n{TABLE_END}{rest.split(TABLE_END, 1)[1]}")


def main(args: list[str]) -> int:
    recheck = "--recheck" in args
    modules = [a for a in args if a != "--recheck"]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = os.path.join(root, "runs", "mutation")
    os.makedirs(out, exist_ok=True)
    unknown = [m for m in modules if m not in STAGES]
    if unknown:
        print(f"Unknown modules {unknown}: use some of {', '.join(STAGES)}.", file=sys.stderr)
        return 2
    results = [{**measure(m, root, out, recheck), "rechecked": recheck, "date": time.strftime("%Y-%m-%d")}
               for m in modules or list(STAGES)]
    path = os.path.join(out, "summary.json")
    earlier = json.load(open(path)) if os.path.exists(path) else []
    merged = {r["module"]: r for r in earlier} | {r["module"]: r for r in results}  # other modules' last runs stay
    rows = [merged[m] for m in STAGES if m in merged]
    with open(path, "w") as f:
        json.dump(rows, f, indent=1)
    write_table(rows)
    print(f"\n{'module':14} {'killed':>7} {'total':>6} {'rate':>6} {'minutes':>8}  survivors (mutmut ids)")
    for r in results:
        print(f"{r['module']:14} {r['killed']:7} {r['total']:6} {r['rate']:6.1%} {r['seconds'] / 60:8.1f}  "
              f"{r['survivors']}")
    short = [r["module"] for r in results if r["module"] in REQUIRED and r["rate"] < GOAL]
    if short:
        print(f"Below {GOAL:.0%}: {', '.join(short)} (see tests/MUTANTS.md).")
    return 1 if short else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(sys.argv[2])
    elif sys.argv[1:2] == ["client"]:
        sys.exit(client(sys.argv[2], sys.argv[3]))
    else:
        sys.exit(main(sys.argv[1:]))
