"""The BBQ adapter (Parrish et al., Findings of ACL 2022; data CC BY 4.0).

Reads the original BBQ jsonl files from a local directory, or the same records from the Hugging
Face hub (``oskarvanderwal/bbq``, one config per category, split ``test``, pinned revision), and
yields the items table (:data:`bbq_adapters.ITEM_COLUMNS`).

Targets of an item (docs/method.md section 3). Every item has one "unknown" option
(``answer_info[ansK][1] == "unknown"``) and two target options whose *label* is:

- the option's name ``answer_info[ansK][0]`` for Religion, Sexual_orientation and Nationality
  (Nationality: the nationality, e.g. "Japanese", so that it matches the paper's Nationality
  personas; pass ``target_by={"Nationality": "tag"}`` to use the region tag instead);
- the option's tag ``answer_info[ansK][1]`` for every other category, with a leading ``F-``/``M-``
  stripped (Race_ethnicity: "F-Black" -> "Black"). Age targets are {old, nonOld}, SES
  {lowSES, highSES}, Disability_status {disabled, nonDisabled}, Physical_appearance the
  template's tag pair (obese/nonObese, ...). The intersectional categories keep the whole tag.

Gender_identity: BBQ tags some answers with a gender word ("woman", "man", "girl", "boy") while
``stereotyped_groups`` says "F"/"M". :data:`TAG_SYNONYMS` maps such words (in English and in the
languages of the BBQ-format translations: Spanish, Dutch, Turkish, Japanese) to "F"/"M" before
targets are read and groups matched, so Gender_identity targets are F/M (the paper's catalogue:
woman and girl are F, man and boy M), plus the trans tags as they are (trans, nonTrans, trans_F,
...). Sexual_orientation words of those languages map to BBQ's English names (lesbiana -> lesbian,
heterosexual -> straight, ...), and Age/SES tags to BBQ's spelling (Old -> old, "low SES" ->
lowSES), so that one persona catalogue fits every language. Words not in a map stay as they are.

The *stereotyped* option is the target option whose name or tag is in
``additional_metadata.stereotyped_groups`` (compared case- and space-insensitively, so "low SES"
matches "lowSES"; intersectional tags are matched component by component and the option
matching more groups wins). When both target options match equally the item's
``stereotyped_idx`` is -1 (counted in the load report; only the BBQ bias score needs it).

An item whose two group answers the data cannot tell apart (the same target label, and either
the same answer_info pair or no stereotyped group matching: MBBQ-es tags both "chico") cannot be
scored by target: it is flagged ``excluded=True`` (reason "both group answers are tagged ...")
instead of failing the load. Two answers that merely share a label (``target_by={"Nationality":
"tag"}``: two European nationalities) load as before. A group answer without a tag (JSON
``NaN``) in a category whose target is the answer's name is noted in ``data_note`` and read by
its name.

Known label defects (``KNOWN_DEFECTS``) are flagged ``excluded=True`` with a reason; typos that
do not change a label are noted in ``data_note`` only.

The BBQ-format translations (BasqBBQ, MBBQ, JBBQ) reuse :func:`parse_record` (with their own
category names and label maps) and ``_items_table`` (with their own dataset name, language,
record parser and defects): one reader, one set of rules.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from . import register
from .bbq_labels import (  # noqa: F401  (re-exported: the adapter's public names)
    GENDER_SYNONYMS,
    KNOWN_DEFECTS,
    PHYSICAL_APPEARANCE_DEFECTS,
    SEXUAL_ORIENTATION_SYNONYMS,
    TAG_SYNONYMS,
    _GENDER_PREFIX,
    _RecordError,
    _norm,
    Defect,
    merge_synonyms,
    normalise_keys,
)
from .common import (
    RecordError,
    check_on_error,
    collect_rows,
    finish_items,
    flag,
    hub_records,
    jsonl_records,
)
from .errors import DatasetError
from .schema import (
    CONTEXT_CONDITIONS,
    POLARITIES,
    UNKNOWN_TARGET,
    DatasetInfo,
    LoadReport,
)

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


def _require(rec: dict[str, Any], key: str, kind: type | tuple[type, ...], what: str) -> Any:
    if key not in rec or rec[key] is None:
        raise _RecordError(key, f"missing field {key!r}")
    value = rec[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise _RecordError(key, f"field {key!r} must be {what}, got {type(value).__name__} {value!r:.60}")
    return value


TARGET_RULES = ("name", "tag")


def target_rules(value: Mapping[str, str] | str | None) -> dict[str, str]:
    """The ``target_by`` option as ``{category: "name" | "tag"}``, checked.

    Accepts a mapping (Python, a TOML/YAML table), or the command line's text
    ``--dataset-option target_by=Nationality:tag`` (several: ``Nationality:tag,Religion:name``;
    a bare ``tag`` or ``name`` applies to every category). An unknown category or rule is a
    ``DatasetError`` naming the fix, raised before any file is read.
    """
    if value is None:
        return {}
    if isinstance(value, str):
        pairs: list[tuple[str, str]] = []
        for part in (p.strip() for p in value.split(",")):
            if not part:
                continue
            category, sep, rule = part.rpartition(":")
            pairs += [(category.strip(), rule.strip())] if sep else [(c, part) for c in CATEGORIES]
        if not pairs:
            raise DatasetError("target_by is empty: write target_by=Nationality:tag (CATEGORY:name|tag, comma-separated)")
    elif isinstance(value, Mapping):
        pairs = [(str(c), r) for c, r in value.items()]
    else:
        raise DatasetError(f"target_by must be CATEGORY:name|tag pairs (e.g. Nationality:tag), got {value!r:.60}")
    for category, rule in pairs:
        if category not in CATEGORIES:
            raise DatasetError(f"target_by: unknown BBQ category {category!r}: choose from {', '.join(CATEGORIES)} "
                               "(write target_by=Nationality:tag)")
        if rule not in TARGET_RULES:
            raise DatasetError(f"target_by: rule {rule!r} for {category} is neither 'name' nor 'tag' "
                               "(write target_by=Nationality:tag)")
    return dict(pairs)


def _target_rule(category: str, target_by: Mapping[str, str]) -> str:
    return target_by.get(category, "name" if category in NAME_TARGET_CATEGORIES else "tag")


def _target_label(category: str, name: str, tag: str, target_by: Mapping[str, str]) -> str:
    if _target_rule(category, target_by) == "name":
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


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def parse_record(
    rec: Any,
    target_by: Mapping[str, str] | None = None,
    *,
    category_names: Mapping[str, str] | None = None,
    synonyms: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, Any]:
    """Validate one BBQ-schema record and turn it into an items-table row (without
    ``dataset``/defects).

    Args:
        rec: the parsed JSON record.
        target_by: per-category target rule override (``"name"`` or ``"tag"``).
        category_names: the source's category names -> items-table names (BasqBBQ: "Adin" ->
            "Age"); a name not in it is kept as it is.
        synonyms: per-category label maps with normalised keys (default :data:`TAG_SYNONYMS`);
            ``{}`` keeps every label as the source spells it.

    Returns the row; ``row["_issues"]`` lists ``(reason, exclude)`` problems of this record that
    the caller flags (see the module docstring). Raises ``RecordError`` (field, message) for
    anything that makes the record unusable.
    """
    target_by = target_by or {}
    synonyms = TAG_SYNONYMS if synonyms is None else synonyms
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
    if category_names:
        category = category_names.get(category, category)
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

    by_name = _target_rule(category, target_by) == "name"
    issues: list[tuple[str, bool]] = []
    names, tags = [], []
    for i in range(3):
        pair = info.get(f"ans{i}")
        ok = isinstance(pair, list) and len(pair) >= 2 and isinstance(pair[0], str)
        if ok and not isinstance(pair[1], str):
            # A group answer without a tag (BasqBBQ: NaN) is usable where the target is its name.
            ok = by_name and _is_missing(pair[1])
            if ok:
                pair = [pair[0], ""]
                issues.append(("answer tag missing (NaN): target read from the answer's name", False))
        if not ok:
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

    syn = synonyms.get(category) or {}
    canon_names = list(names)
    canon_tags = list(tags)
    groups_list = list(groups_raw)
    if syn:
        canon_tags = [t if i == unknown_idx else syn.get(_norm(t), t) for i, t in enumerate(tags)]
        canon_names = [n if i == unknown_idx else syn.get(_norm(n), n) for i, n in enumerate(names)]
        groups_list = [syn.get(_norm(g), g) for g in groups_raw]

    targets = [UNKNOWN_TARGET] * 3
    for i in target_idx:
        targets[i] = _target_label(category, canon_names[i], canon_tags[i], target_by)

    a, b = target_idx
    groups = {_norm(g) for g in groups_list} | {_norm(g) for g in groups_raw}
    scores = {
        i: max(_stereotype_score(groups, canon_names[i], canon_tags[i]), _stereotype_score(groups, names[i], tags[i]))
        for i in target_idx
    }
    best = max(scores.values())
    same_answer = (names[a], tags[a]) == (names[b], tags[b])
    if targets[a] == targets[b] and (same_answer or best == 0):
        # The data cannot tell the two group answers apart (MBBQ-es: both ["chico", "chico"]).
        same = names[a] if by_name else tags[a]
        issues.append((f"both group answers are tagged {same!r}: the target cannot be told from the tags", True))
        stereotyped_idx = -1
    elif best == 0:
        raise _RecordError(
            "additional_metadata.stereotyped_groups",
            f"no stereotyped group {groups_raw} matches a target option "
            f"({names[a]!r}/{tags[a]!r}, {names[b]!r}/{tags[b]!r})",
        )
    else:
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
        "_issues": issues,
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
    return hub_records(
        HUB_REPO, revision, f"BBQ category {category!r}",
        "Download the BBQ jsonl files (github.com/nyu-mll/BBQ, folder data/) and point at them with --bbq-dir DIR "
        "(Python: load_bbq(source=DIR))",
        name=category, split=HUB_SPLIT,
    )


def load_bbq(
    source: str | os.PathLike[str] | None = None,
    categories: Iterable[str] | None = None,
    *,
    on_error: Literal["raise", "skip"] = "raise",
    include_excluded: bool = True,
    target_by: Mapping[str, str] | str | None = None,
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
        target_by: per-category override of the target rule, ``{"Nationality": "tag"}`` (or the
            command line's ``"Nationality:tag"``; see :func:`target_rules`).
        revision: the hub revision (pinned by default so results are reproducible).

    Returns:
        The items table, ordered by category then example id, with ``attrs["load_report"]``.
    """
    check_on_error(on_error)
    target_by = target_rules(target_by)
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
    target_by: Mapping[str, str] | str | None = None,
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
        target_by=target_rules(target_by),
    )


def _items_table(
    sources: list[tuple[str | None, str, Iterable[tuple[int, Any]]]],
    report: LoadReport,
    *,
    on_error: str,
    include_excluded: bool,
    target_by: Mapping[str, str] | None = None,
    dataset: str = DATASET,
    language: str = "en",
    parse: Callable[[Any], dict[str, Any]] | None = None,
    defects: Sequence[Defect] | None = None,
    extra_columns: tuple[str, ...] = (),
) -> pd.DataFrame:
    """Validate records from ``(expected category or None, where, (line, record) pairs)`` sources.

    BBQ-schema datasets (BasqBBQ, MBBQ, JBBQ) reuse this with their own ``dataset``,
    ``language``, record parser ``parse(rec) -> row`` (usually :func:`parse_record` with their
    category names and label maps; a row may bring its own ``item_id``, ``language`` and the
    ``extra_columns``), and ``defects`` (matched on the parsed row, so on items-table category
    names). Each row's ``_issues`` (from :func:`parse_record`) are flagged, then its defects.
    The table has the extra column ``version`` (``additional_metadata.version``), then
    ``extra_columns``.
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
            row.update(excluded=False, exclusion_reason="", data_note="")
            for reason, exclude in row.pop("_issues", ()):
                flag(row, reason, report, exclude=exclude)
            flag_defects(row, row, report, defects)
            return row

        rows += collect_rows([(where, records)], parse_one, report, on_error=on_error,
                             unique=lambda row: ((row["category"], row["example_id"]),
                                                  f"example_id {row['example_id']}"))
    for row in rows:
        row["version"] = row.pop("_version", "")
    return finish_items(rows, dataset=dataset, language=language, report=report,
                        include_excluded=include_excluded, extra_columns=("version", *extra_columns))


def flag_defects(row: dict[str, Any], rec: dict[str, Any], report: LoadReport,
                 defects: Sequence[Defect] = KNOWN_DEFECTS) -> None:
    """Flag ``row`` with every known defect that ``rec`` (its source record, or the row itself)
    matches, by the row's items-table category. Flags already on the row are kept."""
    row.setdefault("excluded", False)
    row.setdefault("exclusion_reason", "")
    row.setdefault("data_note", "")
    for defect in defects:
        if defect.matches(rec, category=row["category"]):
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


register(DATASET, INFO)(load_bbq)
