"""The items table's columns and the load report every adapter attaches to it."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

#: Columns of the items table, in order (docs/design.md, "Stages and the tables between them"), plus the defect flags.
ITEM_COLUMNS: tuple[str, ...] = (
    "dataset",
    "language",
    "category",
    "item_id",
    "example_id",
    "question_index",
    "polarity",
    "context_condition",
    "context",
    "question",
    "option0",
    "option1",
    "option2",
    "target0",
    "target1",
    "target2",
    "unknown_idx",
    "stereotyped_idx",
    "label",
    "excluded",
    "exclusion_reason",
    "data_note",
)

POLARITIES = ("neg", "nonneg")
CONTEXT_CONDITIONS = ("ambig", "disambig")
UNKNOWN_TARGET = "unknown"


@dataclass(frozen=True)
class DatasetInfo:
    """What a run record, the README and the CLI say about a dataset (one per adapter).

    ``undefined_metrics`` names the metrics that cannot be computed on this dataset, with the
    reason (e.g. CBBQ: ``{"s_dis": "..."}``): scoring reports them as NaN and states the reason
    instead of printing a number that means nothing.
    """

    name: str
    title: str
    languages: tuple[str, ...]
    licence: str
    citation: str
    url: str
    source_hint: str
    hub: str | None = None
    hub_revision: str | None = None
    categories: tuple[str, ...] = ()
    undefined_metrics: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "languages": list(self.languages),
            "licence": self.licence,
            "citation": self.citation,
            "url": self.url,
            "hub": self.hub,
            "hub_revision": self.hub_revision,
            "undefined_metrics": dict(self.undefined_metrics),
        }


@dataclass
class LoadReport:
    """What a loader did besides returning rows: sources read, records skipped, items flagged.

    It is attached to the items table as ``items.attrs["load_report"]`` (a plain dict, see
    :meth:`as_dict`) so that a run record can state exactly which data were used.
    """

    dataset: str
    sources: list[str] = field(default_factory=list)
    n_records: int = 0
    skipped: list[dict[str, Any]] = field(default_factory=list)
    excluded: dict[str, int] = field(default_factory=dict)
    notes: dict[str, int] = field(default_factory=dict)
    ambiguous_stereotype: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "sources": list(self.sources),
            "n_records": self.n_records,
            "n_skipped": len(self.skipped),
            "skipped": list(self.skipped),
            "excluded": dict(self.excluded),
            "n_excluded": sum(self.excluded.values()),
            "notes": dict(self.notes),
            "ambiguous_stereotype": self.ambiguous_stereotype,
        }
