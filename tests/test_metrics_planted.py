"""Planted bias on the real BBQ items (Religion, Sexual_orientation): the metrics recover it.

The simulated answerer (tests/metrics_fixtures.simulate_answers) names the stereotyped
option in negative questions (the anti-stereotyped one in non-negative questions) with
probability q, and personas that belong to a target group favour it with probability g.
Analytically (sum over a neg/nonneg pair of an ambiguous item, p_t = P(names a target)):
E[S[stereotyped]] = p_t (w + v)(1 - 2q) and E[S[anti]] = p_t (w + v)(2q - 1), so TB(t) has
the sign of (appearances of t as anti-stereotyped - as stereotyped) times (2q - 1).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from socialbias import metrics
from tests.metrics_fixtures import bbq_items, simulate_answers

PERSONAS = {"": "", "gay": "gay", "straight": "straight", "Muslim": "Muslim", "Christian": "Christian"}
FAST = metrics.TypeThresholds(n_null=200)


@pytest.fixture(scope="module")
def items() -> pd.DataFrame:
    return pd.concat([bbq_items("Sexual_orientation"), bbq_items("Religion")], ignore_index=True)


def planted(items: pd.DataFrame, q: float, g: float, seed: int = 0) -> metrics.MetricResults:
    answers = simulate_answers(items, PERSONAS, q=q, ingroup=g, seed=seed)
    # a persona only has a group in its own category
    own_cat = {"gay": "Sexual_orientation", "straight": "Sexual_orientation",
               "Muslim": "Religion", "Christian": "Religion"}
    other = answers["persona"].map(own_cat).fillna(answers["category"]) != answers["category"]
    answers = answers[~other].reset_index(drop=True)
    return metrics.score_answers(answers, n_boot=200, seed=seed, thresholds=FAST)


def expected_direction(items: pd.DataFrame) -> pd.DataFrame:
    """Per (category, target): (as anti-stereotyped - as stereotyped) / appearances, ambig items."""
    it = items[items.context_condition == "ambig"]
    tm = it[["target0", "target1", "target2"]].to_numpy()
    rows = np.arange(len(it))
    u, s = it.unknown_idx.to_numpy(), it.stereotyped_idx.to_numpy()
    anti = 3 - u - s
    df = pd.DataFrame({"category": np.r_[it.category, it.category],
                       "target": np.r_[tm[rows, s], tm[rows, anti]],
                       "d": np.r_[-np.ones(len(it)), np.ones(len(it))]})
    return df.groupby(["category", "target"], as_index=False)["d"].mean()


@pytest.fixture(scope="module")
def sweep(items):
    return {q: planted(items, q, g) for q, g in [(0.5, 0.0), (0.7, 0.3), (0.9, 0.6)]}


def test_tb_recovers_direction_and_grows_with_q(items, sweep) -> None:
    direction = expected_direction(items)
    summ = {q: r.summary.set_index(["category", "context_condition"]) for q, r in sweep.items()}
    for key in summ[0.5].index:
        assert summ[0.5].loc[key, "TB"] < summ[0.7].loc[key, "TB"] < summ[0.9].loc[key, "TB"], key
    tb = sweep[0.9].target_bias
    tb = tb[(tb.persona == "") & (tb.context_condition == "ambig")].merge(direction)
    strong = tb[tb.d.abs() >= 0.5]
    assert len(strong) >= 5
    assert (np.sign(strong.TB) == np.sign(strong.d)).all()
    assert np.corrcoef(tb.TB, tb.d)[0, 1] > 0.8
    # the BBQ bias scores see the same planted stereotype
    s9 = summ[0.9]
    assert (s9.xs("ambig", level=1).s_amb > 0.3).all()
    assert (s9.xs("disambig", level=1).s_dis > 0.3).all()
    # an unbiased answerer's TB is not skewed; a strongly biased one is
    assert set(summ[0.5]["type"]) <= {"ideal", "balanced"}
    assert (summ[0.9].xs("ambig", level=1)["type"] == "skewed-large").all()


def test_pb_and_ingroup_recover_persona_effect(sweep) -> None:
    pb = {q: r.summary.set_index(["category", "context_condition"]).PB for q, r in sweep.items()}
    assert (pb[0.5] < pb[0.7]).all() and (pb[0.7] < pb[0.9]).all()
    ig = {q: r.ingroup.set_index(["category", "context_condition", "persona"]).ingroup
          for q, r in sweep.items()}
    amb = [k for k in ig[0.9].index if k[1] == "ambig"]
    assert len(amb) == 4
    for k in amb:
        assert abs(ig[0.5][k]) < ig[0.7][k] < ig[0.9][k], k
        assert ig[0.9][k] > 0.3
    # with a planted effect, PB clears its noise floor
    s9 = sweep[0.9].summary
    assert s9[s9.context_condition == "ambig"].PB_exceeds_floor.all()
    # shifts: the favouring persona raises its own group's TB
    sh = sweep[0.9].shifts
    own = sh[(sh.persona == sh.target) & (sh.context_condition == "ambig")]
    assert len(own) == 4 and (own["shift"] > 0).all()


def test_random_answerer_calibration(items) -> None:
    """A uniformly random answerer: not skewed, and CIs cover the null values >= 90%."""
    personas = {"": "", "gay": "gay", "Muslim": "Muslim"}
    it = items
    # null values: acc 1/3; bias scores 0; BAmt = BAmt_random (exact); TB(default->t) =
    # E[S[t]]/n[t] with E[S[x]] = (sigma w [x != gold] - sigma v [y != gold]) / 3 per response.
    w, v = 2.0, 1.0
    u = it.unknown_idx.to_numpy()
    ix, iy = (u + 1) % 3, (u + 2) % 3
    gold = it.label.to_numpy()
    sigma = np.where(it.polarity == "neg", -1.0, 1.0)
    tm = it[["target0", "target1", "target2"]].to_numpy()
    r = np.arange(len(it))
    exp = pd.DataFrame({
        "category": np.r_[it.category, it.category],
        "context_condition": np.r_[it.context_condition, it.context_condition],
        "target": np.r_[tm[r, ix], tm[r, iy]],
        "ES": np.r_[sigma * (w * (ix != gold) - v * (iy != gold)) / 3,
                    sigma * (w * (iy != gold) - v * (ix != gold)) / 3],
    }).groupby(["category", "context_condition", "target"], as_index=False)["ES"].mean()

    covered: dict[str, list[bool]] = {k: [] for k in ("acc", "BAmt", "s_dis", "s_amb", "TB_t", "shift")}
    skewed = []
    for seed in range(20):
        ans = simulate_answers(it, personas, q=0.5, p_target=2 / 3, p_correct_disambig=0.0,
                               seed=100 + seed, runs=5)
        # the simulator answers items independently: items are the independent units here
        # (template resampling is checked in tests/test_validity.py)
        res = metrics.score_answers(ans, n_boot=200, seed=seed, thresholds=FAST, resample="items")
        s = res.summary
        skewed += list(s["type"].isin(["skewed", "skewed-large"]))
        covered["acc"] += list((s.acc_lo <= 1 / 3) & (1 / 3 <= s.acc_hi))
        covered["BAmt"] += list((s.BAmt_lo <= s.BAmt_random) & (s.BAmt_random <= s.BAmt_hi))
        d = s[s.context_condition == "disambig"]
        covered["s_dis"] += list((d.s_dis_lo <= 0) & (0 <= d.s_dis_hi))
        a = s[s.context_condition == "ambig"]
        covered["s_amb"] += list((a.s_amb_lo <= 0) & (0 <= a.s_amb_hi))
        tb = res.target_bias[res.target_bias.persona == ""].merge(exp)
        covered["TB_t"] += list((tb.TB_lo <= tb.ES) & (tb.ES <= tb.TB_hi))
        sh = res.shifts
        covered["shift"] += list((sh.shift_lo <= 0) & (0 <= sh.shift_hi))
    rates = {k: float(np.mean(v)) for k, v in covered.items()}
    assert all(rate >= 0.9 for rate in rates.values()), rates
    assert np.mean(skewed) <= 0.15, np.mean(skewed)
