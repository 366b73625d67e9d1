"""Property tests (hypothesis): ranges, |TB| <= BAmt, invariance to row order and option order."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socialbias import metrics

POOL = ["a", "b", "c", "d"]
FAST = metrics.TypeThresholds(n_null=40)
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def answer_tables(draw) -> tuple[pd.DataFrame, float, float]:
    """A small random answers table (items, personas, runs, choices incl. "none")."""
    n_items = draw(st.integers(1, 6))
    personas = draw(st.sampled_from([[""], ["", "p"], ["", "p", "q"], ["p", "q"]]))
    runs = draw(st.integers(1, 3))
    w = draw(st.sampled_from([1.0, 2.0, 2.5, 4.0]))
    v = draw(st.sampled_from([0.25, 0.5, 1.0])) * w
    items = []
    for i in range(n_items):
        x, y = draw(st.permutations(POOL))[:2]
        u = draw(st.integers(0, 2))
        tx, ty = (u + 1) % 3, (u + 2) % 3
        targets = [""] * 3
        targets[u], targets[tx], targets[ty] = "unknown", x, y
        ctx = draw(st.sampled_from(["ambig", "disambig"]))
        items.append({
            "item_id": f"i{i}", "context_condition": ctx,
            "polarity": draw(st.sampled_from(["neg", "nonneg"])),
            "unknown_idx": u, "label": u if ctx == "ambig" else draw(st.sampled_from([tx, ty])),
            "stereotyped_idx": draw(st.sampled_from([tx, ty, -1])),
            "target0": targets[0], "target1": targets[1], "target2": targets[2],
        })
    rows = [{**it, "persona": p, "run": k} for it in items for p in personas for k in range(runs)]
    choices = draw(st.lists(st.integers(-1, 2), min_size=len(rows), max_size=len(rows)))
    df = pd.DataFrame(rows)
    df["choice"] = choices
    df["model"] = "m"
    df["category"] = "C"
    df["excluded"] = False
    df["persona_member_of"] = df["persona"].map({"": "", "p": "a", "q": "b"})
    return df, w, v


def permute_options(df: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The same answers with each item's options in another order (all index columns moved)."""
    rng = np.random.default_rng(seed)
    items = df["item_id"].unique()
    perms = {it: rng.permutation(3) for it in items}  # old position -> new position
    P = np.stack([perms[it] for it in df["item_id"]])
    rows = np.arange(len(df))
    out = df.copy()
    for col in ("label", "unknown_idx"):
        out[col] = P[rows, df[col].to_numpy()]
    st_ = df["stereotyped_idx"].to_numpy()
    out["stereotyped_idx"] = np.where(st_ >= 0, P[rows, np.maximum(st_, 0)], -1)
    ch = df["choice"].to_numpy()
    out["choice"] = np.where(ch >= 0, P[rows, np.maximum(ch, 0)], -1)
    old = df[["target0", "target1", "target2"]].to_numpy()
    new = np.empty_like(old)
    for k in range(3):
        new[rows, P[:, k]] = old[:, k]
    out[["target0", "target1", "target2"]] = new
    return out


def assert_same_results(r1: metrics.MetricResults, r2: metrics.MetricResults) -> None:
    """Same tables, same rows, same labels; numbers equal up to the order of floating-point sums.

    Reordering rows or options changes the order in which counts are summed (bincount, sparse
    products), so numbers may differ in the last bits: compare them to 1e-9 relative (and 1e-12
    absolute, for values at 0), which still fails on any real difference (the smallest step of a
    metric here is 1/n of a count, far above that)."""
    for name in metrics.TABLES:
        pd.testing.assert_frame_equal(getattr(r1, name), getattr(r2, name), check_exact=False, rtol=1e-9,
                                      atol=1e-12, obj=name)


@SETTINGS
@given(answer_tables())
def test_ranges_and_tb_below_bamt(table) -> None:
    df, w, v = table
    res = metrics.score_answers(df, w=w, v=v, n_boot=5, thresholds=FAST)
    eps = 1e-12
    for t in (res.per_run, res.target_bias):
        tb, bamt = t["TB"].dropna(), t["BAmt"].dropna()
        assert ((tb >= -w - eps) & (tb <= w + eps)).all()
        assert ((bamt >= -eps) & (bamt <= w + eps)).all()
    pr = res.per_run
    assert (pr["TB"].abs() <= pr["BAmt"] + eps).all()  # |S| <= A response by response
    pb = res.persona_bias
    assert (pb["TB"].dropna() <= pb["BAmt"].dropna() + eps).all()
    assert (pb["PB"].dropna() <= 2 * w + eps).all()
    for col in ("acc", "invalid_rate"):
        vals = res.bbq_scores[col].dropna()
        assert ((vals >= 0) & (vals <= 1)).all()
    for col in ("bias_score", "s_dis", "s_amb", "s_amb_paper"):
        vals = res.bbq_scores[col].dropna()
        assert ((vals >= -1 - eps) & (vals <= 1 + eps)).all()
    assert res.summary["type"].dropna().isin(metrics.TYPES).all()


@SETTINGS
@given(answer_tables(), st.integers(0, 2**16))
def test_invariant_to_row_order(table, seed: int) -> None:
    df, w, v = table
    shuffled = df.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    assert_same_results(metrics.score_answers(df, w=w, v=v, n_boot=8, thresholds=FAST),
                        metrics.score_answers(shuffled, w=w, v=v, n_boot=8, thresholds=FAST))


@SETTINGS
@given(answer_tables(), st.integers(0, 2**16))
def test_invariant_to_option_order(table, seed: int) -> None:
    df, w, v = table
    assert_same_results(metrics.score_answers(df, w=w, v=v, n_boot=8, thresholds=FAST),
                        metrics.score_answers(permute_options(df, seed), w=w, v=v, n_boot=8,
                                              thresholds=FAST))
