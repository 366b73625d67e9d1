"""Selecting what a figure draws from the metric tables (one stratum, all strata, personas)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from ..contexts import context_code
from ..errors import InputError
from .style import _KEYS


def _metric_tables(results: Any) -> Any:
    """The MetricResults behind ``results`` (itself, or its ``.metrics``)."""
    if hasattr(results, "target_bias") and hasattr(results, "summary"):
        return results
    inner = getattr(results, "metrics", None)
    if inner is not None and hasattr(inner, "summary"):
        return inner
    raise InputError(f"expected metrics.MetricResults, got {type(results).__name__}. Fix: pass the "
                     "result of metrics.score_answers() or metrics.MetricResults.load(dir).")


def _table(results: Any, name: str) -> pd.DataFrame:
    if isinstance(results, pd.DataFrame):
        return results
    return getattr(_metric_tables(results), name)


def _ci_level(results: Any, ci: float | None) -> float:
    if ci is not None:
        return float(ci)
    try:
        return float(_metric_tables(results).config.get("ci", 0.95))
    except (InputError, AttributeError):
        return 0.95


def _require(table: pd.DataFrame, columns: Iterable[str], name: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise InputError(f"{name} lacks columns {missing}. Fix: pass the table written by "
                         "metrics.score_answers (MetricResults).")


def _one_stratum(table: pd.DataFrame, model: str | None, category: str | None, context: str | None,
                 name: str) -> tuple[pd.DataFrame, tuple[str, str, str]]:
    """The rows of one (model, category, context); each filter may be None when unique."""
    _require(table, _KEYS, name)
    sel = table
    for col, value in zip(_KEYS, (model, category, context_code(context))):
        if value is not None:
            sel = sel[sel[col].astype(str) == str(value)]
    if sel.empty:
        raise InputError(f"{name} has no rows for model={model!r}, category={category!r}, "
                         f"context={context!r}. Fix: choose values present in the table.")
    keys = sel[list(_KEYS)].astype(str).drop_duplicates()
    if len(keys) > 1:
        options = sorted(map(tuple, keys.to_numpy().tolist()))[:4]
        raise InputError(f"{name} holds several (model, category, context) slices, e.g. {options}. "
                         "Fix: pass model=, category= and context= to pick one.")
    return sel, tuple(str(x) for x in keys.iloc[0])  # type: ignore[return-value]


def _strata(table: pd.DataFrame) -> list[tuple[str, str, str]]:
    keys = table[list(_KEYS)].astype(str).drop_duplicates()
    return sorted(map(tuple, keys.to_numpy().tolist()))


def _persona_order(personas: Iterable[str]) -> list[str]:
    names = sorted({str(p) for p in personas})
    return ([""] if "" in names else []) + [p for p in names if p != ""]
