"""Per-notebook metrics files and the run's one-page HTML report.

Every notebook writes ``<run>/<notebook>/metrics.json`` through :func:`write_metrics`; the batch runner
collects them into ``<run>/summary.json`` and ``<run>/report.html``.
"""
from __future__ import annotations

import html
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):  # numpy / torch scalars
        return value.item()
    return value


def write_metrics(out_dir: str | Path, **values: Any) -> Path:
    """Merge ``values`` into ``<out_dir>/metrics.json`` (created if missing) and return its path."""
    path = Path(out_dir) / "metrics.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data.update(_plain(values))
    path.write_text(json.dumps(data, indent=2, sort_keys=True))
    return path


def read_metrics(out_dir: str | Path) -> dict[str, Any]:
    """The notebook's metrics, or ``{}`` if it wrote none."""
    path = Path(out_dir) / "metrics.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def _table(rows: Mapping[str, Mapping[str, Any]]) -> str:
    cols: list[str] = []
    for row in rows.values():
        cols += [c for c in row if c not in cols]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["", *cols])
    body = "".join("<tr><th>" + html.escape(name) + "</th>" + "".join(f"<td>{_cell(row.get(c, ''))}</td>" for c in cols)
                   + "</tr>" for name, row in rows.items())
    return f"<table><tr>{head}</tr>{body}</table>"


def build_report(run_dir: str | Path, results: list[dict[str, Any]]) -> Path:
    """Write ``<run_dir>/report.html``: per notebook its status, run time, key figure and metrics tables.

    ``results`` holds one dict per notebook: ``name``, ``seconds``, ``status`` and ``metrics``. A metrics
    value that is a dict of dicts is shown as a table; the figure named by ``metrics["key_figure"]`` is shown.
    """
    run_dir = Path(run_dir)
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>srgan-notebooks run</title><style>",
             "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}",
             "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;",
             "font-size:13px;text-align:right}img{max-width:100%}.fail{color:#b00}</style></head><body>",
             f"<h1>srgan-notebooks: {html.escape(run_dir.name)}</h1>"]
    for res in results:
        metrics = res.get("metrics", {})
        status = res["status"]
        cls = "" if status == "ok" else " class='fail'"
        parts.append(f"<h2>{html.escape(res['name'])}</h2><p{cls}>{html.escape(status)}; "
                     f"{res['seconds']:.0f} s; profile {html.escape(str(metrics.get('profile', '?')))}; "
                     f"VGG weights: {html.escape(str(metrics.get('vgg_weights', 'not used')))}</p>")
        figure = metrics.get("key_figure")
        if figure and (run_dir / res["name"] / figure).exists():
            parts.append(f"<img src='{html.escape(res['name'])}/{html.escape(figure)}' alt='{html.escape(figure)}'>")
        for key, value in metrics.items():
            if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
                parts.append(f"<h3>{html.escape(key)}</h3>{_table(value)}")
    parts.append("</body></html>")
    path = run_dir / "report.html"
    path.write_text("\n".join(parts))
    return path
