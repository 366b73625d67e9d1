"""The JBBQ adapter (Yanaka et al., GeBNLP 2025): BBQ adapted to Japanese, in BBQ's jsonl schema.

JBBQ is distributed by request only: fill in the Google Form linked from
https://github.com/ynklab/JBBQ_data and the authors send a download link. Redistribution is
prohibited, so nothing of it ships with this package and there is no hub copy: pass the folder
that holds the jsonl files you received as ``source`` (or a folder with a ``data`` sub-folder).

Format (the JBBQ README): BBQ's fields (example_id, question_index, question_polarity,
context_condition, category, answer_info, additional metadata, context, question, ans0-ans2,
label) plus ``is_additional`` (1 = a template JBBQ added, 0 = one adapted from BBQ). The README
spells the metadata field ``additional_metadeta``; both spellings are read. ``is_additional`` is
kept as an extra column (0 where a record lacks it).

Files: JBBQ's five categories (Age, Disability_status, Gender_identity, Physical_appearance,
Sexual_orientation) presumably come as ``<Category>.jsonl`` like BBQ's, but the data were not
available to check. The adapter is lenient: it reads every ``*.jsonl`` / ``*.jsonl.gz`` file of
the folder (a plain file wins over a gzipped copy of the same name) and takes each item's
category from its record. A file named after a category must hold only that category.

Targets follow BBQ's rule (:mod:`bbq_adapters.bbq`) with one difference: Sexual_orientation
uses the answer's *tag*, not its name, because JBBQ's names are Japanese text while its tags
match ``stereotyped_groups`` (BBQ's English tags). Labels are mapped to BBQ's where they are
Japanese words for the same group (:data:`bbq_adapters.bbq.TAG_SYNONYMS`: 女性/女の子 -> F,
男性/男の子 -> M; ゲイ -> gay, レズビアン -> lesbian, 異性愛者 -> straight, ...); other labels stay
as the data spell them.

Known problems: none verified (no data were available). JBBQ adapts BBQ's templates; if its
Physical_appearance templates 6 and 10 (version b) keep BBQ's wrong disambiguated labels, they
are not flagged here: check ``question_index``/``version`` against BBQ before relying on them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from . import register
from .bbq import _items_table, parse_record
from .common import RecordError, check_categories, check_on_error, jsonl_records, resolve_dir
from .errors import DatasetError
from .schema import DatasetInfo, LoadReport

DATASET = "jbbq"
LANGUAGE = "ja"
CATEGORIES: tuple[str, ...] = (
    "Age",
    "Disability_status",
    "Gender_identity",
    "Physical_appearance",
    "Sexual_orientation",
)
#: JBBQ's Sexual_orientation names are Japanese; its tags are BBQ's (see the module docstring).
TARGET_BY = {"Sexual_orientation": "tag"}
META_KEYS = ("additional_metadata", "additional_metadeta")

URL = "https://github.com/ynklab/JBBQ_data"
_HINT = (
    "JBBQ is distributed by request only (redistribution prohibited): request it through the form linked from "
    "https://github.com/ynklab/JBBQ_data, then pass the folder holding the jsonl files you received "
    "(Age.jsonl, ...)"
)


def _data_files(directory: Path) -> list[Path]:
    files = {p.name: p for p in directory.iterdir() if p.is_file() and p.name.endswith(".jsonl")}
    for p in directory.iterdir():
        if p.is_file() and p.name.endswith(".jsonl.gz") and p.name[:-3] not in files:
            files[p.name] = p
    return [files[k] for k in sorted(files)]


def _stem(path: Path) -> str:
    return path.name.split(".jsonl")[0]


def _normalise_meta(rec: Any) -> Any:
    """The record with ``additional_metadeta`` [sic] read as ``additional_metadata``."""
    if isinstance(rec, dict) and "additional_metadata" not in rec and "additional_metadeta" in rec:
        rec = dict(rec)
        rec["additional_metadata"] = rec.pop("additional_metadeta")
    return rec


def _is_additional(rec: Any) -> int:
    value = rec.get("is_additional", 0) if isinstance(rec, dict) else 0
    if value is None:
        return 0
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str) and value.strip() in ("0", "1"):
        return int(value.strip())
    if isinstance(value, int) and value in (0, 1):
        return value
    raise RecordError("is_additional", f"is_additional must be 0 or 1, got {value!r:.40}")


def load_jbbq(
    source: str | os.PathLike[str] | None = None,
    categories: Iterable[str] | None = None,
    *,
    on_error: Literal["raise", "skip"] = "raise",
    include_excluded: bool = True,
) -> pd.DataFrame:
    """Load JBBQ as the items table (language ``ja``).

    Args:
        source: the folder holding the JBBQ jsonl files (or a folder with a ``data``
            sub-folder). None is an error: JBBQ is distributed by request only.
        categories: category names (e.g. ``["Age"]``); None = every category in the files.
        on_error: ``"raise"``: the first invalid record raises one ``DatasetError`` naming file,
            line and field; ``"skip"``: invalid records are left out and listed in the load report.
        include_excluded: keep items flagged ``excluded=True``.

    Returns:
        The items table with the extra columns ``version`` and ``is_additional`` (0/1), ordered
        by category then example id, with ``attrs["load_report"]``.
    """
    check_on_error(on_error)
    if source is None:
        raise DatasetError(f"jbbq: no source given: {_HINT}")
    directory = resolve_dir(source, dataset=DATASET, hint=_HINT, subdirs=("data",),
                            must_contain=lambda d: bool(_data_files(d)))
    wanted = check_categories(DATASET, categories, CATEGORIES)

    files = _data_files(directory)
    # A file named after a category holds that category only; skip it when not wanted.
    files = [p for p in files if wanted is None or _stem(p) not in CATEGORIES or _stem(p) in wanted]

    def parse(rec: Any) -> dict[str, Any]:
        row = parse_record(_normalise_meta(rec), TARGET_BY)
        row["is_additional"] = _is_additional(rec)
        return row

    sources = [(_stem(p) if _stem(p) in CATEGORIES else None, str(p), jsonl_records(p)) for p in files]
    items = _items_table(sources, LoadReport(dataset=DATASET), on_error=on_error, include_excluded=include_excluded,
                         dataset=DATASET, language=LANGUAGE, parse=parse, defects=(),
                         extra_columns=("is_additional",))
    if wanted is not None:
        missing = [c for c in wanted if c not in set(items["category"])]
        if missing:
            raise DatasetError(f"jbbq: no items of category {', '.join(missing)} in {str(directory)!r} "
                               f"(it has {', '.join(sorted(set(items['category']))) or 'none'})")
        report = items.attrs["load_report"]
        items = items[items["category"].isin(wanted)].reset_index(drop=True)
        items.attrs["load_report"] = report
    if len(items):
        items["is_additional"] = items["is_additional"].astype("int8")
    return items


INFO = DatasetInfo(
    name=DATASET,
    title="JBBQ",
    languages=(LANGUAGE,),
    licence="redistribution prohibited (JBBQ README): data by request from the authors; read from the user's "
    "own copy, never redistributed with this package",
    citation="Yanaka, H., Han, N., Kumon, R., Lu, J., Takeshita, M., Sekizawa, R., Kato, T., & Arai, H. (2025). "
    "JBBQ: Japanese Bias Benchmark for Analyzing Social Biases in Large Language Models. In Proceedings of the 6th "
    "Workshop on Gender Bias in Natural Language Processing (GeBNLP 2025) at ACL 2025. arXiv:2406.02050.",
    url=URL,
    source_hint="the folder holding the JBBQ jsonl files the authors sent you (Age.jsonl, ...)",
    categories=CATEGORIES,
)


register(DATASET, INFO)(load_jbbq)
