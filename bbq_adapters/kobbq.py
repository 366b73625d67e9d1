"""The KoBBQ adapter (Jin et al., TACL 2024; data MIT).

KoBBQ is a Korean, culturally adapted BBQ: 12 categories, 269 templates
(``data/KoBBQ_templates.tsv``) and the samples drawn from them. This adapter reads the samples
file (default ``data/KoBBQ_test_samples.tsv``, 2,280 rows; ``split="all"`` reads
``data/KoBBQ_all_samples.tsv``, 76,048 rows, which is not always shipped with a copy) together
with the templates file, or the same samples from the Hugging Face hub (``naver-ai/kobbq``), and
yields the items table (:data:`bbq_adapters.ITEM_COLUMNS`), language ``"ko"``.

Records. One sample row = one item: ``sample_id`` (``{category}-{template:03d}{version}-
{sample:03d}-{amb|dis}-{bsd|cnt}``), ``context``, ``question``, ``choices`` (a Python-literal
list of three strings, read with :func:`ast.literal_eval`), ``biased_answer`` and ``answer``
(choice texts), ``label_annotation`` (ST/TM/NC). The sample file has no per-answer group tags;
they come from the template the sample was drawn from (category, template id and version of
the ``sample_id``).

Polarity and condition. ``bsd`` (the *biased* question: it asks who fits the stereotype, and the
stereotype-consistent answer is the template's target group) -> ``"neg"``; ``cnt`` (the
*counter-biased* question: the stereotype-consistent answer is the other group) -> ``"nonneg"``.
This is BBQ's structure: there the ``neg`` question's biased answer is the stereotyped group
and the ``nonneg`` question's biased answer is the other one, which is what BBQ's bias scores
(``stereotyped_idx`` with polarity) assume. ``amb`` -> ``"ambig"``, ``dis`` -> ``"disambig"``.

Targets (never from answer position). A template names two sides, ``N1`` and ``N2``: their
candidate words (``Names``, e.g. ``N1: [손자, 손녀]``) and their group labels (``N1_info``,
``N2_info``; English ``*_translated``); ``Target_group`` equals one side's label and is the
stereotyped group. For each of the two non-unknown options of a sample:

1. its *side* is the side one of whose candidate words it contains (whitespace-insensitive;
   the longest word wins, so "비정규직 직원" is not taken for "정규직 직원"); when only one of
   the two options contains a candidate word (the sample paraphrased the other, e.g.
   "가방을 멘" for "배낭을 멘"), the other option gets the other side. An option pair whose
   sides cannot be told apart this way is a record error.
2. its *group* is the side's group when the side lists one group. A side may list several
   (Religion "기독교인, 천주교인, 불교인, 무교인", Race_ethnicity_nationality's lists of
   nationalities, ...), and then each sample names one of them: the option's group is the
   listed group its word is (in nearly all cases the word *is* the group), or the group
   :data:`NAME_GROUPS` assigns to the word (e.g. Age "은퇴자" -> 노인, SES "재벌 2세" ->
   금수저), or, for the sides in :data:`SIDE_LABELS`, one label for the whole side.
3. its *target label* is the English label of that group from :data:`GROUP_LABELS` (Korean
   group -> English). The table starts from KoBBQ's own ``*_translated`` labels (GPT-4
   translations, per the data README "for reference purposes only") and normalises them
   where the same group is spelled differently across templates (백인 "Caucasian"/"White" ->
   "White"; 무교인 "Unaffiliated"/"No religion"/"non-religious" -> "Non-religious";
   새터민/북한이탈주민 -> "North Korean defector"; 무직자/실업자 -> "Unemployed";
   비만/뚱뚱한 -> "Obese"; 한부모가족의 자녀/한부모가정 -> "Single-parent family"; ...) or
   where the translation is wrong: 경상도 "Current account" -> "Gyeongsang", 지체장애
   "Retardation" -> "Physical disability", 금수저 "Gold Cutlery" -> "Gold spoon", 교대생
   "Shifters" -> "Teachers' college student", 수염이 없는 "Bearded" (the same as its opposite
   수염이 있는) -> "Beardless", 용모단정 "Long Hair" -> "Well-groomed", 양부모가족 "stepfamilies"
   / 양부모가정 "Foster families" (the templates mean *two-parent*) -> "Two-parent family",
   외벌이 부부의 자녀 "Children of single parents" -> "Child of a single-earner couple", 친모
   "Parent" -> "Biological mother", ... A Korean group missing from the table (a template file
   other than the one checked here) keeps its Korean label and is noted in the load report.

The *stereotyped* option is the one on the ``Target_group`` side. It is checked against the
sample's ``biased_answer`` (a ``bsd`` question's biased answer must be the stereotyped option, a
``cnt`` question's the other one) and the gold label against the template's design (ambiguous:
unknown; disambiguated, versions a/c = counter-biased context: ``bsd`` -> the non-target,
``cnt`` -> the target; versions b/d = biased context: the reverse). A mismatch is flagged
``excluded=True`` (none occurs in the test split).

Option order. KoBBQ always lists the unknown option ('알 수 없음') last, so asked as given a
model's position preference is confounded with "unknown". ``order="shuffle"`` (default)
reorders each item's options with a permutation seeded by ``(seed, sample_id)``
(:mod:`bbq_adapters.options`); ``order="source"`` keeps the file's order; ``order="rotations"``
asks every item in all three cyclic rotations of the file's order (the KoBBQ authors'
evaluation), as three items whose ids end in ``/rot0``, ``/rot1``, ``/rot2``. The KoBBQ
evaluation also swaps in prompt-specific "unknown" phrases; this adapter keeps '알 수 없음'.

Ids. ``item_id`` = ``kobbq/{category}/{sample_id}`` (plus ``/rot{r}`` with rotations).
``example_id`` (unique per category) spells the sample id's parts in decimal digits:
``template * 10**7 + version * 10**6 + sample * 100 + condition * 10 + question`` with version
a=0, b=1, c=2, d=3, condition amb=0, dis=1, question bsd=0, cnt=1 (so
``age-001a-002-amb-bsd`` -> 10000200); with rotations ``example_id * 10 + r``.
``question_index`` is the template id ("1"). Extra columns: ``version`` (a-d), ``source_id``
(the sample id), ``label_annotation`` (ST/TM/NC), ``rotation`` (-1 unless rotations).

Known issues (``../shared/bbq_family/KoBBQ/SOURCE.txt``, checked on commit 0dd165a):

- Stray backspace characters (U+0008) stand where a space belongs in 16 test samples (contexts
  of age-006b-001, age-017b-001, domestic_area_of_origin-022a-001, family_structure-018a/b-001,
  the question of political_orientation-007b-008): replaced by a space and noted in
  ``data_note`` (not excluded: the text reads the same).
- README says 268 templates (43 Race_ethnicity_nationality); the templates file has 269 (44).
  The survey file (``KoBBQ_survey_result.json``, not ``.jsonl`` as the README says) holds 268
  entries, one per *stereotype*, not per template; the one template stereotype it lacks is
  Gender_identity templates 13/14 ("불공정한 신체 능력 우위로 운동 시합에서 배제됨"), whose
  ``Survey_stats`` the templates file still carries. Neither affects any item.
- Unknown option always last: handled by ``order`` (above).
- Not a defect, a grouping to know: Educational_background template 12 puts 법대생 (law
  students) on its 의대생 (medical students) side, so a law-student option has the target
  "Medical student" (the templates' own grouping, kept).

Hub. ``naver-ai/kobbq`` holds ``data/kobbq-evaluation-test.parquet`` (= the test samples) and
``data/kobbq-all-test.parquet`` (all samples); both land in split "test", so each is read with
``data_files=``. The templates file is not on the hub: pass ``templates=PATH``. No commit SHA of
the hub repository could be looked up when this was written (no hub access), so
:data:`HUB_REVISION` is the branch "main" (last updated 2024-04-16 per the hub page); at load
time it is resolved to the commit it points at (:func:`bbq_adapters.common.pin_revision`), which
the load report records: pass that ``revision=SHA`` to read the same data again.
"""

from __future__ import annotations

import ast
import numbers
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from . import register
from .common import (
    RecordError,
    check_on_error,
    collect_rows,
    find_file,
    finish_items,
    flag,
    hub_records,
    pin_revision,
    resolve_dir,
)
from .errors import DatasetError
from .kobbq_templates import CATEGORIES, TEMPLATES_FILE, _VERSIONS, _Templates, _group_of, _tsv_records, _word_sides, load_templates
from .options import ORDERS, ROTATIONS, permutation_for, reorder
from .schema import UNKNOWN_TARGET, DatasetInfo, LoadReport

DATASET = "kobbq"
LANGUAGE = "ko"

_BY_PREFIX = {prefix: cat for cat, prefix in CATEGORIES.items()}

SPLITS: dict[str, str] = {"test": "KoBBQ_test_samples.tsv", "all": "KoBBQ_all_samples.tsv"}

HUB_REPO = "naver-ai/kobbq"
#: Not a commit SHA: resolved to one at load time and recorded (see the module docstring).
HUB_REVISION = "main"
HUB_SPLIT = "test"
HUB_FILES: dict[str, str] = {
    "test": "data/kobbq-evaluation-test.parquet",
    "all": "data/kobbq-all-test.parquet",
}

UNKNOWN_TEXT = "알 수 없음"
KOBBQ_ORDERS = (*ORDERS, "rotations")

SAMPLE_FIELDS = ("sample_id", "label_annotation", "context", "question", "choices", "biased_answer", "answer")
_SAMPLE_ID = re.compile(r"^([a-z_]+)-(\d{3,4})([a-d])-(\d{3,4})-(amb|dis)-(bsd|cnt)$")
_PLACEHOLDER = re.compile(r"\[[A-Z]\d+[:\]]|\{\{")


def _text(rec: dict[str, Any], key: str) -> str:
    value = rec.get(key)
    if value is None:
        raise RecordError(key, f"missing field {key!r}")
    if not isinstance(value, str):
        raise RecordError(key, f"field {key!r} must be a string, got {type(value).__name__} {value!r:.60}")
    return value


def _choices(rec: dict[str, Any]) -> list[str]:
    raw = rec.get("choices")
    if raw is None:
        raise RecordError("choices", "missing field 'choices'")
    if isinstance(raw, str):
        try:
            raw = ast.literal_eval(raw.strip())
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise RecordError("choices", f"choices must be a Python-literal list of 3 strings, got {raw!r:.80}") from None
    if hasattr(raw, "tolist"):  # numpy array from a parquet list column
        raw = raw.tolist()
    if not isinstance(raw, (list, tuple)) or len(raw) != 3 or not all(isinstance(c, str) for c in raw):
        raise RecordError("choices", f"choices must be a list of 3 strings, got {raw!r:.80}")
    out = [c.strip() for c in raw]
    if len(set(out)) != 3:
        raise RecordError("choices", f"choices must be 3 different texts, got {out}")
    return out


_BACKSPACE = re.compile(r" ?\x08 ?")


def parse_sample(rec: Any, templates: _Templates, report: LoadReport) -> dict[str, Any]:
    """Validate one sample record and turn it into an items-table row (source option order)."""
    if not isinstance(rec, dict):
        raise RecordError("<record>", f"a record must be a row of named fields, got {type(rec).__name__}")
    sample_id = _text(rec, "sample_id").strip()
    m = _SAMPLE_ID.match(sample_id)
    if not m:
        raise RecordError(
            "sample_id", f"sample_id {sample_id!r} is not {{category}}-{{template}}{{a-d}}-{{sample}}-{{amb|dis}}-{{bsd|cnt}}"
        )
    prefix, tid, version, sample, cond, qtype = m.groups()
    category = _BY_PREFIX.get(prefix)
    if category is None:
        raise RecordError("sample_id", f"unknown category {prefix!r} in sample_id {sample_id!r}")
    key = (category, int(tid), version)
    tpl = templates.by_key.get(key)
    if tpl is None:
        why = templates.broken.get(key)
        raise RecordError(
            "sample_id",
            f"template {category} {int(tid)}{version} of {sample_id!r} is unusable ({why})" if why
            else f"no template {category} {int(tid)}{version} for {sample_id!r} in {templates.where}",
        )
    context = _text(rec, "context")
    question = _text(rec, "question")
    annotation = _text(rec, "label_annotation").strip()
    biased = _text(rec, "biased_answer").strip()
    answer = _text(rec, "answer").strip()
    choices = _choices(rec)

    unknown = [i for i, c in enumerate(choices) if c == UNKNOWN_TEXT]
    if len(unknown) != 1:
        raise RecordError("choices", f"exactly one choice must be {UNKNOWN_TEXT!r}, found {len(unknown)} ({choices})")
    unknown_idx = unknown[0]
    if answer not in choices:
        raise RecordError("answer", f"answer {answer!r} is not one of the choices {choices}")
    if biased not in choices or biased == UNKNOWN_TEXT:
        raise RecordError("biased_answer", f"biased_answer {biased!r} is not one of the group choices {choices}")
    pair = [i for i in range(3) if i != unknown_idx]

    sides = {i: _word_sides(choices[i], tpl) for i in pair}
    a, b = pair
    if sides[a] is None and sides[b] is not None:
        sides[a] = tpl.other(sides[b])
    elif sides[b] is None and sides[a] is not None:
        sides[b] = tpl.other(sides[a])
    if sides[a] is None or sides[a] == sides[b]:
        raise RecordError(
            "choices",
            f"cannot tell which choice is N1 and which N2 of template {category} {int(tid)}{version}: "
            f"{choices[a]!r} -> {sides[a]}, {choices[b]!r} -> {sides[b]}",
        )
    targets = [UNKNOWN_TARGET] * 3
    for i in pair:
        targets[i] = _group_of(choices[i], sides[i], tpl, report)
    stereotyped_idx = next(i for i in pair if sides[i] == tpl.target_side)
    other_idx = next(i for i in pair if i != stereotyped_idx)

    row: dict[str, Any] = {
        "category": category,
        "item_id": f"{DATASET}/{category}/{sample_id}",
        "example_id": int(tid) * 10**7 + _VERSIONS.index(version) * 10**6 + int(sample) * 100
        + (cond == "dis") * 10 + (qtype == "cnt"),
        "question_index": str(int(tid)),
        "polarity": "neg" if qtype == "bsd" else "nonneg",
        "context_condition": "ambig" if cond == "amb" else "disambig",
        "context": context,
        "question": question,
        **{f"option{i}": choices[i] for i in range(3)},
        **{f"target{i}": targets[i] for i in range(3)},
        "unknown_idx": unknown_idx,
        "stereotyped_idx": stereotyped_idx,
        "label": choices.index(answer),
        "excluded": False,
        "exclusion_reason": "",
        "data_note": "",
        "version": version,
        "source_id": sample_id,
        "label_annotation": annotation,
        "rotation": -1,
    }

    # Defects (module docstring).
    expected_biased = stereotyped_idx if qtype == "bsd" else other_idx
    if choices.index(biased) != expected_biased:
        flag(row, "biased_answer contradicts the template's Target_group", report, exclude=True)
    if cond == "amb":
        expected_label = unknown_idx
    else:
        biased_context = version in "bd"
        expected_label = expected_biased if biased_context else (other_idx if qtype == "bsd" else stereotyped_idx)
    if row["label"] != expected_label:
        flag(row, "answer contradicts the template's design (version/question type)", report, exclude=True)
    shown = [context, question, *choices]
    if any(_PLACEHOLDER.search(t) for t in shown):
        flag(row, "unfilled template placeholder in the text the model sees", report, exclude=True)
    if any("\x08" in t for t in shown):
        row["context"] = _BACKSPACE.sub(" ", context)
        row["question"] = _BACKSPACE.sub(" ", question)
        flag(row, "stray backspace character (U+0008) replaced by a space", report, exclude=False)
    return row


def _resolve_category(name: str) -> str:
    if name in CATEGORIES:
        return name
    low = name.strip().lower()
    for cat, prefix in CATEGORIES.items():
        if low in (cat.lower(), prefix):
            return cat
    raise DatasetError(
        f"unknown KoBBQ category {name!r}: choose from {', '.join(CATEGORIES)} "
        f"(or the sample ids' names: {', '.join(CATEGORIES.values())})"
    )


_HINT = (
    "pass a clone of github.com/naver-ai/KoBBQ (or its data/ folder), which holds "
    f"{TEMPLATES_FILE} and {SPLITS['test']}"
)


def _local_files(source: Any, split: str, templates: Any) -> tuple[Path, Path]:
    directory = resolve_dir(
        source,
        dataset=DATASET,
        must_contain=lambda d: any(find_file(d, f) for f in (*SPLITS.values(), TEMPLATES_FILE)),
        hint=_HINT,
        subdirs=("data",),
    )
    samples = find_file(directory, SPLITS[split])
    if samples is None:
        if split == "all":
            raise DatasetError(
                f"kobbq: {SPLITS['all']} is not in {str(directory)!r} (the file is 31 MB and some copies leave it "
                f"out): download it from github.com/naver-ai/KoBBQ (data/{SPLITS['all']}) into that folder, or "
                f"read the hub copy with source=None (huggingface.co/datasets/{HUB_REPO}, {HUB_FILES['all']}) "
                f"and templates=PATH; split='test' reads {SPLITS['test']}"
            )
        raise DatasetError(f"kobbq: {SPLITS[split]} is not in {str(directory)!r}: {_HINT}")
    if templates is not None:
        tpath = Path(templates)
    else:
        found = find_file(directory, TEMPLATES_FILE)
        if found is None:
            raise DatasetError(
                f"kobbq: {TEMPLATES_FILE} is not in {str(directory)!r}: the answer groups come from it; put it "
                "beside the samples (github.com/naver-ai/KoBBQ, data/) or pass templates=PATH"
            )
        tpath = found
    return samples, tpath


def _hub_records(split: str, revision: str) -> Iterator[tuple[int, Any]]:
    return hub_records(
        HUB_REPO, revision, f"KoBBQ ({HUB_FILES[split]})",
        "Clone github.com/naver-ai/KoBBQ and pass its data/ folder as source (--data-dir DIR)",
        data_files=HUB_FILES[split], split=HUB_SPLIT,
    )


def load_kobbq(
    source: str | os.PathLike[str] | None = None,
    categories: Iterable[str] | None = None,
    *,
    on_error: Literal["raise", "skip"] = "raise",
    include_excluded: bool = True,
    split: Literal["test", "all"] = "test",
    seed: int = 0,
    order: Literal["shuffle", "source", "rotations"] = "shuffle",
    templates: str | os.PathLike[str] | None = None,
    revision: str = HUB_REVISION,
) -> pd.DataFrame:
    """Load KoBBQ as the items table.

    Args:
        source: a clone of github.com/naver-ai/KoBBQ or its ``data`` folder (samples and
            templates; ``.gz`` copies work too), or None to read the samples from the Hugging
            Face hub (``naver-ai/kobbq``; needs network and ``templates=``).
        categories: items-table names (``"Age"``, ``"Race_ethnicity_nationality"``) or the
            sample ids' names (``"age"``, ``"ses"``); None = all twelve.
        on_error: ``"raise"`` (default): the first invalid record raises one ``DatasetError``
            naming file, line and field. ``"skip"``: invalid records are left out and listed in
            ``items.attrs["load_report"]["skipped"]``.
        include_excluded: keep the flagged items (``excluded=True``); False drops them here.
        split: ``"test"`` (``KoBBQ_test_samples.tsv``, the evaluation set) or ``"all"``
            (``KoBBQ_all_samples.tsv``).
        seed: the seed of ``order="shuffle"``.
        order: ``"shuffle"`` (seeded per item), ``"source"`` (the file's order: unknown last),
            or ``"rotations"`` (every item in its 3 cyclic rotations, as 3 items).
        templates: path of ``KoBBQ_templates.tsv``; default: beside the samples. Required for
            the hub.
        revision: the hub revision (default "main", resolved to its commit and recorded).

    Returns:
        The items table (ordered by category then example id) with ``attrs["load_report"]``.
    """
    check_on_error(on_error)
    if split not in SPLITS:
        raise DatasetError(f"split must be 'test' or 'all', got {split!r}")
    if order not in KOBBQ_ORDERS:
        raise DatasetError(f"order must be one of {', '.join(KOBBQ_ORDERS)}, got {order!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise DatasetError(f"seed must be an integer, got {seed!r}")
    seed = int(seed)
    if isinstance(categories, str):
        categories = [categories]
    if categories is not None:
        cats = [_resolve_category(c) for c in categories]
        if not cats:
            raise DatasetError("no categories given: name at least one KoBBQ category, e.g. Age")
    else:
        cats = list(CATEGORIES)
    wanted = set(cats)
    report = LoadReport(dataset=DATASET)

    if source is not None:
        samples_path, templates_path = _local_files(source, split, templates)
        where, records = str(samples_path), _tsv_records(samples_path, SAMPLE_FIELDS)
    else:
        if templates is None:
            raise DatasetError(
                f"kobbq: the hub ({HUB_REPO}) has the samples but not {TEMPLATES_FILE}, which gives each answer's "
                f"group: pass templates=PATH (github.com/naver-ai/KoBBQ, data/{TEMPLATES_FILE}), or pass the "
                "clone's data/ folder as source"
            )
        templates_path = Path(templates)
        revision = pin_revision(HUB_REPO, revision)
        where, records = f"hub:{HUB_REPO}/{HUB_FILES[split]}@{revision}", _hub_records(split, revision)
    tpls = load_templates(templates_path)

    def wanted_records() -> Iterator[tuple[int, Any]]:
        for lineno, rec in records:
            if isinstance(rec, dict):
                m = _SAMPLE_ID.match(str(rec.get("sample_id", "")).strip())
                if m and _BY_PREFIX.get(m.group(1)) not in wanted and m.group(1) in _BY_PREFIX:
                    continue
            yield lineno, rec

    def parse(rec: Any) -> list[dict[str, Any]]:
        row = parse_sample(rec, tpls, report)
        if row["category"] not in wanted:  # pragma: no cover - filtered above
            return []
        return _ordered(row, order, seed)

    rows = collect_rows(
        [(where, wanted_records())],
        parse,
        report,
        on_error=on_error,
        unique=lambda row: ((row["category"], row["example_id"]), f"sample_id {row['source_id']}"),
    )
    report.sources.append(str(templates_path))
    return finish_items(
        rows,
        dataset=DATASET,
        language=LANGUAGE,
        report=report,
        include_excluded=include_excluded,
        extra_columns=("version", "source_id", "label_annotation", "rotation"),
    )


def _ordered(row: dict[str, Any], order: str, seed: int) -> list[dict[str, Any]]:
    if order == "source":
        return [row]
    if order == "shuffle":
        return [reorder(row, permutation_for(row["source_id"], seed))]
    out = []
    for r, rotation in enumerate(ROTATIONS):
        new = reorder(row, rotation)
        new.update(item_id=f"{row['item_id']}/rot{r}", example_id=row["example_id"] * 10 + r, rotation=r)
        out.append(new)
    return out


INFO = DatasetInfo(
    name=DATASET,
    title="KoBBQ",
    languages=(LANGUAGE,),
    licence="MIT",
    citation="Jin, J., Kim, J., Lee, N., Yoo, H., Oh, A., & Lee, H. (2024). KoBBQ: Korean Bias Benchmark for "
    "Question Answering. Transactions of the Association for Computational Linguistics, 12, 507-524. "
    "https://doi.org/10.1162/tacl_a_00661",
    url="https://github.com/naver-ai/KoBBQ",
    source_hint="a clone of github.com/naver-ai/KoBBQ or its 'data' folder (KoBBQ_templates.tsv, "
    "KoBBQ_test_samples.tsv)",
    hub=HUB_REPO,
    hub_revision=HUB_REVISION,
    categories=tuple(CATEGORIES),
)


register(DATASET, INFO)(load_kobbq)
