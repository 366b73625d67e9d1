"""Does a persona shift the model? An exchange (permutation) test that works in every mode.

Null hypothesis for persona p in a stratum: p's answers and the default persona's answers to
the same item are exchangeable -- the persona prompt changes answers no more than a
relabelling would (it may change them, e.g. a reworded prompt flips a deterministic argmax,
but in no consistent direction for any target). Under it, swapping p's and the default's
answers on any set of resampling clusters (templates, :mod:`metrics.clusters`; all runs of a
cluster together) leaves the distribution of the data unchanged. The test statistic is the
plug-in PB(p); its null distribution comes from ``n_perm`` random swaps, each cluster
swapped with probability 1/2 (a randomisation test, Good 2005, "Permutation, Parametric and
Bootstrap Tests of Hypotheses", ch. 3). Swapping cluster c negates c's contribution to every
shift(p,t) = TB(p->t) - TB(default->t), so one sparse product gives all swaps at once.

Unlike the run-to-run floor (``PB_floor``: the default against itself across runs), this
null is not degenerate under log-probability scoring, where the default gives the same
answers in every run: there a persona still changes some argmaxes, and the swaps measure how
large PB gets from such direction-less changes. Its p-values are uniform under the null
whatever the number of targets, so they are comparable across categories.

- per persona: ``PB_pvalue`` = (1 + #{null PB(p) >= PB(p)}) / (1 + n_perm) and ``PB_padj``,
  Holm-adjusted over the personas of the stratum (family-wise error control; placebo roles,
  :mod:`metrics.placebo`, are a family of their own and never enter the stratum's test);
- per stratum: ``PB_pvalue`` = the smallest Holm-adjusted p-value (the Holm/Bonferroni global
  test: "some persona shifts the model"), ``PB_exceeds_floor`` = ``PB_pvalue < 1 - ci``,
  and ``PB_null`` = the mean null PB (what the plug-in PB is without any persona effect).

A persona whose prompt only rewords the instruction is *not* identity-free; the test asks
whether a persona prompt moves the model, not why.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .blocks import block_layout, strata_blocks
from .bootstrap import DEFAULT_CHUNK, block_matrix
from .clusters import Clusters
from .counters import target_terms
from .design import Layout
from .streams import StratumStreams

#: Count columns per block of strata (:func:`metrics.blocks.strata_blocks`) in the exchange
#: null: with 100 swaps per chunk, (chunk x PB pairs) arrays of a few MB.
EXCHANGE_COLUMNS = 10_000


def exchange_matrix(layout: Layout, clusters: Clusters, n: np.ndarray) -> sp.csr_array:
    """(clusters x PB pairs): each cluster's contribution to every shift(p, t) of a run."""
    terms = target_terms(layout.r, layout.w, layout.v)
    M = layout.unit_matrix(terms.Sx, terms.Sy).tocsc()  # items x target cells
    n = np.asarray(n).reshape(-1)
    inv_n = np.where(n > 0, 1.0 / np.where(n > 0, n, 1.0), 0.0)
    D = M[:, layout.pb_cell] @ sp.diags_array(inv_n[layout.pb_cell]) - \
        M[:, layout.pb_default] @ sp.diags_array(inv_n[layout.pb_default])
    out: sp.csr_array = (clusters.indicator() @ D).tocsr()
    return out


def exchange_null(layout: Layout, clusters: Clusters, shift: np.ndarray, n: np.ndarray,
                  n_perm: int, seed: int, chunk: int = DEFAULT_CHUNK) -> tuple[np.ndarray, np.ndarray]:
    """Null replicates of PB(p) (n_perm x ``pg`` rows) and of the stratum PB (n_perm x strata).

    Computed a few strata at a time (:mod:`metrics.blocks`, as the bootstrap), so a chunk's
    (swaps x PB pairs) arrays are a few MB; every stratum draws its swaps from its own stream
    in swap order, so the numbers are those of one block over every stratum."""
    D = exchange_matrix(layout, clusters, n).tocsc()  # (clusters x PB pairs)
    streams = StratumStreams(seed, layout.r.strata, "exchange", clusters.cluster_stratum)
    valid = ~np.isnan(shift)  # swaps change values, never which pairs are defined
    # column-major, as the chunks' means: np.nanmean over swaps then sums each column's
    # contiguous values pairwise, as it did on the concatenated chunks before
    null_pg = np.empty((n_perm, len(layout.pg)), order="F")
    null_st = np.empty((n_perm, len(layout.r.strata)), order="F")
    for rng in strata_blocks(layout, EXCHANGE_COLUMNS):
        sub = block_layout(layout, rng)
        (s0, s1), (b0, b1), (g0, g1) = rng["st"], rng["pb"], rng["pg"]
        c0, c1 = (int(i) for i in np.searchsorted(clusters.cluster_stratum, [s0, s1]))
        D_t = block_matrix(D, np.arange(b0, b1), c0, c1)  # (the block's PB pairs x its clusters)
        shift_b, valid_b = shift[:, b0:b1], valid[:, b0:b1]
        for start in range(0, n_perm, chunk):
            b = min(chunk, n_perm - start)
            flips = np.ascontiguousarray((streams.uniform(b, (s0, s1)) < 0.5).T, dtype=np.float64)
            # |shift_b - 2 (D_t @ flips)|, column-major like the bootstrap's, computed in place
            # in the product (a fresh 2 MB array per operation cost twice as much): x - y is
            # x + (-y) and -2y = -(2y) exactly, so the values are the same bit for bit
            null_shift = np.asarray(D_t @ flips).T
            null_shift *= -2.0
            null_shift += shift_b
            np.abs(null_shift, out=null_shift)
            np.copyto(null_shift, 0.0, where=~valid_b)
            pb_k = sub.pb_prc.masked_means([null_shift], valid_b)[0]
            v_k = ~np.isnan(pb_k)
            null_pg[start:start + b, g0:g1] = sub.prc_pg.means([pb_k], v_k)[0]
            null_st[start:start + b, s0:s1] = sub.sr_st.mean(sub.prc_sr_personas.means([pb_k], v_k)[0])
    return null_pg, null_st


def exchange_pvalues(observed: np.ndarray, null: np.ndarray) -> np.ndarray:
    """(1 + #{null >= observed}) / (1 + n_null) per column; NaN where observed is NaN."""
    if null.shape[0] == 0:
        return np.full(observed.shape, np.nan)
    tol = 1e-12 * np.maximum(1.0, np.abs(observed))
    ge = (null >= observed[None, :] - tol[None, :]).sum(axis=0)
    return np.where(np.isnan(observed), np.nan, (1.0 + ge) / (1.0 + null.shape[0]))


def holm(p: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Holm (1979) step-down adjusted p-values within each group; NaN entries are left out."""
    df = pd.DataFrame({"p": p, "g": group})
    ok = df["p"].notna()
    d = df[ok].sort_values(["g", "p"], kind="mergesort")
    m = d.groupby("g")["p"].transform("size").to_numpy()
    i = d.groupby("g").cumcount().to_numpy()
    d["adj"] = np.minimum(1.0, (m - i) * d["p"].to_numpy())
    d["adj"] = d.groupby("g")["adj"].cummax()
    out = np.full(p.shape, np.nan)
    out[d.index.to_numpy()] = d["adj"].to_numpy()
    return out


def benjamini_hochberg(p: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg (1995) adjusted p-values (q-values) within each group."""
    df = pd.DataFrame({"p": p, "g": group})
    d = df[df["p"].notna()].sort_values(["g", "p"], ascending=[True, False], kind="mergesort")
    m = d.groupby("g")["p"].transform("size").to_numpy()
    rank = m - d.groupby("g").cumcount().to_numpy()  # 1-based rank in ascending order
    d["adj"] = np.minimum(1.0, d["p"].to_numpy() * m / rank)
    d["adj"] = d.groupby("g")["adj"].cummin()
    out = np.full(p.shape, np.nan)
    out[d.index.to_numpy()] = d["adj"].to_numpy()
    return out


def persona_tests(layout: Layout, clusters: Clusters, counts: dict[str, np.ndarray], shift: np.ndarray,
                  pb_pg: np.ndarray, pb_st: np.ndarray, n_perm: int, seed: int,
                  alpha: float) -> dict[str, np.ndarray]:
    """Per-persona and per-stratum results of the exchange test (see the module documentation).

    ``shift``: observed (1 x PB pairs) per-run shifts; ``pb_pg``/``pb_st``: observed PB(p)
    per ``pg`` row and PB per stratum. Returns arrays ``pg.PB_pvalue``, ``pg.PB_padj``,
    ``st.PB_pvalue``, ``st.PB_null``, ``st.PB_exceeds_floor`` (float 1/0, NaN undefined).
    """
    null_pg, null_st = exchange_null(layout, clusters, shift, counts["n"], n_perm, seed)
    p = exchange_pvalues(pb_pg, null_pg)
    stratum = layout.pg["stratum"].to_numpy()
    n_strata = len(layout.r.strata)
    # placebo roles (metrics.placebo) are adjusted among themselves, not with the personas
    placebo = layout.r.placebo[layout.pg["persona"].to_numpy()] if layout.r.placebo.size else \
        np.zeros(len(stratum), dtype=bool)
    padj = holm(p, np.where(placebo, stratum + n_strata, stratum))
    glob = np.full(n_strata, np.nan)
    ok = ~np.isnan(padj) & ~placebo
    if ok.any():
        glob_s = pd.Series(padj[ok]).groupby(stratum[ok]).min()
        glob[glob_s.index.to_numpy()] = glob_s.to_numpy()
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: NaN, no warning
        null_mean = np.nanmean(null_st, axis=0) if null_st.shape[0] else np.full(n_strata, np.nan)
    return {
        "pg.PB_pvalue": p,
        "pg.PB_padj": padj,
        "st.PB_pvalue": glob,
        "st.PB_null": null_mean,
        "st.PB_exceeds_floor": np.where(np.isnan(glob), np.nan, (glob < alpha).astype(np.float64)),
    }


__all__ = ["benjamini_hochberg", "exchange_matrix", "exchange_null", "exchange_pvalues", "holm",
           "persona_tests"]
