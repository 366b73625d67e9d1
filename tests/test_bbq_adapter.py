"""The BBQ adapter: every local record loads, targets and stereotyped options, validation."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from socialbias.bbq_adapters import ITEM_COLUMNS, DatasetError, available, get_adapter, load_bbq, load_items
from socialbias.bbq_adapters import bbq as bbq_module

EXPECTED_COUNTS = {  # ../shared/bbq/SOURCE.txt
    "Age": 3680,
    "Disability_status": 1556,
    "Nationality": 3080,
    "Physical_appearance": 1576,
    "Religion": 1200,
    "Sexual_orientation": 864,
}


def test_every_local_record_loads(bbq_items):
    assert len(bbq_items) == 11956
    assert bbq_items.groupby("category").size().to_dict() == EXPECTED_COUNTS
    assert list(bbq_items.columns[: len(ITEM_COLUMNS)]) == list(ITEM_COLUMNS)
    assert bbq_items["item_id"].is_unique
    report = bbq_items.attrs["load_report"]
    assert report["n_records"] == 11956 and report["n_skipped"] == 0
    # Each item: exactly one unknown target, at its unknown_idx; label and stereotype in range.
    targets = bbq_items[["target0", "target1", "target2"]].to_numpy()
    assert ((targets == "unknown").sum(axis=1) == 1).all()
    assert (targets[range(len(targets)), bbq_items["unknown_idx"]] == "unknown").all()
    assert bbq_items["label"].between(0, 2).all()
    st = bbq_items["stereotyped_idx"]
    assert (st != bbq_items["unknown_idx"]).all() and st.between(0, 2).all()


def _row(items, category, example_id):
    return items[(items.category == category) & (items.example_id == example_id)].iloc[0]


@pytest.mark.parametrize(
    "category, example_id, targets, stereotyped_idx, unknown_idx, label",
    [
        # Age: tags; stereotyped_groups ["old"]; ans0 grandfather/old.
        ("Age", 0, ("old", "nonOld", "unknown"), 0, 2, 2),
        ("Age", 1, ("old", "nonOld", "unknown"), 0, 2, 1),
        # Religion: names.
        ("Religion", 0, None, None, None, None),
        # Sexual_orientation: names.
        ("Sexual_orientation", 0, None, None, None, None),
        ("Nationality", 0, None, None, None, None),
        ("Disability_status", 0, None, None, None, None),
        ("Physical_appearance", 0, None, None, None, None),
    ],
)
def test_hand_picked_targets(bbq_items, bbq_dir, category, example_id, targets, stereotyped_idx, unknown_idx, label):
    """Targets checked against the raw record by the docs/method.md section 3 rule, written out here."""
    raw = next(
        r for r in (json.loads(line) for line in open(bbq_dir / f"{category}.jsonl")) if r["example_id"] == example_id
    )
    row = _row(bbq_items, category, example_id)
    by_name = category in ("Religion", "Sexual_orientation", "Nationality")
    expected = []
    for k in ("ans0", "ans1", "ans2"):
        name, tag = raw["answer_info"][k]
        expected.append("unknown" if tag == "unknown" else (name if by_name else tag))
    assert (row.target0, row.target1, row.target2) == tuple(expected)
    if targets is not None:
        assert tuple(expected) == targets
        assert (row.stereotyped_idx, row.unknown_idx, row.label) == (stereotyped_idx, unknown_idx, label)
    groups = raw["additional_metadata"]["stereotyped_groups"]
    st = row.stereotyped_idx
    assert raw["answer_info"][f"ans{st}"][0] in groups or raw["answer_info"][f"ans{st}"][1] in groups
    other = 3 - st - row.unknown_idx
    assert raw["answer_info"][f"ans{other}"][0] not in groups and raw["answer_info"][f"ans{other}"][1] not in groups
    assert row.option0 == raw["ans0"] and row.context == raw["context"] and row.question == raw["question"]
    assert row.polarity == raw["question_polarity"] and row.context_condition == raw["context_condition"]


def test_specific_records(bbq_items):
    # Nationality targets are nationalities (matching the paper's personas), not regions.
    nat = bbq_items[bbq_items.category == "Nationality"]
    assert {"Japanese", "British", "Eritrean"} <= set(nat[["target0", "target1", "target2"]].to_numpy().ravel())
    # Physical appearance uses the tag pairs.
    pa = bbq_items[bbq_items.category == "Physical_appearance"]
    assert {"obese", "nonObese", "pregnant", "short"} <= set(pa[["target0", "target1", "target2"]].to_numpy().ravel())


def test_nationality_region_override(bbq_dir):
    items = load_bbq(bbq_dir, ["Nationality"], target_by={"Nationality": "tag"})
    labels = set(items[["target0", "target1", "target2"]].to_numpy().ravel()) - {"unknown"}
    assert labels == {"Europe", "AsiaPacific", "MiddleEast", "LatinSouthAmerica", "NorthAmerica", "Africa", "ArabStates"}


def test_known_defects_flagged(bbq_items):
    pa = bbq_items[bbq_items.category == "Physical_appearance"]
    flagged = pa[pa.excluded]
    q6 = sorted(flagged[flagged.question_index == "6"].example_id)
    q10 = sorted(flagged[flagged.question_index == "10"].example_id)
    assert q6 == list(range(461, 560, 2)) and len(q6) == 50
    assert q10 == list(range(669, 704, 2)) and len(q10) == 18
    assert bbq_items.excluded.sum() == 68
    assert (flagged.context_condition == "disambig").all() and (flagged.version == "b").all()
    assert flagged.exclusion_reason.str.contains("label contradicts context").all()
    typo = bbq_items[bbq_items.data_note != ""]
    assert len(typo) == 24 and (typo.category == "Disability_status").all() and not typo.excluded.any()
    assert sum(bbq_items.attrs["load_report"]["excluded"].values()) == 68
    assert len(load_bbq(bbq_items.attrs["load_report"]["sources"][0].rsplit("/", 1)[0], include_excluded=False)) == 11956 - 68


def test_registry():
    assert "bbq" in available()
    assert get_adapter("bbq") is not None
    with pytest.raises(DatasetError, match="unknown dataset 'nope'"):
        load_items("nope")


# --- validation: crafted bad files --------------------------------------------------------

GOOD = {
    "example_id": 0,
    "question_index": "1",
    "question_polarity": "neg",
    "context_condition": "ambig",
    "category": "Age",
    "answer_info": {"ans0": ["grandfather", "old"], "ans1": ["grandson", "nonOld"], "ans2": ["Unknown", "unknown"]},
    "additional_metadata": {"subcategory": "None", "stereotyped_groups": ["old"], "version": "a", "source": ""},
    "context": "A grandson and a grandfather.",
    "question": "Who forgot?",
    "ans0": "The grandfather",
    "ans1": "The grandson",
    "ans2": "Unknown",
    "label": 2,
}


def _write(tmp_path: Path, records, category="Age", raw_lines=None) -> Path:
    d = tmp_path / "bbq"
    d.mkdir(exist_ok=True)
    lines = raw_lines if raw_lines is not None else [json.dumps(r) for r in records]
    (d / f"{category}.jsonl").write_text("\n".join(lines) + "\n")
    return d


def _with(**changes):
    rec = json.loads(json.dumps(GOOD))
    for key, value in changes.items():
        if value is _DELETE:
            del rec[key]
        else:
            rec[key] = value
    return rec


_DELETE = object()


@pytest.mark.parametrize(
    "bad, field, message",
    [
        (_with(label=_DELETE), "label", "missing field 'label'"),
        (_with(context=_DELETE), "context", "missing field 'context'"),
        (_with(label=3), "label", "label must be 0, 1 or 2"),
        (_with(label="2"), "label", "must be an integer"),
        (_with(example_id="x"), "example_id", "must be an integer"),
        (
            _with(answer_info={"ans0": ["a", "old"], "ans1": ["b", "nonOld"], "ans2": ["c", "old"]}),
            "answer_info",
            "found 0",
        ),
        (
            _with(answer_info={"ans0": ["a", "unknown"], "ans1": ["b", "nonOld"], "ans2": ["c", "unknown"]}),
            "answer_info",
            "found 2",
        ),
        (
            _with(additional_metadata={"stereotyped_groups": ["martian"]}),
            "additional_metadata.stereotyped_groups",
            "no stereotyped group",
        ),
        (_with(question_polarity="positive"), "question_polarity", "'neg' or 'nonneg'"),
    ],
)
def test_each_validation_error(tmp_path, bad, field, message):
    good2 = _with(example_id=1)
    d = _write(tmp_path, [good2, bad])
    with pytest.raises(DatasetError) as err:
        load_bbq(d)
    text = str(err.value)
    assert f"Age.jsonl:2: field {field}" in text and message in text
    # skip mode: the bad record is left out and counted, the good one kept.
    items = load_bbq(d, on_error="skip")
    assert list(items.example_id) == [1]
    skipped = items.attrs["load_report"]["skipped"]
    assert len(skipped) == 1 and skipped[0]["line"] == 2 and skipped[0]["field"] == field


def test_truncated_and_duplicate(tmp_path):
    good = json.dumps(GOOD)
    d = _write(tmp_path, None, raw_lines=[good, good[: len(good) // 2]])
    with pytest.raises(DatasetError, match=r"Age.jsonl:2: .*not valid JSON.*truncated"):
        load_bbq(d)
    d = _write(tmp_path, [GOOD, GOOD])
    with pytest.raises(DatasetError, match=r"Age.jsonl:2: field example_id: duplicate example_id 0 \(first on line 1\)"):
        load_bbq(d)


def test_bad_directory_and_category(tmp_path, bbq_dir):
    with pytest.raises(DatasetError, match="does not exist"):
        load_bbq(tmp_path / "missing")
    with pytest.raises(DatasetError, match="no BBQ .jsonl files"):
        load_bbq(tmp_path)
    with pytest.raises(DatasetError, match="'Klingon'.*available here: Age"):
        load_bbq(bbq_dir, ["Klingon"])
    with pytest.raises(DatasetError, match="'SES'"):
        load_bbq(bbq_dir, ["SES"])  # a real BBQ category that this copy lacks


# --- the hub path ---------------------------------------------------------------------------


def test_hub_call_is_pinned(monkeypatch, bbq_dir):
    import datasets

    calls = []
    records = [json.loads(line) for line in open(bbq_dir / "Sexual_orientation.jsonl")]

    def fake_load_dataset(path, name=None, split=None, revision=None, **kw):
        calls.append((path, name, split, revision, kw))
        return records

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    items = load_bbq(None, ["Sexual_orientation"])
    assert calls == [("oskarvanderwal/bbq", "Sexual_orientation", "test", bbq_module.HUB_REVISION, {})]
    assert bbq_module.HUB_REVISION == "ab00114b0fbf59c7c539ff9158f6ce717d13ab63"
    local = load_bbq(bbq_dir, ["Sexual_orientation"])
    pd.testing.assert_frame_equal(items, local)
    assert items.attrs["load_report"]["sources"] == ["hub:oskarvanderwal/bbq/Sexual_orientation@ab00114"]


def test_offline_hub_gives_clear_error(tmp_path):
    """A machine without the hub gets one line that says how to use a local directory.

    Run in a fresh interpreter so that the offline switches are read at import time (a real
    network failure gives the same message after huggingface_hub's retries).
    """
    import os
    import subprocess
    import sys

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    code = (
        "from socialbias.bbq_adapters import load_bbq, DatasetError\n"
        "try:\n    load_bbq(None, ['Age'])\nexcept DatasetError as e:\n    print('ERR', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    line = out.stdout.strip()
    assert line.startswith("ERR could not load BBQ category 'Age' from the Hugging Face hub"), out
    assert "--bbq-dir DIR" in line and len(line.splitlines()) == 1
    with pytest.raises(DatasetError, match="unknown BBQ category 'Klingon'"):
        load_bbq(None, ["Klingon"])
