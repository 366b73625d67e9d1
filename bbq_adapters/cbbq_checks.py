"""CBBQ's checks over a whole category, made after every record of it is parsed: the gold label
each disambiguated row should have (one fixed label per question polarity in a category, or the
person mentioned first in a mirrored template) and duplicate rows within a file. Split from
:mod:`bbq_adapters.cbbq` (whose docstring, "Known data issues", says what they find and how
often); ``cbbq`` re-exports these names.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from .cbbq_lexicon import MENTION_ORDER_FACTS, first_mentioned_option
from .common import flag
from .schema import LoadReport

#: The files' ``question_polarity`` -> the items table's ``polarity``.
POLARITY_NAMES: dict[str, str] = {"neg": "neg", "non_neg": "nonneg"}

REASON_POLARITY_LABEL = "label contradicts context: question polarity mislabelled, gold label follows the wrong polarity"
REASON_MIRRORED = (
    "label contradicts context: the disambiguating facts follow the order of mention (mirrored template) "
    "but the gold label does not"
)
NOTE_DUPLICATE = "duplicate (context, question, answers) of an earlier row in the same file"


def gold_mapping(rows: list[dict[str, Any]]) -> dict[str, int] | None:
    """The fixed disambiguated gold label per *file* polarity of one category, or None if the
    labels of a polarity are not all the same (then no mapping check is made)."""
    counts: dict[str, Counter[int]] = defaultdict(Counter)
    for row in rows:
        if row["context_condition"] == "disambig":
            counts[POLARITY_NAMES[row["source_polarity"]]][row["label"]] += 1
    mapping = {}
    for polarity, c in counts.items():
        if len(c) != 1:
            return None
        mapping[polarity] = next(iter(c))
    return mapping if set(mapping) == {"neg", "nonneg"} and mapping["neg"] != mapping["nonneg"] else None


def expected_label(row: dict[str, Any], mapping: dict[str, int] | None) -> int | None:
    """What the gold label of a disambiguated row should be, from its (corrected) polarity and,
    for :data:`MENTION_ORDER_FACTS` templates, from who is mentioned first; None if unknown."""
    spec = MENTION_ORDER_FACTS.get(row["category"])
    if spec is not None and (spec[0] is None or row["question_index"] in spec[0]):
        first = first_mentioned_option(row["category"], row["context"], (row["target0"], row["target1"]))
        if first is None:
            return None
        first_is_neg_answer = spec[1]
        return first if (row["polarity"] == "neg") == first_is_neg_answer else 1 - first
    if mapping is None:
        return None
    return mapping[row["polarity"]]


def check_category(rows: list[dict[str, Any]], report: LoadReport) -> None:
    """Flag label contradictions and note duplicates within one category's rows (source order)."""
    mapping = gold_mapping(rows)
    for row in rows:
        if row["context_condition"] != "disambig":
            continue
        expected = expected_label(row, mapping)
        if expected is None or expected == row["label"]:
            continue
        mirrored = row["category"] in MENTION_ORDER_FACTS and (
            MENTION_ORDER_FACTS[row["category"]][0] is None
            or row["question_index"] in MENTION_ORDER_FACTS[row["category"]][0]
        )
        flag(row, REASON_MIRRORED if mirrored else REASON_POLARITY_LABEL, report, exclude=True)
    seen: dict[tuple[str, ...], int] = {}
    for row in rows:
        key = (row["context_condition"], row["context"], row["question"], row["option0"], row["option1"], row["option2"])
        if key in seen:
            flag(row, NOTE_DUPLICATE, report, exclude=False)
            row["data_note"] = row["data_note"].replace(NOTE_DUPLICATE, f"{NOTE_DUPLICATE} (source example_id {seen[key]})")
        else:
            seen[key] = row["source_id"]
