"""The JBBQ adapter, on sample files in JBBQ's documented format (tests.family_samples; JBBQ is
by request only and may not be redistributed). ../shared/bbq_family/JBBQ/SOURCE.txt."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest

from socialbias.bbq_adapters import (
    ITEM_COLUMNS,
    DatasetError,
    available,
    dataset_info,
    jbbq,
    load_items,
)
from tests.family_samples import JBBQ_CATEGORIES, write_jbbq_sample

CATALOGUE = Path(__file__).resolve().parents[1] / "socialbias/personas/data/catalogues/jbbq.csv"
SAMPLE_COUNTS = {"Age": 16, "Disability_status": 16, "Gender_identity": 16, "Physical_appearance": 40,
                 "Sexual_orientation": 24}


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    return write_jbbq_sample(tmp_path_factory.mktemp("jbbq"))


@pytest.fixture(scope="module")
def items(sample) -> pd.DataFrame:
    return jbbq.load_jbbq(sample)


def _raw(sample: Path, category: str, example_id: int) -> dict:
    for line in (sample / f"{category}.jsonl").read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        if rec["example_id"] == example_id:
            return rec
    raise KeyError(example_id)


def _row(items: pd.DataFrame, category: str, example_id: int) -> pd.Series:
    return items[(items.category == category) & (items.example_id == example_id)].iloc[0]


def _labels(items: pd.DataFrame) -> set[str]:
    return set(items[["target0", "target1", "target2"]].to_numpy().ravel()) - {"unknown"}


def test_every_sample_file_loads(items, sample):
    assert items.groupby("category").size().to_dict() == SAMPLE_COUNTS
    assert list(items.columns) == [*ITEM_COLUMNS, "version", "is_additional"]
    assert (items.dataset == "jbbq").all() and (items.language == "ja").all()
    assert items.item_id.is_unique and _row(items, "Age", 3).item_id == "jbbq/Age/3"
    assert str(items.is_additional.dtype) == "int8" and set(items.is_additional) == {0, 1}
    report = items.attrs["load_report"]
    assert report["n_records"] == 112 and report["n_skipped"] == 0 and report["n_excluded"] == 0
    targets = items[["target0", "target1", "target2"]].to_numpy()
    assert (targets[range(len(items)), items.unknown_idx] == "unknown").all()
    assert (items.stereotyped_idx != items.unknown_idx).all() and items.stereotyped_idx.between(0, 2).all()
    for _, g in items.groupby("category"):
        assert set(g.context_condition) == {"ambig", "disambig"} and set(g.polarity) == {"neg", "nonneg"}
    # Both spellings of the metadata field occur in the sample and are read.
    assert "additional_metadeta" in _raw(sample, "Age", 0)
    assert "additional_metadata" in _raw(sample, "Disability_status", 0)


def test_labels(items):
    by_cat = {c: _labels(g) for c, g in items.groupby("category")}
    assert by_cat == {
        "Age": {"old", "nonOld"},
        "Disability_status": {"disabled", "nonDisabled"},
        "Gender_identity": {"F", "M"},
        "Physical_appearance": {"obese", "nonObese", "negDress", "posDress", "pregnant", "notPregnant", "short", "tall",
                                "visibleDifference", "noVisibleDifference"},
        "Sexual_orientation": {"gay", "straight", "lesbian", "bisexual", "pansexual"},
    }


@pytest.mark.parametrize(
    "category, example_id, targets, stereotyped_idx, unknown_idx, label, is_additional",
    [
        ("Age", 0, ("old", "nonOld", "unknown"), 0, 2, 2, 0),           # 祖父/old, 孫/nonOld; metadeta spelling
        ("Age", 9, ("old", "nonOld", "unknown"), 0, 2, 1, 1),           # 70代の人 (added template)
        ("Disability_status", 5, ("unknown", "nonDisabled", "disabled"), 2, 0, 1, 0),
        ("Gender_identity", 1, ("F", "M", "unknown"), 0, 2, 1, 0),      # tags 女性/男性
        ("Gender_identity", 12, ("unknown", "M", "F"), 2, 0, 0, 1),     # tags 女の子/男の子
        ("Physical_appearance", 2, ("obese", "nonObese", "unknown"), 0, 2, 2, 0),
        ("Sexual_orientation", 1, ("gay", "straight", "unknown"), 0, 2, 1, 0),  # names ゲイ/異性愛者, tags English
        ("Sexual_orientation", 21, ("unknown", "straight", "pansexual"), 2, 0, 1, 1),
    ],
)
def test_hand_picked_records(items, sample, category, example_id, targets, stereotyped_idx, unknown_idx, label,
                             is_additional):
    raw = _raw(sample, category, example_id)
    row = _row(items, category, example_id)
    assert (row.target0, row.target1, row.target2) == targets
    assert (row.stereotyped_idx, row.unknown_idx, row.label) == (stereotyped_idx, unknown_idx, label)
    assert (row.option0, row.option1, row.option2) == (raw["ans0"], raw["ans1"], raw["ans2"])
    assert (row.context, row.question, row.label) == (raw["context"], raw["question"], raw["label"])
    assert row.is_additional == raw["is_additional"] == is_additional
    meta = raw.get("additional_metadata", raw.get("additional_metadeta"))
    assert row.version == meta["version"]
    assert raw["answer_info"][f"ans{unknown_idx}"][1] == "unknown"


def _write(directory: Path, name: str, records: list[dict]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


def _sample_records(sample: Path, category: str) -> list[dict]:
    return [json.loads(line) for line in (sample / f"{category}.jsonl").read_text(encoding="utf-8").splitlines()]


def test_lenient_file_names(tmp_path, sample):
    # One file of any name holding two categories; a gzipped file; a data/ sub-folder.
    d = tmp_path / "jbbq" / "data"
    _write(d, "jbbq_v1_all.jsonl", _sample_records(sample, "Age") + _sample_records(sample, "Gender_identity"))
    (d / "Disability_status.jsonl.gz").write_bytes(gzip.compress((sample / "Disability_status.jsonl").read_bytes()))
    items = jbbq.load_jbbq(tmp_path / "jbbq")
    assert items.groupby("category").size().to_dict() == {"Age": 16, "Disability_status": 16, "Gender_identity": 16}
    only = jbbq.load_jbbq(d, ["Gender_identity"])
    assert set(only.category) == {"Gender_identity"} and len(only) == 16
    assert only.attrs["load_report"]["n_records"] == 32  # Disability_status.jsonl.gz was not read
    # A plain file wins over a gzipped copy of the same name (read once, no duplicate ids).
    _write(d, "Disability_status.jsonl", _sample_records(sample, "Disability_status"))
    again = jbbq.load_jbbq(d, ["Disability_status"])
    sources = again.attrs["load_report"]["sources"]
    assert len(again) == 16 and sources == [str(d / "Disability_status.jsonl"), str(d / "jbbq_v1_all.jsonl")]
    # A file named after a category holds that category only.
    _write(d, "Age.jsonl", _sample_records(sample, "Physical_appearance")[:1])
    with pytest.raises(DatasetError, match="Age.jsonl:1: field category: category 'Physical_appearance' does not match"):
        jbbq.load_jbbq(d)


def test_metadata_spellings_and_is_additional(tmp_path, sample):
    rec = _sample_records(sample, "Age")[0]
    assert "additional_metadeta" in rec
    plain = dict(rec)
    plain["additional_metadata"] = plain.pop("additional_metadeta")
    del plain["is_additional"]
    neither = {k: v for k, v in rec.items() if k != "additional_metadeta"}
    bad_flag = dict(rec, is_additional=2)
    d = tmp_path / "j"
    _write(d, "Age.jsonl", [rec, dict(plain, example_id=1), dict(neither, example_id=2), dict(bad_flag, example_id=3)])
    with pytest.raises(DatasetError, match="Age.jsonl:3: field additional_metadata: missing field 'additional_metadata'"):
        jbbq.load_jbbq(d)
    items = jbbq.load_jbbq(d, on_error="skip")
    assert list(items.example_id) == [0, 1] and list(items.is_additional) == [0, 0]
    skipped = items.attrs["load_report"]["skipped"]
    assert [(s["line"], s["field"]) for s in skipped] == [(3, "additional_metadata"), (4, "is_additional")]


def test_bad_inputs(tmp_path, sample):
    with pytest.raises(DatasetError, match="by request only.*ynklab/JBBQ_data"):
        jbbq.load_jbbq()
    with pytest.raises(DatasetError, match="does not exist"):
        jbbq.load_jbbq(tmp_path / "missing")
    with pytest.raises(DatasetError, match="no jbbq data files"):
        jbbq.load_jbbq(tmp_path)
    with pytest.raises(DatasetError, match="unknown category 'Nationality'.*Sexual_orientation"):
        jbbq.load_jbbq(sample, ["Nationality"])
    d = tmp_path / "j"
    _write(d, "Age.jsonl", _sample_records(sample, "Age"))
    with pytest.raises(DatasetError, match="no items of category Gender_identity"):
        jbbq.load_jbbq(d, ["Gender_identity"])
    lines = (sample / "Age.jsonl").read_text(encoding="utf-8").splitlines()
    (d / "Age.jsonl").write_text("\n".join(lines[:2]) + "\n" + lines[2][:40], encoding="utf-8")
    with pytest.raises(DatasetError, match=r"Age.jsonl:3: .*not valid JSON.*truncated"):
        jbbq.load_jbbq(d)


def test_registry_and_info(sample):
    assert "jbbq" in available()
    items = load_items("jbbq", source=str(sample), categories=["Sexual_orientation"])
    assert set(items.category) == {"Sexual_orientation"} and len(items) == 24
    info = dataset_info("jbbq")
    assert info.languages == ("ja",) and info.hub is None and "redistribution prohibited" in info.licence
    assert "Yanaka" in info.citation and "GeBNLP 2025" in info.citation
    assert info.url == "https://github.com/ynklab/JBBQ_data" and info.categories == tuple(JBBQ_CATEGORIES)
    assert dict(info.undefined_metrics) == {}


def test_persona_catalogue_matches_items(items):
    catalogue = pd.read_csv(CATALOGUE)
    assert list(catalogue.columns) == ["Category", "Subcategory", "Target", "Name_en", "Name_ja"]
    assert catalogue.notna().all().all() and not catalogue.duplicated(["Category", "Name_ja"]).any()
    in_items = {(c, t) for c, g in items.groupby("category") for t in _labels(g)}
    assert in_items == set(zip(catalogue.Category, catalogue.Target))
