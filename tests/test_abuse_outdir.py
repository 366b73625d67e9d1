"""Abuse cases of issue 13, data loss: output directories, locks and staging folders.

A command deletes or replaces only what it can prove it wrote itself; every refusal is one line
and exit 2, and a sentinel file (with the results/, figures/ and graphs/ folders a careless
command would have replaced) must survive every case.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from socialbias.eval import main
from socialbias.outdir import MARKER, owner
from tests.conftest import BBQ_DIR, REPO

ERROR_PREFIX = "python -m socialbias.eval: error: "
CATEGORY = "Sexual_orientation"


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(ERROR_PREFIX), err
    return lines[0]


def _user_dir(path: Path) -> dict[str, bytes]:
    """A directory of the user's own (no marker): a sentinel and the folders we write."""
    path.mkdir(parents=True, exist_ok=True)
    for rel in ("sentinel.txt", "results/summary.csv", "figures/fig.png", "graphs/g.json"):
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_bytes(f"user data {rel}".encode())
    return _snapshot(path)


def _snapshot(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def responses(tmp_path_factory) -> Path:
    """A small JSONL of recorded answers (10 items, 2 personas, 2 instructions)."""
    path = tmp_path_factory.mktemp("abuse") / "responses.jsonl"
    lines = [{"model": "m", "category": CATEGORY, "example_id": e, "persona": p, "instruction": k, "choice": (e + k) % 3}
             for e in range(10) for p in ("", "gay", "straight") for k in (0, 1)]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def _score_args(responses: Path, out) -> list[str]:
    return ["score", str(responses), "--bbq-dir", str(BBQ_DIR), "--n-boot", "0", "--quiet", "--no-report",
            "--out", str(out)]


@pytest.fixture(scope="module")
def scored(responses, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("scored") / "s"
    assert main(_score_args(responses, out)) == 0
    return out


def _commands(responses: Path, scored: Path, out) -> dict[str, list[str]]:
    return {
        "run": ["run", "--backend", "replay", "--responses", str(responses), "--bbq-dir", str(BBQ_DIR),
                "--categories", CATEGORY, "--personas", "gay", "--instructions", "0", "--limit", "2", "--n-boot", "0",
                "--quiet", "--out", str(out)],
        "score": _score_args(responses, out),
        "compare": ["compare", str(scored), "--out", str(out)],
    }


@pytest.mark.parametrize("command", ["run", "score", "compare"])
def test_foreign_non_empty_out_is_refused_and_untouched(command, responses, scored, tmp_path, capsys):
    out = tmp_path / "mine"
    before = _user_dir(out)
    assert main(_commands(responses, scored, out)[command]) == 2
    line = _one_line(capsys.readouterr().err)
    assert str(out) in line and "did not write" in line and "choose a new or empty directory" in line
    assert _snapshot(out) == before and sorted(p.name for p in out.iterdir()) == ["figures", "graphs", "results",
                                                                               "sentinel.txt"]


@pytest.mark.parametrize("command", ["run", "score", "compare"])
@pytest.mark.parametrize("where", ["empty string", "dot", "root", "home"])
def test_places_that_are_never_an_output_dir(command, where, responses, scored, tmp_path, monkeypatch, capsys):
    cwd = tmp_path / "cwd"
    before = _user_dir(cwd)
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("HOME", str(cwd if where == "home" else tmp_path / "elsewhere"))
    out = {"empty string": "", "dot": ".", "root": "/", "home": "~"}[where]
    assert main(_commands(responses, scored, out)[command]) == 2
    line = _one_line(capsys.readouterr().err)
    assert {"empty string": "is empty", "dot": "current directory", "root": "root", "home": "home directory"}[where] in line
    assert _snapshot(cwd) == before


@pytest.mark.parametrize("command", ["run", "score", "compare"])
@pytest.mark.parametrize("where", ["file", "below a file", "read-only place"])
def test_file_or_read_only_out_is_refused(command, where, responses, scored, tmp_path, capsys):
    target = tmp_path / "a-file.txt"
    target.write_text("keep me")
    out = {"file": target, "below a file": target / "sub", "read-only place": Path("/proc/socialbias-abuse-test")}[where]
    assert main(_commands(responses, scored, out)[command]) == 2
    line = _one_line(capsys.readouterr().err)
    assert {"file": "is a file", "below a file": "which is a file", "read-only place": "cannot be written"}[where] in line
    assert target.read_text() == "keep me"


def test_report_into_a_foreign_directory_is_refused(scored, tmp_path, capsys):
    """A user's folder holding a copy of summary tables (loadable) is not ours to write figures into."""
    mine = tmp_path / "mine"
    mine.mkdir()
    for p in scored.glob("*.csv"):
        (mine / p.name).write_bytes(p.read_bytes())
    (mine / "score.json").write_text('{"note": "my own file"}')
    (mine / "figures").mkdir()
    (mine / "figures" / "my-figure.png").write_bytes(b"mine")
    before = _snapshot(mine)
    assert main(["report", str(mine)]) == 2
    assert "did not write" in _one_line(capsys.readouterr().err)
    assert _snapshot(mine) == before


def test_directories_of_the_previous_version_are_still_ours(responses, tmp_path):
    """The documented rule: run.json with run_format, score.json with command=score, or the
    compare page head: recognised without the marker, and marked at the next write."""
    score_dir = tmp_path / "old-score"
    assert main(_score_args(responses, score_dir)) == 0
    (score_dir / MARKER).unlink()
    (score_dir / ".lock").unlink()
    assert owner(score_dir) == "score"
    assert main(_score_args(responses, score_dir)) == 0
    assert json.loads((score_dir / MARKER).read_text()) == {"command": "score", "format": "socialbias-output/1"}
    run_dir = tmp_path / "old-run"
    run_dir.mkdir()
    (run_dir / "run.json").write_text('{"run_format": 1}')
    assert owner(run_dir) == "run"
    compare_dir = tmp_path / "old-compare"
    compare_dir.mkdir()
    (compare_dir / "compare.html").write_text('<!DOCTYPE html><html><head><meta charset="utf-8"><title>socialbias '
                                              'comparison</title></head></html>')
    assert owner(compare_dir) == "compare"
    (compare_dir / "compare.html").write_text("<html>my page</html>")
    assert owner(compare_dir) is None


def test_a_lock_that_is_a_symlink_is_never_followed(responses, tmp_path, capsys):
    out = tmp_path / "s"
    assert main(_score_args(responses, out)) == 0
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (out / ".lock").unlink()
    (out / ".lock").symlink_to(victim)
    assert main(_score_args(responses, out)) == 2
    assert "symbolic link" in _one_line(capsys.readouterr().err)
    assert victim.read_text() == "precious"
    (out / ".lock").unlink()
    os.link(victim, out / ".lock")  # a hard link would be truncated just the same
    assert main(_score_args(responses, out)) == 2
    assert "hard link" in _one_line(capsys.readouterr().err)
    assert victim.read_text() == "precious"


HOLDER = """
    import sys
    from socialbias.locks import RunDirLock
    with RunDirLock(sys.argv[1], shared=sys.argv[2] == "shared"):
        print("locked", flush=True)
        sys.stdin.read()
"""


def _hold(directory: Path, mode: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(HOLDER), str(directory), mode], cwd=REPO,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_readers_take_a_shared_lock_writers_an_exclusive_one(scored, responses, tmp_path, capsys):
    writer = _hold(scored, "exclusive")
    try:  # a run or score is writing the directory: compare and report must wait
        assert main(["compare", str(scored), "--out", str(tmp_path / "c1")]) == 2
        assert f"pid {writer.pid}" in _one_line(capsys.readouterr().err)
        assert main(["report", str(scored)]) == 2
        assert f"pid {writer.pid}" in _one_line(capsys.readouterr().err)
    finally:
        writer.communicate("", timeout=30)
    reader = _hold(scored, "shared")
    try:  # another reader is fine; a writer is not
        assert main(["compare", str(scored), "--out", str(tmp_path / "c2")]) == 0
        capsys.readouterr()
        assert main(_score_args(responses, scored)) == 2
        assert "reading" in _one_line(capsys.readouterr().err)
    finally:
        reader.communicate("", timeout=30)
    assert not (tmp_path / "c1").exists()


def test_crash_leftovers_are_removed_by_the_next_command_and_only_then(scored, responses, tmp_path, capsys):
    out = tmp_path / "s"
    assert main(_score_args(responses, out)) == 0
    for name in (".report-abc123", ".scoring-def456", ".results-0", ".compare-x"):
        (out / name).mkdir()
        (out / name / "half.png").write_bytes(b"half")
    (out / ".my-own-hidden").mkdir()  # not a staging name: never ours to remove
    writer = _hold(out, "exclusive")
    try:  # a process holds the directory: its staging folders may be live, nothing is removed
        assert main(_score_args(responses, out)) == 2
        capsys.readouterr()
        assert (out / ".report-abc123" / "half.png").exists()
    finally:
        writer.communicate("", timeout=30)
    assert main(_score_args(responses, out)) == 0
    left = sorted(p.name for p in out.iterdir() if p.name.startswith("."))
    assert left == [".lock", ".my-own-hidden", MARKER]


SLOW_REPORT = """
    import sys, time
    from pathlib import Path
    from socialbias import report
    from socialbias.figures import style
    real = report.save_figure
    def slow(fig, stem, **kw):
        Path(sys.argv[2]).touch()
        time.sleep(30)
        return real(fig, stem, **kw)
    # the report saves some figures itself and draws the rest through figures.drawing, which
    # imports save_figure from figures.style when it draws: slow both down
    report.save_figure = slow
    style.save_figure = slow
    from socialbias.eval import main
    sys.exit(main(["report", sys.argv[1], "--figures", "summary"]))
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_staging_is_removed_when_a_report_is_terminated(sig, scored, tmp_path):
    if sig == signal.SIGINT and signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("needs Python's default SIGINT handler (a background job inherits SIGINT ignored)")
    out = tmp_path / "s"
    out.mkdir()
    for p in scored.iterdir():
        if p.is_file() and p.name != ".lock":
            (out / p.name).write_bytes(p.read_bytes())
    mark = tmp_path / "mark"
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(SLOW_REPORT), str(out), str(mark)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    deadline = time.monotonic() + 60
    while not mark.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    assert mark.exists(), proc.communicate()
    assert [p for p in out.iterdir() if p.name.startswith(".report-")]  # mid-report
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == (143 if sig == signal.SIGTERM else 130), err
    assert "terminated" in err or "interrupted" in err
    assert not [p.name for p in out.iterdir() if p.name.startswith(".report-")]
    assert not (out / "report.html").exists()
