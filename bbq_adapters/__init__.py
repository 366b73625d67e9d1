"""Dataset adapters: each turns one BBQ-family dataset into the *items table*.

The items table (docs/design.md) has one row per question, with the columns in :data:`ITEM_COLUMNS`:

``dataset, language, category, item_id, example_id, question_index, polarity (neg|nonneg),
context_condition (ambig|disambig), context, question, option0..2, target0..2 (target label,
"unknown" for the unknown option), unknown_idx, stereotyped_idx, label, excluded,
exclusion_reason``

Adapters register themselves by name; :func:`load_items` looks one up::

    from . import load_items
    items = load_items("bbq", source="path/to/BBQ/data", categories=["Age"])

Every adapter also registers a :class:`DatasetInfo` (languages, licence, citation, hub path,
metrics that cannot be computed on it): :func:`dataset_info`.

This package imports nothing from ``socialbias`` (docs/design.md), so it can be reused alone.
"""

from __future__ import annotations

from typing import Any, Callable

import pandas as pd

from .errors import DatasetError
from .schema import ITEM_COLUMNS, DatasetInfo, LoadReport

_REGISTRY: dict[str, Callable[..., pd.DataFrame]] = {}
_INFO: dict[str, DatasetInfo] = {}


def register(name: str, info: DatasetInfo) -> Callable[[Callable[..., pd.DataFrame]], Callable[..., pd.DataFrame]]:
    """Register a loader ``fn(source=None, categories=None, on_error="raise", **kw) -> items``
    and its :class:`DatasetInfo` under ``name``."""
    if info.name != name:
        raise ValueError(f"dataset info of {name!r} is named {info.name!r}")

    def decorate(fn: Callable[..., pd.DataFrame]) -> Callable[..., pd.DataFrame]:
        if name in _REGISTRY and _REGISTRY[name] is not fn:
            raise ValueError(f"an adapter named {name!r} is already registered")
        _REGISTRY[name] = fn
        _INFO[name] = info
        return fn

    return decorate


def dataset_info(name: str) -> DatasetInfo:
    """The :class:`DatasetInfo` of a registered dataset (same error as :func:`get_adapter`)."""
    get_adapter(name)
    return _INFO[name]


def available() -> list[str]:
    """Names of the registered datasets."""
    return sorted(_REGISTRY)


def get_adapter(name: str) -> Callable[..., pd.DataFrame]:
    """The loader registered under ``name``; a clear error lists the known ones otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise DatasetError(
            f"unknown dataset {name!r}: choose one of {', '.join(available())}"
        ) from None


def load_items(dataset: str = "bbq", **kwargs: Any) -> pd.DataFrame:
    """Load the items table of ``dataset`` (see the adapter's own docstring for its options)."""
    return get_adapter(dataset)(**kwargs)


from . import bbq  # noqa: E402,F401  (registers the "bbq" adapter)

# The BBQ family: one module per dataset; importing it registers its adapter(s).
from . import basqbbq  # noqa: E402,F401
from . import mbbq  # noqa: E402,F401
from . import jbbq  # noqa: E402,F401
from . import esbbq  # noqa: E402,F401
from . import kobbq  # noqa: E402,F401
from . import cbbq  # noqa: E402,F401
from .bbq import items_from_records, load_bbq  # noqa: E402

__all__ = [
    "DatasetError",
    "DatasetInfo",
    "ITEM_COLUMNS",
    "dataset_info",
    "LoadReport",
    "available",
    "get_adapter",
    "items_from_records",
    "load_bbq",
    "load_items",
    "register",
]
