"""Bias-corrected ("debiased") means of absolute values by cross-fitting over halves.

TB = mean_t |TB(default->t)|, TB(p->T), PB(p) = mean_t |shift(p,t)|, PB and PB_floor are
means of |x| where x is a noisy estimate of a per-target quantity mu. The plug-in mean of
|x| is biased upward: E|x| > |mu| (at mu = 0 by about 0.8 standard errors of x), so with
few items per target it mostly measures noise, and percentile bootstrap intervals around it
do not cover |mu| (the bootstrap adds the bias a second time).

Cross-fitting (Chernozhukov et al. 2018, "Double/debiased machine learning", section 3;
here the simplest case): split the resampling clusters of each stratum at random into two
halves A and B, compute x on each half (x_A, x_B: independent, both with mean mu) and use

    cf = (sign(x_A) * x_B + sign(x_B) * x_A) / 2,   E[cf] = E[sign(x_A)] * mu <= |mu|.

The sign is learnt on one half and applied to the other, so noise does not inflate the
value: at mu = 0, E[cf] = 0 exactly, and for |mu| large against the noise, E[cf] = |mu|.
In between, cf is biased *down* (the sign is sometimes wrong). The debiased estimate is the
mean of cf over targets (and runs, personas, run pairs, exactly as the plug-in is averaged)
and over ``n_splits`` random splits (averaging splits removes most of the extra variance
of one split).

These estimates are reported beside the plug-in (``TB_debiased``, ``PB_debiased``, ...) and
used for paired model comparisons (:mod:`metrics.paired`). The *intervals* of the means of
absolute values come from :mod:`metrics.abs_intervals` (docs/method.md section 8): an
interval built on ``debiased +- z * se`` inherits the downward bias above, and the bootstrap
standard deviation of ``debiased`` is up to 1.9 times its true one where mu = 0 (the signs
flip between replicates; measured on the no-bias answerer of ``bench/validity.py``), which
made those intervals cover nearly always.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp

from ._grouping import COLUMN_BLOCK
from .bbq_scores import ratio
from .design import Layout

#: Default number of random half-splits averaged by the debiased estimates.
DEFAULT_SPLITS = 2


def with_halves(C: sp.csr_array, n_tc: int, masks: np.ndarray) -> sp.csr_array:
    """``C`` (rows x columns) with, appended, the n and S columns (the first ``2 * n_tc``) of
    half A of every split: row i kept in split m where ``masks[m, i]`` is 1."""
    coo = C.tocoo()
    rows, cols, data = [coo.row], [coo.col], [coo.data]
    ns = coo.col < 2 * n_tc
    r_ns, c_ns, d_ns = coo.row[ns], coo.col[ns], coo.data[ns]
    for k, mask in enumerate(masks):
        keep = mask[r_ns] > 0
        rows.append(r_ns[keep])
        cols.append(c_ns[keep] + C.shape[1] + 2 * n_tc * k)
        data.append(d_ns[keep])
    shape = (C.shape[0], C.shape[1] + 2 * n_tc * len(masks))
    return sp.coo_array((np.concatenate(data), (np.concatenate(rows), np.concatenate(cols))), shape=shape).tocsr()


def _cf(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out: np.ndarray = 0.5 * (np.sign(a) * b + np.sign(b) * a)
    return out


def _per_run(TA: np.ndarray, TB_: np.ndarray, layout: Layout) -> dict[str, dict[str, np.ndarray]]:
    """Cross-fitted per-run statistics from the two halves' TB(p->t) of each target cell."""
    cf_tc = _cf(TA, TB_)
    sa = TA[:, layout.pb_cell] - TA[:, layout.pb_default]
    sb = TB_[:, layout.pb_cell] - TB_[:, layout.pb_default]
    pb_p = layout.pb_prc.mean(_cf(sa, sb))
    fa = TA[:, layout.fl_a] - TA[:, layout.fl_b]
    fb = TB_[:, layout.fl_a] - TB_[:, layout.fl_b]
    return {
        "prc": {"TB": layout.tc_prc.mean(cf_tc), "PB": pb_p},
        "sr": {"PB": layout.prc_sr_personas.mean(pb_p)},
        "pair": {"PB_floor": layout.fl_pair.mean(_cf(fa, fb))},
    }


def debiased(X: np.ndarray, n_cols: int, n: np.ndarray, S: np.ndarray, layout: Layout,
             n_splits: int) -> dict[str, np.ndarray]:
    """Debiased TB(p->T), PB(p) (per ``pg`` row), PB, PB_floor, PB_excess (per stratum).

    ``X``: (b x columns) counts of the extended matrix (:func:`with_halves`), ``n_cols`` the width of ``layout.C``; ``n``, ``S`` the full
    counts. Returns ``{"pg.TB_debiased", "pg.PB_debiased", "st.PB_debiased",
    "st.PB_floor_debiased", "st.PB_excess_debiased"}``, each (b x cells), means over splits.
    """
    m = layout.n_tc
    acc: dict[str, list[np.ndarray]] = {}
    for k in range(n_splits):
        off = n_cols + 2 * m * k
        nA, SA = X[:, off:off + m], X[:, off + m:off + 2 * m]
        stats = _per_run(ratio(SA, nA), ratio(S - SA, n - nA), layout)
        over = {
            "pg.TB_debiased": layout.prc_pg.mean(stats["prc"]["TB"]),
            "pg.PB_debiased": layout.prc_pg.mean(stats["prc"]["PB"]),
            "st.PB_debiased": layout.sr_st.mean(stats["sr"]["PB"]),
            "st.PB_floor_debiased": layout.pair_st.mean(stats["pair"]["PB_floor"]),
        }
        for name, arr in over.items():
            acc.setdefault(name, []).append(arr)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: NaN, no warning
        out = {name: np.nanmean(np.stack(arrs), axis=0) for name, arrs in acc.items()}
    out["st.PB_excess_debiased"] = out["st.PB_debiased"] - out["st.PB_floor_debiased"]
    return out


def nan_sd(reps: np.ndarray) -> np.ndarray:
    """Standard deviation of bootstrap replicates per column (ddof=1), NaN-skipping.

    Computed :data:`~metrics._grouping.COLUMN_BLOCK` columns at a time: the temporaries of a
    (1000 x 21,000) array were 170 MB each, mapped and zeroed afresh by the kernel (2 of the
    5 s this took on the issue-14 benchmark were system time); each column's sums are the
    same, so the result is too."""
    out = np.full(reps.shape[1], np.nan)
    if reps.shape[0] < 2:
        return out
    for c0 in range(0, reps.shape[1], COLUMN_BLOCK):
        block = reps[:, c0:c0 + COLUMN_BLOCK]
        valid = ~np.isnan(block)
        k = valid.sum(axis=0)
        mean = np.where(k > 0, np.where(valid, block, 0.0).sum(axis=0) / np.maximum(k, 1), np.nan)
        dev = np.where(valid, block - mean, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[c0:c0 + COLUMN_BLOCK] = np.where(k > 1, np.sqrt((dev * dev).sum(axis=0) / np.maximum(k - 1, 1)),
                                                 np.nan)
    return out
