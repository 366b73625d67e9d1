"""Model types by effect size: the call's interval status, and a calibrated ``type_confidence``.

The calibration check is ``bench/type_calibration.py --fast``: 720 simulated answerers with
a known truth (planted TB and BAmt spread around the thresholds; Religion and
Sexual_orientation, 24 and 120 items per context and whole categories, 3 runs, sampled and
deterministic answers), 1,440 calls. Among calls made with confidence c the share correct
must be c within 0.05 in every confidence bin holding at least 50 calls (docs/validity.md,
types section; about a minute on the 2-core CI machine).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from socialbias import metrics
from socialbias.metrics import model_types as MT
from socialbias.metrics.errors import MetricsInputError
from tests.metrics_fixtures import BBQ_DATA, PAPER_DIR

needs_bbq = pytest.mark.skipif(not (BBQ_DATA / "Religion.jsonl").exists(), reason="BBQ data missing")


@pytest.fixture(scope="module")
def calls() -> pd.DataFrame:
    from bench import type_calibration as T

    return T.collect(T.FAST, seed=0)


@needs_bbq
def test_type_confidence_is_calibrated(calls) -> None:
    from bench import type_calibration as T

    table = T.calibration_table(calls, T.FAST_BINS)
    judged = table[table["calls"] >= 50]
    assert len(judged) >= 4, table  # the check covers confidence from about 0.4 to 1
    assert judged["calls"].sum() >= 0.95 * len(calls)
    worst = judged["difference"].abs().max()
    assert worst <= 0.05, table.to_string()


@needs_bbq
def test_clear_calls_are_right_and_calls_span_the_thresholds(calls) -> None:
    clear = calls[calls["type_status"] == "clear"]
    assert len(clear) >= 200 and clear["correct"].mean() >= 0.95
    assert set(calls["true_type"]) == set(metrics.TYPES)  # every region is planted
    assert calls["type_possible"].str.contains(r"\|").any()  # some calls are indeterminate
    # an indeterminate call lists the truth among its possible types in most cases
    ind = calls[calls["type_status"] == "indeterminate"]
    listed = [t in p.split("|") for t, p in zip(ind["true_type"], ind["type_possible"])]
    assert np.mean(listed) >= 0.9


def test_type_calls_status_and_possible_types() -> None:
    thr_tb, thr_ba = np.full(4, 0.1), np.full(4, 0.5)
    tb = np.array([0.3, 0.05, 0.12, 0.02])
    ba = np.array([0.9, 0.2, 0.6, 0.45])
    iv = {"TB": (np.array([0.2, 0.0, 0.05, 0.0]), np.array([0.4, 0.09, 0.2, 0.08])),
          "BAmt": (np.array([0.8, 0.1, 0.55, 0.3]), np.array([1.0, 0.3, 0.7, 0.6]))}
    se = np.array([0.05, 0.02, 0.05, 0.0])
    out = MT.type_calls(tb, se, ba, np.full(4, 0.05), iv, thr_tb, thr_ba)
    assert list(out["type"]) == ["skewed-large", "ideal", "skewed-large", "ideal"]
    assert list(out["type_status"]) == ["clear", "clear", "indeterminate", "indeterminate"]
    assert list(out["type_possible"]) == ["skewed-large", "ideal", "balanced|skewed-large", "ideal|balanced"]
    # se 0: the TB side is certain; the BAmt side of row 3 is not
    assert out["p_skewed"][3] == 0.0 and 0.5 < 1 - out["p_large"][3] < 1
    # confidence = product of the two sides' probabilities, each at least 1/2
    conf = np.asarray(out["type_confidence"])
    assert np.all((conf >= 0.25) & (conf <= 1))
    side = lambda p, hi: np.where(hi, p, 1 - p)  # noqa: E731
    expected = side(out["p_skewed"], tb > 0.1) * side(out["p_large"], ba > 0.5)
    assert np.allclose(conf, expected)


def test_type_calls_without_bootstrap_or_data() -> None:
    nan = np.full(2, np.nan)
    out = MT.type_calls(np.array([0.3, np.nan]), nan, np.array([0.9, 0.9]), nan,
                        {"TB": (nan, nan), "BAmt": (nan, nan)}, np.full(2, 0.1), np.full(2, 0.5))
    assert out["type"][0] == "skewed-large" and pd.isna(out["type"][1])
    assert np.isnan(out["type_confidence"]).all()
    assert out["type_status"].isna().all() and out["type_possible"].isna().all()


def test_above_probability_uses_the_fitted_inflation() -> None:
    p = MT.above_probability(np.array([0.2]), np.array([0.1]), np.array([0.1]), 2.0)
    assert p[0] == pytest.approx(0.6914624612740131)  # Phi(0.5)


@pytest.mark.parametrize("kwargs, match", [
    ({"tb_threshold": None}, "effect size"),
    ({"tb_threshold": -0.1}, "tb_threshold"),
    ({"bamt_threshold": float("inf")}, "bamt_threshold"),
    ({"n_null": -1}, "n_null"),
])
def test_thresholds_refuse_bad_values(kwargs, match) -> None:
    with pytest.raises(MetricsInputError, match=match):
        metrics.TypeThresholds(**kwargs)


@needs_bbq
def test_summary_carries_the_call_and_its_interval() -> None:
    from tests.metrics_fixtures import bbq_items

    items = bbq_items("Religion").groupby("context_condition").head(60)
    rng = np.random.default_rng(3)
    rows = items.loc[items.index.repeat(3)].assign(run=np.tile(np.arange(3), len(items)))
    ans = rows.assign(persona="", persona_member_of="", model="m", excluded=False,
                      choice=rng.integers(0, 3, len(rows)))
    thr = metrics.TypeThresholds(tb_threshold=0.2, bamt_threshold=0.4, n_null=20)
    s = metrics.score_answers(ans, n_boot=50, n_perm=0, thresholds=thr).summary
    assert (s["TB_threshold"] == 0.2).all() and (s["BAmt_threshold"] == 0.4).all()
    mid = np.maximum((s["TB_plugin"] + s["TB_debiased"]) / 2, 0).where(s["TB_debiased"].notna(), s["TB_plugin"])
    assert np.allclose(s["TB_mid"], mid)
    for r in s.itertuples():
        assert r.type in r.type_possible.split("|")
        assert (r.type_status == "clear") == ("|" not in r.type_possible)
        assert r.TB_null > 0  # the noise level of the plug-in TB of a random answerer


def test_cli_refuses_a_bad_threshold_before_reading(tmp_path, capsys) -> None:
    from socialbias.eval import main

    assert main(["score", str(tmp_path / "none.jsonl"), "--tb-threshold", "-0.1", "--out", str(tmp_path / "o")]) == 2
    assert "--tb-threshold" in capsys.readouterr().err
    assert main(["score", str(tmp_path / "none.jsonl"), "--bamt-fraction", "0", "--out", str(tmp_path / "o")]) == 2


@pytest.mark.skipif(not PAPER_DIR.exists(), reason="../shared/paper_outputs missing")
def test_cli_thresholds_reach_the_summary(tmp_path) -> None:
    from socialbias.eval import main

    out = tmp_path / "scored"
    assert main(["score", str(PAPER_DIR), "--format", "paper", "--parser", "recorded", "--n-boot", "20",
                 "--no-report", "--quiet", "--tb-threshold", "0.02", "--bamt-threshold", "0.6",
                 "--out", str(out)]) == 0
    s = pd.read_csv(out / "summary.csv").set_index("context_condition")
    assert (s["TB_threshold"] == 0.02).all() and (s["BAmt_threshold"] == 0.6).all()
    # ambiguous: TB_mid 0.034 > 0.02 and BAmt 0.69 > 0.6; disambiguated: BAmt 0.47 < 0.6
    assert s.loc["ambig", "type"] == "skewed-large" and s.loc["disambig", "BAmt"] < 0.6
