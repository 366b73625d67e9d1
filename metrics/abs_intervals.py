"""Intervals of means of absolute values: TB, TB(p->T), PB(p), PB, PB_floor, PB_excess.

Each of these is ``theta = mean_c |mu_c|`` over cells c (targets x runs; persona-default
pairs; default run pairs), estimated by the paper's plug-in ``mean_c |x_c|`` with ``x_c`` a
noisy per-run estimate of ``mu_c`` (standard error ``s_c``). |.| has a kink at 0, so the
plug-in is biased upward (by about 0.8 s_c for a cell with mu_c = 0, nothing for a cell with
|mu_c| >> s_c), and the plain bootstrap is inconsistent there (Fang & Santos 2019: it
approximates the law of the plug-in by that of the directional derivative at the *estimate*,
which has no kink). docs/method.md section 8 states the method; here is how it is computed.

With ``h_c = x*_c - x_c`` the bootstrap noise of a cell (cluster bootstrap over templates,
:mod:`metrics.bootstrap`), two bootstrap laws of ``plugin - theta``:

- ``T_fs = mean_c phi_c(h_c)`` with ``phi_c(h) = |h|`` where ``|x_c| <= kappa * s_c`` (the cell
  cannot be told from 0) and ``sign(x_c) * h`` elsewhere: the estimated directional
  derivative of Fang & Santos (2019, Econometrica 87(4), section 3, their absolute-value
  example; Hong & Li 2018 for the threshold rule). It reproduces the upward bias of cells at
  0 and gives the **lower end**: ``lo = max(0, plugin - q_{1-a/2}(T_fs))``. Where a cell with
  0 < |mu_c| < kappa s_c is taken as 0, the bias is over-estimated and ``lo`` is lower than
  needed (conservative), never higher.
- ``T_lin = mean_c sign(x_c) * h_c`` (the linear part) gives the **upper end**:
  ``hi = plugin - q_{a/2}(T_lin)``. |.| is convex, so ``|x| - |mu| >= sign(mu) (x - mu)`` for
  every cell: the plug-in's error is never below a linear statistic, so this end is valid
  whatever mu is (near 0 it is conservative; no upper end can be both valid and tight there:
  Hirano & Porter 2012, no locally unbiased estimator of |mu| exists at 0).

``kappa`` (default 2, in standard errors) is the threshold of the "cannot be told from 0"
rule; ``s_c`` is the cluster-robust (linearised ratio) standard error of ``x_c``, the
standard error the cluster bootstrap estimates (Cameron & Miller 2015, section IV).
Differences (PB_excess = PB - PB_floor) take the law ``T_fs`` for the term that enters with
``+`` and ``T_lin`` for the one with ``-`` at the lower end, and the reverse at the upper end.
Coverage is measured with simulated answerers of known truth in docs/validity.md
(``bench/validity.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ._grouping import nan_percentile
from .bbq_scores import ratio
from .clusters import cr1_scale
from .design import Layout

#: Threshold, in standard errors, below which a cell counts as "cannot be told from 0".
DEFAULT_KAPPA = 2.0
#: Means of absolute values and the ``T`` arrays the bootstrap keeps for each.
ABS_KEYS: tuple[str, ...] = ("pg.TB", "pg.PB", "st.PB", "st.PB_floor")


@dataclass(frozen=True)
class CellSigns:
    """Per cell of each kind (target cells ``tc``, persona-default pairs ``pb``, default run
    pairs ``fl``): the observed value, its sign (+1 where 0) and whether it is near 0."""

    x: dict[str, np.ndarray]
    sign: dict[str, np.ndarray]
    small: dict[str, np.ndarray]
    scale: np.ndarray  # per target cell: the few-cluster widening of its bootstrap noise


def _pair_var(U: sp.csc_array, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sum over clusters of (U[:, a] - U[:, b])**2, per pair."""
    if a.size == 0:
        return np.zeros(0)
    D = (U[:, a] - U[:, b]).tocsc()
    return np.asarray(D.multiply(D).sum(axis=0)).ravel()


def cell_signs(C_cluster: sp.csr_array, layout: Layout, counts: dict[str, np.ndarray],
               kappa: float = DEFAULT_KAPPA) -> CellSigns:
    """Signs and near-0 flags of every cell, from the clusters' counts (clusters x columns,
    the first ``2 * n_tc`` columns being n and S of the target cells).

    Standard error of ``TB_k(p->t) = S / n`` (and of differences of two of them) by
    linearisation over clusters: ``u_g = (S_g - TB * n_g) / n``, ``var = sum_g u_g**2`` (the
    variance the cluster bootstrap estimates). With G clusters behind a target cell (the
    templates that ask about it) its bootstrap noise is scaled by sqrt(G / (G - 1)), the CR1
    correction of the bootstrap's (CR0) variance (:func:`metrics.clusters.cr1_scale`): the
    plug-in's bias at 0 is proportional to the standard error, so an error there moves the
    lower end by the same share of the bias, often more than the interval's own noise.
    """
    m = layout.n_tc
    n, S = counts["n"][0], counts["S"][0]
    tb = ratio(S, n)
    inv_n = np.where(n > 0, 1.0 / np.where(n > 0, n, 1.0), 0.0)
    Cc = C_cluster.tocsc()
    U = (Cc[:, m:2 * m] - Cc[:, :m].multiply(np.nan_to_num(tb)[None, :])).multiply(inv_n[None, :]).tocsc()
    G = np.asarray((Cc[:, :m] > 0).sum(axis=0)).ravel()
    scale = cr1_scale(G)
    U = U.multiply(scale[None, :]).tocsc()
    var = {"tc": np.asarray(U.multiply(U).sum(axis=0)).ravel(),
           "pb": _pair_var(U, layout.pb_cell, layout.pb_default),
           "fl": _pair_var(U, layout.fl_a, layout.fl_b)}
    x = {"tc": tb, "pb": tb[layout.pb_cell] - tb[layout.pb_default], "fl": tb[layout.fl_a] - tb[layout.fl_b]}
    sign = {k: np.where(v < 0, -1.0, 1.0) for k, v in x.items()}
    small = {k: np.abs(np.nan_to_num(v)) <= kappa * np.sqrt(var[k]) for k, v in x.items()}
    return CellSigns(x=x, sign=sign, small=small, scale=scale)


def _laws(h: np.ndarray, kind: str, signs: CellSigns) -> list[np.ndarray]:
    """[T_fs, T_lin] terms of the cells of one kind (0, of either sign, where ``h`` is 0).
    ``h`` is overwritten by T_lin (multiplied in place: twice as fast as into a fresh array
    on the bootstrap's (replicates x cells) arrays); ``|sign * h| = |h|``, so T_fs is the same.
    In the precision of ``h`` (the signs, +1 and -1, are exact in float32)."""
    lin = np.multiply(h, signs.sign[kind][None, :].astype(h.dtype), out=h)
    return [np.where(signs.small[kind][None, :], np.abs(lin), lin), lin]


def abs_replicates(TB: np.ndarray, layout: Layout, signs: CellSigns,
                   valid: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Bootstrap laws ``T_fs`` and ``T_lin`` (see the module documentation) of each mean of
    absolute values, averaged exactly as the plug-in is: ``{"pg.TB:fs", "pg.TB:lin", ...}``,
    each (replicates x cells of its level). ``TB``: the replicates' TB_k(p->t) per target
    cell (``S / n``; NaN, or any value, where n = 0); ``valid``: where it is defined
    (default ``~isnan(TB)``). Both laws of a level are undefined in the same cells, so each
    mean counts its cells once; the noise of undefined cells is zeroed in place
    (:meth:`metrics._grouping.Grouping.masked_means`). In the precision of ``TB`` (float32
    for the persona grid's replicates, :data:`metrics.score.REPLICATE_DTYPE`)."""
    if valid is None:
        valid = ~np.isnan(TB)
    h = np.subtract(TB, signs.x["tc"][None, :].astype(TB.dtype))
    h *= signs.scale[None, :].astype(TB.dtype)
    np.copyto(h, 0.0, where=~valid)
    v_pb = valid[:, layout.pb_cell] & valid[:, layout.pb_default]
    v_fl = valid[:, layout.fl_a] & valid[:, layout.fl_b]
    h_pb, h_fl = layout.pb_pairs.difference(h), layout.fl_pairs.difference(h)
    np.copyto(h_pb, 0.0, where=~v_pb)
    np.copyto(h_fl, 0.0, where=~v_fl)
    tc_prc = layout.tc_prc.masked_means(_laws(h, "tc", signs), valid)
    pb_prc = layout.pb_prc.masked_means(_laws(h_pb, "pb", signs), v_pb)
    fl_pair = layout.fl_pair.masked_means(_laws(h_fl, "fl", signs), v_fl)
    v_prc = ~np.isnan(pb_prc[1])
    pb_sr = layout.prc_sr_personas.means(pb_prc, v_prc)
    placebo_sr = layout.prc_sr_placebo.means(pb_prc, v_prc)
    levels = {"pg.TB": layout.prc_pg.means(tc_prc, ~np.isnan(tc_prc[1])),
              "pg.PB": layout.prc_pg.means(pb_prc, v_prc),
              "st.PB": layout.sr_st.means(pb_sr, ~np.isnan(pb_sr[1])),
              "st.PB_placebo": layout.sr_st.means(placebo_sr, ~np.isnan(placebo_sr[1])),
              "st.PB_floor": layout.pair_st.means(fl_pair, ~np.isnan(fl_pair[1]))}
    return {f"{key}:{law}": arrs[i] for key, arrs in levels.items() for i, law in enumerate(("fs", "lin"))}


def _quantile(T: np.ndarray, q: float) -> np.ndarray:
    if T.shape[0] == 0:
        return np.full(T.shape[1], np.nan)
    out: np.ndarray = nan_percentile(T, np.array([q]))[0]
    return out


def abs_interval(plugin: np.ndarray, reps: dict[str, np.ndarray], key: str, ci: float) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) of the true mean of absolute values ``key`` (e.g. "pg.TB"), one-sided at 0."""
    alpha = 1.0 - ci
    lo = np.maximum(plugin - _quantile(reps[key + ":fs"], 1.0 - alpha / 2), 0.0)
    hi = plugin - _quantile(reps[key + ":lin"], alpha / 2)
    return lo, np.maximum(hi, lo)


def difference_interval(plugin: np.ndarray, reps: dict[str, np.ndarray], plus: str, minus: str,
                        ci: float) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) of the true ``plus - minus`` (e.g. PB - PB_floor), both means of absolute values."""
    alpha = 1.0 - ci
    lo = plugin - _quantile(reps[plus + ":fs"] - reps[minus + ":lin"], 1.0 - alpha / 2)
    hi = plugin - _quantile(reps[plus + ":lin"] - reps[minus + ":fs"], alpha / 2)
    return lo, np.maximum(hi, lo)
