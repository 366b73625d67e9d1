"""The BBQ adapter (Parrish et al., Findings of ACL 2022; data CC BY 4.0).

Reads the original BBQ jsonl files from a local directory, or the same records from the Hugging
Face hub (``oskarvanderwal/bbq``, one config per category, split ``test``, pinned revision), and
yields the items table (:data:`bbq_adapters.ITEM_COLUMNS`).

Targets of an item (PROTOCOL.md section 3). Every item has one "unknown" option
(``answer_info[ansK][1] == "unknown"``) and two target options whose *label* is:

- the option's name ``answer_info[ansK][0]`` for Religion, Sexual_orientation and Nationality
  (Nationality: the nationality, e.g. "Japanese", so that it matches the paper's Nationality
  personas; pass ``target_by={"Nationality": "tag"}`` to use the region tag instead);
- the option's tag ``answer_info[ansK][1]`` for every other category, with a leading ``F-``/``M-``
  stripped (Race_ethnicity: "F-Black" -> "Black"). Age targets are {old, nonOld}, SES
  {lowSES, highSES}, Disability_status {disabled, nonDisabled}, Physical_appearance the
  template's tag pair (obese/nonObese, ...). The intersectional categories keep the whole tag.

The *stereotyped* option is the target option whose name or tag is in
``additional_metadata.stereotyped_groups`` (compared case- and space-insensitively, so "low SES"
matches "lowSES"; intersectional tags are matched component by component and the option
matching more groups wins). When both target options match equally the item's
``stereotyped_idx`` is -1 (counted in the load report; only the BBQ bias score needs it).

Known label defects (``KNOWN_DEFECTS``) are flagged ``excluded=True`` with a reason; typos that
do not change a label are noted in ``data_note`` only.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Literal, Sequence

import pandas as pd

from . import register
from .common import RecordError, check_on_error, collect_rows, finish_items, flag, jsonl_records
from .errors import DatasetError
from .schema import CONTEXT_CONDITIONS, POLARITIES, UNKNOWN_TARGET, DatasetInfo, LoadReport

DATASET = "bbq"

#: The eleven BBQ categories (file ``{category}.jsonl`` / hub config ``{category}``).
CATEGORIES: tuple[str, ...] = (
    "Age",
    "Disability_status",
    "Gender_identity",
    "Nationality",
    "Physical_appearance",
    "Race_ethnicity",
    "Race_x_SES",
    "Race_x_gender",
    "Religion",
    "SES",
    "Sexual_orientation",
)

#: Categories whose target label is the option's name; all others use the option's tag.
NAME_TARGET_CATEGORIES = frozenset({"Religion", "Sexual_orientation", "Nationality"})

HUB_REPO = "oskarvanderwal/bbq"
HUB_REVISION = "ab00114b0fbf59c7c539ff9158f6ce717d13ab63"
HUB_SPLIT = "test"

REQUIRED_FIELDS: tuple[str, ...] = (
    "example_id",
    "question_index",
    "question_polarity",
    "context_condition",
    "category",
    "answer_info",
    "additional_metadata",
    "context",
    "question",
    "ans0",
    "ans1",
    "ans2",
    "label",
)


@dataclass(frozen=True)
class Defect:
    """A known problem of upstream BBQ records, matched by template coordinates or by text."""

    category: str
    reason: str
    exclude: bool
    question_index: str | None = None
    version: str | None = None
    context_condition: str | None = None
    text: str | None = None

    def matches(self, rec: dict[str, Any]) -> bool:
        if rec["category"] != self.category:
            return False
        if self.question_index is not None and str(rec["question_index"]) != self.question_index:
            return False
        meta = rec.get("additional_metadata") or {}
        if self.version is not None and meta.get("version") != self.version:
            return False
        if self.context_condition is not None and rec["context_condition"] != self.context_condition:
            return False
        if self.text is not None and self.text not in rec["context"]:
            return False
        return True


#: From ../shared/bbq/SOURCE.txt (checked against upstream commit bea11bd).
KNOWN_DEFECTS: tuple[Defect, ...] = (
    Defect(
        "Physical_appearance",
        "label contradicts context: template 6 version b answer mapping not swapped",
        exclude=True,
        question_index="6",
        version="b",
        context_condition="disambig",
    ),
    Defect(
        "Physical_appearance",
        "label contradicts context: template 10 version b answer mapping not swapped (nyu-mll/BBQ#17)",
        exclude=True,
        question_index="10",
        version="b",
        context_condition="disambig",
    ),
    Defect("Disability_status", "typo 'monther' for 'mother' (nyu-mll/BBQ#14)", exclude=False, text="monther"),
    Defect("SES", "typo 'The on on' (nyu-mll/BBQ#13)", exclude=False, text="The on on"),
)

_GENDER_PREFIX = re.compile(r"^[FM]-")


def _norm(s: str) -> str:
    return re.sub(r"\s+", "", str(s)).lower()


_RecordError = RecordError  # the name used throughout this module


def _require(rec: dict[str, Any], key: str, kind: type | tuple[type, ...], what: str) -> Any:
    if key not in rec or rec[key] is None:
        raise _RecordError(key, f"missing field {key!r}")
    value = rec[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise _RecordError(key, f"field {key!r} must be {what}, got {type(value).__name__} {value!r:.60}")
    return value


def _target_label(category: str, name: str, tag: str, target_by: dict[str, str]) -> str:
    rule = target_by.get(category, "name" if category in NAME_TARGET_CATEGORIES else "tag")
    if rule == "name":
        return name
    if category in ("Race_x_SES", "Race_x_gender"):
        return tag
    return _GENDER_PREFIX.sub("", tag)


def _stereotype_score(groups: set[str], name: str, tag: str) -> int:
    """How many stereotyped groups an option matches (by name, tag, stripped tag or tag part)."""
    keys = {_norm(name), _norm(tag), _norm(_GENDER_PREFIX.sub("", tag))}
    parts = {_norm(p) for p in tag.split("-") if p}
    if groups & keys:
        return len(groups & keys) + 100  # a whole-label match beats component matches
    return len(groups & parts)


def parse_record(
    rec: Any, target_by: dict[str, str] | None = None
) -> dict[str, Any]:
    """Validate one BBQ record and turn it into an items-table row (without ``dataset``/defects).

    Raises ``_RecordError`` (field, message) for anything that makes the record unusable.
    """
    target_by = target_by or {}
    if not isinstance(rec, dict):
        raise _RecordError("<record>", f"a record must be a JSON object, got {type(rec).__name__}")
    for key in REQUIRED_FIELDS:
        if key not in rec or rec[key] is None:
            raise _RecordError(key, f"missing field {key!r}")
    example_id = _require(rec, "example_id", int, "an integer")
    label = _require(rec, "label", int, "an integer 0, 1 or 2")
    if label not in (0, 1, 2):
        raise _RecordError("label", f"label must be 0, 1 or 2, got {label}")
    category = _require(rec, "category", str, "a string")
    polarity = _require(rec, "question_polarity", str, "a string")
    if polarity not in POLARITIES:
        raise _RecordError("question_polarity", f"question_polarity must be 'neg' or 'nonneg', got {polarity!r}")
    condition = _require(rec, "context_condition", str, "a string")
    if condition not in CONTEXT_CONDITIONS:
        raise _RecordError("context_condition", f"context_condition must be 'ambig' or 'disambig', got {condition!r}")
    qindex = rec["question_index"]
    if not isinstance(qindex, (str, int)) or isinstance(qindex, bool):
        raise _RecordError("question_index", f"question_index must be a string or integer, got {qindex!r:.60}")
    context = _require(rec, "context", str, "a string")
    question = _require(rec, "question", str, "a string")
    options = [_require(rec, f"ans{i}", str, "a string") for i in range(3)]
    info = _require(rec, "answer_info", dict, "an object")
    meta = _require(rec, "additional_metadata", dict, "an object")
    groups_raw = meta.get("stereotyped_groups")
    if not isinstance(groups_raw, list) or not all(isinstance(g, str) for g in groups_raw):
        raise _RecordError(
            "additional_metadata.stereotyped_groups", "additional_metadata.stereotyped_groups must be a list of strings"
        )

    names, tags = [], []
    for i in range(3):
        pair = info.get(f"ans{i}")
        if not (isinstance(pair, list) and len(pair) >= 2 and all(isinstance(x, str) for x in pair[:2])):
            raise _RecordError(f"answer_info.ans{i}", f"answer_info.ans{i} must be a [name, tag] pair of strings")
        names.append(pair[0])
        tags.append(pair[1])
    unknown = [i for i in range(3) if tags[i] == UNKNOWN_TARGET]
    if len(unknown) != 1:
        raise _RecordError(
            "answer_info", f"exactly one option must be tagged 'unknown', found {len(unknown)} ({tags})"
        )
    unknown_idx = unknown[0]
    target_idx = [i for i in range(3) if i != unknown_idx]

    targets = [UNKNOWN_TARGET] * 3
    for i in target_idx:
        targets[i] = _target_label(category, names[i], tags[i], target_by)

    groups = {_norm(g) for g in groups_raw}
    scores = {i: _stereotype_score(groups, names[i], tags[i]) for i in target_idx}
    best = max(scores.values())
    if best == 0:
        raise _RecordError(
            "additional_metadata.stereotyped_groups",
            f"no stereotyped group {groups_raw} matches a target option "
            f"({names[target_idx[0]]!r}/{tags[target_idx[0]]!r}, {names[target_idx[1]]!r}/{tags[target_idx[1]]!r})",
        )
    winners = [i for i, s in scores.items() if s == best]
    stereotyped_idx = winners[0] if len(winners) == 1 else -1

    return {
        "category": category,
        "example_id": example_id,
        "question_index": str(qindex),
        "polarity": polarity,
        "context_condition": condition,
        "context": context,
        "question": question,
        "option0": options[0],
        "option1": options[1],
        "option2": options[2],
        "target0": targets[0],
        "target1": targets[1],
        "target2": targets[2],
        "unknown_idx": unknown_idx,
        "stereotyped_idx": stereotyped_idx,
        "label": label,
        "_version": str(meta.get("version", "")),
    }


def _local_sources(directory: Path, categories: Sequence[str] | None) -> list[tuple[str, Path]]:
    if not directory.is_dir():
        raise DatasetError(
            f"BBQ directory {str(directory)!r} does not exist or is not a directory: "
            "pass the 'data' folder of a clone of github.com/nyu-mll/BBQ (it holds Age.jsonl, ...)"
        )
    present = {p.stem: p for p in directory.glob("*.jsonl")}
    if not present:
        raise DatasetError(
            f"no BBQ .jsonl files in {str(directory)!r}: pass the 'data' folder of the BBQ repository"
        )
    wanted = list(categories) if categories else sorted(present)
    missing = [c for c in wanted if c not in present]
    if missing:
        raise DatasetError(
            f"unknown or missing BBQ category {', '.join(map(repr, missing))} in {str(directory)!r}: "
            f"available here: {', '.join(sorted(present))}"
            + ("" if all(m in CATEGORIES for m in missing) else f" (BBQ has {', '.join(CATEGORIES)})")
        )
    return [(c, present[c]) for c in wanted]


def _hub_records(category: str, revision: str) -> Iterator[tuple[int, Any]]:
    try:
        import datasets
    except ImportError as exc:  # pragma: no cover - datasets is a core dependency
        raise DatasetError("the 'datasets' package is needed to read BBQ from the hub: pip install datasets") from exc
    try:
        ds = datasets.load_dataset(HUB_REPO, name=category, split=HUB_SPLIT, revision=revision)
    except Exception as exc:  # noqa: BLE001 - every failure here means the same thing to the user
        raise DatasetError(
            f"could not load BBQ category {category!r} from the Hugging Face hub ({HUB_REPO}@{revision[:7]}): "
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}. Offline? Download the BBQ jsonl "
            "files (github.com/nyu-mll/BBQ, folder data/) and point at them with --bbq-dir DIR "
            "(Python: load_bbq(source=DIR))"
        ) from None
    for i, rec in enumerate(ds, start=1):
        yield i, rec


def load_bbq(
    source: str | os.PathLike[str] | None = None,
    categories: Iterable[str] | None = None,
    *,
    on_error: Literal["raise", "skip"] = "raise",
    include_excluded: bool = True,
    target_by: dict[str, str] | None = None,
    revision: str = HUB_REVISION,
) -> pd.DataFrame:
    """Load BBQ as the items table.

    Args:
        source: a directory holding BBQ's ``{Category}.jsonl`` files, or None to read the Hugging
            Face hub (``oskarvanderwal/bbq`` at ``revision``; needs network).
        categories: category names (e.g. ``["Age", "Religion"]``); None = every file present
            (local) or all eleven (hub).
        on_error: ``"raise"`` (default): the first invalid record raises one ``DatasetError``
            naming file, line and field. ``"skip"``: invalid records are left out and listed in
            ``items.attrs["load_report"]["skipped"]``.
        include_excluded: keep the known-defective items (flagged ``excluded=True``; metrics
            leave them out by default). False drops them here.
        target_by: per-category override of the target rule, ``{"Nationality": "tag"}``.
        revision: the hub revision (pinned by default so results are reproducible).

    Returns:
        The items table, ordered by category then example id, with ``attrs["load_report"]``.
    """
    check_on_error(on_error)
    cats = list(categories) if categories is not None else None
    if cats is not None and not cats:
        raise DatasetError("no categories given: name at least one BBQ category, e.g. Age")
    report = LoadReport(dataset=DATASET)

    if source is not None:
        sources = [
            (c, str(p), jsonl_records(p)) for c, p in _local_sources(Path(source), cats)
        ]
    else:
        unknown = [c for c in (cats or []) if c not in CATEGORIES]
        if unknown:
            raise DatasetError(f"unknown BBQ category {', '.join(map(repr, unknown))}: choose from {', '.join(CATEGORIES)}")
        sources = [
            (c, f"hub:{HUB_REPO}/{c}@{revision[:7]}", _hub_records(c, revision)) for c in (cats or CATEGORIES)
        ]

    return _items_table(sources, report, on_error=on_error, include_excluded=include_excluded, target_by=target_by)


def items_from_records(
    records: Iterable[Any],
    where: str = "records",
    *,
    on_error: Literal["raise", "skip"] = "raise",
    include_excluded: bool = True,
    target_by: dict[str, str] | None = None,
) -> pd.DataFrame:
    """The items table of BBQ records already in memory (e.g. embedded in recorded results).

    Same validation, targets and defect flags as :func:`load_bbq`; categories may be mixed.
    """
    report = LoadReport(dataset=DATASET)
    return _items_table(
        [(None, where, enumerate(records, start=1))],
        report,
        on_error=on_error,
        include_excluded=include_excluded,
        target_by=target_by,
    )


def _items_table(
    sources: list[tuple[str | None, str, Iterable[tuple[int, Any]]]],
    report: LoadReport,
    *,
    on_error: str,
    include_excluded: bool,
    target_by: dict[str, str] | None,
    dataset: str = DATASET,
    language: str = "en",
    parse: Any = None,
    defects: Sequence[Defect] | None = None,
) -> pd.DataFrame:
    """Validate records from ``(expected category or None, where, (line, record) pairs)`` sources.

    BBQ-schema datasets (BasqBBQ, MBBQ, JBBQ) reuse this with their own ``dataset``,
    ``language``, record parser ``parse(rec) -> row`` and ``defects``.
    """
    parse = parse or (lambda rec: parse_record(rec, target_by))
    defects = KNOWN_DEFECTS if defects is None else defects
    rows: list[dict[str, Any]] = []
    for category, where, records in sources:

        def parse_one(rec: Any, category: str | None = category) -> dict[str, Any]:
            row = parse(rec)
            if category is not None and row["category"] != category:
                raise RecordError(
                    "category", f"category {row['category']!r} does not match the file's category {category!r}"
                )
            flag_defects(row, rec, report, defects)
            return row

        rows += collect_rows([(where, records)], parse_one, report, on_error=on_error,
                             unique=lambda row: ((row["category"], row["example_id"]),
                                                  f"example_id {row['example_id']}"))
    for row in rows:
        row["version"] = row.pop("_version", "")
    return finish_items(rows, dataset=dataset, language=language, report=report,
                        include_excluded=include_excluded, extra_columns=("version",))


def flag_defects(row: dict[str, Any], rec: dict[str, Any], report: LoadReport,
                 defects: Sequence[Defect] = KNOWN_DEFECTS) -> None:
    """Flag ``row`` with every known defect its source record ``rec`` matches."""
    row.update(excluded=False, exclusion_reason="", data_note="")
    for defect in defects:
        if defect.matches(rec):
            flag(row, defect.reason, report, exclude=defect.exclude)


INFO = DatasetInfo(
    name=DATASET,
    title="BBQ",
    languages=("en",),
    licence="CC BY 4.0",
    citation="Parrish, A., Chen, A., Nangia, N., Padmakumar, V., Phang, J., Thompson, J., Htut, P. M., & "
    "Bowman, S. R. (2022). BBQ: A Hand-Built Bias Benchmark for Question Answering. Findings of ACL 2022.",
    url="https://github.com/nyu-mll/BBQ",
    source_hint="the 'data' folder of a clone of github.com/nyu-mll/BBQ (it holds Age.jsonl, ...)",
    hub=HUB_REPO,
    hub_revision=HUB_REVISION,
    categories=CATEGORIES,
)


@register(DATASET, INFO)
def _load(source: str | os.PathLike[str] | None = None, categories: Iterable[str] | None = None, **kw: Any) -> pd.DataFrame:
    return load_bbq(source, categories, **kw)
