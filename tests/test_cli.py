"""``python -m socialbias.eval``: exit codes, files written, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from socialbias.eval import main
from tests.conftest import BBQ_DIR, PAPER_OUTPUTS, REPO


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "socialbias.eval", *args], capture_output=True, text=True, cwd=REPO, timeout=300
    )


def test_score_paper_outputs_reproduces_published_numbers(tmp_path):
    out = tmp_path / "paper"
    proc = run_cli("score", "--format", "paper", str(PAPER_OUTPUTS), "--parser", "paper", "--out", str(out), "--n-boot", "200")
    assert proc.returncode == 0, proc.stderr
    summary = pd.read_csv(out / "summary.csv").set_index("context_condition")
    published = {  # ../shared/paper_outputs/README.md (independent implementation, 3 decimals)
        "ambig": {"TB": 0.059, "BAmt": 0.694, "PB": 0.091, "s_amb_paper": -0.027, "acc": 0.532},
        "disambig": {"TB": 0.032, "BAmt": 0.467, "PB": 0.049, "s_dis": -0.058, "acc": 0.366},
    }
    for context, numbers in published.items():
        for name, value in numbers.items():
            assert summary.loc[context, name] == pytest.approx(value, abs=0.0005), (context, name)
    for name in ("summary.csv", "target_bias.csv", "persona_bias.csv", "ingroup.csv", "shifts.csv", "score.json"):
        assert (out / name).is_file(), name
    graphs = sorted(p.name for p in (out / "graphs").iterdir())
    assert graphs == [
        "Llama-2-7b-chat-hf__Sexual_orientation__ambig.graphml",
        "Llama-2-7b-chat-hf__Sexual_orientation__ambig.json",
        "Llama-2-7b-chat-hf__Sexual_orientation__disambig.graphml",
        "Llama-2-7b-chat-hf__Sexual_orientation__disambig.json",
    ]
    record = json.loads((out / "score.json").read_text())
    assert record["outcome"]["scored"] == 25920 and record["parser"] == "paper"
    assert not [p for p in out.iterdir() if p.name.startswith(".scoring-")]  # no staging left behind


def test_score_jsonl_with_strict_parser(tmp_path):
    lines = []
    for persona in ("", "gay", "straight"):
        for k in range(2):
            for example_id in range(0, 40):
                lines.append(
                    {"model": "m", "category": "Sexual_orientation", "example_id": example_id, "persona": persona,
                     "instruction": k, "response": "(A)" if (example_id + k) % 3 else "I cannot answer"}
                )
    lines.append({"model": "m", "category": "Sexual_orientation", "example_id": 0, "persona": "wizard", "instruction": 0, "choice": 1})
    path = tmp_path / "r.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n")
    out = tmp_path / "scored"
    code = main(["score", str(path), "--bbq-dir", str(BBQ_DIR), "--out", str(out), "--n-boot", "50", "--quiet"])
    assert code == 0
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.columns[:17]) == [
        "model", "category", "context_condition", "TB", "TB_sd", "BAmt", "BAmt_sd", "PB", "PB_sd", "PB_floor",
        "s_dis", "s_amb", "s_amb_paper", "acc", "invalid_rate", "n_responses", "type",
    ]
    assert {"TB_lo", "TB_hi", "PB_lo", "acc_hi"} <= set(summary.columns)
    ambig = summary.set_index("context_condition").loc["ambig"]
    # default persona, ambiguous items of 0..39: a third are "I cannot answer" -> none.
    assert 0.2 < ambig.invalid_rate < 0.45
    record = json.loads((out / "score.json").read_text())
    assert record["outcome"]["malformed"] == 1 and record["outcome"]["unknown_personas"] == {"wizard": 1}
    # --strict turns the malformed line into exit 2 and leaves no new output.
    out2 = tmp_path / "strict"
    proc = run_cli("score", str(path), "--bbq-dir", str(BBQ_DIR), "--out", str(out2), "--strict")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "not valid JSON" in proc.stderr
    assert not out2.exists() or not any(out2.iterdir())


def test_bad_usage_and_input_exit_2(tmp_path):
    proc = run_cli("score", "--no-such-flag")
    assert proc.returncode == 2 and "usage" in proc.stderr
    proc = run_cli("score", str(tmp_path / "missing.jsonl"), "--bbq-dir", str(BBQ_DIR))
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0 and "does not exist" in proc.stderr
    proc = run_cli("prompts", "--bbq-dir", str(BBQ_DIR), "--categories", "Klingon")
    assert proc.returncode == 2 and "Klingon" in proc.stderr


def test_prompts_command_writes_the_grid(tmp_path):
    out = tmp_path / "p.parquet"
    proc = run_cli("prompts", "--bbq-dir", str(BBQ_DIR), "--categories", "Religion", "--personas", "Muslim,Jewish",
                   "--instructions", "0,2", "--limit", "10", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    table = pd.read_parquet(out)
    assert len(table) == 10 * 3 * 2 and set(table.persona) == {"", "Muslim", "Jewish"}
    assert sorted(table.instruction.unique()) == [0, 2]


def test_report_and_compare_commands(tmp_path):
    """Score the paper sample with both parsers, re-render one report, compare the two."""
    runs = {}
    for parser in ("paper", "strict"):
        out = tmp_path / f"llama2-{parser}"
        code = main(["score", "--format", "paper", str(PAPER_OUTPUTS), "--parser", parser, "--out", str(out),
                     "--n-boot", "50", "--quiet"])
        assert code == 0
        assert (out / "report.html").is_file() and list((out / "figures").glob("*.png"))
        runs[parser] = out
    html_before = (runs["paper"] / "report.html").read_text()
    (runs["paper"] / "report.html").unlink()
    assert main(["report", str(runs["paper"]), "--figures", "summary"]) == 0
    html_after = (runs["paper"] / "report.html").read_text()
    assert "0.059" in html_after and "Sexual" in html_after and len(html_after) < len(html_before)
    out = tmp_path / "compare"
    assert main(["compare", str(runs["paper"]), str(runs["strict"]), "--out", str(out)]) == 0
    combined = pd.read_csv(out / "summary.csv")
    assert sorted(set(combined.run)) == ["llama2-paper", "llama2-strict"] and len(combined) == 4
    # The strict parser reads far fewer answers: its invalid rate is much higher.
    rates = combined.groupby("run").invalid_rate.mean()
    assert rates["llama2-strict"] > rates["llama2-paper"] + 0.2
    page = (out / "compare.html").read_text()
    assert page.count("data:image/png;base64,") == 2 and 'src="http' not in page
    assert main(["compare", str(tmp_path / "nope"), "--out", str(tmp_path / "c2")]) == 2


def test_backend_errors_map_to_exit_codes(monkeypatch, capsys):
    """A refused request is bad input (2); a server down after every retry is a failure (1)."""
    import socialbias.pipeline as pipeline
    from socialbias.errors import BackendError

    for status, code in ((401, 2), (404, 2), (None, 1), (503, 1)):
        def fail(config, status=status):
            raise BackendError(f"server said {status}", status=status)

        monkeypatch.setattr(pipeline, "run_study", fail)
        assert main(["run", "--model", "m", "--backend", "openai", "--out", "x"]) == code
        assert capsys.readouterr().err.strip() == f"python -m socialbias.eval: error: server said {status}"


def test_scored_responses_offer_the_results_api(tmp_path):
    from socialbias.scoring import score_responses

    scored = score_responses(PAPER_OUTPUTS, fmt="paper", parser="paper", n_boot=20, out=tmp_path / "s")
    assert scored.summary is scored.results.summary and len(scored.target_bias) > 0
    results = scored.to_results()
    assert list(results.types["type"]) == list(scored.summary["type"])
    graph = results.graph(context="ambig")
    assert graph.has_node("persona:gay") and graph.has_node("target:gay")
