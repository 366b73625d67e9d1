"""EsBBQ/CaBBQ records: the upstream category names, the unknown-option wordings, the target
aliases and the validation of one upstream record into an items-table row (see
:mod:`socialbias.bbq_adapters.esbbq` for the dataset, its sources and its known problems).
Split from ``esbbq.py`` so that each module stays readable; ``esbbq`` re-exports these names.
"""


from __future__ import annotations

import ast
import csv
import hashlib
import re
import unicodedata
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any


from .common import (
    BadLine,
    RecordError,
    open_text,
)
from .schema import (
    CONTEXT_CONDITIONS,
    POLARITIES,
    UNKNOWN_TARGET,
)

#: Upstream category name (file stem, hub config) -> items-table category name.
CATEGORY_MAP: dict[str, str] = {
    "Age": "Age",
    "DisabilityStatus": "Disability_status",
    "Gender": "Gender_identity",
    "LGBTQIA": "LGBTQIA",
    "Nationality": "Nationality",
    "PhysicalAppearance": "Physical_appearance",
    "RaceEthnicity": "Race_ethnicity",
    "Religion": "Religion",
    "SES": "SES",
    "SpanishRegion": "Spanish_region",
}
SOURCE_CATEGORIES: tuple[str, ...] = tuple(CATEGORY_MAP)
CATEGORIES: tuple[str, ...] = tuple(CATEGORY_MAP.values())
_TO_SOURCE = {v: k for k, v in CATEGORY_MAP.items()}

LANGUAGES = {"esbbq": "es", "cabbq": "ca"}
TITLES = {"esbbq": "EsBBQ", "cabbq": "CaBBQ"}
HUB_REPOS = {"esbbq": "BSC-LT/EsBBQ", "cabbq": "BSC-LT/CaBBQ"}
#: No commit hash of either hub repository could be looked up (no hub access when this was
#: written): the default is the branch "main", resolved to its commit at load time and recorded.
HUB_REVISIONS = {"esbbq": "main", "cabbq": "main"}
HUB_REVISION_VERIFIED = False
HUB_SPLIT = "test"

#: Upstream's unknown expressions (lm-evaluation-harness tasks esbbq/cabbq, ``doc_to_choice``).
UNKNOWN_WORDINGS: dict[str, tuple[str, ...]] = {
    "es": (
        "No hay suficiente información", "No hay información suficiente", "No lo sé", "No sé",
        "Falta información", "No se puede responder", "No se sabe", "No se puede saber",
        "No se puede determinar",
    ),
    "ca": (
        "No hi ha prou informació", "No hi ha informació suficient", "No ho sé", "No sé",
        "Falta informació", "No es pot respondre", "No se sap", "No es pot saber",
        "No es pot determinar",
    ),
}
#: The default wording of the unknown option (BBQ's "Can't be determined").
DEFAULT_UNKNOWN = {"es": "No se puede determinar", "ca": "No es pot determinar"}
#: The placeholder the source puts in ``ans2``.
UNKNOWN_PLACEHOLDER = "unknown"

#: Tag spellings merged into one target label, per items-table category.
TARGET_ALIASES: dict[str, dict[str, str]] = {
    "Gender_identity": {"f": "F", "m": "M"},
    "LGBTQIA": {"hetero": "heterosexual"},
}

NOTE_SWAPPED = ("answer_info ans0/ans1 describe the other answer text (upstream generator swapped names by "
                "substring); targets follow the texts")
NOTE_QUESTION_TYPE = ("upstream question_type contradicts the answer tags and label (upstream generator bug; "
                      "label checked against the context; question_type is not used)")

REQUIRED_FIELDS: tuple[str, ...] = (
    "instance_id", "template_id", "question_polarity", "context_condition", "category",
    "stereotyped_groups", "context", "question", "ans0", "ans1", "ans2", "label",
)

_FILE_SUFFIXES = (".full.csv", ".full.jsonl")
_GENDER_PART = re.compile(r"^\s*[fm]\s*,\s*", re.IGNORECASE)


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", str(text))).strip().casefold()


# --- reading ---------------------------------------------------------------------------------


def csv_records(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, row dict) for each data row of a (gzipped) CSV file; a truncated or
    corrupt file yields a :class:`BadLine` where it breaks."""
    try:
        with open_text(path) as fh:
            reader = csv.DictReader(fh, strict=True)
            if reader.fieldnames is None:
                return
            width = len(reader.fieldnames)
            while True:
                try:
                    rec = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    yield reader.line_num, BadLine(f"not valid CSV ({exc}); the file may be truncated: re-download it")
                    return
                if None in rec:  # more fields than the header
                    yield reader.line_num, BadLine(f"row has {width + len(rec[None])} fields, the header {width}")
                    continue
                if any(v is None for v in rec.values()):  # fewer fields than the header
                    n = sum(v is not None for v in rec.values())
                    yield reader.line_num, BadLine(
                        f"row has {n} fields, the header {width}; the file may be truncated: re-download it"
                    )
                    continue
                yield reader.line_num, rec
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        yield -1, BadLine(f"cannot read the file ({exc}); it may be truncated or corrupt: re-download it")


def _as_list(value: Any, field: str) -> list[str]:
    """A list of strings from a list/tuple/array, or from a Python-literal string (the CSV)."""
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise RecordError(field, f"field {field!r} must be a list literal, got {value!r:.60}") from None
    if hasattr(value, "tolist") and not isinstance(value, (list, tuple)):
        value = value.tolist()
    if not isinstance(value, (list, tuple)) or not all(isinstance(x, str) for x in value):
        raise RecordError(field, f"field {field!r} must be a list of strings, got {value!r:.60}")
    return list(value)


def _as_int(value: Any, field: str) -> int:
    if isinstance(value, bool):
        raise RecordError(field, f"field {field!r} must be an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if hasattr(value, "item") and not isinstance(value, str):  # numpy integer
        value = value.item()
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    raise RecordError(field, f"field {field!r} must be an integer, got {value!r:.60}")


def _as_str(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise RecordError(field, f"field {field!r} must be a string, got {type(value).__name__} {value!r:.60}")
    return value


def _answer_info(rec: dict[str, Any]) -> list[list[str]]:
    """``answer_info`` as three [name, tag] pairs: nested (jsonl, hub) or flattened (CSV)."""
    nested = rec.get("answer_info")
    pairs = []
    for k in range(3):
        field = f"answer_info.ans{k}"
        if isinstance(nested, dict):
            value = nested.get(f"ans{k}")
        elif nested is None:
            value = rec.get(field)
        else:
            raise RecordError("answer_info", f"field 'answer_info' must be an object, got {type(nested).__name__}")
        if value is None or (isinstance(value, str) and not value.strip()):
            raise RecordError(field, f"missing field {field!r}")
        pair = _as_list(value, field)
        if len(pair) < 2:
            raise RecordError(field, f"field {field!r} must be a [name, tag] pair, got {pair!r:.60}")
        pairs.append(pair[:2])
    return pairs


# --- one record ------------------------------------------------------------------------------


def _target_label(category: str, tag: str) -> str:
    label = unicodedata.normalize("NFC", _GENDER_PART.sub("", tag).strip())
    return TARGET_ALIASES.get(category, {}).get(label, label)


def _best_name(text: str, names: dict[int, str]) -> int | None:
    """The answer_info entry whose name is the longest one contained in ``text``."""
    hits = [(len(n), i) for i, n in names.items() if n and n in text]
    return max(hits)[1] if hits else None


def _pick(key: str, seed: int, n: int) -> int:
    digest = hashlib.sha256(f"{int(seed)}\x1funknown\x1f{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % n


def parse_record(
    rec: Any,
    *,
    dataset: str,
    expected_category: str | None,
    unknown_wording: str | Sequence[str],
    seed: int,
) -> tuple[dict[str, Any], list[str]]:
    """Validate one EsBBQ/CaBBQ record; return its items-table row (source option order) and the
    ``data_note`` reasons it carries. Raises :class:`RecordError` (field, message)."""
    if not isinstance(rec, dict):
        raise RecordError("<record>", f"a record must be an object, got {type(rec).__name__}")
    for key in REQUIRED_FIELDS:
        if key not in rec or rec[key] is None:
            raise RecordError(key, f"missing field {key!r}")
    example_id = _as_int(rec["instance_id"], "instance_id")
    template_id = _as_int(rec["template_id"], "template_id")
    label = _as_int(rec["label"], "label")
    if label not in (0, 1, 2):
        raise RecordError("label", f"label must be 0, 1 or 2, got {label}")
    source_category = _as_str(rec["category"], "category")
    if source_category not in CATEGORY_MAP:
        raise RecordError("category", f"unknown category {source_category!r}: expected one of {', '.join(CATEGORY_MAP)}")
    if expected_category is not None and source_category != expected_category:
        raise RecordError("category", f"category {source_category!r} does not match the file's category "
                                      f"{expected_category!r}")
    category = CATEGORY_MAP[source_category]
    polarity = _as_str(rec["question_polarity"], "question_polarity")
    if polarity not in POLARITIES:
        raise RecordError("question_polarity", f"question_polarity must be 'neg' or 'nonneg', got {polarity!r}")
    condition = _as_str(rec["context_condition"], "context_condition")
    if condition not in CONTEXT_CONDITIONS:
        raise RecordError("context_condition", f"context_condition must be 'ambig' or 'disambig', got {condition!r}")
    context = _as_str(rec["context"], "context")
    question = _as_str(rec["question"], "question")
    texts = [_as_str(rec[f"ans{k}"], f"ans{k}") for k in range(3)]
    for k, text in enumerate((context, question, *texts)):
        if not text.strip():
            field = ("context", "question", "ans0", "ans1", "ans2")[k]
            raise RecordError(field, f"field {field!r} is empty")
    groups = _as_list(rec["stereotyped_groups"], "stereotyped_groups")
    info = _answer_info(rec)

    tags = [pair[1].strip() for pair in info]
    unknown = [k for k in range(3) if _norm(tags[k]) == UNKNOWN_TARGET]
    if len(unknown) != 1:
        raise RecordError("answer_info", f"exactly one answer must be tagged 'unknown', found {len(unknown)} ({tags})")
    unknown_idx = unknown[0]
    slots = [k for k in range(3) if k != unknown_idx]
    notes: list[str] = []

    # answer_info entry describing each target option's text (normally the same position).
    names = {k: _norm(info[k][0]) for k in slots}
    described = {k: k for k in slots}
    a, b = slots
    if _best_name(_norm(texts[a]), names) == b and _best_name(_norm(texts[b]), names) == a:
        described = {a: b, b: a}
        notes.append(NOTE_SWAPPED)

    targets = [UNKNOWN_TARGET] * 3
    for k in slots:
        targets[k] = _target_label(category, tags[described[k]])
    if targets[a] == targets[b]:
        raise RecordError("answer_info", f"both target answers carry the same group {targets[a]!r}")

    wanted = {_norm(g) for g in groups}
    in_groups = [k for k in slots if _norm(_GENDER_PART.sub("", tags[described[k]])) in wanted]
    if not in_groups:
        raise RecordError(
            "stereotyped_groups",
            f"no stereotyped group {groups} matches a target answer ({tags[described[a]]!r}, {tags[described[b]]!r})",
        )
    stereotyped_idx = in_groups[0] if len(in_groups) == 1 else -1

    if condition == "ambig" and label != unknown_idx:
        raise RecordError("label", f"an ambiguous item's label must be its unknown answer ({unknown_idx}), got {label}")
    if condition == "disambig" and label == unknown_idx:
        raise RecordError("label", "a disambiguated item's label must be a target answer, not the unknown one")

    question_type = rec.get("question_type")
    if condition == "disambig" and stereotyped_idx != -1 and question_type in ("pro-stereo", "anti-stereo"):
        pro = (label == stereotyped_idx) == (polarity == "neg")
        if ("pro-stereo" if pro else "anti-stereo") != question_type:
            notes.append(NOTE_QUESTION_TYPE)

    key = f"{dataset}/{category}/{example_id}"
    if _norm(texts[unknown_idx]) == UNKNOWN_PLACEHOLDER:
        if isinstance(unknown_wording, str):
            texts[unknown_idx] = unknown_wording
        else:
            texts[unknown_idx] = unknown_wording[_pick(key, seed, len(unknown_wording))]

    version = rec.get("version")
    subcategory = rec.get("subcategory")
    row = {
        "category": category,
        "example_id": example_id,
        "question_index": str(template_id),
        "polarity": polarity,
        "context_condition": condition,
        "context": context,
        "question": question,
        **{f"option{k}": texts[k] for k in range(3)},
        **{f"target{k}": targets[k] for k in range(3)},
        "unknown_idx": unknown_idx,
        "stereotyped_idx": stereotyped_idx,
        "label": label,
        "version": "" if version is None else str(version),
        "subcategory": "" if subcategory is None else str(subcategory),
        "source_category": source_category,
    }
    return row, notes


# --- locating the data -----------------------------------------------------------------------
