"""Per-notebook metrics files and the run's one-page HTML report.

Every notebook writes ``<run>/<notebook>/metrics.json`` through :func:`write_metrics`; the batch runner
collects them into ``<run>/summary.json`` and ``<run>/report.html`` (:func:`build_report`).

The report is one page: a table of contents (every notebook with its status and run time), then the
**leaderboard** of the series' upscalers on the same held-out images, then one section per notebook (key
figure, key numbers, metrics tables, links to its other figures) and the browser screenshots.

Conventions the report reads:

* ``metrics["key_figure"]``: the PNG (in the notebook's folder) shown at the top of its section;
* any metrics value that is a dict of dicts is a table (rows = outer keys);
* ``metrics["leaderboard"] = {"4x": {model: {"PSNR-Y": float, "SSIM-Y": float, "VGG-dist": float,
  "LPIPS": float or "unavailable offline", "checkpoint": "03_upscale_4x/upscale4x_mse.pt"}, ...}, "2x": ...}``
  and ``metrics["leaderboard_convention"]`` (one line: images, border crop, Y conversion; or one line per scale
  as ``{"4x": line, ...}``), written by notebook
  11: shown first, rows sorted by PSNR-Y, the best value of every metric highlighted. Numbers are copied from
  the metrics file (rounded for display; the exact value is in each cell's ``data-value`` attribute);
* ``<run>/browser/index.json``: a list of ``{"notebook", "panel", "before", "after"}`` with PNG paths relative to
  ``<run>/browser/`` (or to ``<run>/``), the interactive panels' screenshots from a real browser.
"""
from __future__ import annotations

import html
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .results import _plain

LEADERBOARD_COLUMNS = ("PSNR-Y", "SSIM-Y", "VGG-dist", "LPIPS")
HIGHER_IS_BETTER = {"PSNR-Y": True, "SSIM-Y": True, "VGG-dist": False, "LPIPS": False}
_SHOWN_ELSEWHERE = {"notebook", "profile", "vgg_weights", "seconds", "key_figure", "leaderboard",
                    "leaderboard_convention", "claims", "machine"}
_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1150px;margin:1.5em auto;padding:0 1em;
     color:#222;line-height:1.45}
h1{margin-bottom:.2em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
h3{margin-bottom:.3em}a{color:#15c}.sub{color:#666;margin-top:0}
table{border-collapse:collapse;margin:.4em 0 1.2em}
td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:right;vertical-align:top}
th{background:#f4f4f4}td.name,th.name{text-align:left}
tr.baseline td{color:#666;font-style:italic}
td.best{background:#d8f5d0;font-weight:600}
.fail{color:#b00;font-weight:600}.ok{color:#070}.missing{color:#b60;font-style:italic}
.convention{background:#f7f7f2;border-left:4px solid #aa8;padding:.4em .8em;font-size:14px}
figure{margin:.5em 0}figure img{max-width:100%;max-height:640px;border:1px solid #eee}
figcaption{font-size:12px;color:#666}
.shots img{max-width:260px;border:1px solid #ddd;margin-right:6px}
code{font-size:12px}
"""


def _fmt(value: Any) -> str:
    """Display text of a metrics value (rounding only; nothing is computed)."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return json.dumps(_plain(value))
    return str(value)


def _cell(value: Any) -> str:
    return html.escape(_fmt(value))


def _table(rows: Mapping[str, Mapping[str, Any]]) -> str:
    cols: list[str] = []
    for row in rows.values():
        cols += [c for c in row if c not in cols]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr><th class='name'>" + html.escape(str(name)) + "</th>"
                   + "".join(f"<td>{_cell(row.get(c, ''))}</td>" for c in cols) + "</tr>"
                   for name, row in rows.items())
    return f"<table><tr><th></th>{head}</tr>{body}</table>"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _anchor(name: str) -> str:
    return "nb-" + "".join(c if c.isalnum() or c == "_" else "-" for c in name)


def _url(path: str) -> str:
    return html.escape(quote(path), quote=True)


def leaderboard_rows(board: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, Mapping[str, Any]]]:
    """``board`` (model -> metrics row) as a list sorted by PSNR-Y, highest first; rows without a numeric
    PSNR-Y last, in their original order."""
    items = list(board.items())
    return sorted(items, key=lambda kv: -kv[1]["PSNR-Y"] if _is_number(kv[1].get("PSNR-Y")) else float("inf"))


def _leaderboard_table(board: Mapping[str, Mapping[str, Any]], run_dir: Path) -> str:
    rows = leaderboard_rows(board)
    cols = [c for c in LEADERBOARD_COLUMNS if any(c in r for _, r in rows)]
    extra = [c for _, r in rows for c in r if c not in cols and c != "checkpoint"]
    cols += list(dict.fromkeys(extra))
    best: dict[str, float] = {}
    for c in cols:
        values = [r[c] for _, r in rows if _is_number(r.get(c))]
        if values and c in HIGHER_IS_BETTER:
            best[c] = max(values) if HIGHER_IS_BETTER[c] else min(values)
    head = "<tr><th>#</th><th class='name'>model</th>" + "".join(f"<th>{html.escape(c)}</th>" for c in cols) \
        + "<th class='name'>checkpoint</th></tr>"
    body = []
    for rank, (name, row) in enumerate(rows, start=1):
        baseline = "bicubic" in name.lower()
        cells = []
        for c in cols:
            v = row.get(c, "")
            cls = " class='best'" if c in best and _is_number(v) and v == best[c] else ""
            data = f" data-col='{html.escape(c, quote=True)}'"
            if _is_number(v):
                data += f" data-value='{html.escape(repr(v), quote=True)}'"
                text = f"{v:.2f}" if c.startswith("PSNR") else f"{v:.4f}"
            else:
                text = str(v)
            cells.append(f"<td{cls}{data}>{html.escape(text)}</td>")
        ckpt = row.get("checkpoint")
        if ckpt:
            link = (f"<a href='{_url(str(ckpt))}'><code>{html.escape(str(ckpt))}</code></a>"
                    if (run_dir / str(ckpt)).exists() else f"<code>{html.escape(str(ckpt))}</code>")
        else:
            link = "" if baseline else "<span class='missing'>none</span>"
        body.append(f"<tr{' class=baseline' if baseline else ''} data-model='{html.escape(name, quote=True)}'>"
                    f"<td>{rank}</td><td class='name'>{html.escape(name)}</td>{''.join(cells)}"
                    f"<td class='name'>{link}</td></tr>")
    return f"<table class='leaderboard'>{head}{''.join(body)}</table>"


def _leaderboards(results: list[dict[str, Any]], run_dir: Path) -> list[str]:
    parts = []
    for res in results:
        metrics = res.get("metrics") or {}
        boards = metrics.get("leaderboard")
        if not isinstance(boards, Mapping) or not boards:
            continue
        parts.append(f"<p class='sub'>from <a href='#{_anchor(res['name'])}'>{html.escape(res['name'])}</a></p>")
        convention = metrics.get("leaderboard_convention")
        per_scale = isinstance(convention, Mapping)
        if not per_scale:
            parts.append(f"<p class='convention'>{html.escape(str(convention))}</p>" if convention else
                         "<p class='missing'>no leaderboard_convention given: images, border crop and Y conversion "
                         "unknown</p>")
        for scale in sorted(boards, key=lambda k: (len(str(k)), str(k))):
            board = boards[scale]
            if isinstance(board, Mapping) and board and all(isinstance(r, Mapping) for r in board.values()):
                parts.append(f"<h3>{html.escape(str(scale))}</h3>")
                if per_scale:
                    line = convention.get(scale)
                    parts.append(f"<p class='convention'>{html.escape(str(line))}</p>" if line else
                                 f"<p class='missing'>no leaderboard_convention for {html.escape(str(scale))}</p>")
                parts.append(_leaderboard_table(board, run_dir))
    return parts


def _browser_shots(run_dir: Path) -> list[dict[str, Any]]:
    """Entries of ``<run>/browser/index.json`` with ``before`` / ``after`` resolved to paths relative to the run
    folder (``None`` where the file does not exist)."""
    index = run_dir / "browser" / "index.json"
    if not index.exists():
        return []
    try:
        entries = json.loads(index.read_text())
    except json.JSONDecodeError:
        return [{"notebook": "?", "panel": "browser/index.json is not valid JSON", "before": None, "after": None}]
    shots = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, Mapping):
            continue
        resolved = {}
        for key in ("before", "after"):
            rel = entry.get(key)
            resolved[key] = None
            for base, prefix in ((run_dir / "browser", "browser/"), (run_dir, "")):
                if rel and (base / str(rel)).is_file():
                    resolved[key] = prefix + str(rel)
                    break
        shots.append({"notebook": str(entry.get("notebook", "?")), "panel": str(entry.get("panel", "")), **resolved})
    return shots


def _shot_cells(shot: Mapping[str, Any]) -> str:
    out = []
    for key in ("before", "after"):
        path = shot.get(key)
        out.append(f"<td><a href='{_url(path)}'><img src='{_url(path)}' alt='{key}' loading='lazy'></a></td>"
                   if path else f"<td class='missing'>{key}: missing</td>")
    return "".join(out)


def _notebook_section(res: Mapping[str, Any], run_dir: Path, shots: list[dict[str, Any]]) -> list[str]:
    name = str(res["name"])
    metrics = res.get("metrics") or {}
    status = str(res.get("status", "?"))
    ok = status == "ok"
    parts = [f"<h2 id='{_anchor(name)}'>{html.escape(name)}</h2>"]
    state = "<span class='ok'>ok</span>" if ok else f"<span class='fail'>FAILED: {html.escape(status)}</span>"
    parts.append(f"<p>{state}; run time {float(res.get('seconds', 0)):.0f} s; profile "
                 f"{html.escape(str(metrics.get('profile', '?')))}; VGG weights: "
                 f"{html.escape(str(metrics.get('vgg_weights', 'not used')))}</p>")
    if not ok and not metrics:
        parts.append("<p class='fail'>The notebook wrote no metrics; the executed copy with the error is in its "
                     "folder.</p>")
    folder = run_dir / name
    figure = metrics.get("key_figure")
    if figure:
        if (folder / str(figure)).is_file():
            src = _url(f"{name}/{figure}")
            parts.append(f"<figure><a href='{src}'><img src='{src}' alt='{html.escape(str(figure), quote=True)}'>"
                         f"</a><figcaption>{html.escape(str(figure))}</figcaption></figure>")
        else:
            parts.append(f"<p class='missing'>key figure {html.escape(str(figure))} not found in "
                         f"{html.escape(name)}/</p>")
    scalars = {k: v for k, v in metrics.items() if k not in _SHOWN_ELSEWHERE
               and not (isinstance(v, Mapping) and v and all(isinstance(x, Mapping) for x in v.values()))}
    if scalars:
        parts.append("<h3>key numbers</h3><table>" + "".join(
            f"<tr><th class='name'>{html.escape(k)}</th><td class='name'>{_cell(v)}</td></tr>"
            for k, v in scalars.items()) + "</table>")
    for key, value in metrics.items():
        if key in _SHOWN_ELSEWHERE:
            continue
        if isinstance(value, Mapping) and value and all(isinstance(v, Mapping) for v in value.values()):
            parts.append(f"<h3>{html.escape(key)}</h3>{_table(value)}")
    if "leaderboard" in metrics:
        parts.append("<p>Its leaderboard is at the <a href='#leaderboard'>top of the page</a>.</p>")
    others = sorted(p.name for p in folder.glob("*.png") if p.name != figure) if folder.is_dir() else []
    if others:
        parts.append("<p>Other figures: " + ", ".join(f"<a href='{_url(f'{name}/{o}')}'>{html.escape(o)}</a>"
                                                      for o in others) + "</p>")
    notebook = folder / f"{name}.ipynb"
    if notebook.is_file():
        parts.append(f"<p>Executed notebook: <a href='{_url(f'{name}/{name}.ipynb')}'>"
                     f"{html.escape(notebook.name)}</a></p>")
    mine = [s for s in shots if s["notebook"] in (name, name[:2])]
    if mine:
        parts.append(f"<p>Browser screenshots of its panels: <a href='#browser'>{len(mine)} below</a>.</p>")
    return parts


def build_report(run_dir: str | Path, results: list[dict[str, Any]]) -> Path:
    """Write ``<run_dir>/report.html`` and return its path.

    ``results`` holds one dict per notebook, in run order: ``name`` (the notebook's stem and folder), ``seconds``
    (its run time), ``status`` (``"ok"`` or the failure) and ``metrics`` (its ``metrics.json``). The page: table of
    contents, leaderboard(s) (see the module docstring), one section per notebook, browser screenshots.
    Missing figures or files are named on the page, never an error.
    """
    run_dir = Path(run_dir)
    shots = _browser_shots(run_dir)
    profiles = sorted({str((r.get("metrics") or {}).get("profile")) for r in results
                       if (r.get("metrics") or {}).get("profile")})
    failed = [r for r in results if r.get("status") != "ok"]
    total = sum(float(r.get("seconds", 0)) for r in results)
    plural = "" if len(results) == 1 else "s"
    parts = ["<!doctype html><html lang='en'><head><meta charset='utf-8'>",
             f"<title>srgan-notebooks run {html.escape(run_dir.name)}</title><style>{_CSS}</style></head><body>",
             f"<h1>srgan-notebooks: run {html.escape(run_dir.name)}</h1>",
             f"<p class='sub'>{len(results)} notebook{plural}, profile {html.escape(', '.join(profiles) or '?')}, "
             f"{total / 60:.1f} min in all; "
             + (f"<span class='fail'>{len(failed)} failed</span>" if failed else "<span class='ok'>all ok</span>")
             + "</p>"]
    boards = _leaderboards(results, run_dir)
    toc = ["<h2 id='contents'>Contents</h2><table><tr><th>#</th><th class='name'>notebook</th><th>status</th>"
           "<th>run time</th><th>profile</th></tr>"]
    for i, res in enumerate(results, start=1):
        status = str(res.get("status", "?"))
        state = "<span class='ok'>ok</span>" if status == "ok" else "<span class='fail'>FAILED</span>"
        toc.append(f"<tr><td>{i}</td><td class='name'><a href='#{_anchor(str(res['name']))}'>"
                   f"{html.escape(str(res['name']))}</a></td><td>{state}</td>"
                   f"<td>{float(res.get('seconds', 0)):.0f} s</td>"
                   f"<td>{html.escape(str((res.get('metrics') or {}).get('profile', '?')))}</td></tr>")
    toc.append("</table>")
    links = (["<a href='#claims'>claims</a>"] if claim_rows(results) else []) + \
        (["<a href='#leaderboard'>leaderboard</a>"] if boards else []) + \
        (["<a href='#browser'>browser screenshots</a>"] if shots else [])
    if links:
        toc.append("<p>Also: " + " · ".join(links) + "</p>")
    parts += toc
    parts += _claims_section(claim_rows(results))
    if boards:
        parts.append("<h2 id='leaderboard'>Leaderboard: every upscaler on the same held-out images</h2>")
        parts += boards
    for res in results:
        parts += _notebook_section(res, run_dir, shots)
    if shots:
        parts.append("<h2 id='browser'>Interactive panels in a real browser</h2><table class='shots'>"
                     "<tr><th class='name'>notebook</th><th class='name'>panel</th><th>before</th><th>after</th></tr>")
        for shot in shots:
            parts.append(f"<tr><td class='name'>{html.escape(shot['notebook'])}</td>"
                         f"<td class='name'>{html.escape(shot['panel'])}</td>{_shot_cells(shot)}</tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    path = run_dir / "report.html"
    path.write_text("\n".join(parts))
    return path


# --------------------------------------------------------------------------- claims of a run
def claim_rows(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every claim recorded by the run's notebooks (``metrics["claims"]``), in run order, with its notebook."""
    return [{"notebook": str(r["name"]), **c} for r in results for c in (r.get("metrics") or {}).get("claims", [])]


def broken_headlines(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The headline claims that do not hold."""
    return [c for c in rows if c["kind"] == "headline" and not c["holds"]]


def _claim_values(c: Mapping[str, Any]) -> tuple[str, str, str]:
    spread = f" ± {c['spread']:.3g}" if c.get("n", 1) > 1 else ""
    return (f"{c['subject']} {c['value']:.4g}", f"{c['control']} {c['control_value']:.4g}",
            f"{c['margin']:+.3g}{spread}")


def claims_text(rows: list[dict[str, Any]]) -> str:
    """The claims as a plain-text table for the terminal."""
    if not rows:
        return "No claims were recorded."
    lines = [f"{'notebook':<24} {'claim':<34} {'kind':<11} {'verdict':<6}  subject vs control (margin ± spread)"]
    for c in rows:
        subject, control, margin = _claim_values(c)
        lines.append(f"{c['notebook'][:24]:<24} {c['name'][:34]:<34} {c['kind']:<11} {c['verdict']:<6}  "
                     f"{subject} vs {control} ({c['measure']}, {margin})")
    return "\n".join(lines)


def _md_cell(text: str) -> str:
    """``text`` safe inside a Markdown table cell: a ``|`` (as in a measure ``|1 - HF ratio|``) escaped."""
    return str(text).replace("|", "\\|")


def claims_markdown(rows: list[dict[str, Any]]) -> str:
    """The claims as a Markdown table (what ``--readme`` writes into the README)."""
    lines = ["| notebook | claim | kind | subject | control | margin ± spread | verdict |",
             "|---|---|---|---|---|---|---|"]
    for c in rows:
        subject, control, margin = _claim_values(c)
        claim = (f"{c['statement']} ({c['measure']}; {c['source']} model"
                 f"{'; ' + c['basis'] if c.get('basis') else ''})")
        lines.append(f"| {c['notebook'][:2]} | {_md_cell(claim)} | {c['kind']} | {_md_cell(subject)} | "
                     f"{_md_cell(control)} | {margin} | {c['verdict']} |")
    return "\n".join(lines)


def _claims_section(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return []
    head = "".join(f"<th{' class=name' if h in ('notebook', 'claim') else ''}>{h}</th>"
                   for h in ("notebook", "claim", "kind", "subject", "control", "margin ± spread", "verdict"))
    body = []
    for c in rows:
        subject, control, margin = _claim_values(c)
        css = "ok" if c["holds"] else ("fail" if c["kind"] == "headline" else "missing")
        body.append(f"<tr><td class='name'>{html.escape(c['notebook'])}</td><td class='name'>"
                    f"{html.escape(c['statement'])}<br><small>{html.escape(c['measure'])}; {html.escape(c['source'])}"
                    f" model{'; ' + html.escape(c['basis']) if c.get('basis') else ''}</small></td>"
                    f"<td>{html.escape(c['kind'])}</td><td>{html.escape(subject)}</td><td>{html.escape(control)}</td>"
                    f"<td>{html.escape(margin)}</td><td class='{css}'>{html.escape(c['verdict'])}</td></tr>")
    return ["<h2 id='claims'>Claims: each notebook's measured answer</h2>",
            "<p class='convention'>A headline claim is a notebook's lesson and must hold; an observation is "
            "reported, not enforced. A difference inside the spread (per image or per seed) is a tie.</p>",
            f"<table><tr>{head}</tr>{''.join(body)}</table>"]


README_START, README_END = "<!-- claims:start -->", "<!-- claims:end -->"
FULL_CHECK_START, FULL_CHECK_END = "<!-- full-check:start -->", "<!-- full-check:end -->"


def _read_summary(run_dir: Path) -> list[dict]:
    summary = run_dir / "summary.json"
    if not summary.is_file():
        raise FileNotFoundError(f"No {summary}: run `make run` first.")
    return json.loads(summary.read_text())


def _replace_block(readme: Path, start: str, end: str, body: str) -> Path:
    """Replace what lies between the markers ``start`` and ``end`` in ``readme`` with ``body``."""
    text = readme.read_text()
    if start not in text or end not in text:
        raise ValueError(f"{readme} has no {start} ... {end} block to fill.")
    head, rest = text.split(start, 1)
    readme.write_text(head + start + "\n" + body + "\n" + end + rest.split(end, 1)[1])
    return readme


def _machine(results: list[dict]) -> dict:
    return next(((r.get("metrics") or {}).get("machine") for r in results if (r.get("metrics") or {}).get(
        "machine")), {})


def update_readme(readme: str | Path, run_dir: str | Path) -> Path:
    """Replace the block between :data:`README_START` and :data:`README_END` in ``readme`` with the claims
    table of the run in ``run_dir`` (its ``summary.json``); the README's result numbers are never typed."""
    run_dir = Path(run_dir)
    results = _read_summary(run_dir)
    profiles = sorted({str((r.get("metrics") or {}).get("profile")) for r in results})
    machine = _machine(results)
    times = ["| notebook | run time | status |", "|---|---|---|"] + [
        f"| {r['name']} | {float(r.get('seconds', 0)):.0f} s | {r.get('status', '?')} |" for r in results]
    body = (f"From run `{run_dir.resolve().name}` (profile {', '.join(profiles)}; "
            f"{machine.get('cpu', '?')}, {machine.get('torch_threads', '?')} torch threads), written by "
            f"`make readme`:\n\n{claims_markdown(claim_rows(results))}\n\n"
            f"Run times in that run ({sum(float(r.get('seconds', 0)) for r in results) / 60:.1f} min in all):"
            f"\n\n" + "\n".join(times))
    return _replace_block(Path(readme), README_START, README_END, body)


def full_check_markdown(results: list[dict]) -> str:
    """One row per notebook of a step-capped run (``make full-check``): status, wall time, kernel peak memory."""
    rows = ["| notebook | status | wall time | peak memory (kernel RSS) |", "|---|---|---|---|"]
    for r in results:
        peak = "not measured" if r.get("peak_rss_mb") is None else f"{float(r['peak_rss_mb']) / 1024:.2f} GiB"
        rows.append(f"| {r['name']} | {_md_cell(str(r.get('status', '?')))} | {float(r.get('seconds', 0)):.0f} s "
                    f"| {peak} |")
    return "\n".join(rows)


def update_full_check(readme: str | Path, run_dir: str | Path) -> Path:
    """Replace the block between :data:`FULL_CHECK_START` and :data:`FULL_CHECK_END` in ``readme`` with the
    table of the step-capped run in ``run_dir``; refuses a run that was not step-capped."""
    run_dir = Path(run_dir)
    results = _read_summary(run_dir)
    caps = {r.get("step_cap") for r in results}
    profiles = {str(r["metrics"]["profile"]) for r in results if (r.get("metrics") or {}).get("profile")}
    if None in caps or len(caps) != 1:
        raise ValueError(f"{run_dir} is not a step-capped run (step caps {sorted(map(str, caps))}): run "
                         "`make full-check`.")
    machine = _machine(results)
    body = (f"From run `{run_dir.resolve().name}` (profile {', '.join(sorted(profiles))}, every training loop "
            f"capped at {caps.pop()} steps; {machine.get('cpu', '?')}, {machine.get('torch_threads', '?')} torch "
            f"threads), written by `make full-check`:\n\n{full_check_markdown(results)}")
    return _replace_block(Path(readme), FULL_CHECK_START, FULL_CHECK_END, body)


def main(argv: list[str] | None = None) -> int:
    """``python -m helpers.report RUN_DIR [--readme README.md]``: rebuild the report (and the README's claims)."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--readme", type=Path, help="README whose claims block to rewrite from this run")
    parser.add_argument("--full-check", type=Path, metavar="README",
                        help="README whose full-profile check table to rewrite from this step-capped run")
    args = parser.parse_args(argv)
    summary = args.run_dir / "summary.json"
    if not summary.is_file():
        print(f"error: no {summary}: give a run folder written by `make run`.", file=sys.stderr)
        return 2
    print("report:", build_report(args.run_dir, json.loads(summary.read_text())))
    if args.readme:
        print("claims written into", update_readme(args.readme, args.run_dir))
    if args.full_check:
        print("full-profile check written into", update_full_check(args.full_check, args.run_dir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
