"""Per-target cells in a small design: do TB(p->t), BAmt(p->t) and shift intervals cover when a
target rests on a handful of templates? (``python bench/validity.py --small``)

Religion (ten targets), 24 items per context: about five templates ask about each target, and
in many cells all of them contribute alike (most often the target is never named wrongly), so
the cell's own bootstrap spread is 0. Per mode (sampled, deterministic; :mod:`validity`), the
no-bias answerer is simulated ``reps`` times and scored with 200 bootstrap replicates; every
interval is checked against the truth (the expectation over the answerer's draws on the same
items). Cells are split by whether their own templates all agree ("own spread 0": for every
run, S/n or A/n, or for a shift (S_p - S_default)/n, is the same in every template behind the
cell, which makes every bootstrap replicate equal the estimate) and their median width is
given. Cells with fewer than two templates get no interval and are left out
(docs/method.md section 8: the moderated standard error, ``metrics/pooled_variance.py``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from validity import Scenario, item_sample, metrics, personas_of, simulate, target_scores, truth

KEYS = ["context_condition", "persona", "target"]


def agreeing_cells(ans: pd.DataFrame) -> pd.DataFrame:
    """Per (context, persona, target): whether the templates behind the cell all contribute
    alike to TB(p->t), BAmt(p->t) and the shift (``agree_TB``, ``agree_BAmt``,
    ``agree_shift``), from the
    realised answers ``ans`` (one-hot choices through :func:`validity.target_scores`)."""
    onehot = np.eye(3)[ans["choice"].to_numpy()]
    s = target_scores(ans, onehot, ("context_condition", "persona", "question_index", "run"))
    per = s.groupby(KEYS + ["question_index", "run"]).agg(S=("ES", "sum"), A=("EA", "sum"), n=("ES", "size"))
    default = per.xs("", level="persona")["S"].rename("S_d")
    per = per.join(default, on=["context_condition", "target", "question_index", "run"])
    ratios = pd.DataFrame({"TB": per.S / per.n, "BAmt": per.A / per.n, "shift": (per.S - per.S_d) / per.n})
    spread = ratios.groupby(KEYS + ["run"]).agg(["max", "min"])
    out = pd.DataFrame({f"agree_{f}": (spread[(f, "max")] - spread[(f, "min")] < 1e-12).groupby(KEYS).all()
                        for f in ("TB", "BAmt", "shift")})
    return out.reset_index()


def small_design_coverage(reps: int = 15, category: str = "Religion", n_items: int = 24) -> pd.DataFrame:
    """Coverage and median width of the TB(p->t), BAmt(p->t) and shift intervals by mode and
    by whether the cell's own spread is 0 (see the module documentation)."""
    rows = []
    for mode in ("sampled", "deterministic"):
        sc = Scenario("no bias", mode=mode)
        rng = np.random.default_rng(5)
        personas = personas_of(category)
        for rep in range(reps):
            items = item_sample(category, n_items, rng)
            ans = simulate(items, personas, sc, 3, rng)
            res = metrics.score_answers(ans, n_boot=200, n_perm=0, seed=rep,
                                        thresholds=metrics.TypeThresholds(n_null=20))
            t = truth(items, personas, sc)["cells"].assign(shift_true=lambda d: d.TB_true - d.TB_d)
            agree = agreeing_cells(ans)
            tb = res.target_bias.merge(t, on=KEYS).merge(agree, on=KEYS)
            sh = res.shifts.merge(t, on=KEYS).merge(agree, on=KEYS)
            for family, table, col, true in (("TB(p->t)", tb, "TB", "TB_true"), ("BAmt(p->t)", tb, "BAmt", "BAmt_true"),
                                             ("shift", sh, "shift", "shift_true")):
                rows.append(pd.DataFrame({
                    "mode": mode, "family": family, "true": table[true].to_numpy(float),
                    "lo": table[f"{col}_lo"].to_numpy(float), "hi": table[f"{col}_hi"].to_numpy(float),
                    "own spread 0": table[f"agree_{col}"].to_numpy(bool)}))
    df = pd.concat(rows, ignore_index=True)
    df = df[np.isfinite(df.lo) & np.isfinite(df.hi)]
    df["covered"] = (df.lo <= df.true + 1e-12) & (df.true - 1e-12 <= df.hi)
    df["width"] = df.hi - df.lo
    df["cells"] = np.where(df["own spread 0"], "own spread 0", "own spread > 0")
    parts = [df.assign(cells="all"), df]
    out = pd.concat(parts).groupby(["family", "mode", "cells"]).agg(
        coverage=("covered", "mean"), intervals=("covered", "size"), **{"median width": ("width", "median")})
    return out.reset_index()
