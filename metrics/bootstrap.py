"""Bootstrap over resampling clusters (BBQ templates by default, :mod:`metrics.clusters`).

Resampling unit: a cluster of items within its stratum (model, category, context
condition). A replicate draws, in each stratum independently, as many clusters as it has,
uniformly with replacement; a cluster drawn m times enters every count with weight m,
together with all of its answers (every persona, every run), so the pairing of persona and
default answers on the same item, and of runs, is kept.

Speed: every metric is a function of counts that are sums over items of per-item
contributions (:mod:`metrics.design`). So the counts of a replicate are ``weights @ C`` with
``weights`` the (replicates x items) matrix of multinomial draw counts and ``C`` the sparse
(items x count columns) contribution matrix: one sparse product per chunk of replicates,
then the metric formulas on (replicates x cells) arrays. Chunks bound the memory.

Precision: the replicates are computed in ``dtype`` (float64 unless the caller asks for float32,
as the persona grid's scoring does: :data:`metrics.score.REPLICATE_DTYPE`). In float32 a
replicate is recentred on the float64 value: ``stat64(observed) + (stat32(replicate) -
stat32(observed))``, with ``observed`` the sample itself (every cluster drawn once), so that a
statistic that does not move under resampling has replicates equal, bit for bit, to its float64
value, as in float64, and any other replicate differs from its float64 value by the float32
rounding of the statistic (about 1e-7 of its size).

Means of absolute values (TB(p->T), PB(p), PB, PB_floor) do not get percentile intervals:
resampling adds noise, which |.| turns into an upward shift, so percentile intervals sit
above the point estimate (on the paper's Llama-2 sample, ambiguous TB = 0.059 with interval
[0.063, 0.112]) and do not cover the true value. Their intervals come from
:mod:`metrics.abs_intervals`. Signed or ratio statistics
(TB(p->t), BAmt, shifts, accuracy, bias scores, in-group favouritism) keep percentile
intervals.

Reproducibility: each stratum draws from its own stream (:mod:`metrics.streams`), seeded by
(seed, model, category, context), consumed in replicate order, so the result depends neither
on the chunk size, nor on the input row order, nor on the other strata.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ._grouping import nan_percentile
from .clusters import multinomial_counts
from .streams import StratumStreams

#: Replicates per chunk: (chunk x count columns) float64 arrays stay small and in cache.
DEFAULT_CHUNK = 100
#: At most this many (replicate x column) values per chunk (64 MB of float64): with many cells
#: (225 strata of the paper's persona grid: 830,000 columns) 100 replicates made arrays of
#: 660 MB that the allocator maps and zeroes afresh for every operation (a third of the
#: bootstrap's time went to the kernel); the result does not depend on the chunk size.
CHUNK_VALUES = 8_000_000


@dataclass(frozen=True)
class Block:
    """Strata ``s0:s1`` of a blocked bootstrap (:mod:`metrics.blocks`): ``columns`` the
    columns of the contribution matrix that hold their counts (None: all), ``statistic`` the
    statistic of those counts, ``cells`` per output level (the part of a name before ".",
    e.g. "tg") the block's range of that level's cells (None: the statistic's whole width)."""

    strata: tuple[int, int]
    statistic: Callable[[np.ndarray], dict[str, np.ndarray]]
    columns: np.ndarray | None = None
    cells: Mapping[str, tuple[int, int]] | None = None


def bootstrap(
    C_cluster: sp.csr_array,
    cluster_stratum: np.ndarray,
    statistic: Callable[[np.ndarray], dict[str, np.ndarray]],
    *,
    n_boot: int,
    streams: StratumStreams,
    chunk: int | None = None,
    dtype: type[np.floating] = np.float64,
) -> dict[str, np.ndarray]:
    """Replicate values of ``statistic`` (counts row block -> named (b x m) arrays).

    ``C_cluster`` is the (clusters x columns) contribution matrix (items summed into their
    resampling clusters, :mod:`metrics.clusters`); ``cluster_stratum`` the sorted stratum of
    each cluster; ``streams`` the per-stratum uniforms (:mod:`metrics.streams`). A replicate
    draws, in each stratum, as many clusters as it has, uniformly with replacement;
    ``statistic`` receives the replicates' counts ``weights @ C_cluster`` (b x columns) and
    returns named arrays with one row per replicate. Returns the same names with ``n_boot``
    rows each. ``chunk``: replicates computed at once (default :data:`DEFAULT_CHUNK`, fewer
    when the matrix is wide: :data:`CHUNK_VALUES`); ``dtype``: the precision of the
    replicates' arithmetic (see the module documentation).
    """
    whole = Block((0, len(streams.gens)), statistic)
    return bootstrap_blocks(C_cluster, cluster_stratum, [whole], {}, n_boot=n_boot, streams=streams, chunk=chunk,
                            dtype=dtype)


def bootstrap_blocks(
    C_cluster: sp.csr_array,
    cluster_stratum: np.ndarray,
    blocks: Sequence[Block],
    widths: Mapping[str, int],
    *,
    n_boot: int,
    streams: StratumStreams,
    chunk: int | None = None,
    dtype: type[np.floating] = np.float64,
) -> dict[str, np.ndarray]:
    """:func:`bootstrap` of a block-diagonal contribution matrix, one :class:`Block` of
    strata at a time: each block's statistic gets the counts of its own columns, and its
    values fill its ``cells`` of the outputs (``widths``: cells per level). Every stratum
    draws from its own stream in replicate order, so the replicates are those of one block
    covering every stratum. ``dtype``: the precision of the replicates' counts and
    statistics, np.float64 or np.float32 (recentred, see the module documentation); the
    outputs are float64 either way."""
    if np.dtype(dtype) not in (np.dtype(np.float64), np.dtype(np.float32)):
        raise ValueError(f"dtype={dtype!r}: use np.float64 or np.float32")
    single = np.dtype(dtype) != np.float64
    out: dict[str, np.ndarray] = {}
    Cc = C_cluster.tocsc()
    for block in blocks:
        c0, c1 = (int(i) for i in np.searchsorted(cluster_stratum, block.strata))
        C_t = block_matrix(Cc, block.columns, c0, c1)  # (columns x clusters): C_t @ weights.T runs row by row
        at64: dict[str, np.ndarray] = {}
        at_single: dict[str, np.ndarray] = {}
        if single:  # the observed sample's statistic in float64 (module documentation)
            at64 = block.statistic(np.asarray(C_t @ np.ones((C_t.shape[1], 1))).T)
            C_t = C_t.astype(dtype)
        groups = cluster_stratum[c0:c1] - block.strata[0]
        size = chunk or max(1, min(DEFAULT_CHUNK, CHUNK_VALUES // max(C_t.shape[0], 1)))
        for start in range(0, max(n_boot, 1), size):  # n_boot = 0: one empty chunk, (0 x m) arrays
            b = min(size, n_boot - start) if n_boot else 0
            weights = multinomial_counts(streams.uniform(b, block.strata), groups)
            W = np.ascontiguousarray(weights.T, dtype=dtype)
            if single and start == 0:  # and in ``dtype``, as the first chunk's first column
                W = np.concatenate([np.ones((W.shape[0], 1), dtype=dtype), W], axis=1)
            # column-major counts (each cell's b replicates contiguous): what the grouped sums
            # (metrics._grouping) and the percentiles read fastest
            stats = block.statistic(np.asarray(C_t @ W).T)
            if single and start == 0:
                at_single = {name: arr[:1] for name, arr in stats.items()}
                stats = {name: arr[1:] for name, arr in stats.items()}
            for name, arr in stats.items():
                lo, hi = _cells(block, name, arr.shape[1])
                if name not in out:  # one column-major array per name, filled chunk by chunk
                    width = arr.shape[1] if block.cells is None else widths[name.split(".")[0]]
                    out[name] = np.empty((n_boot, width), order="F")
                out[name][start:start + b, lo:hi] = arr
        for name, value in at64.items():
            # float64 value + (replicate - observed value in dtype), in place on the block's
            # columns (contiguous in the column-major output); two float32 values subtract
            # exactly in float64 unless their magnitudes differ by more than 2**29
            lo, hi = _cells(block, name, value.shape[1])
            reps = out[name][:, lo:hi]
            reps -= at_single[name]
            reps += value
    return out


def _cells(block: Block, name: str, width: int) -> tuple[int, int]:
    """The output columns of ``block``'s values of ``name`` (``width`` of them)."""
    return (0, width) if block.cells is None else block.cells[name.split(".")[0]]


def block_matrix(Cc: sp.csc_array, columns: np.ndarray | None, c0: int, c1: int) -> sp.csr_array:
    """(columns x clusters c0:c1) transpose of the block's columns of ``Cc`` (clusters x
    columns, CSC): every count of these columns must come from the block's own clusters (a
    block-diagonal matrix). Row by row it holds the terms of ``Cc.T.tocsr()`` in their order."""
    sub = Cc if columns is None else Cc[:, columns]
    idx = sub.indices
    if idx.size and (idx.min() < c0 or idx.max() >= c1):
        raise ValueError("a block's columns have counts outside its strata: the blocks do not "
                         "follow the strata of the contribution matrix")
    return sp.csr_array((sub.data, idx - c0, sub.indptr), shape=(sub.shape[1], c1 - c0))


def percentile_interval(reps: np.ndarray, ci: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval (lo, hi) at level ``ci`` of replicate values (n_boot x m).

    NaN replicates (the statistic was undefined in that resample) are skipped; a column
    without any defined replicate, or ``n_boot == 0``, gives NaN.
    """
    if reps.shape[0] == 0:
        nan = np.full(reps.shape[1], np.nan)
        return nan, nan.copy()
    alpha = (1.0 - ci) / 2.0
    lo, hi = nan_percentile(reps, np.array([alpha, 1.0 - alpha]))
    return lo, hi
