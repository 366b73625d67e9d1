"""Figures of paired shifts (:func:`metrics.paired.paired_shifts`): how far variants move a model.

- :func:`plot_shift_arrows`: one arrow per variant from the base model's point to the
  variant's on the TB-BAmt plane, one panel per (category, context); the arrow is solid when
  TB or BAmt moved significantly (paired test), dashed when neither did.
- :func:`plot_shift_forest`: every metric's shift with its interval (a forest plot), one row
  per (variant, category, context, metric), a line at 0; for a political instrument's shifts
  (:func:`socialbias.paired_axes.paired_axis_shifts`) one panel per measure and one row per
  (variant, persona, axis).
- :func:`plot_compass_shifts`: arrows base -> variant on two axes of a political instrument
  (its compass), with the paired interval of each coordinate's shift drawn at the arrow's head.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .style import DOUBLE_COLUMN, SINGLE_COLUMN, _context_label, _figure, _nice_ceil, _palette, _styled
from .zoom import zoom_inset

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

_METRIC_LABEL = {"TB": "TB", "BAmt": "BAmt", "PB": "PB", "acc": "accuracy", "invalid_rate": "invalid rate"}


@_styled
def plot_shift_arrows(shifts: pd.DataFrame, alpha: float = 0.05) -> Figure:
    """Arrows base -> variant on the TB-BAmt plane (TB and PB as debiased estimates)."""
    cells = shifts[["category", "context_condition"]].drop_duplicates().itertuples(index=False)
    cells = list(cells)
    variants = list(dict.fromkeys(shifts["model"]))
    colors = dict(zip(variants, _palette(len(variants))))
    n = len(cells)
    cols = min(n, 2)
    rows = int(np.ceil(n / cols))
    fig = _figure(SINGLE_COLUMN if cols == 1 else DOUBLE_COLUMN, 0.4 + 2.4 * rows)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax, (cat, ctx) in zip(axes, cells):
        sel = shifts[(shifts.category == cat) & (shifts.context_condition == ctx)]
        tb, bamt = sel[sel.metric == "TB"].set_index("model"), sel[sel.metric == "BAmt"].set_index("model")
        base = (tb["base_value"].iloc[0], bamt["base_value"].iloc[0])
        ax.plot(*base, "o", color="0.2", ms=5, zorder=4, label=f"base ({sel['base'].iloc[0]})")
        for m in variants:
            if m not in tb.index:
                continue
            end = (tb.at[m, "value"], bamt.at[m, "value"])
            moved = min(tb.at[m, "p_value"], bamt.at[m, "p_value"]) < alpha
            ax.annotate("", xy=end, xytext=base, arrowprops=dict(arrowstyle="-|>", color=colors[m], lw=1.2,
                                                                  linestyle="-" if moved else "--"), zorder=3)
            ax.plot(*end, "o", color=colors[m], ms=4, zorder=4, label=m)
        ax.axvline(0, color="0.8", lw=0.6, zorder=1)
        ax.set_title(f"{cat}, {_context_label(ctx)}")
        ax.set_xlabel("TB (default persona, debiased)")
        ax.set_ylabel("BAmt")
        ax.margins(0.25)
    for ax in axes[n:]:
        ax.set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 4), frameon=False)
    fig.suptitle(f"Shift of each variant from the base (solid: TB or BAmt shift with p < {alpha:g})")
    return fig


@_styled
def plot_shift_forest(shifts: pd.DataFrame) -> Figure:
    """Every shift with its interval, grouped by metric (one panel each), a line at 0. A table of
    instrument-axis shifts (an ``axis`` column) gets one panel per measure instead."""
    if "axis" in shifts.columns:
        panel, rows = "measure", shifts[["model", "persona", "axis"]].drop_duplicates()
        labels = [f"{m}{f' ({p})' if p else ''}\naxis: {a}" for m, p, a in rows.itertuples(index=False)]
    else:
        panel, rows = "metric", shifts[["model", "category", "context_condition"]].drop_duplicates()
        labels = [f"{m}\n{c}, {_context_label(x)}" for m, c, x in rows.itertuples(index=False)]
    metrics = list(dict.fromkeys(shifts[panel]))
    variants = list(dict.fromkeys(shifts["model"]))
    colors = dict(zip(variants, _palette(len(variants))))
    # row labels on two lines (variant; stratum or axis) leave the panels room for their ticks
    fig = _figure(DOUBLE_COLUMN, 0.8 + 0.34 * len(labels))
    axes = np.atleast_1d(fig.subplots(1, len(metrics), sharey=True, squeeze=False)).ravel()

    ci = shifts.attrs.get("ci", 0.95)
    for ax, metric in zip(axes, metrics):
        sel = shifts[shifts[panel] == metric].reset_index(drop=True)
        y = np.arange(len(sel))[::-1]
        for yi, row in zip(y, sel.itertuples(index=False)):
            ax.plot([row.shift_lo, row.shift_hi], [yi, yi], color=colors[row.model], lw=1.2)
            ax.plot(row.shift, yi, "o", color=colors[row.model], ms=3.5,
                    mfc=colors[row.model] if row.p_value < 1 - ci else "white")
        ax.axvline(0, color="0.4", lw=0.6)
        # symmetric about 0 with three ticks (-m, 0, m): narrow panels never crowd their labels
        ends = np.abs(sel[["shift", "shift_lo", "shift_hi"]].to_numpy(float))
        m = _nice_ceil(1.05 * float(np.nanmax(ends)) if np.isfinite(ends).any() else 0.0, floor=1e-3)
        ax.set_xlim(-m, m)
        ax.set_xticks([-m, 0.0, m], [f"{-m:g}".replace("-", "\u2212"), "0", f"{m:g}"])
        ax.set_title(_METRIC_LABEL.get(metric, metric))
        ax.set_yticks(y, labels[: len(sel)])
        ax.set_xlabel("shift")
    fig.suptitle(f"Shift variant - base with {ci:.0%} paired intervals (filled: test rejects no shift)")
    return fig


@_styled
def plot_compass_shifts(shifts: pd.DataFrame, inst, x: str, y: str, *, measure: str = "score",
                        alpha: float = 0.05) -> Figure:
    """Arrows from the base model to each variant on axes ``x`` and ``y`` of instrument ``inst``
    (one arrow per variant and persona), the paired interval of each coordinate's shift as a
    cross at the arrow's head; solid when either shift is significant (p < ``alpha``)."""
    sel = shifts[(shifts["measure"] == measure) & shifts["axis"].isin([x, y])]
    fig = _figure(SINGLE_COLUMN * 1.35, SINGLE_COLUMN * 1.45)
    ax = fig.add_subplot()
    info = {a: inst.axis_info.get(a) or next((d for d in inst.derived if d["id"] == a), {}) for a in (x, y)}
    centre = {}
    for a, setter, line in ((x, ax.set_xlim, ax.axvline), (y, ax.set_ylim, ax.axhline)):
        rng = info[a].get("range")
        if rng:
            setter(*rng)
            centre[a] = sum(rng) / 2
            line(centre[a], color="0.6", lw=0.6, zorder=1)
    groups = list(sel.groupby(["model", "persona"], sort=False))
    colors = _palette(len(groups))
    arrows = []
    for ((model, persona), g), colour in zip(groups, colors):
        g = g.set_index("axis")
        if x not in g.index or y not in g.index:
            continue
        start = (g.at[x, "base_value"], g.at[y, "base_value"])
        end = (g.at[x, "value"], g.at[y, "value"])
        if np.all(np.isfinite([*start, *end])):
            arrows.append((start, end, g, colour, f"{model}{' (' + persona + ')' if persona else ''}", persona))

    def draw(target, labels: bool = True) -> None:
        if not labels:  # the inset: the frame's centre lines again
            for a, line in ((x, target.axvline), (y, target.axhline)):
                if a in centre:
                    line(centre[a], color="0.6", lw=0.6, zorder=1)
        bases = set()
        for start, end, g, colour, label, persona in arrows:
            if start not in bases:
                target.plot(*start, "o", color="0.2", ms=5, zorder=4,
                            label=f"base ({g['base'].iloc[0]}{', ' + persona if persona else ''})" if labels else None)
                bases.add(start)
            moved = min(g.at[x, "p_value"], g.at[y, "p_value"]) < alpha
            target.annotate("", xy=end, xytext=start, zorder=3, arrowprops=dict(
                arrowstyle="-|>", color=colour, lw=1.2, linestyle="-" if moved else "--", shrinkA=0, shrinkB=0))
            target.errorbar(*end, xerr=[[end[0] - (start[0] + g.at[x, "shift_lo"])],
                                        [start[0] + g.at[x, "shift_hi"] - end[0]]],
                            yerr=[[end[1] - (start[1] + g.at[y, "shift_lo"])], [start[1] + g.at[y, "shift_hi"] - end[1]]],
                            fmt="o", ms=3.5, color=colour, lw=0.8, capsize=1.5, zorder=4, label=label if labels else None)

    draw(ax)
    # Points a few hundredths of the range apart: an inset shows them (socialbias.figures.zoom).
    xs = [v for start, end, g, *_ in arrows for v in (start[0], end[0], start[0] + g.at[x, "shift_lo"],
                                                      start[0] + g.at[x, "shift_hi"])]
    ys = [v for start, end, g, *_ in arrows for v in (start[1], end[1], start[1] + g.at[y, "shift_lo"],
                                                      start[1] + g.at[y, "shift_hi"])]
    zoom_inset(ax, xs, ys, lambda inset: draw(inset, labels=False))
    ax.set_xlabel(f"{info[x].get('low', '')}  \u2190  {x}  \u2192  {info[x].get('high', '')}")
    ax.set_ylabel(f"{info[y].get('low', '')}  \u2190  {y}  \u2192  {info[y].get('high', '')}")
    ci = shifts.attrs.get("ci", 0.95)
    what = "expected score (option probabilities)" if measure == "score_expected" else "score (chosen options)"
    ax.set_title(f"{inst.name}: base \u2192 variant, {what}\n{ci:.0%} paired intervals of the shift; "
                 f"solid: a shift with p < {alpha:g}", fontsize=7)
    ax.legend(fontsize=5.5, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    return fig


__all__ = ["plot_compass_shifts", "plot_shift_arrows", "plot_shift_forest"]
