"""Time-to-quality: held-out PSNR-Y against training CPU-seconds, the course's architecture and the efficient one.

    python -m benchmarks.time_to_quality [--budget 60] [--same-steps 80] [--seeds 0,1] [--scales 2,4]

Part 1, per scale (2x, 4x), at the ``quick`` profile's crops (64, batch 8) and held-out crops (192 / 256) of
notebooks 02 / 03 (evaluated every 10 steps, budget checked every 20), MSE loss, Adam 1e-3, trained with
:func:`helpers.train.train_for_cpu_budget` for ``--budget`` training CPU-seconds each (process time, evaluations
excluded):

* the course's architecture (``Upscale2x`` / ``Upscale4x``) in fp32 (``use_amp=False``; note that
  :func:`helpers.train.train_upscaler` always uses ``channels_last``),
* the same architecture with bf16 autocast (this project's setting),
* ``PixelShuffleUpscaler`` (computes at LR size) with bf16 autocast.

"CPU-s to bicubic + 0.25 dB" is the training CPU time at the first evaluation at which a run's held-out PSNR-Y
beats bicubic interpolation by 0.25 dB ("not reached" within the budget otherwise).
Plots: :func:`helpers.plots.plot_psnr_per_cpu_second`. ``--summarize-only`` rebuilds the summary from
``time_to_quality.csv`` without training.

Part 2, the quality bar: the course's ``Upscale2x`` trained for the same number of steps (``--same-steps``,
notebook 02's quick profile: 80) on the same crops in fp32 and in bf16, for every seed in ``--seeds``; the
difference fp32 - bf16 is compared with the spread between seeds (the noise).

Writes ``results/time_to_quality.csv`` (every evaluation), ``results/time_to_quality_summary.csv``,
``results/time_to_quality_{2x,4x}.png`` and ``results/same_steps.csv``, then rewrites ``benchmarks/README.md``'s
``time_to_quality`` and ``same_steps`` tables from them (``--readme``: only that, measuring nothing).
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

import helpers  # noqa: E402
from benchmarks import README, RESULTS, fill_blocks, machine_info, markdown_table, read_csv, write_csv  # noqa: E402
from helpers.evaluation import bicubic_baseline, evaluate  # noqa: E402
from helpers.losses import SRLoss  # noqa: E402
from helpers.models.upscalers import PixelShuffleUpscaler, Upscale2x, Upscale4x  # noqa: E402
from helpers.plots import plot_psnr_per_cpu_second  # noqa: E402
from helpers.train import train_fixed_steps, train_for_cpu_budget  # noqa: E402

CROP, BATCH, EVAL_EVERY = 64, 8, 10
VAL_CROP = {2: 192, 4: 256}
COURSE = {2: Upscale2x, 4: Upscale4x}


def crop_stream(scale: int, seed: int) -> helpers.RandomCrops:
    return helpers.RandomCrops(helpers.sample_images("train"), CROP, scale, BATCH,
                               generator=torch.Generator().manual_seed(seed))


def runs_for(scale: int) -> dict[str, tuple[type | object, bool]]:
    return {f"{COURSE[scale].__name__}, fp32 (course)": (COURSE[scale], False),
            f"{COURSE[scale].__name__}, bf16": (COURSE[scale], True),
            f"PixelShuffleUpscaler({scale}), bf16": (lambda s=scale: PixelShuffleUpscaler(s), True)}


MARGIN_DB = 0.25  # "quality": held-out PSNR-Y at least this much above bicubic


def summarize(evals: list[dict]) -> list[dict]:
    """One row per run from its evaluations (``time_to_quality.csv`` rows, in order): steps, CPU-s and metrics at
    the end, and the training CPU-s at the first evaluation with PSNR-Y >= bicubic + ``MARGIN_DB``."""
    runs: dict[tuple, list[dict]] = {}
    for e in evals:
        runs.setdefault((int(e["scale"]), e["run"]), []).append(e)
    summary = []
    for (scale, name), rows in runs.items():
        last, target = rows[-1], float(rows[0]["bicubic PSNR-Y"]) + MARGIN_DB
        reach = next((float(r["cpu_s"]) for r in rows if float(r["PSNR-Y"]) >= target), None)
        summary.append({"scale": scale, "run": name, "steps": int(last["step"]), "cpu_s": float(last["cpu_s"]),
                        "wall_s": float(last["train_s"]), "PSNR-Y": float(last["PSNR-Y"]),
                        "SSIM-Y": float(last["SSIM-Y"]), "bicubic PSNR-Y": float(rows[0]["bicubic PSNR-Y"]),
                        f"CPU-s to bicubic + {MARGIN_DB} dB": reach if reach is not None else "not reached",
                        "load1_end": last.get("load1_end", "")})
    return summary


def time_to_quality(scale: int, budget: float, seed: int, out: Path) -> tuple[list[dict], list[dict]]:
    val_lr, val_hr = helpers.validation_pairs(helpers.sample_images("val"), VAL_CROP[scale], scale)
    base, _ = bicubic_baseline(val_lr, val_hr, scale)
    histories: dict[str, helpers.History] = {}
    for name, (make, use_amp) in runs_for(scale).items():
        torch.manual_seed(seed)
        t0 = time.perf_counter()
        _, hist = train_for_cpu_budget(make(), SRLoss(pixel=1.0), crop_stream(scale, seed), budget,
                                       chunk=2 * EVAL_EVERY, max_steps=5000, val=(val_lr, val_hr), scale=scale,
                                       eval_every=EVAL_EVERY, use_amp=use_amp, desc=name)
        histories[name] = hist
        print(f"{scale}x {name:<34} {int(hist.last('step')):5d} steps, {hist.last('cpu_s'):6.1f} CPU-s, "
              f"PSNR-Y {hist.last('PSNR-Y'):.3f} dB (bicubic {base['PSNR-Y']:.3f}); "
              f"{time.perf_counter() - t0:.0f} s wall",
              flush=True)
    title = f"{scale}x, MSE, crops {CROP} batch {BATCH}: held-out PSNR-Y per training CPU-second"
    fig = plot_psnr_per_cpu_second(histories, base["PSNR-Y"], title)
    helpers.save_figure(fig, out, f"time_to_quality_{scale}x")
    plt.close(fig)
    evals = []
    load = round(os.getloadavg()[0], 2)
    for name, hist in histories.items():
        steps, psnrs = hist.series("PSNR-Y")
        for step, cpu, wall, p, s in zip(steps, hist.series("cpu_s")[1], hist.series("train_s")[1], psnrs,
                                         hist.series("SSIM-Y")[1]):
            evals.append({"scale": scale, "run": name, "step": int(step), "cpu_s": cpu, "train_s": wall,
                          "PSNR-Y": p, "SSIM-Y": s, "bicubic PSNR-Y": base["PSNR-Y"], "load1_end": load})
    summary = summarize(evals)
    return evals, summary


def same_steps(steps: int, seeds: list[int]) -> list[dict]:
    val_lr, val_hr = helpers.validation_pairs(helpers.sample_images("val"), VAL_CROP[2], 2)
    rows = []
    for seed in seeds:
        for label, use_amp in (("fp32 (course)", False), ("bf16 + channels_last (project)", True)):
            c0 = time.process_time()
            model, hist, _ = train_fixed_steps(Upscale2x(), SRLoss(pixel=1.0), crop_stream(2, seed), steps, seed=seed,
                                               use_amp=use_amp, desc=f"same steps {label} seed {seed}")
            cpu_s = time.process_time() - c0
            row, _ = evaluate(model, val_lr, val_hr, 2, use_amp=False)  # scored in fp32 either way
            rows.append({"model": "Upscale2x, MSE", "seed": seed, "way": label, "steps": steps,
                         "PSNR-Y": row["PSNR-Y"], "SSIM-Y": row["SSIM-Y"], "train CPU-s": cpu_s,
                         "load1": round(os.getloadavg()[0], 2)})
            print(f"same steps: seed {seed} {label:<32} PSNR-Y {row['PSNR-Y']:.3f} dB", flush=True)
    return rows


def verdict(rows: list[dict]) -> dict[str, float | bool]:
    """Mean fp32 - bf16 PSNR-Y difference over seeds against the seed-to-seed spread of either way."""
    by = {(r["seed"], r["way"].split()[0]): r["PSNR-Y"] for r in rows}
    seeds = sorted({r["seed"] for r in rows})
    diffs = [by[(s, "fp32")] - by[(s, "bf16")] for s in seeds]
    spread = max(max(by[(s, w)] for s in seeds) - min(by[(s, w)] for s in seeds) for w in ("fp32", "bf16"))
    mean_diff = statistics.mean(diffs)
    return {"mean fp32 - bf16 (dB)": mean_diff, "seed spread (dB)": spread,
            "within noise": abs(mean_diff) <= max(spread, 0.05)}


def _num(value: str, fmt: str) -> str:
    """A CSV cell as ``fmt`` when it is a number, as it stands otherwise ("not reached")."""
    try:
        return format(float(value), fmt)
    except ValueError:
        return value


def quality_table(rows: list[dict[str, str]]) -> str:
    """``time_to_quality_summary.csv`` as the README's table, each scale's verdict below it: the runs that beat
    bicubic + :data:`MARGIN_DB` within the budget and by how much the best one ends above bicubic."""
    reach = f"CPU-s to bicubic + {MARGIN_DB} dB"
    table = markdown_table(
        [("scale", "l"), ("run", "l"), ("steps", "r"), ("train CPU-s", "r"), ("held-out PSNR-Y (dB)", "r"),
         ("SSIM-Y", "r"), ("bicubic", "r"), (reach, "r")],
        [[f"{r['scale']}x", r["run"], r["steps"], _num(r["cpu_s"], ".0f"), _num(r["PSNR-Y"], ".2f"),
          _num(r["SSIM-Y"], ".4f"), _num(r["bicubic PSNR-Y"], ".2f"), _num(r[reach], ".0f")] for r in rows])
    lines = []
    for scale in dict.fromkeys(r["scale"] for r in rows):
        runs = [r for r in rows if r["scale"] == scale]
        best = max(runs, key=lambda r: float(r["PSNR-Y"]))
        reached = [r["run"] for r in runs if r[reach] != "not reached"]
        lines.append(f"* {scale}x: {len(reached)} of {len(runs)} runs beat bicubic + {MARGIN_DB} dB within the "
                     f"budget ({', '.join(reached) or 'none'}); the best, {best['run']}, ends "
                     f"{float(best['PSNR-Y']) - float(best['bicubic PSNR-Y']):+.2f} dB from bicubic after "
                     f"{float(best['cpu_s']):.0f} CPU-s.")
    return table + "\n\n" + "\n".join(lines)


def same_steps_table(rows: list[dict[str, str]]) -> str:
    """``same_steps.csv`` as the README's table, with its verdict row as a sentence below it."""
    runs = [r for r in rows if r["model"] != "verdict"]
    verdict_row = next(r for r in rows if r["model"] == "verdict")
    table = markdown_table(
        [("seed", "l"), ("way", "l"), ("steps", "r"), ("PSNR-Y", "r"), ("SSIM-Y", "r"), ("train CPU-s", "r")],
        [[r["seed"], r["way"], r["steps"], _num(r["PSNR-Y"], ".3f"), _num(r["SSIM-Y"], ".4f"),
          _num(r["train CPU-s"], ".0f")] for r in runs])
    within = verdict_row["within noise"] == "True"
    return (f"{table}\n\nMean fp32 − bf16 = **{float(verdict_row['mean fp32 - bf16 (dB)']):+.2f} dB**, the spread "
            f"between seeds **{float(verdict_row['seed spread (dB)']):.2f} dB**: the difference is "
            f"{'within' if within else '**outside**'} the noise.")


def readme_blocks(out: Path) -> dict[str, str]:
    """The README's blocks this benchmark writes, by marker name, from the CSVs in ``out``."""
    tables = {"time_to_quality": ("time_to_quality_summary.csv", quality_table),
              "same_steps": ("same_steps.csv", same_steps_table)}
    return {name: make(read_csv(out / csv_name)) if (out / csv_name).is_file()
            else f"*Not measured yet: `python -m benchmarks.time_to_quality` writes `{csv_name}`.*"
            for name, (csv_name, make) in tables.items()}


def update_readme(out: Path, readme: Path = README) -> None:
    """Rewrite ``readme``'s time-to-quality and same-steps blocks from the CSVs in ``out``."""
    readme.write_text(fill_blocks(readme.read_text(encoding="utf-8"), readme_blocks(out)), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=float, default=60.0, help="training CPU-seconds per run")
    parser.add_argument("--same-steps", type=int, default=80, help="0 skips part 2")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--scales", default="2,4")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--summarize-only", action="store_true", help="rebuild the summary CSV from the evaluations")
    parser.add_argument("--readme", action="store_true",
                        help="measure nothing: rewrite README.md's tables from the CSVs in --out")
    args = parser.parse_args(argv)
    os.environ.setdefault("SRGAN_NO_BARS", "1")
    out = Path(args.out)
    if args.readme:
        update_readme(out)
        print(f"rewrote the time-to-quality tables of {README} from {out}")
        return 0
    out.mkdir(parents=True, exist_ok=True)
    if args.summarize_only:
        old = {(r["scale"], r["run"]): r for r in read_csv(out / "time_to_quality_summary.csv")}
        evals = read_csv(out / "time_to_quality.csv")
        for e in evals:  # files written before the column existed: take bicubic / load from the old summary
            for key in ("bicubic PSNR-Y", "load1_end"):
                if not e.get(key):
                    e[key] = old[(e["scale"], e["run"])][key]
        summary = summarize(evals)
        for row in summary:  # keep the machine columns of the run that made the evaluations
            row.update({k: old.get((str(row["scale"]), row["run"]), {}).get(k, "") for k in ("cpu", "torch",
                                                                                            "torch_threads")})
        write_csv(out / "time_to_quality_summary.csv", summary)
        print(f"rebuilt {out / 'time_to_quality_summary.csv'}")
        return 0
    info = machine_info()
    print("machine:", info)
    evals, summary = [], []
    for scale in [int(s) for s in args.scales.split(",") if s.strip()]:
        e, s = time_to_quality(scale, args.budget, 0, out)
        evals += e
        summary += s
    if summary:
        for row in summary:
            row.update({k: info[k] for k in ("cpu", "torch", "torch_threads")})
        write_csv(out / "time_to_quality.csv", evals)
        write_csv(out / "time_to_quality_summary.csv", summary)
    if args.same_steps:
        rows = same_steps(args.same_steps, [int(s) for s in args.seeds.split(",")])
        v = verdict(rows)
        rows.append({"model": "verdict", **v})
        write_csv(out / "same_steps.csv", rows)
        print("same steps verdict:", v)
    print(f"wrote results to {out}")
    if out.resolve() == RESULTS and summary and args.same_steps:
        update_readme(out)
        print(f"rewrote the time-to-quality tables of {README}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
