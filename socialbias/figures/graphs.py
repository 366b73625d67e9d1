"""The perception graph of :mod:`socialbias.graph`: personas -> targets."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError
from .style import (DEFAULT_LABEL, DOUBLE_COLUMN, SINGLE_COLUMN, _diverging, _figure, _lum, _nice_ceil,
                    _note_handle, _stratum_title, _styled, _tb_colorbar, _text_in)

if TYPE_CHECKING:  # pragma: no cover
    import networkx as nx
    from matplotlib.figure import Figure


#: The thinnest edge (points) and the lowest opacity of an edge: weak and insignificant edges
#: stay visible in print.
EDGE_MIN_WIDTH = 0.8
EDGE_MIN_ALPHA = 0.75
#: The palest an edge colour may be: at most this luminance (white is 1).
_EDGE_MAX_LUM = 0.8


def _visible(rgba: list[float]) -> list[float]:
    """``rgba`` darkened towards its own hue until its luminance is at most :data:`_EDGE_MAX_LUM`
    (the middle of a diverging map is nearly white: an edge of TB 0.01 would vanish on paper)."""
    lum = _lum(rgba)
    if lum <= _EDGE_MAX_LUM:
        return rgba
    k = _EDGE_MAX_LUM / lum
    return [rgba[0] * k, rgba[1] * k, rgba[2] * k, rgba[3]]


@_styled
def plot_perception_graph(
    G: nx.DiGraph,
    *,
    min_abs_tb: float = 0.0,
    max_edges: int | None = None,
    vmax: float | None = None,
    fade_insignificant: bool = True,
    title: bool = True,
    shared_scale: bool = False,
) -> Figure:
    """The perception graph of :func:`socialbias.graph.build_graph`: personas -> targets.

    Personas in the left column (the default persona on top, black and bold), targets in the
    right one (grey squares); labels without the ``persona:``/``target:`` prefixes. Only
    perception edges are drawn: colour = TB(p->t) on the diverging map (red blamed, blue
    favoured, symmetric limits), width proportional to |TB| (at least :data:`EDGE_MIN_WIDTH`
    points, opacity at least :data:`EDGE_MIN_ALPHA`, so that weak edges survive printing); edges
    whose interval includes 0 are dashed and lighter when ``fade_insignificant`` (a dash pattern,
    unlike a faded colour, still reads in greyscale). ``vmax`` with ``shared_scale``: a colour
    limit shared by the report, said on the colour bar. ``min_abs_tb`` and ``max_edges`` (keep the
    strongest) thin out large graphs; graphs with more than 600 edges keep the strongest 300
    unless ``max_edges`` is given (the legend says how many are shown).
    """
    from matplotlib.collections import LineCollection
    from matplotlib.colors import Normalize
    from matplotlib.lines import Line2D

    nodes = dict(G.nodes(data=True))
    personas = [n for n, d in nodes.items() if d.get("kind") == "persona"]
    targets = [n for n, d in nodes.items() if d.get("kind") == "target"]
    if not personas or not targets:
        raise InputError("the graph has no persona or no target node. Fix: pass a graph from "
                         "socialbias.graph.build_graph.")

    def label(n: str) -> str:
        d = nodes[n]
        if d.get("is_default"):
            return DEFAULT_LABEL
        return str(d.get("label") or n.split(":", 1)[-1])

    personas.sort(key=lambda n: (not nodes[n].get("is_default", False), label(n)))
    targets.sort(key=label)
    edges = []
    for u, v, d in G.edges(data=True):
        tb = d.get("TB")
        if d.get("kind") == "perception" and tb is not None and np.isfinite(tb) and abs(tb) >= min_abs_tb:
            lo, hi = d.get("TB_lo", np.nan), d.get("TB_hi", np.nan)
            lo = np.nan if lo is None else lo
            hi = np.nan if hi is None else hi
            insig = bool(np.isfinite(lo) and np.isfinite(hi) and lo <= 0 <= hi)
            edges.append((u, v, float(tb), insig))
    edges.sort(key=lambda e: (abs(e[2]), e[0], e[1]))
    n_edges = len(edges)
    if max_edges is None and n_edges > 600:
        max_edges = 300
    if max_edges is not None:
        edges = edges[-int(max_edges):] if max_edges > 0 else []

    n_max = max(len(personas), len(targets))
    big = n_max > 20
    fs = 7.0 if not big else float(np.clip(560 / n_max / 1.3, 3.5, 6.0))
    width = SINGLE_COLUMN if not big else DOUBLE_COLUMN
    height = (float(np.clip(0.2 * n_max + 1.05, 2.2, 9.0)) if not big
              else float(np.clip(0.1 * n_max + 1.2, 3.0, 9.0)))

    def column(k: int) -> np.ndarray:
        if k == 1:
            return np.array([0.5])
        span = (k - 1) / max(n_max - 1, 1)
        return 0.5 + span / 2 - np.arange(k) * span / (k - 1)

    pos = {n: (0.0, y) for n, y in zip(personas, column(len(personas)))}
    pos.update({n: (1.0, y) for n, y in zip(targets, column(len(targets)))})
    names = {n: label(n) for n in personas + targets}
    if any(nodes[n].get("is_default") for n in personas) and not big:
        names[personas[0]] = "default\n(no persona)"

    vals = np.array([e[2] for e in edges]) if edges else np.zeros(0)
    vlim = (_nice_ceil(np.max(np.abs(vals)) if vals.size else 0.05, cap=2.0) if vmax is None else float(vmax))
    norm = Normalize(-vlim, vlim)
    cmap = _diverging()
    fig = _figure(width, height)
    ax = fig.add_subplot()

    # x limits from the measured label widths, so that no label leaves the axes
    def text_width(text: str, bold: bool) -> float:
        return _text_in(text, fs, bold)

    gap = 5 / 72  # label offset from its node, inches
    left = max(text_width(names[n], bool(nodes[n].get("is_default"))) for n in personas) + gap + 0.04
    right = max(text_width(names[n], False) for n in targets) + gap + 0.04
    ax_w = width - 0.1
    fa, fb = left / ax_w, right / ax_w
    span = 1.0 / max(1.0 - fa - fb, 0.2)
    x_lo, x_hi = -fa * span, 1 + fb * span

    if edges:
        # Two collections: solid edges (interval excludes 0) over dashed ones (it includes 0).
        for dashed in (True, False):
            mine = [e for e in edges if (fade_insignificant and e[3]) == dashed]
            if not mine:
                continue
            colors = []
            for _, _, tb, _ in mine:
                rgba = list(cmap(norm(tb)))
                # the palest colours of the map are lifted towards their hue, so no edge vanishes on paper
                rgba[3] = EDGE_MIN_ALPHA if dashed else 1.0
                colors.append(tuple(_visible(rgba)))
            widths = [EDGE_MIN_WIDTH + (3.0 - EDGE_MIN_WIDTH) * min(abs(tb) / vlim, 1.0) for _, _, tb, _ in mine]
            segs = [(pos[u], pos[v]) for u, v, _, _ in mine]
            lc = LineCollection(segs, colors=colors, linewidths=widths, zorder=1.5 if not dashed else 1,
                                capstyle="butt" if dashed else "round", linestyles=(0, (3, 1.5)) if dashed else "solid",
                                gid="perception_edges_ci_includes_0" if dashed else "perception_edges")
            ax.add_collection(lc, autolim=False)
    for group, marker in ((personas, "o"), (targets, "s")):
        xy = np.array([pos[n] for n in group])
        is_def = np.array([bool(nodes[n].get("is_default")) for n in group])
        face = ["black" if d else ("white" if marker == "o" else "0.8") for d in is_def]
        sizes = [(40 if d else 22) * (1 if not big else 0.45) for d in is_def]
        ax.scatter(xy[:, 0], xy[:, 1], s=sizes, marker=marker, facecolors=face, edgecolors="0.15",
                   linewidths=0.7, zorder=3, gid="persona_nodes" if marker == "o" else "target_nodes")
        for n, (xx, yy) in zip(group, xy):
            is_left = marker == "o"
            ax.annotate(names[n], (xx, yy), xytext=(-gap * 72 if is_left else gap * 72, 0),
                        textcoords="offset points", ha="right" if is_left else "left", va="center",
                        fontsize=fs, zorder=4, linespacing=1.0,
                        fontweight="bold" if nodes[n].get("is_default") else "normal")
    top = 0.5 + (n_max - 1) / max(n_max - 1, 1) / 2 if n_max > 1 else 0.5
    head_y = top + (0.1 if not big else 0.025) if n_max > 1 else 0.6
    ax.text(0.0, head_y, "personas", ha="center", va="bottom", fontsize=7, color="0.3")
    ax.text(1.0, head_y, "targets", ha="center", va="bottom", fontsize=7, color="0.3")
    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim((-0.07 if not big else -0.02) if n_max > 1 else 0.4, head_y + (0.07 if not big else 0.03))
    ax.axis("off")
    if title and G.graph:
        g = G.graph
        ax.set_title(_stratum_title(str(g.get("model", "")), str(g.get("category", "")),
                                    str(g.get("context_condition", ""))))
    from matplotlib.cm import ScalarMappable

    clipped = bool(vals.size and np.max(np.abs(vals)) > vlim * (1 + 1e-9))
    _tb_colorbar(fig, ScalarMappable(norm=norm, cmap=cmap), ax, vlim, orientation="horizontal",
                 aspect=25, shrink=0.7 if not shared_scale else 0.9, extend="both" if clipped else "neither",
                 shared=shared_scale)
    handles = []
    degenerate = bool(edges) and not any(e[2] != 0 for e in edges)
    if degenerate:  # said in the legend, where it covers no label (every edge is then the same grey)
        handles.append(_note_handle("every TB(p\u2192t) is 0: no persona names either target more often"))
    elif fade_insignificant and any(e[3] for e in edges):
        handles += [Line2D([], [], color="0.3", lw=1.2, alpha=EDGE_MIN_ALPHA, ls=(0, (3, 1.5)), label="CI includes 0"),
                    Line2D([], [], color="0.3", lw=1.2, label="CI excludes 0")]
    if len(edges) < n_edges:
        handles.append(Line2D([], [], color="none", label=f"strongest {len(edges)} of {n_edges} edges shown"))
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncol=len(handles),
                   fontsize=6.5, borderaxespad=0.1)
    return fig
