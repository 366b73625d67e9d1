"""Percentile bootstrap over BBQ items.

Resampling unit: a BBQ item within its stratum (model, category, context condition). A
replicate draws, in each stratum independently, as many items as it has, uniformly with
replacement; an item drawn m times enters every count with weight m, together with all of
its answers (every persona, every run), so the pairing of persona and default answers on
the same item, and of runs, is kept.

Speed: every metric is a function of counts that are sums over items of per-item
contributions (:mod:`metrics.design`). So the counts of a replicate are ``weights @ C`` with
``weights`` the (replicates x items) matrix of multinomial draw counts and ``C`` the sparse
(items x count columns) contribution matrix: one sparse product per chunk of replicates,
then the metric formulas on (replicates x cells) arrays. Chunks bound the memory.

Caveat, means of absolute values: TB(p->T), PB(p), PB and PB_floor average |noisy
per-target means|; resampling adds noise, which |.| turns into an upward shift, so their
percentile intervals sit above the point estimate and may even exclude it (on the paper's
Llama-2 sample, ambiguous TB = 0.059 with interval [0.063, 0.112]). Read these numbers
against the null model (``TB_threshold``) and the noise floor (``PB_floor``; the paired
``PB_excess = PB - PB_floor`` cancels most of the shift), not against 0. Signed or ratio
statistics (TB(p->t), BAmt, shifts, accuracy, bias scores, in-group favouritism) do not
have this problem.

Reproducibility: replicate j draws from its own generator, spawned from ``seed``, so the
result does not depend on the chunk size; items are in sorted order, so it does not depend
on the input row order either.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from metrics._grouping import nan_percentile

#: Replicates per chunk: (chunk x count columns) float64 arrays stay small and in cache.
DEFAULT_CHUNK = 100


def replicate_generators(seed: int | np.random.SeedSequence, n: int) -> list[np.random.Generator]:
    """``n`` independent generators derived from ``seed`` (one per replicate)."""
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return [np.random.default_rng(child) for child in ss.spawn(n)]


def item_weights(unit_stratum: np.ndarray, gens: list[np.random.Generator]) -> np.ndarray:
    """(len(gens) x items) multinomial resampling counts, items resampled within strata.

    ``unit_stratum`` is each item's stratum, sorted (items of a stratum are contiguous).
    Position i of stratum s draws one item of s uniformly; the weight of an item is how
    often it was drawn, so each stratum's weights sum to its number of items.
    """
    n_units = unit_stratum.size
    sizes = np.bincount(unit_stratum)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    size_of, offset_of = sizes[unit_stratum], offsets[unit_stratum]
    u = np.stack([g.random(n_units) for g in gens]) if gens else np.empty((0, n_units))
    draws = offset_of + np.minimum((u * size_of).astype(np.int64), size_of - 1)
    flat = draws + (np.arange(len(gens)) * n_units)[:, None]
    return np.bincount(flat.ravel(), minlength=len(gens) * n_units).reshape(len(gens), n_units).astype(np.float64)


def bootstrap(
    C,
    unit_stratum: np.ndarray,
    statistic: Callable[[np.ndarray], dict[str, np.ndarray]],
    *,
    n_boot: int,
    seed: int | np.random.SeedSequence,
    chunk: int = DEFAULT_CHUNK,
) -> dict[str, np.ndarray]:
    """Replicate values of ``statistic`` (counts row block -> named (b x m) arrays).

    ``C`` is the (items x columns) sparse contribution matrix; ``statistic`` receives the
    replicates' counts ``weights @ C`` (b x columns) and returns named arrays with one row
    per replicate. Returns the same names with ``n_boot`` rows each.
    """
    gens = replicate_generators(seed, n_boot)
    parts: dict[str, list[np.ndarray]] = {}
    for start in range(0, max(n_boot, 1), chunk):  # n_boot = 0: one empty chunk, (0 x m) arrays
        weights = item_weights(unit_stratum, gens[start:start + chunk])
        stats = statistic(np.asarray(weights @ C))
        for name, arr in stats.items():
            parts.setdefault(name, []).append(arr)
    return {name: np.concatenate(arrs, axis=0) for name, arrs in parts.items()}


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
