"""Paired shifts (metrics.paired) checked by simulation with known truth.

Two simulated answerers answer the same BBQ items: with the same parameters (true shift 0 in
every metric) the 95% intervals must cover 0 about 95% of the time and the test must reject
at about 5%; with a planted accuracy shift the test must find it, with the right sign.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from socialbias.metrics.errors import MetricsInputError
from socialbias.metrics.paired import PAIRED_COLUMNS, paired_shifts
from tests.metrics_fixtures import bbq_items, simulate_answers

PERSONAS = {"": "", "Muslim": "Muslim", "Jewish": "Jewish"}


@pytest.fixture(scope="module")
def items() -> pd.DataFrame:
    return bbq_items("Religion").iloc[::5]  # 240 items, 25 templates per context


def _pair(items, seed, **variant) -> pd.DataFrame:
    base = simulate_answers(items, PERSONAS, runs=2, seed=2 * seed, model="base")
    lora = simulate_answers(items, PERSONAS, runs=2, seed=2 * seed + 1, model="lora", **variant)
    return pd.concat([base, lora], ignore_index=True)


def test_no_shift_is_covered_and_rejected_at_the_stated_rate(items):
    covered, rejected = [], []
    for s in range(60):
        out = paired_shifts(_pair(items, s), "base", n_boot=200, seed=s)
        live = out[out["shift_se"] > 0]  # invalid_rate is 0 in both: no variation to test
        covered.append(((live.shift_lo <= 0) & (live.shift_hi >= 0)).to_numpy())
        rejected.append((live.p_value < 0.05).to_numpy())
    coverage, rate = np.mean(covered), np.mean(rejected)
    print(f"paired shifts, no true shift: coverage {coverage:.3f}, rejection rate {rate:.3f} (60 x 8 tests)")
    assert 0.91 <= coverage <= 0.985 and 0.015 <= rate <= 0.09
    assert np.allclose(1 - coverage, rate)  # the interval and the test are one rule


def test_planted_shift_is_detected(items):
    for s in range(5):
        out = paired_shifts(_pair(items, 100 + s, p_correct_disambig=0.8), "base", n_boot=200, seed=s)
        acc = out[(out.metric == "acc") & (out.context_condition == "disambig")].iloc[0]
        assert acc["shift"] > 0.2 and acc["p_value"] < 0.001 and acc["shift_lo"] > 0
    assert list(out.columns) == list(PAIRED_COLUMNS) and out.attrs["resample_unit"] == "templates"


def test_shifts_are_reproducible_and_independent_of_row_order(items):
    data = _pair(items, 7)
    a = paired_shifts(data, "base", n_boot=50, seed=3)
    b = paired_shifts(data.sample(frac=1, random_state=1), "base", n_boot=50, seed=3)
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-9)


def test_unpaired_answers_are_refused(items):
    data = _pair(items, 1)
    drop = (data.model == "lora") & (data.item_id == data.item_id.iloc[0])
    with pytest.raises(MetricsInputError, match="did not answer the same items"):
        paired_shifts(data[~drop], "base")
    with pytest.raises(MetricsInputError, match="not in the answers"):
        paired_shifts(data, "nobody")
    with pytest.raises(MetricsInputError, match="needs a second model"):
        paired_shifts(data[data.model == "base"], "base")
