"""Abuse cases of issue 13, silent wrong results: a damaged response store is always noticed.

Every row carries a checksum over key and payload and must satisfy the answer invariants
(socialbias.integrity); SQLite's quick_check runs on open; a 0-byte or truncated store is an
error; ``run --repair`` drops exactly the bad rows, which the run then asks again.
"""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
from pathlib import Path

import pytest

from socialbias.errors import StoreError
from socialbias.eval import main
from socialbias.store import STORE_FILENAME, Answer, ResponseStore
from tests.conftest import BBQ_DIR

N = 200


def _answers(n: int = N) -> list[Answer]:
    out = []
    for i in range(n):
        c = i % 3
        p = [0.1, 0.1, 0.1]
        p[c] = 0.8
        out.append(Answer(f"p{i:04d}", "model-x", c, *p, text=f"answer-{i:06d}", parse="logprob", latency=0.01))
    return out


@pytest.fixture()
def store_file(tmp_path) -> Path:
    with ResponseStore.open(tmp_path / "run") as store:
        store.add(_answers())
    return tmp_path / "run" / STORE_FILENAME


def _flip(path: Path, offset: int, bit: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 1 << bit
    path.write_bytes(bytes(data))


def test_a_flipped_bit_in_an_answer_is_an_error_naming_the_file_and_count(store_file):
    data = store_file.read_bytes()
    _flip(store_file, data.index(b"answer-000123") + 12, 0)  # '3' -> '2': the text changes, not the structure
    with ResponseStore(store_file) as store:  # quick_check passes: the damage is inside one row
        with pytest.raises(StoreError, match=rf"{store_file}.* 1 damaged answer.*--repair"):
            store.responses("model-x")
        with pytest.raises(StoreError, match="1 damaged answer"):
            store.check()
        assert store.check(repair=True) == 1
        df = store.responses("model-x")
    assert len(df) == N - 1 and "p0123" not in set(df["prompt_id"])


def test_random_bit_flips_never_change_results_silently(store_file, tmp_path):
    """The trial of the issue (28 of 150 flips went unnoticed before): every flip of one bit in
    the file either leaves the answers as they were or is reported as damage."""
    with ResponseStore(store_file) as store:
        truth = store.responses()
    original = store_file.read_bytes()
    rng = random.Random(13)
    outcomes = {"unchanged": 0, "reported": 0, "silent": 0}
    copy = tmp_path / "flip.sqlite"
    for _ in range(150):
        copy.write_bytes(original)
        _flip(copy, rng.randrange(len(original)), rng.randrange(8))
        try:
            with ResponseStore(copy) as store:
                got = store.responses()
        except StoreError:
            outcomes["reported"] += 1
            continue
        same = got.equals(truth)
        outcomes["unchanged" if same else "silent"] += 1
    assert outcomes["silent"] == 0, outcomes
    assert outcomes["reported"] > 0


def test_impossible_rows_are_refused_on_write(tmp_path):
    from socialbias.errors import InputError

    with ResponseStore.open(tmp_path) as store:
        for bad in (Answer("a", "m", 0, 0.1, 0.8, 0.1),  # choice is not the argmax
                    Answer("b", "m", 1, 0.1, 0.5, 0.1),  # sums to 0.7
                    Answer("c", "m", 1, float("inf"), 0.5, 0.1),
                    Answer("d", "m", 1, 1.5, float("nan"), float("nan")),
                    Answer("e", "m", -1, 0.2, 0.6, 0.2)):  # no answer, yet probabilities
            with pytest.raises(InputError, match="impossible"):
                store.add(bad)
        assert store.add(Answer("ok", "m", 1, 0.2, 0.6, 0.2 + 5e-5)) == 1  # within the tolerance 1e-4


V1_SCHEMA = """
CREATE TABLE responses (model_key TEXT NOT NULL, prompt_id TEXT NOT NULL,
    choice INTEGER NOT NULL CHECK (choice IN (-1, 0, 1, 2)), p0 REAL, p1 REAL, p2 REAL,
    text TEXT NOT NULL DEFAULT '', parse TEXT NOT NULL DEFAULT '', latency REAL, created_at TEXT NOT NULL,
    PRIMARY KEY (model_key, prompt_id)) WITHOUT ROWID;
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES ('created_by', 'socialbias 0.1'), ('schema_version', '1');
PRAGMA application_id = 1396861281;
PRAGMA user_version = 1;
"""


def test_store_of_the_previous_version_is_migrated_and_its_bad_rows_found(tmp_path):
    path = tmp_path / STORE_FILENAME
    conn = sqlite3.connect(path)
    conn.executescript(V1_SCHEMA)
    rows = [("m", "good", 1, 0.2, 0.7, 0.1), ("m", "argmax", 0, 0.2, 0.7, 0.1), ("m", "sum", 1, 0.2, 0.9, 0.2),
            ("m", "range", 2, None, None, 2.0), ("m", "text-only", 2, None, None, None)]
    conn.executemany("INSERT INTO responses VALUES (?, ?, ?, ?, ?, ?, 'x', 'logprob', 0.1, '2024')", rows)
    conn.commit()
    conn.close()
    with ResponseStore(path) as store:
        assert store.meta()["schema_version"] == "2"
        with pytest.raises(StoreError, match="3 damaged answer"):
            store.check()
        assert store.check(repair=True) == 3
        assert sorted(store.responses()["prompt_id"]) == ["good", "text-only"]
    with ResponseStore(path) as store:  # checksummed once; accepted from now on
        assert store.check() == 0


RESPONSES = [{"model": "m", "category": "Sexual_orientation", "example_id": e, "persona": p, "instruction": 0,
              "choice": e % 3} for e in range(6) for p in ("", "gay")]


def _run(tmp_path: Path, out: Path, *extra: str) -> int:
    responses = tmp_path / "r.jsonl"
    responses.write_text("".join(json.dumps(x) + "\n" for x in RESPONSES))
    return main(["run", "--backend", "replay", "--responses", str(responses), "--bbq-dir", str(BBQ_DIR),
                 "--categories", "Sexual_orientation", "--personas", "gay", "--instructions", "0", "--limit", "6",
                 "--n-boot", "0", "--quiet", "--out", str(out), *extra])


def test_run_stops_on_a_damaged_store_and_repair_asks_exactly_the_bad_rows_again(tmp_path, capsys):
    out = tmp_path / "run"
    assert _run(tmp_path, out, "--config", str(_no_report(tmp_path))) == 0
    before = (out / "results" / "summary.csv").read_bytes()
    with sqlite3.connect(out / STORE_FILENAME) as conn:  # what a flipped bit in a choice does
        conn.execute("UPDATE responses SET choice = (choice + 1) % 3 WHERE prompt_id = "
                     "(SELECT min(prompt_id) FROM responses)")
    capsys.readouterr()
    assert _run(tmp_path, out, "--config", str(_no_report(tmp_path))) == 2
    line = capsys.readouterr().err.strip()
    assert str(out / STORE_FILENAME) in line and "1 damaged answer" in line and "--repair" in line
    assert _run(tmp_path, out, "--config", str(_no_report(tmp_path)), "--repair") == 0
    assert "dropped 1 damaged answer" in capsys.readouterr().err
    assert (out / "results" / "summary.csv").read_bytes() == before  # asked again, same answer as before


def _no_report(tmp_path: Path) -> Path:
    path = tmp_path / "no-report.toml"
    path.write_text("report = false\n")
    return path


@pytest.mark.parametrize("damage", ["empty", "truncated"])
def test_empty_or_truncated_store_in_a_run_dir_is_an_error_not_a_new_store(damage, tmp_path, capsys):
    out = tmp_path / "run"
    assert _run(tmp_path, out, "--config", str(_no_report(tmp_path))) == 0
    store = out / STORE_FILENAME
    with sqlite3.connect(store) as conn:  # make it big enough to truncate mid-file
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = store.read_bytes()
    store.write_bytes(b"" if damage == "empty" else data[: len(data) // 2])
    kept = store.read_bytes()
    assert _run(tmp_path, out, "--config", str(_no_report(tmp_path))) == 2
    line = capsys.readouterr().err.strip()
    assert str(store) in line and ("empty (0 bytes)" if damage == "empty" else "damaged") in line
    assert store.read_bytes() == kept
    shutil.rmtree(out)
