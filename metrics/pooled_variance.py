"""Moderated standard errors of the per-target cells: TB(p->t), BAmt(p->t) and shifts.

A per-target cell (stratum, persona, target) rests on the G templates that ask about the
target, about five per target with 24 items per context in a ten-target category. Its
cluster-bootstrap variance is then often exactly 0: every template contributes alike (most
often the target is never named wrongly in any of them), every replicate equals the estimate,
and the percentile interval has width 0. Such intervals held the truth 7-15% of the time in
``python bench/validity.py --small`` (docs/validity.md). Small-sample corrections of the
cell's own variance (CR1, CR2, the wild cluster bootstrap) rescale a spread of 0 and cannot
help: the fix needs information from outside the cell.

It borrows it from the stratum's other cells, as the moderated t of Smyth (2004, "Linear
models and empirical Bayes methods for assessing differential expression in microarray
experiments", Statistical Applications in Genetics and Molecular Biology 3(1), article 3)
does for genes (docs/method.md section 8):

- per cell c with G_c >= 2 templates and m_c answers, the variance per answer
  ``s_c^2 = m_c * v_c * G_c / (G_c - 1)`` (``v_c`` the bootstrap variance, scaled by CR1:
  the cell's variance is s_c^2 / m_c, and answers, unlike templates, weigh the same in every
  cell) on ``d_c = G_c - 1`` degrees of freedom;
- per stratum the pooled variance ``s_0^2 = sum_c d_c s_c^2 / sum_c d_c`` (zeros included:
  with discrete answers a variance of 0 is one of its possible values, and the pooled mean
  stays unbiased for the mean cell variance) and the prior degrees of freedom ``d_0`` by
  Smyth's moment estimator (his section 6.2) over the cells with positive variance, capped
  at ``sum_c d_c`` (limma's cap: the prior cannot carry more information than the pooled
  cells); with fewer than 3 such cells d_0 cannot be estimated and is 0 (no pooling);
- the moderated variance ``s~_c^2 = (d_0 s_0^2 + d_c s_c^2) / (d_0 + d_c)``, the standard
  error ``sqrt(s~_c^2 / m_c)`` and Student's t on ``d_0 + d_c`` degrees of freedom.

A cell with many templates keeps mostly its own variance (``d_c`` large); a cell with few gets
mostly the stratum's. The interval is ``estimate +- t_{d_0 + d_c} se``. The p-value of
TB(p->t) (:func:`metrics.score._tb_pvalues`) is the same t, but never below the exact sign
test of a cell whose templates all agree (:func:`pvalues`), and the TB(p->t) interval is
stretched to 0 where that p-value keeps 0 (:func:`reach_zero`): the interval excludes 0
exactly when p < 1 - ci. Below 2 templates, or where every cell of the stratum has variance 0
(no variation anywhere to borrow), there is no interval.
"""

from __future__ import annotations

import numpy as np

from ._grouping import COLUMN_BLOCK
from .crossfit import nan_sd

#: Standard errors at or below this are "no spread" (identical replicates give about 1e-17).
NO_SPREAD = 1e-12
#: Rounding scatter of bootstrap replicates, relative to their size: where every template
#: contributes alike, a statistic that is constant in exact arithmetic still scatters by its
#: rounding, about 1e-7 of its size in float32 (:data:`metrics.score.REPLICATE_DTYPE`; 7e-9
#: measured at a TB(p->t) of 0.1 with a mean over five runs, where float64 gave 2e-17). A
#: replicate standard deviation at most ``ROUNDING * max(1, max |replicate|)`` is no spread.
ROUNDING = 1e-6


def _trigamma_inverse(y: float) -> float:
    """x with trigamma(x) = y (y > 0): the Newton iteration of limma's trigammaInverse (Smyth 2004, section 6.2)."""
    from scipy.special import polygamma

    if y > 1e7:
        return 1.0 / float(np.sqrt(y))
    if y < 1e-6:
        return 1.0 / y
    x = 0.5 + 1.0 / y
    for _ in range(50):
        tri = float(polygamma(1, x))
        step = tri * (1.0 - tri / y) / float(polygamma(2, x))
        x = x + step
        if -step / x < 1e-8:
            break
    return float(x)


def prior_df(s2: np.ndarray, d: np.ndarray) -> float:
    """Smyth's moment estimate of the prior degrees of freedom d_0 from sample variances
    ``s2`` on ``d`` degrees of freedom (positive ones only; fewer than 3: 0, no pooling;
    no spread beyond sampling: infinity)."""
    from scipy.special import digamma, polygamma

    ok = (s2 > 0) & (d > 0) & np.isfinite(s2)
    n = int(ok.sum())
    if n < 3:
        return 0.0
    half = d[ok] / 2.0
    e = np.log(s2[ok]) - digamma(half) + np.log(half)
    excess = float(np.var(e, ddof=1) - np.mean(polygamma(1, half)))
    return 2.0 * _trigamma_inverse(excess) if excess > 0 else float("inf")


def replicate_sd(reps: np.ndarray, rounding: float = 0.0) -> np.ndarray:
    """Standard deviation (ddof 1) of each column of bootstrap replicates, NaN-skipping like
    :func:`metrics.crossfit.nan_sd` but about 15 times faster where a column has no NaN (the
    usual case): ``np.std`` of every column, then ``nan_sd`` of the columns where it is NaN
    (a NaN replicate makes it NaN; an infinite one gives NaN on both paths).

    Computed :data:`~metrics._grouping.COLUMN_BLOCK` columns at a time, like ``nan_sd``: on
    (1000 x 21,105) replicates numpy's temporaries were full-size arrays of 170 MB, which
    the kernel maps and zeroes afresh; each column is reduced by the same ``np.std`` in the
    same order, so its value does not depend on the block.

    ``rounding``: a standard deviation at most ``rounding`` times the column's largest
    absolute replicate (at least 1) is rounding, not spread, and is reported as 0
    (:data:`ROUNDING`)."""
    out = np.full(reps.shape[1], np.nan)
    if reps.shape[0] < 2:
        return out
    for c0 in range(0, reps.shape[1], COLUMN_BLOCK):
        block = reps[:, c0:c0 + COLUMN_BLOCK]
        sd: np.ndarray = block.std(axis=0, ddof=1)
        redo = np.isnan(sd)
        if redo.any():
            sd[redo] = nan_sd(block[:, redo])
        if rounding:
            with np.errstate(invalid="ignore"):  # all-NaN columns: NaN sd, kept
                size = np.fmax.reduce(np.abs(block), axis=0)
            sd[sd <= rounding * np.fmax(size, 1.0)] = 0.0
        out[c0:c0 + COLUMN_BLOCK] = sd
    return out


def moderated_se(reps: np.ndarray, G: np.ndarray, stratum: np.ndarray, size: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Moderated standard error, its degrees of freedom, and whether the cell's own templates
    all agree (no replicate spread of its own), per cell (see the module documentation).
    ``reps``: (replicates x cells) bootstrap values; ``G``: templates behind each cell;
    ``stratum``: the cell's stratum, over which variances are pooled; ``size``: the answers
    behind each cell (default ``G``: variances per template). NaN where the cell has fewer
    than 2 templates or no replicate spread is defined."""
    G = np.asarray(G, dtype=np.float64)
    m = G if size is None else np.asarray(size, dtype=np.float64)
    sd = replicate_sd(reps, ROUNDING)  # identical replicates (1e-17) and a constant statistic's rounding scatter: 0
    own = (G >= 2) & np.isfinite(sd) & (m > 0)
    d = np.where(own, G - 1.0, 0.0)
    s2 = np.where(own, sd * sd * m * G / np.where(own, G - 1.0, 1.0), 0.0)
    se = np.full(G.shape, np.nan)
    df = np.full(G.shape, np.nan)
    for s in np.unique(stratum[own]):
        cells = own & (stratum == s)
        total = float(d[cells].sum())
        pooled = float((d[cells] * s2[cells]).sum()) / total
        d0 = min(prior_df(s2[cells], d[cells]), total)
        moderated = (d0 * pooled + d[cells] * s2[cells]) / (d0 + d[cells])
        se[cells] = np.sqrt(moderated / m[cells])
        df[cells] = d0 + d[cells]
    return se, df, own & (s2 == 0)


def pvalues(est: np.ndarray, se: np.ndarray, df: np.ndarray, agree: np.ndarray, G: np.ndarray) -> np.ndarray:
    """Two-sided p-values of ``est = 0``: Student's t of :func:`moderated_se`, never below the
    exact sign-test p-value 2 x 0.5^G of a cell whose G templates all agree (``agree``).

    Under a symmetric null each template leans either way with probability 1/2, so G agreeing
    templates have probability 2 x 0.5^G; the t test with the stratum's variance would call
    four agreeing templates of +-1 significant (|t| = 2) 12.5% of the time. The larger of two
    valid p-values is valid. Where there is no spread to pool (``se`` 0), the sign test alone;
    NaN where ``se`` is NaN (fewer than 2 templates)."""
    from .student_t import t_sf

    G = np.asarray(G, dtype=np.float64)
    spread = np.isfinite(se) & (se > NO_SPREAD)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(spread, np.abs(est) / np.where(spread, se, 1.0), 0.0)
    p_t = np.where(spread, 2.0 * t_sf(z, np.where(spread, df, 1.0)), 1.0)
    sign = np.where(est == 0, 1.0, np.minimum(1.0, 2.0 * 0.5 ** np.maximum(G, 1)))
    p = np.where(spread, np.where(agree, np.maximum(p_t, sign), p_t), sign)
    return np.where(np.isnan(est) | np.isnan(se), np.nan, p)


def reach_zero(lo: np.ndarray, hi: np.ndarray, p: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Stretch intervals to include 0 where the test of 0 does not reject (``p >= alpha``),
    so an interval excludes 0 exactly when p < alpha: for a cell of agreeing templates the
    sign test can keep 0 although the t interval excludes it. Still a valid interval: it
    contains the t interval everywhere and 0 whenever the test keeps it."""
    keep = np.isfinite(lo) & (p >= alpha)
    return np.where(keep, np.minimum(lo, 0.0), lo), np.where(keep, np.maximum(hi, 0.0), hi)


def t_interval(est: np.ndarray, se: np.ndarray, df: np.ndarray, ci: float,
               bounds: tuple[float, float] = (-np.inf, np.inf)) -> tuple[np.ndarray, np.ndarray]:
    """``est -+ t_{df, (1 + ci) / 2} se``, clipped to ``bounds`` (the statistic's range); NaN
    where there is no spread to speak of (``se`` at most :data:`NO_SPREAD`) or no ``se``."""
    from .student_t import t_ppf

    ok = np.isfinite(se) & (se > NO_SPREAD) & np.isfinite(est)
    half = np.where(ok, t_ppf(0.5 + ci / 2.0, np.where(ok, df, 1.0)) * np.where(ok, se, 0.0), np.nan)
    return np.clip(est - half, *bounds), np.clip(est + half, *bounds)


__all__ = ["NO_SPREAD", "ROUNDING", "moderated_se", "replicate_sd", "prior_df", "pvalues", "reach_zero", "t_interval"]
