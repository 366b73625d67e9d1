"""The EsBBQ and CaBBQ adapters (Ruiz-Fernández et al., 2025; Spanish "esbbq" and Catalan "cabbq").

EsBBQ and CaBBQ are parallel adaptations of BBQ to Spanish and Catalan and to the social
context of Spain (github.com/langtech-bsc/EsBBQ-CaBBQ; Hugging Face ``BSC-LT/EsBBQ`` and
``BSC-LT/CaBBQ``). This module registers both: ``load_items("esbbq", source=...)`` and
``load_items("cabbq", source=...)``.

Sources. ``source`` is a clone of the GitHub repository (its root, which holds ``data_es/``
and ``data_ca/``) or the language's data folder itself. Each category is one file
``<Category>.full.csv`` (24 columns; ``answer_info.ans0/1/2``, ``stereotyped_groups`` and
``source`` hold Python literals, read with :func:`ast.literal_eval`), possibly gzipped
(``.csv.gz``); where only the ``<Category>.full.jsonl`` twin is present it is read instead.
``source=None`` reads the hub (one config per category, split ``test``, parquet; ``answer_info``
a struct of ``ans0/ans1/ans2`` lists, ``stereotyped_groups`` a list; a flattened
``answer_info.ansK`` column is accepted too) at ``revision``. NOTE: no commit of the two hub
repositories could be looked up when this was written, so :data:`HUB_REVISIONS` is the branch
``"main"`` (:data:`HUB_REVISION_VERIFIED` is False); at load time it is resolved to the commit it
points at (:func:`bbq_adapters.common.pin_revision`) and the load report records that commit:
pass it as ``revision=<sha>`` to read the same data again.

Categories. The items table uses BBQ's names where the category is BBQ's: Age,
DisabilityStatus -> Disability_status, Gender -> Gender_identity (EsBBQ's Gender is women vs
men, tags f/m; its trans/non-binary items are in LGBTQIA), Nationality, PhysicalAppearance ->
Physical_appearance, RaceEthnicity -> Race_ethnicity, Religion, SES. LGBTQIA mixes sexual
orientation and gender identity (subcategories SexualOrientation and GenderIdentity: gay,
lesbiana, bisexual, heterosexual, ... and trans, cis, no binaria), so it keeps its name;
SpanishRegion becomes Spanish_region. ``categories=`` accepts both spellings.

Targets (the adapter's rule; never from position or ``question_type``). Every item has one
option tagged ``unknown`` (``answer_info.ans2 == ["unknown", "unknown"]``) and two target
options whose label is the option's *tag* (``answer_info.ansK[1]``):

- a leading gender part ``"m, "``/``"f, "`` is dropped (Race_ethnicity: proper names are tagged
  ``"m, árabe"``; upstream's own scorer keeps ``tag.split(",")[-1].strip()`` too);
- Gender_identity tags ``f``/``m`` become ``F``/``M`` (BBQ's labels);
- LGBTQIA ``hetero`` becomes ``heterosexual`` (the same group, worded two ways in the templates);
- otherwise the tag as the source writes it: English identifiers where the data has them (Age
  old/nonOld, SES lowSES/highSES, Disability_status disability/noDisability,
  Physical_appearance obese/nonObese, pregnant/notPregnant, ...), and the Spanish or Catalan
  group name elsewhere (Nationality "el Reino Unido"/"el Regne Unit", Religion
  "musulmán"/"musulmà", Race_ethnicity "gitano", Spanish_region "Cataluña"/"Catalunya", LGBTQIA
  "lesbiana", ...); the data give no English translation for these, so none is invented.

The *stereotyped* option is the target option whose (stripped) tag is in
``stereotyped_groups``. By construction it is ``ans0``, except PhysicalAppearance template 10
(both languages) and template 32 (Catalan), whose ``ans0`` is the non-stereotyped answer
(e.g. ``notPregnant``): the tag rule gets those right.

Answer tags follow the answer *texts*. In 4 EsBBQ rows (PhysicalAppearance 1090, 1091, 1098,
1099) and 12 CaBBQ rows (the same four, and 3488, 3489, 3496, 3497, 3536, 3537, 3544, 3545)
upstream's generator swapped NAME1/NAME2 in the text by substring ("embarazada" inside "no
estaba embarazada", "portava ulleres" inside "no portava ulleres"), so ``answer_info.ans0/ans1``
describe ``ans1/ans0``. The adapter matches each option text to the ``answer_info`` name it
contains (the longest one) and swaps the two when they cross; such rows get a ``data_note``.
Their labels were checked against the contexts and are right for the texts.

Known defects (``data_note``, not excluded, because the items table is right for them):

- the swap above (``NOTE_SWAPPED``: 4 es / 12 ca);
- upstream ``question_type`` contradicts the (text-aligned) tags and the label in 4 es / 12 ca
  disambiguated rows (``NOTE_QUESTION_TYPE``: es 1061, 1077, 1091, 1099; ca the same and 3457,
  3473, 3489, 3497, 3505, 3521, 3537, 3545). The shared SOURCE.txt counts the same 4/12 with
  *positional* tags, so its rows are 1090/1098 (3488/3496/3536/3544) where ours are 1091/1099
  (3489/3497/3537/3545): the same generator bug seen before and after re-aligning the tags.
  Every disambiguated label of templates 10 and 32 was checked against its context (the test
  suite does it from the text): all right. ``question_type`` is not used by the items table or
  the metrics.

Not a defect: SES has 1,484 pro-stereotypical vs 1,340 anti-stereotypical disambiguated rows
(other categories are balanced); the items are kept as they are.

Options. ``ans2`` is the literal placeholder ``"unknown"`` in every row; it is replaced by the
language's wording (``unknown_wording``; default :data:`DEFAULT_UNKNOWN` "No se puede
determinar" / "No es pot determinar", from upstream's list :data:`UNKNOWN_WORDINGS`; a list
picks one per item, seeded). The source never moves the answers (stereotyped = ans0, unknown
= ans2), so options are reordered with :mod:`bbq_adapters.options` (``order="shuffle"``
default, seeded per item; ``order="source"`` keeps the file order).

Ids. ``example_id`` = ``instance_id`` (unique within a category file, 0..n-1);
``question_index`` = ``template_id``; extra columns ``version`` (template version),
``subcategory`` and ``source_category`` (upstream's category name).

Hub format. The hub cards' ``dataset_info`` lists the columns of the CSV with
``stereotyped_groups``/``source`` as string sequences and ``answer_info`` as a struct of three
string sequences (``instance_id``, ``template_id``, ``label`` int64; ``proper_nouns_only`` bool);
the tests feed :func:`datasets.load_dataset` records of that shape (and flattened, and with numpy
arrays as pandas gives them).

Personas. ``socialbias/personas/data/catalogues/esbbq.csv`` and ``cabbq.csv`` give one or more
personas per target label of every category (``Name_es``/``Name_ca`` and ``Name_en``); written
by the socialbias developers, machine-assisted, not reviewed by a native speaker (see the
catalogues' README).

Data: github.com/langtech-bsc/EsBBQ-CaBBQ (Apache-2.0); Hugging Face cards: CC BY 4.0.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import os
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from . import register
from .common import (
    BadLine,
    RecordError,
    check_on_error,
    collect_rows,
    find_file,
    finish_items,
    flag,
    hub_records,
    jsonl_records,
    open_text,
    pin_revision,
    resolve_dir,
)
from .errors import DatasetError
from .options import ORDERS, shuffle_row
from .schema import (
    CONTEXT_CONDITIONS,
    POLARITIES,
    UNKNOWN_TARGET,
    DatasetInfo,
    LoadReport,
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


def _category_file(directory: Path, source_category: str) -> Path | None:
    for suffix in _FILE_SUFFIXES:
        found = find_file(directory, source_category + suffix)
        if found is not None:
            return found
    return None


def _has_data(directory: Path) -> bool:
    return any(_category_file(directory, c) is not None for c in SOURCE_CATEGORIES)


def _resolve_categories(dataset: str, categories: Iterable[str] | None) -> list[str] | None:
    """Requested categories as upstream names (None = all); accepts both spellings."""
    if categories is None:
        return None
    if isinstance(categories, str):
        categories = [categories]
    wanted = list(categories)
    if not wanted:
        raise DatasetError(f"{dataset}: no categories given: name at least one, e.g. Age")
    out, unknown = [], []
    by_lower = {c.lower(): c for c in SOURCE_CATEGORIES} | {c.lower(): _TO_SOURCE[c] for c in CATEGORIES}
    for c in wanted:
        source = by_lower.get(str(c).lower())
        if source is None:
            unknown.append(c)
        elif source not in out:
            out.append(source)
    if unknown:
        raise DatasetError(
            f"unknown {TITLES[dataset]} category {', '.join(map(repr, unknown))}: choose from "
            f"{', '.join(CATEGORIES)} (or upstream's names {', '.join(SOURCE_CATEGORIES)})"
        )
    return out


def _source_hint(dataset: str) -> str:
    lang = LANGUAGES[dataset]
    return (f"pass a clone of github.com/langtech-bsc/EsBBQ-CaBBQ (its root, or its data_{lang} folder holding "
            f"Age.full.csv, ...), or source=None for the Hugging Face hub ({HUB_REPOS[dataset]})")


def _local_sources(dataset: str, source: Any, wanted: list[str] | None) -> list[tuple[str, str, Iterable]]:
    lang = LANGUAGES[dataset]
    hint = _source_hint(dataset)
    base = Path(source)
    other = {f"data_{code}": name for name, code in LANGUAGES.items() if code != lang}
    if base.is_dir() and base.name in other:
        sibling = other[base.name]
        raise DatasetError(f"{dataset}: {str(base)!r} holds the {TITLES[sibling]} ({base.name}) files: "
                           f"load it as {sibling!r}, or pass the data_{lang} folder for {dataset}")
    directory = resolve_dir(source, dataset=dataset, must_contain=_has_data, hint=hint, subdirs=(f"data_{lang}",))
    present = {c: p for c in SOURCE_CATEGORIES if (p := _category_file(directory, c)) is not None}
    names = wanted if wanted is not None else [c for c in SOURCE_CATEGORIES if c in present]
    missing = [c for c in names if c not in present]
    if missing:
        raise DatasetError(
            f"{dataset}: no file for category {', '.join(repr(CATEGORY_MAP[c]) for c in missing)} in {str(directory)!r} "
            f"(looked for {missing[0]}.full.csv[.gz] / .full.jsonl[.gz]); present here: "
            f"{', '.join(CATEGORY_MAP[c] for c in present)}"
        )
    out = []
    for c in names:
        path = present[c]
        reader = csv_records(path) if ".csv" in path.name else jsonl_records(path)
        out.append((c, str(path), reader))
    return out


def _hub_records(dataset: str, source_category: str, revision: str) -> Iterator[tuple[int, Any]]:
    return hub_records(
        HUB_REPOS[dataset], revision, f"{TITLES[dataset]} category {source_category!r}",
        f"Clone github.com/langtech-bsc/EsBBQ-CaBBQ and point at it with --data-dir DIR "
        f"(Python: load_items({dataset!r}, source=DIR))",
        name=source_category, split=HUB_SPLIT,
    )


# --- the loader ------------------------------------------------------------------------------


def _check_wording(dataset: str, unknown_wording: Any) -> str | tuple[str, ...]:
    if unknown_wording is None:
        return DEFAULT_UNKNOWN[LANGUAGES[dataset]]
    if isinstance(unknown_wording, str):
        if not unknown_wording.strip():
            raise DatasetError(f"{dataset}: unknown_wording must not be empty (default {DEFAULT_UNKNOWN[LANGUAGES[dataset]]!r})")
        return unknown_wording
    words = tuple(unknown_wording) if isinstance(unknown_wording, (list, tuple)) else None
    if not words or not all(isinstance(w, str) and w.strip() for w in words):
        raise DatasetError(f"{dataset}: unknown_wording must be a non-empty string or a list of them, "
                           f"got {unknown_wording!r:.80}")
    return words


def load_spanish_bbq(
    dataset: Literal["esbbq", "cabbq"],
    source: str | os.PathLike[str] | None = None,
    categories: Iterable[str] | None = None,
    *,
    on_error: Literal["raise", "skip"] = "raise",
    include_excluded: bool = True,
    seed: int = 0,
    order: str = "shuffle",
    unknown_wording: str | Sequence[str] | None = None,
    revision: str | None = None,
) -> pd.DataFrame:
    """Load EsBBQ (``dataset="esbbq"``) or CaBBQ (``"cabbq"``) as the items table.

    Args:
        source: the repository clone (root or ``data_es``/``data_ca``), or None for the hub.
        categories: items-table names (``Disability_status``) or upstream's (``DisabilityStatus``);
            None = every file present (local) or all ten (hub).
        on_error: ``"raise"`` (default) or ``"skip"`` invalid records (listed in the load report).
        include_excluded: keep items flagged ``excluded`` (none are, currently; see the module
            docstring: this dataset's known defects are notes).
        seed, order: option order; ``"shuffle"`` (default: seeded per item) or ``"source"``.
        unknown_wording: the unknown option's text (default "No se puede determinar" /
            "No es pot determinar"); a list picks one per item (seeded).
        revision: hub revision (default :data:`HUB_REVISIONS`, resolved to its commit and recorded).
    """
    if dataset not in LANGUAGES:
        raise DatasetError(f"unknown dataset {dataset!r}: esbbq or cabbq")
    check_on_error(on_error)
    if order not in ORDERS:
        raise DatasetError(f"{dataset}: order must be one of {', '.join(ORDERS)}, got {order!r}")
    try:
        seed = int(seed)
    except (TypeError, ValueError):
        raise DatasetError(f"{dataset}: seed must be an integer, got {seed!r}") from None
    wording = _check_wording(dataset, unknown_wording)
    wanted = _resolve_categories(dataset, categories)
    revision = revision or HUB_REVISIONS[dataset]
    report = LoadReport(dataset=dataset)

    if source is not None:
        sources = _local_sources(dataset, source, wanted)
    else:
        repo = HUB_REPOS[dataset]
        revision = pin_revision(repo, revision)
        sources = [(c, f"hub:{repo}/{c}@{revision}", _hub_records(dataset, c, revision))
                   for c in (wanted or SOURCE_CATEGORIES)]

    rows: list[dict[str, Any]] = []
    for source_category, where, records in sources:

        def parse_one(rec: Any, expected: str = source_category) -> dict[str, Any]:
            row, notes = parse_record(rec, dataset=dataset, expected_category=expected,
                                      unknown_wording=wording, seed=seed)
            row.update(excluded=False, exclusion_reason="", data_note="")
            row["_notes"] = notes
            return row

        rows += collect_rows([(where, records)], parse_one, report, on_error=on_error,
                             unique=lambda row: ((row["category"], row["example_id"]),
                                                 f"instance_id {row['example_id']}"))
    for i, row in enumerate(rows):
        for note in row.pop("_notes"):
            flag(row, note, report, exclude=False)
        if order == "shuffle":
            rows[i] = shuffle_row(row, f"{dataset}/{row['category']}/{row['example_id']}", seed)
    return finish_items(rows, dataset=dataset, language=LANGUAGES[dataset], report=report,
                        include_excluded=include_excluded,
                        extra_columns=("version", "subcategory", "source_category"))


def load_esbbq(
    source: str | os.PathLike[str] | None = None,
    categories: Iterable[str] | None = None,
    *,
    on_error: Literal["raise", "skip"] = "raise",
    include_excluded: bool = True,
    seed: int = 0,
    order: str = "shuffle",
    unknown_wording: str | Sequence[str] | None = None,
    revision: str = HUB_REVISIONS["esbbq"],
) -> pd.DataFrame:
    """EsBBQ (Spanish) as the items table; the options are :func:`load_spanish_bbq`'s."""
    return load_spanish_bbq("esbbq", source, categories, on_error=on_error, include_excluded=include_excluded,
                            seed=seed, order=order, unknown_wording=unknown_wording, revision=revision)


def load_cabbq(
    source: str | os.PathLike[str] | None = None,
    categories: Iterable[str] | None = None,
    *,
    on_error: Literal["raise", "skip"] = "raise",
    include_excluded: bool = True,
    seed: int = 0,
    order: str = "shuffle",
    unknown_wording: str | Sequence[str] | None = None,
    revision: str = HUB_REVISIONS["cabbq"],
) -> pd.DataFrame:
    """CaBBQ (Catalan) as the items table; the options are :func:`load_spanish_bbq`'s."""
    return load_spanish_bbq("cabbq", source, categories, on_error=on_error, include_excluded=include_excluded,
                            seed=seed, order=order, unknown_wording=unknown_wording, revision=revision)


CITATION = (
    "Ruiz-Fernández, V., Mina, M., Falcão, J., Vasquez-Reina, L., Sallés, A., Gonzalez-Agirre, A., & "
    "Perez-de-Viñaspre, O. (2025). EsBBQ and CaBBQ: The Spanish and Catalan Bias Benchmarks for Question "
    "Answering. arXiv:2507.11216."
)


def _info(dataset: str) -> DatasetInfo:
    lang = LANGUAGES[dataset]
    language = {"es": "Spanish", "ca": "Catalan"}[lang]
    return DatasetInfo(
        name=dataset,
        title=f"{TITLES[dataset]} ({language} Bias Benchmark for Question Answering)",
        languages=(lang,),
        licence="CC BY 4.0 (Hugging Face dataset card); Apache-2.0 (GitHub repository)",
        citation=CITATION,
        url="https://github.com/langtech-bsc/EsBBQ-CaBBQ",
        source_hint=(f"a clone of github.com/langtech-bsc/EsBBQ-CaBBQ: its root or its data_{lang} folder "
                     "(Age.full.csv, ...; .csv.gz and .full.jsonl accepted)"),
        hub=HUB_REPOS[dataset],
        hub_revision=HUB_REVISIONS[dataset],
        categories=CATEGORIES,
    )


ESBBQ_INFO = _info("esbbq")
CABBQ_INFO = _info("cabbq")


@register("esbbq", ESBBQ_INFO)
def _load_esbbq(source: str | os.PathLike[str] | None = None, categories: Iterable[str] | None = None,
                **kw: Any) -> pd.DataFrame:
    return load_esbbq(source, categories, **kw)


@register("cabbq", CABBQ_INFO)
def _load_cabbq(source: str | os.PathLike[str] | None = None, categories: Iterable[str] | None = None,
                **kw: Any) -> pd.DataFrame:
    return load_cabbq(source, categories, **kw)
