"""Which N items per category a study with ``--limit N`` asks.

BBQ items come in templates (``question_index``): every template gives a few items in each
context condition and question polarity, and the bootstrap resamples templates
(docs/method.md, "Resampling clusters"). The first N items of a file usually come from one
template, so a small study drawn that way has a single resampling cluster per context: it can
give point estimates but no interval. ``spread_over="templates"`` therefore walks the
templates round-robin: the first item of every (context, polarity) cell of template 1, then
of template 2, and so on, then the second items, so N items cover as many templates as possible,
each with both contexts and both polarities; the demo uses it. ``spread_over="start"`` (the
default) keeps the first N rows in file order: what ``--limit`` has always done, so rerunning an
existing study asks no new prompts (requests can cost money).
Both are deterministic, so the same command always asks the same items, and the chosen items
keep their file order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import DatasetError

#: The values of ``--limit-from`` (first is the default).
LIMIT_FROM = ("start", "templates")


def limit_items(items: pd.DataFrame, limit: int, spread_over: str = "start") -> pd.DataFrame:
    """At most ``limit`` items per category (0 = all), chosen as the module docstring says."""
    if spread_over not in LIMIT_FROM:
        raise DatasetError(f"--limit-from {spread_over!r}: use one of {', '.join(LIMIT_FROM)}")
    items = items.reset_index(drop=True)
    if not limit or items.empty:
        return items
    if spread_over == "start" or "question_index" not in items.columns:
        return items.groupby("category", sort=False).head(limit).reset_index(drop=True)
    cell = [c for c in ("category", "question_index", "context_condition", "polarity") if c in items.columns]
    category_code = pd.factorize(items["category"], sort=False)[0]
    template_code = items.groupby(["category", "question_index"], sort=False, dropna=False).ngroup().to_numpy()
    within = cell[2:]  # the (context, polarity) cell inside a template
    cell_code = (items.groupby(within, sort=False, dropna=False).ngroup().to_numpy() if within
                 else np.zeros(len(items), np.int64))
    rank = items.groupby(cell, sort=False, dropna=False).cumcount().to_numpy()
    order = np.lexsort((np.arange(len(items)), cell_code, template_code, rank, category_code))
    chosen = items.iloc[order].groupby("category", sort=False).head(limit)
    return items.loc[np.sort(chosen.index.to_numpy())].reset_index(drop=True)  # in file order
