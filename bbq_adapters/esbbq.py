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

import inspect
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from . import register
from .common import (
    check_on_error,
    collect_rows,
    find_file,
    finish_items,
    flag,
    hub_records,
    jsonl_records,
    pin_revision,
    resolve_dir,
)
from .errors import DatasetError
from .esbbq_records import (  # noqa: F401  (re-exported: the adapter's public names)
    CATEGORIES,
    CATEGORY_MAP,
    DEFAULT_UNKNOWN,
    HUB_REPOS,
    HUB_REVISIONS,
    HUB_REVISION_VERIFIED,
    HUB_SPLIT,
    LANGUAGES,
    NOTE_QUESTION_TYPE,
    NOTE_SWAPPED,
    REQUIRED_FIELDS,
    SOURCE_CATEGORIES,
    TARGET_ALIASES,
    TITLES,
    UNKNOWN_PLACEHOLDER,
    UNKNOWN_WORDINGS,
    _FILE_SUFFIXES,
    _TO_SOURCE,
    csv_records,
    parse_record,
)
from .options import ORDERS, shuffle_row
from .schema import (
    DatasetInfo,
    LoadReport,
)

#: English names of the two languages (titles and docstrings).
LANGUAGE_NAMES = {"es": "Spanish", "ca": "Catalan"}


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


def _loader(dataset: Literal["esbbq", "cabbq"]) -> Callable[..., pd.DataFrame]:
    """``load_<dataset>(source, categories, **options)``: :func:`load_spanish_bbq` of one dataset,
    with its signature (less ``dataset``) for ``help()`` and editors."""

    def load(source: str | os.PathLike[str] | None = None, categories: Iterable[str] | None = None,
             **options: Any) -> pd.DataFrame:
        return load_spanish_bbq(dataset, source, categories, **options)

    whole = inspect.signature(load_spanish_bbq)
    load.__signature__ = whole.replace(parameters=[p for p in whole.parameters.values() if p.name != "dataset"])  # type: ignore[attr-defined]
    load.__name__ = load.__qualname__ = f"load_{dataset}"
    load.__doc__ = (f"{TITLES[dataset]} ({LANGUAGE_NAMES[LANGUAGES[dataset]]}) as the items table; the options are "
                    ":func:`load_spanish_bbq`'s.")
    return load


load_esbbq = _loader("esbbq")
load_cabbq = _loader("cabbq")


CITATION = (
    "Ruiz-Fernández, V., Mina, M., Falcão, J., Vasquez-Reina, L., Sallés, A., Gonzalez-Agirre, A., & "
    "Perez-de-Viñaspre, O. (2025). EsBBQ and CaBBQ: The Spanish and Catalan Bias Benchmarks for Question "
    "Answering. arXiv:2507.11216."
)


def _info(dataset: str) -> DatasetInfo:
    lang = LANGUAGES[dataset]
    return DatasetInfo(
        name=dataset,
        title=f"{TITLES[dataset]} ({LANGUAGE_NAMES[lang]} Bias Benchmark for Question Answering)",
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


register("esbbq", ESBBQ_INFO)(load_esbbq)
register("cabbq", CABBQ_INFO)(load_cabbq)
