"""One record per output directory (socialbias/records.py; docs/design.md, "On-disk layout"):
every command of every instrument stamps run_format, readers refuse a newer major with the fix,
a directory of one instrument is never taken for another's, and a political run writes all of its
files or none."""

from __future__ import annotations

import json

import pytest

from socialbias.errors import InputError
from socialbias.eval import main
from socialbias.instruments.politics import load_instrument
from socialbias.instruments.politics.cli import score_instrument
from socialbias.instruments.politics.run import run_instrument
from socialbias.records import RUN_FORMAT, read_record, write_record
from socialbias.results import load_run
from tests.conftest import BBQ_DIR
from tests.test_politics_compare import _answers
from tests.test_politics_instruments import MADE_UP
from tests.test_politics_run import ScriptedBackend


def _bbq_answers(tmp_path):
    lines = [{"model": "m", "category": "Sexual_orientation", "example_id": e, "persona": p, "instruction": 0,
              "choice": (e + len(p)) % 3} for e in range(12) for p in ("", "gay", "straight")]
    path = tmp_path / "bbq.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return path


def test_every_command_stamps_the_format_and_reads_back(tmp_path):
    bbq = tmp_path / "bbq_score"
    assert main(["score", str(_bbq_answers(tmp_path)), "--bbq-dir", str(BBQ_DIR), "--personas", "paper",
                 "--n-boot", "0", "--quiet", "--no-report", "--out", str(bbq)]) == 0
    cmp_ = tmp_path / "bbq_compare"
    assert main(["compare", str(bbq), str(bbq), "--out", str(cmp_)]) == 0
    inst = load_instrument("sapplyvalues")
    pol = {}
    for name, lean in (("a", 0), ("b", 4)):
        pol[name] = tmp_path / f"pol_{name}"
        score_instrument("sapplyvalues", str(_answers(tmp_path / f"{name}.jsonl", inst, name, lean, 0)), str(pol[name]),
                         n_boot=20)
    pol_cmp = tmp_path / "pol_compare"
    assert main(["compare", str(pol["a"]), str(pol["b"]), "--out", str(pol_cmp)]) == 0
    expected = {bbq: ("score", "bbq", bbq), cmp_: ("compare", "bbq", cmp_), pol["a"]: ("score", "sapplyvalues", pol["a"]),
                pol_cmp: ("compare", "sapplyvalues", pol_cmp)}
    for directory, (kind, instrument, tables) in expected.items():
        record = read_record(directory)
        assert (record.kind, record.instrument, record.format, record.tables) == (kind, instrument, RUN_FORMAT, tables)
        assert (tables / ("compare.csv" if directory == pol_cmp else "summary.csv")).is_file()
    assert load_run(bbq).summary.shape[0] > 0


def test_a_newer_major_format_is_refused_with_the_fix(tmp_path, capsys):
    inst = load_instrument("sapplyvalues")
    dirs = []
    for name in ("a", "b"):
        dirs.append(tmp_path / name)
        score_instrument("sapplyvalues", str(_answers(tmp_path / f"{name}.jsonl", inst, name, 2, 0)), str(dirs[-1]),
                         n_boot=10)
    record = json.loads((dirs[1] / "score.json").read_text())
    (dirs[1] / "score.json").write_text(json.dumps({**record, "run_format": "2.0", "versions": {"socialbias": "9.1"}}))
    with pytest.raises(InputError, match="newer socialbias.*9.1.*upgrade"):
        read_record(dirs[1])
    assert main(["compare", str(dirs[0]), str(dirs[1]), "--out", str(tmp_path / "cmp")]) == 2
    assert "upgrade socialbias" in capsys.readouterr().err and not (tmp_path / "cmp").exists()
    bbq = tmp_path / "bbq"
    assert main(["score", str(_bbq_answers(tmp_path)), "--bbq-dir", str(BBQ_DIR), "--n-boot", "0", "--quiet",
                 "--no-report", "--out", str(bbq)]) == 0
    write_record(bbq, "score", {"command": "score"})
    assert load_run(bbq).summary.shape[0] > 0  # the same major: read
    (bbq / "score.json").write_text(json.dumps({"command": "score", "run_format": "3.0"}))
    with pytest.raises(InputError, match="upgrade"):
        load_run(bbq)


def test_one_instruments_directory_is_never_taken_for_anothers(tmp_path, capsys):
    inst = load_instrument("sapplyvalues")
    pol = tmp_path / "pol"
    score_instrument("sapplyvalues", str(_answers(tmp_path / "a.jsonl", inst, "a", 2, 0)), str(pol), n_boot=10)
    with pytest.raises(InputError, match="sapplyvalues.*summary.csv"):
        load_run(pol)
    # a political run into a BBQ score directory, and into another instrument's run: refused before any answer
    bbq = tmp_path / "bbq"
    assert main(["score", str(_bbq_answers(tmp_path)), "--bbq-dir", str(BBQ_DIR), "--n-boot", "0", "--quiet",
                 "--no-report", "--out", str(bbq)]) == 0
    made_up = tmp_path / "madeup.json"
    made_up.write_text(json.dumps(MADE_UP))
    for target in (bbq, pol):
        with pytest.raises(InputError, match="choose another --out"):
            run_instrument(str(made_up), "scripted", target, backend=ScriptedBackend(["1"]), mode="generate", n_boot=10)
    # a BBQ run into a political run directory
    run_dir = tmp_path / "polrun"
    run_instrument(str(made_up), "scripted", run_dir, backend=ScriptedBackend(["1"]), mode="generate", n_boot=10)
    assert read_record(run_dir).instrument == MADE_UP["id"] and read_record(run_dir).format == RUN_FORMAT
    lines = tmp_path / "r.jsonl"
    lines.write_text(_bbq_answers(tmp_path).read_text())
    assert main(["run", "--backend", "replay", "--responses", str(lines), "--bbq-dir", str(BBQ_DIR), "--categories",
                 "Sexual_orientation", "--limit", "4", "--quiet", "--out", str(run_dir)]) == 2
    assert MADE_UP["id"] in capsys.readouterr().err


def test_a_political_run_writes_all_its_files_or_none(tmp_path, monkeypatch):
    made_up = tmp_path / "madeup.json"
    made_up.write_text(json.dumps(MADE_UP))
    out = tmp_path / "run"
    from socialbias.instruments.politics import run as run_module

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(run_module, "robustness_table", broken)  # fails after answers.csv and summary.csv
    with pytest.raises(RuntimeError):
        run_instrument(str(made_up), "scripted", out, backend=ScriptedBackend(["1"]), mode="generate", n_boot=10)
    assert (out / "responses.sqlite").is_file()  # the answers are kept: a rerun resumes
    assert not [p.name for p in out.iterdir() if p.suffix in (".csv", ".json") or p.name.startswith(".staging")]
    monkeypatch.undo()
    run_instrument(str(made_up), "scripted", out, backend=ScriptedBackend(["1"]), mode="generate", n_boot=10)
    assert {"answers.csv", "summary.csv", "baselines.csv", "robustness.csv", "run.json"} <= {p.name for p in
                                                                                           out.iterdir()}


def test_compare_paired_refuses_a_newer_run(tmp_path, capsys):
    responses = _bbq_answers(tmp_path)
    dirs = [tmp_path / "a", tmp_path / "b"]
    for d in dirs:
        assert main(["run", "--backend", "replay", "--responses", str(responses), "--bbq-dir", str(BBQ_DIR),
                     "--categories", "Sexual_orientation", "--personas", "gay,straight", "--instructions", "0",
                     "--limit", "12", "--n-boot", "20", "--quiet", "--figures", "none", "--out", str(d)]) == 0
        assert read_record(d).format == RUN_FORMAT and read_record(d).tables == d / "results"
    record = json.loads((dirs[1] / "run.json").read_text())
    (dirs[1] / "run.json").write_text(json.dumps({**record, "run_format": "2.1"}))
    assert main(["compare", "--paired", str(dirs[0]), str(dirs[1]), "--out", str(tmp_path / "cmp")]) == 2
    assert "upgrade socialbias" in capsys.readouterr().err and not (tmp_path / "cmp").exists()
