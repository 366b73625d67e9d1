"""Per-response contributions to the perception counters (docs/method.md section 5).

For a response to an item whose target options are x and y (the two non-"unknown" options):

- always ``n[x] += 1`` and ``n[y] += 1``;
- if the (effective) choice is the gold label or the unknown option -- a "none" answer counts
  as the unknown option -- nothing more;
- else the model chose a target z (wrongly); o is the other target, and
  negative question: ``S[z] -= w; S[o] += v``; non-negative: ``S[z] += w; S[o] -= v``;
  both: ``A[z] += w; A[o] += v``.

Writing sigma = -1 for a negative and +1 for a non-negative question, a counted choice adds
``sigma*w`` to ``S[z]`` and ``-sigma*v`` to ``S[o]``. These functions return the per-response
terms as arrays (one entry per response), so that any aggregation (per run, per bootstrap
replicate) is a weighted sum of them. All functions are vectorised over responses.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .schema import Responses


class TargetTerms(NamedTuple):
    """Per-response additions to S and A of target x and target y."""

    Sx: np.ndarray
    Sy: np.ndarray
    Ax: np.ndarray
    Ay: np.ndarray


def counted_choice(r: Responses) -> tuple[np.ndarray, np.ndarray]:
    """Masks (chose_x, chose_y): the response wrongly chose target x (resp. y).

    A choice counts when it is a target option and not the gold label; "none" answers have
    already been mapped to the unknown option, so they never count.
    """
    event = (r.choice != r.label) & (r.choice != r.unknown)
    return event & (r.choice == r.ix), event & (r.choice == r.iy)


def target_terms(r: Responses, w: float, v: float) -> TargetTerms:
    """The S and A additions of every response to its two targets (section 5)."""
    zx, zy = counted_choice(r)
    sigma = np.where(r.neg, -1.0, 1.0)
    fx, fy = zx.astype(np.float64), zy.astype(np.float64)
    return TargetTerms(
        Sx=sigma * (w * fx - v * fy),
        Sy=sigma * (w * fy - v * fx),
        Ax=w * fx + v * fy,
        Ay=w * fy + v * fx,
    )


def swap_deltas(r: Responses, w: float, v: float) -> tuple[np.ndarray, np.ndarray]:
    """Change of (S[x], S[y]) if a counted choice had named the other target instead.

    A counted choice of z adds ``sigma*w`` to z and ``-sigma*v`` to o; naming o instead adds
    ``sigma*w`` to o and ``-sigma*v`` to z, so the change is ``-sigma*(w+v)`` on z and
    ``+sigma*(w+v)`` on o (0 for responses without a counted choice). A is unchanged in
    total. Used by the null model of :mod:`metrics.model_types`.
    """
    zx, zy = counted_choice(r)
    sigma = np.where(r.neg, -1.0, 1.0) * (w + v)
    dx = np.where(zx, -sigma, np.where(zy, sigma, 0.0))
    return dx, -dx


def random_answerer_A(r: Responses, w: float, v: float) -> tuple[np.ndarray, np.ndarray]:
    """Expected A additions (to x, to y) of a uniformly random answerer on each response's item.

    The random answerer picks each of the three options with probability 1/3. Picking target
    t adds w to A[t] and v to A[other] unless t is the gold label (then nothing); picking the
    unknown option adds nothing. Hence, with g the gold label,
    ``E[A[x]] = (w*[x != g] + v*[y != g]) / 3`` and symmetrically for y:
    (w+v)/3 for both targets of an ambiguous item (g = unknown), and v/3 for the gold target,
    w/3 for the other target of a disambiguated item.
    """
    x_wrong = (r.ix != r.label).astype(np.float64)
    y_wrong = (r.iy != r.label).astype(np.float64)
    return (w * x_wrong + v * y_wrong) / 3.0, (w * y_wrong + v * x_wrong) / 3.0
