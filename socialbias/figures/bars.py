"""Bar figures: PB per persona, PB per model and category, and the separated TB."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..contexts import context_code
from ..errors import InputError
from .data import _ci_level, _metric_tables, _one_stratum, _persona_order, _require, _strata, _table
from .planes import _summary_table
from .style import (DOUBLE_COLUMN, SINGLE_COLUMN, _KEYS, _category_label, _context_label, _diverging, _figure,
                    _intervals, _nice_ceil, _no_signal_note, _palette, _persona_label, _signed_formatter,
                    _stratum_title, _styled, _tick_style, _wrap)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure


#: What a persona-bias panel says when every PB(p) (and its interval) is 0.
NO_PERSONA_EFFECT = ("PB(p) = 0 for every persona: no persona changed\nany answer enough to move a TB(p\u2192t)")


#: Bar colour of placebo personas (identity-free roles, metrics.placebo) in the PB(p) figure.
PLACEBO_COLOR = "0.72"


def _all_zero(values: Any, upper: Any = None) -> bool:
    """True when every finite value (and every finite upper bound) is 0: a degenerate figure."""
    v = np.asarray(values, dtype=float)
    hi = np.asarray(upper, dtype=float) if upper is not None else np.zeros(0)
    v, hi = v[np.isfinite(v)], hi[np.isfinite(hi)]
    return bool(v.size) and not np.any(v != 0) and not np.any(hi != 0)


@_styled
def plot_persona_bias(
    results: Any,
    model: str | None = None,
    category: str | None = None,
    context: str | None = None,
    *,
    ci: float | None = None,
) -> Figure:
    """PB(p) per persona, sorted, with intervals, the noise floor and the model-level PB.

    One panel per (model, category, context) left by the filters (contexts side by side).
    Bars: PB(p) = mean_t |TB(p->t) - TB(default->t)|; lines: their bootstrap intervals;
    dashed line and band: the noise floor PB_floor (the PB the default persona gets against
    itself across runs) and its interval; dotted line: PB, the mean over personas. Placebo
    personas (identity-free roles, :mod:`metrics.placebo`), where asked, are grey bars labelled
    without their "a person who" prefix, and a dash-dotted line marks their mean PB_placebo,
    the floor a persona must beat.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    mt = _metric_tables(results)
    pb, summ = mt.persona_bias, mt.summary
    _require(pb, _KEYS + ("persona", "PB"), "persona_bias")
    sel = pb
    for col, value in zip(_KEYS, (model, category, context_code(context))):
        if value is not None:
            sel = sel[sel[col].astype(str) == str(value)]
    sel = sel[sel["persona"].astype(str) != ""]
    if sel.empty:
        raise InputError(f"persona_bias has no persona rows for model={model!r}, category={category!r}, "
                         f"context={context!r}. Fix: choose values present in the table.")
    level = _ci_level(results, ci)
    strata = _strata(sel)
    multi_model = len({k[0] for k in strata}) > 1
    n_panels = len(strata)
    ncols = min(2, n_panels)
    nrows = math.ceil(n_panels / ncols)
    n_max = int(sel.groupby(list(_KEYS)).size().max())
    dense = n_max > 30
    bar_h = 0.105 if dense else 0.165
    tick_fs = 5.0 if dense else 7.0
    width = SINGLE_COLUMN if ncols == 1 else DOUBLE_COLUMN
    height = float(min(nrows * (n_max * bar_h + 0.65) + 0.35, 9.0))
    fig = _figure(width, height)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    bar_color, pb_color = _palette(2)
    srow = summ.assign(**{k: summ[k].astype(str) for k in _KEYS}).set_index(list(_KEYS))
    for key, ax in zip(strata, axes.flat):
        part = sel[(sel["model"].astype(str) == key[0]) & (sel["category"].astype(str) == key[1])
                   & (sel["context_condition"].astype(str) == key[2])]
        part = part.sort_values(["PB", "persona"], ascending=[False, True], na_position="last")
        yy = np.arange(len(part))
        vals = part["PB"].to_numpy(float)
        placebo = part["placebo"].fillna(False).astype(bool).to_numpy() if "placebo" in part.columns else \
            np.zeros(len(part), dtype=bool)
        ax.barh(yy, np.nan_to_num(vals), height=0.7, color=[PLACEBO_COLOR if p else bar_color for p in placebo],
                zorder=2, label="PB(p)")
        if "PB_lo" in part.columns:
            _intervals(ax, yy, part["PB_lo"], part["PB_hi"], horizontal=True, color="0.1", lw=0.8)
        # the estimate as a point too: a bar of length 0 is invisible, a point at 0 is not
        ax.scatter(vals, yy, s=7 if not dense else 3, color="0.1", zorder=4, clip_on=False, linewidths=0)
        if _all_zero(vals, part.get("PB_hi")):
            _no_signal_note(ax, NO_PERSONA_EFFECT)
        xmax_candidates = [np.nanmax(vals) if np.isfinite(vals).any() else 0.0]
        if "PB_hi" in part.columns and np.isfinite(part["PB_hi"].to_numpy(float)).any():
            xmax_candidates.append(np.nanmax(part["PB_hi"].to_numpy(float)))
        if key in srow.index:
            row = srow.loc[key]
            floor, flo, fhi = (float(row.get(c, np.nan)) for c in ("PB_floor", "PB_floor_lo", "PB_floor_hi"))
            if np.isfinite(flo) and np.isfinite(fhi):
                ax.axvspan(flo, fhi, color="0.5", alpha=0.18, lw=0, zorder=1)
                xmax_candidates.append(fhi)
            if np.isfinite(floor):
                ax.axvline(floor, color="0.15", ls=(0, (4, 2)), lw=0.9, zorder=3)
                xmax_candidates.append(floor)
            pb_placebo = float(row.get("PB_placebo", np.nan))
            if placebo.any() and np.isfinite(pb_placebo):
                ax.axvline(pb_placebo, color="0.35", ls="-.", lw=1.0, zorder=3)
            pb_all = float(row.get("PB", np.nan))
            if np.isfinite(pb_all):
                ax.axvline(pb_all, color=pb_color, ls=(0, (1, 1.2)), lw=1.1, zorder=3)
        ax.set_yticks(yy)
        names = [p.removeprefix("a person who ") if pl else p for p, pl in zip(part["persona"].astype(str), placebo)]
        ax.set_yticklabels([_wrap(p, 22) for p in names], fontsize=tick_fs)
        ax.set_ylim(len(part) - 0.5, -0.5)
        ax.set_xlim(0, 1.05 * max(xmax_candidates + [0.01]))
        _tick_style(ax)
        ax.tick_params(axis="y", length=0, labelsize=tick_fs)
        ax.set_xlabel("PB(p)")
        ax.set_title(_stratum_title(*key, with_model=multi_model) if n_panels > 1 else _stratum_title(*key))
        ax.grid(axis="x", color="0.88", lw=0.5, zorder=0)
    for ax in list(axes.flat)[n_panels:]:
        ax.set_visible(False)
    handles = [Patch(facecolor=bar_color, label="PB(p)"),
               Line2D([], [], color="0.1", lw=0.8, marker="o", markersize=2.5, label=f"estimate, {level:.0%} CI"),
               Line2D([], [], color="0.15", ls=(0, (4, 2)), lw=0.9, label="noise floor PB_floor"),
               Patch(facecolor="0.5", alpha=0.18, label="its CI"),
               Line2D([], [], color=pb_color, ls=(0, (1, 1.2)), lw=1.1, label="PB (mean)")]
    if "placebo" in sel.columns and sel["placebo"].fillna(False).astype(bool).any():
        handles += [Patch(facecolor=PLACEBO_COLOR, label="placebo role"),
                    Line2D([], [], color="0.35", ls="-.", lw=1.0, label="PB_placebo (placebo floor)")]
    fig.legend(handles=handles, loc="outside lower center", ncol=5 if width == DOUBLE_COLUMN else 3,
               fontsize=6.5, borderaxespad=0.1)
    return fig


@_styled
def plot_pb_bars_compare(summaries: Any, *, ci: float | None = None) -> Figure:
    """Model-level PB per category (groups) and model (colours), one panel per context.

    ``summaries``: a summary, a MetricResults, or a list/dict of them. Bars: PB with lines
    from PB_lo to PB_hi; a black tick across each bar: that stratum's noise floor PB_floor.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    s = _summary_table(summaries)
    _require(s, _KEYS + ("PB",), "summary")
    level = _ci_level(summaries if not isinstance(summaries, (list, tuple, dict)) else None, ci)
    models = list(dict.fromkeys(s["model"].astype(str)))
    categories = sorted(set(s["category"].astype(str)))
    contexts = [c for c in ("ambig", "disambig") if c in set(s["context_condition"].astype(str))] + \
        sorted(set(s["context_condition"].astype(str)) - {"ambig", "disambig"})
    colors = dict(zip(models, _palette(len(models))))
    ncols = len(contexts)
    width = SINGLE_COLUMN if ncols == 1 and len(categories) * len(models) <= 8 else DOUBLE_COLUMN
    legend_rows = math.ceil((len(models) + 1) / 4)
    cat_labels = [_wrap(_category_label(c), 11) for c in categories]
    lab_lines = max(lab.count("\n") + 1 for lab in cat_labels)
    height = 2.1 + 0.12 * lab_lines + 0.17 * legend_rows
    fig = _figure(width, height)
    axes = fig.subplots(1, ncols, squeeze=False, sharey=True)[0]
    bw = 0.8 / len(models)
    ymax = 0.0
    for ax, ctx in zip(axes, contexts):
        part = s[s["context_condition"].astype(str) == ctx]
        for mi, mo in enumerate(models):
            mine = part[part["model"].astype(str) == mo]
            rows = mine.set_index(mine["category"].astype(str)).reindex(categories)
            xs = np.arange(len(categories)) - 0.4 + bw * (mi + 0.5)
            vals = rows["PB"].to_numpy(float)
            ax.bar(xs, np.nan_to_num(vals), width=bw * 0.9, color=colors[mo], zorder=2)
            if "PB_lo" in rows.columns:
                _intervals(ax, xs, rows["PB_lo"], rows["PB_hi"], horizontal=False, color="0.1", lw=0.8)
                ymax = max(ymax, np.nanmax(np.r_[rows["PB_hi"].to_numpy(float), 0.0]))
            ax.scatter(xs, vals, s=6, color="0.1", zorder=5, clip_on=False, linewidths=0)
            if "PB_floor" in rows.columns:
                fl = rows["PB_floor"].to_numpy(float)
                ok = np.isfinite(fl)
                ax.hlines(fl[ok], xs[ok] - bw * 0.45, xs[ok] + bw * 0.45, colors="black", lw=1.4, zorder=4)
                ymax = max(ymax, np.nanmax(np.r_[fl[ok], 0.0]))
            ymax = max(ymax, np.nanmax(np.r_[vals[np.isfinite(vals)], 0.0]))
        ax.set_xticks(np.arange(len(categories)))
        ax.set_xticklabels(cat_labels, fontsize=7)
        _tick_style(ax)
        ax.tick_params(axis="x", length=0)
        ax.set_title(_context_label(ctx))
        if _all_zero(part["PB"], part.get("PB_hi")):
            _no_signal_note(ax, "PB = 0 in every stratum:\nno persona moved any TB(p\u2192t)")
        ax.grid(axis="y", color="0.88", lw=0.5, zorder=0)
        ax.set_xlim(-0.55, len(categories) - 0.45)
    axes[0].set_ylabel("PB (persona bias)")
    axes[0].set_ylim(0, 1.08 * max(ymax, 0.01))
    handles: list[Any] = [Patch(facecolor=colors[mo], label=mo) for mo in models]
    handles += [Line2D([], [], color="0.1", lw=0.8, marker="o", markersize=2.5, label=f"estimate, {level:.0%} CI"),
                Line2D([], [], color="black", lw=1.4, label="noise floor PB_floor")]
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 4 if width == DOUBLE_COLUMN else 2),
               fontsize=6.5, borderaxespad=0.1)
    return fig


# --------------------------------------------------------------------------- separated TB


def separated_tb(per_run: pd.DataFrame) -> pd.DataFrame:
    """TB split into its positive and its negative part, from the per-run counters.

    Every counted answer adds to a target's S a term of size equal to its addition to A
    (+-w to the named target, -+v to the other one; docs/method.md section 5), so the sum of the
    positive S terms is ``(A + S) / 2`` and that of the negative terms ``(S - A) / 2``. Per run:
    ``TB_pos = (S + A) / (2 n)`` in [0, w] (how much the target is *favoured*: named for
    non-negative questions, or spared as the other target of a negative one) and
    ``TB_neg = (S - A) / (2 n)`` in [-w, 0] (how much it is *blamed*); ``TB_pos + TB_neg = TB``
    and ``TB_pos - TB_neg = BAmt``. Returned per (model, category, context_condition, persona,
    target) as the mean and population sd over runs (like every metric), with ``TB`` = their
    sum and ``n_runs``. No bootstrap intervals: :mod:`metrics` does not resample these parts.
    """
    _require(per_run, _KEYS + ("run", "persona", "target", "n", "S", "A"), "per_run")
    df = per_run[list(_KEYS) + ["persona", "target", "run", "n", "S", "A"]].copy()
    n = df["n"].astype(float).where(df["n"] > 0)
    df["TB_pos"] = (df["S"] + df["A"]) / (2 * n)
    df["TB_neg"] = (df["S"] - df["A"]) / (2 * n)
    keys = list(_KEYS) + ["persona", "target"]
    g = df.groupby(keys, sort=True)
    out = g[["TB_pos", "TB_neg"]].mean()
    sd = g[["TB_pos", "TB_neg"]].std(ddof=0)
    out["TB_pos_sd"] = sd["TB_pos"]
    out["TB_neg_sd"] = sd["TB_neg"]
    out["TB"] = out["TB_pos"] + out["TB_neg"]
    out["n_runs"] = g["TB_pos"].count().astype(np.int64)
    return out.reset_index()


@_styled
def plot_separated_tb(
    results: Any,
    model: str | None = None,
    category: str | None = None,
    context: str | None = None,
    *,
    personas: str | Sequence[str] | None = None,
    vmax: float | None = None,
) -> Figure:
    """The paper's separated TB: per target, the positive and the negative part of TB(p->t).

    Diverging horizontal bars per target (see :func:`separated_tb`): blue to the right =
    TB_pos (favoured), red to the left = TB_neg (blamed), black tick = net TB = TB_pos +
    TB_neg; bar lengths are means over runs. ``personas``: None (default) = the default
    persona only; ``"all"`` = one panel per persona, the default first; or a list of names
    ("" = default). Targets keep the heatmap's alphabetical order.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    per_run = _table(results, "per_run")
    sel, (m, cat, ctx) = _one_stratum(per_run, model, category, context, "per_run")
    sep = separated_tb(sel)
    sep["persona"] = sep["persona"].astype(str)
    available = _persona_order(sep["persona"])
    if personas is None:
        chosen = [""] if "" in available else available[:1]
    elif isinstance(personas, str) and personas == "all":
        chosen = available
    else:
        chosen = [str(p) for p in ([personas] if isinstance(personas, str) else personas)]
        unknown = [p for p in chosen if p not in available]
        if unknown:
            raise InputError(f"personas {unknown} are not in this stratum ({available[:8]}...). "
                             "Fix: pick names of the persona column ('' = the default persona).")
    targets = sorted(set(sep["target"].astype(str)))
    n_t = len(targets)
    n = len(chosen)
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    dense = n_t > 20
    bar_h = 0.1 if dense else 0.17
    tick_fs = 5.0 if dense else 7.0
    width = SINGLE_COLUMN if ncols == 1 else DOUBLE_COLUMN
    height = float(min(nrows * (n_t * bar_h + 0.55) + 0.45, 9.0))
    sub = sep[sep["persona"].isin(chosen)]
    lim = _nice_ceil(np.nanmax(np.abs(sub[["TB_pos", "TB_neg"]].to_numpy(float))) if sub[["TB_pos", "TB_neg"]]
                     .notna().any().any() else 0.05, cap=2.0) if vmax is None else float(vmax)
    cmap = _diverging()
    pos_c, neg_c = cmap(0.82), cmap(0.18)
    fig = _figure(width, height)
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True, sharey=True)
    yy = np.arange(n_t)
    for p, ax in zip(chosen, axes.flat):
        rows = sub[sub["persona"] == p].set_index("target").reindex(targets)
        pos = rows["TB_pos"].to_numpy(float)
        neg = rows["TB_neg"].to_numpy(float)
        net = rows["TB"].to_numpy(float)
        ax.barh(yy, np.nan_to_num(pos), height=0.72, color=pos_c, zorder=2)
        ax.barh(yy, np.nan_to_num(neg), height=0.72, color=neg_c, zorder=2)
        ok = np.isfinite(net)
        ax.scatter(net[ok], yy[ok], marker="|", s=40 if not dense else 18, color="black", linewidths=1.2, zorder=4)
        ax.axvline(0, color="0.2", lw=0.6, zorder=3)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(n_t - 0.5, -0.5)
        ax.set_title(_persona_label(p), fontweight="bold" if p == "" else "normal")
        ax.grid(axis="x", color="0.9", lw=0.5, zorder=0)
        _tick_style(ax)
        ax.tick_params(axis="y", length=0, labelsize=tick_fs)
    for ax in axes[:, 0]:
        ax.set_yticks(yy)
        ax.set_yticklabels([_wrap(t, 22) for t in targets], fontsize=tick_fs)
    for ax in axes[-1, :]:
        ax.set_xlabel("part of TB(p\u2192t)")
        ax.xaxis.set_major_formatter(_signed_formatter())
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.suptitle(_stratum_title(m, cat, ctx))
    handles = [Patch(facecolor=neg_c, label="TB\u207b (blamed)"), Patch(facecolor=pos_c, label="TB\u207a (favoured)"),
               Line2D([], [], color="black", marker="|", ls="none", markersize=7, markeredgewidth=1.2,
                      label="net TB = TB\u207a + TB\u207b")]
    fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=6.5, borderaxespad=0.1)
    return fig
