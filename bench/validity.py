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
    python bench/validity.py --placebo       # the placebo-persona check (tests/test_placebo.py)
    python bench/validity.py --placebo-null  # its no-effect scenarios, 100 replications, no intervals
    python bench/validity.py --small         # per-target cells in a small design (bench/validity_small.py)
    python bench/validity.py --power         # power to detect TB 0.1 in a ten-target category
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
    reword: float = 0.0  # placebo check: every non-default role favours a random target this often


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


#: The CI-sized study: no bias, planted target bias and a strong persona effect (sampled), no
#: bias (deterministic): every quantity family meets a true value of 0 and one away from 0.
FAST_SCENARIOS = (SCENARIOS[0], SCENARIOS[1], SCENARIOS[3], SCENARIOS[4])


def personas_of(category: str) -> dict[str, str]:
    """Default, two personas with a group of the category and one without."""
    groups = {"Sexual_orientation": ("gay", "straight"), "Religion": ("Muslim", "Christian")}[category]
    return {"": "", groups[0]: groups[0], groups[1]: groups[1], "a person who enjoys gardening": ""}


def choice_probabilities(items: pd.DataFrame, member: np.ndarray, sc: Scenario,
                         favour: np.ndarray | None = None) -> np.ndarray:
    """(rows x 3) option probabilities of the answerer for rows = (item, persona) pairs.
    ``favour`` (placebo check): per row the target its role's wording favours ("" none), with
    strength ``sc.reword``, applied after the persona effect."""
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
    if favour is not None and sc.reword > 0:
        own2 = np.full(n, -1)
        for k in range(3):
            own2 = np.where((tm[:, k] == favour) & (favour != ""), k, own2)
        fav2 = np.where(neg, 3 - u - np.maximum(own2, 0), own2)
        p_pref = np.where(own2 >= 0, (1 - sc.reword) * p_pref + sc.reword * (fav2 == pref), p_pref)
    probs = np.zeros((n, 3))
    probs[rows, u] = 1 - sc.p_target
    probs[rows, pref] += sc.p_target * p_pref
    probs[rows, other] += sc.p_target * (1 - p_pref)
    gold = np.zeros((n, 3))
    gold[rows, label] = 1.0
    return np.where(amb[:, None], probs, 0.5 * gold + 0.5 * probs)


def _base_rows(items: pd.DataFrame, personas: dict[str, str], placebo: tuple[str, ...] = (),
               favour: dict[str, str] | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    names = list(personas)
    ii = np.repeat(np.arange(len(items)), len(names))
    pp = np.tile(np.arange(len(names)), len(items))
    df = items.iloc[ii].reset_index(drop=True)
    df["persona"] = np.array(names, dtype=object)[pp]
    df["persona_member_of"] = np.array([personas[x] for x in names], dtype=object)[pp]
    if placebo:
        df["persona_placebo"] = np.isin(df["persona"].to_numpy(), list(placebo))
    df["_favour"] = np.array([(favour or {}).get(x, "") for x in names], dtype=object)[pp]
    df["model"], df["excluded"] = "sim", False
    return df, ii


def simulate(items: pd.DataFrame, personas: dict[str, str], sc: Scenario, runs: int,
             rng: np.random.Generator, placebo: tuple[str, ...] = (),
             favour: dict[str, str] | None = None) -> pd.DataFrame:
    """One replication's answers table (see the module documentation for the modes);
    ``placebo`` names the placebo roles, ``favour`` each role's rewording target."""
    base, item_of = _base_rows(items, personas, placebo, favour)
    probs = choice_probabilities(base, base["persona_member_of"].to_numpy(), sc, base.pop("_favour").to_numpy())
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


def target_scores(base: pd.DataFrame, probs: np.ndarray, keys: tuple[str, ...] = ("context_condition", "persona")
                  ) -> pd.DataFrame:
    """Per row of ``base`` and each of its two targets: the expected contributions to S and A
    (``ES``, ``EA``) under the option probabilities ``probs`` (a one-hot choice gives the
    realised ones), with the row's ``keys`` and the ``target``."""
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
    return pd.DataFrame({
        **{k: np.r_[base[k], base[k]] for k in keys},
        "target": np.r_[tm[rows, ix], tm[rows, iy]],
        "ES": np.r_[es["x"], es["y"]], "EA": np.r_[ea["x"], ea["y"]],
    })


def truth(items: pd.DataFrame, personas: dict[str, str], sc: Scenario,
          favour: dict[str, str] | None = None) -> dict[str, pd.DataFrame]:
    """Expected TB(p->t), BAmt(p->t) and accuracy of the answerer on these items."""
    base, _ = _base_rows(items, personas, (), favour)
    probs = choice_probabilities(base, base["persona_member_of"].to_numpy(), sc, base.pop("_favour").to_numpy())
    label = base["label"].to_numpy()
    rows = np.arange(len(base))
    key = ["context_condition", "persona"]
    cells = target_scores(base, probs).groupby(key + ["target"], as_index=False)[["ES", "EA"]].mean()
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


def _cells(family: str, table: pd.DataFrame, lo: str, hi: str, true, keys: tuple[str, ...]) -> pd.DataFrame:
    """One row per interval of a family: cell key, truth, lo, hi."""
    key = table[list(keys)].astype(str).agg("|".join, axis=1) if len(table) else pd.Series([], dtype=str)
    return pd.DataFrame({"family": family, "cell": key.to_numpy(), "true": np.asarray(true, dtype=float),
                         "lo": table[lo].to_numpy(dtype=float), "hi": table[hi].to_numpy(dtype=float)})


def one_replication(items, personas, sc, runs, rng, n_boot, n_perm, seed) -> dict:
    """The intervals of every family with their truths (``"cells"``) and the
    PB_exceeds_floor calls of one replication."""
    ans = simulate(items, personas, sc, runs, rng)
    res = metrics.score_answers(ans, n_boot=n_boot, n_perm=n_perm, seed=seed,
                                thresholds=metrics.TypeThresholds(n_null=50))
    t = truth(items, personas, sc)
    s = res.summary.merge(t["model"], on="context_condition")
    pb = res.persona_bias.merge(t["persona"], on=["context_condition", "persona"])
    tb = res.target_bias.merge(t["cells"], on=["context_condition", "persona", "target"])
    nd = pb[pb.persona != ""]
    c, cp, cpt = ("context_condition",), ("context_condition", "persona"), ("context_condition", "persona", "target")
    cells = pd.concat([
        _cells("TB", s, "TB_lo", "TB_hi", s.TB_true, c),
        _cells("TB(p->T)", pb, "TB_lo", "TB_hi", pb.TBT_true, cp),
        _cells("PB(p)", nd, "PB_lo", "PB_hi", nd.PB_true, cp),
        _cells("PB", s, "PB_lo", "PB_hi", s.PB_true, c),
        _cells("PB_floor", s, "PB_floor_lo", "PB_floor_hi", np.zeros(len(s)), c),
        _cells("PB_excess", s, "PB_excess_lo", "PB_excess_hi", s.PB_true, c),
        _cells("TB(p->t)", tb, "TB_lo", "TB_hi", tb.TB_true, cpt),
        _cells("BAmt", s, "BAmt_lo", "BAmt_hi", s.BAmt_true, c),
        _cells("acc", s, "acc_lo", "acc_hi", s.acc_true, c),
    ], ignore_index=True)
    ok = np.isfinite(cells[["lo", "hi", "true"]]).all(axis=1)
    cells = cells[ok].reset_index(drop=True)
    cells["covered"] = (cells.lo <= cells.true + 1e-12) & (cells.true - 1e-12 <= cells.hi)
    return {"cells": cells, "exceeds": s.PB_exceeds_floor.astype(float).to_numpy(),
            "exceeds_truth": (s.PB_true.to_numpy() > 1e-9)}


#: Means of absolute values (and their difference PB_excess): intervals one-sided at 0.
ABSOLUTE = ("TB", "TB(p->T)", "PB(p)", "PB", "PB_floor", "PB_excess")


def regimes(cells: pd.DataFrame) -> pd.DataFrame:
    """Coverage of the absolute-value families by where the truth lies: ``0`` (exactly),
    ``near 0`` (above 0 but below the cell's mean interval width over the replications) and
    ``away`` (above it). Intervals of width 0 (a quantity without noise, e.g. PB_floor under
    deterministic scoring) are left out. One row per (items per context, family)."""
    a = cells[cells.family.isin(ABSOLUTE) & (cells.hi - cells.lo > 1e-12)].copy()
    width = a.groupby(["items per context", "scenario", "mode", "family", "cell"])["hi"].transform("mean") - \
        a.groupby(["items per context", "scenario", "mode", "family", "cell"])["lo"].transform("mean")
    a["regime"] = np.where(a.true.abs() <= 1e-9, "0", np.where(a.true.abs() <= width, "near 0", "away"))
    out = a.pivot_table(index=["items per context", "family"], columns="regime", values="covered",
                        aggfunc=["mean", "size"], observed=True)
    out.columns = [f"{'coverage' if f == 'mean' else 'n'} ({r})" for f, r in out.columns]
    zero_away = a[a.regime != "near 0"].groupby(["items per context", "family"])["covered"].agg(["mean", "size"])
    out["coverage (0 or away)"], out["n (0 or away)"] = zero_away["mean"], zero_away["size"]
    for col in out.columns:
        if col.startswith("n ("):
            out[col] = out[col].astype("Int64")
    return out.reset_index()


def item_sample(category: str, n_items: int | None, rng: np.random.Generator) -> pd.DataFrame:
    """``n_items`` items per context condition (None: the whole category), drawn at random."""
    items = bbq_items(category)
    if n_items is None:
        return items
    parts = [g.iloc[rng.choice(len(g), size=min(n_items, len(g)), replace=False)]
             for _, g in items.groupby("context_condition")]
    return pd.concat(parts, ignore_index=True)


def study(category: str, n_items: int | None, scenarios, reps: int, runs: int = 3, n_boot: int = 200,
          n_perm: int = 200, seed: int = 0, cells_out: list | None = None) -> pd.DataFrame:
    """Coverage per family, PB_exceeds_floor rate, per scenario: one row per scenario. With
    ``cells_out``, every interval (:func:`one_replication`) is appended to it as a frame."""
    rows = []
    for j, sc in enumerate(scenarios):
        rng = np.random.default_rng([seed, j, n_items or 0])
        cells, exceeds, null = [], [], []
        for rep in range(reps):
            items = item_sample(category, n_items, rng)
            out = one_replication(items, personas_of(category), sc, runs, rng, n_boot, n_perm, seed + rep)
            cells.append(out["cells"])
            exceeds.append(out["exceeds"])
            null.append(~out["exceeds_truth"])
        allc = pd.concat(cells, ignore_index=True)
        row = {"category": category, "items per context": n_items or "all", "mode": sc.mode,
               "scenario": sc.name}
        cov = allc.groupby("family")["covered"].mean()
        for fam in FAMILIES:
            row[fam] = float(cov.get(fam, np.nan))
        ex, nu = np.concatenate(exceeds), np.concatenate(null)
        row["exceeds floor (no effect)"] = float(np.mean(ex[nu])) if nu.any() else np.nan
        row["exceeds floor (effect)"] = float(np.mean(ex[~nu])) if (~nu).any() else np.nan
        row["n"] = int((allc.family == "TB").sum())
        rows.append(row)
        if cells_out is not None:
            cells_out.append(allc.assign(category=category, **{"items per context": row["items per context"]},
                                         scenario=sc.name, mode=sc.mode))
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


# --- Placebo personas (docs/method.md section 8, "The floor"; metrics/placebo.py) -------------

#: Placebo-check designs: a 3-target category (Sexual_orientation's items among gay, lesbian and
#: straight) and a 10-target one (Religion); every target is also a real persona.
PLACEBO_DESIGNS: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "3 targets": ("Sexual_orientation", ("gay", "lesbian", "straight")),
    "10 targets": ("Religion", None),
}
#: Placebo-check scenarios: no persona effect (target bias q = 0.6 only); every role, real or
#: placebo, favouring a random target of its own 20% of the time (wording effects, the null of
#: the placebo test: a real persona is one more wording); a strong persona effect (0.5).
PLACEBO_SCENARIOS = (
    Scenario("no persona effect", q=0.6),
    Scenario("no persona effect", q=0.6, mode="deterministic"),
    Scenario("wording effects (0.2)", q=0.6, reword=0.2),
    Scenario("wording effects (0.2)", q=0.6, reword=0.2, mode="deterministic"),
    Scenario("persona effect strong (0.5)", q=0.6, effect=0.5),
    Scenario("persona effect strong (0.5)", q=0.6, effect=0.5, mode="deterministic"),
)


def placebo_items(design: str, n_items: int | None, rng: np.random.Generator) -> pd.DataFrame:
    category, keep = PLACEBO_DESIGNS[design]
    items = bbq_items(category)
    if keep is not None:
        tm = items[["target0", "target1", "target2"]].to_numpy()
        ok = np.isin(tm, list(keep) + ["unknown"]).all(axis=1)
        items = items[ok].reset_index(drop=True)
    if n_items is None:
        return items
    parts = [g.iloc[rng.choice(len(g), size=min(n_items, len(g)), replace=False)]
             for _, g in items.groupby("context_condition")]
    return pd.concat(parts, ignore_index=True)


def placebo_replication(items: pd.DataFrame, sc: Scenario, runs: int, rng: np.random.Generator,
                        n_boot: int, n_perm: int, seed: int) -> pd.DataFrame:
    """One replication of the placebo check: per stratum, the floor numbers, the tests' calls
    and the truths."""
    from socialbias.personas import load_placebo

    targets = sorted(set(items[["target0", "target1", "target2"]].to_numpy().ravel()) - {"unknown"})
    roles = list(load_placebo()["persona"])
    personas = {"": "", **{t: t for t in targets}, **{r: "" for r in roles}}
    favour = {p: targets[rng.integers(len(targets))] for p in personas if p} if sc.reword > 0 else None
    ans = simulate(items, personas, sc, runs, rng, placebo=tuple(roles), favour=favour)
    res = metrics.score_answers(ans, n_boot=n_boot, n_perm=n_perm, seed=seed,
                                thresholds=metrics.TypeThresholds(n_null=20))
    t = truth(items, personas, sc, favour)["persona"]
    t = t[t.persona != ""]
    is_pl = t.persona.isin(roles)
    true_pl = t[is_pl].groupby("context_condition")["PB_true"].mean()
    true_real = t[~is_pl].groupby("context_condition")["PB_true"].mean()
    s = res.summary.set_index("context_condition")
    pb = res.persona_bias
    real = pb[(pb.persona != "") & ~pb.placebo.astype(bool)]
    alpha = 0.05
    out = pd.DataFrame({
        "exceeds (placebo)": s.PB_exceeds_floor.astype(float),
        "exceeds (exchange)": (s.PB_pvalue < alpha).astype(float),
        "persona p < 0.05": real.groupby("context_condition")["PB_placebo_pvalue"].apply(lambda x: float(np.mean(x < alpha))),
        "any persona padj < 0.05": real.groupby("context_condition")["PB_placebo_padj"].apply(lambda x: float(np.any(x < alpha))),
        "PB": s.PB, "PB_placebo": s.PB_placebo, "PB_floor": s.PB_floor, "PB - PB_placebo": s.PB_excess_placebo,
        "PB_placebo covered": ((s.PB_placebo_lo <= true_pl + 1e-12) & (true_pl - 1e-12 <= s.PB_placebo_hi)).astype(float),
        "PB_excess_placebo covered": ((s.PB_excess_placebo_lo <= true_real - true_pl + 1e-12)
                                      & (true_real - true_pl - 1e-12 <= s.PB_excess_placebo_hi)).astype(float),
        "floor_test": s.floor_test,
    })
    return out.reset_index()


def placebo_study(n_items: int | None = 120, reps: int = 20, runs: int = 3, n_boot: int = 100,
                  n_perm: int = 100, scenarios=PLACEBO_SCENARIOS, seed: int = 0) -> pd.DataFrame:
    """The placebo check: one row per (design, scenario, mode), means over replications and
    contexts (``n`` strata). Rates of "exceeds" are false positives where no persona effect is
    planted (the first four scenarios) and power under the strong persona effect."""
    rows = []
    for design in PLACEBO_DESIGNS:
        for j, sc in enumerate(scenarios):
            rng = np.random.default_rng([seed, 99, j, n_items or 0, len(design)])
            parts = [placebo_replication(placebo_items(design, n_items, rng), sc, runs, rng, n_boot, n_perm, seed + rep)
                     for rep in range(reps)]
            allp = pd.concat(parts, ignore_index=True)
            if (allp.floor_test != "placebo").any():
                raise AssertionError("a stratum of the placebo check was not tested against the placebo floor")
            row = {"design": design, "items per context": n_items or "all", "mode": sc.mode, "scenario": sc.name}
            row.update(allp.drop(columns=["context_condition", "floor_test"]).mean().to_dict())
            row["n"] = len(allp)
            rows.append(row)
    return pd.DataFrame(rows)


def fast_study(reps: int = 15) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The CI-sized study (``--fast``, ``tests/test_validity.py``): Sexual_orientation, 120
    items per context and the whole category, :data:`FAST_SCENARIOS`; the table and
    :func:`regimes`."""
    frames, cells = [], []
    for n in (120, None):
        frames.append(study("Sexual_orientation", n, FAST_SCENARIOS, reps, cells_out=cells))
    return pd.concat(frames, ignore_index=True), regimes(pd.concat(cells, ignore_index=True))


def to_markdown(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in df.itertuples(index=False):
        lines.append("| " + " | ".join(f"{x:.3f}" if isinstance(x, float) else
                                       str(int(x)) if isinstance(x, (int, np.integer)) else str(x) for x in r) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true", help="the CI-sized study (Sexual_orientation only)")
    ap.add_argument("--reps", type=int, default=None)
    ap.add_argument("--power", action="store_true", help="only the power to detect TB 0.1 (Religion)")
    ap.add_argument("--placebo", action="store_true", help="only the placebo-persona check (3 and 10 targets)")
    ap.add_argument("--placebo-null", action="store_true",
                    help="only the placebo check's no-effect scenarios, many replications, no intervals")
    ap.add_argument("--small", action="store_true",
                    help="only the per-target cells with 24 items per context (Religion; bench/validity_small.py)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "validity.md"),
                    help="a file to write the table to; in docs/validity.md it replaces the table "
                         "between the <!-- fast --> or <!-- full --> markers")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    if args.power:
        print("| category | mode | true TB | P(TB_lo > 0) | replications |\n|---|---|---|---|---|")
        print("\n".join(power_tb(reps=args.reps or 40)))
        return 0
    if args.small:
        from validity_small import small_design_coverage

        print(to_markdown(small_design_coverage(args.reps or 15)))
        print(f"({time.perf_counter() - t0:.0f} s)")
        return 0
    if args.placebo_null:
        null = tuple(sc for sc in PLACEBO_SCENARIOS if not sc.name.startswith("persona effect"))
        table = placebo_study(reps=args.reps or 100, n_boot=0, scenarios=null, seed=1)
        keep = ["design", "mode", "scenario", "exceeds (placebo)", "persona p < 0.05", "any persona padj < 0.05",
                "PB", "PB_placebo", "PB - PB_placebo", "n"]
        text = to_markdown(table[keep])
        print(text)
        print(f"({time.perf_counter() - t0:.0f} s)")
        write_table(Path(args.out), "placebo-null", text,
                    " ".join(["python bench/validity.py", *(argv if argv is not None else sys.argv[1:])]))
        return 0
    if args.placebo:
        text = to_markdown(placebo_study(reps=args.reps or 20))
        print(text)
        print(f"({time.perf_counter() - t0:.0f} s)")
        write_table(Path(args.out), "placebo", text, " ".join(["python bench/validity.py", *(argv if argv is not None else sys.argv[1:])]))
        return 0
    if args.fast:
        table, by_regime = fast_study(args.reps or 15)
    else:
        frames, cells = [], []
        for cat in ("Sexual_orientation", "Religion"):
            for n in (24, 120, None):
                frames.append(study(cat, n, SCENARIOS, args.reps or 40, cells_out=cells))
        table = pd.concat(frames, ignore_index=True)
        by_regime = regimes(pd.concat(cells, ignore_index=True).assign(
            **{"items per context": lambda d: d["category"] + " " + d["items per context"].astype(str)}))
    text = (to_markdown(table) + "\n\nMeans of absolute values by where the truth lies (see below):\n\n"
            + to_markdown(by_regime))
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
