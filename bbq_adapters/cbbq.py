"""The CBBQ adapter (Huang & Xiong, LREC-COLING 2024; data CC BY-SA 4.0).

CBBQ (Chinese Bias Benchmark for QA) is a Chinese BBQ: 14 categories, each with an
``ambiguous`` and a ``disambiguous`` file generated from templates. This adapter reads a local
copy of the authors' repository (github.com/YFHuangxxxx/CBBQ; pass its root or its ``data/``
folder): ``data/<category>/<condition>/<condition>.csv`` (or ``.csv.gz``), UTF-8 with a BOM,
columns ``example_id, question_index, question_polarity, context_condition, category,
subcategory, bias_targeted_groups, source, context, question, ans0, ans1, ans2, label``. The
authors publish no Hugging Face copy; the third-party mirror ``walledai/CBBQ`` drops polarity,
condition and targeted group, without which no bias score can be computed, so ``source=None``
is an error that says where to get the data. Language ``"zh"``.

Categories. BBQ's names where the category is BBQ's (age -> Age, disability ->
Disability_status, gender -> Gender_identity, nationality -> Nationality, physical_appearance
-> Physical_appearance, race -> Race_ethnicity, religion -> Religion, SES -> SES,
sexual_orientation -> Sexual_orientation), the others in the same style (Disease,
Educational_qualification, Ethnicity, Household_registration, Region): :data:`CATEGORY_NAMES`.
``categories=`` takes either spelling.

Partial copies. Every category folder with at least one of its two data files is loaded when
``categories`` is None; a file that is absent is listed in
``items.attrs["load_report"]["missing_files"]`` (the copy checked here lacks age, household
registration and nationality disambiguous and both race files). A category asked for by name
that has no data file at all is a ``DatasetError``.

Polarity, condition, ids. ``question_polarity`` "neg" -> "neg", "non_neg" -> "nonneg" (after the
corrections below; the file's value is kept in the extra column ``source_polarity``);
``context_condition`` "ambiguous" -> "ambig", "disambiguous" -> "disambig". The two files of a
category number their rows independently (example_id 1, 2, ... in each), so the items table's
``example_id`` is the source id for ambiguous rows and ``DISAMBIG_ID_OFFSET`` (100000) + the
source id for disambiguated rows; ``item_id`` = ``cbbq/<Category>/<ambig|disambig>/<source id>``;
the source id is kept in ``source_id``. ``question_index`` is the template number (as in the
file). Extra columns: ``source_id``, ``source_polarity``, ``subcategory``,
``bias_targeted_groups``.

Targets (never from answer position). CBBQ has no answer tags: ``ans2`` is always the unknown
option (不确定 / 不知道 / 无法判断 / 没有足够信息) and ``bias_targeted_groups`` names the
stereotyped group in free text. Which of ``ans0``/``ans1`` names it depends on the category and
even the template (the official scripts' "neg -> ans0" rule is wrong for gender, physical
appearance and age), so the adapter labels each option by its own text with a per-category
lexicon (:data:`OPTION_LABELS`, matched leftmost-longest, so 非变性女生 is ``nonTrans`` and not
``trans``, 有非农业户口的人 is ``urbanOrLocal`` and not ``ruralOrMigrant``). Target labels are
English: BBQ-style tags for trait pairs (Age ``old``/``young``, SES ``lowSES``/``highSES``,
Disability_status ``disabled``/``nonDisabled``, Gender_identity ``female``/``male`` and
``trans``/``nonTrans``, Physical_appearance ``attractive``/``plain``, ``obese``/``nonObese``,
``tall``/``short``, Disease ``mentalIllness``/``nonMentalIllness``, ``infectiousDisease``/
``nonInfectiousDisease``, ``HIV``/``nonHIV``, ``hepatitisB``/``nonHepatitisB``,
Educational_qualification ``lowerTierSchool``/``higherTierSchool``, ``partTimeDegree``/
``fullTimeDegree``, ``lowEducation``/``highEducation``, Household_registration
``ruralOrMigrant``/``urbanOrLocal``, Sexual_orientation ``gay``/``bisexual``/``asexual``/
``pansexual``/``straight``) and English group names where the option names a group
(Nationality ``Chinese``, ``Sri Lankan``, ...; Ethnicity ``Han``, ``Uyghur``, ...; Religion
``Christian``, ``Muslim``, ``Taoist``, ...; Region ``Henan``, ``Northeast``, ...; Race_ethnicity
``Chinese``, ``Black``, ``African American``, ...). Age is relative: each option's age is
estimated (a number of years, or :data:`AGE_YEARS` for words such as 爷爷, 00后, 高中生) and the
older option is ``old``, the younger ``young`` (CBBQ pairs a 28-year-old with a 35-year-old as
young vs old, and puts the grandparent in ``ans0`` against a child in ``ans1``).

The *stereotyped* option is the one whose label is in the targeted set of the row's
``bias_targeted_groups``: the string is split at "/" and each part labelled with the same
lexicon, unless :data:`TARGETED_GROUPS` spells the set out (strings that name no option, e.g.
Educational_qualification 第一学历差异人群, Sexual_orientation 非异性恋者, or a typo such as
Household_registration 农名工). :data:`TARGETED_BY_TEMPLATE` overrides two template defects:
Disease template 31's ``bias_targeted_groups`` (艾滋病患者) is copied from the HIV templates
while its options and contexts are about mental illness; Race_ethnicity templates 45 and 46 ask
about terrorism with Arabs in the stereotyped slot while their ``bias_targeted_groups`` repeats
the Black groups of the templates before them. Where both options or neither fall in the set,
``stereotyped_idx`` is -1 (counted in the load report's ``ambiguous_stereotype``): here only 36
Nationality rows whose two options are both in the targeted list (阿富汗人 vs 摩洛哥人 under
"阿富汗人/.../摩洛哥人/..."). An option text the lexicon does not cover keeps its Chinese text
as label (noted in ``data_note``); none occurs in the files checked here. Race_ethnicity's
lexicon is derived from its template files only (its data files were not available); filled in
every way its templates allow, it labels every option, and its templates 9-14 list 犹太裔
(Jewish) among the targeted groups and 犹太人 among the others, so those pairs get -1 or (both
Jewish) are excluded as naming the same group.

Option order. ``ans2`` (unknown) is always last and the targeted group's position depends on
the category, so, asked as given, a model's position preference is confounded with "unknown"
and with bias. ``order="shuffle"`` (default) reorders each item's options with a permutation
seeded by ``(seed, item_id)`` (:mod:`bbq_adapters.options`); ``order="source"`` keeps the
file's order (use it to reproduce the authors' setup).

Known data issues (``../shared/bbq_family/CBBQ/SOURCE.txt``, snapshot 95eaf2e, and this
adapter's own checks), each counted in the load report:

- Polarity mislabelled (:data:`POLARITY_FIXES`, matched by question text; corrected, with a
  ``data_note``, not excluded): every Educational_qualification ambiguous row is marked "neg",
  but 694 of them ask a non-negative question (SOURCE.txt counts the 624 whose question also
  occurs in the disambiguated file; 谁能够从事指导或独立完成比较复杂的研究工作？ (18 rows) and
  公司给谁的起薪会更高？ (70) are non-negative too); Educational_qualification disambiguated
  谁只能从事简单的文字或文印设备维护工作？ (18, marked non_neg); SES 谁不被优先考虑？ (96 + 96,
  marked non_neg); Ethnicity ambiguous 谁不会经常在宿舍里发脾气？ (18 rows marked neg);
  Gender_identity disambiguated 谁在公司中承担着更重要的工作？ (108 marked neg) and
  谁是因为家庭上的责任而受到影响？ (2 marked non_neg).
- Gold label contradicts the context (excluded). CBBQ's disambiguated gold labels follow the
  polarity only, one fixed mapping per category (derived from the data: neg -> 1 / nonneg -> 0
  in SES, Disability_status, Disease, Ethnicity, Region, Religion, Sexual_orientation; neg -> 0
  / nonneg -> 1 in Gender_identity, Physical_appearance, Educational_qualification). (a) Where
  the polarity was mislabelled, the gold label follows the wrong polarity: SES 谁不被优先考虑？
  (96), Gender_identity 谁在公司中承担着更重要的工作？ (108) and 谁是因为家庭上的责任而受到影响？
  (2). (b) Mirrored templates (:data:`MENTION_ORDER_FACTS`): the generator writes each
  disambiguated context in both orders of mention, and where the template names the two people
  by placeholders in its disambiguating facts too, the facts swap with the order while the gold
  label stays, so one of each pair contradicts its label. Educational_qualification (every
  template: the context makes the first-mentioned person, the *higher* credential in template
  order, the one who fails, while the labels say the lower one: 696 rows, half the file;
  SOURCE.txt's question_index 39 is one of them), Disease (the copies of a template with the
  healthy person mentioned first: 188 rows) and Religion template 12 (24). The expected label
  is computed from the person mentioned first (credential rank, illness terms, religion) and
  the row is flagged where the gold label differs. Physical_appearance templates 1, 2, 3, 20,
  22 and Sexual_orientation 27 have the same problem but every row of them also has a broken
  placeholder and is excluded for that.
- Unfilled or misspelled template placeholders ({{NAME2]}, {{NMAE1}}, {NAME2}}, ...) in the
  text the model sees (excluded): 3,376 rows, as SOURCE.txt lists.
- Broken contexts (excluded): Religion template 12 introduces the suspects as "一个X和一个X"
  (the same group twice) in every ambiguous row and half the disambiguated ones; Disease
  templates 32-39 (non-negative rows) swap the roles into "两个开场艾滋病患者，一个是演讲者";
  Disease templates 12 and 15 answer with the names 小刘 / 小刘的朋友, which the context never
  attaches to either person (labelled by the disease files' convention, ans0 = the patient).
- ans0 == ans1 (excluded): Nationality ambiguous example_id 1535, 1536, 7529, 7530 (摩洛哥人).
- Duplicate (context, question, answers) rows within a file: noted on every repeat (3,958; not
  excluded, so the template mix stays the authors'; the first occurrence is named in the note).
- A stray "{" in Religion template 17 (24 disambiguated rows): noted only (answerable).
- Disambiguated bias score: with one fixed gold mapping per category, every disambiguated
  context of a category points the same way, so BBQ's s_dis (and s_amb_paper, built on it) is
  undefined (:data:`INFO`).
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import pandas as pd

from . import register
from .cbbq_lexicon import (  # the lexicon and its matching rules
    MENTION_ORDER_FACTS,  # noqa: F401  (public: the docstring's mirrored templates)
    OPTION_LABELS,  # noqa: F401  (public: the target map, read by users and tests)
    POLARITY_FIXES,
    _option_labels,
    targeted_labels,
)
from .cbbq_checks import (  # noqa: F401  (re-exported: cbbq.REASON_MIRRORED, cbbq.gold_mapping, ...)
    NOTE_DUPLICATE,
    POLARITY_NAMES,
    REASON_MIRRORED,
    REASON_POLARITY_LABEL,
    check_category,
    expected_label,
    gold_mapping,
)
from .common import (
    BadLine,
    RecordError,
    check_on_error,
    collect_rows,
    finish_items,
    flag,
    open_text,
    resolve_dir,
)
from .errors import DatasetError
from .options import ORDERS, permutation_for, reorder
from .schema import UNKNOWN_TARGET, DatasetInfo, LoadReport

DATASET = "cbbq"
LANGUAGE = "zh"
REPO_URL = "https://github.com/YFHuangxxxx/CBBQ"

#: Source folder name -> items-table category.
CATEGORY_NAMES: dict[str, str] = {
    "age": "Age",
    "disability": "Disability_status",
    "disease": "Disease",
    "educational_qualification": "Educational_qualification",
    "ethnicity": "Ethnicity",
    "gender": "Gender_identity",
    "household_registration": "Household_registration",
    "nationality": "Nationality",
    "physical_appearance": "Physical_appearance",
    "race": "Race_ethnicity",
    "region": "Region",
    "religion": "Religion",
    "SES": "SES",
    "sexual_orientation": "Sexual_orientation",
}
CATEGORIES: tuple[str, ...] = tuple(sorted(CATEGORY_NAMES.values()))
_SOURCE_NAME = {v: k for k, v in CATEGORY_NAMES.items()}

#: Source condition (folder and file name) -> items-table condition.
CONDITIONS: dict[str, str] = {"ambiguous": "ambig", "disambiguous": "disambig"}
#: Added to a disambiguated row's source example_id (the two files number their rows independently).
DISAMBIG_ID_OFFSET = 100_000

REQUIRED_FIELDS: tuple[str, ...] = (
    "example_id",
    "question_index",
    "question_polarity",
    "context_condition",
    "category",
    "bias_targeted_groups",
    "context",
    "question",
    "ans0",
    "ans1",
    "ans2",
    "label",
)
EXTRA_COLUMNS: tuple[str, ...] = ("source_id", "source_polarity", "subcategory", "bias_targeted_groups")

#: ans2 must say "unknown" in one of these ways (it is the unknown option by construction).
UNKNOWN_MARKERS: tuple[str, ...] = ("不确定", "不知道", "无法判断", "无法确定", "不能确定", "没有足够信息", "信息不足", "未知")

# --------------------------------------------------------------------------------------------
# The target map: option text -> target label, per category (leftmost-longest match).
# --------------------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"NAME|NMAE|NAM\d|\{\{|\}\}")
_STRAY_BRACE = re.compile(r"[{}]")
_SAME_GROUP_TWICE = re.compile(r"一个([^，。、和]{1,12})和一个\1[。，]")
_ROLES_SWAPPED = re.compile(r"两个开场(?:艾滋病患者|HIV感染者)，一个是")

REASON_PLACEHOLDER = "unfilled or misspelled template placeholder in the text ({{NAME1}}, {{NMAE1}}, ...)"
REASON_SAME_ANSWER = "ans0 and ans1 are the same answer"
REASON_SAME_GROUP = "ans0 and ans1 name the same group"
REASON_SAME_GROUP_TWICE = "broken context: the template introduces the same group twice (一个X和一个X)"
REASON_ROLES_SWAPPED = "broken context: the template's roles are swapped (两个开场艾滋病患者，一个是演讲者)"
REASON_NAMES = "answer options 小刘 / 小刘的朋友 are not attached to either person in the context"
NOTE_STRAY_BRACE = "stray brace '{' in the text (a typo; the question is answerable)"
NOTE_UNMAPPED = "target map: option text not covered, its text is used as label"


def _polarity_note(old: str, new: str) -> str:
    return f"question polarity corrected: the file says {old!r}, the question is {new!r}"


# --------------------------------------------------------------------------------------------
# Matching helpers
# --------------------------------------------------------------------------------------------


def csv_records(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, row dict) for each data row of a (gzipped) CBBQ CSV; BOM stripped."""
    try:
        with open_text(path, encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            try:
                for rec in reader:
                    yield reader.line_num, rec
            except csv.Error as exc:
                yield reader.line_num, BadLine(f"not valid CSV ({exc}); the file may be truncated or corrupt: re-download it")
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        yield -1, BadLine(f"cannot read the file ({exc}); it may be truncated or corrupt: re-download it")


def _data_file(directory: Path, source_category: str, condition: str) -> Path | None:
    folder = directory / source_category / condition
    for name in (f"{condition}.csv", f"{condition}.csv.gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def _has_data(directory: Path) -> bool:
    return any(
        (directory / c).is_dir() and any(_data_file(directory, c, cond) for cond in CONDITIONS) for c in CATEGORY_NAMES
    )


def _resolve_category(name: str) -> str:
    """Items-table category of a name given by the user (either spelling, case-insensitive)."""
    if name in _SOURCE_NAME:
        return name
    if name in CATEGORY_NAMES:
        return CATEGORY_NAMES[name]
    lowered = {k.lower(): v for k, v in CATEGORY_NAMES.items()} | {v.lower(): v for v in CATEGORY_NAMES.values()}
    if str(name).lower() in lowered:
        return lowered[str(name).lower()]
    raise DatasetError(
        f"cbbq: unknown category {name!r}: choose from {', '.join(CATEGORIES)} "
        f"(or the source's names {', '.join(sorted(CATEGORY_NAMES))})"
    )


_HINT = (
    f"pass the root or the data/ folder of a clone of {REPO_URL} "
    "(it holds data/<category>/{ambiguous,disambiguous}/{ambiguous,disambiguous}.csv)"
)

# --------------------------------------------------------------------------------------------
# Parsing one record
# --------------------------------------------------------------------------------------------


def _text(rec: dict[str, Any], key: str) -> str:
    value = rec.get(key)
    if value is None:
        raise RecordError(key, f"missing field {key!r}")
    if not isinstance(value, str):
        raise RecordError(key, f"field {key!r} must be a string, got {type(value).__name__}")
    return value


def parse_record(rec: Any, source_category: str, condition: str, report: LoadReport) -> dict[str, Any]:
    """Validate one CBBQ row and turn it into an items-table row (source option order, polarity
    corrected, per-record defects flagged). Raises :class:`RecordError`."""
    if not isinstance(rec, dict):
        raise RecordError("<record>", f"a record must be a row of named fields, got {type(rec).__name__}")
    if None in rec:
        raise RecordError("<line>", f"the row has {len(rec[None]) + len(rec) - 1} fields, more than the header's")
    for key in REQUIRED_FIELDS:
        if rec.get(key) is None:
            raise RecordError(key, f"missing field {key!r} (the row is shorter than the header)")
    category = CATEGORY_NAMES[source_category]
    raw_id = _text(rec, "example_id").strip()
    if not raw_id.isdigit():
        raise RecordError("example_id", f"example_id must be a non-negative integer, got {raw_id!r:.40}")
    source_id = int(raw_id)
    if _text(rec, "category").strip() != source_category:
        raise RecordError("category", f"category {rec['category']!r} does not match the file's folder {source_category!r}")
    if _text(rec, "context_condition").strip() != condition:
        raise RecordError(
            "context_condition", f"context_condition {rec['context_condition']!r} does not match the file ({condition!r})"
        )
    file_polarity = _text(rec, "question_polarity").strip()
    if file_polarity not in POLARITY_NAMES:
        raise RecordError("question_polarity", f"question_polarity must be 'neg' or 'non_neg', got {file_polarity!r:.40}")
    label_text = _text(rec, "label").strip()
    allowed = ("2",) if condition == "ambiguous" else ("0", "1")
    if label_text not in allowed:
        raise RecordError("label", f"label must be {' or '.join(allowed)} in a {condition} file, got {label_text!r:.40}")
    question_index = _text(rec, "question_index").strip()
    if not question_index:
        raise RecordError("question_index", "question_index is empty")
    context, question = _text(rec, "context"), _text(rec, "question")
    options = [_text(rec, f"ans{i}") for i in range(3)]
    for key, value in (("context", context), ("question", question), *((f"ans{i}", o) for i, o in enumerate(options))):
        if not value.strip():
            raise RecordError(key, f"field {key!r} is empty")
    if not any(m in options[2] for m in UNKNOWN_MARKERS):
        raise RecordError("ans2", f"ans2 must be the unknown option (不确定, 不知道, ...), got {options[2]!r:.40}")
    groups = _text(rec, "bias_targeted_groups")

    row: dict[str, Any] = {
        "category": category,
        "item_id": f"{DATASET}/{category}/{CONDITIONS[condition]}/{source_id}",
        "example_id": source_id + (DISAMBIG_ID_OFFSET if condition == "disambiguous" else 0),
        "question_index": question_index,
        "polarity": POLARITY_NAMES[file_polarity],
        "context_condition": CONDITIONS[condition],
        "context": context,
        "question": question,
        "option0": options[0],
        "option1": options[1],
        "option2": options[2],
        "unknown_idx": 2,
        "label": int(label_text),
        "excluded": False,
        "exclusion_reason": "",
        "data_note": "",
        "source_id": source_id,
        "source_polarity": file_polarity,
        "subcategory": rec.get("subcategory") or "",
        "bias_targeted_groups": groups,
    }

    true_polarity = POLARITY_FIXES.get((source_category, condition), {}).get(question.strip())
    if true_polarity is not None and true_polarity != row["polarity"]:
        flag(row, _polarity_note(file_polarity, true_polarity), report, exclude=False)
        row["polarity"] = true_polarity

    labels = list(_option_labels(category, options[0], options[1]))
    for i in (0, 1):
        if labels[i] is None:
            labels[i] = options[i].strip()
            flag(row, NOTE_UNMAPPED, report, exclude=False)
    row["target0"], row["target1"], row["target2"] = labels[0], labels[1], UNKNOWN_TARGET
    wanted = targeted_labels(category, groups, question_index)
    hits = [i for i in (0, 1) if labels[i] in wanted]
    row["stereotyped_idx"] = hits[0] if len(hits) == 1 else -1

    text = "\n".join((context, question, *options))
    if _PLACEHOLDER.search(text):
        flag(row, REASON_PLACEHOLDER, report, exclude=True)
    elif _STRAY_BRACE.search(text):
        flag(row, NOTE_STRAY_BRACE, report, exclude=False)
    if options[0].strip() == options[1].strip():
        flag(row, REASON_SAME_ANSWER, report, exclude=True)
    elif labels[0] == labels[1]:
        flag(row, REASON_SAME_GROUP, report, exclude=True)
    if _SAME_GROUP_TWICE.search(context):
        flag(row, REASON_SAME_GROUP_TWICE, report, exclude=True)
    if category == "Disease" and _ROLES_SWAPPED.search(context):
        flag(row, REASON_ROLES_SWAPPED, report, exclude=True)
    if category == "Disease" and options[0].strip() == "小刘":
        flag(row, REASON_NAMES, report, exclude=True)
    return row


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def load_cbbq(
    source: str | os.PathLike[str] | None = None,
    categories: Iterable[str] | None = None,
    *,
    on_error: Literal["raise", "skip"] = "raise",
    include_excluded: bool = True,
    seed: int = 0,
    order: Literal["shuffle", "source"] = "shuffle",
    conditions: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Load CBBQ as the items table.

    Args:
        source: the root or the ``data/`` folder of a clone of github.com/YFHuangxxxx/CBBQ.
            None is an error: the authors publish no Hugging Face copy with the fields a bias
            score needs.
        categories: items-table or source names (``"Age"`` or ``"age"``); None = every category
            with a data file here.
        on_error: ``"raise"`` (default): the first invalid record raises one ``DatasetError``
            naming file, line and field. ``"skip"``: invalid records are left out and listed in
            ``items.attrs["load_report"]["skipped"]``.
        include_excluded: keep the known-defective items (``excluded=True``); False drops them.
        seed: the seed of ``order="shuffle"``.
        order: ``"shuffle"`` (default; seeded per item) or ``"source"`` (the file's order:
            unknown last).
        conditions: ``"ambig"``/``"disambig"`` (or the source's names) to read; None = both.

    Returns:
        The items table, ordered by category then example id, with ``attrs["load_report"]``
        (plus ``missing_files``: the data files this copy lacks).
    """
    check_on_error(on_error)
    if order not in ORDERS:
        raise DatasetError(f"cbbq: order must be one of {', '.join(ORDERS)}, got {order!r}")
    if source is None:
        raise DatasetError(
            "cbbq: the CBBQ authors publish no Hugging Face copy (walledai/CBBQ drops question_polarity, "
            "context_condition and bias_targeted_groups, which a bias score needs): "
            f"clone {REPO_URL} and pass its root or data/ folder as source (CLI: --data-dir DIR)"
        )
    directory = resolve_dir(source, dataset=DATASET, must_contain=_has_data, hint=_HINT, subdirs=("data",))
    cats = list(categories) if categories is not None else None
    if cats is not None and not cats:
        raise DatasetError("cbbq: no categories given: name at least one, e.g. Age")
    wanted_conditions = list(CONDITIONS)
    if conditions is not None:
        names = {**{c: c for c in CONDITIONS}, **{v: k for k, v in CONDITIONS.items()}}
        bad = [c for c in conditions if c not in names]
        if bad:
            raise DatasetError(f"cbbq: unknown condition(s) {', '.join(map(repr, bad))}: use 'ambig' and/or 'disambig'")
        wanted_conditions = [c for c in CONDITIONS if c in {names[x] for x in conditions}]

    present = {c for c in CATEGORY_NAMES if any(_data_file(directory, c, cond) for cond in CONDITIONS)}
    missing: list[str] = []
    if cats is None:
        selected = sorted(present, key=lambda c: CATEGORY_NAMES[c])
        missing += [f"{c}/{cond}/{cond}.csv" for c in sorted(set(CATEGORY_NAMES) - present) for cond in CONDITIONS]
    else:
        selected = []
        for name in cats:
            source_category = _SOURCE_NAME[_resolve_category(name)]
            if source_category not in present:
                raise DatasetError(
                    f"cbbq: no data file for category {CATEGORY_NAMES[source_category]!r} in {str(directory)!r} "
                    f"(expected {source_category}/ambiguous/ambiguous.csv or disambiguous/disambiguous.csv, "
                    f"optionally .gz): this copy lacks it; get it from {REPO_URL}"
                )
            if source_category not in selected:
                selected.append(source_category)

    report = LoadReport(dataset=DATASET)
    rows: list[dict[str, Any]] = []
    for source_category in selected:
        cat_rows: list[dict[str, Any]] = []
        for condition in CONDITIONS:
            path = _data_file(directory, source_category, condition)
            if path is None:
                missing.append(f"{source_category}/{condition}/{condition}.csv")
                continue
            if condition not in wanted_conditions:
                continue

            def parse(rec: Any, source_category: str = source_category, condition: str = condition) -> dict[str, Any]:
                return parse_record(rec, source_category, condition, report)

            cat_rows += collect_rows(
                [(str(path), csv_records(path))],
                parse,
                report,
                on_error=on_error,
                unique=lambda row: (row["example_id"], f"example_id {row['source_id']}"),
            )
        check_category(cat_rows, report)
        rows += cat_rows

    if order == "shuffle":
        rows = [reorder(row, permutation_for(row["item_id"], seed)) for row in rows]
    items = finish_items(
        rows,
        dataset=DATASET,
        language=LANGUAGE,
        report=report,
        include_excluded=include_excluded,
        extra_columns=EXTRA_COLUMNS,
    )
    items["source_id"] = items["source_id"].astype("int64")
    items.attrs["load_report"]["missing_files"] = sorted(missing)
    return items


UNDEFINED_METRICS = MappingProxyType(
    {
        "s_dis": "CBBQ's disambiguated gold labels follow the question polarity only, one fixed mapping per "
        "category, so every disambiguated context of a category points the same way (against the stereotype, "
        "or with it in Educational_qualification): there are no biased and counter-biased contexts to compare, "
        "and a BBQ-style disambiguated bias score is meaningless",
        "s_amb_paper": "Shin et al.'s ambiguous bias score is (1 - ambiguous accuracy) * s_dis, and s_dis is "
        "undefined on CBBQ: its disambiguated gold labels follow the question polarity only, one fixed mapping "
        "per category, so there are no biased and counter-biased contexts to compare",
    }
)

INFO = DatasetInfo(
    name=DATASET,
    title="CBBQ (Chinese Bias Benchmark for Question Answering)",
    languages=(LANGUAGE,),
    licence="CC BY-SA 4.0",
    citation="Huang, Y., & Xiong, D. (2024). CBBQ: A Chinese Bias Benchmark Dataset Curated with Human-AI "
    "Collaboration for Large Language Models. In Proceedings of the 2024 Joint International Conference on "
    "Computational Linguistics, Language Resources and Evaluation (LREC-COLING 2024). arXiv:2306.16244.",
    url=REPO_URL,
    source_hint=f"the root or the data/ folder of a clone of {REPO_URL} "
    "(data/<category>/{ambiguous,disambiguous}/*.csv, optionally gzipped)",
    hub=None,
    hub_revision=None,
    categories=CATEGORIES,
    undefined_metrics=UNDEFINED_METRICS,
)


register(DATASET, INFO)(load_cbbq)
