"""The BasqBBQ adapter (Zulaika & Saralegi, COLING 2025; data CC BY-NC-SA 4.0, non-commercial).

BasqBBQ is BBQ adapted to Basque and to the culture of the Basque Country, in BBQ's own jsonl
schema. It is not on the Hugging Face hub: clone https://github.com/orai-nlp/BasqBBQ and pass the
clone's root, its ``data`` folder or its ``data/BasqBBQ`` folder as ``source``.

Files. Each category has ``<Category>_ambig.jsonl`` and ``<Category>_disambig.jsonl`` (either
may be gzipped, ``.jsonl.gz``). A clone also holds ``<Category>.jsonl``, which is the two split
files merged (checked record by record upstream): the adapter reads the split files and never
both. Only where a category has no split files does it read the combined file instead.
Category names are Basque in the file names and in the records' ``category``; the items table
uses BBQ's names (:data:`CATEGORY_NAMES`: Adin = Age, Ezgaitasun_egoera = Disability_status,
Genero_identitate = Gender_identity, Itxura_fisikoa = Physical_appearance, MSE (Maila
Sozio-Ekonomikoa) = SES, Nazionalitate = Nationality, Orientazio_sexual = Sexual_orientation,
Arraza_etnizitate = Race_ethnicity). ``categories=`` takes either name.

Targets follow BBQ's rule (:mod:`bbq_adapters.bbq`): the answer's name for Nationality and
Sexual_orientation, its tag otherwise. With ``labels="bbq"`` (default) the labels are then put
in BBQ's spelling where BasqBBQ differs only in spelling or language (:data:`BBQ_LABELS`), so
that results line up with BBQ and the paper's persona catalogue: Old -> old, MSEbaxua ->
lowSES, MSEaltua -> highSES, Basque demonyms -> the English nationality (marokoar -> Moroccan,
...), lesbiana -> lesbian, heterosexual -> straight. Disability, physical appearance and gender
tags are BBQ's already (disabled/nonDisabled, obese/nonObese, ..., F/M, trans, nonTrans,
trans_F, ...). ``labels="source"`` keeps BasqBBQ's own labels. The stereotyped option is matched
on the same mapped labels.

Known problems (../shared/bbq_family/BasqBBQ/SOURCE.txt), flagged and excluded from metrics:
Itxura_fisikoa (Physical_appearance) templates 6 and 10, version b, disambiguated (BBQ's defect,
40 + 18 rows); MSE (SES) template 9 version a and template 10 version b, disambiguated (6 + 6
rows): the label picks the low-SES group where the context says the high-SES group did it.
Noted only: 184 Nazionalitate rows whose "txinatar" answer has no tag (NaN); its target is read
from the name (Chinese). Race/Ethnicity (Arraza_etnizitate) is left out of some copies; no
persona catalogue row covers it.

Licence: CC BY-NC-SA 4.0 (Orai NLP Technologies). Non-commercial use only; credit the authors;
anything adapted from the data (e.g. a saved items table) must carry the same licence. Nothing of
the data ships with this package.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from . import register
from .bbq import (
    PHYSICAL_APPEARANCE_DEFECTS,
    TAG_SYNONYMS,
    Defect,
    _items_table,
    merge_synonyms,
    parse_record,
)
from .common import check_on_error, find_file, jsonl_records, resolve_dir
from .errors import DatasetError
from .schema import DatasetInfo, LoadReport

DATASET = "basqbbq"
LANGUAGE = "eu"

#: BasqBBQ's (Basque) category names -> the items table's (BBQ's) names, in the README's order.
CATEGORY_NAMES: dict[str, str] = {
    "Adin": "Age",
    "Ezgaitasun_egoera": "Disability_status",
    "Genero_identitate": "Gender_identity",
    "Nazionalitate": "Nationality",
    "Itxura_fisikoa": "Physical_appearance",
    "Arraza_etnizitate": "Race_ethnicity",
    "MSE": "SES",
    "Orientazio_sexual": "Sexual_orientation",
}
_BASQUE_NAME = {v: k for k, v in CATEGORY_NAMES.items()}
CATEGORIES: tuple[str, ...] = tuple(sorted(CATEGORY_NAMES.values()))

#: BasqBBQ labels -> BBQ's spelling (``labels="bbq"``): only spelling/language differences.
#: Nationalities are the English names BBQ and the paper's catalogue use.
BBQ_LABELS: dict[str, dict[str, str]] = {
    "Age": {"Old": "old", "nonOld": "nonOld"},
    "SES": {"MSEbaxua": "lowSES", "MSEaltua": "highSES"},
    "Nationality": {
        "afganistandar": "Afghan",
        "alemaniar": "German",
        "britainiar": "British",
        "errumaniar": "Romanian",
        "espainiar": "Spanish",
        "estatubatuar": "American",
        "frantses": "French",
        "italiar": "Italian",
        "kolonbiar": "Colombian",
        "marokoar": "Moroccan",
        "portuges": "Portuguese",
        "senegaldar": "Senegalese",
        "txinatar": "Chinese",
    },
    "Sexual_orientation": {"lesbiana": "lesbian", "heterosexual": "straight"},
}
LABELS = ("bbq", "source")

#: SOURCE.txt: BasqBBQ's own SES label defects (example ids 1609-1619 odd and 1645-1655 odd).
SES_DEFECTS: tuple[Defect, ...] = (
    Defect(
        "SES",
        "label contradicts context: template 9 version a names the low-SES group where the high-SES group did it",
        exclude=True,
        question_index="9",
        version="a",
        context_condition="disambig",
    ),
    Defect(
        "SES",
        "label contradicts context: template 10 version b names the low-SES group where the high-SES group did it",
        exclude=True,
        question_index="10",
        version="b",
        context_condition="disambig",
    ),
)
KNOWN_DEFECTS: tuple[Defect, ...] = (*PHYSICAL_APPEARANCE_DEFECTS, *SES_DEFECTS)

URL = "https://github.com/orai-nlp/BasqBBQ"
_HINT = (
    "clone https://github.com/orai-nlp/BasqBBQ (not on the Hugging Face hub) and pass the clone's root "
    "or its data/BasqBBQ folder (it holds Adin_ambig.jsonl, Adin_disambig.jsonl, ...); "
    "licence CC BY-NC-SA 4.0: non-commercial use only"
)
_SPLIT = re.compile(r"^(?P<cat>.+)_(?P<cond>ambig|disambig)\.jsonl(?:\.gz)?$")


def _has_data(directory: Path) -> bool:
    return any(
        _SPLIT.match(p.name) or p.name.split(".")[0] in CATEGORY_NAMES
        for p in directory.iterdir()
        if p.is_file() and p.name.endswith((".jsonl", ".jsonl.gz"))
    )


def _category_files(directory: Path) -> dict[str, list[Path]]:
    """Items-table category -> the files to read: the ambig and disambig files, or (only where
    both are absent) the combined ``<Category>.jsonl``."""
    out: dict[str, list[Path]] = {}
    for basque, name in CATEGORY_NAMES.items():
        split = [find_file(directory, f"{basque}_{cond}.jsonl") for cond in ("ambig", "disambig")]
        if all(split):
            out[name] = split  # type: ignore[assignment]
        elif any(split):
            have = next(p for p in split if p is not None)
            missing = f"{basque}_{'disambig' if have.name.startswith(basque + '_ambig') else 'ambig'}.jsonl"
            raise DatasetError(
                f"basqbbq: {str(directory)!r} has {have.name} but not {missing}: category {name} needs both "
                "halves; re-download the missing file"
            )
        else:
            combined = find_file(directory, f"{basque}.jsonl")
            if combined is not None:
                out[name] = [combined]
    return out


def _resolve_categories(categories: Iterable[str] | None, present: dict[str, list[Path]], where: str) -> list[str]:
    if categories is None:
        return [c for c in CATEGORIES if c in present]
    wanted = list(categories)
    if not wanted:
        raise DatasetError("basqbbq: no categories given: name at least one category, e.g. Age (or Adin)")
    out: list[str] = []
    for c in wanted:
        name = CATEGORY_NAMES.get(c, c)
        if name not in CATEGORIES:
            raise DatasetError(
                f"basqbbq: unknown category {c!r}: choose from {', '.join(CATEGORIES)} "
                f"(or the Basque names {', '.join(CATEGORY_NAMES)})"
            )
        if name not in present:
            raise DatasetError(
                f"basqbbq: category {name} ({_BASQUE_NAME[name]}) is not in {where!r}: it needs "
                f"{_BASQUE_NAME[name]}_ambig.jsonl and {_BASQUE_NAME[name]}_disambig.jsonl "
                f"(present: {', '.join(c for c in CATEGORIES if c in present) or 'none'})"
            )
        if name not in out:
            out.append(name)
    return out


def load_basqbbq(
    source: str | os.PathLike[str] | None = None,
    categories: Iterable[str] | None = None,
    *,
    on_error: Literal["raise", "skip"] = "raise",
    include_excluded: bool = True,
    labels: Literal["bbq", "source"] = "bbq",
) -> pd.DataFrame:
    """Load BasqBBQ as the items table (language ``eu``).

    Args:
        source: a clone of github.com/orai-nlp/BasqBBQ (its root, ``data`` or ``data/BasqBBQ``
            folder). None is an error: BasqBBQ is not on the Hugging Face hub.
        categories: BBQ or Basque category names (``["Age"]`` or ``["Adin"]``); None = every
            category present.
        on_error: ``"raise"``: the first invalid record raises one ``DatasetError`` naming file,
            line and field; ``"skip"``: invalid records are left out and listed in the load report.
        include_excluded: keep the known-defective items (flagged ``excluded=True``).
        labels: ``"bbq"`` (default): target labels in BBQ's spelling (:data:`BBQ_LABELS`);
            ``"source"``: BasqBBQ's own labels (Old, MSEbaxua, marokoar, lesbiana, ...).

    Returns:
        The items table, ordered by category then example id, with ``attrs["load_report"]``.
    """
    check_on_error(on_error)
    if labels not in LABELS:
        raise DatasetError(f"basqbbq: labels must be 'bbq' or 'source', got {labels!r}")
    if source is None:
        raise DatasetError(f"basqbbq: no source given: {_HINT}")
    directory = resolve_dir(source, dataset=DATASET, must_contain=_has_data, hint=_HINT,
                            subdirs=("data/BasqBBQ", "BasqBBQ"))
    present = _category_files(directory)
    wanted = _resolve_categories(categories, present, str(directory))
    synonyms = merge_synonyms(TAG_SYNONYMS, BBQ_LABELS) if labels == "bbq" else {}

    def parse(rec: Any) -> dict[str, Any]:
        return parse_record(rec, category_names=CATEGORY_NAMES, synonyms=synonyms)

    sources = [(c, str(p), jsonl_records(p)) for c in wanted for p in present[c]]
    return _items_table(sources, LoadReport(dataset=DATASET), on_error=on_error, include_excluded=include_excluded,
                        dataset=DATASET, language=LANGUAGE, parse=parse, defects=KNOWN_DEFECTS)


INFO = DatasetInfo(
    name=DATASET,
    title="BasqBBQ",
    languages=(LANGUAGE,),
    licence="CC BY-NC-SA 4.0 (Orai NLP Technologies): non-commercial use only; adaptations must carry the same "
    "licence; not redistributed with this package",
    citation="Zulaika, M., & Saralegi, X. (2025). BasqBBQ: A QA Benchmark for Assessing Social Biases in LLMs "
    "for Basque, a Low-Resource Language. In Proceedings of the 31st International Conference on Computational "
    "Linguistics (COLING 2025).",
    url=URL,
    source_hint="a clone of github.com/orai-nlp/BasqBBQ: its root or its data/BasqBBQ folder "
    "(Adin_ambig.jsonl, Adin_disambig.jsonl, ...)",
    categories=CATEGORIES,
)


register(DATASET, INFO)(load_basqbbq)
