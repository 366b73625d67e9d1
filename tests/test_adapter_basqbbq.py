"""The BasqBBQ adapter: every local file loads, targets on hand-picked records, defects, inputs.

Counts and defects: ../shared/bbq_family/BasqBBQ/SOURCE.txt.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from socialbias.bbq_adapters import ITEM_COLUMNS, DatasetError, available, dataset_info, load_items
from socialbias.bbq_adapters import basqbbq as basq
from tests.conftest import FAMILY_DIR

ROOT = FAMILY_DIR / "BasqBBQ"
DATA = ROOT / "data" / "BasqBBQ"
CATALOGUE = Path(__file__).resolve().parents[1] / "socialbias/personas/data/catalogues/basqbbq.csv"

PER_CONDITION = {  # SOURCE.txt: ambig rows = disambig rows
    "Age": 1452,
    "Disability_status": 840,
    "Gender_identity": 2816,
    "Nationality": 968,
    "Physical_appearance": 744,
    "SES": 3308,
    "Sexual_orientation": 428,
}


@pytest.fixture(scope="module")
def items() -> pd.DataFrame:
    if not DATA.is_dir():
        pytest.fail(f"the BasqBBQ data are expected at {DATA}")
    return basq.load_basqbbq(ROOT)


def _raw(basque_category: str, condition: str, example_id: int) -> dict:
    path = next(DATA.glob(f"{basque_category}_{condition}.jsonl*"))
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            if rec["example_id"] == example_id:
                return rec
    raise KeyError(example_id)


def _row(items: pd.DataFrame, category: str, example_id: int) -> pd.Series:
    return items[(items.category == category) & (items.example_id == example_id)].iloc[0]


def test_every_local_record_loads(items):
    assert len(items) == 21112
    counts = items.groupby(["category", "context_condition"]).size().unstack()
    assert counts["ambig"].to_dict() == PER_CONDITION and counts["disambig"].to_dict() == PER_CONDITION
    assert list(items.columns) == [*ITEM_COLUMNS, "version"]
    assert (items.dataset == "basqbbq").all() and (items.language == "eu").all()
    assert items.item_id.is_unique and items.item_id.iloc[0] == "basqbbq/Age/0"
    report = items.attrs["load_report"]
    assert report["n_records"] == 21112 and report["n_skipped"] == 0 and report["ambiguous_stereotype"] == 0
    # 14 files: the split files only (7 categories x ambig/disambig; three of them gzipped).
    assert len(report["sources"]) == 14 and sum(s.endswith(".gz") for s in report["sources"]) == 3
    targets = items[["target0", "target1", "target2"]].to_numpy()
    assert ((targets == "unknown").sum(axis=1) == 1).all()
    assert (targets[range(len(items)), items.unknown_idx] == "unknown").all()
    assert items.unknown_idx.value_counts().to_dict() == {0: 7096, 1: 6820, 2: 7196}
    ambig = items[items.context_condition == "ambig"]
    assert (ambig.label == ambig.unknown_idx).all()
    st = items.stereotyped_idx
    assert st.between(0, 2).all() and (st != items.unknown_idx).all()
    assert set(items.polarity) == {"neg", "nonneg"} and (items.example_id % 2 == (items.context_condition == "disambig")).all()


def test_target_labels_are_bbq_spellings(items):
    labels = {c: set(g[["target0", "target1", "target2"]].to_numpy().ravel()) - {"unknown"}
              for c, g in items.groupby("category")}
    assert labels["Age"] == {"old", "nonOld"}
    assert labels["SES"] == {"lowSES", "highSES"}
    assert labels["Disability_status"] == {"disabled", "nonDisabled"}
    assert labels["Gender_identity"] == {"F", "M", "trans", "nonTrans", "trans_F", "trans_M", "nonTrans_F", "nonTrans_M"}
    assert labels["Sexual_orientation"] == {"gay", "lesbian", "bisexual", "pansexual", "straight"}
    assert labels["Nationality"] == {"Afghan", "American", "British", "Chinese", "Colombian", "French", "German",
                                     "Italian", "Moroccan", "Portuguese", "Romanian", "Senegalese", "Spanish"}
    assert labels["Physical_appearance"] == {"obese", "nonObese", "negDress", "posDress", "pregnant", "notPregnant",
                                             "short", "tall", "visibleDifference", "noVisibleDifference"}


@pytest.mark.parametrize(
    "basque, category, condition, example_id, targets, stereotyped_idx, unknown_idx, label, option1",
    [
        # ans0 biloba/nonOld, ans1 aitona/Old, ans2 Ezezaguna; stereotyped_groups ["Old"].
        ("Adin", "Age", "ambig", 0, ("nonOld", "old", "unknown"), 1, 2, 2, "Aitona"),
        ("Adin", "Age", "disambig", 1, ("nonOld", "old", "unknown"), 1, 2, 0, "Aitona"),
        # paper-pila bat eramaten/nonDisabled, gurpildun aulkiarekin/disabled.
        ("Ezgaitasun_egoera", "Disability_status", "disambig", 1, ("nonDisabled", "disabled", "unknown"), 1, 2, 0,
         "Gurpildun aulkiarekin zegoen gizonak"),
        # gizon/M, emakume/F; stereotyped_groups ["F"]; the gzipped file.
        ("Genero_identitate", "Gender_identity", "disambig", 1, ("M", "F", "unknown"), 1, 2, 0, "Emakumea"),
        # pertsona transgenero/trans vs unibertsitateko ikasle/nonTrans; groups trans_F, trans_M, trans.
        ("Genero_identitate", "Gender_identity", "ambig", 72, ("unknown", "trans", "nonTrans"), 1, 0, 0,
         "Pertsona transgeneroa"),
        # Libe/trans_F vs Ibai/nonTrans_M.
        ("Genero_identitate", "Gender_identity", "ambig", 2648, ("trans_F", "unknown", "nonTrans_M"), 0, 1, 1,
         "Informazio gutxiegi"),
        # mehe/nonObese, gizen/obese.
        ("Itxura_fisikoa", "Physical_appearance", "disambig", 1, ("nonObese", "obese", "unknown"), 1, 2, 0,
         "Tipo gizena"),
        # aberats/MSEaltua, pobre/MSEbaxua.
        ("MSE", "SES", "disambig", 1, ("unknown", "highSES", "lowSES"), 2, 0, 2, "Pertsona aberatsak"),
        # errumaniar (stereotyped) vs txinatar whose tag is NaN: target from the name.
        ("Nazionalitate", "Nationality", "ambig", 8, ("Romanian", "Chinese", "unknown"), 0, 2, 2, "Lagun txinatarra"),
        ("Nazionalitate", "Nationality", "disambig", 1, ("Portuguese", "unknown", "Romanian"), 2, 1, 2,
         "Ezin da zehaztu"),
        ("Orientazio_sexual", "Sexual_orientation", "disambig", 1, ("unknown", "lesbian", "gay"), 2, 0, 2,
         "Emakume lesbiana"),
        ("Orientazio_sexual", "Sexual_orientation", "ambig", 8, ("gay", "unknown", "straight"), 0, 1, 1, "Ezezaguna"),
    ],
)
def test_hand_picked_records(items, basque, category, condition, example_id, targets, stereotyped_idx, unknown_idx,
                             label, option1):
    raw = _raw(basque, condition, example_id)
    row = _row(items, category, example_id)
    assert raw["category"] == basque and row.context_condition == condition
    assert (row.target0, row.target1, row.target2) == targets
    assert (row.stereotyped_idx, row.unknown_idx, row.label) == (stereotyped_idx, unknown_idx, label)
    assert row.option1 == option1
    assert (row.option0, row.option1, row.option2) == (raw["ans0"], raw["ans1"], raw["ans2"])
    assert (row.context, row.question, row.label) == (raw["context"], raw["question"], raw["label"])
    assert row.polarity == raw["question_polarity"] and row.question_index == raw["question_index"]
    assert raw["answer_info"][f"ans{unknown_idx}"][1] == "unknown"


def test_source_labels_option():
    source = basq.load_basqbbq(ROOT, ["Adin", "MSE", "Nazionalitate", "Orientazio_sexual"], labels="source")
    labels = set(source[["target0", "target1", "target2"]].to_numpy().ravel())
    assert {"Old", "nonOld", "MSEbaxua", "MSEaltua", "marokoar", "txinatar", "lesbiana", "heterosexual"} <= labels
    assert not {"old", "lowSES", "Moroccan", "straight"} & labels
    row = _row(source, "SES", 1)
    assert (row.target1, row.target2, row.stereotyped_idx) == ("MSEaltua", "MSEbaxua", 2)
    with pytest.raises(DatasetError, match="labels must be 'bbq' or 'source'"):
        basq.load_basqbbq(ROOT, ["Adin"], labels="english")


def test_known_defects_flagged(items):
    flagged = items[items.excluded]
    assert len(flagged) == 70 and (flagged.context_condition == "disambig").all()
    pa = flagged[flagged.category == "Physical_appearance"]
    assert sorted(pa[pa.question_index == "6"].example_id) == list(range(393, 472, 2))  # 40 rows
    assert sorted(pa[pa.question_index == "10"].example_id) == list(range(581, 616, 2))  # 18 rows
    assert (pa.version == "b").all() and pa.exclusion_reason.str.contains("template (?:6|10) version b").all()
    ses = flagged[flagged.category == "SES"]
    assert sorted(ses[ses.question_index == "9"].example_id) == list(range(1609, 1620, 2))
    assert sorted(ses[ses.question_index == "10"].example_id) == list(range(1645, 1656, 2))
    assert set(ses[ses.question_index == "9"].version) == {"a"} and set(ses[ses.question_index == "10"].version) == {"b"}
    # id 1609: rich students sell drugs, yet the label is the poor students.
    row = _row(items, "SES", 1609)
    assert row.excluded and row.option2 == "Ikasle txiroak" and row.label == 2 and row.target2 == "lowSES"
    assert set(flagged.category) == {"Physical_appearance", "SES"}
    report = items.attrs["load_report"]
    assert report["n_excluded"] == 70 and sorted(report["excluded"].values()) == [6, 6, 18, 40]
    kept = basq.load_basqbbq(DATA, ["Itxura_fisikoa", "MSE"], include_excluded=False)
    assert len(kept) == 2 * (744 + 3308) - 70 and not kept.excluded.any()


def test_missing_tag_is_noted_not_excluded(items):
    noted = items[items.data_note != ""]
    assert len(noted) == 184 and set(noted.category) == {"Nationality"} and not noted.excluded.any()
    assert noted.data_note.str.contains("answer tag missing").all()
    assert (noted[["target0", "target1", "target2"]] == "Chinese").any(axis=1).all()
    assert items.attrs["load_report"]["notes"] == {"answer tag missing (NaN): target read from the answer's name": 184}


def test_source_folders_and_category_names():
    by_root = basq.load_basqbbq(ROOT, ["Sexual_orientation"])
    by_data = basq.load_basqbbq(ROOT / "data", ["Orientazio_sexual"])
    by_leaf = basq.load_basqbbq(DATA, ["Orientazio_sexual", "Sexual_orientation"])
    pd.testing.assert_frame_equal(by_root, by_data)
    pd.testing.assert_frame_equal(by_root, by_leaf)
    assert len(by_root) == 856 and set(by_root.category) == {"Sexual_orientation"}


def _copy_category(tmp_path: Path, basque: str, combined: bool, split: bool) -> Path:
    d = tmp_path / "basq"
    d.mkdir(exist_ok=True)
    parts = [DATA / f"{basque}_ambig.jsonl", DATA / f"{basque}_disambig.jsonl"]
    if split:
        for p in parts:
            shutil.copy(p, d / p.name)
    if combined:
        (d / f"{basque}.jsonl").write_text("".join(p.read_text(encoding="utf-8") for p in parts), encoding="utf-8")
    return d


def test_combined_file_only_when_no_split_files(tmp_path):
    d = _copy_category(tmp_path, "Orientazio_sexual", combined=True, split=True)
    both = basq.load_basqbbq(d)
    assert len(both) == 856 and len(both.attrs["load_report"]["sources"]) == 2  # never the combined file too
    (d / "Orientazio_sexual_ambig.jsonl").unlink()
    with pytest.raises(DatasetError, match="has Orientazio_sexual_disambig.jsonl but not Orientazio_sexual_ambig"):
        basq.load_basqbbq(d)
    (d / "Orientazio_sexual_disambig.jsonl").unlink()
    combined = basq.load_basqbbq(d)
    assert combined.attrs["load_report"]["sources"] == [str(d / "Orientazio_sexual.jsonl")]
    pd.testing.assert_frame_equal(combined, both)


def test_bad_inputs(tmp_path):
    with pytest.raises(DatasetError, match="orai-nlp/BasqBBQ.*not on the Hugging Face hub.*CC BY-NC-SA"):
        basq.load_basqbbq()
    with pytest.raises(DatasetError, match="does not exist"):
        basq.load_basqbbq(tmp_path / "missing")
    with pytest.raises(DatasetError, match="no basqbbq data files"):
        basq.load_basqbbq(tmp_path)
    with pytest.raises(DatasetError, match="unknown category 'Klingon'.*Adin"):
        basq.load_basqbbq(ROOT, ["Klingon"])
    with pytest.raises(DatasetError, match="category Race_ethnicity \\(Arraza_etnizitate\\) is not in"):
        basq.load_basqbbq(ROOT, ["Race_ethnicity"])
    with pytest.raises(DatasetError, match="no categories given"):
        basq.load_basqbbq(ROOT, [])
    with pytest.raises(DatasetError, match="on_error"):
        basq.load_basqbbq(ROOT, ["Adin"], on_error="ignore")


def _good_record(example_id: int = 0) -> dict:
    return {
        "example_id": example_id, "question_index": "1", "question_polarity": "neg", "context_condition": "ambig",
        "category": "Adin",
        "answer_info": {"ans0": ["biloba", "nonOld"], "ans1": ["aitona", "Old"], "ans2": ["Ezezaguna", "unknown"]},
        "additional_metadata": {"subcategory": "None", "stereotyped_groups": ["Old"], "version": "a", "source": ""},
        "context": "Biloba eta aitona.", "question": "Nor?", "ans0": "Biloba", "ans1": "Aitona", "ans2": "Ezezaguna",
        "label": 2,
    }


def test_malformed_record_raise_and_skip(tmp_path):
    d = tmp_path / "basq"
    d.mkdir()
    bad = _good_record(2)
    del bad["label"]
    (d / "Adin_ambig.jsonl").write_text(json.dumps(_good_record(0)) + "\n" + json.dumps(bad) + "\n")
    (d / "Adin_disambig.jsonl").write_text(json.dumps(_good_record(1) | {"context_condition": "disambig"}) + "\n")
    with pytest.raises(DatasetError, match=r"Adin_ambig.jsonl:2: field label: missing field 'label'"):
        basq.load_basqbbq(d)
    items = basq.load_basqbbq(d, on_error="skip")
    assert list(items.example_id) == [0, 1] and items.attrs["load_report"]["skipped"][0]["line"] == 2
    # A record of another category in a category's file.
    (d / "Adin_ambig.jsonl").write_text(json.dumps(_good_record(0) | {"category": "MSE"}) + "\n")
    with pytest.raises(DatasetError, match="category 'SES' does not match the file's category 'Age'"):
        basq.load_basqbbq(d)


def test_truncated_gzip(tmp_path):
    d = tmp_path / "basq"
    d.mkdir()
    shutil.copy(DATA / "Orientazio_sexual_ambig.jsonl", d)
    blob = gzip.compress((DATA / "Orientazio_sexual_disambig.jsonl").read_bytes())
    (d / "Orientazio_sexual_disambig.jsonl.gz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DatasetError, match=r"Orientazio_sexual_disambig.jsonl.gz:.*truncated"):
        basq.load_basqbbq(d)


def test_registry_and_info():
    assert "basqbbq" in available()
    items = load_items("basqbbq", source=str(ROOT), categories=["Age"])
    assert len(items) == 2904 and set(items.category) == {"Age"}
    info = dataset_info("basqbbq")
    assert info.languages == ("eu",) and info.hub is None and info.hub_revision is None
    assert "CC BY-NC-SA 4.0" in info.licence and "non-commercial" in info.licence
    assert "Zulaika" in info.citation and "COLING 2025" in info.citation
    assert info.url == "https://github.com/orai-nlp/BasqBBQ" and "data/BasqBBQ" in info.source_hint
    assert set(info.categories) == set(basq.CATEGORY_NAMES.values()) and dict(info.undefined_metrics) == {}


def test_persona_catalogue_matches_items(items):
    catalogue = pd.read_csv(CATALOGUE)
    assert list(catalogue.columns) == ["Category", "Subcategory", "Target", "Name_en", "Name_eu"]
    assert catalogue.notna().all().all() and not catalogue.duplicated(["Category", "Name_eu"]).any()
    in_items = {(c, t) for c, g in items.groupby("category")
                for t in set(g[["target0", "target1", "target2"]].to_numpy().ravel()) - {"unknown"}}
    in_catalogue = set(zip(catalogue.Category, catalogue.Target))
    assert in_items == in_catalogue
