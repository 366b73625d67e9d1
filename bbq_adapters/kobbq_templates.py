"""KoBBQ's templates file (``KoBBQ_templates.tsv``) and the group each answer option names.

Part of :mod:`bbq_adapters.kobbq`, kept apart so the adapter's loading logic reads on its own:
a sample's answer options are matched to its template's two sides (``N1_info``/``N2_info``) and
each side's Korean group label is mapped to its English target label (:mod:`.kobbq_groups`).
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .common import (
    BadLine,
    RecordError,
    open_text,
)
from .errors import DatasetError
from .kobbq_groups import GROUP_LABELS, NAME_GROUPS, SIDE_LABELS  # the lexicon (data)
from .schema import LoadReport


#: Items-table category -> the sample id's category prefix. The names are KoBBQ's own (they
#: already follow BBQ's spelling; Race_ethnicity_nationality merges BBQ's two categories).
CATEGORIES: dict[str, str] = {
    "Age": "age",
    "Disability_status": "disability_status",
    "Domestic_area_of_origin": "domestic_area_of_origin",
    "Educational_background": "educational_background",
    "Family_structure": "family_structure",
    "Gender_identity": "gender_identity",
    "Physical_appearance": "physical_appearance",
    "Political_orientation": "political_orientation",
    "Race_ethnicity_nationality": "race_ethnicity_nationality",
    "Religion": "religion",
    "SES": "ses",
    "Sexual_orientation": "sexual_orientation",
}

TEMPLATE_FIELDS = (
    "Category", "ID", "version", "Names", "N1_info", "N1_info_translated", "N2_info",
    "N2_info_translated", "Target_group", "Target_group_translated",
)
_VERSIONS = "abcd"
TEMPLATES_FILE = "KoBBQ_templates.tsv"


def _squash(text: str) -> str:
    """Whitespace-free form used to compare words (KoBBQ spaces words inconsistently)."""
    return re.sub(r"\s+", "", text)


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@dataclass(frozen=True)
class Template:
    """The part of one template version this adapter needs."""

    category: str
    template_id: int
    version: str
    names: Mapping[str, tuple[str, ...]]  # side -> candidate words
    groups: Mapping[str, tuple[str, ...]]  # side -> Korean group labels
    target_side: str  # the side of Target_group
    where: str  # file:line, for messages

    def other(self, side: str) -> str:
        return "N2" if side == "N1" else "N1"


def _split_list(text: str) -> tuple[str, ...]:
    return tuple(x for x in (_clean(p) for p in text.split(",")) if x)


def _parse_names(text: str) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for part in re.split(r";\s*", text.strip()):
        m = re.match(r"\s*(N[12])\s*:\s*\[(.*)\]\s*$", part)
        if not m:
            raise RecordError("Names", f"cannot read Names part {part!r:.80} (expected 'N1: [a, b]; N2: [c]')")
        out[m.group(1)] = _split_list(m.group(2))
    if set(out) != {"N1", "N2"} or not out["N1"] or not out["N2"]:
        raise RecordError("Names", f"Names must list words for N1 and N2, got {text!r:.80}")
    return out


def _parse_template(rec: dict[str, str], where: str) -> Template:
    for key in TEMPLATE_FIELDS:
        if key not in rec or rec[key] is None:
            raise RecordError(key, f"missing field {key!r}")
    category = rec["Category"].strip()
    if category not in CATEGORIES:
        raise RecordError("Category", f"unknown category {category!r}")
    if not rec["ID"].strip().isdigit():
        raise RecordError("ID", f"template ID must be a number, got {rec['ID']!r}")
    version = rec["version"].strip()
    if version not in _VERSIONS:
        raise RecordError("version", f"version must be one of a, b, c, d, got {version!r}")
    names = _parse_names(rec["Names"])
    groups = {side: _split_list(rec[f"{side}_info"]) for side in ("N1", "N2")}
    for side in ("N1", "N2"):
        if not groups[side]:
            raise RecordError(f"{side}_info", f"{side}_info is empty")
    target = _split_list(rec["Target_group"])
    sides = [s for s in ("N1", "N2") if groups[s] == target]
    if len(sides) != 1:
        raise RecordError(
            "Target_group",
            f"Target_group {rec['Target_group']!r} must equal exactly one of N1_info {rec['N1_info']!r} "
            f"and N2_info {rec['N2_info']!r}",
        )
    return Template(category, int(rec["ID"]), version, names, groups, sides[0], where)


def _tsv_records(path: Path, required: Sequence[str]) -> Iterator[tuple[int, Any]]:
    """(line, row dict) for each data row of a (gzipped) TSV file; a short row is a BadLine."""
    try:
        with open_text(path) as fh:
            reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
            try:
                header = next(reader)
            except StopIteration:
                raise DatasetError(f"{path}: the file is empty: re-download it") from None
            header = [h.strip().lstrip("\ufeff") for h in header]
            missing = [f for f in required if f not in header]
            if missing:
                raise DatasetError(
                    f"{path}: not a KoBBQ file: its header lacks {', '.join(missing)} "
                    f"(it has {', '.join(header[:12])})"
                )
            for fields in reader:
                lineno = reader.line_num
                if not any(f.strip() for f in fields):
                    continue
                if len(fields) != len(header):
                    yield lineno, BadLine(
                        f"expected {len(header)} tab-separated fields, got {len(fields)}; "
                        "the file may be truncated or corrupt: re-download it"
                    )
                    continue
                yield lineno, dict(zip(header, fields))
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        yield -1, BadLine(f"cannot read the file ({exc}); it may be truncated or corrupt: re-download it")


@dataclass
class _Templates:
    by_key: dict[tuple[str, int, str], Template]
    broken: dict[tuple[str, int, str], str]  # key -> why the template row is unusable
    where: str


def load_templates(path: str | os.PathLike[str]) -> _Templates:
    """Read ``KoBBQ_templates.tsv``: one :class:`Template` per (category, id, version).

    A malformed template row does not stop loading: the samples drawn from it become record
    errors that name it (so ``on_error="skip"`` skips just those)."""
    p = Path(path)
    if not p.is_file():
        raise DatasetError(
            f"kobbq: templates file {str(p)!r} does not exist: pass data/{TEMPLATES_FILE} of a clone of "
            "github.com/naver-ai/KoBBQ"
        )
    out = _Templates({}, {}, str(p))
    for lineno, rec in _tsv_records(p, TEMPLATE_FIELDS):
        where = f"{p}:{lineno}"
        if isinstance(rec, BadLine):
            raise DatasetError(f"{where}: {rec.message}")
        key = (rec.get("Category", "").strip(), int(rec["ID"]) if rec.get("ID", "").strip().isdigit() else -1,
               rec.get("version", "").strip())
        try:
            tpl = _parse_template(rec, where)
        except RecordError as err:
            out.broken[key] = f"{where}: field {err.field}: {err}"
            continue
        if key in out.by_key:
            raise DatasetError(f"{where}: template {key[0]} {key[1]}{key[2]} appears twice "
                               f"(first at {out.by_key[key].where})")
        out.by_key[key] = tpl
    if not out.by_key:
        raise DatasetError(f"{p}: no usable template rows: re-download {TEMPLATES_FILE}")
    return out


def _word_sides(option: str, tpl: Template) -> str | None:
    """The side whose (longest) candidate word the option contains, or None."""
    text = _squash(option)
    best: tuple[int, str] | None = None
    for side in ("N1", "N2"):
        for word in tpl.names[side]:
            w = _squash(word)
            if w and w in text and (best is None or len(w) > best[0]):
                best = (len(w), side)
    return None if best is None else best[1]


def _group_of(option: str, side: str, tpl: Template, report: LoadReport) -> str:
    """The target label of an option on ``side`` (module docstring, steps 2-3)."""
    groups = tpl.groups[side]
    if len(groups) == 1:
        return _english(groups[0], report)
    side_label = SIDE_LABELS.get((tpl.category, groups))
    if side_label is not None:
        return side_label
    text = _squash(option)
    best: tuple[int, str] | None = None
    for word in tpl.names[side]:
        w = _squash(word)
        if not w or w not in text:
            continue
        group = next((g for g in groups if _squash(g) == w), None) or NAME_GROUPS.get((tpl.category, w))
        if group is not None and group in groups and (best is None or len(w) > best[0]):
            best = (len(w), group)
    if best is None:  # the option names no listed group (or was paraphrased): the whole side
        note = "an option names no single group of its template side: its target joins the side's groups with ' / '"
        report.notes[note] = report.notes.get(note, 0) + 1
        return " / ".join(_english(g, report) for g in groups)
    return _english(best[1], report)


def _english(group: str, report: LoadReport) -> str:
    label = GROUP_LABELS.get(group)
    if label is None:
        note = f"no English label for group {group!r}: the Korean label is used"
        report.notes[note] = report.notes.get(note, 0) + 1
        return group
    return label
