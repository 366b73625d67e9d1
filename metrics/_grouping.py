"""Vectorised grouped reductions over the columns of a (replicates x cells) array.

Every metric in this package is a mean over some cells (over targets, over runs, over
personas). Replicates of the bootstrap are rows, cells are columns, and a reduction is a
product with a sparse 0/1 indicator matrix, so one call reduces all replicates at once.
NaN cells (undefined values) are skipped, never counted as 0; a group with no defined
member is NaN.

Arrays in single precision (float32: the persona grid's bootstrap replicates,
:data:`metrics.score.REPLICATE_DTYPE`) are reduced in single precision, with a float32 copy of
the indicator matrix; every other input is reduced in float64.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import scipy.sparse as sp


def precision(x: np.ndarray) -> np.dtype:
    """The dtype the reductions compute ``x`` in: float32 if it is float32, else float64."""
    return np.dtype(np.float32) if np.asarray(x).dtype == np.float32 else np.dtype(np.float64)


def floating(x: np.ndarray) -> np.ndarray:
    """``x`` in :func:`precision` (no copy when it already is)."""
    return np.asarray(x, dtype=precision(x))


class _SparseOperator:
    """A (rows x columns) sparse ``matrix`` of exact entries (0, 1, -1) applied to the
    columns of (b x columns) arrays in their own precision (:func:`precision`)."""

    matrix: sp.csr_array

    @cached_property
    def matrix32(self) -> sp.csr_array:
        """:attr:`matrix` in float32 (a float64 matrix would make scipy upcast a float32 operand)."""
        return self.matrix.astype(np.float32)

    def _apply(self, x: np.ndarray) -> np.ndarray:
        """``(matrix @ x.T).T`` in the precision of ``x``."""
        x = floating(x)
        out: np.ndarray = np.asarray((self.matrix32 if x.dtype == np.float32 else self.matrix) @ x.T).T
        return out


@dataclass(frozen=True)
class Grouping(_SparseOperator):
    """Assignment of ``len(codes)`` input columns to ``n_groups`` groups (code -1: none)."""

    codes: np.ndarray
    n_groups: int
    matrix: sp.csr_array = field(init=False, repr=False)  # (groups x columns) 0/1

    def __post_init__(self) -> None:
        codes = np.asarray(self.codes, dtype=np.int64)
        keep = np.flatnonzero(codes >= 0)
        m = sp.csr_array(
            (np.ones(keep.size), (codes[keep], keep)), shape=(self.n_groups, codes.size)
        )
        object.__setattr__(self, "codes", codes)
        object.__setattr__(self, "matrix", m)

    def sum(self, x: np.ndarray) -> np.ndarray:
        """Plain sum of each group's columns (no NaN handling): (b, m) -> (b, n_groups).

        Computed as ``(matrix @ x.T).T``: the bootstrap's arrays are stored column-major
        (each cell's replicates contiguous), so ``x.T`` needs no copy and every stored entry
        of ``matrix`` adds one contiguous row of b replicates; the result is column-major too.
        In float32 where ``x`` is float32, else in float64 (:func:`floating`).
        """
        return self._apply(x)

    def count(self, x: np.ndarray) -> np.ndarray:
        """Number of defined (non-NaN) members per group."""
        return self.sum((~np.isnan(x)).astype(np.float64))

    def mean(self, x: np.ndarray) -> np.ndarray:
        """NaN-skipping mean of each group's columns; NaN where no member is defined."""
        x = floating(x)
        return self.means([x], ~np.isnan(x))[0]

    def means(self, xs: Sequence[np.ndarray], valid: np.ndarray) -> list[np.ndarray]:
        """:meth:`mean` of several arrays that are NaN exactly where ``valid`` is False.

        The bootstrap's statistics of one cell level share their undefined cells (e.g. every
        function of a target cell's TB is NaN where its n is 0), so the group sizes are
        counted once for all of them; the values are those of :meth:`mean`, bit for bit.
        """
        return self.masked_means([np.where(valid, x, 0.0) for x in xs], valid)

    def masked_means(self, xs: Sequence[np.ndarray], valid: np.ndarray) -> list[np.ndarray]:
        """:meth:`means` of arrays already 0 wherever ``valid`` is False, so that they need no
        masked copy (a full pass over the bootstrap's largest arrays; callers zero their own
        temporaries in place, ``np.copyto(x, 0.0, where=~valid)``, which writes only the few
        undefined cells). Each group's sum starts at +0.0, to which a 0 of either sign adds
        nothing: the values are those of :meth:`means`, bit for bit. The group sizes are
        counted in the precision of ``xs`` (exact below 2**24 members)."""
        den = self.sum(np.asarray(valid, dtype=precision(xs[0])) if xs else valid)
        ok = den > 0
        out = []
        for x in xs:
            num = self.sum(x)
            mean = np.full_like(num, np.nan)  # ``valid`` may be one row for all replicates
            np.divide(num, den, out=mean, where=ok)
            out.append(mean)
        return out

    def std(self, x: np.ndarray, mean: np.ndarray | None = None) -> np.ndarray:
        """NaN-skipping population standard deviation (ddof=0) of each group's columns."""
        if mean is None:
            mean = self.mean(x)
        sel = self.codes >= 0
        dev = np.full(x.shape, np.nan)
        dev[:, sel] = x[:, sel] - mean[:, self.codes[sel]]
        out: np.ndarray = np.sqrt(self.mean(dev * dev))
        return out


@dataclass(frozen=True)
class Pairs(_SparseOperator):
    """Pairs of columns ``(a[i], b[i])`` of ``n_columns`` (e.g. a persona's target cell and
    the default persona's cell of the same run and target), for their differences."""

    a: np.ndarray
    b: np.ndarray
    n_columns: int
    matrix: sp.csr_array = field(init=False, repr=False)  # (pairs x columns): +1 at a, -1 at b

    def __post_init__(self) -> None:
        n = len(self.a)
        rows = np.concatenate([np.arange(n), np.arange(n)])
        data = np.concatenate([np.ones(n), -np.ones(n)])
        m = sp.csr_array((data, (rows, np.concatenate([self.a, self.b]))), shape=(n, self.n_columns))
        object.__setattr__(self, "matrix", m)

    def difference(self, x: np.ndarray) -> np.ndarray:
        """``x[:, a] - x[:, b]`` (b, columns) -> (b, pairs), column-major, as one sparse product:
        on the bootstrap's column-major arrays half the time of two gathers and a subtraction.
        Each entry is the exact sum of +0.0, x_a and -x_b, so it equals the subtraction except
        that a zero difference may be +0.0 where the subtraction gives -0.0: callers only sum
        these values (a zero of either sign adds nothing to a sum that starts at +0.0). In the
        precision of ``x`` (:func:`floating`)."""
        return self._apply(x)


#: Columns of a (replicates x cells) array reduced at once by :func:`nan_percentile` and
#: :func:`metrics.crossfit.nan_sd`: 1,000 replicates x 256 columns are 2 MB, so their
#: temporaries are reused from the heap instead of being mapped and zeroed by the kernel for
#: each call (docs/design.md, "Speed"). Per-column results do not depend on it.
COLUMN_BLOCK = 256


def nan_percentile(reps: np.ndarray, q: float | np.ndarray) -> np.ndarray:
    """Linear-interpolated percentile(s) ``q`` in [0, 1] along axis 0, skipping NaN.

    Same definition as ``numpy.nanquantile(method="linear")`` but fully vectorised (numpy's
    falls back to a Python loop per column when NaN is present), :data:`COLUMN_BLOCK` columns
    at a time. Columns with no defined replicate give NaN.
    """
    reps = np.asarray(reps, dtype=np.float64)
    q = np.atleast_1d(np.asarray(q, dtype=np.float64))
    out = np.full((q.size, reps.shape[1]), np.nan)
    for c0 in range(0, reps.shape[1], COLUMN_BLOCK):
        out[:, c0:c0 + COLUMN_BLOCK] = _nan_percentile(reps[:, c0:c0 + COLUMN_BLOCK], q)
    return out


def _nan_percentile(reps: np.ndarray, q: np.ndarray) -> np.ndarray:
    srt = np.sort(reps, axis=0)  # NaN sort last
    n_valid = (~np.isnan(reps)).sum(axis=0)
    out = np.full((q.size, reps.shape[1]), np.nan)
    ok = n_valid > 0
    if not ok.any():
        return out
    cols = np.flatnonzero(ok)
    nv = n_valid[cols]
    for i, qi in enumerate(q):
        pos = qi * (nv - 1)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, nv - 1)
        frac = pos - lo
        a = srt[lo, cols]
        b = srt[hi, cols]
        out[i, cols] = a + (b - a) * frac
    return out
