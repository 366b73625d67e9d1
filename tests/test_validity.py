"""The CI-sized validity study (bench/validity.py --fast): intervals cover the known truth of
simulated answerers, and the persona test rarely fires without a persona effect.

Sexual_orientation, 120 items per context and the whole category, four scenarios (no bias,
planted target bias and a strong persona effect with sampled answers; no bias with
deterministic answers), 15 replications each; coverage pooled over the scenarios of a sample
size. About 1.5 minutes on the 2-core CI machine.

Means of absolute values (TB, TB(p->T), PB(p), PB, PB_floor and PB_excess = PB - PB_floor)
have a kink at 0: where the truth is above 0 but within the noise ("near 0"), an interval
that is valid for every truth must cover more often than nominal (no estimator of |mu| is
unbiased near 0; docs/method.md section 8), so the upper bound 0.99 is asserted where the
truth is exactly 0 or away from 0 (:func:`validity.regimes`), the lower bound 0.90 everywhere.
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

#: Signed and ratio statistics: percentile intervals (widened for few clusters).
SIGNED = ("TB(p->t)", "BAmt", "acc")


@pytest.fixture(scope="module")
def study() -> tuple[pd.DataFrame, pd.DataFrame]:
    import validity

    return validity.fast_study(reps=15)


@pytest.mark.parametrize("size", [120, "all"])
def test_signed_families_cover_at_nominal(study, size) -> None:
    table, _ = study
    pooled = table.loc[table["items per context"] == size, list(SIGNED)].mean()
    for family in SIGNED:
        assert 0.90 <= pooled[family] <= 0.99, (size, family, pooled[family])


@pytest.mark.parametrize("size", [120, "all"])
def test_absolute_families_cover_and_are_not_needlessly_wide(study, size) -> None:
    import validity

    table, by_regime = study
    pooled = table.loc[table["items per context"] == size, list(validity.ABSOLUTE)].mean()
    for family in validity.ABSOLUTE:
        assert pooled[family] >= 0.90, (size, family, pooled[family])
    rows = by_regime[by_regime["items per context"] == size]
    for regime in ("0", "near 0"):
        cov = rows[f"coverage ({regime})"].to_numpy(dtype=float)
        assert (np.nan_to_num(cov, nan=1.0) >= 0.90).all(), (size, regime, rows)
    n = rows["n (0 or away)"].fillna(0).to_numpy(dtype=float)
    covered = (rows["coverage (0 or away)"].fillna(0).to_numpy(dtype=float) * n).sum()
    assert n.sum() >= 300, n.sum()
    assert 0.90 <= covered / n.sum() <= 0.99, (size, covered / n.sum())


@pytest.mark.parametrize("mode", ["sampled", "deterministic"])
def test_exceeds_floor_rarely_without_persona_effect(study, mode) -> None:
    table, _ = study
    rate = table.loc[table["mode"] == mode, "exceeds floor (no effect)"].mean()
    assert np.isfinite(rate) and rate <= 0.10, (mode, rate)


@pytest.mark.skipif(not (BBQ_DATA / "Religion.jsonl").exists(), reason="BBQ data missing")
def test_per_target_cells_cover_in_a_small_design() -> None:
    """``bench/validity.py --small`` (Religion, 24 items per context: about five templates per
    target, 15 replications per mode, about 10 s): TB(p->t), BAmt(p->t) and shift intervals
    cover in [0.90, 0.99] in both modes, including the cells whose own templates all agree
    (their intervals had width 0 and covered 0.00-0.15 before the moderated standard error;
    docs/method.md section 8)."""
    import validity_small

    table = validity_small.small_design_coverage(reps=15)
    rows = table.set_index(["family", "mode", "cells"])
    for family in ("TB(p->t)", "BAmt(p->t)", "shift"):
        for mode in ("sampled", "deterministic"):
            assert 0.90 <= rows.loc[(family, mode, "all"), "coverage"] <= 0.99, (family, mode, table)
            agree = rows.loc[(family, mode, "own spread 0")]
            assert agree["coverage"] >= 0.85 and agree["median width"] > 0, (family, mode, table)
