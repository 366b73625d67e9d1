"""Beyond the paper: in-group favouritism and who-shifts-whom.

- In-group favouritism of a persona p that belongs to target group g (the answers'
  ``persona_member_of`` column or a personas table): per run k,
  ``ingroup_k(p) = TB_k(p->g) - mean_{t != g} TB_k(p->t)`` over the targets p was asked
  about in that stratum. Positive: p sees its own group more favourably (less blamed in
  negative questions, more credited in non-negative ones) than the other groups. Reported
  with ``TB_in`` = TB(p->g) and ``TB_out`` = the mean over the other targets; mean and
  population sd over runs; NaN where g is not among the stratum's targets.
- Who shifts whom: per (persona, target), ``shift = TB_k(p->t) - TB_k(default->t)``
  (persona run k paired with default run k), mean and sd over runs. PB(p) is the mean over
  targets of ``|shift|``; the signed shifts say which targets a persona moves and which way.
  The shifts themselves are computed with PB in :func:`metrics.bias.target_per_run`.
"""

from __future__ import annotations

import numpy as np

from .design import Layout


def ingroup_per_run(TB: np.ndarray, layout: Layout, valid: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """In-group favouritism per persona-run cell (NaN for personas without a group).
    ``valid``: where TB is defined (``~isnan(TB)``, computed when not given)."""
    if valid is None:
        valid = ~np.isnan(TB)
    tb = np.where(valid, TB, 0.0)  # one masked copy for both means
    tb_in = layout.in_prc.masked_means([tb], valid)[0]
    tb_out = layout.out_prc.masked_means([tb], valid)[0]
    return {"ingroup": tb_in - tb_out, "TB_in": tb_in, "TB_out": tb_out}
