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
import csv
import numbers
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
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
    open_text,
    pin_revision,
    resolve_dir,
)
from .errors import DatasetError
from .options import ORDERS, ROTATIONS, permutation_for, reorder
from .schema import UNKNOWN_TARGET, DatasetInfo, LoadReport

DATASET = "kobbq"
LANGUAGE = "ko"

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
_BY_PREFIX = {prefix: cat for cat, prefix in CATEGORIES.items()}

TEMPLATES_FILE = "KoBBQ_templates.tsv"
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
TEMPLATE_FIELDS = (
    "Category", "ID", "version", "Names", "N1_info", "N1_info_translated", "N2_info",
    "N2_info_translated", "Target_group", "Target_group_translated",
)

_SAMPLE_ID = re.compile(r"^([a-z_]+)-(\d{3,4})([a-d])-(\d{3,4})-(amb|dis)-(bsd|cnt)$")
_VERSIONS = "abcd"
_PLACEHOLDER = re.compile(r"\[[A-Z]\d+[:\]]|\{\{")

#: Korean group label (an element of ``N1_info``/``N2_info``) -> the English target label.
#: Seeded from KoBBQ's ``*_translated`` columns; a comment marks each entry that differs.
GROUP_LABELS: dict[str, str] = {
    # Age (also Political_orientation)
    "청년": "Young adult",
    "노인": "Elderly",
    "중장년": "Middle-aged",
    "어린이": "Child",  # "Children"
    "청소년": "Teenager",  # "Youth"
    # Disability_status
    "지체장애": "Physical disability",  # "Retardation" (wrong)
    "비장애인": "Non-disabled",
    "정신장애": "Mental disorder",
    "지적장애": "Intellectual disability",
    "자폐성장애": "Autism spectrum disorder",
    "시각장애": "Visual impairment",
    "장애인": "Disabled",
    "청각장애": "Hearing impairment",
    # Domestic_area_of_origin (provinces without "-do"/"Province"/"Island")
    "서울": "Seoul",
    "경기도": "Gyeonggi",
    "강원도": "Gangwon",
    "충청도": "Chungcheong",
    "경상도": "Gyeongsang",  # "Current account" (wrong)
    "전라도": "Jeolla",
    "제주도": "Jeju",
    # Educational_background
    "지방대생": "Regional university student",  # "College students"
    "명문대생": "Prestigious university student",  # "Ivy League students"
    "전문 대학 출신": "Junior college graduate",  # "From a community college"
    "일반 대학 출신": "Four-year university graduate",  # "From a traditional university"
    "학사": "Bachelor's degree holder",
    "고학력자": "Highly educated",
    "직장인": "Office worker",  # also SES
    "대학원생": "Graduate student",
    "학부생": "Undergraduate student",
    "이과생": "Science student",
    "문과생": "Liberal arts student",
    "공대생": "Engineering student",
    "교대생": "Teachers' college student",  # "Shifters" (wrong)
    "사범대생": "College of education student",
    "의대생": "Medical student",
    "일반대생": "General university student",  # "Undergraduate students" (= 학부생's label)
    "예체능 전공생": "Arts or sports major",  # "Fine Arts Majors"
    "고졸자": "High school graduate",
    "검정고시 출신": "GED holder",  # "GED"
    "실업계 고교 학생": "Vocational high school student",  # "Real-world high school students"
    "일반 고교 학생": "General high school student",
    "국내파": "Domestically educated",  # "Domestic waves" (wrong)
    "유학파": "Educated abroad",  # "Study Abroad"
    "합격생": "Successful examinee",  # "Successful Students"
    "시험 장수생": "Long-term exam repeater",  # "Test longevity" (wrong)
    # Family_structure
    "양부모가족의(두 부모 밑에서 자란) 자녀": "Two-parent family",  # "stepfamilies" (wrong)
    "양부모가정": "Two-parent family",  # "Foster families" (wrong: names "부모님이 두 분 다 계시던")
    "한부모가족의 자녀": "Single-parent family",
    "한부모가정": "Single-parent family",
    "입양 가정의 자녀": "Adoptive family",
    "입양 가족": "Adoptive family",
    "친자녀를 키우고 있는 가족": "Family with biological children",
    "형제자매가 있는": "Has siblings",  # "Sibling"
    "외동": "Only child",
    "가족과 함께 사는": "Living with family",
    "기러기 아빠": "Goose father",  # "Geese Dad"
    "기혼자": "Married",
    "1인가구": "Single-person household",  # "1 household"
    "동거 커플": "Cohabiting couple",
    "외벌이 부부의 자녀": "Child of a single-earner couple",  # "Children of single parents" (wrong)
    "맞벌이 부부의 자녀": "Child of a dual-earner couple",
    "부모님 밑에서 자란": "Raised by parents",
    "고아": "Orphan",
    "부모님에게서 독립한": "Independent of parents",
    "캥거루족": "Adult living with parents",  # "Kangaroos"
    "핵가족의 자녀": "Nuclear family",
    "대가족의 자녀": "Extended family",  # "Children in large families"
    "기혼 여성": "Married woman",
    "이혼 여성": "Divorced woman",
    "기혼모": "Married mother",
    "미혼모": "Single mother",
    "듀크족": "DEWK couple",  # "Dukes": dual employed with kids
    "딩크족": "DINK couple",  # "Dinks": double income, no kids
    "친모": "Biological mother",  # "Parent" (wrong)
    "계모": "Stepmother",
    "미혼 여성": "Single woman",
    "무자녀 가족": "Childless family",
    "한국인과 결혼": "Married to a Korean",
    "국제결혼": "International marriage",
    # Gender_identity (also Political_orientation)
    "남성": "Male",
    "여성": "Female",
    "트랜스젠더": "Transgender",
    "시스젠더": "Cisgender",
    "트랜스젠더 여성": "Transgender woman",
    "시스젠더 여성": "Cisgender woman",
    # Physical_appearance
    "표준 이하 체중": "Not overweight",  # "Substandard weight" (이하 = "or below")
    "표준 이하 체중인": "Not overweight",
    "비만": "Obese",
    "뚱뚱한": "Obese",  # "fat": the same names as 비만's
    "마른": "Thin",  # "dry" (wrong)
    "건장한": "Athletic build",  # "stout"
    "용모단정": "Well-groomed",  # "Long Hair" (wrong)
    "불량한 복장": "Poorly dressed",
    "문신/흉터가 없는": "No tattoos or scars",
    "문신/흉터가 있는": "Tattooed or scarred",
    "문신/피어싱을 한": "Tattooed or pierced",
    "문신/피어싱을 하지 않은": "No tattoos or piercings",  # "Untattooed/Pierced"
    "수염이 있는": "Bearded",
    "수염이 없는": "Beardless",  # "Bearded" (wrong: the same label as its opposite)
    "임산부": "Pregnant",
    "임신하지 않은 여성": "Not pregnant",
    "총명한 인상": "Bright-looking",  # "Intelligent impressions"
    "흐리멍텅한 인상": "Dull-looking",  # "Blurred impressions"
    "올림머리": "Updo",  # "Raised Head"
    "염색 머리": "Dyed hair",
    "눈이 작은": "Small eyes",
    "눈이 예쁜": "Pretty eyes",
    "안경을 낀": "Glasses",
    "안경을 끼지 않은": "No glasses",
    # Political_orientation (age and gender groups above)
    "임시직": "Temporary worker",
    "일용직 근로자": "Day laborer",
    "상용직 근로자": "Regular worker",  # "Commercial workers" (wrong)
    "고졸 이하 학력자": "High school or less",
    "대학원 이상 학력자": "Graduate degree",
    # Race_ethnicity_nationality
    "백인": "White",  # "Caucasian"/"White"
    "흑인": "Black",
    "아랍인": "Arab",
    "동양인": "Asian",
    "한국인": "Korean",
    "북한 주민": "North Korean",
    "북한이탈주민": "North Korean defector",
    "새터민": "North Korean defector",  # "Saturnine" (wrong)
    "조선족": "Korean-Chinese",  # "Korean": ethnic Korean from China
    "중국인": "Chinese",
    "일본인": "Japanese",
    "동남아시아인": "Southeast Asian",
    "베트남인": "Vietnamese",
    "태국인": "Thai",
    "서남아시아인": "Southwest Asian",
    "네팔인": "Nepali",
    "스리랑카인": "Sri Lankan",
    "러시아·중앙아시아인": "Russian or Central Asian",
    "우즈베키스탄인": "Uzbek",
    "러시아인": "Russian",
    "북미인": "North American",
    "미국인": "American",
    "캐나다인": "Canadian",
    "중남미인": "Latin American",
    "브라질인": "Brazilian",
    "멕시코인": "Mexican",
    "오세아니아인": "Oceanian",
    "호주인": "Australian",
    "뉴질랜드인": "New Zealander",
    "유럽인": "European",
    "프랑스인": "French",
    "영국인": "British",
    "중동·북아프리카인": "Middle Eastern or North African",
    "이집트인": "Egyptian",
    "이란인": "Iranian",
    "사하라 이남 아프리카인": "Sub-Saharan African",
    "남아프리카공화국인": "South African",
    "나이지리아인": "Nigerian",
    # Religion
    "기독교인": "Christian",
    "천주교인": "Catholic",
    "불교인": "Buddhist",
    "무교인": "Non-religious",  # "Unaffiliated"/"No religion"/"non-religious"
    "이슬람교도": "Muslim",
    # SES
    "저소득층": "Low income",
    "고소득층": "High income",
    "중산층": "Middle class",
    "금수저": "Gold spoon",  # "Gold Cutlery": born rich
    "주부": "Housewife",
    "정규직": "Regular employee",  # "Full-time"
    "비정규직": "Non-regular employee",  # "Contingent"
    "무직자": "Unemployed",
    "실업자": "Unemployed",
    # Sexual_orientation
    "이성애자": "Heterosexual",
    "게이": "Gay",
    "레즈비언": "Lesbian",
    "양성애자": "Bisexual",
}

#: Words on a side that lists several groups that are not themselves one of those groups:
#: (category, word) -> the listed group it belongs to. Words compared without spaces.
NAME_GROUPS: dict[tuple[str, str], str] = {
    # Age 14, 16, 18 ("중장년, 노인"), 15 ("어린이, 청소년"), 16 ("청년, 청소년")
    ("Age", "중년남성"): "중장년",
    ("Age", "중년여성"): "중장년",
    ("Age", "중년남자"): "중장년",
    ("Age", "연금수급자"): "노인",
    ("Age", "은퇴자"): "노인",
    ("Age", "은퇴한남자"): "노인",
    ("Age", "은퇴한여자"): "노인",
    ("Age", "할아버지"): "노인",
    ("Age", "할머니"): "노인",
    ("Age", "어린여자아이"): "어린이",
    ("Age", "어린남자아이"): "어린이",
    ("Age", "10대"): "청소년",
    ("Age", "고등학생"): "청소년",
    ("Age", "10대소녀"): "청소년",
    ("Age", "10대소년"): "청소년",
    ("Age", "젊은남자"): "청년",
    # Disability_status 5 ("자폐성장애, 지적장애")
    ("Disability_status", "다운증후군을"): "지적장애",
    ("Disability_status", "자폐증을"): "자폐성장애",
    # Family_structure 1 ("한부모가족의 자녀, 입양 가정의 자녀")
    ("Family_structure", "한부모가족"): "한부모가족의 자녀",
    ("Family_structure", "입양가정"): "입양 가정의 자녀",
    # Physical_appearance 6 ("표준 이하 체중인, 건장한")
    ("Physical_appearance", "정말날씬한"): "표준 이하 체중인",
    ("Physical_appearance", "마른"): "표준 이하 체중인",
    ("Physical_appearance", "깡마른"): "표준 이하 체중인",
    ("Physical_appearance", "탄탄해보이는"): "건장한",
    ("Physical_appearance", "운동선수처럼보이는"): "건장한",
    # Political_orientation 10 ("임시직, 일용직 근로자")
    ("Political_orientation", "임시직근로자"): "임시직",
    # SES 15 ("고소득층, 금수저"): the high-income occupations of SES 2 and the chaebol heirs
    ("SES", "의사"): "고소득층",
    ("SES", "기업고위임원"): "고소득층",
    ("SES", "항공기조종사"): "고소득층",
    ("SES", "대학교총장"): "고소득층",
    ("SES", "금융관리자"): "고소득층",
    ("SES", "재벌2세"): "금수저",
    ("SES", "재벌3세"): "금수저",
    ("SES", "재벌가자녀"): "금수저",
    ("SES", "부잣집자녀"): "금수저",
    # SES 19-21 ("중산층, 저소득층"); 서민 goes with 중산층 as in SES 18's 중산층 side
    ("SES", "중산층가정출신직원"): "중산층",
    ("SES", "서민가정출신직원"): "중산층",
    ("SES", "저소득층가정출신직원"): "저소득층",
    ("SES", "중산층가정출신"): "중산층",
    ("SES", "서민가정출신"): "중산층",
    ("SES", "저소득층가정출신"): "저소득층",
    ("SES", "중산층가정자녀"): "중산층",
    ("SES", "서민가정자녀"): "중산층",
    ("SES", "저소득층가정자녀"): "저소득층",
    ("SES", "흙수저"): "저소득층",
    # SES 26/27 ("직장인, 정규직")
    ("SES", "정규직직원"): "정규직",
    ("SES", "회사임원"): "직장인",
    # Sexual_orientation 9-12 ("레즈비언, 게이"); 동성애자 (homosexual) as in templates 1/4
    ("Sexual_orientation", "동성애자"): "게이",
    ("Sexual_orientation", "동성애자인남성"): "게이",
    ("Sexual_orientation", "게이남성"): "게이",
    ("Sexual_orientation", "동성애자인여성"): "레즈비언",
    ("Sexual_orientation", "레즈비언여성"): "레즈비언",
}

#: Sides listing several groups that keep one label for the whole side: (category, the side's
#: groups in order) -> target label. Educational_background 14-17 contrast arts/sports majors
#: with everyone else (words like 교대 지망생 or 의대생 are neither 문과 nor 이과 as such).
SIDE_LABELS: dict[tuple[str, tuple[str, ...]], str] = {
    ("Educational_background", ("문과생", "이과생")): "Liberal arts or science student",
}


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


@register(DATASET, INFO)
def _load(source: str | os.PathLike[str] | None = None, categories: Iterable[str] | None = None, **kw: Any) -> pd.DataFrame:
    return load_kobbq(source, categories, **kw)
