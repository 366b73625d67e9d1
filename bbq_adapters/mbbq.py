"""The MBBQ adapter (Neplenbroek, Bisazza & Fernández, COLM 2024): BBQ in English, Dutch,
Spanish and Turkish, in BBQ's own jsonl schema.

MBBQ is not on the Hugging Face hub by its authors, and its repository states no licence (the
README says it is for evaluation only, not for training). Clone
https://github.com/Veranep/MBBQ and pass the clone's root or its ``data`` folder as ``source``.

Files: ``data/<Category>_<lang>.jsonl`` (the bias set) and ``data/<Category>_control_<lang>.jsonl``
(the control set), for the six categories Age, Disability_status, Gender_identity,
Physical_appearance, SES, Sexual_orientation and the languages en, nl, es, tr (either may be
gzipped). One load reads one language (``language="nl"``) and one set (``control=True`` for the
control set): a study asks one dataset in one prompt language.

The control set uses proper names instead of group descriptors ("Luna and Emma" instead of "a
grandmother and a granddaughter"); the MBBQ authors use it to measure QA accuracy apart from bias.
Its items keep their category (so that the personas of "Age" are asked the Age control items and
accuracy lines up with the bias set category by category), carry ``control=True``, the
``data_note`` "control set: ..." and item ids ``mbbq/<lang>/<Category>_control/<example_id>``;
bias-set item ids are ``mbbq/<lang>/<Category>/<example_id>``. Bias scores of control items are
not bias: their targets are the tags the names were drawn for (Sexual_orientation: gay/nonGay,
a label the bias set and the persona catalogue do not have).

Targets are the answers' tags (:mod:`bbq_adapters.bbq`; MBBQ has none of the categories whose BBQ
target is the name except Sexual_orientation, where the bias set's names equal its tags and the
control set's names are proper names with the group in the tag: gay/nonGay). Labels are
language-neutral, so one persona catalogue fits all four languages:
translated Gender_identity tags (mujer/hombre/chica/chico; vrouw/man/meisje/jongen;
kadın/adam/kız/erkek çocuk; and English woman/man/girl/boy) map to BBQ's "F"/"M", as
``stereotyped_groups`` say; translated sexual orientations map to BBQ's English names (lesbiana,
lesbisch, lezbiyen -> lesbian; homo, eşcinsel -> gay; heterosexual, hetero, heteroseksüel ->
straight; ...); SES "low SES" matches lowSES (:data:`bbq_adapters.bbq.TAG_SYNONYMS`). Age,
Disability_status, Physical_appearance and SES tags are BBQ's English tags in every language.

Known problems (../shared/bbq_family/MBBQ/SOURCE.txt), flagged and excluded from metrics:

- Physical_appearance templates 6 and 10, version b, disambiguated (BBQ's defect, every language,
  bias and control sets: ids 461-559 odd, 50 rows, and 585-607 odd, 12 rows): the label names
  the wrong person.
- es Gender_identity: 12 rows (example_id 28-31, 324-327, 516-519) tag both group answers
  "chico", so the target cannot be told: reason "both group answers are tagged 'chico' ...".
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from . import register
from .bbq import PHYSICAL_APPEARANCE_DEFECTS, _items_table, parse_record
from .common import check_categories, check_on_error, find_file, jsonl_records, resolve_dir
from .errors import DatasetError
from .schema import DatasetInfo, LoadReport

DATASET = "mbbq"
LANGUAGES: tuple[str, ...] = ("en", "nl", "es", "tr")
CATEGORIES: tuple[str, ...] = (
    "Age",
    "Disability_status",
    "Gender_identity",
    "Physical_appearance",
    "SES",
    "Sexual_orientation",
)
KNOWN_DEFECTS = PHYSICAL_APPEARANCE_DEFECTS
#: Every target is the answer's tag (see the module docstring).
TARGET_BY = {"Sexual_orientation": "tag"}
CONTROL_NOTE = "control set: proper names instead of group descriptors, for QA accuracy only"

URL = "https://github.com/Veranep/MBBQ"
_HINT = (
    "clone https://github.com/Veranep/MBBQ (not on the Hugging Face hub by its authors) and pass the clone's root "
    "or its data folder (it holds Age_en.jsonl, Age_control_en.jsonl, ...)"
)
_FILE = re.compile(r"^(?P<cat>[A-Za-z_]+?)(?P<control>_control)?_(?P<lang>[a-z]{2})\.jsonl(?:\.gz)?$")


def _has_data(directory: Path) -> bool:
    return any(_FILE.match(p.name) and _FILE.match(p.name).group("cat") in CATEGORIES  # type: ignore[union-attr]
               for p in directory.iterdir() if p.is_file())


def _file_name(category: str, language: str, control: bool) -> str:
    return f"{category}{'_control' if control else ''}_{language}.jsonl"


def load_mbbq(
    source: str | os.PathLike[str] | None = None,
    categories: Iterable[str] | None = None,
    *,
    language: str = "en",
    control: bool = False,
    on_error: Literal["raise", "skip"] = "raise",
    include_excluded: bool = True,
) -> pd.DataFrame:
    """Load one language of MBBQ as the items table.

    Args:
        source: a clone of github.com/Veranep/MBBQ (its root or its ``data`` folder). None is an
            error: MBBQ is not on the Hugging Face hub by its authors.
        categories: category names (e.g. ``["Age"]``); None = every category present in this
            language.
        language: ``"en"``, ``"nl"``, ``"es"`` or ``"tr"``: which files (``<Category>_<language>``).
        control: False (default): the bias set; True: the control set
            (``<Category>_control_<language>``, QA accuracy only; see the module docstring).
        on_error: ``"raise"``: the first invalid record raises one ``DatasetError`` naming file,
            line and field; ``"skip"``: invalid records are left out and listed in the load report.
        include_excluded: keep the known-defective items (flagged ``excluded=True``).

    Returns:
        The items table (``language`` column = ``language``; extra columns ``version`` and
        ``control``), ordered by category then example id, with ``attrs["load_report"]``.
    """
    check_on_error(on_error)
    if language not in LANGUAGES:
        raise DatasetError(f"mbbq: unknown language {language!r}: choose one of {', '.join(LANGUAGES)} "
                           "(one language per load)")
    if control not in (True, False):
        raise DatasetError(f"mbbq: control must be True or False, got {control!r}")
    control = bool(control)
    if source is None:
        raise DatasetError(f"mbbq: no source given: {_HINT}")
    directory = resolve_dir(source, dataset=DATASET, must_contain=_has_data, hint=_HINT, subdirs=("data",))
    present = {c: p for c in CATEGORIES if (p := find_file(directory, _file_name(c, language, control)))}
    set_name = "control set" if control else "bias set"
    if categories is None:
        wanted = [c for c in CATEGORIES if c in present]
        if not wanted:
            raise DatasetError(
                f"mbbq: no {set_name} files for language {language!r} in {str(directory)!r} "
                f"(expected e.g. {_file_name('Age', language, control)}): {_HINT}"
            )
    else:
        wanted = check_categories(DATASET, categories, CATEGORIES)
        missing = [c for c in wanted if c not in present]
        if missing:
            raise DatasetError(
                f"mbbq: category {', '.join(missing)} has no {set_name} file for language {language!r} in "
                f"{str(directory)!r} (expected {', '.join(_file_name(c, language, control) for c in missing)})"
            )

    def parse(rec: Any) -> dict[str, Any]:
        row = parse_record(rec, TARGET_BY)
        row["language"] = language
        row["control"] = control
        row["item_id"] = f"{DATASET}/{language}/{row['category']}{'_control' if control else ''}/{row['example_id']}"
        if control:
            row["_issues"].append((CONTROL_NOTE, False))
        return row

    sources = [(c, str(present[c]), jsonl_records(present[c])) for c in wanted]
    return _items_table(sources, LoadReport(dataset=DATASET), on_error=on_error, include_excluded=include_excluded,
                        dataset=DATASET, language=language, parse=parse, defects=KNOWN_DEFECTS,
                        extra_columns=("control",))


INFO = DatasetInfo(
    name=DATASET,
    title="MBBQ",
    languages=LANGUAGES,
    licence="none stated: the upstream repository has no licence; its README allows evaluation only (not "
    "training). Read from a user's clone; not redistributed with this package",
    citation="Neplenbroek, V., Bisazza, A., & Fernández, R. (2024). MBBQ: A Dataset for Cross-Lingual Comparison "
    "of Stereotypes in Generative LLMs. In Proceedings of the Conference on Language Modeling (COLM 2024). "
    "arXiv:2406.07243.",
    url=URL,
    source_hint="a clone of github.com/Veranep/MBBQ: its root or its data folder (Age_en.jsonl, ...); "
    "options language=en|nl|es|tr, control=true for the control set",
    categories=CATEGORIES,
)


register(DATASET, INFO)(load_mbbq)
