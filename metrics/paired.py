"""Paired shifts: how far a model variant (a LoRA adapter, an edit) moves every metric.

Base and variants answer the *same* items, personas and runs, so their difference is measured
on shared items: a bootstrap replicate draws the resampling clusters (BBQ templates by
default, :mod:`metrics.clusters`) of each (category, context) once and gives the *same*
weights to every model's answers to them. Item difficulty, common to both models, then cancels
in the difference, and the interval is that of the shift, not of two independent estimates.

For every variant, (category, context) and metric, :func:`paired_shifts` reports the shift
``variant - base`` with the interval ``shift +- t * se`` (se: the standard deviation of the
paired bootstrap replicates of the shift, scaled by sqrt(G / (G - 1)) for G clusters; t: Student's
quantile with G - 1 degrees of freedom) and the matching two-sided test of "no shift"
(``p_value`` from ``shift / se``): the test rejects exactly when the interval excludes 0. Metrics are the summary's: TB, BAmt, accuracy and invalid-answer rate of the
default persona, and PB. TB and PB are means of absolute values, whose plug-in estimates are
inflated by noise (:mod:`metrics.crossfit`); their shifts are differences of the cross-fitted
(debiased) estimates, computed on the same halves for both models, so noise does not pose as
a shift. The ``base``/``variant`` columns hold the same estimates. Coverage of the interval and
the rate of the test at no shift are checked by simulation (tests/test_paired.py).

Everything is vectorised: one contribution matrix of all models (:mod:`metrics.design`), its
rows summed into shared clusters, one sparse product per chunk of replicates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .bootstrap import bootstrap
from .clusters import RESAMPLE_UNITS, Clusters, half_splits
from .crossfit import DEFAULT_SPLITS, debiased, nan_sd, with_halves
from .design import Layout, build_layout
from .errors import MetricsInputError
from .schema import Responses, prepare_answers
from .score import over_runs, per_run_statistics
from .streams import StratumStreams

#: The metrics whose shifts are reported, in order.
PAIRED_METRICS: tuple[str, ...] = ("TB", "BAmt", "PB", "acc", "invalid_rate")
#: The columns of :func:`paired_shifts`' table.
PAIRED_COLUMNS: tuple[str, ...] = ("base", "model", "category", "context_condition", "metric", "base_value",
                                   "value", "shift", "shift_se", "shift_lo", "shift_hi", "p_value", "n_items",
                                   "n_clusters")
_KEY = ("category", "context_condition", "item_id", "persona", "run")


def check_paired(answers: pd.DataFrame, base: str) -> list[str]:
    """The variant models of ``answers`` (every model but ``base``), after checking that every
    model answered exactly the same (category, context, item, persona, run) cells.

    Raises :class:`~metrics.MetricsInputError` naming the first model that differs and how.
    """
    if "model" not in answers.columns:
        raise MetricsInputError("the answers table has no 'model' column: paired shifts compare models")
    models = sorted(set(answers["model"].astype(str)))
    if base not in models:
        raise MetricsInputError(f"base model {base!r} is not in the answers (models: {', '.join(models)})")
    variants = [m for m in models if m != base]
    if not variants:
        raise MetricsInputError(f"only the base model {base!r} is there: a paired shift needs a second model")
    keys = {m: frame[list(_KEY)].astype(str).drop_duplicates() for m, frame in answers.groupby("model", sort=True)}
    ref = keys[base]
    for m in variants:
        joined = ref.merge(keys[m], how="outer", indicator=True)
        only_base, only_m = (joined["_merge"] == "left_only").sum(), (joined["_merge"] == "right_only").sum()
        if only_base or only_m:
            raise MetricsInputError(
                f"models {base!r} and {m!r} did not answer the same items, personas and runs ({only_base} cells "
                f"only in {base!r}, {only_m} only in {m!r}): paired shifts need one study (or runs with the same "
                "items, personas, instructions and limit)")
    return variants


def paired_clusters(r: Responses, resample: str) -> tuple[Clusters, pd.DataFrame]:
    """Clusters shared by all models: a cluster is (category, context, template) -- or item --
    holding every model's copy of those items. Returns the clusters and the shared strata
    table (model ``"paired"``, category, context_condition) their streams are seeded by."""
    if resample not in RESAMPLE_UNITS:
        raise MetricsInputError(f"resample={resample!r}: use one of {', '.join(RESAMPLE_UNITS)}.")
    strata = r.strata.iloc[r.units["stratum"].to_numpy()]
    cell = (strata["category"].astype(str) + "\x1f" + strata["context_condition"].astype(str)).to_numpy(dtype=str)
    items = r.units["item_id"].astype(str).to_numpy()
    key = items
    unit = "items"
    if resample == "templates" and "template" in r.units.columns:
        tmpl = r.units["template"].astype(str).to_numpy()
        key = np.where(np.isin(tmpl, ["", "nan", "None", "<NA>"]), "item\x00" + items, "tmpl\x00" + tmpl)
        unit = "templates"
    cells, cell_code = np.unique(cell, return_inverse=True)
    _, codes = np.unique(np.char.add(np.char.add(cell, "\x1e"), key.astype(str)), return_inverse=True)
    # codes sort by (cell, key) because cell strings come first: clusters of a cell are contiguous
    first = np.unique(codes, return_index=True)[1]
    shared = pd.DataFrame({"model": "paired", "category": [c.split("\x1f")[0] for c in cells],
                           "context_condition": [c.split("\x1f")[1] for c in cells]})
    return Clusters(codes.astype(np.int64), cell_code[first].astype(np.int64), unit), shared


def _summary_values(X: np.ndarray, layout: Layout, n_cols: int, n_splits: int) -> dict[str, np.ndarray]:
    """(b x strata) values of every paired metric from (b x columns) counts."""
    c = layout.split(X[:, :n_cols])
    keep: dict[str, tuple[str, ...]] = {"pg": ("BAmt", "acc", "invalid_rate")}
    point = over_runs(per_run_statistics(c, layout), layout, with_sd=False, keep=keep)
    deb = debiased(X, n_cols, c["n"], c["S"], layout, n_splits)
    out = {name: layout.default_per_stratum(point["pg"][name]) for name in keep["pg"]}
    out["TB"] = layout.default_per_stratum(deb["pg.TB_debiased"])
    out["PB"] = deb["st.PB_debiased"]
    return out


def paired_shifts(answers: pd.DataFrame, base: str, *, w: float = 2, v: float = 1, n_boot: int = 1000,
                  ci: float = 0.95, seed: int = 0, resample: str = "templates", n_splits: int = DEFAULT_SPLITS,
                  include_excluded: bool = False) -> pd.DataFrame:
    """Shifts ``variant - base`` of every paired metric with paired-bootstrap intervals and
    tests (see the module documentation); one row per (variant, category, context, metric)."""
    if int(n_boot) != n_boot or n_boot < 2:
        raise MetricsInputError(f"n_boot={n_boot!r}: paired shifts need at least 2 replicates (e.g. 1000)")
    if not 0 < ci < 1:
        raise MetricsInputError(f"ci={ci!r}: must be in (0, 1), e.g. 0.95.")
    variants = check_paired(answers, base)
    r = prepare_answers(answers, include_excluded=include_excluded)
    layout = build_layout(r, float(w), float(v))
    clusters, shared = paired_clusters(r, resample)

    def streams(purpose: str) -> StratumStreams:
        return StratumStreams(seed, shared, purpose, clusters.cluster_stratum)

    masks = half_splits(clusters, int(n_splits), streams("split").uniform)
    n_cols = layout.C.shape[1]
    C = with_halves((clusters.indicator() @ layout.C).tocsr(), layout.n_tc, masks)
    point = _summary_values(np.asarray(C.sum(axis=0)).reshape(1, -1), layout, n_cols, int(n_splits))

    strata = r.strata.reset_index(drop=True)
    index = {(m, c, x): i for i, (m, c, x) in
             enumerate(strata[["model", "category", "context_condition"]].astype(str).itertuples(index=False))}
    pairs = [(m, c, x, index[(base, c, x)], i) for (m, c, x), i in index.items() if m != base and (base, c, x) in index]
    base_idx = np.array([p[3] for p in pairs], dtype=np.int64)
    var_idx = np.array([p[4] for p in pairs], dtype=np.int64)

    def statistic(X: np.ndarray) -> dict[str, np.ndarray]:
        values = _summary_values(X, layout, n_cols, int(n_splits))
        return {name: values[name][:, var_idx] - values[name][:, base_idx] for name in PAIRED_METRICS}

    reps = bootstrap(C, clusters.cluster_stratum, statistic, n_boot=int(n_boot), streams=streams("bootstrap"))
    from .student_t import t_ppf, t_sf

    n_items = np.bincount(r.units["stratum"].to_numpy(), minlength=len(strata))
    cell_of = {(c, x): k for k, (c, x) in enumerate(shared[["category", "context_condition"]].itertuples(index=False))}
    n_clusters = np.bincount(clusters.cluster_stratum, minlength=len(shared))
    rows = []
    # Few clusters: the bootstrap sd is scaled by sqrt(G / (G - 1)) and referred to Student's
    # t with G - 1 degrees of freedom (G clusters in the cell; Cameron & Miller 2015, section VI).
    G = np.array([n_clusters[cell_of[(p[1], p[2])]] for p in pairs], dtype=np.float64)
    df = np.maximum(G - 1, 1)
    q = np.asarray(t_ppf(0.5 + ci / 2.0, df), dtype=np.float64)  # one quantile per pair
    for name in PAIRED_METRICS:
        shift = point[name][0, var_idx] - point[name][0, base_idx]
        se = np.where(G >= 2, nan_sd(reps[name]) * np.sqrt(G / df), np.nan)  # one cluster: no interval
        with np.errstate(divide="ignore", invalid="ignore"):
            p = np.where(se > 0, 2 * t_sf(np.abs(shift) / se, df), np.where(shift == 0, 1.0, 0.0))
        p = np.where(np.isnan(shift) | np.isnan(se), np.nan, p)
        for j, (m, c, x, bi, vi) in enumerate(pairs):
            rows.append((base, m, c, x, name, point[name][0, bi], point[name][0, vi], shift[j], se[j],
                         shift[j] - q[j] * se[j], shift[j] + q[j] * se[j], p[j], int(n_items[vi]), int(G[j])))
    out = pd.DataFrame(rows, columns=list(PAIRED_COLUMNS))
    order = {m: k for k, m in enumerate(variants)}
    out["_m"] = out["model"].map(order)
    out["_k"] = out["metric"].map({n: k for k, n in enumerate(PAIRED_METRICS)})
    out = out.sort_values(["_m", "category", "context_condition", "_k"], kind="stable").drop(columns=["_m", "_k"])
    out.attrs.update(ci=float(ci), n_boot=int(n_boot), resample_unit=clusters.unit, seed=int(seed))
    return out.reset_index(drop=True)


__all__ = ["PAIRED_COLUMNS", "PAIRED_METRICS", "check_paired", "paired_clusters", "paired_shifts"]
