"""Render the run report in headless Chromium: ``runs/latest/report.html`` -> ``runs/latest/report.png``.

    python -m benchmarks.screenshot [--report runs/latest/report.html] [--out <report>.png] [--width 1200] [--rebuild]

The page is rendered in a window ``--max-height`` pixels tall, then the empty white space below the content is
cut off, so the PNG shows the whole page (up to that height). Needs Debian's ``chromium``
(``apt-get install chromium``); if it is missing and we run as root, it is installed with apt-get, waiting while
another process holds the dpkg lock.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from helpers.config import PROJECT_ROOT

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-gpu", "--hide-scrollbars", "--mute-audio")


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


def install_chromium(tries: int = 20, wait_s: float = 30.0) -> str | None:
    """``apt-get install -y chromium`` as root, retrying while dpkg is locked by another installer."""
    if os.geteuid() != 0:
        print("chromium is missing: install it with `sudo apt-get install chromium`.", file=sys.stderr)
        return None
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for attempt in range(tries):
        if find_chromium():
            return find_chromium()
        update = subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, text=True)
        result = subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], env=env, capture_output=True,
                                text=True)
        if result.returncode == 0:
            return find_chromium()
        locked = "lock" in (result.stderr + update.stderr).lower()
        print(f"apt-get install chromium failed (attempt {attempt + 1}{', dpkg locked' if locked else ''}); "
              f"retrying in {wait_s:.0f} s", file=sys.stderr)
        time.sleep(wait_s)
    return find_chromium()


def trim_bottom(path: Path, margin: int = 24) -> tuple[int, int]:
    """Cut the uniform background below the last non-background row (plus ``margin``); returns the new size."""
    from PIL import Image, ImageChops

    img = Image.open(path).convert("RGB")
    background = Image.new("RGB", img.size, img.getpixel((img.width - 1, img.height - 1)))
    box = ImageChops.difference(img, background).getbbox()
    if box:
        img = img.crop((0, 0, img.width, min(img.height, box[3] + margin)))
        img.save(path, optimize=True)
    return img.size


def screenshot(report: Path, out: Path, width: int = 1200, max_height: int = 16000, timeout_s: int = 180) -> Path:
    report, out = Path(report).resolve(), Path(out).resolve()
    if not report.is_file():
        raise SystemExit(f"No report at {report}: run `make run` (or python -m helpers.run) first.")
    chromium = find_chromium() or install_chromium()
    if not chromium:
        raise SystemExit("Chromium is not available: `apt-get install chromium`, then run `make bench` again.")
    cmd = [chromium, *CHROMIUM_FLAGS, f"--screenshot={out}", f"--window-size={width},{max_height}",
           report.as_uri()]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    if result.returncode != 0 or not out.is_file():
        raise SystemExit(f"Chromium failed ({result.returncode}): {result.stderr[-2000:]}")
    size = trim_bottom(out)
    print(f"wrote {out} ({size[0]}x{size[1]} px)")
    return out


def rebuild(report: Path) -> Path:
    """Write ``report`` again with the current :func:`helpers.report.build_report` from the run's ``summary.json``
    (each notebook's ``metrics.json`` re-read), so the screenshot shows the current report layout."""
    from helpers.report import build_report
    from helpers.results import read_metrics

    run_dir = Path(report).resolve().parent
    summary = run_dir / "summary.json"
    if not summary.is_file():
        raise SystemExit(f"No {summary}: run `make run` first.")
    results = json.loads(summary.read_text())
    for res in results:
        res["metrics"] = read_metrics(run_dir / res["name"]) or res.get("metrics", {})
    return build_report(run_dir, results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--report", default=str(PROJECT_ROOT / "runs" / "latest" / "report.html"))
    parser.add_argument("--out", default=None, help="default: report.png next to the report")
    parser.add_argument("--width", type=int, default=1200)
    parser.add_argument("--max-height", type=int, default=16000)
    parser.add_argument("--rebuild", action="store_true",
                        help="first rebuild the report from the run's summary.json with the current helpers.report")
    args = parser.parse_args(argv)
    report = Path(args.report)
    if args.rebuild:
        print(f"rebuilt {rebuild(report)}")
    screenshot(report, Path(args.out) if args.out else report.with_suffix(".png"), args.width, args.max_height)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
