"""The compass's zoomed inset (socialbias.figures.zoom): added when the points sit within a
small part of the full frame, placed away from them, zoomed equally on both axes so that it
holds every point and interval end; absent when the points spread."""

from __future__ import annotations

import numpy as np
import pandas as pd

from socialbias.figures.shifts import plot_compass_shifts
from socialbias.figures.zoom import INSET_SIZE, ZOOM_BELOW, zoom_inset
from socialbias.instruments.politics import load_instrument


def _axes(lim=(-10, 10)):
    from matplotlib.figure import Figure

    ax = Figure().add_subplot()
    ax.set_xlim(*lim)
    ax.set_ylim(*lim)
    return ax


def test_inset_holds_close_points_and_sits_away_from_them():
    ax = _axes()
    xs, ys = [0.1, -0.2, 0.3], [0.05, 0.4, -0.1]
    inset = zoom_inset(ax, xs, ys, lambda a: a.plot(xs, ys, "o"))
    assert inset is not None
    (x0, x1), (y0, y1) = inset.get_xlim(), inset.get_ylim()
    assert x0 < min(xs) and x1 > max(xs) and y0 < min(ys) and y1 > max(ys)
    assert np.isclose(x1 - x0, y1 - y0)  # the same zoom on both axes (the frame is square)
    zoom = 20 / (x1 - x0)
    assert zoom > 10 and inset.get_title() == f"zoom \u00d7{zoom:.0f}"
    left, bottom, w, h = _bounds(ax, inset)
    assert np.allclose((w, h), INSET_SIZE) and left > 0.5 and bottom > 0.5  # upper right, clear of the centre
    # Points in the upper right: the inset goes to the lower left.
    ax = _axes()
    inset = zoom_inset(ax, [8.0, 8.3], [7.9, 8.2], lambda a: None)
    left, bottom, *_ = _bounds(ax, inset)
    assert left < 0.5 and bottom < 0.5


def _bounds(ax, inset):
    """The inset's left, bottom, width and height as shares of the parent axes."""
    p, q = ax.get_position(), inset.get_position()
    return (q.x0 - p.x0) / p.width, (q.y0 - p.y0) / p.height, q.width / p.width, q.height / p.height


def test_no_inset_when_the_points_spread():
    ax = _axes()
    spread = 20 * ZOOM_BELOW * 1.01
    assert zoom_inset(ax, [0, spread], [0, 0.1], lambda a: None) is None
    assert zoom_inset(ax, [np.nan], [np.nan], lambda a: None) is None  # nothing to show


def _shifts(scale: float) -> pd.DataFrame:
    rows = []
    for model, dx, dy in (("m+left", -1, 0.5), ("m+right", 1, -0.5)):
        for axis, d in (("right", dx), ("auth", dy)):
            rows.append({"base": "m", "model": model, "persona": "", "axis": axis, "measure": "score_expected",
                         "base_value": 0.1, "value": 0.1 + scale * d, "shift": scale * d, "shift_lo": scale * (d - 1),
                         "shift_hi": scale * (d + 1), "p_value": 0.5})
    return pd.DataFrame(rows)


def test_compass_of_shifts_gets_an_inset_only_when_the_arrows_are_small():
    inst = load_instrument("sapplyvalues")
    small = plot_compass_shifts(_shifts(0.1), inst, "right", "auth", measure="score_expected")
    assert len(small.axes[0].child_axes) == 1  # the compass has its inset
    wide = plot_compass_shifts(_shifts(3.0), inst, "right", "auth", measure="score_expected")
    assert not wide.axes[0].child_axes
