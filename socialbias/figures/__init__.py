"""Figures for papers, one module per family, all sharing :mod:`socialbias.figures.style`.

Every figure function takes the metric tables of :func:`metrics.score_answers` (a
:class:`metrics.MetricResults`, or the table itself where noted) and returns a
:class:`matplotlib.figure.Figure`; :func:`save_figure` writes it as PDF and PNG.

- :mod:`.heatmaps`: :func:`plot_tb_heatmap` (TB(p->t), personas x targets).
- :mod:`.planes`: :func:`plot_tb_bamt_plane` (model types, the classifier's regions).
- :mod:`.bars`: :func:`plot_persona_bias`, :func:`plot_pb_bars_compare`, :func:`plot_separated_tb`.
- :mod:`.graphs`: :func:`plot_perception_graph` (the graph of :mod:`socialbias.graph`).
- :mod:`.position`: :func:`plot_position_bias` (displayed option chosen vs expected, per model).
- :mod:`.drawing`: drawing many figures, in worker processes (:func:`~.drawing.draw_jobs`).
- :mod:`.style`: sizes, fonts, colours, labels, :func:`save_figure`; :mod:`.data`: selecting strata.

matplotlib, seaborn and networkx are imported inside the functions, so importing this
package stays cheap.
"""

from __future__ import annotations

from .bars import plot_pb_bars_compare, plot_persona_bias, plot_separated_tb, separated_tb
from .graphs import plot_perception_graph
from .heatmaps import plot_tb_heatmap
from .planes import plane_scale, plane_thresholds, plot_tb_bamt_plane, region_of
from .position import plot_position_bias
from .style import DEFAULT_LABEL, DOUBLE_COLUMN, PNG_DPI, SINGLE_COLUMN, TYPE_NAMES, save_figure

__all__ = [
    "DEFAULT_LABEL",
    "DOUBLE_COLUMN",
    "PNG_DPI",
    "SINGLE_COLUMN",
    "TYPE_NAMES",
    "plane_scale",
    "plane_thresholds",
    "plot_pb_bars_compare",
    "plot_perception_graph",
    "plot_persona_bias",
    "plot_position_bias",
    "plot_separated_tb",
    "plot_tb_bamt_plane",
    "plot_tb_heatmap",
    "region_of",
    "save_figure",
    "separated_tb",
]
