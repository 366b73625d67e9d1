"""``score --instrument ID|FILE ANSWERS.jsonl``: the political scoring front door.

Writes into ``--out`` (staged, only into a directory socialbias owns, see :mod:`socialbias.outdir`):
``summary.csv`` (:data:`~.answers.SUMMARY_COLUMNS`, plus ``persona`` when the answers have
personas, ``n_answers`` and ``n_missing_items``), ``baselines.csv`` (the random answerer's exact
mean and sd and Monte Carlo region per axis, and each constant answerer's scores) and
``score.json`` (settings and counts).
"""

from __future__ import annotations

import json
import warnings

import pandas as pd

from .answers import read_answers, summarise
from .baselines import constant_answerers, random_baseline
from .instrument import load_instrument


def baselines_table(inst, baseline) -> pd.DataFrame:
    """Random answerer (mean, sd, lo, hi) and constant answerers, one row per answerer and axis."""
    rows = [{"answerer": "random", "axis": a, "score": v["mean"], "sd": v["sd"], "lo": v["lo"], "hi": v["hi"]}
            for a, v in baseline.as_dict().items()]
    for name, scores in constant_answerers(inst).items():
        rows += [{"answerer": name, "axis": a, "score": s} for a, s in scores.items()]
    return pd.DataFrame(rows)


def score_instrument(instrument: str, path: str, out: str, missing: str = "skip", n_boot: int = 1000,
                     ci: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Read, score and write; returns the summary table. Everything is validated before writing."""
    from ...files import staged
    from ...outdir import check_output_dir

    check_output_dir(out)
    inst = load_instrument(instrument)
    answers = read_answers(path, inst)
    baseline = random_baseline(inst, level=ci, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = summarise(answers, inst, missing=missing, n_boot=n_boot, ci=ci, seed=seed, baseline=baseline)
    meta = {"command": "score", "instrument": inst.id, "instrument_name": inst.name, "licence": inst.licence,
            "answers": str(path), "missing": missing, "n_boot": n_boot, "ci": ci, "seed": seed,
            "n_answers": int(len(answers)), "n_invalid": int((answers["choice"] < 0).sum()),
            "models": sorted(answers["model"].unique())}
    with staged(out, prefix="scoring", command="score") as staging:
        summary.to_csv(staging / "summary.csv", index=False)
        baselines_table(inst, baseline).to_csv(staging / "baselines.csv", index=False)
        (staging / "score.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    return summary
