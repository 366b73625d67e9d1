"""Recorded responses: the JSONL reader, the paper's result files, the join with items."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from socialbias.bbq_adapters import items_from_records, load_bbq
from socialbias.errors import InputError
from socialbias.personas import load_personas
from socialbias.recorded import ANSWER_COLUMNS, read_jsonl, read_paper_results, to_answers


@pytest.fixture(scope="module")
def so_items(bbq_dir):
    return load_bbq(bbq_dir, ["Sexual_orientation", "Age"])


def _write(tmp_path, lines):
    path = tmp_path / "responses.jsonl"
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    return path


def test_jsonl_reader_counts_every_outcome(tmp_path, so_items):
    lines = [
        {"model": "m", "category": "Sexual_orientation", "example_id": 0, "persona": "gay", "instruction": 0, "response": "(B)"},
        {"category": "Sexual_orientation", "example_id": 0, "instruction": 0, "choice": 2},  # default, no model
        {"category": "Sexual_orientation", "example_id": 1, "persona": "", "instruction": 1, "choice": None},
        {"category": "Age", "example_id": 0, "persona": "wizard", "instruction": 0, "response": "A"},
        "{not json",
        {"category": "Sexual_orientation", "example_id": "7", "instruction": 0, "choice": 1},  # bad type
        {"category": "Sexual_orientation", "example_id": 7, "instruction": 0, "choice": 1, "response": "A"},  # both
        {"category": "Sexual_orientation", "example_id": 7, "instruction": 0, "choice": 5},
        {"category": "Klingon", "example_id": 0, "instruction": 0, "choice": 1},
        {"category": "Age", "example_id": 999999, "instruction": 0, "choice": 1},
        {"model": "m", "category": "Sexual_orientation", "example_id": 0, "persona": "gay", "instruction": 0, "response": "(A)"},
    ]
    table, outcome = read_jsonl(_write(tmp_path, lines), model="fallback")
    assert outcome.lines == 11 and outcome.malformed == 4
    assert any(":5: not valid JSON" in e for e in outcome.errors)
    assert any(":6: field 'example_id' must be an integer" in e for e in outcome.errors)
    assert any(":7: give exactly one of" in e for e in outcome.errors)
    assert set(table.model) == {"m", "fallback"}
    with pytest.warns(UserWarning, match="'wizard'"):
        answers, outcome = to_answers(table, so_items, load_personas(), "strict", outcome)
    assert list(answers.columns) == list(ANSWER_COLUMNS)
    assert outcome.unknown_category == 1 and outcome.unknown_example_id == 1 and outcome.duplicates == 1
    assert outcome.unknown_personas == {"wizard": 1}
    assert outcome.scored == len(answers) == 4
    first = answers[(answers.persona == "gay")].iloc[0]
    assert first.choice == 1 and first.parse == "strict:letter" and first.persona_member_of == "gay"
    assert answers[answers.persona == "wizard"].iloc[0].persona_member_of == ""
    none_row = answers[(answers.item_id == "bbq/Sexual_orientation/1")].iloc[0]
    assert none_row.choice == -1 and none_row.parse == "recorded" and none_row.run == 1


def test_jsonl_strict_and_empty(tmp_path):
    path = _write(tmp_path, [{"category": "Age", "example_id": 0, "instruction": 0, "choice": 1}, "[1, 2"])
    with pytest.raises(InputError, match=r"responses.jsonl:2: not valid JSON.*drop --strict"):
        read_jsonl(path, strict=True)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    with pytest.raises(InputError, match="is empty"):
        read_jsonl(empty)
    with pytest.raises(InputError, match="does not exist"):
        read_jsonl(tmp_path / "nope.jsonl")


def test_paper_results_reader():
    from tests.conftest import PAPER_OUTPUTS

    recorded, records, outcome = read_paper_results(PAPER_OUTPUTS)
    assert len(recorded) == 25920 and outcome.malformed == 0
    assert set(recorded.model) == {"Llama-2-7b-chat-hf"}
    assert set(recorded.persona) == {"", "gay", "lesbian", "straight", "bisexual", "pansexual"}
    assert sorted(recorded.instruction.unique()) == [0, 1, 2, 3, 4]
    items = items_from_records(records, "paper")
    assert len(items) == 864
    answers, _ = to_answers(recorded, items, load_personas(), "recorded")
    assert len(answers) == 25920 and (answers.parse == "recorded").all()
    reparsed, _ = to_answers(recorded, items, load_personas(), "paper")
    assert (reparsed.choice.to_numpy() == answers.choice.to_numpy()).all()


def test_paper_reader_errors(tmp_path):
    with pytest.raises(InputError, match="no paper result files"):
        read_paper_results(tmp_path)
    bad = tmp_path / "m" / "Baseline" / "refined_p_Baseline_inst_0_target_Age_240101_000000.json"
    bad.parent.mkdir(parents=True)
    bad.write_text("[{")
    with pytest.raises(InputError, match="not a readable JSON result file"):
        read_paper_results(tmp_path)


@pytest.mark.parametrize("damaged", [True, False])
def test_to_answers_join_matches_a_pandas_merge(so_items, damaged):
    """The integer-code join (binary search per category, one duplicate key) keeps the same
    rows, in the same order, with the same items as a pandas merge on the string keys, on a
    table with unknown categories and ids, duplicates and object (not categorical) columns;
    and on a clean table, of which every row is kept (its columns are then used ungathered)."""

    rng = np.random.default_rng(3)
    n = 3000
    ids = so_items["example_id"].to_numpy()
    recorded = pd.DataFrame({
        "model": rng.choice(["m1", "m2"], n).astype(object),
        "category": rng.choice(["Sexual_orientation", "Age", "Klingon"], n, p=[0.6, 0.35, 0.05]).astype(object),
        "example_id": np.where(rng.random(n) < 0.05, 10**9, rng.choice(ids, n)),
        "persona": rng.choice(["", "gay", "straight"], n).astype(object),
        "instruction": rng.integers(0, 3, n),
        "response": None, "choice": rng.integers(-1, 3, n), "option_order": "012",
        "line": np.arange(1, n + 1),
    })
    if not damaged:
        known = pd.MultiIndex.from_frame(so_items[["category", "example_id"]])
        recorded = recorded[pd.MultiIndex.from_frame(recorded[["category", "example_id"]]).isin(known)]
        recorded = recorded.drop_duplicates(["model", "category", "example_id", "persona", "instruction"])
    with pytest.warns(UserWarning, match="not in the catalogue"):
        answers, outcome = to_answers(recorded, so_items, load_personas(), "strict")
    ref = recorded.merge(so_items[["category", "example_id", "item_id"]], on=["category", "example_id"])
    ref = ref.sort_values("line")
    ref = ref[~ref.duplicated(["model", "category", "example_id", "persona", "instruction", "option_order"])]
    assert outcome.unknown_category == int((recorded["category"] == "Klingon").sum())
    assert outcome.scored == len(ref) == len(answers) and (outcome.duplicates > 0) == damaged
    assert damaged or outcome.scored == len(recorded)
    assert list(answers["item_id"].astype(str)) == list(ref["item_id"])
    assert list(answers["persona"].astype(str)) == list(ref["persona"])
    assert (answers["choice"].to_numpy() == ref["choice"].to_numpy()).all()
    assert list(answers["model"].astype(str)) == list(ref["model"])
    assert (answers["run"].to_numpy() == ref["instruction"].to_numpy()).all()


def test_joint_key_ranks_instead_of_overflowing():
    from socialbias.recorded import _joint

    big = np.array([2**40, 0, 2**40, 5], np.int64)
    other = np.array([2**30, 1, 2**30, 1], np.int64)
    key = _joint(big, other, big)
    assert key[0] == key[2] and len(set(key.tolist())) == 3


def test_duplicated_keys_match_pandas() -> None:
    """The sort-first duplicate check gives pandas' keep="first" flags, with and without repeats."""
    from socialbias.recorded import _duplicated

    rng = np.random.default_rng(5)
    for keys in (rng.permutation(1000), rng.integers(0, 300, 1000), np.array([7]), np.zeros(0, np.int64)):
        keys = keys.astype(np.int64)
        np.testing.assert_array_equal(_duplicated(keys), pd.Series(keys).duplicated(keep="first").to_numpy())
