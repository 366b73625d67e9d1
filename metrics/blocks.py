"""Blocks of strata: the bootstrap's statistics computed a few strata at a time.

Every cell table of a :class:`~metrics.design.Layout` is sorted by stratum first, and every
statistic the bootstrap keeps is a function of the counts of one stratum, or of one (model,
category) -- the ambiguous s_AMB of the paper uses the bias score of the disambiguated
stratum of the same model and category (docs/method.md section 6). So the contribution
matrix is block-diagonal, and the replicate statistics of a range of strata are those of a
smaller layout, cut from the full one by slicing each table at the range's bounds
(:func:`block_layout`). Computed block by block, the (replicates x columns) arrays of one
chunk stay a few MB instead of hundreds: they are not mapped, zeroed and unmapped by the
kernel for every temporary (on the issue-14 benchmark two fifths of the bootstrap's time was
system time for such page faults; docs/design.md, "Speed").

Each sum runs over the same terms in the same order as on the full layout (a block keeps the
column order of every table), so the numbers are identical, bit for bit
(``tests/test_bootstrap_blocks.py``).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from ._grouping import Grouping
from .abs_intervals import CellSigns
from .design import PERSONA_RUN_BLOCKS, TARGET_BLOCKS, Layout

#: Cell tables (and index arrays) of a layout whose rows are sorted by stratum.
Ranges = dict[str, tuple[int, int]]


def _strata_of(layout: Layout) -> dict[str, np.ndarray]:
    """Stratum of every row of each sorted table (pairs: of their first cell)."""
    tc_s = layout.tc["stratum"].to_numpy()
    return {
        "tc": tc_s, "prc": layout.prc["stratum"].to_numpy(), "tg": layout.tg["stratum"].to_numpy(),
        "pg": layout.pg["stratum"].to_numpy(), "sr": layout.sr["stratum"].to_numpy(),
        "st": np.arange(len(layout.r.strata)), "pb": tc_s[layout.pb_cell], "fl": tc_s[layout.fl_a],
        "pair": layout.pair_st.codes,
    }


def strata_blocks(layout: Layout, max_columns: int) -> list[Ranges]:
    """Consecutive ranges of strata, each with at most about ``max_columns`` count columns
    (a single stratum may have more), as the row ranges of every table (``"st"``: the strata).

    A block never separates an ambiguous stratum from the disambiguated one its s_AMB reads.
    Where a table is not sorted by stratum (no layout built by :func:`~metrics.design.build_layout`
    is) the whole layout is one block.
    """
    strata = _strata_of(layout)
    n_strata = len(layout.r.strata)
    if any(np.any(np.diff(s) < 0) for s in strata.values()) or n_strata == 0:
        return [{name: (0, s.size) for name, s in strata.items()}]
    # a cut before stratum k is allowed unless an ambiguous -> disambiguated link crosses it
    prc_s = strata["prc"]
    has = layout.amb_to_dis >= 0
    a, b = prc_s[has], prc_s[layout.amb_to_dis[has]]
    crossing = np.zeros(n_strata + 1, dtype=np.int64)
    np.add.at(crossing, np.minimum(a, b) + 1, 1)
    np.add.at(crossing, np.maximum(a, b) + 1, -1)
    blocked = np.cumsum(crossing)[:n_strata] > 0  # blocked[k]: no cut before stratum k
    width = (len(TARGET_BLOCKS) * np.bincount(strata["tc"], minlength=n_strata)
             + len(PERSONA_RUN_BLOCKS) * np.bincount(prc_s, minlength=n_strata))
    bounds, size = [0], 0
    for k in range(n_strata):
        if k > bounds[-1] and not blocked[k] and size + width[k] > max_columns:
            bounds.append(k)
            size = 0
        size += int(width[k])
    bounds.append(n_strata)
    starts = {name: np.searchsorted(s, bounds) for name, s in strata.items()}
    return [{name: (int(st[i]), int(st[i + 1])) for name, st in starts.items()}
            for i in range(len(bounds) - 1)]


def _sub(g: Grouping, cols: tuple[int, int], groups: tuple[int, int]) -> Grouping:
    codes = g.codes[cols[0]:cols[1]]
    return Grouping(np.where(codes >= 0, codes - groups[0], -1), groups[1] - groups[0])


def block_layout(layout: Layout, rng: Ranges) -> Layout:
    """The layout of the cells in the row ranges ``rng`` (one entry of :func:`strata_blocks`).

    Cell tables, groupings and pair indices are those of the block (indices relative to it);
    ``r`` and the per-response arrays (``tcx``, ``tcy``, ``prc_of``, ``C``) stay the full
    layout's: a block serves the cell statistics of the bootstrap, nothing per response.
    """
    t0, (p0, p1) = rng["tc"][0], rng["prc"]
    (b0, b1), (f0, f1) = rng["pb"], rng["fl"]
    amb = layout.amb_to_dis[p0:p1]

    def rows(name: str) -> pd.DataFrame:
        table: pd.DataFrame = getattr(layout, name)
        return table.iloc[rng[name][0]:rng[name][1]].reset_index(drop=True)

    return dataclasses.replace(
        layout, tc=rows("tc"), prc=rows("prc"), tg=rows("tg"), pg=rows("pg"), sr=rows("sr"),
        tc_prc=_sub(layout.tc_prc, rng["tc"], rng["prc"]), tc_tg=_sub(layout.tc_tg, rng["tc"], rng["tg"]),
        prc_pg=_sub(layout.prc_pg, rng["prc"], rng["pg"]),
        prc_sr_personas=_sub(layout.prc_sr_personas, rng["prc"], rng["sr"]),
        prc_sr_placebo=_sub(layout.prc_sr_placebo, rng["prc"], rng["sr"]),
        sr_st=_sub(layout.sr_st, rng["sr"], rng["st"]),
        pb_cell=layout.pb_cell[b0:b1] - t0, pb_default=layout.pb_default[b0:b1] - t0,
        pb_prc=_sub(layout.pb_prc, rng["pb"], rng["prc"]), pb_tg=_sub(layout.pb_tg, rng["pb"], rng["tg"]),
        fl_a=layout.fl_a[f0:f1] - t0, fl_b=layout.fl_b[f0:f1] - t0,
        fl_pair=_sub(layout.fl_pair, rng["fl"], rng["pair"]), pair_st=_sub(layout.pair_st, rng["pair"], rng["st"]),
        in_prc=_sub(layout.in_prc, rng["tc"], rng["prc"]), out_prc=_sub(layout.out_prc, rng["tc"], rng["prc"]),
        amb_to_dis=np.where(amb >= 0, amb - p0, -1), prc_ambig=layout.prc_ambig[p0:p1],
    )


def block_signs(signs: CellSigns, rng: Ranges) -> CellSigns:
    """The cells of ``signs`` (:func:`metrics.abs_intervals.cell_signs`) in the block ``rng``."""
    cut = {"tc": slice(*rng["tc"]), "pb": slice(*rng["pb"]), "fl": slice(*rng["fl"])}
    return CellSigns(x={k: v[cut[k]] for k, v in signs.x.items()},
                     sign={k: v[cut[k]] for k, v in signs.sign.items()},
                     small={k: v[cut[k]] for k, v in signs.small.items()},
                     scale=signs.scale[cut["tc"]])


def block_columns(layout: Layout, rng: Ranges) -> np.ndarray:
    """The columns of ``layout.C`` that hold the counts of the block ``rng``, in the order of
    the block's own :meth:`~metrics.design.Layout.split`."""
    tc, prc = np.arange(*rng["tc"]), np.arange(*rng["prc"])
    off = len(TARGET_BLOCKS) * layout.n_tc
    return np.concatenate([b * layout.n_tc + tc for b in range(len(TARGET_BLOCKS))]
                          + [off + b * layout.n_prc + prc for b in range(len(PERSONA_RUN_BLOCKS))])
