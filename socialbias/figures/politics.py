"""Figures of political-orientation studies (:mod:`socialbias.instruments.politics`).

- :func:`plot_compass`: two axes of an instrument as a compass: quadrants at the scale
  midpoints, one point per model (and persona) with its interval ellipse, the random
  answerer's 95% region shaded, constant answerers marked, optional arrows (base -> variant).
- :func:`plot_axis_bars`: one bar row per axis (8values, PolitiScales), intervals as whiskers,
  the random answerer's 95% band shaded.
- :func:`plot_item_strip`: a per-item heat strip of the chosen option across prompt variants.

Every figure carries its caption (:func:`caption`) at the bottom: the answer mode, prompt
variants, forcing and scale orders, because a position holds only for those.

The interval ellipse has the two marginal intervals as its axes (axis-aligned: the summary
holds marginal intervals only); the random region is the exact 95% ellipse of the random
answerer's covariance (normal approximation, chi-square with 2 degrees of freedom).

The reference answerers come in as arguments: ``baseline`` is the random answerer
(:func:`socialbias.instruments.politics.baselines.random_baseline`: exact ``mean`` and ``cov``
over the instrument's axes, Monte Carlo ``lo``/``hi``) and ``constants`` the constant answerers'
scores (:func:`~socialbias.instruments.politics.baselines.constant_answerers`). The instrument
computes them (its ``baselines.csv`` holds the same numbers); a figure only draws them, so this
module imports nothing from the instruments above it (docs/design.md, "The import chain").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Protocol, Sequence

import numpy as np
import pandas as pd

from .style import DOUBLE_COLUMN, SINGLE_COLUMN, _figure, _palette, _styled

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

class RandomAnswerer(Protocol):
    """What the figures draw of the random answerer (``RandomBaseline`` of the instrument): the
    exact mean and covariance and the central region's bounds, one entry per axis of
    ``inst.all_axes``."""

    mean: np.ndarray
    cov: np.ndarray
    lo: np.ndarray
    hi: np.ndarray


#: chi-square(2) 0.95 quantile: the 95% ellipse of a bivariate normal is mean + sqrt(5.991) * cov^(1/2)
CHI2_2_95 = 5.991464547107979


def caption(record: Mapping[str, Any]) -> str:
    """``mode ...; variants ...; forcing ...; scale orders ...`` from a run.json record."""
    variants = list(record.get("variants") or ["(given answers)"])
    forcing = sorted({v.split("/")[1] if "/" in v else "jail-01 (none)" for v in variants})
    mode = record.get("mode", "given answers")
    if mode == "logprob":
        mode = "logprob (argmax over option labels)"
    return (f"Mode: {mode}. Prompt variants: {', '.join(variants)}. Forcing: {', '.join(forcing)}. "
            f"Scale orders: {record.get('option_orders', 'fixed')}. Items: {('first ' + str(record['limit'])) if record.get('limit') else 'all'}. "
            f"Intervals: {record.get('ci', 0.95):.0%}, resampling items and their answers across variants.")


def _label(model: str, persona: str) -> str:
    name = str(model).rstrip("/").rsplit("/", 1)[-1]
    return f"{name} ({persona})" if persona else name


def _rows(summary: pd.DataFrame) -> pd.DataFrame:
    s = summary.copy()
    if "persona" not in s.columns:
        s["persona"] = ""
    s["persona"] = s["persona"].fillna("")
    return s


def _caption(fig, text: str) -> None:
    import textwrap

    fig.supxlabel("\n".join(textwrap.wrap(text, 110)), fontsize=6, color="0.3")


@_styled
def plot_compass(summary: pd.DataFrame, inst, x: str, y: str, *, baseline: RandomAnswerer,
                 constants: Mapping[str, Mapping[str, float]] | None = None, record: Mapping | None = None,
                 arrows: Sequence[tuple[str, str]] = ()) -> "Figure":
    """Compass of axes ``x`` (horizontal) and ``y`` (vertical) of ``inst`` for every model x persona,
    over the random answerer's 95% ellipse (``baseline``) and the answerers who always give the
    first or the last option (from ``constants``, keyed ``always <option>``)."""
    from matplotlib.patches import Ellipse, FancyArrowPatch

    s = _rows(summary)
    fig = _figure(SINGLE_COLUMN * 1.35, SINGLE_COLUMN * 1.45)
    ax = fig.add_subplot()
    info = {a: inst.axis_info.get(a, {}) for a in (x, y)}
    rng = {a: info[a].get("range") or [float(s[s.axis == a][["score_lo", "score_hi"]].min().min()),
                                        float(s[s.axis == a][["score_lo", "score_hi"]].max().max())] for a in (x, y)}
    mid = {a: sum(rng[a]) / 2 for a in (x, y)}
    ax.set_xlim(*rng[x])
    ax.set_ylim(*rng[y])
    ax.axvline(mid[x], color="0.6", lw=0.6)
    ax.axhline(mid[y], color="0.6", lw=0.6)
    mean, cov = baseline.mean, baseline.cov
    axes = list(inst.all_axes)
    ix, iy = axes.index(x), axes.index(y)
    c2 = cov[np.ix_([ix, iy], [ix, iy])]
    vals, vecs = np.linalg.eigh(c2)
    angle = float(np.degrees(np.arctan2(vecs[1, -1], vecs[0, -1])))
    w, h = 2 * np.sqrt(CHI2_2_95 * np.maximum(vals[::-1], 0))
    ax.add_patch(Ellipse((mean[ix], mean[iy]), w, h, angle=angle, facecolor="0.85", edgecolor="0.6", lw=0.6,
                         label="random answerer (95%)", zorder=1))
    for (name, scores), marker in zip((constants or {}).items(), "^v<>ds"):
        if name in (f"always {inst.options[0]}", f"always {inst.options[-1]}"):
            ax.plot(scores[x], scores[y], marker=marker, color="0.35", ms=4, ls="none", label=name, zorder=2)
    points = {}
    groups = list(s.groupby(["model", "persona"], sort=True))
    for (model, persona), g in groups:
        g = g.set_index("axis")
        if x in g.index and y in g.index:
            points[_label(model, persona)] = g
    shown = [(label, g, colour) for (label, g), colour in zip(points.items(), _palette(len(points)))
             if np.isfinite(g.loc[x, "score"]) and np.isfinite(g.loc[y, "score"])]

    def draw(target, labels: bool = True) -> None:
        for label, g, colour in shown:
            target.add_patch(Ellipse((g.loc[x, "score"], g.loc[y, "score"]), g.loc[x, "score_hi"] - g.loc[x, "score_lo"],
                                     g.loc[y, "score_hi"] - g.loc[y, "score_lo"], facecolor=(*colour, 0.25),
                                     edgecolor=colour, lw=0.8, zorder=3))
            target.plot(g.loc[x, "score"], g.loc[y, "score"], "o", color=colour, ms=4, label=label if labels else None,
                        zorder=4)

    draw(ax)
    from .zoom import zoom_inset  # points close together in the full frame: a zoomed inset shows them

    zoom_inset(ax, [v for _, g, _ in shown for v in g.loc[x, ["score", "score_lo", "score_hi"]]],
               [v for _, g, _ in shown for v in g.loc[y, ["score", "score_lo", "score_hi"]]],
               lambda inset: (inset.axvline(mid[x], color="0.6", lw=0.6), inset.axhline(mid[y], color="0.6", lw=0.6),
                              draw(inset, labels=False)))
    for a, b in arrows:
        if a in points and b in points:
            ax.add_patch(FancyArrowPatch((points[a].loc[x, "score"], points[a].loc[y, "score"]),
                                         (points[b].loc[x, "score"], points[b].loc[y, "score"]),
                                         arrowstyle="->", mutation_scale=8, color="0.2", lw=0.8, zorder=5))
    ax.set_xlabel(f"{info[x].get('low', '')}  \u2190  {x}  \u2192  {info[x].get('high', '')}")
    ax.set_ylabel(f"{info[y].get('low', '')}  \u2190  {y}  \u2192  {info[y].get('high', '')}")
    ax.set_title(f"{inst.name}", fontsize=8)
    ax.legend(fontsize=5.5, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    if record is not None:
        _caption(fig, caption(record))
    return fig


@_styled
def plot_axis_bars(summary: pd.DataFrame, inst, *, baseline: RandomAnswerer, axes: Sequence[str] | None = None,
                   record: Mapping | None = None) -> "Figure":
    """One row per axis: each model x persona as a point with its interval; the random
    answerer's central region (``baseline.lo`` to ``baseline.hi``) shaded."""
    s = _rows(summary)
    axes = list(axes or [a for a in inst.all_axes if a in set(s.axis)])
    keys = [k for k, _ in s.groupby(["model", "persona"], sort=True)]
    colours = _palette(len(keys))
    fig = _figure(DOUBLE_COLUMN, 0.35 * len(axes) + 1.0)
    ax = fig.add_subplot()
    all_axes = list(inst.all_axes)
    lo_r, hi_r = np.inf, -np.inf
    for row, axis in enumerate(axes):
        j = all_axes.index(axis)
        ax.fill_betweenx([row - 0.4, row + 0.4], baseline.lo[j], baseline.hi[j], color="0.88", lw=0, zorder=1,
                         label="random answerer (95%)" if row == 0 else None)
        rng = inst.axis_info.get(axis, {}).get("range") or next(
            (d.get("range") for d in inst.derived if d["id"] == axis), None)
        if rng:
            lo_r, hi_r = min(lo_r, rng[0]), max(hi_r, rng[1])
        for k, ((model, persona), colour) in enumerate(zip(keys, colours)):
            r = s[(s.model == model) & (s.persona == persona) & (s.axis == axis)]
            if r.empty or not np.isfinite(r.score.iloc[0]):
                continue
            off = row + (k - (len(keys) - 1) / 2) * min(0.6 / max(len(keys), 1), 0.2)
            ax.errorbar(r.score.iloc[0], off, xerr=[[r.score.iloc[0] - r.score_lo.iloc[0]], [r.score_hi.iloc[0] - r.score.iloc[0]]],
                        fmt="o", ms=3, color=colour, lw=0.8, capsize=1.5, zorder=3,
                        label=_label(model, persona) if row == 0 else None)
    info = [inst.axis_info.get(a) or next((d for d in inst.derived if d["id"] == a), {}) for a in axes]
    ax.set_yticks(range(len(axes)), [f"{a}: {i.get('low', '')} \u2190\u2192 {i.get('high', '')}" for a, i in zip(axes, info)])
    ax.invert_yaxis()
    if np.isfinite(lo_r):
        ax.set_xlim(lo_r, hi_r)
    ax.set_xlabel(f"{inst.name} score")
    ax.legend(fontsize=6, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=min(4, len(keys) + 1), frameon=False)
    if record is not None:
        _caption(fig, caption(record))
    return fig


@_styled
def plot_item_strip(answers: pd.DataFrame, inst, *, model: str | None = None, persona: str = "",
                    record: Mapping | None = None) -> "Figure":
    """Items (rows) x prompt variant and scale order (columns), coloured by the chosen option."""
    import matplotlib

    a = answers.copy()
    a["persona"] = a["persona"].fillna("") if "persona" in a.columns else ""
    model = model or sorted(a["model"].unique())[0]
    a = a[(a.model == model) & (a.persona == persona)]
    variant = a["variant"].astype(str).str.replace(r"/p\d+s\d+$", "", regex=True)  # rozado draws: one column
    a["column"] = variant + " " + a["order"].map(lambda o: "rev" if str(o).startswith("[" + str(len(inst.options) - 1)) else "fwd")
    grid = a.pivot_table(index="item", columns="column", values="choice", aggfunc="first")
    order = [it.id for it in inst.items if it.id in grid.index]
    grid = grid.loc[order]
    values = grid.to_numpy(dtype=float)
    masked = np.ma.masked_where(~np.isfinite(values) | (values < 0), values)
    cmap = matplotlib.colormaps["RdBu"].resampled(len(inst.options)).with_extremes(bad="#bdbdbd")
    fig = _figure(DOUBLE_COLUMN * 0.75, min(0.12 * len(order) + 1.3, 9.0))
    ax = fig.add_subplot()
    im = ax.imshow(masked, aspect="auto", cmap=cmap, vmin=-0.5, vmax=len(inst.options) - 0.5, interpolation="nearest")
    ax.set_xticks(range(values.shape[1]), list(grid.columns), rotation=40, ha="right", fontsize=5.5)
    ax.set_yticks(range(len(order)), order, fontsize=5)
    cbar = fig.colorbar(im, ax=ax, ticks=range(len(inst.options)), shrink=0.7)
    cbar.ax.set_yticklabels(list(inst.options), fontsize=5.5)
    ax.set_title(f"{inst.name}: {_label(model, persona)}, chosen option per item (grey: invalid)", fontsize=7)
    if record is not None:
        _caption(fig, caption(record))
    return fig


def write_figures(directory, summary: pd.DataFrame, inst, *, record: Mapping, baseline: RandomAnswerer,
                  constants: Mapping[str, Mapping[str, float]] | None = None,
                  answers: pd.DataFrame | None = None) -> list:
    """The study's figures into ``directory/figures`` (:func:`draw_figures`)."""
    from pathlib import Path

    return draw_figures(Path(directory) / "figures", summary, inst, record=record, baseline=baseline,
                        constants=constants, answers=answers)


def draw_figures(out, summary: pd.DataFrame, inst, *, record: Mapping, baseline: RandomAnswerer,
                 constants: Mapping[str, Mapping[str, float]] | None = None,
                 answers: pd.DataFrame | None = None) -> list:
    """The study's figures into the folder ``out``, as PDF and PNG; returns the PNG paths. The axis
    bars always; the compass of the first two axes when the instrument has two or three axes and no
    derived ones (SapplyValues, a PCT file); the item strip of the first model without persona when
    there are at most 150 items and ``answers`` are given."""
    from pathlib import Path

    from .style import save_figure

    out = Path(out)
    paths = [save_figure(plot_axis_bars(summary, inst, record=record, baseline=baseline), out / "axes")[1]]
    if 2 <= len(inst.axes) <= 3 and not inst.derived:
        paths.append(save_figure(plot_compass(summary, inst, inst.axes[0], inst.axes[1], baseline=baseline,
                                              constants=constants, record=record), out / "compass")[1])
    if answers is not None and len(inst.items) <= 150 and not answers.empty:
        paths.append(save_figure(plot_item_strip(answers, inst, record=record), out / "items")[1])
    return paths
