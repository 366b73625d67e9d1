"""A zoomed inset for a compass whose points sit close together in a wide frame.

A political instrument's compass keeps its full range (e.g. -10..10 on both axes) so that a
position reads against the test's own scale (docs/method.md section 11). A small model, or a
small shift between a base model and its adapters (docs/model_edits.md), then puts every point
within a few hundredths of that range: one dot at the centre. :func:`zoom_inset` keeps the full
frame and adds an inset, in the corner farthest from the points, that redraws them at a zoom
where they (and their intervals) fill it; the zoomed region is marked on the full frame with
lines to the inset, and the inset's title says the factor. Both axes are zoomed by the same
factor, so distances compare as on the full frame.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

#: Add an inset when everything drawn spans less than this share of the frame on both axes.
ZOOM_BELOW = 0.25
#: The inset's size and margin, as shares of the main axes.
INSET_SIZE, INSET_MARGIN = 0.36, 0.03


def zoom_inset(ax: Any, xs: Iterable[float], ys: Iterable[float], draw: Callable[[Any], None], *,
               below: float = ZOOM_BELOW, pad: float = 0.12, min_share: float = 0.01) -> Any | None:
    """Add a zoomed inset to ``ax`` (limits already set to the full frame) when the points
    ``(xs, ys)`` (include interval ends) span less than ``below`` of the frame on both axes;
    ``draw(inset)`` draws the content again on it. Returns the inset axes, or None when the
    points spread enough (or there are none)."""
    x = np.asarray(list(xs), dtype=float)
    y = np.asarray(list(ys), dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if not len(x):
        return None
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    width, height = x1 - x0, y1 - y0
    share = max((x.max() - x.min()) / width, (y.max() - y.min()) / height, min_share)
    if share >= below:
        return None
    share *= 1 + 2 * pad
    cx, cy = (x.max() + x.min()) / 2, (y.max() + y.min()) / 2
    # The corner away from the points (axes fractions; upper right unless the points are there),
    # its tick labels on the sides away from the main axes' own.
    fx, fy = (cx - x0) / width, (cy - y0) / height
    at_left, at_bottom = fx > 0.6, fy > 0.6
    left = INSET_MARGIN if at_left else 1 - INSET_MARGIN - INSET_SIZE
    bottom = INSET_MARGIN if at_bottom else 1 - INSET_MARGIN - INSET_SIZE
    inset = ax.inset_axes([left, bottom, INSET_SIZE, INSET_SIZE])
    if at_left:
        inset.yaxis.tick_right()
    if at_bottom:
        inset.xaxis.tick_top()
    draw(inset)
    inset.set_xlim(cx - share * width / 2, cx + share * width / 2)
    inset.set_ylim(cy - share * height / 2, cy + share * height / 2)
    inset.tick_params(labelsize=4.5, length=2, pad=1)
    inset.set_title(f"zoom \u00d7{1 / share:.0f}", fontsize=5, pad=2)
    inset.set_facecolor("white")
    ax.indicate_inset_zoom(inset, edgecolor="0.35", lw=0.6)
    return inset


__all__ = ["ZOOM_BELOW", "zoom_inset"]
