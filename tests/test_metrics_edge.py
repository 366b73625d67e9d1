"""Undefined values, input validation, exclusion, determinism and the CSV round trip."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from socialbias import metrics
from socialbias.metrics import MetricsInputError, MetricResults
from tests.metrics_fixtures import bbq_items, simulate_answers
from tests.test_metrics_hand import hand_answers


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    items = bbq_items("Sexual_orientation")
    return simulate_answers(items, {"": "", "gay": "gay", "straight": "straight"}, runs=3, q=0.7, seed=3)


# ---------------------------------------------------------------- undefined -> NaN


def test_no_disambiguated_items_gives_nan_s_dis() -> None:
    a = hand_answers()
    res = metrics.score_answers(a[a.context_condition == "ambig"], n_boot=10)
    s = res.summary
    assert list(s.context_condition) == ["ambig"]
    assert s.s_dis.isna().all() and s.s_amb_paper.isna().all()  # needs s_dis: undefined
    assert s.s_amb.notna().all()


def test_all_unknown_answers() -> None:
    a = hand_answers()
    a["choice"] = a["unknown_idx"]
    s = metrics.score_answers(a, n_boot=10).summary
    # no non-unknown answer: the bias scores are undefined (NaN), not 0
    assert s.s_dis.isna().all() and s.s_amb.isna().all() and s.s_amb_paper.isna().all()
    # but TB and BAmt are defined (n > 0) and 0: nothing was counted
    assert (s.TB == 0).all() and (s.BAmt == 0).all() and (s.PB == 0).all()


def test_no_default_persona_gives_nan_model_level() -> None:
    a = hand_answers()
    res = metrics.score_answers(a[a.persona != ""], n_boot=10)
    s = res.summary
    for col in ("TB", "BAmt", "PB", "PB_floor", "acc", "invalid_rate", "TB_lo", "type_confidence"):
        assert s[col].isna().all(), col
    assert s["type"].isna().all()
    assert res.shifts.empty
    assert res.persona_bias.TB.notna().all()  # the persona's own TB(p->T) is still defined


def test_single_run_has_no_floor() -> None:
    a = hand_answers()
    s = metrics.score_answers(a[a.run == 0], n_boot=20).summary
    assert s.PB_floor.isna().all() and s.PB_floor_debiased.isna().all()
    # the persona-exchange test needs no second run
    assert s.PB_exceeds_floor.notna().all() and s.PB_pvalue.between(0, 1).all()
    assert (s.TB_sd == 0).all()


def test_missing_target_cells_are_absent_not_zero() -> None:
    a = hand_answers()
    tb = metrics.score_answers(a, n_boot=0).target_bias
    assert set(tb[tb.context_condition == "ambig"].target) == {"a", "b"}
    assert tb[["TB_lo", "TB_hi"]].isna().all().all()  # n_boot=0: no intervals


def test_nan_percentile_matches_numpy() -> None:
    from socialbias.metrics._grouping import nan_percentile

    rng = np.random.default_rng(0)
    x = rng.normal(size=(57, 6))
    x[rng.random(x.shape) < 0.2] = np.nan
    x[:, 5] = np.nan
    got = nan_percentile(x, np.array([0.025, 0.5, 0.975]))
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        want = np.nanquantile(x, [0.025, 0.5, 0.975], axis=0)
    np.testing.assert_allclose(got, want, equal_nan=True)


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "mutate,column",
    [
        (lambda a: a.drop(columns=["label"]), "label"),
        (lambda a: a.drop(columns=["excluded"]), "excluded"),
        (lambda a: a.assign(choice=a.choice.where(a.index != 0, 5)), "choice"),
        (lambda a: a.assign(choice=a.choice.astype(float).where(a.index != 0, np.nan)), "choice"),
        (lambda a: a.assign(context_condition=a.context_condition.where(a.index != 0, "amb")), "context_condition"),
        (lambda a: a.assign(polarity="negative"), "polarity"),
        (lambda a: a.assign(persona=a.persona.where(a.index != 0, None)), "persona"),
        (lambda a: a.assign(run=-1), "run"),
        (lambda a: a.assign(stereotyped_idx=a.unknown_idx), "stereotyped_idx"),
        (lambda a: a.assign(label=3), "label"),
        (lambda a: a.assign(excluded=np.nan), "excluded"),
        (lambda a: a.assign(target0="x", target1="y", target2="z"), "target"),
        (lambda a: pd.concat([a, a.iloc[:1]]), "duplicate"),
        (lambda a: a.iloc[:0], "empty"),
    ],
)
def test_bad_input_raises_one_clear_error(mutate, column: str) -> None:
    with pytest.raises(MetricsInputError, match=column):
        metrics.score_answers(mutate(hand_answers()), n_boot=0)


def test_bad_arguments() -> None:
    a = hand_answers()
    for kwargs in ({"w": 0}, {"v": -1}, {"n_boot": -1}, {"ci": 1.0}, {"seed": -1}, {"thresholds": "x"}):
        with pytest.raises(MetricsInputError):
            metrics.score_answers(a, **kwargs)
    with pytest.raises(MetricsInputError):
        metrics.TypeThresholds(tb_quantile=1.5)
    assert issubclass(MetricsInputError, ValueError)


def test_excluded_items_are_dropped_and_counted() -> None:
    a = hand_answers()
    a.loc[a.item_id == "i1", "excluded"] = True
    res = metrics.score_answers(a, n_boot=0)
    s = res.summary.set_index("context_condition")
    assert s.loc["ambig", "n_excluded"] == 4 and s.loc["disambig", "n_excluded"] == 0
    assert s.loc["ambig", "n_responses"] == 4 and s.loc["ambig", "n_items"] == 1
    assert res.config["n_excluded"] == 4
    kept = metrics.score_answers(a, n_boot=0, include_excluded=True).summary
    assert (kept.n_excluded == 0).all() and kept.n_responses.sum() == 16
    # dropping == never having had the item
    base = metrics.score_answers(a[~a.excluded], n_boot=0).summary
    pd.testing.assert_series_equal(res.summary.TB, base.TB)


# ---------------------------------------------------------------- determinism, files


def test_same_seed_byte_identical_and_row_order_free(small: pd.DataFrame, tmp_path) -> None:
    r1 = metrics.score_answers(small, n_boot=50, seed=7)
    shuffled = small.sample(frac=1.0, random_state=1).reset_index(drop=True)
    r2 = metrics.score_answers(shuffled, n_boot=50, seed=7)
    r1.save(tmp_path / "a")
    r2.save(tmp_path / "b")
    for name in metrics.TABLES:
        assert (tmp_path / "a" / f"{name}.csv").read_bytes() == (tmp_path / "b" / f"{name}.csv").read_bytes(), name
    r3 = metrics.score_answers(small, n_boot=50, seed=8)
    assert not r3.summary.TB_lo.equals(r1.summary.TB_lo)


def test_save_load_round_trip(small: pd.DataFrame, tmp_path) -> None:
    res = metrics.score_answers(small, n_boot=30, seed=1)
    res.save(tmp_path)
    back = MetricResults.load(tmp_path)
    for name in metrics.TABLES:
        pd.testing.assert_frame_equal(getattr(back, name), getattr(res, name), check_dtype=False,
                                      check_exact=True, obj=name)
    assert back.thresholds == res.thresholds and back.config == res.config
    assert (back.persona_bias.persona == "").any()  # the default persona survives as ""
    assert list(back.summary.columns[: len(metrics.SUMMARY_HEAD)]) == list(metrics.SUMMARY_HEAD)
    with pytest.raises(MetricsInputError):
        MetricResults.load(tmp_path / "nowhere")


def test_summary_columns(small: pd.DataFrame) -> None:
    s = metrics.score_answers(small, n_boot=10).summary
    assert tuple(s.columns[:17]) == metrics.SUMMARY_HEAD
    for name in ("TB", "BAmt", "PB", "PB_floor", "s_dis", "s_amb", "s_amb_paper", "acc", "invalid_rate"):
        assert name + "_lo" in s.columns and name + "_hi" in s.columns
    for name in ("type_confidence", "PB_exceeds_floor", "n_excluded", "TB_threshold", "BAmt_threshold"):
        assert name in s.columns


def test_personas_table_gives_ingroup(small: pd.DataFrame) -> None:
    a = small.drop(columns=["persona_member_of"])
    assert metrics.score_answers(a, n_boot=0).ingroup.empty
    table = pd.DataFrame({"persona": ["gay", "straight"], "member_of": ["gay", "straight"]})
    with_table = metrics.score_answers(a, n_boot=0, personas=table).ingroup
    with_column = metrics.score_answers(small, n_boot=0).ingroup
    pd.testing.assert_frame_equal(with_table, with_column)


@pytest.mark.parametrize("column, value", [("choice", 3), ("choice", -2), ("label", -1), ("unknown_idx", 3),
                                           ("stereotyped_idx", -2), ("stereotyped_idx", 5)])
def test_integer_codes_outside_their_range_are_refused(small, column, value) -> None:
    bad = small.copy()
    bad[column] = bad[column].astype(np.int64)
    bad.loc[bad.index[4], column] = value
    with pytest.raises(MetricsInputError, match=f"{column}.*values outside"):
        metrics.prepare_answers(bad)


def _member_table_by_pandas(c, p, labels, cats, pers) -> pd.DataFrame | str:
    """The in-group table (or the error) as first written: pandas' drop_duplicates on the codes."""
    uniques, m = np.unique(labels, return_inverse=True)
    pairs = pd.DataFrame({"category": c, "persona": p, "m": m}).drop_duplicates()
    dup = pairs.duplicated(["category", "persona"], keep=False)
    if dup.any():
        row = pairs[dup].iloc[0]
        return f"persona {pers[row.persona]!r} has several member_of values in category {cats[row.category]!r}"
    pairs["member_of"] = uniques.astype(object)[pairs["m"].to_numpy()]
    out = pairs.loc[pairs["member_of"] != "", ["category", "persona", "member_of"]]
    return out.sort_values(["category", "persona"]).reset_index(drop=True)


def test_member_table_is_the_pandas_one_and_names_the_first_conflict() -> None:
    """The (category, persona) -> member_of table comes from one integer key per row: the same
    table as pandas' drop_duplicates and sort, and on a conflict the same pair named."""
    from socialbias.metrics.schema import MEMBER_COLUMN, _member_table

    cats = np.array(["Age", "Religion", "SES"], dtype=object)
    pers = np.array(["", "a", "b", "c", "d"], dtype=object)
    rng = np.random.default_rng(5)
    conflicts = 0
    for trial in range(60):
        n = int(rng.integers(1, 300))
        c, p = rng.integers(0, 3, n), rng.integers(0, 5, n)
        group = rng.choice(np.array(["", "x", "y"], dtype=object), (3, 5))
        labels = group[c, p]
        if trial % 3 == 0:  # one row gives its (category, persona) a second label
            labels = labels.copy()
            labels[rng.integers(0, n)] = "z"
        expected = _member_table_by_pandas(c, p, labels, cats, pers)
        df = pd.DataFrame({MEMBER_COLUMN: labels})
        if isinstance(expected, str):
            conflicts += 1
            with pytest.raises(MetricsInputError) as err:
                _member_table(df, None, c, cats, p, pers)
            assert expected in str(err.value)
        else:
            pd.testing.assert_frame_equal(_member_table(df, None, c, cats, p, pers), expected)
    assert conflicts >= 10
