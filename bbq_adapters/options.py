"""Seeded reordering of an item's three options, for sources that never move the answer.

KoBBQ always puts the unknown option last; EsBBQ/CaBBQ always put the stereotyped group first
and "unknown" last. Asked in that order, a model's position preference is confounded with
bias and with "unknown". Adapters of such sources reorder the options with a permutation chosen
from a hash of ``(seed, item key)``: the same seed gives the same order on every machine and in
every run (no global RNG state), different items get independent orders, and all six orders
occur about equally often. The gold label, the unknown index, the stereotyped index and the
target labels move with their option text, so every index keeps pointing at the same answer.
"""

from __future__ import annotations

import hashlib
from itertools import permutations
from typing import Any, Sequence

#: The six orders of three options; ``PERMUTATIONS[j][new_position] = old_position``.
PERMUTATIONS: tuple[tuple[int, int, int], ...] = tuple(permutations(range(3)))  # type: ignore[assignment]
#: The three cyclic rotations (the KoBBQ authors' evaluation asks all three).
ROTATIONS: tuple[tuple[int, int, int], ...] = ((0, 1, 2), (1, 2, 0), (2, 0, 1))

ORDERS = ("shuffle", "source")


def balanced_rotations(keys: Sequence[str], seed: int) -> list[int]:
    """A seeded index into :data:`ROTATIONS` per key, each rotation used equally often (within one).

    Keys are ranked by a hash of ``(seed, key)`` and take rotations 0, 1, 2, 0, ... in that rank:
    a random but balanced assignment, the same on every machine, independent of the keys' order.
    """
    ranks = sorted(range(len(keys)), key=lambda i: hashlib.sha256(f"{int(seed)}\x1f{keys[i]}".encode("utf-8")).digest())
    out = [0] * len(keys)
    for position, i in enumerate(ranks):
        out[i] = position % len(ROTATIONS)
    return out


def order_name(order: Sequence[int]) -> str:
    """An order as recorded in tables: ``(1, 2, 0)`` -> ``"120"`` (shown option i = original ``order[i]``)."""
    return "".join(str(int(i)) for i in order)


def permutation_for(key: str, seed: int) -> tuple[int, int, int]:
    """The order of ``key``'s options under ``seed`` (uniform over :data:`PERMUTATIONS`)."""
    digest = hashlib.sha256(f"{int(seed)}\x1f{key}".encode("utf-8")).digest()
    return PERMUTATIONS[int.from_bytes(digest[:8], "big") % len(PERMUTATIONS)]


def reorder(row: dict[str, Any], order: tuple[int, int, int]) -> dict[str, Any]:
    """``row`` with option i of the result = option ``order[i]`` of the input.

    Moves ``option*``/``target*`` and remaps ``label``, ``unknown_idx`` and ``stereotyped_idx``
    (-1 stays -1). The input row is not changed.
    """
    if sorted(order) != [0, 1, 2]:
        raise ValueError(f"not an order of three options: {order}")
    new_index = {old: new for new, old in enumerate(order)}
    out = dict(row)
    for i, old in enumerate(order):
        out[f"option{i}"] = row[f"option{old}"]
        out[f"target{i}"] = row[f"target{old}"]
    for key in ("label", "unknown_idx", "stereotyped_idx"):
        value = row[key]
        out[key] = value if value == -1 else new_index[int(value)]
    return out


def shuffle_row(row: dict[str, Any], key: str, seed: int) -> dict[str, Any]:
    """:func:`reorder` by :func:`permutation_for` ``(key, seed)``."""
    return reorder(row, permutation_for(key, seed))
