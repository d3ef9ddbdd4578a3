"""Benchmarks behind ``make bench`` (not part of ``make test``): training-step time of every model of the
series the course's way and this project's way, and the data path on its own (:mod:`benchmarks.step_time`),
held-out PSNR-Y per training CPU-second (:mod:`benchmarks.time_to_quality`), and a headless-Chromium screenshot of
the run report (:mod:`benchmarks.screenshot`). Results go to ``benchmarks/results/`` as CSV and PNG;
``benchmarks/README.md`` quotes them with the machine they were measured on (its tables generated from the CSVs by
:func:`fill_blocks`).
"""
from __future__ import annotations

import csv
import os
import platform
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
README = Path(__file__).resolve().parent / "README.md"


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (``platform.processor()`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict[str, str | int | float]:
    """What a result depends on: CPU model, logical CPUs, torch version and threads, load average, time."""
    import torch

    load1, load5, load15 = os.getloadavg()
    return {"cpu": cpu_model(), "logical_cpus": os.cpu_count() or 0, "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "load1": round(load1, 2), "load5": round(load5, 2),
            "load15": round(load15, 2), "date": time.strftime("%Y-%m-%d %H:%M:%S")}


def write_csv(path: Path, rows: list[dict], digits: int = 5) -> None:
    """Rows of dicts as a CSV (columns in order of first appearance, floats to ``digits`` significant digits)."""
    cols: list[str] = []
    for r in rows:
        cols += [c for c in r if c not in cols]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, cols)
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.{digits}g}" if isinstance(v, float) else v) for k, v in r.items()})


def read_csv(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV written by :func:`write_csv`, as dicts of strings."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def markdown_table(columns: list[tuple[str, str]], rows: list[list[str]]) -> str:
    """A markdown table: ``columns`` are ``(title, alignment)`` with alignment ``"l"``, ``"r"`` or ``"c"``, each row
    one string per column."""
    rule = {"l": "---", "r": "---:", "c": ":-:"}
    lines = ["| " + " | ".join(title for title, _ in columns) + " |",
             "|" + "|".join(rule[align] for _, align in columns) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def fill_blocks(text: str, blocks: dict[str, str]) -> str:
    """``text`` with what stands between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` replaced by
    ``blocks[NAME]`` (on lines of its own), for every NAME; a missing marker raises ``ValueError``."""
    for name, body in blocks.items():
        start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
        if start not in text or end not in text:
            raise ValueError(f"no {start} ... {end} block to fill")
        head, rest = text.split(start, 1)
        text = f"{head}{start}\n{body}\n{end}{rest.split(end, 1)[1]}"
    return text
