"""benchmarks.step_time: both ways of a case draw their batches from the same data path, the data path timed on
its own covers both paths, the course-size perceptual rows exist, and the README's tables are the CSVs'."""
import pytest
import torch

from benchmarks import fill_blocks
from benchmarks import step_time as S

TINY = S.Crops(32, 2, 2)


def case(name: str) -> S.Case:
    return next(c for c in S.cases() if c.name == name)


def test_file_crops_decode_every_crop_and_draw_the_memory_path_s_batches(monkeypatch):
    memory, files = S.crops(TINY), S.FileCrops(TINY)
    decoded, load = [], S.hdata.load_image
    monkeypatch.setattr(S.hdata, "load_image", lambda path: decoded.append(path) or load(path))
    for _ in range(2):
        (lr_m, hr_m), (lr_f, hr_f) = next(memory), next(files)
        assert lr_m.shape == (2, 3, 16, 16) and hr_m.shape == (2, 3, 32, 32)
        assert torch.equal(hr_m, hr_f) and torch.equal(lr_m, lr_f)
    assert len(decoded) == 4  # one PNG read per crop, none from the memory path


@pytest.mark.parametrize("name", ["PixelShuffleUpscaler 2x, MSE", "pix2pix U-Net + PatchGAN",
                                  "CycleGAN 2 ResnetGen + 2 PatchGAN", "DCGAN G + D"])
def test_both_ways_of_a_case_draw_the_same_batches_from_memory(name):
    c = case(name)
    course, project = (c.build(mode).data for mode in S.MODES)
    if c.data is None:
        assert isinstance(course, torch.Tensor) and torch.equal(course, project)
        return
    assert type(course) is type(project) is S.hdata.RandomCrops
    for _ in range(2):
        assert torch.equal(next(course)[1], next(project)[1])
    assert course.size == c.data.size and course.scale == c.data.scale and course.batch_size == c.data.batch
    assert c.setting == f"crop {c.data.size}, batch {c.data.batch}"


def test_a_measured_row_records_both_ways_data_path():
    row = S.measure(case("PixelShuffleUpscaler 2x, MSE"), repeats=1, warmup=0)
    assert row["course_data"] == row["project_data"] == "RandomCrops"
    assert row["course_ms"] > 0 and row["project_ms"] > 0
    assert row["speedup"] == pytest.approx(row["course_ms"] / row["project_ms"])


def test_the_data_path_is_timed_both_ways_once_per_crop_setting():
    def unused(mode: str) -> S.Built:
        raise AssertionError("the data path builds no model")

    cases = [S.Case("a", "00", TINY.setting, unused, TINY), S.Case("b", "00", TINY.setting, unused, TINY),
             S.Case("c", "00", "16x16, batch 4", unused)]
    rows = S.data_paths(cases, repeats=1, warmup=0)
    assert len(rows) == 1
    row = rows[0]
    assert row["setting"] == "crop 32, scale 2, batch 2" and row["cases"] == "a; b"
    assert row["file_ms"] > 0 and row["memory_ms"] > 0 and row["photos"] == len(S.train_photos())
    assert row["ratio"] == pytest.approx(row["file_ms"] / row["memory_ms"])


def test_the_perceptual_loss_is_timed_at_the_quick_and_the_course_sizes():
    perceptual = {(c.data.size // c.data.scale, c.data.size) for c in S.cases() if "perceptual" in c.name}
    assert perceptual == {(32, 64), (16, 64), (64, 128), (64, 256)}  # quick 2x / 4x, course 2x / 4x (LR, HR)
    assert S.perceptual("course").resize == 224 and S.perceptual("project").resize is None


def test_the_step_time_table_flags_rows_whose_ways_drew_differently():
    row = {"model": "m", "notebook": "02", "setting": "crop 64, batch 8", "course_ms": "100", "project_ms": "40",
           "speedup": "2.5", "cpu_speedup": "2.25", "course_gflops": "10.4", "project_gflops": "26",
           "meets_2x": "True", "load1_before": "1.5", "course_data": "RandomCrops", "project_data": "RandomCrops"}
    table = S.step_time_table([row])
    assert table.splitlines()[-1] == ("| m (02) | crop 64, batch 8 | 100.0 | 40.0 | 2.50x | 2.25x | 10 → 26 | yes "
                                      "| 1.50 |")
    assert table.startswith("| model (notebook) |")
    assert S.step_time_table([{**row, "course_data": "FileCrops"}]).startswith("*Measured before")
    old = {k: v for k, v in row.items() if not k.endswith("_data")}
    assert S.step_time_table([old]).startswith("*Measured before")


def test_fill_blocks_replaces_only_between_its_markers():
    text = "a\n<!-- t:start -->\nold\n<!-- t:end -->\nb\n"
    assert fill_blocks(text, {"t": "new"}) == "a\n<!-- t:start -->\nnew\n<!-- t:end -->\nb\n"
    with pytest.raises(ValueError, match="no <!-- u:start -->"):
        fill_blocks(text, {"u": "x"})


def test_the_readme_tables_are_the_ones_the_csvs_make():
    text = S.README.read_text(encoding="utf-8")
    assert fill_blocks(text, S.readme_blocks(S.RESULTS)) == text


def test_the_time_to_quality_tables_are_the_ones_its_csvs_make():
    from benchmarks import time_to_quality as Q

    text = S.README.read_text(encoding="utf-8")
    assert fill_blocks(text, Q.readme_blocks(S.RESULTS)) == text


def test_the_time_to_quality_verdict_lines_count_the_runs_that_reached_the_bar():
    from benchmarks import time_to_quality as Q

    reach = f"CPU-s to bicubic + {Q.MARGIN_DB} dB"
    row = {"scale": "2", "steps": "80", "cpu_s": "64.9", "SSIM-Y": "0.84", "bicubic PSNR-Y": "31.5"}
    rows = [{**row, "run": "course", "PSNR-Y": "28.5", reach: "not reached"},
            {**row, "run": "fast", "PSNR-Y": "33.25", reach: "3.2"}]
    table = Q.quality_table(rows)
    assert "| 2x | fast | 80 | 65 | 33.25 | 0.8400 | 31.50 | 3 |" in table
    assert "| 2x | course | 80 | 65 | 28.50 | 0.8400 | 31.50 | not reached |" in table
    assert "* 2x: 1 of 2 runs beat bicubic + 0.25 dB within the budget (fast); the best, fast, ends +1.75 dB" in table
    same = [{"model": "m", "seed": "0", "way": "fp32 (course)", "steps": "80", "PSNR-Y": "28.3", "SSIM-Y": "0.83",
             "train CPU-s": "64"},
            {"model": "verdict", "mean fp32 - bf16 (dB)": "-0.3", "seed spread (dB)": "0.1", "within noise": "False"}]
    assert Q.same_steps_table(same).endswith("= **-0.30 dB**, the spread between seeds **0.10 dB**: the difference "
                                             "is **outside** the noise.")
