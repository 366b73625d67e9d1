"""The CI-sized validity study (bench/validity.py --fast): intervals cover the known truth of
simulated answerers, and the persona test rarely fires without a persona effect.

Sexual_orientation, 120 items per context and the whole category, three scenarios (no bias
and planted target bias with sampled answers, no bias with deterministic answers), 15
replications each; coverage pooled over the scenarios of a sample size. About a minute on
the 2-core CI machine.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.metrics_fixtures import BBQ_DATA

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
pytestmark = pytest.mark.skipif(not (BBQ_DATA / "Sexual_orientation.jsonl").exists(), reason="BBQ data missing")

#: Signed and ratio statistics: percentile intervals, coverage close to nominal.
SIGNED = ("TB(p->t)", "BAmt", "acc")
#: Means of absolute values: conservative intervals (lower end from the cross-fitted
#: estimate, upper end from the plug-in), coverage at least nominal; PB_excess: debiased +- z se.
ABSOLUTE = ("TB", "TB(p->T)", "PB(p)", "PB", "PB_floor", "PB_excess")


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    import validity

    return pd.concat([validity.study("Sexual_orientation", n, validity.FAST_SCENARIOS, reps=15)
                      for n in (120, None)], ignore_index=True)


@pytest.mark.parametrize("size", [120, "all"])
def test_coverage_of_every_family(table, size) -> None:
    rows = table[table["items per context"] == size]
    pooled = rows[list(SIGNED + ABSOLUTE)].mean()
    for family in SIGNED:
        assert 0.90 <= pooled[family] <= 0.99, (size, family, pooled[family])
    for family in ABSOLUTE:
        assert pooled[family] >= 0.90, (size, family, pooled[family])


@pytest.mark.parametrize("mode", ["sampled", "deterministic"])
def test_exceeds_floor_rarely_without_persona_effect(table, mode) -> None:
    rate = table.loc[table["mode"] == mode, "exceeds floor (no effect)"].mean()
    assert np.isfinite(rate) and rate <= 0.10, (mode, rate)
