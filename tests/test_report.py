"""The run report (helpers.report.build_report) on a tiny fake run folder: it parses, every image it shows
exists, the leaderboard copies the metrics.json numbers exactly and sorts / highlights them, a failed notebook
is marked, a missing figure is named instead of breaking the page."""
from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest

from helpers import report
from helpers.results import read_metrics, write_metrics

BOARD_4X = {
    "bicubic": {"PSNR-Y": 24.123456789, "SSIM-Y": 0.6512345, "VGG-dist": 0.4123, "LPIPS": "unavailable offline"},
    "Upscale4x MSE": {"PSNR-Y": 25.987654321, "SSIM-Y": 0.7012345, "VGG-dist": 0.3876,
                      "LPIPS": "unavailable offline", "checkpoint": "03_upscale_4x/upscale4x_mse.pt"},
    "WGAN-GP": {"PSNR-Y": 23.5, "SSIM-Y": 0.61, "VGG-dist": 0.2011, "LPIPS": "unavailable offline",
                "checkpoint": "04_wgan_gp_upscaler/missing.pt"},
    "PixelShuffle MSE": {"PSNR-Y": 26.25, "SSIM-Y": 0.72, "VGG-dist": 0.39, "LPIPS": 0.3,
                         "checkpoint": "03_upscale_4x/pixelshuffle.pt"},
}
BOARD_2X = {"bicubic": {"PSNR-Y": 30.0, "SSIM-Y": 0.9, "VGG-dist": 0.1, "LPIPS": 0.2},
            "Upscale2x MSE": {"PSNR-Y": 31.25, "SSIM-Y": 0.91, "VGG-dist": 0.09, "LPIPS": 0.15}}
CONVENTION = "3 held-out photos (cat, coffee, portrait), central 256x256 crops; border = scale; BT.601 Y"


class Page(HTMLParser):
    """Collects images, links, element ids, and every leaderboard cell with a data-col attribute."""

    def __init__(self):
        super().__init__()
        self.imgs, self.links, self.ids, self.cells = [], [], [], []
        self.model = self.cell = None
        self.board, self.in_h3 = "", False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.append(a["id"])
        if tag == "img":
            self.imgs.append(a["src"])
        if tag == "a" and "href" in a:
            self.links.append(a["href"])
        if tag == "h3":
            self.in_h3, self.board = True, ""
        if tag == "tr":
            self.model = a.get("data-model")
        if tag == "td" and "data-col" in a:
            self.cell = {"board": self.board, "model": self.model, "col": a["data-col"], "value": a.get("data-value"),
                         "class": a.get("class", ""), "text": ""}

    def handle_data(self, data):
        if self.in_h3:
            self.board += data
        if self.cell is not None:
            self.cell["text"] += data

    def handle_endtag(self, tag):
        if tag == "h3":
            self.in_h3 = False
        if tag == "td" and self.cell is not None:
            self.cells.append(self.cell)
            self.cell = None


def fake_run(tmp_path: Path) -> tuple[Path, list[dict]]:
    run = tmp_path / "20260101-000000"
    results = []

    def notebook(name: str, status: str = "ok", seconds: float = 12.0, files=(), **metrics):
        folder = run / name
        folder.mkdir(parents=True)
        for f in files:
            (folder / f).write_bytes(b"\x89PNG fake")
        if metrics:
            write_metrics(folder, **metrics)
        results.append({"name": name, "seconds": seconds, "status": status, "metrics": read_metrics(folder)})

    notebook("01_vgg", files=("grid.png", "extra.png"), notebook="01_vgg", profile="smoke", key_figure="grid.png",
             vgg_weights="hed", loss_ms_native=12.5, distortions={"blur": {"MSE": 0.01, "VGG": 0.5}})
    notebook("02_upscale_2x", profile="smoke", key_figure="not_saved.png", table={"bicubic": {"PSNR-Y": 30.0}})
    notebook("03_upscale_4x", files=("grid4.png",), profile="smoke", key_figure="grid4.png")
    (run / "03_upscale_4x" / "upscale4x_mse.pt").write_bytes(b"ckpt")
    notebook("11_upscale_your_own", profile="smoke", leaderboard={"4x": BOARD_4X, "2x": BOARD_2X},
             leaderboard_convention=CONVENTION)
    notebook("12_broken", status="failed in cell 7: ValueError: boom", seconds=3.0)
    (run / "browser").mkdir()
    (run / "browser" / "p_before.png").write_bytes(b"png")
    (run / "browser" / "index.json").write_text(json.dumps(
        [{"notebook": "02_upscale_2x", "panel": "loss weights", "before": "p_before.png", "after": "p_after.png"},
         {"notebook": "01", "panel": "run-relative paths", "before": "01_vgg/grid.png",
          "after": "browser/p_before.png"}]))
    return run, results


@pytest.fixture()
def built(tmp_path):
    run, results = fake_run(tmp_path)
    path = report.build_report(run, results)  # the call helpers/run.py makes
    page = Page()
    page.feed(path.read_text())
    page.close()
    return run, path, page, path.read_text()


def test_page_parses_and_every_image_exists(built):
    run, path, page, text = built
    assert path == run / "report.html"
    assert text.startswith("<!doctype html>") and text.rstrip().endswith("</html>")
    assert page.imgs, "the report shows no image at all"
    for src in page.imgs:
        assert (run / unquote(src)).is_file(), src
    assert sorted(page.imgs) == ["01_vgg/grid.png", "01_vgg/grid.png", "03_upscale_4x/grid4.png",
                                 "browser/p_before.png", "browser/p_before.png"]


def test_every_internal_link_points_at_an_anchor_or_a_file(built):
    run, _, page, _ = built
    for href in page.links:
        if href.startswith("#"):
            assert href[1:] in page.ids, href
        else:
            assert (run / unquote(href)).exists(), href
    assert "#leaderboard" in page.links and "01_vgg/extra.png" in page.links
    assert "03_upscale_4x/upscale4x_mse.pt" in page.links          # an existing checkpoint is linked
    assert "04_wgan_gp_upscaler/missing.pt" not in page.links      # a missing one is only named


def test_leaderboard_copies_the_metrics_exactly(built):
    _, _, page, text = built
    boards = {"4x": BOARD_4X, "2x": BOARD_2X}
    cells = [c for c in page.cells if c["value"] is not None]
    seen = set()
    for c in cells:
        assert float(c["value"]) == boards[c["board"]][c["model"]][c["col"]]
        seen.add((c["board"], c["model"], c["col"]))
    numeric = {(s, m, k) for s, b in boards.items() for m, r in b.items() for k, v in r.items() if isinstance(v, float)}
    assert seen == numeric
    # the displayed text is a rounding of the exact value
    shown = {(c["board"], c["model"], c["col"]): c["text"] for c in page.cells}
    assert shown[("4x", "Upscale4x MSE", "PSNR-Y")] == "25.99" and shown[("4x", "bicubic", "PSNR-Y")] == "24.12"
    assert shown[("4x", "Upscale4x MSE", "SSIM-Y")] == "0.7012" and shown[("2x", "bicubic", "LPIPS")] == "0.2000"
    assert shown[("4x", "WGAN-GP", "LPIPS")] == "unavailable offline"
    assert CONVENTION in text and "from <a href='#nb-11_upscale_your_own'>" in text


def test_leaderboard_sorted_by_psnr_with_bicubic_and_best_highlighted(built):
    _, _, page, text = built
    psnr = [c for c in page.cells if c["col"] == "PSNR-Y"]
    assert [c["model"] for c in psnr if c["board"] == "4x"] == ["PixelShuffle MSE", "Upscale4x MSE", "bicubic",
                                                                "WGAN-GP"]
    assert [c["model"] for c in psnr if c["board"] == "2x"] == ["Upscale2x MSE", "bicubic"]
    best = {(c["board"], c["model"], c["col"]) for c in page.cells if "best" in c["class"].split()}
    # highest PSNR-Y / SSIM-Y, lowest VGG-dist / LPIPS, per board
    assert best == {("4x", "PixelShuffle MSE", "PSNR-Y"), ("4x", "PixelShuffle MSE", "SSIM-Y"),
                    ("4x", "WGAN-GP", "VGG-dist"), ("4x", "PixelShuffle MSE", "LPIPS"),
                    ("2x", "Upscale2x MSE", "PSNR-Y"), ("2x", "Upscale2x MSE", "SSIM-Y"),
                    ("2x", "Upscale2x MSE", "VGG-dist"), ("2x", "Upscale2x MSE", "LPIPS")}
    assert "<tr class=baseline data-model='bicubic'>" in text
    assert text.index("id='leaderboard'") < text.index("id='nb-01_vgg'")  # the leaderboard comes first


def test_leaderboard_rows_sorting_puts_non_numbers_last():
    rows = report.leaderboard_rows({"a": {"PSNR-Y": 20.0}, "b": {"PSNR-Y": "n/a"}, "c": {"PSNR-Y": 25.0}, "d": {}})
    assert [name for name, _ in rows] == ["c", "a", "b", "d"]


def test_failed_notebook_and_missing_figure_are_marked(built):
    _, _, page, text = built
    section = text[text.index("id='nb-12_broken'"):]
    assert "FAILED: failed in cell 7: ValueError: boom" in section
    toc = text[text.index("id='contents'"):text.index("id='leaderboard'")]
    assert toc.count("FAILED") == 1 and toc.count(">ok<") == 4
    assert "1 failed" in text
    nb02 = text[text.index("id='nb-02_upscale_2x'"):text.index("id='nb-03_upscale_4x'")]
    assert "key figure not_saved.png not found" in nb02 and "<img" not in nb02
    assert "02_upscale_2x/not_saved.png" not in page.imgs


def test_tables_scalars_and_browser_shots(built):
    _, _, _, text = built
    nb01 = text[text.index("id='nb-01_vgg'"):text.index("id='nb-02_upscale_2x'")]
    assert "<h3>distortions</h3>" in nb01 and ">blur<" in nb01 and ">0.01<" in nb01
    assert "loss_ms_native" in nb01 and ">12.5<" in nb01
    shots = text[text.index("id='browser'"):]
    assert "loss weights" in shots and shots.count("after: missing") == 1 and "before: missing" not in shots
    assert "Browser screenshots of its panels: <a href='#browser'>1 below</a>" in nb01  # matched by "01"


def test_unreadable_browser_index_is_named_not_fatal(tmp_path):
    (tmp_path / "browser").mkdir()
    (tmp_path / "browser" / "index.json").write_text("{not json")
    text = report.build_report(tmp_path, []).read_text()
    assert "browser/index.json is not valid JSON" in text


def test_report_without_results_or_extras(tmp_path):
    path = report.build_report(tmp_path, [])
    page = Page()
    page.feed(path.read_text())
    assert page.imgs == [] and "leaderboard" not in page.ids and "browser" not in page.ids


def test_per_scale_convention_goes_under_its_own_table(tmp_path):
    run = tmp_path / "run"
    folder = run / "11_upscale_your_own"
    folder.mkdir(parents=True)
    write_metrics(folder, leaderboard={"4x": BOARD_4X, "2x": BOARD_2X},
                         leaderboard_convention={"2x": "border = 2 px", "4x": "border = 4 px"})
    text = report.build_report(run, [{"name": folder.name, "seconds": 1.0, "status": "ok",
                                      "metrics": read_metrics(folder)}]).read_text()
    assert text.index("<h3>2x</h3>") < text.index("border = 2 px") < text.index("<h3>4x</h3>")
    assert text.index("<h3>4x</h3>") < text.index("border = 4 px")
    assert "{" not in text[text.index("<h3>2x</h3>"):text.index("border = 2 px")]


def test_update_readme_fills_the_claims_block_from_the_run(tmp_path):
    import json as _json

    from helpers.claims import compare

    c = compare("a", "A beats B", measure="PSNR-Y (dB)", subject="A", values=[30.0, 31.0], control="B",
                control_values=[29.0, 29.5])
    run_dir = tmp_path / "20260101-000000"
    run_dir.mkdir()
    (run_dir / "summary.json").write_text(_json.dumps([{"name": "02_upscale_2x", "seconds": 61.0, "status": "ok",
                                                        "metrics": {"profile": "quick", "claims": [c.as_dict()],
                                                                    "machine": {"cpu": "TestCPU",
                                                                                "torch_threads": 2}}}]))
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{report.README_START}\nold numbers 1.23\n{report.README_END}\nrest\n")
    report.update_readme(readme, run_dir)
    text = readme.read_text()
    assert "old numbers" not in text and text.startswith("intro\n") and text.endswith("rest\n")
    assert "| 02 | A beats B" in text and "A 30.5" in text and "B 29.25" in text and "+1.25 ± 0.354" in text
    assert "| 02_upscale_2x | 61 s | ok |" in text and "TestCPU, 2 torch threads" in text
    readme.write_text("no block")
    with pytest.raises(ValueError, match="no <!-- claims:start -->"):
        report.update_readme(readme, run_dir)


def test_update_full_check_writes_the_capped_runs_table_and_refuses_an_uncapped_run(tmp_path):
    import json as _json

    run_dir = tmp_path / "20260101-000000"
    run_dir.mkdir()
    rows = [{"name": "04_wgan_gp_upscaler", "seconds": 93.4, "status": "ok", "peak_rss_mb": 3072.0, "step_cap": 2,
             "metrics": {"profile": "full", "machine": {"cpu": "TestCPU", "torch_threads": 1}}},
            {"name": "05_gan_dcgan", "seconds": 7.0, "status": "failed in cell 3: A|B", "peak_rss_mb": None,
             "step_cap": 2, "metrics": {}}]
    (run_dir / "summary.json").write_text(_json.dumps(rows))
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{report.FULL_CHECK_START}\nold\n{report.FULL_CHECK_END}\nrest\n")
    report.update_full_check(readme, run_dir)
    text = readme.read_text()
    assert "old" not in text and text.startswith("intro\n") and text.endswith("rest\n")
    assert "| 04_wgan_gp_upscaler | ok | 93 s | 3.00 GiB |" in text
    assert "| 05_gan_dcgan | failed in cell 3: A\\|B | 7 s | not measured |" in text
    assert "profile full, every training loop capped at 2 steps; TestCPU, 1 torch threads" in text
    rows[1]["step_cap"] = None
    (run_dir / "summary.json").write_text(_json.dumps(rows))
    with pytest.raises(ValueError, match="not a step-capped run"):
        report.update_full_check(readme, run_dir)


def test_claims_markdown_escapes_pipes_so_every_row_keeps_seven_cells():
    """A measure like ``|1 - HF ratio|`` must not split a README table row."""
    row = {"notebook": "03_upscale_4x", "statement": "nearer HR", "measure": "|1 - HF ratio|", "source": "reference",
           "basis": "the same 3 crops", "kind": "observation", "subject": "a|b", "value": 0.2, "control": "c",
           "control_value": 0.5, "margin": 0.3, "spread": 0.1, "n": 3, "verdict": "holds"}
    line = report.claims_markdown([row]).splitlines()[-1]
    cells = [c for c in line.replace("\\|", "").split("|")][1:-1]
    assert len(cells) == 7, line
    assert "\\|1 - HF ratio\\|" in line and "reference model" in line and "a\\|b 0.2" in line
