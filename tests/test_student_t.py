"""metrics.student_t gives bit for bit what scipy.stats.t gives (it replaces it to keep
scipy.stats out of ``score``'s imports; docs/design.md, "responses")."""

from __future__ import annotations

import numpy as np
from scipy import stats

from socialbias.metrics.student_t import t_ppf, t_sf


def _same(a, b) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and np.array_equal(a, b, equal_nan=True)


def test_sf_and_ppf_equal_scipy_stats_bit_for_bit() -> None:
    rng = np.random.default_rng(0)
    df = np.concatenate([[0.0, -1.0, np.nan, 0.5, 1.0, 2.0, 3.0, 29.0, 1e6, np.inf], rng.uniform(0.1, 200.0, 200)])
    x = np.concatenate([[0.0, -0.0, np.inf, -np.inf, np.nan, 1e-300, 40.0], rng.normal(0, 4, 203)])
    q = np.concatenate([[0.0, 1.0, -0.1, 1.1, np.nan, 0.5, 0.975, 1e-12, 1 - 1e-12, 0.95], rng.uniform(0, 1, 200)])
    assert _same(t_sf(x, df), stats.t.sf(x, df))
    assert _same(t_ppf(q, df), stats.t.ppf(q, df))
    grid_x, grid_df = np.meshgrid(x[:40], df[:40])
    assert _same(t_sf(grid_x, grid_df), stats.t.sf(grid_x, grid_df))
    grid_q, grid_df = np.meshgrid(q[:40], df[:40])
    assert _same(t_ppf(grid_q, grid_df), stats.t.ppf(grid_q, grid_df))


def test_scalars_and_broadcasting() -> None:
    assert _same(t_ppf(0.975, 4.0), stats.t.ppf(0.975, 4.0))
    assert _same(t_ppf(0.975, [1.0, 2.0, 30.0]), stats.t.ppf(0.975, [1.0, 2.0, 30.0]))
    assert _same(t_sf(np.array([[1.0], [2.0]]), [3.0, 9.0]), stats.t.sf(np.array([[1.0], [2.0]]), [3.0, 9.0]))
    assert abs(float(t_ppf(0.975, 1e9)) - 1.959963984540054) < 1e-6  # large df: the normal quantile


def test_scoring_does_not_import_scipy_stats() -> None:
    """``score``'s modules stay clear of scipy.stats (0.46 s of CPU to import)."""
    import subprocess
    import sys

    code = ("import sys, socialbias.eval, socialbias.scoring, socialbias.metrics, socialbias.recorded; "
            "print(sorted(m for m in sys.modules if m.startswith('scipy.stats')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
