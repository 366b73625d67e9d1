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

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

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


def half_splits(clusters: Clusters, n_splits: int, streams_uniform) -> np.ndarray:
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
    return (pos < (sizes[cs] // 2)[None, :]).astype(np.float64)
