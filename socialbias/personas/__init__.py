"""Personas and persona instructions: the paper's catalogue, and loaders for your own.

The shipped data (``data/personas.csv``, ``data/persona_instructions.txt``) are those of
Shin, Song, Lee, Jeong, Park, "Ask LLMs Directly, 'What shapes your bias?': Measuring Social
Bias in Large Language Models", Findings of ACL 2024 (arXiv 2406.04064), from the authors'
repository ddindidu/BiasedPersona (see ``data/CITATION.md``).

The personas table has one row per persona:

``persona`` (the name put into the instruction, e.g. "Muslim"), ``persona_category`` (the BBQ
category whose items it is asked, e.g. "Religion"), ``persona_group`` (the catalogue's
subcategory, e.g. "old" for "elder", or the name where there is none), ``member_of`` (the target
label of that category the persona belongs to, per the adapter's target rule: "Muslim",
"old", "lowSES", "Black", "Japanese", ...).

Other datasets of the BBQ family have their own catalogue (``data/catalogues/<dataset>.csv``):
the paper's persona categories mapped to that dataset's groups, with the persona's name in
each prompt language (columns ``Category, Subcategory, Target, Name_en, Name_<lang>...``;
``Target`` is the dataset's target label the persona belongs to, stated explicitly because the
paper's name/tag rule is BBQ's). ``load_personas("paper", dataset="kobbq", language="ko")``
picks the Korean names; ``language="en"`` the English fallback. A catalogue of your own may use
the same columns, or just ``Category, Subcategory, Name``.

**Placebo personas** (a documented control group, off by default): identity-free roles such as
"a person who enjoys gardening" (``data/placebo.csv``, :func:`load_placebo`; eight roles,
English only), asked every category's items exactly like a persona. Their ``persona_group``
is ``"placebo"`` (:data:`PLACEBO_GROUP`) and ``member_of`` is empty: they never get an
in-group edge, never count as personas of a target, and are left out of PB; their PB is the
floor a persona must beat (:mod:`socialbias.metrics.placebo`, docs/method.md section 8). A
catalogue of your own may add placebo roles as rows with Subcategory ``placebo`` (no Target).
With ``--placebo-personas`` a study asks 8 more roles per category: the prompts grow by
8 x items x instructions per category (with the paper's 11 Religion personas, by 8/12 = 67%).

The **default** persona is the model without a persona: name ``""`` (:data:`DEFAULT_PERSONA`),
an empty system message, asked once per instruction index k so that run k of the default is
paired with instruction k of every persona (docs/method.md section 1). :func:`socialbias.expand.expand`
adds it; it is not a row of the catalogue (the catalogue's "Baseline" row is dropped on load).
"""

from __future__ import annotations

import csv
import io
import os
from importlib import resources
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from socialbias.bbq_adapters.bbq import NAME_TARGET_CATEGORIES

from ..errors import InputError
from ..files import read_text_utf8

#: The default (no-persona) persona's name.
DEFAULT_PERSONA = ""

#: Personas the paper ran but left out of its reported numbers (docs/method.md section 1). Neither
#: is a target label of its category in BBQ ("Orthodox" occurs only in stereotyped_groups), so
#: they have no in-group edge in the perception graph.
PAPER_DROPPED: dict[str, tuple[str, ...]] = {"Race_ethnicity": ("Alaskan",), "Religion": ("Orthodox",)}

PERSONA_COLUMNS = ("persona", "persona_category", "persona_group", "member_of")
#: ``persona_group`` of a placebo persona (an identity-free role; a control, not a target's persona).
PLACEBO_GROUP = "placebo"

CITATION = (
    "Shin, J., Song, H., Lee, H., Jeong, S., & Park, J. C. (2024). Ask LLMs Directly, "
    "'What shapes your bias?': Measuring Social Bias in Large Language Models. "
    "Findings of ACL 2024. arXiv:2406.04064."
)

_CATALOGUE_ALIASES = {
    "category": "Category",
    "persona_category": "Category",
    "subcategory": "Subcategory",
    "persona_group": "Subcategory",
    "group": "Subcategory",
    "name": "Name",
    "persona": "Name",
    "target": "Target",
    "member_of": "Target",
}


def _data_text(name: str) -> str:
    return resources.files(__package__).joinpath("data", name).read_text(encoding="utf-8")


def _member_of(category: str, group: str, name: str) -> str:
    """The target label a persona belongs to: its name where targets are names, else its group."""
    if category in NAME_TARGET_CATEGORIES:
        return name
    return group or name


def _name_column(fieldnames: list[str], language: str, where: str) -> str | None:
    """The column holding persona names in ``language``: ``Name_<language>``, else plain ``Name``."""
    by_lower = {f.strip().lower(): f.strip() for f in fieldnames}
    if f"name_{language}" in by_lower:
        return by_lower[f"name_{language}"]
    languages = sorted(f[5:] for f in by_lower if f.startswith("name_"))
    if languages and "name" not in by_lower and "persona" not in by_lower:
        raise InputError(
            f"persona file {where!r} has no persona names in language {language!r} (it has {', '.join(languages)}): "
            f"add a Name_{language} column, or ask in English with --prompt-language en"
        )
    return None


def _read_catalogue(text: str, where: str, language: str = "en") -> pd.DataFrame:
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None:
        raise InputError(f"persona file {where!r} is empty: it needs a header row 'Category,Subcategory,Name'")
    name_column = _name_column(list(reader.fieldnames), language, where)
    columns = {f: _CATALOGUE_ALIASES.get(f.strip().lower(), f.strip()) for f in reader.fieldnames}
    if name_column is not None:
        columns = {f: ("Name" if f.strip() == name_column else ("" if c == "Name" else c)) for f, c in columns.items()}
    missing = [c for c in ("Category", "Name") if c not in columns.values()]
    if missing:
        raise InputError(
            f"persona file {where!r} lacks column(s) {', '.join(missing)} (it has {', '.join(reader.fieldnames)}): "
            "use a CSV with header 'Category,Subcategory,Name' (Subcategory may be empty)"
        )
    rows = []
    for lineno, raw in enumerate(reader, start=2):
        rec = {columns[k]: (v or "").strip() for k, v in raw.items() if k is not None and columns.get(k)}
        category, name = rec.get("Category", ""), rec.get("Name", "")
        if not category or not name:
            raise InputError(f"persona file {where!r}, line {lineno}: Category and Name must not be empty")
        if category == "Baseline":  # the paper's name for the default persona
            continue
        group = rec.get("Subcategory", "")
        if group == PLACEBO_GROUP:
            if rec.get("Target", ""):
                raise InputError(f"persona file {where!r}, line {lineno}: placebo role {name!r} has a Target; a "
                                 "placebo is identity-free: leave Target empty")
            rows.append((name, category, group, ""))
            continue
        member = rec.get("Target", "") or _member_of(category, group, name)
        rows.append((name, category, group or member or name, member))
    table = pd.DataFrame(rows, columns=list(PERSONA_COLUMNS))
    table["placebo"] = table["persona_group"] == PLACEBO_GROUP
    dupes = table[table.duplicated(["persona_category", "persona"])]
    if len(dupes):
        first = dupes.iloc[0]
        raise InputError(
            f"persona file {where!r}: persona {first.persona!r} appears twice in category {first.persona_category!r}: "
            "remove the duplicate row"
        )
    return table


def load_personas(
    source: str | os.PathLike[str] = "paper",
    categories: Iterable[str] | None = None,
    names: Iterable[str] | None = None,
    *,
    drop_paper_excluded: bool = False,
    dataset: str = "bbq",
    language: str = "en",
) -> pd.DataFrame:
    """The personas table (see the module docstring).

    Args:
        source: ``"paper"`` for the paper's catalogue (for a dataset other than BBQ: its
            adaptation to that dataset's groups), or the path of your own CSV with columns
            ``Category, Subcategory, Name`` (Subcategory may be empty), optionally ``Target``
            and ``Name_<lang>`` columns.
        categories: keep only personas of these BBQ categories.
        names: keep only these persona names; an unknown name is an error.
        drop_paper_excluded: drop the personas the paper ran but did not report (Alaskan, Orthodox).
        dataset: whose catalogue ``"paper"`` means (``data/catalogues/<dataset>.csv`` unless BBQ).
        language: the prompt language: persona names come from the ``Name_<language>`` column.
    """
    if str(source) == "paper" and dataset == "bbq":
        table = _read_catalogue(_data_text("personas.csv"), "paper catalogue", language)
    elif str(source) == "paper":
        try:
            text = _data_text(f"catalogues/{dataset}.csv")
        except FileNotFoundError:
            raise InputError(
                f"no persona catalogue ships for dataset {dataset!r}: pass your own CSV with --personas FILE "
                "(columns Category, Subcategory, Target, Name)"
            ) from None
        table = _read_catalogue(text, f"{dataset} catalogue", language)
    else:
        path = Path(source)
        if not path.is_file():
            raise InputError(f"persona file {str(path)!r} does not exist: give a CSV path, or 'paper'")
        table = _read_catalogue(read_text_utf8(path, "persona file"), str(path), language)
    if categories is not None:
        cats = list(categories)
        table = table[table["persona_category"].isin(cats)]
    if names is not None:
        wanted = list(names)
        unknown = sorted(set(wanted) - set(table["persona"]))
        if unknown:
            raise InputError(
                f"unknown persona(s) {', '.join(map(repr, unknown))}: choose from the catalogue "
                f"({', '.join(sorted(set(table['persona'])))}) or pass your own persona CSV"
            )
        table = table[table["persona"].isin(wanted)]
    if drop_paper_excluded:
        dropped = [(c, n) for c, ns in PAPER_DROPPED.items() for n in ns]
        keep = ~pd.Series(list(zip(table["persona_category"], table["persona"])), index=table.index).isin(dropped)
        table = table[keep]
    return table.reset_index(drop=True)


def _check_template(template: str, where: str) -> str:
    if "{0}" not in template:
        raise InputError(f"instruction {where} has no '{{0}}' where the persona name goes: {template!r:.80}")
    try:
        template.format("persona")
    except (IndexError, KeyError, ValueError) as exc:
        raise InputError(
            f"instruction {where} is not a valid template ({exc}): use '{{0}}' for the persona and double "
            "any other brace ('{{' or '}}')"
        ) from None
    return template


def load_instructions(source: str | os.PathLike[str] = "paper") -> list[str]:
    """The persona instruction templates, ``{0}`` = persona name; index k = run k.

    ``source`` is ``"paper"`` (the paper's five) or a path: a text file with one template per
    line (blank lines ignored), or a CSV with a column ``instruction``.
    """
    if str(source) == "paper":
        text, where = _data_text("persona_instructions.txt"), "paper instructions"
    else:
        path = Path(source)
        if not path.is_file():
            raise InputError(f"instruction file {str(path)!r} does not exist: give a text file path, or 'paper'")
        text, where = read_text_utf8(path, "instruction file"), str(path)
        if path.suffix.lower() == ".csv":
            reader = csv.DictReader(io.StringIO(text))
            if not reader.fieldnames or "instruction" not in [f.strip().lower() for f in reader.fieldnames]:
                raise InputError(f"instruction file {where!r} needs a column named 'instruction'")
            key = next(f for f in reader.fieldnames if f.strip().lower() == "instruction")
            templates = [(i, (r[key] or "").strip()) for i, r in enumerate(reader, start=2)]
            out = [_check_template(t, f"{where}, line {i}") for i, t in templates if t]
            if not out:
                raise InputError(f"instruction file {where!r} holds no instruction")
            return out
    out = [
        _check_template(line.strip(), f"{where}, line {i}")
        for i, line in enumerate(text.splitlines(), start=1)
        if line.strip()
    ]
    if not out:
        raise InputError(f"instruction file {where!r} holds no instruction: one template per line, with {{0}}")
    return out


def load_placebo(categories: Iterable[str] | None = None, language: str = "en") -> pd.DataFrame:
    """The placebo control group (``data/placebo.csv``): a personas table, one row per role and
    category (``categories``; None: one row per role with an empty category), ``persona_group``
    :data:`PLACEBO_GROUP`, ``member_of`` "", ``placebo`` True. The roles exist in English only."""
    if language != "en":
        raise InputError(f"placebo personas exist in English only, not in {language!r}: ask with "
                         "--prompt-language en, or add placebo rows (Subcategory 'placebo') to your own persona CSV")
    names = [n.strip() for n in _data_text("placebo.csv").splitlines()[1:] if n.strip()]
    cats = [""] if categories is None else list(categories)
    rows = [(n, c, PLACEBO_GROUP, "") for c in cats for n in names]
    table = pd.DataFrame(rows, columns=list(PERSONA_COLUMNS))
    table["placebo"] = True
    return table


def with_placebo(personas: pd.DataFrame, categories: Iterable[str], language: str = "en") -> pd.DataFrame:
    """``personas`` with the placebo control group added to each of ``categories``."""
    extra = load_placebo(categories, language)
    flagged = personas["placebo"].astype(bool) if "placebo" in personas.columns else pd.Series(False, index=personas.index)
    clash = sorted(set(extra["persona"]) & set(personas.loc[~flagged, "persona"]))
    if clash:
        raise InputError(f"persona(s) {', '.join(map(repr, clash))} are both in the catalogue and placebo roles: "
                         "rename them in your persona CSV")
    out = pd.concat([personas, extra], ignore_index=True)
    out["placebo"] = out["placebo"].fillna(False).astype(bool)
    return out.drop_duplicates(["persona_category", "persona"]).reset_index(drop=True)


__all__ = [
    "CITATION",
    "DEFAULT_PERSONA",
    "PAPER_DROPPED",
    "PERSONA_COLUMNS",
    "PLACEBO_GROUP",
    "load_instructions",
    "load_personas",
    "load_placebo",
    "with_placebo",
]


def resolve_personas(spec: str, categories: Sequence[str] | None, dataset: str = "bbq", language: str = "en"):
    """``--personas``: ``paper`` (the dataset's catalogue), a CSV path, or a comma-separated list
    of catalogue names (in the prompt language)."""
    if spec == "paper":
        return load_personas("paper", categories, dataset=dataset, language=language)
    if spec.endswith(".csv") or Path(spec).is_file():
        return load_personas(spec, categories, dataset=dataset, language=language)
    return load_personas("paper", categories, names=[n.strip() for n in spec.split(",") if n.strip()] or None, dataset=dataset, language=language)
