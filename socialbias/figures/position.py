"""Position bias: the displayed option each model chose, against what its answers predict.

Small and instruction-tuned models often pick a letter rather than an answer (docs/method.md,
section 9). When the options were shown in rotated orders, :func:`metrics.position.position_bias`
gives per model the share of valid answers at displayed positions A, B and C and the share
*expected under the design* if the model chose answers regardless of where they were shown,
with a randomization test. This figure draws both, per model, with the test's p-value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import InputError
from .data import _require
from .style import DOUBLE_COLUMN, SINGLE_COLUMN, _figure, _palette, _styled, _tick_style, _wrap

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure


def _verdict(row: Any) -> str:
    if row.design == "fixed":
        return "options not rotated: not identifiable"
    if row.design == "one order per item":
        return "one order per item: not identifiable"
    p = float(row.p_value)
    return f"\u03c7\u00b2 {row.chi2:.1f}, p = {p:.3g}" if np.isfinite(p) else "not tested"


@_styled
def plot_position_bias(table: pd.DataFrame) -> Figure:
    """Share of answers at displayed positions A, B, C (bars) against the share the design
    expects (black outlines), one panel per model, the randomization test's p-value in its title.

    ``table``: the ``position_bias.csv`` of a run (:data:`metrics.position.POSITION_COLUMNS`).
    A bar above its outline: the model chose that position more often than its answers explain.
    No intervals are drawn on the shares: the evidence is the test (items as clusters), not
    per-position intervals.
    """
    from matplotlib.patches import Patch

    cols = ("model", "design", "n_valid", "chi2", "p_value") + tuple(f"{k}_{x}" for k in ("share", "expected")
                                                                      for x in "ABC")
    _require(table, cols, "position_bias")
    if table.empty:
        raise InputError("position_bias is empty: no model to draw. Fix: pass a run's position_bias.csv.")
    rows = list(table.itertuples(index=False))
    n = len(rows)
    ncols = min(n, 3)
    nrows = int(np.ceil(n / ncols))
    fig = _figure(SINGLE_COLUMN if ncols == 1 else DOUBLE_COLUMN, 0.5 + 1.9 * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False, sharey=True)
    color = _palette(1)[0]
    xs = np.arange(3)
    top = 0.0
    for row, ax in zip(rows, axes.flat):
        share = np.array([getattr(row, f"share_{x}") for x in "ABC"], dtype=float)
        expected = np.array([getattr(row, f"expected_{x}") for x in "ABC"], dtype=float)
        ax.bar(xs, np.nan_to_num(share), width=0.6, color=color, zorder=2)
        ax.bar(xs, np.nan_to_num(expected), width=0.6, facecolor="none", edgecolor="black", linewidth=1.0,
               linestyle=(0, (3, 1.5)), zorder=3)
        for x, v in zip(xs, share):
            if np.isfinite(v):
                ax.text(x, v + 0.015, f"{v:.2f}", ha="center", va="bottom", fontsize=6.5, zorder=4)
        top = max(top, float(np.nanmax(np.r_[share, expected, 0.0])))
        ax.set_xticks(xs)
        ax.set_xticklabels(["A", "B", "C"])
        ax.set_xlabel("displayed position")
        ax.set_title(f"{_wrap(str(row.model), 34)}\n{_verdict(row)}, {int(row.n_valid):,} answers")
        ax.grid(axis="y", color="0.88", lw=0.5, zorder=0)
        _tick_style(ax)
        ax.tick_params(axis="x", length=0)
    for ax in axes[:, 0]:
        ax.set_ylabel("share of valid answers")
    axes[0, 0].set_ylim(0, min(1.0, top * 1.15 + 0.05))
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    handles = [Patch(facecolor=color, label="chosen"),
               Patch(facecolor="none", edgecolor="black", linestyle=(0, (3, 1.5)),
                     label="expected if the position did not matter")]
    fig.legend(handles=handles, loc="outside lower center", ncol=2, fontsize=6.5, borderaxespad=0.1)
    return fig


__all__ = ["plot_position_bias"]
