"""TB(p->t) p-values (metrics/score.py ``_tb_pvalues``): a cell whose templates all agree has no
bootstrap spread; where its stratum has nothing to pool (here: fewer than 3 cells with spread,
or each cell its own stratum) its p-value is the exact sign test of G agreeing templates, never
0. With pooling: tests/test_pooled_variance.py."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from socialbias.metrics.score import _tb_pvalues


def test_zero_spread_cells_get_the_sign_test_p_value_and_others_the_t_test() -> None:
    # cells: agreeing templates (G = 6, 3, 12), a zero TB, and one with spread
    tb = np.array([0.4, -0.4, 0.2, 0.0, 0.3])
    G = np.array([6, 3, 12, 6, 6])
    rng = np.random.default_rng(0)
    reps = np.tile(tb, (200, 1))
    reps[:, 4] = tb[4] + rng.normal(0, 0.1, 200)
    layout = SimpleNamespace(tg=pd.DataFrame({"stratum": np.zeros(5, np.int64)}))
    p, padj = _tb_pvalues(layout, {"tg": {"TB": tb[None]}}, {"tg.TB": reps}, G)  # type: ignore[arg-type]
    for i in range(3):
        exact = binomtest(int(G[i]), int(G[i]), 0.5).pvalue  # all G templates on one side
        assert p[i] == exact > 0
    assert p[1] > 0.2  # three agreeing templates are no evidence at 5%
    assert p[3] == 1.0
    assert 0 < p[4] < 0.05 and (padj >= p).all()


def test_false_positive_rate_under_a_symmetric_null_with_few_templates() -> None:
    """Known truth TB = 0: each of G templates leans +1 or -1 with probability 1/2, the cluster
    bootstrap gives the replicates. At 5% the test rejects at most 5% (+3 standard errors) for
    every G; with p = 0 for agreeing templates it rejected 13% at G = 4."""
    rng = np.random.default_rng(1)
    n, n_boot = 4000, 300
    for G in (4, 6, 10):
        values = rng.choice([-1.0, 1.0], size=(n, G))
        draws = rng.integers(0, G, size=(n_boot, G))
        reps = values[:, draws].mean(axis=2).T  # replicates x cells
        layout = SimpleNamespace(tg=pd.DataFrame({"stratum": np.arange(n)}))
        p, _ = _tb_pvalues(layout, {"tg": {"TB": values.mean(axis=1)[None]}}, {"tg.TB": reps},  # type: ignore[arg-type]
                           np.full(n, G))
        assert (p < 0.05).mean() <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / n), G
