"""The TB(p->t) heatmap: personas x targets of one (model, category, context)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .data import _ci_level, _one_stratum, _persona_order, _require, _table
from .style import (DEFAULT_LABEL, DOUBLE_COLUMN, SINGLE_COLUMN, _NA_CELL, _diverging, _figure, _fmt_signed, _lum,
                    _nice_ceil, _note_handle, _persona_label, _stratum_title, _styled, _tb_colorbar, _text_in,
                    _wrap)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure


@_styled
def plot_tb_heatmap(
    results: Any,
    model: str | None = None,
    category: str | None = None,
    context: str | None = None,
    *,
    vmax: float | None = None,
    annotate: bool | None = None,
    ci: float | None = None,
    title: bool = True,
    shared_scale: bool = False,
) -> Figure:
    """TB(p->t) of one (model, category, context) as a personas x targets heatmap.

    ``results``: a MetricResults or its ``target_bias`` table. Rows: the default persona
    first (labelled "default (no persona)"), then the personas alphabetically; columns: the
    targets alphabetically. ``shared_scale``: ``vmax`` is a limit shared by several figures (a
    report's, :func:`socialbias.figures.style.shared_tb_scale`), said on the colour bar.
    Colours: ``RdBu`` centred on 0 with symmetric limits +-``vmax``
    (default: the largest |TB|, for large grids its 99th percentile with the colour bar
    extended, rounded up to 1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 x 10^k); grey: the persona was
    never asked about the target. Cells not significantly different from 0 are hatched (the
    collection with gid ``"insignificant"``): Benjamini-Hochberg-adjusted p-value ``TB_padj``
    >= 1 - ci over all cells of the heatmap when the table has it, else the bootstrap interval
    includes 0; annotated significant values are
    bold. ``annotate`` (default: grids up to 14 targets and 30 personas) writes the values
    with 2 decimals; large grids (e.g. Nationality, 69 x 68) drop the annotations and shrink
    the tick labels. Width: one column (3.3 in) when the grid fits, else two (6.9 in).
    """
    from matplotlib.collections import PatchCollection
    from matplotlib.colors import Normalize
    from matplotlib.patches import Patch, Rectangle

    tb = _table(results, "target_bias")
    _require(tb, ("persona", "target", "TB"), "target_bias")
    sel, (m, cat, ctx) = _one_stratum(tb, model, category, context, "target_bias")
    level = _ci_level(results, ci)
    personas = _persona_order(sel["persona"])
    targets = sorted({str(t) for t in sel["target"]})
    sel = sel.assign(persona=sel["persona"].astype(str), target=sel["target"].astype(str))

    def grid(col: str) -> np.ndarray:
        if col not in sel.columns:
            return np.full((len(personas), len(targets)), np.nan)
        return (sel.pivot(index="persona", columns="target", values=col)
                .reindex(index=personas, columns=targets).to_numpy(dtype=float))

    values, lo, hi = grid("TB"), grid("TB_lo"), grid("TB_hi")
    has_ci = bool(np.isfinite(lo).any())
    insig = np.isfinite(values) & (lo <= 0) & (hi >= 0)
    padj = grid("TB_padj")  # Benjamini-Hochberg over the stratum's cells (metrics.score)
    adjusted = bool(np.isfinite(padj).any())
    if adjusted:
        insig = np.isfinite(values) & ~(padj < 1.0 - level)
    n_p, n_t = values.shape
    large = n_t > 14 or n_p > 30
    annotate = (not large) if annotate is None else bool(annotate)

    def label_width(labels: list[str], size: float) -> float:
        return max(_text_in(lab, size, bold=lab.startswith("default")) for lab in labels) + 0.08

    col_in = max(_text_in(t, 7.0) for t in targets)
    if not large:
        tick_fs = 7.0
        cell_w, cell_h = (0.33, 0.2) if annotate else (0.26, 0.18)
        # the default persona's label on two lines when that lets the figure fit one column
        for default_label in (DEFAULT_LABEL, "default\n(no persona)"):
            row_labels = [_wrap(_persona_label(p), 20) if p else default_label for p in personas]
            need = label_width(row_labels, tick_fs) + n_t * cell_w + 0.85
            if need <= SINGLE_COLUMN:
                break
        width = SINGLE_COLUMN if need <= SINGLE_COLUMN else DOUBLE_COLUMN
        if width == DOUBLE_COLUMN:
            row_labels = [_wrap(_persona_label(p), 20) for p in personas]
            cell_w = min(0.6, (width - label_width(row_labels, tick_fs) - 0.85) / n_t)
        rotate = 0 if col_in <= cell_w * 0.95 else 45
        xlab_h = (col_in * 0.72 + 0.12) if rotate else 0.18
        n_lines = sum(lab.count("\n") + 1 for lab in row_labels)
        height = 0.25 + max(n_p * cell_h, n_lines * 0.13) + xlab_h + 0.3 + (0.2 if title else 0)
    else:
        tick_fs = float(np.clip(72 * (DOUBLE_COLUMN - 1.6) / max(n_t, n_p) * 0.8, 3.5, 6.5))
        row_labels = [_wrap(_persona_label(p), 24) for p in personas]
        width = DOUBLE_COLUMN
        cell = (width - label_width(row_labels, tick_fs) - 0.85) / n_t
        rotate = 90
        height = n_p * cell + col_in * tick_fs / 7 + 0.2 + 0.3 + (0.2 if title else 0)
    height = float(min(max(height, 1.6), 9.0))

    finite = np.abs(values[np.isfinite(values)])
    if vmax is not None:
        vlim = float(vmax)
    elif finite.size == 0:
        vlim = 0.05
    else:  # large grids: the 99th percentile, so that one extreme cell does not wash out the rest
        vlim = _nice_ceil(np.percentile(finite, 99) if large else finite.max(), cap=2.0)
    clipped = bool(finite.size and finite.max() > vlim * (1 + 1e-9))
    norm = Normalize(-vlim, vlim)
    cmap = _diverging()

    fig = _figure(width, height)
    ax = fig.add_subplot()
    mesh = ax.pcolormesh(np.arange(n_t + 1), np.arange(n_p + 1), np.ma.masked_invalid(values),
                         cmap=cmap, norm=norm, edgecolors="white" if not large else "face",
                         linewidth=0.6 if not large else 0.0, gid="tb_heatmap")
    mesh.set_rasterized(large)
    hatch_color = "0.5"
    if has_ci and insig.any():
        rects = [Rectangle((j, i), 1, 1) for i, j in zip(*np.nonzero(insig))]
        hatch = PatchCollection(rects, facecolor="none", edgecolor=hatch_color, linewidth=0.0,
                                hatch="////", gid="insignificant", zorder=2)
        hatch.set_hatch_linewidth(0.3 if not large else 0.2)
        ax.add_collection(hatch)
    if annotate:
        fs = 6.5 if cell_w >= 0.4 else 6.0
        for i in range(n_p):
            for j in range(n_t):
                v = values[i, j]
                if not np.isfinite(v):
                    ax.text(j + 0.5, i + 0.5, "n/a", ha="center", va="center", fontsize=fs, color="0.35",
                            zorder=3)
                    continue
                face = cmap(norm(v))
                significant = has_ci and not insig[i, j]
                ax.text(j + 0.5, i + 0.5, _fmt_signed(v), ha="center", va="center", fontsize=fs,
                        color="white" if _lum(face) < 0.5 else "black", zorder=3,
                        fontweight="bold" if significant else "normal",
                        bbox=None if significant or not has_ci else
                        {"boxstyle": "square,pad=0.1", "facecolor": face, "edgecolor": "none"})
    ax.set_xlim(0, n_t)
    ax.set_ylim(n_p, 0)
    ax.set_xticks(np.arange(n_t) + 0.5)
    ax.set_yticks(np.arange(n_p) + 0.5)
    ax.set_xticklabels(targets, rotation=rotate, ha="right" if rotate == 45 else "center",
                       rotation_mode="anchor" if rotate == 45 else "default", fontsize=tick_fs)
    ax.set_yticklabels(row_labels, fontsize=tick_fs)
    if "" in personas:
        ax.get_yticklabels()[0].set_fontweight("bold")
    ax.tick_params(length=0, pad=1.5)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_xlabel("target group", fontsize=7, labelpad=2)
    ax.set_ylabel("persona", fontsize=7, labelpad=2)
    if title:  # over the whole figure: over the cells alone it can run into the colour bar's label
        fig.suptitle(_stratum_title(m, cat, ctx), fontsize=8)
    _tb_colorbar(fig, mesh, ax, vlim, aspect=max(8, min(30, 10 * height)), extend="both" if clipped else "neither",
                 shared=shared_scale)

    handles = []
    if finite.size and not finite.any():  # degenerate: said in the legend, where it covers no label
        handles.append(_note_handle("every TB(p\u2192t) is 0: no persona names either target more often"))
    if has_ci:
        handles.append(Patch(facecolor="white", edgecolor=hatch_color, hatch="////", linewidth=0.4,
                             label=(f"not significant (BH-adjusted p >= {1 - level:.2g})" if adjusted
                                    else f"{level:.0%} CI includes 0") + (" (bold: significant)" if annotate else "")))
    if np.isnan(values).any():
        handles.append(Patch(facecolor=_NA_CELL, edgecolor="none", label="not asked"))
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncol=1 if any(h.get_gid() == "degenerate" for h in handles) else len(handles),
                   fontsize=6.5, handlelength=1.6, handleheight=1.0, borderaxespad=0.1)
    return fig
