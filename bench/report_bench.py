"""Benchmark of the report on a large study: the time of a score with and without its report.

A study of many strata (model x category x context) used to draw every per-stratum figure:
225 strata drew 1,804 figure files in 315 s against 24 s of scoring (issue 18). The report now
draws the overview figures by default for studies above ``socialbias.report.SMALL_STUDY`` strata
and the per-stratum ones on request (``--figures all``), in worker processes. Goal: a 75-stratum
score with its report takes at most 3x the time of the same score without it.

Synthetic answers (no model, no BBQ files): the items and answerer of ``bench/metrics_bench.py``
(BBQ-like items of Age, Race_ethnicity, Religion, SES and Sexual_orientation, their persona
sets, 5 runs, a mildly biased answerer), scaled down by ``--scale``, for ``--models`` models
(each its own random answers); the first ``--strata`` strata in (model, category, context) order
are kept. Prints the wall and CPU time of ``metrics.score_answers`` alone, then of the same call
followed by ``report.write_report`` (default figures: ``auto``), their ratio, the number of
figure files, and the machine's load average (the times depend on it).

    python bench/report_bench.py                 # 75 strata (8 models x 5 categories x 2 contexts, first 75)
    python bench/report_bench.py --figures all   # every per-stratum figure too, in parallel
    python bench/report_bench.py --small         # 20 strata, tiny items, n_boot=50: a smoke test (CI)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from metrics_bench import synth_answers  # noqa: E402

from socialbias import report as R  # noqa: E402
from socialbias.metrics import score_answers  # noqa: E402


def study(models: int, strata: int, scale: float, seed: int) -> pd.DataFrame:
    """Answers of ``models`` synthetic models, cut to the first ``strata`` strata."""
    frames = []
    for m in range(models):
        a = synth_answers(scale, seed + m)
        a["model"] = f"model-{m:02d}"
        frames.append(a)
    answers = pd.concat(frames, ignore_index=True)
    keys = answers[["model", "category", "context_condition"]].drop_duplicates().sort_values(
        ["model", "category", "context_condition"])
    if strata > len(keys):
        raise SystemExit(f"--strata {strata}: {models} models give only {len(keys)} strata; add --models")
    keep = keys.iloc[:strata]
    return answers.merge(keep, on=["model", "category", "context_condition"])


def timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    value = fn()
    return value, time.perf_counter() - w0, time.process_time() - c0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="20 strata, 1/100 of the items, n_boot=50 (smoke test)")
    ap.add_argument("--models", type=int, default=None, help="models (default 8; --small 2)")
    ap.add_argument("--strata", type=int, default=None, help="strata kept (default 75; --small 20)")
    ap.add_argument("--scale", type=float, default=None, help="item-count scale of metrics_bench's grid (default 0.05)")
    ap.add_argument("--n-boot", type=int, default=None, help="bootstrap replicates (default 1000; --small 50)")
    ap.add_argument("--figures", default="auto", help="the report's figures: auto (default), overview, all, none")
    ap.add_argument("--workers", type=int, default=None, help="figure worker processes (default: the cores)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", metavar="DIR", help="also copy the report into DIR (to look at its figures)")
    args = ap.parse_args(argv)
    models = args.models or (2 if args.small else 8)
    strata = args.strata or (20 if args.small else 75)
    scale = args.scale or (0.01 if args.small else 0.05)
    n_boot = args.n_boot if args.n_boot is not None else (50 if args.small else 1000)

    answers = study(models, strata, scale, args.seed)
    print(f"study: {strata} strata ({models} models), {len(answers):,} answers, n_boot={n_boot}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    res, wall_a, cpu_a = timed(lambda: score_answers(answers, n_boot=n_boot, seed=args.seed))
    print(f"score without report: {wall_a:.1f} s wall, {cpu_a:.1f} s CPU (this process)")

    with tempfile.TemporaryDirectory() as tmp:
        def both():
            r = score_answers(answers, n_boot=n_boot, seed=args.seed)
            return timed(lambda: R.write_report(r, Path(tmp) / "report", figures=args.figures, workers=args.workers))

        (_, wall_r, cpu_r), wall_b, cpu_b = timed(both)
        files = list((Path(tmp) / "report" / "figures").iterdir())
        html_mb = (Path(tmp) / "report" / "report.html").stat().st_size / 2**20
        if args.keep:
            import shutil

            shutil.copytree(Path(tmp) / "report", args.keep, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns(".lock", ".socialbias-output"))
    mode = R.figure_mode(args.figures, strata)
    print(f"score with report (figures={args.figures}: {mode}): {wall_b:.1f} s wall, {cpu_b:.1f} s CPU (this "
          f"process; figure workers not counted); {len(files)} figure files, report.html {html_mb:.1f} MiB")
    print(f"  of which the report: {wall_r:.1f} s wall, {cpu_r:.1f} s CPU (this process)")
    ratio = wall_b / wall_a
    print(f"ratio with/without report: {ratio:.2f} (goal for 75 strata: at most 3)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
