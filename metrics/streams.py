"""Random streams per stratum: a stratum's numbers depend only on (seed, model, category,
context condition) and on its own data.

Every random draw of the metrics (bootstrap resampling, the cross-fitting halves, the
persona-exchange null, the model-type null) comes from a generator of one stratum and one
purpose, seeded with ``SeedSequence([seed, purpose, *sha256(model, category, context)])``.
Adding or removing a model or a category therefore changes no other stratum's intervals,
p-values or thresholds (before, one stream was shared by all strata, so a category's
``TB_threshold`` moved when another category was added).

Within a stratum, a chunk of ``b`` replicates draws a ``(b x units)`` block from the stratum's
generator in replicate order, so results do not depend on the chunk size either.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

#: Purposes: one independent stream per purpose and stratum.
PURPOSES: dict[str, int] = {"bootstrap": 1, "split": 2, "exchange": 3, "type_null": 4, "placebo": 5}


def stratum_key(model: str, category: str, context: str) -> list[int]:
    """Eight 32-bit words of sha256(model, category, context): a stable, collision-free key."""
    digest = hashlib.sha256("\x1f".join((model, category, context)).encode("utf-8")).digest()
    return [int.from_bytes(digest[i:i + 4], "little") for i in range(0, 32, 4)]


def stratum_generators(seed: int, strata: pd.DataFrame, purpose: str) -> list[np.random.Generator]:
    """One generator per row of ``strata`` (model, category, context_condition) for ``purpose``."""
    code = PURPOSES[purpose]
    return [np.random.default_rng(np.random.SeedSequence([int(seed), code, *stratum_key(m, c, x)]))
            for m, c, x in strata[["model", "category", "context_condition"]].itertuples(index=False)]


class StratumStreams:
    """Uniform draws for all units of all strata, one stream per stratum.

    ``unit_stratum``: the stratum of each unit, sorted (the units of a stratum are
    contiguous). :meth:`uniform` returns a ``(b x units)`` block; successive calls continue
    each stratum's stream, so replicate j gets the same numbers whatever the chunking.
    """

    def __init__(self, seed: int, strata: pd.DataFrame, purpose: str, unit_stratum: np.ndarray) -> None:
        self.gens = stratum_generators(seed, strata, purpose)
        sizes = np.bincount(unit_stratum, minlength=len(strata))
        self.bounds = np.concatenate([[0], np.cumsum(sizes)])
        self.n_units = int(unit_stratum.size)

    def uniform(self, b: int, strata: tuple[int, int] | None = None) -> np.ndarray:
        """A ``(b x units)`` block of the next ``b`` draws of each stratum; ``strata``: only the
        units of strata ``s0:s1`` (each stratum's stream continues on its own, so drawing a
        few strata at a time gives every stratum the same numbers)."""
        s0, s1 = (0, len(self.gens)) if strata is None else strata
        base = self.bounds[s0]
        out = np.empty((b, self.bounds[s1] - base))
        for s in range(s0, s1):
            lo, hi = self.bounds[s] - base, self.bounds[s + 1] - base
            if hi > lo:
                out[:, lo:hi] = self.gens[s].random((b, hi - lo))
        return out
