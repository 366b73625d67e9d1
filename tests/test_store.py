"""Tests of socialbias.store: round trips, first-answer-wins, resume, crash safety, concurrency,
refusal of foreign/damaged/newer files, exports."""

from __future__ import annotations

import inspect
import math
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socialbias.errors import InputError, StoreError
from socialbias.store import (
    RESPONSE_COLUMNS,
    SCHEMA_VERSION,
    STORE_FILENAME,
    Answer,
    ResponseStore,
    RunDirLock,
)

REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def expected_answer(i: int, model_key: str = "m", text: str = "first") -> Answer:
    """A deterministic answer for prompt i (every 4th one without probabilities)."""
    choice = i % 3 - (i % 7 == 0)
    probs = [math.nan, math.nan, math.nan]
    if i % 4 and choice >= 0:  # the stored choice is the argmax of its probabilities (an invariant)
        probs = [0.25, 0.25, 0.25]
        probs[choice] = 0.5 + i / 1e8
        probs[(choice + 1) % 3] = 0.25 - i / 1e8
    return Answer(f"p{i:05d}", model_key, choice, *probs,
                  text=f"{text} {i}\nαβγ, \"quoted\"", parse="logprob", latency=i / 1000)


def assert_rows_match(df: pd.DataFrame, text: str = "first") -> None:
    """Every stored row is complete and equals the answer that was written for its prompt."""
    assert list(df.columns) == list(RESPONSE_COLUMNS)
    assert not df["prompt_id"].duplicated().any()
    for row in df.itertuples(index=False):
        exp = expected_answer(int(row.prompt_id[1:]), row.model_key, text)
        assert (row.choice, row.text, row.parse) == (exp.choice, exp.text, exp.parse)
        for name in ("p0", "p1", "p2", "latency"):
            got, want = getattr(row, name), getattr(exp, name)
            assert (math.isnan(got) and math.isnan(want)) or got == want, (row.prompt_id, name)


def prompts_table(n: int) -> pd.DataFrame:
    return pd.DataFrame({"prompt_id": [f"p{i:05d}" for i in range(n)], "item": np.arange(n)})


def child(tmp_path: Path, name: str, source: str, *args: object) -> subprocess.Popen[str]:
    """Start a Python child running ``source`` (with the repository importable)."""
    script = tmp_path / f"{name}.py"
    script.write_text(textwrap.dedent(source))
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen([sys.executable, str(script), *map(str, args)], env=env, cwd=REPO,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def integrity_ok(path: Path) -> bool:
    con = sqlite3.connect(path)
    try:
        return con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        con.close()


# ---------------------------------------------------------------------------------------------
# basics
# ---------------------------------------------------------------------------------------------


def test_open_creates_run_dir_schema_and_meta(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "a"
    with ResponseStore.open(run_dir) as store:
        assert store.path == run_dir / STORE_FILENAME and store.path.is_file()
        assert store.count() == 0 and store.model_keys() == []
        meta = store.meta()
        assert meta["schema_version"] == str(SCHEMA_VERSION)
        assert meta["created_by"].startswith("socialbias ")
    con = sqlite3.connect(run_dir / STORE_FILENAME)
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()
    assert store.closed
    with pytest.raises(StoreError, match="closed"):
        store.count()
    with ResponseStore(run_dir / STORE_FILENAME) as again:  # reopening keeps it, does not re-create
        assert again.meta() == meta


def test_insert_and_read_back_round_trips_values(tmp_path: Path) -> None:
    answers = [expected_answer(i) for i in range(40)] + [
        Answer("p99999", "m", -1, text="", parse=""),  # no probabilities, no text
        Answer("p88888", "m", 2, 0.0, 1e-300, 1.0, text="日本語\r\n\t\x00end", parse="strict"),
    ]
    with ResponseStore.open(tmp_path) as store:
        assert store.add(answers) == len(answers)
        df = store.responses()
    assert list(df.columns) == list(RESPONSE_COLUMNS)
    assert df["prompt_id"].tolist() == sorted(a.prompt_id for a in answers)  # ordered by key
    assert df["choice"].dtype == np.int64 and df["p0"].dtype == np.float64
    by_id = df.set_index("prompt_id")
    assert_rows_match(df[df["prompt_id"].isin([a.prompt_id for a in answers[:40]])])
    assert math.isnan(by_id.loc["p99999", "p1"]) and math.isnan(by_id.loc["p99999", "latency"])
    assert by_id.loc["p99999", "text"] == "" and by_id.loc["p99999", "choice"] == -1
    assert by_id.loc["p88888", "text"] == "日本語\r\n\t\x00end"
    assert by_id.loc["p88888", "p1"] == 1e-300 and by_id.loc["p88888", "parse"] == "strict"
    assert by_id.loc["p00000", ["p0", "p1", "p2"]].isna().all()


def test_first_answer_wins_and_duplicates_are_not_added(tmp_path: Path) -> None:
    with ResponseStore.open(tmp_path) as store:
        assert store.add([Answer("a", "m1", 0, text="first"), Answer("a", "m1", 1, text="dup in batch")]) == 1
        assert store.add([Answer("a", "m1", 2, 0.1, 0.1, 0.8, text="second call")]) == 0
        assert store.add([Answer("a", "m2", 2, text="other model")]) == 1  # same prompt, other model
        assert store.count() == 2 and store.count("m1") == 1 and store.count("m2") == 1
        row = store.responses("m1").iloc[0]
        assert (row.choice, row.text) == (0, "first") and math.isnan(row.p2)
        assert store.model_keys() == ["m1", "m2"]
        assert store.answered_ids("m1") == {"a"} and store.answered_ids("nobody") == set()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 9), st.sampled_from(["m1", "m2"]), st.integers(-1, 2)),
                max_size=60),
       st.integers(1, 7))
def test_property_store_keeps_first_answer_per_key(items: list[tuple[int, str, int]], batch: int) -> None:
    answers = [Answer(f"q{p}", m, c, text=f"#{n}") for n, (p, m, c) in enumerate(items)]
    first: dict[tuple[str, str], Answer] = {}
    for a in answers:
        first.setdefault((a.model_key, a.prompt_id), a)
    with tempfile.TemporaryDirectory() as d, ResponseStore.open(d) as store:
        half = len(answers) // 2
        n = store.add(answers[:half], batch_size=batch)
        with store.writer(batch_size=batch) as w:
            for a in answers[half:]:
                w.add(a)
        assert n + w.inserted == len(first) == store.count()
        df = store.responses()
        got = {(r.model_key, r.prompt_id): (r.choice, r.text) for r in df.itertuples()}
        assert got == {k: (a.choice, a.text) for k, a in first.items()}
        assert df[["model_key", "prompt_id"]].apply(tuple, axis=1).tolist() == sorted(first)


def test_add_accepts_dataframes_mappings_and_single_answers(tmp_path: Path) -> None:
    frame = pd.DataFrame({
        "prompt_id": ["d1", "d2", "d3"], "model_key": "m", "choice": [0, 1, 2],
        "p0": [0.5, None, np.nan], "text": ["x", None, "z"], "extra": [1, 2, 3],  # p1, p2, parse missing
    })
    with ResponseStore.open(tmp_path) as store:
        assert store.add(frame) == 3
        assert store.add({"prompt_id": "k1", "model_key": "m", "choice": np.int64(1), "p0": np.float32(0.5)}) == 1
        assert store.add(Answer("s1", "m", 1.0)) == 1  # type: ignore[arg-type]  # 1.0 from a float column
        df = store.responses().set_index("prompt_id")
    assert df.loc["d1", "p0"] == 0.5 and math.isnan(df.loc["d2", "p0"]) and math.isnan(df.loc["d1", "p1"])
    assert df.loc["d2", "text"] == "" and df.loc["d3", "parse"] == ""
    assert df.loc["k1", "choice"] == 1 and df.loc["k1", "p0"] == 0.5 and df.loc["s1", "choice"] == 1


@pytest.mark.parametrize("bad", [3, -2, None, "1", True, 1.5, float("nan")])
def test_invalid_choice_raises_input_error_naming_the_prompt(tmp_path: Path, bad: object) -> None:
    with ResponseStore.open(tmp_path) as store:
        with pytest.raises(InputError, match="'bad-prompt'.*choice"):
            store.add([Answer("ok", "m", 1), Answer("bad-prompt", "m", bad)])  # type: ignore[arg-type]
        assert store.count() == 0  # same batch: nothing of it written
        with pytest.raises(InputError, match="bad-prompt"), store.writer() as w:
            w.add(Answer("bad-prompt", "m", bad))  # type: ignore[arg-type]
        assert store.count() == 0


def test_invalid_fields_and_arguments(tmp_path: Path) -> None:
    with ResponseStore.open(tmp_path) as store:
        for bad in (Answer("", "m", 1), Answer("p", "", 1), Answer("p", "m", 1, p0="0.5"),  # type: ignore[arg-type]
                    Answer("p", "m", 1, text=3)):  # type: ignore[arg-type]
            with pytest.raises(InputError):
                store.add([bad])
        with pytest.raises(InputError, match="choice"):
            store.add(pd.DataFrame({"prompt_id": ["a"], "model_key": ["m"]}))
        with pytest.raises(InputError, match="batch_size"):
            store.add([], batch_size=0)
        with pytest.raises(InputError, match="prompt_id"):
            store.missing(pd.DataFrame({"id": ["a"]}), "m")
        with pytest.raises(InputError, match="model_key"):
            store.count("")
        assert store.count() == 0
    with pytest.raises(InputError, match="directory"):
        ResponseStore(tmp_path)


def test_dataframe_is_all_or_nothing_iterable_keeps_earlier_batches(tmp_path: Path) -> None:
    rows = [expected_answer(i) for i in range(10)] + [Answer("bad", "m", 7)]
    with ResponseStore.open(tmp_path) as store:
        frame = pd.DataFrame([{f: getattr(a, f) for f in RESPONSE_COLUMNS} for a in rows])
        with pytest.raises(InputError, match="'bad'"):
            store.add(frame, batch_size=4)
        assert store.count() == 0
        with pytest.raises(InputError, match="'bad'"):
            store.add(iter(rows), batch_size=4)
        assert store.count() == 8  # two whole batches were committed before the bad answer
        assert store.add(rows[:10]) == 2  # fixing and re-adding is idempotent


# ---------------------------------------------------------------------------------------------
# resume
# ---------------------------------------------------------------------------------------------


def test_missing_returns_unanswered_rows_in_order_with_repeats(tmp_path: Path) -> None:
    prompts = pd.DataFrame({
        "prompt_id": ["c", "a", "b", "c", "d", "a", "e", "d"],
        "persona": list("01234567"),
    }, index=[10, 11, 12, 13, 14, 15, 16, 17])
    with ResponseStore.open(tmp_path) as store:
        pd.testing.assert_frame_equal(store.missing(prompts, "m"), prompts)  # nothing stored yet
        store.add([Answer("a", "m", 0), Answer("d", "m", 1), Answer("c", "other", 2), Answer("zz", "m", 2)])
        todo = store.missing(prompts, "m")
        pd.testing.assert_frame_equal(todo, prompts.loc[[10, 12, 13, 16]])
        assert todo["prompt_id"].tolist() == ["c", "b", "c", "e"]
        assert store.missing(prompts, "other")["prompt_id"].tolist() == ["a", "b", "d", "a", "e", "d"]
        store.add([Answer(p, "m", 1) for p in "bce"])
        assert store.missing(prompts, "m").empty
        # object dtype and non-string ids work too
        obj = prompts.astype({"prompt_id": object})
        assert store.missing(obj.iloc[:0], "m").empty
        assert len(store.missing(pd.DataFrame({"prompt_id": [1, 2]}), "m")) == 2


# ---------------------------------------------------------------------------------------------
# crash safety and concurrency
# ---------------------------------------------------------------------------------------------

WRITER_CHILD = """
    import math, sys, time
    from socialbias.store import Answer, ResponseStore
    {expected_answer}
    run_dir, n, pause = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    with ResponseStore.open(run_dir) as store:
        print("ready", flush=True)
        with store.writer(batch_size=50) as w:
            for i in range(n):
                w.add(expected_answer(i))
                time.sleep(pause)
    print("done", flush=True)
"""


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_sigkill_during_streaming_loses_only_the_open_batch(tmp_path: Path, seed: int) -> None:
    n, run_dir = 1000, tmp_path / "run"
    source = WRITER_CHILD.format(expected_answer=textwrap.indent(inspect.getsource(expected_answer), " " * 4).lstrip())
    proc = child(tmp_path, "writer", source, run_dir, n, 0.001)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready", proc.stderr.read()  # type: ignore[union-attr]
    time.sleep(random.Random(seed).uniform(0.02, 0.8))
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL  # it was killed mid-run, not finished

    with ResponseStore.open(run_dir) as store:  # opens fine after the crash
        store.verify(full=True)
        df = store.responses()
        stored = len(df)
        assert stored % 50 == 0 and stored < n  # only whole batches survive
        # the writer commits in order: what survived is exactly the first `stored` prompts
        assert df["prompt_id"].tolist() == [f"p{i:05d}" for i in range(stored)]
        assert_rows_match(df)

        # rerun: ask for the missing prompts only; every prompt ends up stored exactly once
        prompts = prompts_table(n)
        todo = store.missing(prompts, "m")
        assert todo["prompt_id"].tolist() == prompts["prompt_id"].tolist()[stored:]
        with store.writer(batch_size=64) as w:
            for pid in todo["prompt_id"]:
                w.add(expected_answer(int(pid[1:]), text="rerun"))
        assert w.inserted == n - stored
        assert store.add(expected_answer(i, text="again") for i in range(n)) == 0
        final = store.responses()
    assert final["prompt_id"].tolist() == prompts["prompt_id"].tolist()
    assert (final["text"].str.startswith("first") == (np.arange(n) < stored)).all()  # first answers kept
    assert integrity_ok(run_dir / STORE_FILENAME)


def test_writer_commits_on_exception_and_keyboard_interrupt(tmp_path: Path) -> None:
    with ResponseStore.open(tmp_path) as store:
        with pytest.raises(KeyboardInterrupt), store.writer(batch_size=50) as w:
            for i in range(70):
                w.add(expected_answer(i))
                if i == 48:
                    assert store.count() == 0 and w.pending == 49  # still buffered
                if i == 49:
                    assert store.count() == 50 and w.pending == 0  # a whole batch is committed
            raise KeyboardInterrupt
        assert store.count() == 70 and w.added == 70 and w.inserted == 70
        with pytest.raises(RuntimeError), store.writer(batch_size=50) as w:
            w.add(expected_answer(70))
            raise RuntimeError("backend failed")
        assert store.count() == 71


def test_busy_store_raises_store_error_and_writer_keeps_its_buffer(tmp_path: Path) -> None:
    with ResponseStore.open(tmp_path, timeout=0.2) as store:
        other = sqlite3.connect(store.path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        w = store.writer(batch_size=10)
        for i in range(9):
            w.add(expected_answer(i))
        with pytest.raises(StoreError, match="locked by another process"):
            w.add(expected_answer(9))  # the 10th answer triggers a flush that cannot get the lock
        assert w.pending == 10  # nothing lost: the batch is still buffered
        with pytest.raises(StoreError, match="locked"):
            store.add([expected_answer(20)])
        other.execute("ROLLBACK")
        other.close()
        assert w.flush() == 10 and store.count() == 10


CONCURRENT_CHILD = """
    import sys, time, os
    from socialbias.store import ResponseStore, Answer
    run_dir, go, tag, start, stop, step = sys.argv[1], sys.argv[2], sys.argv[3], *map(int, sys.argv[4:])
    while not os.path.exists(go):
        time.sleep(0.005)
    with ResponseStore.open(run_dir) as store:  # both open a store that does not exist yet
        with store.writer(batch_size=25) as w:
            for i in range(start, stop, step):
                w.add(Answer(f"p{i:05d}", "m", 2, 0.2, 0.3, 0.5, text=tag, parse="logprob"))
                time.sleep(0.0002)
    print(w.inserted, flush=True)
"""


def test_two_concurrent_writers_store_each_prompt_once(tmp_path: Path) -> None:
    run_dir, go = tmp_path / "run", tmp_path / "go"
    # w0 writes 0..1499 upwards, w1 2499..1000 downwards: they race for the overlap 1000..1499
    ranges = {"w0": (0, 1500, 1), "w1": (2499, 999, -1)}
    procs = {tag: child(tmp_path, tag, CONCURRENT_CHILD, run_dir, go, tag, *r) for tag, r in ranges.items()}
    time.sleep(0.3)  # both are waiting at the start line
    go.touch()
    inserted = {}
    for tag, proc in procs.items():
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        inserted[tag] = int(out.strip())
    assert sum(inserted.values()) == 2500  # no prompt was inserted by both
    assert integrity_ok(run_dir / STORE_FILENAME)
    with ResponseStore.open(run_dir) as store:
        df = store.responses()
    assert df["prompt_id"].tolist() == [f"p{i:05d}" for i in range(2500)]
    idx = np.arange(2500)
    assert (df["text"][idx < 1000] == "w0").all() and (df["text"][idx >= 1500] == "w1").all()
    assert (df["text"] == "w0").sum() == inserted["w0"]


LOCK_CHILD = """
    import sys
    from socialbias.store import ResponseStore
    with ResponseStore.open(sys.argv[1], lock=True) as store:
        print("locked", flush=True)
        sys.stdin.read()  # hold the lock until the parent closes our stdin
"""


def test_run_dir_lock_names_the_holder_pid(tmp_path: Path) -> None:
    proc = child(tmp_path, "locker", LOCK_CHILD, tmp_path / "run")
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        with pytest.raises(StoreError, match=rf"another socialbias process \(pid {proc.pid}\) is writing to"):
            ResponseStore.open(tmp_path / "run", lock=True)
        with ResponseStore.open(tmp_path / "run") as reader:  # without lock: allowed (reading a report)
            assert reader.count() == 0
    finally:
        proc.communicate(input="", timeout=30)
    assert proc.returncode == 0
    with ResponseStore.open(tmp_path / "run", lock=True) as store:  # released when the holder exited
        with pytest.raises(StoreError, match=f"pid {os.getpid()}"):
            RunDirLock(tmp_path / "run").acquire()
    with RunDirLock(tmp_path / "run") as lock:  # released by close()
        assert lock.held and store.closed


# ---------------------------------------------------------------------------------------------
# refusing files that are not ours
# ---------------------------------------------------------------------------------------------


def _refused(path: Path, match: str) -> None:
    before = path.read_bytes()
    with pytest.raises(StoreError, match=match) as err:
        ResponseStore(path)
    assert str(path) in str(err.value) and "choose another --out directory" in str(err.value)
    assert path.read_bytes() == before  # never overwritten
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no -wal/-shm left either


@pytest.mark.parametrize("content", [
    os.urandom(4096), b"hello", b"SQLite format 3\x00" + bytes(range(256)) * 16,
], ids=["random", "short", "magic-then-garbage"])
def test_garbage_file_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / STORE_FILENAME
    path.write_bytes(content)
    _refused(path, "is not a socialbias response store")


@pytest.mark.parametrize("fraction", [0.5, 0.9])
def test_truncated_store_is_refused(tmp_path: Path, fraction: float) -> None:
    with ResponseStore.open(tmp_path / "run") as store:
        store.add([expected_answer(i) for i in range(3000)])
    path = tmp_path / "run" / STORE_FILENAME
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    _refused(path, "damaged SQLite database")


def test_empty_file_is_damage_not_a_fresh_store(tmp_path: Path) -> None:
    """Stores are created complete and linked into place, so a 0-byte file is a truncated store
    (issue 13): an error naming the file, and the file is left as it is."""
    path = tmp_path / STORE_FILENAME
    path.touch()
    with pytest.raises(StoreError, match="empty \\(0 bytes\\)"):
        ResponseStore(path)
    assert path.stat().st_size == 0


def test_newer_schema_version_is_refused(tmp_path: Path) -> None:
    with ResponseStore.open(tmp_path) as store:
        store.add([Answer("a", "m", 1)])
    con = sqlite3.connect(tmp_path / STORE_FILENAME)
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.close()
    with pytest.raises(StoreError, match=rf"schema version {SCHEMA_VERSION + 1}.*upgrade socialbias"):
        ResponseStore.open(tmp_path)
    con = sqlite3.connect(tmp_path / STORE_FILENAME)
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1  # left as it was
    assert con.execute("SELECT count(*) FROM responses").fetchone()[0] == 1
    con.close()


@pytest.mark.parametrize("user_version", [0, 1])
def test_foreign_sqlite_database_is_refused(tmp_path: Path, user_version: int) -> None:
    path = tmp_path / STORE_FILENAME
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE users (name TEXT)")
    con.execute("INSERT INTO users VALUES ('x')")
    con.execute(f"PRAGMA user_version = {user_version}")
    con.commit()
    con.close()
    _refused(path, "SQLite database but not a socialbias response store.*users")
    con = sqlite3.connect(path)
    assert con.execute("SELECT name FROM sqlite_master").fetchall() == [("users",)]  # no tables added
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # not switched to WAL
    con.close()


def test_verify_runs_quick_and_full_checks(tmp_path: Path) -> None:
    with ResponseStore.open(tmp_path, verify=True) as store:
        store.add([expected_answer(i) for i in range(100)])
        store.verify()
        store.verify(full=True)


# ---------------------------------------------------------------------------------------------
# export
# ---------------------------------------------------------------------------------------------


@pytest.fixture()
def filled(tmp_path: Path) -> ResponseStore:
    store = ResponseStore.open(tmp_path / "run")
    store.add([expected_answer(i, "m1") for i in range(30)] + [expected_answer(i, "m0") for i in range(5)]
              + [Answer("weird", "m0", -1, text="", parse="")])
    yield store  # type: ignore[misc]
    store.close()


def test_export_parquet_round_trips(filled: ResponseStore, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    assert filled.export(out / "responses.parquet") == out / "responses.parquet"
    back = pd.read_parquet(out / "responses.parquet")
    pd.testing.assert_frame_equal(back, filled.responses(), check_dtype=False)
    assert back["choice"].dtype == np.int64 and back["p0"].dtype == np.float64
    filled.export(out / "m1.data", format="parquet", model_key="m1")
    pd.testing.assert_frame_equal(pd.read_parquet(out / "m1.data"), filled.responses("m1"), check_dtype=False)
    assert sorted(p.name for p in out.iterdir()) == ["m1.data", "responses.parquet"]  # no temp files


def test_export_csv_round_trips(filled: ResponseStore, tmp_path: Path) -> None:
    path = filled.export(tmp_path / "responses.csv")
    back = pd.read_csv(path, keep_default_na=False, na_values={c: [""] for c in ("p0", "p1", "p2", "latency")})
    expected = filled.responses()
    pd.testing.assert_frame_equal(back, expected, check_dtype=False)
    assert back["text"].tolist() == expected["text"].tolist()  # newlines, quotes, commas, unicode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["responses.csv", "run"]


def test_export_failure_leaves_old_file_and_no_temp(filled: ResponseStore, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "responses.parquet"
    target.write_bytes(b"previous export")

    def broken(self: pd.DataFrame, fh: object, **kw: object) -> None:
        fh.write(b"half a parquet file")  # type: ignore[attr-defined]
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", broken)
    with pytest.raises(OSError, match="disk full"):
        filled.export(target)
    assert target.read_bytes() == b"previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["responses.parquet", "run"]
    with pytest.raises(InputError, match="format"):
        filled.export(tmp_path / "responses.xlsx")
