"""Moderated standard errors of the per-target cells (metrics/pooled_variance.py; docs/method.md
section 8): the prior degrees of freedom are recovered from variances of known law, a cell whose
templates all agree borrows its stratum's variance instead of getting an interval of width 0,
the TB(p->t) interval excludes 0 exactly when its p-value is below 1 - ci, and by simulation
with known truth the intervals cover and the p-values hold their level."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from socialbias.metrics.crossfit import nan_sd
from socialbias.metrics.pooled_variance import moderated_se, prior_df, replicate_sd
from socialbias.metrics.score import _tb_pvalues, few_cluster_intervals


def _cluster_bootstrap(values: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot x cells) replicates of the mean of each row of ``values`` (cells x G templates)."""
    G = values.shape[1]
    draws = rng.integers(0, G, size=(n_boot, G))
    return values[:, draws].mean(axis=2).T


def _score(est: np.ndarray, reps: np.ndarray, G: np.ndarray, stratum: np.ndarray, ci: float = 0.95):
    """TB(p->t) interval and p-value as metrics.score_answers computes them."""
    layout = SimpleNamespace(tg=pd.DataFrame({"stratum": stratum}))
    point = {"tg": {"TB": est[None]}}
    (lo, hi), = few_cluster_intervals({"tg.TB": reps}, point, {"tg": G}, ci, stratum, G).values()  # type: ignore[arg-type]
    p, _ = _tb_pvalues(layout, point, {"tg.TB": reps}, G, G)  # type: ignore[arg-type]
    return lo, hi, p


@pytest.mark.parametrize("d0", [4.0, 12.0])
def test_prior_df_recovers_the_prior_of_known_law(d0: float) -> None:
    # Smyth's model: 1 / sigma_c^2 ~ chi2_{d0} / (d0 s0^2), s_c^2 ~ sigma_c^2 chi2_{d_c} / d_c
    rng = np.random.default_rng(3)
    n = 4000
    d = rng.integers(2, 9, size=n).astype(float)
    sigma2 = d0 / rng.chisquare(d0, size=n)
    s2 = sigma2 * rng.chisquare(d) / d
    assert abs(prior_df(s2, d) - d0) < 0.2 * d0
    assert prior_df(rng.chisquare(d) / d, d) > 100  # equal variances: (nearly) full pooling
    assert prior_df(s2[:2], d[:2]) == 0.0  # too few cells to estimate: no pooling


def test_a_cell_whose_templates_agree_borrows_the_stratum_variance() -> None:
    rng = np.random.default_rng(4)
    values = rng.normal(0.0, 1.0, size=(30, 5))
    values[0] = 0.6  # all five templates agree: no spread of its own
    reps = _cluster_bootstrap(values, 400, rng)
    G = np.full(30, 5.0)
    se, df, agree = moderated_se(reps, G, np.zeros(30, np.int64))
    assert agree[0] and not agree[1:].any()
    assert 0.2 < se[0] < 0.6 and df[0] > 4  # about sigma / sqrt(G) = 0.45 times a pooled share
    lo, hi, p = _score(values.mean(axis=1), reps, G, np.zeros(30, np.int64))
    assert lo[0] < 0.6 < hi[0] and hi[0] - lo[0] > 0.5
    assert p[0] >= 2 * 0.5 ** 5  # never below the sign test of five agreeing templates
    # alone in its stratum there is nothing to borrow: no interval, the sign test
    lo1, hi1, p1 = _score(values.mean(axis=1)[:1], reps[:, :1], G[:1], np.zeros(1, np.int64))
    assert np.isnan(lo1[0]) and np.isnan(hi1[0]) and p1[0] == 2 * 0.5 ** 5


def test_interval_excludes_zero_exactly_when_p_is_below_alpha() -> None:
    rng = np.random.default_rng(5)
    n, G = 600, rng.choice([3, 4, 5, 6, 8, 12], size=600)
    Gmax = int(G.max())
    values = rng.choice([-1.0, 0.0, 2.0], p=[0.3, 0.4, 0.3], size=(n, Gmax))
    values[rng.random(n) < 0.3] = rng.choice([-1.0, 2.0])  # agreeing cells
    est = np.array([values[i, :G[i]].mean() for i in range(n)])
    reps = np.column_stack([_cluster_bootstrap(values[i:i + 1, :G[i]], 300, rng)[:, 0] for i in range(n)])
    stratum = np.arange(n) // 40
    for ci in (0.9, 0.95):
        lo, hi, p = _score(est, reps, G.astype(float), stratum, ci)
        ok = np.isfinite(lo)
        assert ok.mean() > 0.9
        excludes = (lo > 0) | (hi < 0)
        assert np.array_equal(excludes[ok], (p < 1 - ci)[ok])
        assert ((p < 1 - ci) & (G == 4) & (np.ptp(reps, axis=0) == 0)).sum() == 0  # four agreeing templates: p = 0.125


@pytest.mark.parametrize("G", [4, 6, 10])
def test_level_under_a_symmetric_null_with_pooling(G: int) -> None:
    """Known truth 0: each of G templates leans +1 or -1 with probability 1/2, strata of 20
    cells share their variance. At 5% the test (and the interval's exclusion of 0) rejects at
    most 5% + 3 standard errors; without the sign-test bound four agreeing templates (|t| = 2
    with the stratum's variance) were rejected 12.5% of the time."""
    rng = np.random.default_rng(6)
    n = 4000
    values = rng.choice([-1.0, 1.0], size=(n, G))
    reps = _cluster_bootstrap(values, 300, rng)
    _, _, p = _score(values.mean(axis=1), reps, np.full(n, float(G)), np.arange(n) // 20)
    assert (p < 0.05).mean() <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / n), G


def test_coverage_with_heterogeneous_cell_variances() -> None:
    """Known truth: templates N(mu_c, sigma_c^2) with sigma_c^2 drawn from Smyth's prior
    (d0 = 6), G = 5 per cell, strata of 40 cells; the moderated t interval covers mu_c at about
    95% (it would be 95% exactly with known d0 and s0^2 and the t's own variance estimate)."""
    rng = np.random.default_rng(7)
    n, G = 4000, 5
    sigma = np.sqrt(6.0 / rng.chisquare(6.0, size=n))
    mu = rng.normal(0.0, 1.0, size=n)
    values = mu[:, None] + sigma[:, None] * rng.normal(size=(n, G))
    reps = _cluster_bootstrap(values, 300, rng)
    lo, hi, _ = _score(values.mean(axis=1), reps, np.full(n, float(G)), np.arange(n) // 40)
    covered = ((lo <= mu) & (mu <= hi)).mean()
    assert 0.93 <= covered <= 0.97, covered


def test_replicate_sd_is_nan_sd() -> None:
    rng = np.random.default_rng(8)
    reps = np.asfortranarray(rng.normal(size=(50, 40)))
    reps[3, 5] = reps[7, 5] = np.nan
    reps[:, 9] = np.nan
    reps[1:, 11] = np.nan  # one defined replicate: no sd
    assert np.allclose(replicate_sd(reps), nan_sd(reps), equal_nan=True)
    assert np.isnan(replicate_sd(reps[:1])).all()


@pytest.mark.parametrize("block", [3, 10**9])
def test_replicate_sd_by_blocks_is_exact(block, monkeypatch) -> None:
    """Computed COLUMN_BLOCK columns at a time, replicate_sd is, bit for bit, np.std of each
    column without NaN and nan_sd of each column with one (infinite replicates: NaN)."""
    from socialbias.metrics import pooled_variance

    monkeypatch.setattr(pooled_variance, "COLUMN_BLOCK", block)
    rng = np.random.default_rng(9)
    reps = np.asfortranarray(rng.normal(size=(200, 23)) * rng.uniform(0.1, 3.0, size=23))
    reps[rng.integers(0, 200, size=8), rng.integers(0, 23, size=8)] = np.nan
    reps[:, 4] = np.nan
    reps[0, 6] = np.inf
    clean = np.isfinite(reps).all(axis=0)
    assert 0 < clean.sum() < reps.shape[1] - 2
    with np.errstate(invalid="ignore"):  # inf - inf
        got = replicate_sd(reps)
        np.testing.assert_array_equal(got[~clean], nan_sd(reps[:, ~clean]))
    np.testing.assert_array_equal(got[clean], reps[:, clean].std(axis=0, ddof=1))
    assert np.isnan(got[[4, 6]]).all() and not np.isnan(got[clean]).any()


def test_rounding_scatter_is_no_spread() -> None:
    """A statistic constant in exact arithmetic whose float32 replicates scatter by their
    rounding (pooled_variance.ROUNDING) has no spread: its sd is 0 and its cell counts as
    templates that agree; a real spread of 1e-4, and the same scatter without the rounding
    rule, are kept."""
    from socialbias.metrics.pooled_variance import ROUNDING

    rng = np.random.default_rng(10)
    reps = np.empty((400, 4))
    reps[:, 0] = 0.1 + rng.normal(scale=1e-8, size=400)  # measured: 7e-9 at a TB of 0.1
    reps[:, 1] = 2.5 + rng.normal(scale=2e-7, size=400)  # larger values, larger rounding
    reps[:, 2] = 0.1 + rng.normal(scale=1e-4, size=400)  # a real spread
    reps[:, 3] = 0.1
    reps[5, 1] = np.nan  # NaN replicates skipped, as by nan_sd
    sd = replicate_sd(reps, ROUNDING)
    assert sd[0] == sd[1] == sd[3] == 0.0 and sd[2] > 5e-5
    assert (replicate_sd(reps)[:3] > 0).all()
    se, _, agree = moderated_se(reps, np.full(4, 5.0), np.zeros(4, dtype=np.int64))
    assert agree.tolist() == [True, True, False, True]
