"""The CBBQ adapter: every local file loads, the target map, the known defects, option order,
validation, the registry and the persona catalogue.

Counts are those of ../shared/bbq_family/CBBQ/SOURCE.txt (snapshot 95eaf2e) unless a comment
says the adapter's own checks found more.
"""

from __future__ import annotations

import csv
import glob
import gzip
import io
import shutil
from pathlib import Path

import pandas as pd
import pytest

from socialbias.bbq_adapters import (
    ITEM_COLUMNS,
    DatasetError,
    available,
    cbbq,
    dataset_info,
    load_items,
)
from socialbias.bbq_adapters.cbbq import load_cbbq
from tests.conftest import FAMILY_DIR

CBBQ_DIR = FAMILY_DIR / "CBBQ"
DATA = CBBQ_DIR / "data"

#: Rows present here per category: (ambiguous, disambiguous); SOURCE.txt's "Counts" table.
EXPECTED_COUNTS = {
    "SES": (3960, 3960),
    "Age": (7400, 0),
    "Disability_status": (1588, 1556),
    "Disease": (586, 586),
    "Educational_qualification": (1392, 1392),
    "Ethnicity": (980, 980),
    "Gender_identity": (1534, 1838),
    "Household_registration": (8700, 0),
    "Nationality": (11988, 0),
    "Physical_appearance": (1856, 1856),
    "Region": (2176, 2176),
    "Religion": (2944, 2956),
    "Sexual_orientation": (560, 560),
}
MISSING_FILES = [
    "age/disambiguous/disambiguous.csv",
    "household_registration/disambiguous/disambiguous.csv",
    "nationality/disambiguous/disambiguous.csv",
    "race/ambiguous/ambiguous.csv",
    "race/disambiguous/disambiguous.csv",
]


@pytest.fixture(scope="module")
def source_items():
    if not DATA.is_dir():
        pytest.fail(f"the CBBQ data are expected at {DATA}")
    return load_cbbq(CBBQ_DIR, order="source")


@pytest.fixture(scope="module")
def shuffled_items():
    return load_cbbq(DATA)  # the data folder works as well as the repository root


def _raw(source_category: str, condition: str, example_id: int) -> dict[str, str]:
    folder = DATA / source_category / condition
    path = next(p for p in (folder / f"{condition}.csv", folder / f"{condition}.csv.gz") if p.is_file())
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as fh:
        return next(r for r in csv.DictReader(fh) if r["example_id"] == str(example_id))


def _row(items, category, condition, source_id):
    hit = items[(items.category == category) & (items.context_condition == condition) & (items.source_id == source_id)]
    assert len(hit) == 1
    return hit.iloc[0]


# --- every local file ------------------------------------------------------------------------


def test_every_local_file_loads(source_items):
    items = source_items
    counts = items.groupby(["category", "context_condition"]).size()
    for category, (amb, dis) in EXPECTED_COUNTS.items():
        assert counts.get((category, "ambig"), 0) == amb, category
        assert counts.get((category, "disambig"), 0) == dis, category
    assert len(items) == 45664 + 17860 == 63524
    assert set(items.category) == set(EXPECTED_COUNTS)
    assert list(items.columns) == [*ITEM_COLUMNS, *cbbq.EXTRA_COLUMNS]
    assert (items.dataset == "cbbq").all() and (items.language == "zh").all()
    assert items.item_id.is_unique
    assert not items.duplicated(["category", "example_id"]).any()
    report = items.attrs["load_report"]
    assert report["n_records"] == 63524 and report["n_skipped"] == 0
    assert report["missing_files"] == MISSING_FILES
    assert len(report["sources"]) == 23
    # ids: ambiguous rows keep the source id, disambiguated rows are offset
    amb, dis = items[items.context_condition == "ambig"], items[items.context_condition == "disambig"]
    assert (amb.example_id == amb.source_id).all()
    assert (dis.example_id == dis.source_id + cbbq.DISAMBIG_ID_OFFSET).all()
    assert (items.item_id == "cbbq/" + items.category + "/" + items.context_condition + "/"
            + items.source_id.astype(str)).all()
    # one unknown option, at unknown_idx (ans2 in source order); labels: 2 when ambiguous
    targets = items[["target0", "target1", "target2"]].to_numpy()
    assert ((targets == "unknown").sum(axis=1) == 1).all()
    assert (items.unknown_idx == 2).all() and (items.target2 == "unknown").all()
    assert (amb.label == 2).all() and dis.label.isin([0, 1]).all()
    assert set(items.polarity) == {"neg", "nonneg"}


def test_partial_category_and_missing_category(tmp_path):
    # A category asked for by name whose files are all absent here is an error ...
    for name in ("race", "Race_ethnicity"):
        with pytest.raises(DatasetError, match=r"no data file for category 'Race_ethnicity'.*YFHuangxxxx/CBBQ"):
            load_cbbq(CBBQ_DIR, [name])
    # ... one with a file missing loads what is there and records the rest.
    items = load_cbbq(CBBQ_DIR, ["age"], order="source")
    assert len(items) == 7400 and set(items.context_condition) == {"ambig"}
    assert items.attrs["load_report"]["missing_files"] == ["age/disambiguous/disambiguous.csv"]
    # conditions= reads one condition only
    items = load_cbbq(CBBQ_DIR, ["sexual_orientation"], conditions=["disambig"])
    assert len(items) == 560 and set(items.context_condition) == {"disambig"}


# --- the target map, checked on hand-picked rows of every category --------------------------


HAND_PICKED = [
    # (source category, condition, example_id, targets (0, 1), stereotyped_idx, label, polarity)
    ("SES", "ambiguous", 1, ("lowSES", "highSES"), 0, 2, "neg"),
    ("age", "ambiguous", 1, ("young", "old"), 1, 2, "neg"),  # 20岁的人 vs 40岁的人, 老龄人
    ("age", "ambiguous", 311, ("old", "young"), 0, 2, "neg"),  # 爷爷 (ans0!) vs 儿子, 老龄人
    ("age", "ambiguous", 2043, ("young", "old"), 0, 2, "neg"),  # 千禧一代 vs 80后, 00后/年轻人/10后
    ("disability", "ambiguous", 1, ("disabled", "nonDisabled"), 0, 2, "neg"),
    ("disease", "ambiguous", 1, ("infectiousDisease", "nonInfectiousDisease"), 0, 2, "neg"),  # 新冠患者
    ("disease", "disambiguous", 118, ("mentalIllness", "nonMentalIllness"), 0, 1, "neg"),
    ("educational_qualification", "ambiguous", 1, ("lowerTierSchool", "higherTierSchool"), 0, 2, "neg"),
    ("educational_qualification", "disambiguous", 420, ("partTimeDegree", "fullTimeDegree"), 0, 0, "neg"),
    ("ethnicity", "ambiguous", 1, ("Han", "Tibetan"), 0, 2, "neg"),
    ("gender", "ambiguous", 1, ("male", "female"), 1, 2, "neg"),  # 女性 is ans1
    ("gender", "ambiguous", 733, ("nonTrans", "trans"), 1, 2, "neg"),  # 非变性女生 vs 变性女生
    ("gender", "disambiguous", 1795, ("trans", "nonTrans"), 0, 1, "nonneg"),  # 变性女生 in ans0
    ("household_registration", "ambiguous", 1, ("ruralOrMigrant", "urbanOrLocal"), 0, 2, "neg"),
    ("nationality", "ambiguous", 1, ("American", "Vietnamese"), 0, 2, "neg"),
    ("nationality", "ambiguous", 1239, ("Afghan", "Moroccan"), -1, 2, "neg"),  # both in the targeted list
    ("physical_appearance", "ambiguous", 121, ("attractive", "plain"), 1, 2, "neg"),  # 外貌不出众者 is ans1
    ("physical_appearance", "ambiguous", 809, ("nonObese", "obese"), 1, 2, "neg"),
    ("physical_appearance", "ambiguous", 769, ("tall", "short"), 1, 2, "neg"),
    ("region", "ambiguous", 1, ("non-first-tier city", "first-tier city"), 0, 2, "neg"),
    ("region", "ambiguous", 445, ("Shanghai", "Northeast"), 0, 2, "neg"),  # 上海人 vs 辽宁人
    ("region", "ambiguous", 575, ("Hubei", "Shandong"), 0, 2, "neg"),  # 孝感人 under 湖北人
    ("religion", "ambiguous", 1, ("Buddhist", "Christian"), 0, 2, "neg"),
    ("religion", "disambiguous", 1251, ("Muslim", "Buddhist"), 0, 1, "neg"),  # 穆斯林 under 伊斯兰教/穆斯林
    ("sexual_orientation", "ambiguous", 1, ("gay", "straight"), 0, 2, "neg"),  # 非异性恋者
]


@pytest.mark.parametrize("source_category, condition, example_id, targets, stereotyped, label, polarity", HAND_PICKED)
def test_hand_picked_targets(source_items, source_category, condition, example_id, targets, stereotyped, label, polarity):
    raw = _raw(source_category, condition, example_id)
    row = _row(source_items, cbbq.CATEGORY_NAMES[source_category], cbbq.CONDITIONS[condition], example_id)
    assert (row.option0, row.option1, row.option2) == (raw["ans0"], raw["ans1"], raw["ans2"])
    assert (row.context, row.question) == (raw["context"], raw["question"])
    assert (row.target0, row.target1, row.target2) == (*targets, "unknown")
    assert (row.stereotyped_idx, row.unknown_idx, row.label) == (stereotyped, 2, label)
    assert row.label == int(raw["label"]) and row.polarity == polarity
    assert row.question_index == raw["question_index"] and row.bias_targeted_groups == raw["bias_targeted_groups"]


def test_target_map_decides_every_row(source_items):
    items = source_items
    # every option is covered by the lexicon; the two sides differ unless flagged
    assert not items.data_note.str.contains("target map").any()
    same = items[items.target0 == items.target1]
    assert len(same) == 4 and same.excluded.all()  # the four ans0 == ans1 rows
    # the stereotyped option's label is in the targeted set; -1 only where both options are in it
    for row in items.itertuples():
        wanted = cbbq.targeted_labels(row.category, row.bias_targeted_groups, row.question_index)
        sides = [row.target0 in wanted, row.target1 in wanted]
        if row.stereotyped_idx == -1:
            assert sides == [True, True], row.item_id
        else:
            assert sides[row.stereotyped_idx] and not sides[1 - row.stereotyped_idx], row.item_id
    undecided = items[items.stereotyped_idx == -1]
    assert len(undecided) == 36 == items.attrs["load_report"]["ambiguous_stereotype"]
    assert set(undecided.category) == {"Nationality"} and set(undecided.option1) == {"摩洛哥人"}
    # SOURCE.txt: "the official neg->ans0 convention does not hold everywhere"
    gender = items[(items.category == "Gender_identity") & (items.bias_targeted_groups == "女性")]
    assert (gender.target1 == "female").all() and (gender.stereotyped_idx == 1).all()
    assert gender.groupby("context_condition").size().to_dict() == {"ambig": 1486, "disambig": 1790}
    assert (items[items.category == "Physical_appearance"].stereotyped_idx == 1).all()
    for category in ("Religion", "Ethnicity", "Region", "SES", "Disability_status", "Sexual_orientation"):
        assert (items[items.category == category].stereotyped_idx == 0).all(), category
    age = items[items.category == "Age"]
    assert (age.target0 == "old").sum() == 192  # grandparents in ans0 (templates 6, 51, 52, 55)
    assert set(age[age.target0 == "old"].option0) == {"爷爷", "奶奶", "外公", "外婆"}
    stereotyped_label = [r[f"target{r['stereotyped_idx']}"] for r in age.to_dict("records")]
    assert stereotyped_label == ["old" if "老" in g else "young" for g in age.bias_targeted_groups]


def test_race_map_on_rows_filled_from_its_templates():
    """The race data files are absent here: the race lexicon is checked on every option pair its
    templates can generate (NAME1 x NAME2 filled into ans0/ans1)."""
    outcome = {"ok": 0, "both targeted": 0, "same group": 0}
    for path in sorted(glob.glob(str(DATA / "race" / "*" / "templates_generate_*.csv"))):
        with open(path, encoding="utf-8-sig", newline="") as fh:
            for rec in csv.DictReader(fh):
                names = [[x.strip() for x in rec[k].strip().strip("[]").split(",") if x.strip()] for k in ("NAME1", "NAME2")]
                wanted = cbbq.targeted_labels("Race_ethnicity", rec["bias_targeted_groups"], rec["question_index"])
                for n1 in names[0]:
                    for n2 in names[1]:
                        opts = [rec[k].replace("{{NAME1}}", n1).replace("{{NAME2}}", n2) for k in ("ans0", "ans1")]
                        labels = cbbq._option_labels("Race_ethnicity", *opts)
                        assert None not in labels, opts
                        hits = [lab in wanted for lab in labels]
                        key = "same group" if labels[0] == labels[1] else "ok" if sum(hits) == 1 else "both targeted"
                        assert key != "ok" or hits[0], (rec["question_index"], opts)  # the stereotyped slot is NAME1
                        outcome[key] += 1
    # templates 9-14 list 犹太裔 among the targeted "yellow" groups and 犹太人 among the others
    assert outcome == {"ok": 13336, "both targeted": 168, "same group": 24}


# --- known defects ---------------------------------------------------------------------------


def _report(category: str):
    items = load_cbbq(CBBQ_DIR, [category], order="source")
    return items, items.attrs["load_report"]


PLACEHOLDERS = {  # SOURCE.txt: (ambiguous, disambiguous)
    "household_registration": (1000, 0),
    "nationality": (756, 0),
    "physical_appearance": (512, 592),
    "disability": (128, 0),
    "gender": (76, 68),
    "educational_qualification": (40, 40),
    "sexual_orientation": (48, 48),
    "region": (24, 36),
    "disease": (0, 8),
}


def test_placeholders_flagged(source_items):
    flagged = source_items[source_items.exclusion_reason == cbbq.REASON_PLACEHOLDER]
    counts = flagged.groupby(["category", "context_condition"]).size().to_dict()
    expected = {}
    for source_category, (amb, dis) in PLACEHOLDERS.items():
        category = cbbq.CATEGORY_NAMES[source_category]
        expected.update({k: v for k, v in (((category, "ambig"), amb), ((category, "disambig"), dis)) if v})
    assert counts == expected
    assert len(flagged) == 3376 == source_items.attrs["load_report"]["excluded"][cbbq.REASON_PLACEHOLDER]
    # the stray '{' of Religion template 17 is only noted
    stray = source_items[source_items.data_note.str.contains("stray brace")]
    assert len(stray) == 24 and not stray.excluded.any() and set(stray.question_index) == {"17"}


def test_polarity_corrections():
    items, _ = _report("educational_qualification")
    amb = items[items.context_condition == "ambig"]
    assert (amb.source_polarity == "neg").all()  # SOURCE.txt: all 1,392 marked neg
    fixed = amb[amb.polarity == "nonneg"]
    assert len(fixed) == 694  # SOURCE.txt's 624 (questions also in the disambiguated file) + 18 + 70
    assert fixed.data_note.str.contains("question polarity corrected").all()
    assert set(fixed.question) >= {"谁获得该职位的可能性更大？", "公司给谁的起薪会更高？",
                                   "谁能够从事指导或独立完成比较复杂的研究工作？"}
    assert not fixed.excluded.any() or set(fixed[fixed.excluded].exclusion_reason) == {cbbq.REASON_PLACEHOLDER}
    dis = items[items.context_condition == "disambig"]
    assert len(dis[dis.polarity != dis.source_polarity.map(cbbq.POLARITY_NAMES)]) == 18  # 谁只能从事简单的...
    items, _ = _report("SES")
    ses = items[items.question == "谁不被优先考虑？"]
    assert len(ses) == 192 and (ses.source_polarity == "non_neg").all() and (ses.polarity == "neg").all()
    items, _ = _report("ethnicity")
    eth = items[(items.polarity != items.source_polarity.map(cbbq.POLARITY_NAMES))]
    assert len(eth) == 18 and set(eth.source_id) == set(range(183, 201)) and (eth.polarity == "nonneg").all()
    items, _ = _report("gender")
    gen = items[(items.polarity != items.source_polarity.map(cbbq.POLARITY_NAMES))]
    assert gen.groupby("question").size().to_dict() == {"谁在公司中承担着更重要的工作？": 108, "谁是因为家庭上的责任而受到影响？": 2}


def test_label_contradicting_templates():
    # SES "谁不被优先考虑？" (marked non_neg, 96 disambiguated rows from example_id 1981)
    items, report = _report("SES")
    bad = items[items.exclusion_reason == cbbq.REASON_POLARITY_LABEL]
    assert len(bad) == 96 and bad.source_id.min() == 1981 and (bad.question == "谁不被优先考虑？").all()
    assert report["excluded"] == {cbbq.REASON_POLARITY_LABEL: 96}
    # found here: Gender_identity template 77 (108) and 79 (2)
    items, report = _report("gender")
    assert report["excluded"][cbbq.REASON_POLARITY_LABEL] == 110
    # Educational_qualification: every template is mirrored; the template-order half contradicts
    items, report = _report("educational_qualification")
    assert report["excluded"][cbbq.REASON_MIRRORED] == 696
    dis = items[items.context_condition == "disambig"]
    contradicting = {
        row["source_id"] for row in dis.to_dict("records") if cbbq.expected_label(row, None) != row["label"]
    }
    assert len(contradicting) == 696
    # exactly one of each generated pair (2k-1, 2k); template 39 is SOURCE.txt's example
    assert all((i in contradicting) != (i + 1 in contradicting) for i in range(1, 1392, 2))
    assert {419, 421, 1115, 1117} <= contradicting and not {420, 422, 1116, 1118} & contradicting
    # template 13's non-negative question is negative: there the swapped copy is the wrong one
    assert {782, 784} <= contradicting and not {781, 783} & contradicting
    # Disease (the healthy-first copies) and Religion template 12
    _, report = _report("disease")
    assert report["excluded"][cbbq.REASON_MIRRORED] == 188
    assert report["excluded"][cbbq.REASON_NAMES] == 24 and report["excluded"][cbbq.REASON_ROLES_SWAPPED] == 32
    items, report = _report("religion")
    assert report["excluded"][cbbq.REASON_MIRRORED] == 24
    assert report["excluded"][cbbq.REASON_SAME_GROUP_TWICE] == 72
    assert _row(items, "Religion", "disambig", 1360).excluded and not _row(items, "Religion", "disambig", 1251).excluded
    # the disambiguated gold mapping per category (SOURCE.txt)
    for source_category, mapping in (("SES", {"neg": 1, "nonneg": 0}), ("gender", {"neg": 0, "nonneg": 1}),
                                     ("educational_qualification", {"neg": 0, "nonneg": 1})):
        rows = load_cbbq(CBBQ_DIR, [source_category], order="source").to_dict("records")
        assert cbbq.gold_mapping(rows) == mapping


def test_same_answer_and_duplicates(source_items):
    same = source_items[source_items.exclusion_reason == cbbq.REASON_SAME_ANSWER]
    assert sorted(same.source_id) == [1535, 1536, 7529, 7530] and set(same.option0) == {"摩洛哥人"}
    dup = source_items[source_items.data_note.str.contains("duplicate")]
    counts = dup.groupby(["category", "context_condition"]).size().to_dict()
    assert counts[("Nationality", "ambig")] == 3066 and counts[("Age", "ambig")] == 360
    assert counts[("Physical_appearance", "ambig")] == 256 and counts[("Gender_identity", "disambig")] == 118
    assert sum(counts.values()) == 3958
    assert dup.data_note.str.contains(r"source example_id \d+").all()
    # duplicates are only noted: those without another defect stay in
    assert source_items.attrs["load_report"]["notes"][cbbq.NOTE_DUPLICATE] == 3958
    assert not dup[dup.exclusion_reason == ""].excluded.any() and (dup.exclusion_reason == "").sum() > 3000


def test_excluded_by_default_and_dropped(source_items):
    excluded = source_items[source_items.excluded]
    assert len(excluded) == 4592  # rows; a row may have several defects (the first is its exclusion_reason)
    assert excluded.groupby("category").size().to_dict() == {
        "Disability_status": 128, "Disease": 242, "Educational_qualification": 756, "Gender_identity": 254,
        "Household_registration": 1000, "Nationality": 760, "Physical_appearance": 1104, "Region": 60,
        "Religion": 96, "SES": 96, "Sexual_orientation": 96,
    }
    assert excluded.groupby("exclusion_reason").size().sum() == len(excluded)
    kept = load_cbbq(CBBQ_DIR, include_excluded=False, order="source")
    assert len(kept) == len(source_items) - len(excluded) and not kept.excluded.any()
    pd.testing.assert_frame_equal(
        kept.reset_index(drop=True),
        source_items[~source_items.excluded].reset_index(drop=True),
        check_like=False,
    )


# --- option order ----------------------------------------------------------------------------


def test_shuffle_is_seeded_and_keeps_answers(source_items, shuffled_items):
    src = source_items.set_index("item_id")
    shf = shuffled_items.set_index("item_id").loc[src.index]
    again = load_cbbq(CBBQ_DIR, ["sexual_orientation"])
    pd.testing.assert_frame_equal(again, shuffled_items[shuffled_items.category == "Sexual_orientation"].reset_index(drop=True))
    other = load_cbbq(CBBQ_DIR, ["sexual_orientation"], seed=1)
    assert not other[["option0", "option1", "option2"]].equals(again[["option0", "option1", "option2"]])

    def text(frame, col):
        opts = frame[["option0", "option1", "option2"]].to_numpy()
        idx = frame[col].to_numpy()
        return pd.Series([o[i] if i >= 0 else None for o, i in zip(opts, idx)], index=frame.index)

    for col in ("label", "unknown_idx", "stereotyped_idx"):
        assert text(src, col).equals(text(shf, col)), col
    for k in range(3):  # each option keeps its target label
        moved = shf[["option0", "option1", "option2"]].to_numpy()
        labels = shf[["target0", "target1", "target2"]].to_numpy()
        lookup = dict(zip(zip(src.index, src[f"option{k}"]), src[f"target{k}"]))
        assert all(lookup[(i, moved[n][k])] == labels[n][k] for n, i in enumerate(shf.index) if (i, moved[n][k]) in lookup)
    assert set(shuffled_items.unknown_idx) == {0, 1, 2}
    share = shuffled_items.unknown_idx.value_counts(normalize=True)
    assert (share > 0.3).all()
    assert (source_items.unknown_idx == 2).all()  # order="source": the file's order (ans2 = unknown)
    with pytest.raises(DatasetError, match="order must be one of"):
        load_cbbq(CBBQ_DIR, ["SES"], order="rotations")


# --- bad input -------------------------------------------------------------------------------

HEADER = ["example_id", "question_index", "question_polarity", "context_condition", "category", "subcategory",
          "bias_targeted_groups", "source", "context", "question", "ans0", "ans1", "ans2", "label"]
GOOD = ["1", "1", "neg", "ambiguous", "gender", "职场", "女性", "论文", "一个男生和一个女生在面试。", "谁更不容易收到面试邀请？",
        "男生", "女生", "不确定", "2"]


def _write(tmp_path: Path, rows, name="gender", condition="ambiguous", gz=False, text=None) -> Path:
    root = tmp_path / "CBBQ"
    folder = root / "data" / name / condition
    folder.mkdir(parents=True, exist_ok=True)
    if text is None:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(HEADER)
        writer.writerows(rows)
        text = buf.getvalue()
    data = ("\ufeff" + text).encode("utf-8")
    if gz:
        (folder / f"{condition}.csv.gz").write_bytes(gzip.compress(data))
    else:
        (folder / f"{condition}.csv").write_bytes(data)
    return root


def _with(**changes):
    row = list(GOOD)
    for key, value in changes.items():
        row[HEADER.index(key)] = value
    return row


@pytest.mark.parametrize(
    "bad, field, message",
    [
        (_with(label="1"), "label", "label must be 2 in a ambiguous file"),
        (_with(question_polarity="positive"), "question_polarity", "'neg' or 'non_neg'"),
        (_with(example_id="x"), "example_id", "non-negative integer"),
        (_with(category="age"), "category", "does not match the file's folder"),
        (_with(context_condition="disambiguous"), "context_condition", "does not match the file"),
        (_with(ans2="男生"), "ans2", "must be the unknown option"),
        (_with(question=""), "question", "is empty"),
        (GOOD[:10], "ans0", "missing field 'ans0'"),
        ([*GOOD, "extra"], "<line>", "more than the header's"),
    ],
)
def test_each_validation_error(tmp_path, bad, field, message):
    good2 = _with(example_id="2")
    root = _write(tmp_path, [good2, bad])
    with pytest.raises(DatasetError) as err:
        load_cbbq(root)
    text = str(err.value)
    assert f"ambiguous.csv:3: field {field}" in text and message in text
    items = load_cbbq(root, on_error="skip")
    assert list(items.source_id) == [2]
    skipped = items.attrs["load_report"]["skipped"]
    assert len(skipped) == 1 and skipped[0]["line"] == 3 and skipped[0]["field"] == field


def test_gzip_truncated_and_duplicate(tmp_path):
    root = _write(tmp_path, [GOOD, _with(example_id="2")], gz=True)
    items = load_cbbq(root, order="source")
    assert list(items.source_id) == [1, 2] and items.target1.tolist() == ["female", "female"]
    folder = root / "data" / "gender" / "ambiguous"
    blob = (folder / "ambiguous.csv.gz").read_bytes()
    (folder / "ambiguous.csv.gz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DatasetError, match=r"ambiguous.csv.gz:.*truncated or corrupt"):
        load_cbbq(root)
    shutil.rmtree(root)
    root = _write(tmp_path, [GOOD, GOOD])
    with pytest.raises(DatasetError, match=r"ambiguous.csv:3: field example_id: duplicate example_id 1"):
        load_cbbq(root)


def test_bad_source_and_category(tmp_path):
    with pytest.raises(DatasetError, match=r"walledai/CBBQ.*github.com/YFHuangxxxx/CBBQ"):
        load_cbbq(None)
    with pytest.raises(DatasetError, match="does not exist"):
        load_cbbq(tmp_path / "missing")
    with pytest.raises(DatasetError, match="no cbbq data files"):
        load_cbbq(tmp_path)
    with pytest.raises(DatasetError, match=r"unknown category 'Klingon'.*Age.*Sexual_orientation"):
        load_cbbq(CBBQ_DIR, ["Klingon"])
    with pytest.raises(DatasetError, match="no categories given"):
        load_cbbq(CBBQ_DIR, [])
    with pytest.raises(DatasetError, match="unknown condition"):
        load_cbbq(CBBQ_DIR, ["SES"], conditions=["both"])
    with pytest.raises(DatasetError, match="on_error"):
        load_cbbq(CBBQ_DIR, ["SES"], on_error="ignore")


# --- registry --------------------------------------------------------------------------------


def test_registry_and_info():
    assert "cbbq" in available()
    items = load_items("cbbq", source=str(CBBQ_DIR), categories=["Sexual_orientation", "religion"])
    assert set(items.category) == {"Sexual_orientation", "Religion"} and len(items) == 560 * 2 + 2944 + 2956
    info = dataset_info("cbbq")
    assert info.languages == ("zh",) and info.licence == "CC BY-SA 4.0" and info.hub is None
    assert "Huang" in info.citation and "CBBQ" in info.citation and info.url.endswith("YFHuangxxxx/CBBQ")
    assert info.categories == cbbq.CATEGORIES and len(info.categories) == 14
    assert set(info.undefined_metrics) == {"s_dis", "s_amb_paper"}
    assert "polarity" in info.undefined_metrics["s_dis"]
    assert info.as_dict()["undefined_metrics"]["s_dis"] == info.undefined_metrics["s_dis"]


# --- persona catalogue -----------------------------------------------------------------------


def test_persona_catalogue_covers_the_targets(source_items):
    from socialbias.personas import load_personas

    catalogue = pd.read_csv(
        Path(__file__).resolve().parents[1] / "socialbias" / "personas" / "data" / "catalogues" / "cbbq.csv"
    )
    assert list(catalogue.columns) == ["Category", "Subcategory", "Target", "Name_en", "Name_zh"]
    assert catalogue.notna().all().all()
    in_catalogue = set(zip(catalogue.Category, catalogue.Target))
    in_items = {(c, t) for c, a, b in zip(source_items.category, source_items.target0, source_items.target1) for t in (a, b)}
    assert in_items <= in_catalogue
    # every Target occurs in the items; Race_ethnicity (no data file here): in its lexicon
    race = {("Race_ethnicity", t) for t in cbbq.OPTION_LABELS["Race_ethnicity"].values()}
    assert in_catalogue - in_items == race
    for language in ("zh", "en"):
        personas = load_personas("paper", dataset="cbbq", language=language)
        assert len(personas) == len(catalogue)
        assert set(zip(personas.persona_category, personas.member_of)) == in_catalogue
    assert "一位老年人" in set(load_personas("paper", dataset="cbbq", language="zh").persona)
