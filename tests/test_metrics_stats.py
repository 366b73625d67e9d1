"""Issue 14: per-stratum random streams, template clusters, debiased estimates, the
persona-exchange test, multiplicity adjustment and valid-answer accuracy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from socialbias import metrics
from socialbias.metrics.persona_test import benjamini_hochberg, holm
from tests.metrics_fixtures import bbq_items, simulate_answers

FAST = metrics.TypeThresholds(n_null=100)
PERSONAS = {"": "", "gay": "gay", "straight": "straight"}


@pytest.fixture(scope="module")
def two_categories() -> pd.DataFrame:
    items = pd.concat([bbq_items("Sexual_orientation"), bbq_items("Religion")], ignore_index=True)
    a = simulate_answers(items, PERSONAS, q=0.6, ingroup=0.2, runs=3, seed=3)
    b = simulate_answers(items[items.category == "Religion"], PERSONAS, q=0.5, runs=3, seed=4, model="other")
    return pd.concat([a, b], ignore_index=True)


def _score(answers: pd.DataFrame) -> metrics.MetricResults:
    return metrics.score_answers(answers, n_boot=60, n_perm=60, seed=7, thresholds=FAST)


def test_strata_have_their_own_random_streams(two_categories) -> None:
    """Adding or removing a model or a category changes no other stratum's numbers."""
    full = _score(two_categories).summary
    keys = ["model", "category", "context_condition"]
    for keep in (two_categories.category == "Sexual_orientation", two_categories.model == "other"):
        part = _score(two_categories[keep].reset_index(drop=True)).summary
        merged = part.merge(full, on=keys, suffixes=("", "_full"))
        assert len(merged) == len(part) > 0
        for col in ("TB_lo", "TB_hi", "TB_debiased", "PB_lo", "PB_pvalue", "acc_lo", "TB_threshold",
                    "type_confidence", "PB_null"):
            np.testing.assert_array_equal(merged[col].to_numpy(), merged[col + "_full"].to_numpy(), err_msg=col)


def test_template_clusters_and_items_option(two_categories) -> None:
    one = two_categories[two_categories.model == "sim"]
    tmpl = metrics.score_answers(one, n_boot=100, n_perm=20, seed=1, thresholds=FAST)
    items = metrics.score_answers(one, n_boot=100, n_perm=20, seed=1, thresholds=FAST, resample="items")
    assert tmpl.config["resample_unit"] == "templates" and items.config["resample_unit"] == "items"
    n_templates = one.groupby(["category", "context_condition"]).question_index.nunique().sum()
    assert tmpl.config["n_clusters"] == n_templates < items.config["n_clusters"]
    # plug-in numbers do not depend on the resampling unit
    np.testing.assert_allclose(tmpl.summary.TB, items.summary.TB)
    no_column = metrics.score_answers(one.drop(columns="question_index"), n_boot=10, n_perm=0, thresholds=FAST)
    assert no_column.config["resample_unit"] == "items"
    with pytest.raises(metrics.MetricsInputError, match="resample"):
        metrics.score_answers(one, resample="templates!")


def test_debiased_and_interval_columns(two_categories) -> None:
    s = _score(two_categories).summary
    for name in ("TB", "PB", "PB_floor"):
        assert (s[name + "_lo"] >= 0).all() and (s[name + "_lo"] <= s[name + "_hi"]).all()
        assert (s[name] <= s[name + "_hi"]).all()  # the plug-in never lies above its interval
    np.testing.assert_array_equal(s.TB_plugin, s.TB)
    np.testing.assert_array_equal(s.PB_plugin, s.PB)
    assert (s.TB_debiased <= s.TB + 1e-12).mean() > 0.5  # noise no longer inflates it


def test_holm_and_bh_by_hand() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.5, np.nan, 0.02])
    g = np.array([0, 0, 0, 0, 0, 1])
    np.testing.assert_allclose(holm(p, g), [0.04, 0.09, 0.09, 0.5, np.nan, 0.02])
    np.testing.assert_allclose(benjamini_hochberg(p, g), [0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.5, np.nan, 0.02])


def _deterministic(items: pd.DataFrame, flip: float, seed: int) -> pd.DataFrame:
    """Log-probability-like answers: the default is identical in every run; a persona without
    an effect changes a share ``flip`` of the answers to another draw of the same answerer."""
    base = simulate_answers(items, {"": ""}, runs=1, q=0.7, seed=seed)
    frames = []
    rng = np.random.default_rng(seed + 1)
    for persona in ("", "p1", "p2", "p3"):
        redraw = simulate_answers(items, {"": ""}, runs=1, q=0.7, seed=int(rng.integers(1 << 30)))
        for run in range(3):
            f = base.copy()
            if persona:
                change = rng.random(len(f)) < flip
                f.loc[change, "choice"] = redraw.loc[change, "choice"].to_numpy()
            f["persona"], f["persona_member_of"], f["run"] = persona, "", run
            frames.append(f)
    return pd.concat(frames, ignore_index=True)


def test_log_prob_model_without_persona_effect_does_not_exceed_floor() -> None:
    items = bbq_items("Religion")
    s = metrics.score_answers(_deterministic(items, 0.3, seed=11), n_boot=50, n_perm=200, seed=2,
                              thresholds=FAST).summary
    assert (s.PB_floor == 0).all()  # the run-to-run floor is degenerate here ...
    assert (s.PB > 0).all()
    assert not s.PB_exceeds_floor.any()  # ... the exchange test is not
    assert (s.PB_null > 0).all()


def test_valid_answer_accuracy() -> None:
    items = bbq_items("Sexual_orientation")
    a = simulate_answers(items, {"": ""}, runs=2, seed=1)
    a["choice"] = np.where(np.random.default_rng(0).random(len(a)) < 0.9, -1, a["choice"])
    s = metrics.score_answers(a, n_boot=20, n_perm=0, thresholds=FAST).summary.set_index("context_condition")
    # the paper's convention: "none" = unknown = correct on ambiguous items
    assert s.loc["ambig", "acc"] > 0.9
    kept = a[a.choice >= 0]
    amb = kept[kept.context_condition == "ambig"]
    expected = amb.groupby("run").apply(lambda d: (d.choice == d.label).mean()).mean()
    assert s.loc["ambig", "acc_valid"] == pytest.approx(expected)
    assert s.loc["ambig", "acc_valid"] < 0.6
