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

from collections.abc import Callable

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


def bootstrap(
    C_cluster: sp.csr_array,
    cluster_stratum: np.ndarray,
    statistic: Callable[[np.ndarray], dict[str, np.ndarray]],
    *,
    n_boot: int,
    streams: StratumStreams,
    chunk: int | None = None,
) -> dict[str, np.ndarray]:
    """Replicate values of ``statistic`` (counts row block -> named (b x m) arrays).

    ``C_cluster`` is the (clusters x columns) contribution matrix (items summed into their
    resampling clusters, :mod:`metrics.clusters`); ``cluster_stratum`` the sorted stratum of
    each cluster; ``streams`` the per-stratum uniforms (:mod:`metrics.streams`). A replicate
    draws, in each stratum, as many clusters as it has, uniformly with replacement;
    ``statistic`` receives the replicates' counts ``weights @ C_cluster`` (b x columns) and
    returns named arrays with one row per replicate. Returns the same names with ``n_boot``
    rows each. ``chunk``: replicates computed at once (default :data:`DEFAULT_CHUNK`, fewer
    when the matrix is wide: :data:`CHUNK_VALUES`).
    """
    if chunk is None:
        chunk = max(1, min(DEFAULT_CHUNK, CHUNK_VALUES // max(C_cluster.shape[1], 1)))
    out: dict[str, np.ndarray] = {}
    C_t = C_cluster.T.tocsr()  # (columns x clusters): C_t @ weights.T runs row by row, cache-friendly
    for start in range(0, max(n_boot, 1), chunk):  # n_boot = 0: one empty chunk, (0 x m) arrays
        b = min(chunk, n_boot - start) if n_boot else 0
        weights = multinomial_counts(streams.uniform(b), cluster_stratum)
        # column-major counts (each cell's b replicates contiguous): what the grouped sums
        # (metrics._grouping) and the percentiles read fastest
        stats = statistic(np.asarray(C_t @ np.ascontiguousarray(weights.T)).T)
        for name, arr in stats.items():
            if name not in out:  # one column-major array per name, filled chunk by chunk
                out[name] = np.empty((n_boot, arr.shape[1]), order="F")
            out[name][start:start + b] = arr
    return out


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
