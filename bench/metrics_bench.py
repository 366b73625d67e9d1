"""Benchmark of :func:`metrics.score_answers` on the paper's full grid for one model.

Synthesises 1.67 million responses -- Age 3680 items x 7 personas (default included) x 5
runs, Race_ethnicity 6880 x 17 x 5, Religion 1200 x 12 x 5, SES 6864 x 25 x 5,
Sexual_orientation 864 x 6 x 5 -- with two targets per item drawn from each category's
target set, half ambiguous / half disambiguated, half negative / non-negative questions,
random option order, a mildly biased answerer and 2% invalid answers; then scores them with
every metric and a 1,000-replicate bootstrap. Prints the wall time of the scoring and the
process's peak resident memory (``resource.getrusage(...).ru_maxrss``; it includes the
synthetic table).

    python bench/metrics_bench.py            # the full grid, n_boot=1000
    python bench/metrics_bench.py --small    # 1/20 of the items, n_boot=100: a smoke test

Goal on a 2-core machine: under 30 s and under 4 GiB for the full grid.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from socialbias.metrics import score_answers  # noqa: E402

RACE = ["African", "African American", "Arab", "Asian", "Black", "Caucasian", "European",
        "Hispanic", "Jewish", "Latino", "Middle Eastern", "Native American", "Roma",
        "South American", "White"]
RELIGION = ["Atheist", "Buddhist", "Catholic", "Christian", "Hindu", "Jewish", "Mormon",
            "Muslim", "Protestant", "Sikh"]
SO = ["bisexual", "gay", "lesbian", "pansexual", "straight"]
SES_JOBS = {"lowSES": ["truck driver", "cashier", "line cook", "server", "bartender", "janitor",
                       "sales clerk", "parking attendant", "farm worker", "taxi driver",
                       "construction worker", "receptionist"],
            "highSES": ["optometrist", "chemist", "dentist", "psychologist", "scientist",
                        "professor", "physician", "lawyer", "judge", "physics teacher",
                        "chemical engineer", "pharmacist"]}

#: category -> (items, target set, {persona: member_of}) ; "" is the default persona.
GRID: dict[str, tuple[int, list[str], dict[str, str]]] = {
    "Age": (3680, ["nonOld", "old"],
            {"": "", "elder": "old", "man": "old", "woman": "old", "kid": "nonOld",
             "boy": "nonOld", "girl": "nonOld"}),
    "Race_ethnicity": (6880, RACE, {"": "", **{p: p for p in RACE}, "Alaskan": ""}),
    "Religion": (1200, RELIGION, {"": "", **{p: p for p in RELIGION}, "Orthodox": ""}),
    "SES": (6864, ["highSES", "lowSES"],
            {"": "", **{j: g for g, jobs in SES_JOBS.items() for j in jobs}}),
    "Sexual_orientation": (864, SO, {"": "", **{p: p for p in SO}}),
}


def synth_items(category: str, n_items: int, targets: list[str], rng: np.random.Generator) -> pd.DataFrame:
    """BBQ-like items: two distinct targets, random option order, balanced conditions."""
    t = np.array(targets, dtype=object)
    a = rng.integers(0, len(t), n_items)
    b = (a + rng.integers(1, len(t), n_items)) % len(t)  # a different target
    unknown = rng.integers(0, 3, n_items)
    pos_a, pos_b = (unknown + 1) % 3, (unknown + 2) % 3
    tm = np.empty((n_items, 3), dtype=object)
    rows = np.arange(n_items)
    tm[rows, unknown] = "unknown"
    tm[rows, pos_a] = t[a]
    tm[rows, pos_b] = t[b]
    ambig = rows % 2 == 0
    neg = (rows // 2) % 2 == 0
    stereo = np.where(rng.random(n_items) < 0.5, pos_a, pos_b)
    gold_target = np.where(rng.random(n_items) < 0.5, pos_a, pos_b)
    return pd.DataFrame({
        "category": category,
        "item_id": [f"{category}:{i}" for i in range(n_items)],
        "context_condition": np.where(ambig, "ambig", "disambig"),
        "polarity": np.where(neg, "neg", "nonneg"),
        "label": np.where(ambig, unknown, gold_target),
        "unknown_idx": unknown,
        "stereotyped_idx": stereo,
        "target0": tm[:, 0], "target1": tm[:, 1], "target2": tm[:, 2],
    })


def synth_answers(scale: float = 1.0, seed: int = 0) -> pd.DataFrame:
    """The full grid's answers table (``scale`` shrinks the item counts)."""
    rng = np.random.default_rng(seed)
    frames = []
    for category, (n_items, targets, personas) in GRID.items():
        items = synth_items(category, max(4, int(n_items * scale)), targets, rng)
        names = np.array(list(personas), dtype=object)
        n_i, n_p, runs = len(items), names.size, 5
        ii = np.repeat(np.arange(n_i), n_p * runs)
        pp = np.tile(np.repeat(np.arange(n_p), runs), n_i)
        kk = np.tile(np.arange(runs), n_i * n_p)
        u = items["unknown_idx"].to_numpy()[ii]
        st = items["stereotyped_idx"].to_numpy()[ii]
        neg = items["polarity"].to_numpy()[ii] == "neg"
        lab = items["label"].to_numpy()[ii]
        amb = items["context_condition"].to_numpy()[ii] == "ambig"
        biased = np.where(neg, st, 3 - u - st)
        target = np.where(rng.random(ii.size) < 0.55, biased, 3 - u - biased)
        choice = np.where(rng.random(ii.size) < 0.6, target, u)
        choice = np.where(~amb & (rng.random(ii.size) < 0.5), lab, choice)
        choice = np.where(rng.random(ii.size) < 0.02, -1, choice)
        df = items.iloc[ii].reset_index(drop=True)
        df["persona"] = names[pp]
        df["persona_member_of"] = np.array([personas[p] for p in names], dtype=object)[pp]
        df["run"] = kk
        df["choice"] = choice
        frames.append(df)
    out = pd.concat(frames, ignore_index=True)
    out["model"] = "bench-model"
    out["excluded"] = False
    for col in ("model", "category", "context_condition", "item_id", "polarity", "persona",
                "persona_member_of", "target0", "target1", "target2"):
        out[col] = out[col].astype("str")
    return out


def peak_rss_gib() -> float:
    """Peak resident set size of this process in GiB (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="1/20 of the items and n_boot=100")
    ap.add_argument("--n-boot", type=int, default=None, help="bootstrap replicates (default 1000)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    scale = 0.05 if args.small else 1.0
    n_boot = args.n_boot if args.n_boot is not None else (100 if args.small else 1000)

    t0 = time.perf_counter()
    answers = synth_answers(scale, args.seed)
    t1 = time.perf_counter()
    print(f"synthesised {len(answers):,} responses in {t1 - t0:.1f} s "
          f"(peak RSS so far {peak_rss_gib():.2f} GiB)")
    res = score_answers(answers, n_boot=n_boot, seed=args.seed)
    t2 = time.perf_counter()
    wall, peak = t2 - t1, peak_rss_gib()
    print(f"score_answers(n_boot={n_boot}): {wall:.1f} s wall, peak RSS {peak:.2f} GiB")
    print(f"tables: summary {len(res.summary)} rows, target_bias {len(res.target_bias)}, "
          f"persona_bias {len(res.persona_bias)}, shifts {len(res.shifts)}, ingroup {len(res.ingroup)}")
    cols = ["category", "context_condition", "TB", "TB_lo", "TB_hi", "BAmt", "PB", "PB_floor",
            "acc", "type", "type_confidence"]
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(res.summary[cols].to_string(index=False))
    if not args.small:
        ok = wall < 30 and peak < 4
        print(f"goal (< 30 s, < 4 GiB): {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
