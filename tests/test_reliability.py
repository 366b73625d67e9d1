"""Reliability under injected faults: kill -9 mid-run, two writers, secrets, determinism,
bad input, untrusted files, fuzzed input files.

Every fault is injected for real (SIGKILL of a subprocess, a second process on the same run
directory, a key in the environment of a real HTTP run, malformed files on disk, random bytes).
"""

from __future__ import annotations

import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socialbias.bbq_adapters import DatasetError, load_bbq
from socialbias.errors import SocialBiasError
from socialbias.eval import main
from socialbias.pipeline import evaluate, load_run
from socialbias.recorded import read_jsonl
from socialbias.store import ResponseStore
from tests.conftest import BBQ_DIR, REPO
from tests.fake_openai_server import FakeOpenAIServer

CATEGORY = "Sexual_orientation"
PERSONAS = ("", "gay", "straight")
N_ITEMS = 40
N_PROMPTS = N_ITEMS * len(PERSONAS) * 5  # instructions 0-4
GRID = ["--bbq-dir", str(BBQ_DIR), "--categories", CATEGORY, "--personas", "gay,straight",
        "--instructions", "0-4", "--limit", str(N_ITEMS), "--n-boot", "50", "--quiet"]
ERROR_PREFIX = "python -m socialbias.eval: error: "


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k.upper() not in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "OPENAI_API_KEY", "OPENAI_BASE_URL")
           and not k.startswith("SLOW_RUN_")}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


def _cli(args, *, helper: bool = False, env: dict[str, str] | None = None, timeout: float = 120):
    module = "tests.slow_run" if helper else "socialbias.eval"
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], capture_output=True, text=True,
                          cwd=REPO, env=env or _env(), timeout=timeout)


def _one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(ERROR_PREFIX), err
    return lines[0]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A recorded-responses file for the grid (some answers as text, some unreadable) and a
    config file that turns the report off (the tests compare the metric tables)."""
    root = tmp_path_factory.mktemp("study")
    lines = []
    for e in range(N_ITEMS):
        for p in PERSONAS:
            for k in range(5):
                h = (e * 7 + k * 3 + len(p) * 5) % 11
                line = {"model": "recorded", "category": CATEGORY, "example_id": e, "persona": p, "instruction": k}
                if h == 10:
                    line["response"] = "I cannot answer that."
                elif h % 2:
                    line["response"] = f"({'ABC'[h % 3]}) because"
                else:
                    line["choice"] = h % 3
                lines.append(line)
    responses = root / "responses.jsonl"
    responses.write_text("".join(json.dumps(x) + "\n" for x in lines))
    config = root / "study.toml"
    config.write_text("report = false\n")
    return {"responses": responses, "config": config, "args": ["--backend", "replay", "--responses", str(responses),
                                                               "--config", str(config), *GRID]}


@pytest.fixture(scope="module")
def baseline(study, tmp_path_factory):
    """An uninterrupted run of the replay study (in this process)."""
    out = tmp_path_factory.mktemp("baseline") / "run"
    assert main(["run", *study["args"], "--out", str(out)]) == 0
    return out


def _stored(out: Path) -> pd.DataFrame:
    with ResponseStore.open(out, verify=True) as store:
        return store.responses().sort_values("prompt_id").reset_index(drop=True)


# ------------------------------------------------------------------------------------------------
# 1. kill -9 at random moments, then the same command resumes to the same results
# ------------------------------------------------------------------------------------------------


def test_sigkill_at_random_moments_then_resume_gives_identical_results(study, baseline, tmp_path):
    reference = _stored(baseline)
    assert len(reference) == N_PROMPTS and reference["prompt_id"].is_unique
    reference_summary = (baseline / "results" / "summary.csv").read_bytes()
    partial_counts = []
    # Seeds chosen so the three kills land in different phases: with 256-answer transactions,
    # seed 7 kills after the first commit, seed 6 after the second, seed 5 while scoring/saving.
    for seed in (5, 6, 7):
        rng = random.Random(seed)
        kill_at = rng.randrange(N_PROMPTS + 150)  # answers handed over before the kill (>= N: after answering)
        out, mark = tmp_path / f"run{seed}", tmp_path / f"mark{seed}"
        args = ["run", *study["args"], "--out", out]
        env = _env(SLOW_RUN_DELAY="0.002", SLOW_RUN_MARK=str(mark), SLOW_RUN_MARK_AT=str(kill_at))
        proc = subprocess.Popen([sys.executable, "-m", "tests.slow_run", *map(str, args)], cwd=REPO, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 90
            while not mark.exists() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.002)
            assert mark.exists(), "the run never reached the kill point"
            time.sleep(max(0, kill_at - N_PROMPTS) * 0.001)  # up to 0.15 s into scoring and saving (~0.3 s)
            assert proc.poll() is None, "the run ended before the kill"
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.kill()
            proc.wait(30)
        assert proc.returncode == -signal.SIGKILL
        killed = _stored(out)  # the store opens and passes an integrity check after the kill
        assert killed["prompt_id"].is_unique
        partial_counts.append(len(killed))
        # whatever was committed before the kill is exactly the reference's answers
        merged = killed.merge(reference, on="prompt_id", suffixes=("", "_ref"))
        assert len(merged) == len(killed)
        assert (merged["choice"] == merged["choice_ref"]).all() and (merged["model_key"] == merged["model_key_ref"]).all()

        done = _cli(args, helper=True)  # the same command, to completion
        assert done.returncode == 0, done.stderr
        resumed = _stored(out)
        assert len(resumed) == N_PROMPTS and resumed["prompt_id"].is_unique  # every prompt exactly once
        pd.testing.assert_frame_equal(resumed[["prompt_id", "model_key", "choice", "parse"]],
                                      reference[["prompt_id", "model_key", "choice", "parse"]])
        assert (out / "results" / "summary.csv").read_bytes() == reference_summary
        assert (out / "results" / "target_bias.csv").read_bytes() == (baseline / "results" / "target_bias.csv").read_bytes()
        record = json.loads((out / "run.json").read_text())
        assert record["counts"]["unanswered"] == 0
    # the kills landed mid-answering (with committed answers the resume had to keep) and after it
    assert any(0 < n < N_PROMPTS for n in partial_counts) and N_PROMPTS in partial_counts, partial_counts


# ------------------------------------------------------------------------------------------------
# 2. two processes on one run directory
# ------------------------------------------------------------------------------------------------


def test_second_process_on_a_locked_run_dir_stops_with_exit_2_naming_the_pid(study, baseline, tmp_path):
    out, mark, hold = tmp_path / "run", tmp_path / "answering", tmp_path / "go"
    args = ["run", *study["args"], "--out", out]
    first = subprocess.Popen([sys.executable, "-m", "tests.slow_run", *map(str, args)], cwd=REPO,
                             env=_env(SLOW_RUN_MARK=str(mark), SLOW_RUN_HOLD=str(hold)),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while not mark.exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert mark.exists(), "the first run never started answering"
        run_json = (out / "run.json").read_bytes()
        second = _cli(args)  # the plain command, while the first holds the directory
        assert second.returncode == 2, second.stderr
        line = _one_line_error(second.stderr)
        assert f"pid {first.pid}" in line and str(out) in line
        assert (out / "run.json").read_bytes() == run_json  # the loser wrote nothing
        hold.touch()
        _, err = first.communicate(timeout=120)
        assert first.returncode == 0, err
    finally:
        first.kill()
        first.wait(30)
    stored = _stored(out)
    assert len(stored) == N_PROMPTS and stored["prompt_id"].is_unique
    assert (out / "results" / "summary.csv").read_bytes() == (baseline / "results" / "summary.csv").read_bytes()
    again = _cli(args)  # the lock went with the first process
    assert again.returncode == 0, again.stderr


def test_run_dir_stays_locked_while_results_are_written(study, tmp_path):
    """The lock covers scoring and writing results/ and the report, not only the answering."""
    out, mark, hold = tmp_path / "run", tmp_path / "saving", tmp_path / "go"
    args = ["run", *study["args"], "--out", out]
    first = subprocess.Popen([sys.executable, "-m", "tests.slow_run", *map(str, args)], cwd=REPO,
                             env=_env(SLOW_RUN_SAVE_MARK=str(mark), SLOW_RUN_SAVE_HOLD=str(hold)),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while not mark.exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert mark.exists(), "the first run never reached its results"
        second = _cli(args)
        assert second.returncode == 2, second.stdout + second.stderr
        assert f"pid {first.pid}" in _one_line_error(second.stderr)
        assert not (out / "results").exists()  # the second run wrote no results under the first
        hold.touch()
        _, err = first.communicate(timeout=120)
        assert first.returncode == 0, err
    finally:
        first.kill()
        first.wait(30)
    assert (out / "results" / "summary.csv").is_file()


# ------------------------------------------------------------------------------------------------
# 3. an API key in the environment is written nowhere
# ------------------------------------------------------------------------------------------------


def _files_containing(root: Path, needle: bytes) -> list[str]:
    return [str(p.relative_to(root)) for p in sorted(root.rglob("*")) if p.is_file() and needle in p.read_bytes()]


def test_api_key_never_reaches_the_run_directory_or_the_output(tmp_path):
    secret = f"sk-test-{secrets.token_hex(16)}"
    needles = (secret.encode(), secret[len("sk-test-"):].encode())
    grid = ["--bbq-dir", BBQ_DIR, "--categories", CATEGORY, "--personas", "gay", "--instructions", "0-1",
            "--limit", "6", "--n-boot", "20", "--quiet"]
    env = _env(OPENAI_API_KEY=secret)
    with FakeOpenAIServer(api_key=secret) as server:
        out = tmp_path / "ok"
        proc = _cli(["run", "--backend", "openai", "--base-url", server.url, "--model", "fake-model", *grid,
                     "--concurrency", "4", "--out", out], env=env)
        assert proc.returncode == 0, proc.stderr
        assert server.answered > 0 and f"Bearer {secret}" in server.authorizations  # the key was used
    files = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert {"run.json", "responses.sqlite", "report.html", "report.md", "results/summary.csv"} <= files
    assert any(f.startswith("figures/") for f in files)
    for needle in needles:
        assert _files_containing(out, needle) == []
        assert needle.decode() not in proc.stdout + proc.stderr
    record = json.loads((out / "run.json").read_text())
    assert record["config"]["api_key_env"] == "OPENAI_API_KEY"  # named, not stored
    with ResponseStore.open(out) as store:
        assert store.count() == 6 * 2 * 2

    # a key the server refuses: the 401 (whose body echoes the key) is reported without it
    with FakeOpenAIServer(api_key="sk-test-the-right-one-0000") as server:
        out = tmp_path / "refused"
        proc = _cli(["run", "--backend", "openai", "--base-url", server.url, "--model", "fake-model", *grid,
                     "--out", out], env=env)
        assert server.chat_requests > 0
    assert proc.returncode == 2, proc.stderr
    line = _one_line_error(proc.stderr)
    assert "401" in line
    for needle in needles:
        assert needle.decode() not in proc.stdout + proc.stderr
        assert not out.exists() or _files_containing(out, needle) == []


# ------------------------------------------------------------------------------------------------
# 4. determinism across directories, hash seeds and locales
# ------------------------------------------------------------------------------------------------


def test_same_inputs_give_byte_identical_tables_across_hash_seed_and_locale(study, baseline, tmp_path):
    tables = ("summary.csv", "target_bias.csv", "persona_bias.csv")
    for i, (hashseed, locale) in enumerate((("1", "C"), ("12345", "C.UTF-8"))):
        out = tmp_path / f"d{i}"
        proc = _cli(["run", *study["args"], "--out", out], env=_env(PYTHONHASHSEED=hashseed, LC_ALL=locale, LANG=locale))
        assert proc.returncode == 0, proc.stderr
        for name in tables:
            assert (out / "results" / name).read_bytes() == (baseline / "results" / name).read_bytes(), (name, locale)


# ------------------------------------------------------------------------------------------------
# 5. bad input: exit 2, one line, nothing written
# ------------------------------------------------------------------------------------------------


def _truncated_bbq(tmp: Path) -> Path:
    bbq = tmp / "bbq"
    bbq.mkdir()
    data = (BBQ_DIR / f"{CATEGORY}.jsonl").read_bytes()
    (bbq / f"{CATEGORY}.jsonl").write_bytes(data[: len(data) // 2])  # cut mid-record
    return bbq


BAD_RUNS = {
    # name: (builder(tmp) -> extra args, words the message must contain)
    "unknown config key": (lambda t: ["--config", _write(t / "c.toml", 'modle = "x"\n'), "--model", "m"], "modle"),
    "persona csv without columns": (
        lambda t: ["--model", "m", "--personas", _write(t / "p.csv", "Group,Person\nx,y\n")], "lacks column"),
    "instruction file without {0}": (
        lambda t: ["--model", "m", "--instruction-file", _write(t / "i.txt", "You are a person.\n")], "{0}"),
    "unknown category": (lambda t: ["--model", "m", "--categories", "Klingon"], "Klingon"),
    "truncated bbq file": (lambda t: ["--model", "m", "--bbq-dir", _truncated_bbq(t)], "truncated"),
    "model that cannot be loaded": (
        lambda t: ["--backend", "hf", "--device", "cpu", "--model", _write(t / "model" / "config.json", "{not json")[:-len("/config.json")]],
        "cannot load model"),
}


def _write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("case", list(BAD_RUNS))
def test_bad_run_input_exits_2_with_one_line_and_writes_nothing(case, tmp_path, capsys):
    build, words = BAD_RUNS[case]
    out = tmp_path / "out"
    base = ["--bbq-dir", str(BBQ_DIR), "--categories", CATEGORY, "--personas", "gay", "--instructions", "0",
            "--limit", "4", "--quiet"]
    extra = [str(a) for a in build(tmp_path)]
    assert main(["run", *base, *extra, "--out", str(out)]) == 2
    line = _one_line_error(capsys.readouterr().err)
    assert words in line, line
    assert not out.exists(), sorted(p.name for p in out.iterdir())  # no run.json, store or results left behind


def test_run_dir_of_another_format_is_left_untouched(tmp_path, capsys):
    out = tmp_path / "old"
    out.mkdir()
    (tmp_path / "r.jsonl").write_text("")  # the settings are valid: the directory is what is refused
    record = json.dumps({"run_format": 2, "versions": {"socialbias": "9.0"}})
    (out / "run.json").write_text(record)
    code = main(["run", "--backend", "replay", "--responses", str(tmp_path / "r.jsonl"), "--bbq-dir", str(BBQ_DIR),
                 "--categories", CATEGORY, "--quiet", "--out", str(out)])
    assert code == 2
    assert "run format 2" in _one_line_error(capsys.readouterr().err)
    assert [p.name for p in out.iterdir()] == ["run.json"] and (out / "run.json").read_text() == record


# ------------------------------------------------------------------------------------------------
# 6. reading a run directory never unpickles
# ------------------------------------------------------------------------------------------------


def test_load_run_never_unpickles(study, tmp_path, monkeypatch):
    import pickle

    out = tmp_path / "run"
    evaluate(backend="replay", responses=str(study["responses"]), bbq_dir=str(BBQ_DIR), categories=[CATEGORY],
             personas="gay,straight", instructions=[0, 1], limit=10, n_boot=20, report=False, out=str(out))

    def refuse(*a, **k):
        raise AssertionError("a run directory was unpickled")

    class Refusing:
        def __init__(self, *a, **k):
            refuse()

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "Unpickler", Refusing)
    monkeypatch.setattr(pd, "read_pickle", refuse)
    results = load_run(out)
    assert len(results.summary) == 2 and not results.target_bias.empty and not results.persona_bias.empty
    assert results.graph(context="ambig").number_of_nodes() > 0


# ------------------------------------------------------------------------------------------------
# 7. fuzzed input files: success, or the package's own error, nothing else
# ------------------------------------------------------------------------------------------------

OWN_ERRORS = (SocialBiasError, DatasetError)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_json_scalar = st.one_of(st.none(), st.booleans(), st.integers(-5, 2**70), st.floats(allow_nan=True),
                         st.text(max_size=8))
_json_value = st.recursive(_json_scalar, lambda c: st.one_of(st.lists(c, max_size=3),
                                                             st.dictionaries(st.text(max_size=5), c, max_size=3)),
                           max_leaves=6)


def _fuzz_file(name: str, data: bytes, fn):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        try:
            fn(path)
        except OWN_ERRORS:
            pass


def _records_bytes(records, junk: bytes) -> bytes:
    return b"\n".join(json.dumps(r, allow_nan=True).encode() for r in records) + junk


_recorded_line = st.fixed_dictionaries(
    {},
    optional={
        "model": st.one_of(st.text(max_size=5), _json_scalar),
        "category": st.one_of(st.sampled_from([CATEGORY, "Age", ""]), _json_value),
        "example_id": st.one_of(st.integers(-3, 2**65), _json_value),
        "persona": st.one_of(st.sampled_from(["", "gay", "straight"]), _json_value),
        "instruction": st.one_of(st.integers(-2, 6), _json_value),
        "response": st.one_of(st.text(max_size=12), _json_value),
        "choice": st.one_of(st.sampled_from([0, 1, 2, None, 3, -1, 1.0, True]), _json_value),
    },
)


@FUZZ
@given(data=st.binary(max_size=300))
def test_read_jsonl_random_bytes(data):
    for strict in (False, True):
        _fuzz_file("r.jsonl", data, lambda p, strict=strict: read_jsonl(p, strict=strict))


@FUZZ
@given(records=st.lists(st.one_of(_recorded_line, _json_value), max_size=6), junk=st.binary(max_size=20))
def test_read_jsonl_valid_looking_records(records, junk):
    for strict in (False, True):
        _fuzz_file("r.jsonl", _records_bytes(records, junk), lambda p, strict=strict: read_jsonl(p, strict=strict))


_BBQ_RECORD = json.loads((BBQ_DIR / f"{CATEGORY}.jsonl").open().readline())


@st.composite
def _bbq_record(draw):
    rec = json.loads(json.dumps(_BBQ_RECORD))
    for _ in range(draw(st.integers(0, 3))):
        where = rec
        path = draw(st.sampled_from([("example_id",), ("label",), ("category",), ("context_condition",),
                                     ("question_polarity",), ("question_index",), ("answer_info",),
                                     ("answer_info", "ans0"), ("answer_info", "ans1"), ("additional_metadata",),
                                     ("additional_metadata", "stereotyped_groups"), ("ans2",), ("context",)]))
        for key in path[:-1]:
            where = where.get(key) if isinstance(where, dict) else None
        if isinstance(where, dict):
            if draw(st.booleans()):
                where.pop(path[-1], None)
            else:
                where[path[-1]] = draw(_json_value)
    return rec


def _load_bbq_dir(path: Path) -> None:
    for on_error in ("raise", "skip"):
        load_bbq(path.parent, [CATEGORY], on_error=on_error)


@FUZZ
@given(data=st.binary(max_size=300))
def test_load_bbq_random_bytes(data):
    _fuzz_file(f"{CATEGORY}.jsonl", data, _load_bbq_dir)


@FUZZ
@given(records=st.lists(st.one_of(_bbq_record(), _json_value), max_size=5), junk=st.binary(max_size=20))
def test_load_bbq_valid_looking_records(records, junk):
    _fuzz_file(f"{CATEGORY}.jsonl", _records_bytes(records, junk), _load_bbq_dir)
