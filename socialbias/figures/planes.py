"""Model types in the TB-BAmt plane, with the classifier's regions."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from ..errors import InputError
from .data import _ci_level, _metric_tables, _require, _table
from .style import (DOUBLE_COLUMN, SINGLE_COLUMN, TYPE_NAMES, _KEYS, _ROW, _category_label, _context_label, _figure,
                    _grouped_legend, _intervals, _palette, _stratum_title, _styled, _tick_style)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure


def _summary_table(summary: Any) -> pd.DataFrame:
    """A summary DataFrame from a summary, a MetricResults, or a sequence/mapping of them."""
    if isinstance(summary, pd.DataFrame):
        return summary
    if isinstance(summary, Mapping):
        summary = list(summary.values())
    if isinstance(summary, Sequence) and not isinstance(summary, (str, bytes)):
        frames = [_summary_table(s) for s in summary]
        if not frames:
            raise InputError("no summary given. Fix: pass one or more summaries / MetricResults.")
        return pd.concat(frames, ignore_index=True)
    return _table(summary, "summary")


def _summary_thresholds(summary: Any) -> Any:
    try:
        return _metric_tables(summary).thresholds
    except (InputError, AttributeError):
        return None


def plane_thresholds(summary: pd.DataFrame, thresholds: Any = None) -> pd.DataFrame:
    """The summary's rows with finite TB, BAmt and thresholds, as the TB-BAmt plane uses them.

    ``TB_threshold``/``BAmt_threshold`` come from the summary (the thresholds the classifier
    used for each row). ``thresholds`` (a :class:`metrics.TypeThresholds`) only fills them in
    for a summary without these columns, from its fixed ``tb_threshold``/``bamt_threshold``;
    fixed values that disagree with the summary's columns raise :class:`InputError` (the
    drawn regions would not match the calls: re-score with those thresholds instead).
    """
    s = summary.copy()
    _require(s, _KEYS + ("TB", "BAmt"), "summary")
    for col, attr in (("TB_threshold", "tb_threshold"), ("BAmt_threshold", "bamt_threshold")):
        fixed = getattr(thresholds, attr, None) if thresholds is not None else None
        if col not in s.columns:
            if fixed is None:
                raise InputError(f"summary lacks {col} and no fixed {attr} was given. Fix: pass the "
                                 "summary of metrics.score_answers, or TypeThresholds with fixed values.")
            s[col] = float(fixed)
        elif fixed is not None and not np.allclose(s[col].to_numpy(float), float(fixed), equal_nan=False):
            raise InputError(f"thresholds.{attr}={fixed} differs from the summary's {col} "
                             f"({sorted(set(np.round(s[col].to_numpy(float), 4)))[:4]}): the regions would not "
                             "match the summary's types. Fix: re-score with these thresholds "
                             "(metrics.score_answers(..., thresholds=...)).")
    # the TB the classifier compares (metrics.model_types: TB_mid; summaries without it: TB)
    s["TB_typed"] = s["TB_mid"] if "TB_mid" in s.columns else s["TB"]
    if "type" not in s.columns:
        from socialbias.metrics.model_types import classify, type_names

        s["type"] = type_names(classify(*(s[c].to_numpy(float) for c in
                                          ("TB_typed", "BAmt", "TB_threshold", "BAmt_threshold")))).array
    ok = np.isfinite(s[["TB_typed", "BAmt", "TB_threshold", "BAmt_threshold"]].to_numpy(float)).all(axis=1)
    return s[ok].reset_index(drop=True)


def _plane_panels(s: pd.DataFrame, scale: str) -> list[str] | None:
    """Panel keys of the raw plane (each panel with one pair of thresholds), None = relative."""
    pair = s["TB_threshold"].round(12).astype(str) + "|" + s["BAmt_threshold"].round(12).astype(str)

    def unique_within(keys: list[str]) -> bool:
        return bool((pair.groupby([s[k] for k in keys]).nunique() <= 1).all())

    if scale == "relative":
        return None
    if unique_within(["context_condition"]):
        return ["context_condition"]
    if scale == "auto":
        return None
    if unique_within(["category", "context_condition"]):
        return ["category", "context_condition"]
    if unique_within(list(_KEYS)):
        return list(_KEYS)
    return [_ROW]  # the same stratum twice (e.g. two scorings of one model): one panel per row


def plane_scale(summary: Any, scale: str = "auto") -> str:
    """``"raw"`` or ``"relative"``: the axes :func:`plot_tb_bamt_plane` uses for ``summary``."""
    s = plane_thresholds(_summary_table(summary), _summary_thresholds(summary))
    return "relative" if _plane_panels(s, scale) is None else "raw"


def region_of(x: float, y: float, x_threshold: float, y_threshold: float) -> str:
    """The model type of a point of the plane: the classifier's rule (skewed: x > threshold)."""
    return TYPE_NAMES[2 * int(x > x_threshold) + int(y > y_threshold)]


@_styled
def plot_tb_bamt_plane(
    summary: Any,
    thresholds: Any = None,
    *,
    scale: Literal["auto", "raw", "relative"] = "auto",
    ci: float | None = None,
) -> Figure:
    """Model types in the TB-BAmt plane: one point per (model, category, context).

    ``summary``: a summary table, a MetricResults, or a list/dict of them (several models).
    x = TB (the default persona's mean |TB(default->t)|, at ``TB_mid``, the estimate the
    classifier compares, when the summary has it), y = BAmt, lines from the ``_lo`` to
    the ``_hi`` bound of their bootstrap intervals. Colour: model. Marker: context (filled
    circle = ambiguous, open square = disambiguated) when there is one category; with
    several, the marker shape is the category and the fill the context (filled = ambiguous,
    open = disambiguated).

    Regions are drawn from the thresholds the classifier used for each row (the summary's
    ``TB_threshold`` and ``BAmt_threshold``; a point is skewed when TB > TB_threshold, large
    when BAmt > BAmt_threshold), so every point lies in the region named by its ``type``:

    - ``scale="raw"``: raw TB and BAmt, one panel per context condition (or per category and
      context, or per stratum) such that each panel has a single pair of thresholds.
    - ``scale="relative"``: one panel of TB / TB_threshold against BAmt / BAmt_threshold; the
      region boundaries are at 1 for every point, whatever its stratum's thresholds.
    - ``scale="auto"`` (default): raw when each context condition has one pair of
      thresholds (one model and category, or fixed thresholds), else relative.

    ``thresholds``: optional :class:`metrics.TypeThresholds` (see :func:`plane_thresholds`).
    Artists carry gids for checking: regions ``"region:<type>"``, points
    ``"point:" + JSON [model, category, context, type]``.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle

    if scale not in ("auto", "raw", "relative"):
        raise InputError(f"scale={scale!r}: use 'auto', 'raw' or 'relative'.")
    thresholds = thresholds if thresholds is not None else _summary_thresholds(summary)
    s = plane_thresholds(_summary_table(summary), thresholds)
    if s.empty:
        raise InputError("no row of the summary has TB, BAmt and thresholds (is the default persona "
                         "missing?). Fix: score answers that include the default persona.")
    level = _ci_level(summary if not isinstance(summary, (list, tuple, dict)) else None, ci)
    panel_keys = _plane_panels(s, scale)
    relative = panel_keys is None

    x = s["TB_typed"].to_numpy(float)
    y = s["BAmt"].to_numpy(float)
    xlo, xhi = (s[c].to_numpy(float) if c in s.columns else np.full(len(s), np.nan) for c in ("TB_lo", "TB_hi"))
    ylo, yhi = (s[c].to_numpy(float) if c in s.columns else np.full(len(s), np.nan) for c in ("BAmt_lo", "BAmt_hi"))
    if relative:
        tx, ty = s["TB_threshold"].to_numpy(float), s["BAmt_threshold"].to_numpy(float)
        x, xlo, xhi = x / tx, xlo / tx, xhi / tx
        y, ylo, yhi = y / ty, ylo / ty, yhi / ty

    models = list(dict.fromkeys(s["model"].astype(str)))
    categories = list(dict.fromkeys(sorted(s["category"].astype(str))))
    colors = dict(zip(models, _palette(len(models))))
    by_category = len(categories) > 1
    cat_markers = dict(zip(categories, ["s", "^", "D", "v", "P", "X", "<", ">", "h", "p"] * 3))
    ctx_markers = {"ambig": "o", "disambig": "s"}

    if relative:
        panels = [("", np.arange(len(s)))]
    else:
        if panel_keys == [_ROW]:
            panels = [(_stratum_title(*(str(s[k].iloc[i]) for k in _KEYS)), np.array([i])) for i in range(len(s))]
        else:
            groups = s.groupby(panel_keys, sort=True).indices
            panels = [(" \u00b7 ".join(_context_label(v) if k == "context_condition" else
                                       (_category_label(v) if k == "category" else str(v))
                                       for k, v in zip(panel_keys, key if isinstance(key, tuple) else (key,))),
                       np.asarray(idx)) for key, idx in groups.items()]
    n_panels = len(panels)
    ncols = min(n_panels, 2)
    nrows = math.ceil(n_panels / ncols)
    width = SINGLE_COLUMN if ncols == 1 else DOUBLE_COLUMN
    n_ctx = s["context_condition"].nunique() + 1
    legend_rows = (max(len(models), len(categories) if by_category else 0, n_ctx) if width == DOUBLE_COLUMN
                   else max(len(models), (len(categories) if by_category else 0) + n_ctx))
    height = nrows * (2.45 if ncols == 2 else 2.7) + 0.14 * legend_rows + 0.15
    fig = _figure(width, height)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    shades = {"ideal": "#ffffff", "balanced": "#eeeeee", "skewed": "#eeeeee", "skewed-large": "#dcdcdc"}

    for (name, idx), ax in zip(panels, axes.flat):
        tx = 1.0 if relative else float(s["TB_threshold"].iloc[idx[0]])
        ty = 1.0 if relative else float(s["BAmt_threshold"].iloc[idx[0]])
        xs = np.concatenate([x[idx], xhi[idx]])
        ys = np.concatenate([y[idx], yhi[idx]])
        # (a floor keeps degenerate panels, all zeros or zero thresholds, drawable)
        xmax = max(1.35 * tx, 1.1 * np.nanmax(xs[np.isfinite(xs)], initial=0.0), 0.05)
        ymax = max(1.35 * ty, 1.1 * np.nanmax(ys[np.isfinite(ys)], initial=0.0), 0.05)
        big = 1e6
        for region, (x0, y0, w, h) in {"ideal": (0, 0, tx, ty), "balanced": (0, ty, tx, big),
                                       "skewed": (tx, 0, big, ty), "skewed-large": (tx, ty, big, big)}.items():
            ax.add_patch(Rectangle((x0, y0), w, h, facecolor=shades[region], edgecolor="none",
                                   zorder=0, gid=f"region:{region}"))
        ax.axvline(tx, color="0.35", lw=0.7, ls=(0, (4, 2)), zorder=1)
        ax.axhline(ty, color="0.35", lw=0.7, ls=(0, (4, 2)), zorder=1)
        # region names in the outer corners; a narrow column gets vertical names
        fx = tx / xmax
        pad_x, pad_y = 0.02, 0.03
        label_kw = {"fontsize": 6.5, "color": "0.25", "style": "italic", "zorder": 1.5}
        narrow_left = fx < 0.2
        ax.text(pad_x * xmax if not narrow_left else tx / 2, pad_y * ymax, "ideal",
                ha="left" if not narrow_left else "center", va="bottom",
                rotation=0 if not narrow_left else 90, **label_kw)
        ax.text(pad_x * xmax if not narrow_left else tx / 2, (1 - pad_y) * ymax, "balanced",
                ha="left" if not narrow_left else "center", va="top",
                rotation=0 if not narrow_left else 90, **label_kw)
        ax.text((1 - pad_x) * xmax, pad_y * ymax, "skewed", ha="right", va="bottom", **label_kw)
        ax.text((1 - pad_x) * xmax, (1 - pad_y) * ymax, "skewed-large", ha="right", va="top", **label_kw)
        if not relative:
            ax.annotate(f"{tx:.3f}", (tx, 0), xytext=(2, 1), textcoords="offset points", fontsize=5.5,
                        color="0.3", ha="left", va="bottom", zorder=1.5, xycoords=("data", "axes fraction"))
            ax.annotate(f"{ty:.3f}", (0, ty), xytext=(1, 1.5), textcoords="offset points", fontsize=5.5,
                        color="0.3", ha="left", va="bottom", zorder=1.5, xycoords=("axes fraction", "data"))
        for i in idx:
            row = s.iloc[i]
            col = colors[str(row["model"])]
            ctx = str(row["context_condition"])
            marker = cat_markers[str(row["category"])] if by_category else ctx_markers.get(ctx, "o")
            _intervals(ax, [y[i]], [xlo[i]], [xhi[i]], horizontal=True, color=col, lw=0.8, zorder=2.5)
            _intervals(ax, [x[i]], [ylo[i]], [yhi[i]], horizontal=False, color=col, lw=0.8, zorder=2.5)
            filled = ctx != "disambig"
            gid = "point:" + json.dumps([str(row["model"]), str(row["category"]), ctx, str(row["type"])])
            # unclipped: a TB or BAmt of 0 (an estimate on the axis) is a whole marker, not half of one
            ax.scatter([x[i]], [y[i]], s=24, marker=marker, facecolors=[col] if filled else ["white"],
                       edgecolors=[col], linewidths=1.0, zorder=3, gid=gid, clip_on=False)
        ax.set_xlim(0, xmax)
        ax.set_ylim(0, ymax)
        if name:
            ax.set_title(name)
        _tick_style(ax)
        ax.set_xlabel("TB / TB threshold" if relative else "TB (default persona; typed estimate)")
        ax.set_ylabel("BAmt / BAmt threshold" if relative else "BAmt (default persona)")
    for ax in list(axes.flat)[n_panels:]:
        ax.set_visible(False)

    model_h = [Line2D([], [], color=colors[mo], marker="o", ls="none", markersize=4.5, label=mo) for mo in models]
    cat_h = [Line2D([], [], color="0.3", marker=cat_markers[c], ls="none", markersize=4.5,
                    label=_category_label(c)) for c in categories] if by_category else []
    ctx_h = []
    for c in [c for c in ("ambig", "disambig") if c in set(s["context_condition"].astype(str))]:
        mk = "o" if by_category else ctx_markers[c]
        ctx_h.append(Line2D([], [], color="0.3", marker=mk, ls="none", markersize=4.5,
                            markerfacecolor="0.3" if c == "ambig" else "white", label=_context_label(c)))
    ctx_h.append(Line2D([], [], color="0.3", lw=0.8, label=f"{level:.0%} CI"))
    groups = [model_h, cat_h, ctx_h] if width == DOUBLE_COLUMN else [model_h, cat_h + ctx_h]
    _grouped_legend(fig, [g for g in groups if g])
    return fig
