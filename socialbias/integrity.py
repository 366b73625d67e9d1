"""Checks that make every stored answer verifiable: a per-row checksum and the invariants.

A flipped bit in ``responses.sqlite`` must never change a result without a word. Each row of
the store carries ``checksum``: a 64-bit BLAKE2b digest over its key and payload
(``model_key, prompt_id, choice, p0, p1, p2, text, parse, latency``), and each row must satisfy
the invariants of an answer:

* ``choice`` is -1, 0, 1 or 2;
* every stored probability is finite and in [0, 1];
* when all three probabilities are stored they sum to 1 within :data:`PROB_TOLERANCE` and
  ``choice`` is their argmax (any of the maxima on a tie; -1 contradicts them).

A row that fails either check is *bad*: it is never scored. The store reports how many rows
are bad and ``run --repair`` deletes exactly those rows, so that the run asks them again.
Rows written before the checksum existed (store schema 1) are checked against the invariants
once, when the store is migrated, and get their checksum then.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

#: How far the three stored probabilities may sum from 1 (engines renormalise in float32).
PROB_TOLERANCE = 1e-4
_SEP = "\x1f"


def _num(x: Any) -> str:
    if x is None:
        return ""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise TypeError(f"not a number: {x!r}")
    return repr(float(x))


def row_checksum(model_key: str, prompt_id: str, choice: int, p0: Any, p1: Any, p2: Any,
                 text: str, parse: str, latency: Any) -> str:
    """The checksum of one row (16 hex digits). Raises TypeError on values of the wrong type."""
    if isinstance(choice, bool) or not isinstance(choice, int):
        raise TypeError(f"choice is not an integer: {choice!r}")
    for s in (model_key, prompt_id, text, parse):
        if not isinstance(s, str):
            raise TypeError(f"not a string: {s!r}")
    payload = _SEP.join((model_key, prompt_id, str(choice), _num(p0), _num(p1), _num(p2), text, parse, _num(latency)))
    return hashlib.blake2b(payload.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def answer_problem(choice: Any, p0: Any, p1: Any, p2: Any) -> str | None:
    """Why an answer breaks the invariants (see the module docstring), or None."""
    if isinstance(choice, bool) or not isinstance(choice, int) or choice not in (-1, 0, 1, 2):
        return f"choice {choice!r} is not -1, 0, 1 or 2"
    probs = (p0, p1, p2)
    for i, p in enumerate(probs):
        if p is None:
            continue
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not math.isfinite(p) or not 0.0 <= p <= 1.0:
            return f"p{i} = {p!r} is not a probability (finite, in [0, 1])"
    if any(p is None for p in probs):
        return None
    total = float(p0) + float(p1) + float(p2)
    if abs(total - 1.0) > PROB_TOLERANCE:
        return f"the probabilities sum to {total:.6g}, not 1 (tolerance {PROB_TOLERANCE:g})"
    top = max(probs)
    if choice == -1 or probs[choice] < top:
        return f"choice {choice} is not the argmax of the stored probabilities {tuple(probs)}"
    return None


def row_is_bad(row: tuple[Any, ...]) -> bool:
    """``row``: (model_key, prompt_id, choice, p0, p1, p2, text, parse, latency, checksum) as
    read from SQLite. True when its checksum does not match or it breaks an invariant."""
    try:
        *values, stored = row
        if answer_problem(values[2], values[3], values[4], values[5]) is not None:
            return True
        return bool(stored != row_checksum(*values))
    except (TypeError, ValueError, IndexError):
        return True


__all__ = ["PROB_TOLERANCE", "answer_problem", "row_checksum", "row_is_bad"]
