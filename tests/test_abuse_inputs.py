"""Abuse cases of issue 13, bad input: one line and exit 2 (never a traceback), through the one
place that maps user errors to exit codes; output files that respect the umask; report.md that
shows model and persona names as text, never as Markdown or HTML."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from socialbias.errors import BackendError, DatasetError, InputError, StoreError, Terminated, exit_code
from socialbias.eval import main
from tests.conftest import BBQ_DIR

CATEGORY = "Sexual_orientation"
ERROR_PREFIX = "python -m socialbias.eval: error: "


def _line(**fields) -> str:
    obj = {"model": "m", "category": CATEGORY, "example_id": 0, "persona": "", "instruction": 0, "choice": 0}
    obj.update(fields)
    return json.dumps(obj)


def _write(path: Path, text: str, encoding: str = "utf-8") -> str:
    path.write_bytes(text.encode(encoding))
    return str(path)


def _run(t: Path, *extra: str) -> list[str]:
    return ["run", "--backend", "replay", "--responses", _write(t / "r.jsonl", _line() + "\n"), "--bbq-dir",
            str(BBQ_DIR), "--categories", CATEGORY, "--limit", "2", "--n-boot", "0", "--quiet", *extra]


def _score(t: Path, lines: list[str], *extra: str) -> list[str]:
    return ["score", _write(t / "s.jsonl", "".join(x + "\n" for x in lines)), "--bbq-dir", str(BBQ_DIR),
            "--n-boot", "0", "--quiet", "--no-report", *extra]


CASES = {
    # name: (argv builder, words the one line must contain)
    "example_id 10**30": (lambda t: _score(t, [_line(example_id=10**30)]), "example_id"),
    "persona CSV in UTF-16": (
        lambda t: _run(t, "--personas", _write(t / "p.csv", "Category,Persona\nSexual_orientation,gay\n", "utf-16")),
        "UTF-16"),
    "persona CSV in Latin-1": (
        lambda t: _run(t, "--personas", _write(t / "p.csv", "Category,Persona\nSexual_orientation,gayé\n", "latin-1")),
        "not UTF-8"),
    "instruction file in UTF-16": (
        lambda t: _run(t, "--instruction-file", _write(t / "i.txt", "You are {0}.\n", "utf-16")), "UTF-16"),
    "config value of the wrong type": (
        lambda t: _run(t, "--config", _write(t / "c.toml", 'temperature = "hot"\n')), "wrong type"),
    "config list where a number goes": (
        lambda t: _run(t, "--config", _write(t / "c.toml", "ci = [0.9]\n")), "wrong type"),
    "instruction 32768 in score input (--strict)": (
        lambda t: _score(t, [_line(instruction=32768)], "--strict"), "0 to 32767"),
    "deeply nested JSON (--strict)": (
        lambda t: _score(t, ['{"a":' * 50000 + "1" + "}" * 50000], "--strict"), "nested too deeply"),
    "score --ci 2": (lambda t: _score(t, [_line()], "--ci", "2"), "--ci"),
    "score --n-boot -5": (lambda t: _score(t, [_line()], "--n-boot", "-5"), "--n-boot"),
    "score --workers 0": (lambda t: _score(t, [_line()], "--workers", "0"), "--workers"),
    "run --n-boot -1": (lambda t: _run(t, "--n-boot", "-1"), "--n-boot"),
    "run --ci 1.5": (lambda t: _run(t, "--ci", "1.5"), "--ci"),
    "run --limit -1": (lambda t: _run(t, "--limit", "-1"), "--limit"),
    "run --personas ''": (lambda t: _run(t, "--personas", ""), "--personas is empty"),
    "run --categories ','": (lambda t: _run(t, "--categories", ","), "--categories is empty"),
    "run --top-p 0": (lambda t: _run(t, "--top-p", "0"), "--top-p"),
    "run --bbq-dir missing": (lambda t: _run(t, "--bbq-dir", str(t / "nowhere")), "no such directory"),
    "run --instruction-file missing": (lambda t: _run(t, "--instruction-file", str(t / "no.txt")), "no such file"),
    "score --out is a file": (lambda t: _score(t, [_line()], "--out", _write(t / "f.txt", "x")), "is a file"),
    "compare --out is a file": (lambda t: ["compare", str(t), "--out", _write(t / "f.txt", "x")], "is a file"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_and_exit_2(case, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    build, words = CASES[case]
    argv = build(tmp_path)
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "out")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(ERROR_PREFIX) and words in err[0], err
    assert not (tmp_path / "out").exists()


def test_one_place_maps_every_user_error_type_to_exit_2():
    from socialbias.metrics.errors import MetricsInputError

    for exc in (InputError("x"), StoreError("x"), DatasetError("x"), MetricsInputError("x"), BackendError("x", 401)):
        assert exit_code(exc) == 2, exc
    assert exit_code(BackendError("down", None)) == 1
    assert exit_code(Terminated()) == 143 and exit_code(KeyboardInterrupt()) == 130
    assert exit_code(ZeroDivisionError()) is None  # a bug keeps its traceback


def test_utf8_with_bom_is_read(tmp_path):
    from socialbias.personas import load_instructions

    path = tmp_path / "i.txt"
    path.write_bytes("\ufeffYou are {0}.\n".encode("utf-8"))
    assert load_instructions(str(path))[0].startswith("You are")


def test_a_300_character_model_name_gets_safe_file_names(tmp_path):
    lines = [_line(model="m" * 300 + "/<x>", example_id=e, instruction=k) for e in range(4) for k in range(2)]
    out = tmp_path / "out"
    assert main(_score(tmp_path, lines, "--out", str(out))) == 0
    names = [p.name for p in out.rglob("*")]
    assert names and max(len(n) for n in names) <= 200


def test_output_files_respect_the_umask(tmp_path):
    lines = [_line(example_id=e, instruction=k, persona=p) for e in range(4) for k in range(2) for p in ("", "gay")]
    old = os.umask(0o002)
    try:
        out = tmp_path / "out"
        assert main(_score(tmp_path, lines, "--out", str(out))) == 0
        run = tmp_path / "run"
        assert main(_run(tmp_path, "--personas", "gay", "--out", str(run))) == 0
    finally:
        os.umask(old)
    for path in [*out.rglob("*"), *run.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o775 if path.is_dir() else 0o664), (str(path), oct(mode))


def test_report_md_shows_names_as_text(tmp_path):
    from socialbias.report import write_report
    from socialbias.scoring import score_responses

    evil = "<img src=x onerror=alert(1)>*bold*[link](http://x)`code`|cell"
    lines = [_line(model=evil, example_id=e, instruction=k, persona=p)
             for e in range(6) for k in range(2) for p in ("", "gay", "<b>odd</b>")]
    path = Path(_write(tmp_path / "s.jsonl", "".join(x + "\n" for x in lines)))
    scored = score_responses(path, bbq_dir=BBQ_DIR, n_boot=0)
    write_report(scored.results, tmp_path / "rep", record=scored.record, figures="summary")
    md = (tmp_path / "rep" / "report.md").read_text()
    html = (tmp_path / "rep" / "report.html").read_text()
    import re

    text, _, record = md.partition("## Run record")  # the record is a fenced block: shown as it is
    fence = re.search(r"^(`{3,})json$", record, re.M).group(1)
    assert record.rstrip().endswith("\n" + fence) and record.count(fence) == 2  # the names cannot close it
    assert "](http" not in text  # no link can form
    for raw in ("<img", "<b>", "*bold", "`code", "|cell"):  # never without its backslash
        assert not re.search(r"(?<!\\)" + re.escape(raw), text), raw
    assert "\\<img src=x onerror=alert(1)\\>" in md
    assert "<img src=x" not in html and "<b>odd" not in html
