"""Student t tail and quantile, as ``scipy.stats.t.sf`` and ``scipy.stats.t.ppf`` give them.

The metrics' intervals and p-values on few clusters (docs/method.md, section 8) need only
these two functions, and importing ``scipy.stats`` for them cost 0.46 s of CPU on every
``score`` (it loads scipy.spatial, scipy.optimize and every distribution), a third of the
package's import time (docs/design.md, "responses"). Both are computed here with the same
``scipy.special`` functions ``scipy.stats.t`` calls (``stdtr``, ``stdtrit``), with the same
answers at the edges (df <= 0 or NaN: NaN; ppf at q = 0 / 1: -inf / +inf; q outside [0, 1]:
NaN), so results are bit-identical (tests/test_student_t.py compares them).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import stdtr, stdtrit


def t_sf(x: ArrayLike, df: ArrayLike) -> np.ndarray:
    """P(T > x) for T ~ Student t with ``df`` degrees of freedom (broadcast); NaN where df <= 0."""
    xs, dfs = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(df, dtype=np.float64))
    with np.errstate(invalid="ignore"):
        out = np.where(dfs > 0, stdtr(np.where(dfs > 0, dfs, 1.0), -xs), np.nan)
    return np.asarray(out, dtype=np.float64)


def t_ppf(q: ArrayLike, df: ArrayLike) -> np.ndarray:
    """The ``q`` quantile of Student t with ``df`` degrees of freedom (broadcast); NaN where
    df <= 0 or q is outside [0, 1], -inf / +inf at q = 0 / 1."""
    qs, dfs = np.broadcast_arrays(np.asarray(q, dtype=np.float64), np.asarray(df, dtype=np.float64))
    good = dfs > 0
    inside = good & (qs > 0) & (qs < 1)
    with np.errstate(invalid="ignore"):
        out = np.where(inside, stdtrit(np.where(good, dfs, 1.0), np.where(inside, qs, 0.5)), np.nan)
    out = np.where(good & (qs == 0), -np.inf, np.where(good & (qs == 1), np.inf, out))
    return np.asarray(out, dtype=np.float64)


__all__ = ["t_ppf", "t_sf"]
