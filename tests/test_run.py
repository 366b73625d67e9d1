"""``run``: a whole study on a tiny model, resume, config files, replay, run-directory checks."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from socialbias.eval import main
from socialbias.pipeline import load_run
from socialbias.store import ResponseStore
from tests.conftest import BBQ_DIR
from tests.tiny_model import tiny_corpus, tiny_model_dir  # noqa: F401  (fixtures)

GRID = ["--bbq-dir", str(BBQ_DIR), "--categories", "Sexual_orientation", "--personas", "gay,straight",
        "--instructions", "0-1", "--limit", "12", "--n-boot", "50", "--quiet"]


def test_run_end_to_end_and_resume(tmp_path, tiny_model_dir, capsys):
    out = tmp_path / "run"
    assert main(["run", "--model", str(tiny_model_dir), "--backend", "hf", *GRID, "--out", str(out)]) == 0
    record = json.loads((out / "run.json").read_text())
    assert record["counts"]["prompts"] == 12 * 3 * 2 and record["counts"]["unanswered"] == 0
    # logprob mode: the default persona's two runs are one text, asked once.
    assert record["answering"]["asked"] == 12 * 5 and record["answering"]["stored"] == 12 * 6
    assert record["config"]["mode"] == "logprob" and record["model_key"].startswith("hf:")
    for name in ("responses.sqlite", "items.parquet", "prompts.parquet", "results/summary.csv",
                 "results/target_bias.csv"):
        assert (out / name).exists(), name
    assert list((out / "results" / "graphs").glob("*.graphml"))
    assert (out / "report.html").is_file() and list((out / "figures").glob("*.pdf"))
    with ResponseStore.open(out) as store:
        assert store.count() == 72
    results = load_run(out)
    assert set(results.summary.context_condition) == {"ambig", "disambig"}
    assert results.graph(context="ambig").number_of_nodes() > 0
    # The same command again: everything is in the store, nothing is asked.
    assert main(["run", "--model", str(tiny_model_dir), "--backend", "hf", *GRID, "--out", str(out)]) == 0
    again = json.loads((out / "run.json").read_text())
    assert again["answering"]["asked"] == 0 and again["answering"]["cached"] == 72
    assert again["history"][0]["answering"]["asked"] == 12 * 5  # the first session is kept
    pd.testing.assert_frame_equal(load_run(out).summary, results.summary)


def test_counts_warnings_and_a_complete_rerun_without_the_model(tmp_path, tiny_model_dir, capsys, monkeypatch):
    """One vocabulary of counts; warnings kept in run.json and the report; a rerun whose every
    answer is stored never loads the model, keeps the measured letter mass and the warnings."""
    out = tmp_path / "run"
    cmd = ["run", "--model", str(tiny_model_dir), "--backend", "hf", *GRID[:-1], "--out", str(out)]
    assert main(cmd) == 0
    first = capsys.readouterr()
    record = json.loads((out / "run.json").read_text())
    counts = record["counts"]
    assert counts == {**counts, "prompts": 72, "distinct": 60, "copies": 12, "cached": 0, "asked": 60,
                      "scored": 72, "unanswered": 0}
    # The first line, before the model loads, says what will happen; the counts with the cached
    # ones follow once the model's key is known.
    assert first.err.splitlines()[0] == (f"72 prompts (60 distinct, 12 copies); loading {tiny_model_dir} to answer "
                                         "those the store lacks")
    assert "72 prompts (60 distinct, 12 copies): 0 cached in the store; asking 60" in first.err
    assert "asked 60 prompts" in first.out and "scored 72 answers" in first.out
    assert "s_amb: the original BBQ" in first.out
    mass = record["backend"]["letter_mass"]
    assert record["warnings"] and "option letters" in record["warnings"][0]  # a random tiny model: low mass
    html = (out / "report.html").read_text()
    assert html.index('id="warnings"') < html.index('<h2 id="summary">Summary</h2>') and "option letters" in html
    assert "72 prompts, 60 distinct, 12 copies, 0 cached, 60 asked, 72 scored" in html

    import socialbias.pipeline as pipeline

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded although every answer is stored")

    monkeypatch.setattr(pipeline, "make_backend", no_model)
    assert main(cmd) == 0
    again = json.loads((out / "run.json").read_text())
    assert again["backend"]["loaded"] is False and again["model_key"] == record["model_key"]
    assert again["counts"]["cached"] == 72 and again["counts"]["asked"] == 0 and again["counts"]["scored"] == 72
    assert again["backend"]["letter_mass"] == mass and again["warnings"] == record["warnings"]
    assert "option letters" in (out / "report.md").read_text().split("## Summary")[0]
    # A setting that changes the answers (another template) loads the model again.
    with pytest.raises(AssertionError, match="model was loaded"):  # noqa: PT012
        main([*cmd, "--template", "plain"])


def test_config_file_and_flag_override(tmp_path, tiny_model_dir):
    config = tmp_path / "study.toml"
    config.write_text(
        f'model = "{tiny_model_dir}"\nbackend = "hf"\nbbq_dir = "{BBQ_DIR}"\ncategories = ["Sexual_orientation"]\n'
        'personas = "gay"\ninstructions = [0]\nlimit = 20\nn_boot = 20\nquiet = true\n'
    )
    out = tmp_path / "cfg"
    assert main(["run", "--config", str(config), "--limit", "5", "--out", str(out)]) == 0
    record = json.loads((out / "run.json").read_text())
    assert record["config"]["limit"] == 5 and record["config"]["personas"] == "gay"  # flag wins, file fills in
    assert record["counts"]["prompts"] == 5 * 2
    bad = tmp_path / "bad.toml"
    bad.write_text('modle = "x"\n')
    assert main(["run", "--config", str(bad), "--out", str(tmp_path / "bad")]) == 2


def test_replay_backend_run(tmp_path):
    lines = [
        {"model": "recorded-model", "category": "Sexual_orientation", "example_id": e, "persona": p, "instruction": k,
         "choice": (e + k) % 3}
        for e in range(12) for p in ("", "gay", "straight") for k in (0, 1)
    ]
    path = tmp_path / "r.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines[:-3]) + "\n")  # the last 3 answers are missing
    out = tmp_path / "replay"
    assert main(["run", "--backend", "replay", "--responses", str(path), *GRID, "--out", str(out)]) == 0
    record = json.loads((out / "run.json").read_text())
    assert record["counts"]["unanswered"] == 3
    assert record["answering"]["asked"] == 72 and record["answering"]["stored"] == 69  # replay never copies answers
    assert record["model"] == "recorded-model"


def test_bad_run_inputs_exit_2(tmp_path, capsys):
    assert main(["run", "--bbq-dir", str(BBQ_DIR), "--out", str(tmp_path / "a")]) == 2
    assert "no model" in capsys.readouterr().err
    assert main(["run", "--model", str(tmp_path / "nope"), *GRID, "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope" in err
    foreign = tmp_path / "old"
    foreign.mkdir()
    (foreign / "run.json").write_text(json.dumps({"run_format": 99, "versions": {"socialbias": "9.0"}}))
    assert main(["run", "--model", "x", *GRID, "--out", str(foreign)]) == 2
    assert "run format 99" in capsys.readouterr().err


def test_yaml_config_is_read_like_toml(tmp_path):
    from socialbias.errors import InputError
    from socialbias.pipeline import load_config_file

    path = tmp_path / "study.yaml"
    path.write_text("model: some/model\nbackend: hf\ncategories: Age,Religion\nlimit: 7\nn-boot: 10\n")
    assert load_config_file(path) == {"model": "some/model", "backend": "hf", "categories": ["Age", "Religion"],
                                      "limit": 7, "n_boot": 10}
    path.write_text("model: [unclosed\n")
    with pytest.raises(InputError, match="not valid YAML"):
        load_config_file(path)
    path.write_text("- just\n- a list\n")
    with pytest.raises(InputError, match="must be a table of settings"):
        load_config_file(path)
