"""Resampling clusters: BBQ templates by default, single items as an option.

BBQ builds its items from templates: one template (``question_index`` within a category)
gives several items -- different name pairs, both question polarities -- that share the same
context sentence. A model's answers to the items of one template are correlated, so items
are not independent draws; resampling items as if they were understates the uncertainty.
The bootstrap therefore resamples *templates* within each stratum (a cluster bootstrap:
Davison & Hinkley 1997, section 3.8; Cameron, Gelbach & Miller 2008) and the cross-fitting
halves and the persona-exchange null use the same clusters. Both polarities of a template are
one cluster because they share the context.

``resample="items"`` makes every item its own cluster (the earlier behaviour). An answers
table without a ``question_index`` column, or items with an empty one, fall back to items
(recorded in the results' config as ``resample_unit``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ._grouping import Grouping
from .errors import MetricsInputError
from .schema import Responses

RESAMPLE_UNITS: tuple[str, ...] = ("templates", "items")


@dataclass(frozen=True)
class Clusters:
    """Clusters of the items of a :class:`~metrics.schema.Responses`.

    ``unit_cluster``: cluster code of each item (clusters sorted by stratum, so the clusters
    of a stratum are contiguous); ``cluster_stratum``: stratum of each cluster; ``unit``:
    what a cluster is ("templates" or "items").
    """

    unit_cluster: np.ndarray
    cluster_stratum: np.ndarray
    unit: str

    @property
    def n_clusters(self) -> int:
        return int(self.cluster_stratum.size)

    def indicator(self) -> sp.csr_array:
        """Sparse (clusters x items) 0/1 matrix: sums item rows into cluster rows."""
        n_units = self.unit_cluster.size
        return sp.csr_array((np.ones(n_units), (self.unit_cluster, np.arange(n_units))),
                            shape=(self.n_clusters, n_units))


def make_clusters(r: Responses, resample: str = "templates") -> Clusters:
    """The resampling clusters of ``r`` (see the module documentation)."""
    if resample not in RESAMPLE_UNITS:
        raise MetricsInputError(f"resample={resample!r}: use one of {', '.join(RESAMPLE_UNITS)}.")
    stratum = r.units["stratum"].to_numpy(np.int64)
    items = r.units["item_id"].astype(str).to_numpy()
    if resample == "templates" and "template" in r.units.columns:
        tmpl = r.units["template"].astype(str).to_numpy()
        missing = np.isin(tmpl, ["", "nan", "None", "<NA>"])
        key = np.where(missing, "item\x00" + items, "tmpl\x00" + tmpl)
        unit = "templates"
    else:
        key = items
        unit = "items"
    # dense codes sorted by (stratum, key)
    _, key_code = np.unique(key, return_inverse=True)
    combined = stratum * (int(key_code.max(initial=0)) + 1) + key_code
    uniq, codes = np.unique(combined, return_inverse=True)
    cluster_stratum = stratum[np.unique(codes, return_index=True)[1]]
    return Clusters(unit_cluster=codes.astype(np.int64), cluster_stratum=cluster_stratum.astype(np.int64),
                    unit=unit)


def multinomial_counts(u: np.ndarray, group: np.ndarray) -> np.ndarray:
    """(b x members) resampling counts from uniforms ``u`` (b x members), within groups.

    ``group``: sorted group code of each member. Position i of group g draws one member of
    g uniformly (member ``offset_g + floor(u * size_g)``); a member's count is how often it
    was drawn, so each group's counts sum to its size.
    """
    b, n = u.shape
    sizes = np.bincount(group)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    size_of, offset_of = sizes[group], offsets[group]
    draws = offset_of + np.minimum((u * size_of).astype(np.int64), size_of - 1)
    flat = draws + (np.arange(b) * n)[:, None]
    return np.bincount(flat.ravel(), minlength=b * n).reshape(b, n).astype(np.float64)


def half_splits(clusters: Clusters, n_splits: int, streams_uniform: Callable[[int], np.ndarray]) -> np.ndarray:
    """(n_splits x clusters) 0/1 masks: half A of each split, balanced within each stratum.

    Per stratum and split, the clusters are put in a random order and the first half (rounded
    down) forms half A; every item of a cluster is on the same side, so the halves are
    independent samples whenever clusters are. ``streams_uniform(b)`` gives (b x clusters)
    uniforms (a :meth:`metrics.streams.StratumStreams.uniform`).
    """
    u = streams_uniform(n_splits)
    cs = clusters.cluster_stratum
    order = np.lexsort((u, np.broadcast_to(cs, u.shape)), axis=1)  # within stratum, by u
    sizes = np.bincount(cs)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    rank = np.empty_like(order)
    rows = np.arange(n_splits)[:, None]
    rank[rows, order] = np.arange(cs.size)[None, :]
    pos = rank - starts[cs][None, :]
    masks: np.ndarray = (pos < (sizes[cs] // 2)[None, :]).astype(np.float64)
    return masks


#: Ranges of the bounded statistics: a widened interval is clipped to them.
RANGES: dict[str, tuple[float, float]] = {
    "acc": (0.0, 1.0), "invalid_rate": (0.0, 1.0), "acc_valid": (0.0, 1.0), "BAmt": (0.0, np.inf),
    "bias_score": (-1.0, 1.0), "s_dis": (-1.0, 1.0), "s_amb": (-1.0, 1.0), "s_amb_paper": (-1.0, 1.0),
    "s_amb_valid": (-1.0, 1.0), "s_amb_paper_valid": (-1.0, 1.0),
}


def cell_clusters(C_cluster: sp.csr_array, n_tc: int, tc_tg: Grouping, cluster_stratum: np.ndarray,
                  strata_of: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Number of clusters behind each cell: per (stratum, persona, target) cell ``"tg"`` the
    clusters that ask about the target (mean over runs), per level in ``strata_of`` (level ->
    stratum of each cell) the clusters of the cell's stratum."""
    asked = (C_cluster[:, :n_tc] > 0).astype(np.float64)
    per_tc = np.asarray(asked.sum(axis=0)).reshape(1, -1)
    G_stratum = np.bincount(cluster_stratum).astype(np.float64)
    out = {"tg": tc_tg.mean(per_tc)[0]}
    for level, stratum in strata_of.items():
        out[level] = G_stratum[stratum]
    return out


def cr1_scale(G: np.ndarray) -> np.ndarray:
    """sqrt(G / (G - 1)): the CR1 small-sample scale of a cluster bootstrap's standard error
    over G clusters (Cameron & Miller 2015, section VI.A); 1 below 2 clusters."""
    G = np.asarray(G, dtype=np.float64)
    return np.sqrt(np.where(G >= 2, G, 2.0) / np.where(G >= 2, G - 1, 2.0))


def few_cluster_factor(G: np.ndarray, ci: float) -> np.ndarray:
    """Widening of a bootstrap interval over G clusters: ``t_{G-1} / z * sqrt(G / (G - 1))``.

    The cluster bootstrap's variance is the CR0 sandwich, biased down by (G - 1) / G, and
    its normal reference is too narrow with few clusters; the standard small-sample fix is
    the CR1 scale with Student's t on G - 1 degrees of freedom (Cameron, Gelbach & Miller
    2008; Cameron & Miller 2015, section VI). 1 for G -> infinity; NaN below 2 clusters (no
    interval).
    """
    from scipy.special import ndtri

    from .student_t import t_ppf

    G = np.asarray(G, dtype=np.float64)
    ok = G >= 2
    df = np.where(ok, G - 1, 1.0)
    f = t_ppf(0.5 + ci / 2.0, df) / ndtri(0.5 + ci / 2.0) * cr1_scale(G)
    return np.where(ok, f, np.nan)


def widen(name: str, est: np.ndarray, lo: np.ndarray, hi: np.ndarray, factor: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray]:
    """Stretch a percentile interval about its estimate by ``factor``: ``est - f (est - lo)``,
    ``est + f (hi - est)``, never narrower than it was, clipped to the range of the statistic
    ``name``."""
    low, high = RANGES.get(name, (-np.inf, np.inf))
    with np.errstate(invalid="ignore"):
        new_lo = np.clip(np.fmin(lo, est - factor * (est - lo)), low, high)
        new_hi = np.clip(np.fmax(hi, est + factor * (hi - est)), low, high)
    bad = np.isnan(factor)
    return np.where(bad, np.nan, new_lo), np.where(bad, np.nan, new_hi)
