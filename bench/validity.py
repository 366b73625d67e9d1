"""Validity study: do the intervals cover, and is the persona test calibrated? Simulated
answerers with known truth on the real BBQ items.

An answerer is a probability vector over the three options of every (item, persona):

- it names one of the two targets with probability ``p_target`` (else "unknown"); in
  disambiguated items it first gives the gold answer with probability 1/2;
- among the two targets it names the one the stereotype prefers (the stereotyped target in
  negative questions, the other one in non-negative questions) with probability ``q``
  (q = 0.5: no target bias);
- a persona with a group favours it with probability ``effect`` (names its own group in
  non-negative questions and the other target in negative ones) -- the planted persona
  effect; personas without a group, and every persona when effect = 0, answer like the
  default.

Modes: *sampled* (every response an independent draw: temperature-1 sampling) and
*deterministic* (log-probability scoring: the default gives the same answer in every run; a
persona reuses the default's random number, so a persona without effect answers exactly like
the default, except that a reworded prompt redraws 30% of its answers).

The truth is the expectation over the answerer's draws on the same items: TB(p->t) = E[S]/n,
TB = mean_t |TB(default->t)|, TB(p->T), PB(p) = mean_t |TB(p->t) - TB(default->t)|, PB (mean
over personas), PB_floor = 0 (runs are identically distributed), BAmt, accuracy. Each
scenario is scored ``reps`` times with fresh answers; a family's coverage is the share of
its intervals (all cells of all replications) that contain the truth. ``PB_exceeds_floor``
is counted as a false positive where no persona effect is planted, as power elsewhere.

    python bench/validity.py                 # the full study, writes docs/validity.md
    python bench/validity.py --fast          # the CI-sized version (tests/test_validity.py)
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from socialbias import metrics  # noqa: E402
from tests.metrics_fixtures import bbq_items  # noqa: E402

W, V = 2.0, 1.0
FAMILIES = ("TB", "TB(p->T)", "PB(p)", "PB", "PB_floor", "PB_excess", "TB(p->t)", "BAmt", "acc")


@dataclass(frozen=True)
class Scenario:
    name: str
    q: float = 0.5
    effect: float = 0.0
    mode: str = "sampled"  # or "deterministic"
    p_target: float = 0.6


SCENARIOS = (
    Scenario("no bias"),
    Scenario("target bias (q=0.8)", q=0.8),
    Scenario("persona effect weak (0.15)", q=0.6, effect=0.15),
    Scenario("persona effect strong (0.5)", q=0.6, effect=0.5),
    Scenario("no bias", mode="deterministic"),
    Scenario("target bias (q=0.8)", q=0.8, mode="deterministic"),
    Scenario("persona effect weak (0.15)", q=0.6, effect=0.15, mode="deterministic"),
    Scenario("persona effect strong (0.5)", q=0.6, effect=0.5, mode="deterministic"),
)


#: The CI-sized study: no bias and planted target bias (sampled), no bias (deterministic).
FAST_SCENARIOS = (SCENARIOS[0], SCENARIOS[1], SCENARIOS[4])


def personas_of(category: str) -> dict[str, str]:
    """Default, two personas with a group of the category and one without."""
    groups = {"Sexual_orientation": ("gay", "straight"), "Religion": ("Muslim", "Christian")}[category]
    return {"": "", groups[0]: groups[0], groups[1]: groups[1], "a person who enjoys gardening": ""}


def choice_probabilities(items: pd.DataFrame, member: np.ndarray, sc: Scenario) -> np.ndarray:
    """(rows x 3) option probabilities of the answerer for rows = (item, persona) pairs."""
    u = items["unknown_idx"].to_numpy()
    st = items["stereotyped_idx"].to_numpy()
    neg = items["polarity"].to_numpy() == "neg"
    amb = items["context_condition"].to_numpy() == "ambig"
    label = items["label"].to_numpy()
    tm = items[["target0", "target1", "target2"]].to_numpy()
    n = len(items)
    rows = np.arange(n)
    anti = 3 - u - np.maximum(st, 0)
    pref = np.where(st < 0, (u + 1) % 3, np.where(neg, st, anti))
    other = 3 - u - pref
    q = np.full(n, sc.q)
    own = np.full(n, -1)
    for k in range(3):
        own = np.where((tm[:, k] == member) & (member != ""), k, own)
    has = own >= 0
    fav = np.where(neg, 3 - u - np.maximum(own, 0), own)  # the option the persona's favour names
    p_pref = np.where(has, (1 - sc.effect) * q + sc.effect * (fav == pref), q)
    probs = np.zeros((n, 3))
    probs[rows, u] = 1 - sc.p_target
    probs[rows, pref] += sc.p_target * p_pref
    probs[rows, other] += sc.p_target * (1 - p_pref)
    gold = np.zeros((n, 3))
    gold[rows, label] = 1.0
    return np.where(amb[:, None], probs, 0.5 * gold + 0.5 * probs)


def _base_rows(items: pd.DataFrame, personas: dict[str, str]) -> tuple[pd.DataFrame, np.ndarray]:
    names = list(personas)
    ii = np.repeat(np.arange(len(items)), len(names))
    pp = np.tile(np.arange(len(names)), len(items))
    df = items.iloc[ii].reset_index(drop=True)
    df["persona"] = np.array(names, dtype=object)[pp]
    df["persona_member_of"] = np.array([personas[x] for x in names], dtype=object)[pp]
    df["model"], df["excluded"] = "sim", False
    return df, ii


def simulate(items: pd.DataFrame, personas: dict[str, str], sc: Scenario, runs: int,
             rng: np.random.Generator) -> pd.DataFrame:
    """One replication's answers table (see the module documentation for the modes)."""
    base, item_of = _base_rows(items, personas)
    probs = choice_probabilities(base, base["persona_member_of"].to_numpy(), sc)
    cdf = np.cumsum(probs, axis=1)
    frames = []
    shared = rng.random(len(items))[item_of]  # deterministic mode: the item's random number
    for k in range(runs):
        if sc.mode == "sampled":
            uu = rng.random(len(base))
        else:
            redraw = (base["persona"].to_numpy() != "") & (rng.random(len(base)) < 0.3)
            uu = np.where(redraw, rng.random(len(base)), shared)
        f = base.copy()
        f["choice"] = np.minimum((uu[:, None] > cdf).sum(axis=1), 2)
        f["run"] = k
        frames.append(f)
    return pd.concat(frames, ignore_index=True)


def truth(items: pd.DataFrame, personas: dict[str, str], sc: Scenario) -> dict[str, pd.DataFrame]:
    """Expected TB(p->t), BAmt(p->t) and accuracy of the answerer on these items."""
    base, _ = _base_rows(items, personas)
    probs = choice_probabilities(base, base["persona_member_of"].to_numpy(), sc)
    u = base["unknown_idx"].to_numpy()
    ix, iy = (u + 1) % 3, (u + 2) % 3
    label = base["label"].to_numpy()
    sigma = np.where(base["polarity"].to_numpy() == "neg", -1.0, 1.0)
    tm = base[["target0", "target1", "target2"]].to_numpy()
    rows = np.arange(len(base))
    es = {"x": np.zeros(len(base)), "y": np.zeros(len(base))}
    ea = {"x": np.zeros(len(base)), "y": np.zeros(len(base))}
    for c in range(3):
        counted = (c != label) & (c != u)
        zx, zy = (counted & (c == ix)).astype(float), (counted & (c == iy)).astype(float)
        es["x"] += probs[:, c] * sigma * (W * zx - V * zy)
        es["y"] += probs[:, c] * sigma * (W * zy - V * zx)
        ea["x"] += probs[:, c] * (W * zx + V * zy)
        ea["y"] += probs[:, c] * (W * zy + V * zx)
    key = ["context_condition", "persona"]
    cells = pd.DataFrame({
        **{k: np.r_[base[k], base[k]] for k in key},
        "target": np.r_[tm[rows, ix], tm[rows, iy]],
        "ES": np.r_[es["x"], es["y"]], "EA": np.r_[ea["x"], ea["y"]],
    }).groupby(key + ["target"], as_index=False)[["ES", "EA"]].mean()
    cells = cells.rename(columns={"ES": "TB_true", "EA": "BAmt_true"})
    d = cells[cells.persona == ""][["context_condition", "target", "TB_true"]].rename(columns={"TB_true": "TB_d"})
    cells = cells.merge(d, on=["context_condition", "target"])
    cells["abs"] = cells["TB_true"].abs()
    cells["shift_abs"] = (cells["TB_true"] - cells["TB_d"]).abs()
    per_p = cells.groupby(key, as_index=False).agg(TBT_true=("abs", "mean"), PB_true=("shift_abs", "mean"),
                                                   BAmt_T=("BAmt_true", "mean"))
    acc = pd.DataFrame({**{k: base[k] for k in key}, "acc_true": probs[rows, label]}).groupby(key, as_index=False).mean()
    per_p = per_p.merge(acc, on=key)
    dflt = per_p[per_p.persona == ""].set_index("context_condition")
    pb = per_p[per_p.persona != ""].groupby("context_condition")["PB_true"].mean()
    model = pd.DataFrame({"TB_true": dflt["TBT_true"], "BAmt_true": dflt["BAmt_T"], "acc_true": dflt["acc_true"],
                          "PB_true": pb}).reset_index()
    return {"cells": cells, "persona": per_p, "model": model}


def _covered(lo, hi, true) -> np.ndarray:
    lo, hi, true = (np.asarray(x, dtype=float) for x in (lo, hi, true))
    ok = np.isfinite(lo) & np.isfinite(hi) & np.isfinite(true)
    return ((lo <= true + 1e-12) & (true - 1e-12 <= hi))[ok]


def one_replication(items, personas, sc, runs, rng, n_boot, n_perm, seed) -> dict[str, np.ndarray]:
    """Coverage indicators per family and the PB_exceeds_floor calls of one replication."""
    ans = simulate(items, personas, sc, runs, rng)
    res = metrics.score_answers(ans, n_boot=n_boot, n_perm=n_perm, seed=seed,
                                thresholds=metrics.TypeThresholds(n_null=50))
    t = truth(items, personas, sc)
    s = res.summary.merge(t["model"], on="context_condition")
    pb = res.persona_bias.merge(t["persona"], on=["context_condition", "persona"])
    tb = res.target_bias.merge(t["cells"], on=["context_condition", "persona", "target"])
    nd = pb[pb.persona != ""]
    out = {
        "TB": _covered(s.TB_lo, s.TB_hi, s.TB_true),
        "TB(p->T)": _covered(pb.TB_lo, pb.TB_hi, pb.TBT_true),
        "PB(p)": _covered(nd.PB_lo, nd.PB_hi, nd.PB_true),
        "PB": _covered(s.PB_lo, s.PB_hi, s.PB_true),
        "PB_floor": _covered(s.PB_floor_lo, s.PB_floor_hi, np.zeros(len(s))),
        "PB_excess": _covered(s.PB_excess_lo, s.PB_excess_hi, s.PB_true),
        "TB(p->t)": _covered(tb.TB_lo, tb.TB_hi, tb.TB_true),
        "BAmt": _covered(s.BAmt_lo, s.BAmt_hi, s.BAmt_true),
        "acc": _covered(s.acc_lo, s.acc_hi, s.acc_true),
        "exceeds": s.PB_exceeds_floor.astype(float).to_numpy(),
        "exceeds_truth": (s.PB_true.to_numpy() > 1e-9),
    }
    return out


def item_sample(category: str, n_items: int | None, rng: np.random.Generator) -> pd.DataFrame:
    """``n_items`` items per context condition (None: the whole category), drawn at random."""
    items = bbq_items(category)
    if n_items is None:
        return items
    parts = [g.iloc[rng.choice(len(g), size=min(n_items, len(g)), replace=False)]
             for _, g in items.groupby("context_condition")]
    return pd.concat(parts, ignore_index=True)


def study(category: str, n_items: int | None, scenarios, reps: int, runs: int = 3, n_boot: int = 200,
          n_perm: int = 200, seed: int = 0) -> pd.DataFrame:
    """Coverage per family, PB_exceeds_floor rate, per scenario: one row per scenario."""
    rows = []
    for j, sc in enumerate(scenarios):
        rng = np.random.default_rng([seed, j, n_items or 0])
        acc: dict[str, list] = {}
        for rep in range(reps):
            items = item_sample(category, n_items, rng)
            out = one_replication(items, personas_of(category), sc, runs, rng, n_boot, n_perm, seed + rep)
            for k, v in out.items():
                acc.setdefault(k, []).append(np.asarray(v, dtype=float))
        cat = {k: np.concatenate(v) for k, v in acc.items()}
        row = {"category": category, "items per context": n_items or "all", "mode": sc.mode,
               "scenario": sc.name}
        for fam in FAMILIES:
            row[fam] = float(np.mean(cat[fam])) if cat[fam].size else np.nan
        null = cat["exceeds_truth"] == 0
        row["exceeds floor (no effect)"] = float(np.mean(cat["exceeds"][null])) if null.any() else np.nan
        row["exceeds floor (effect)"] = float(np.mean(cat["exceeds"][~null])) if (~null).any() else np.nan
        row["n"] = int(cat["TB"].size)
        rows.append(row)
    return pd.DataFrame(rows)


def power_tb(category: str = "Religion", q: float = 0.612, reps: int = 40, runs: int = 5) -> list[str]:
    """Power of ``TB_lo > 0`` on the whole category's ambiguous items (the paper's sample
    size: every item, 5 runs) for an answerer whose true default TB is about 0.1 (q = 0.612
    gives 0.098 on Religion, ten targets)."""
    items = bbq_items(category)
    lines = []
    for mode in ("sampled", "deterministic"):
        sc = Scenario("TB 0.1", q=q, mode=mode)
        true_tb = truth(items, {"": ""}, sc)["model"].set_index("context_condition").loc["ambig", "TB_true"]
        rng = np.random.default_rng(5)
        hits = []
        for rep in range(reps):
            ans = simulate(items, {"": ""}, sc, runs, rng)
            s = metrics.score_answers(ans, n_boot=200, n_perm=0, seed=rep,
                                      thresholds=metrics.TypeThresholds(n_null=50)).summary
            hits.append(float(s.set_index("context_condition").loc["ambig", "TB_lo"]) > 0)
        lines.append(f"| {category} | {mode} | {true_tb:.3f} | {np.mean(hits):.3f} | {reps} |")
    return lines


def to_markdown(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in df.itertuples(index=False):
        lines.append("| " + " | ".join(f"{x:.3f}" if isinstance(x, float) else str(x) for x in r) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true", help="the CI-sized study (Sexual_orientation only)")
    ap.add_argument("--reps", type=int, default=None)
    ap.add_argument("--power", action="store_true", help="only the power to detect TB 0.1 (Religion)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "validity.md"),
                    help="a file to write the table to; in docs/validity.md it replaces the table "
                         "between the <!-- fast --> or <!-- full --> markers")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    if args.power:
        print("| category | mode | true TB | P(TB_lo > 0) | replications |\n|---|---|---|---|---|")
        print("\n".join(power_tb(reps=args.reps or 40)))
        return 0
    frames = []
    if args.fast:
        for n in (120, None):
            frames.append(study("Sexual_orientation", n, FAST_SCENARIOS, args.reps or 15))
    else:
        for cat in ("Sexual_orientation", "Religion"):
            for n in (24, 120, None):
                frames.append(study(cat, n, SCENARIOS, args.reps or 40))
    table = pd.concat(frames, ignore_index=True)
    text = to_markdown(table)
    print(text)
    print(f"({time.perf_counter() - t0:.0f} s)")
    write_table(Path(args.out), "fast" if args.fast else "full", text, " ".join(["python bench/validity.py", *(argv if argv is not None else sys.argv[1:])]))
    return 0


def write_table(path: Path, marker: str, table: str, command: str) -> None:
    """Put ``table`` between ``<!-- marker -->`` lines of ``path`` (or write it alone)."""
    tag = f"<!-- {marker} -->"
    block = f"{tag}\n`{command}`\n\n{table}\n{tag}"
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if old.count(tag) == 2:
        head, _, rest = old.partition(tag)
        _, _, tail = rest.partition(tag)
        path.write_text(head + block + tail, encoding="utf-8")
    else:
        path.write_text(block + "\n", encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
