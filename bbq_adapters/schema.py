"""The items table's columns and the load report every adapter attaches to it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Columns of the items table, in order (DESIGN.md, "Tables"), plus the defect flags.
ITEM_COLUMNS: tuple[str, ...] = (
    "dataset",
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
