"""The vLLM half of tests/test_backend_vllm.py: runs under the vLLM interpreter, one engine start.

Usage (the main test does this): ``python -m tests.vllm.worker SPEC.json`` from the repository
root, with ``PYTHONPATH`` = the repository root and ``VLLM_ENABLE_V1_MULTIPROCESSING=0``.

SPEC names the tiny model directory, the BBQ data, the persona grid and an output directory.
The worker expands the prompts from the real BBQ items, checks the error paths (before any
engine starts), builds a random LoRA adapter with peft (and the merged model, for the hf
reference), then starts ONE engine with that adapter and:

* answers every prompt in logprob mode for the base model and the adapter through
  :func:`socialbias.runner.answer_prompts` into a :class:`ResponseStore` (the main test reads it);
* records the token ids in submission order (prefix grouping), the prefix-cache counts, the
  streaming (answers before the last chunk is submitted);
* answers some prompts in greedy and in seeded-sampling generate mode;

and writes ``result.json`` into the output directory. Assertions live in the main test, which
compares all of it with the hf backend; this script only fails on crashes.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path

os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def expand_prompts(spec: dict):
    """The prompts table of the spec's grid (the main test builds the same one)."""
    from socialbias.bbq_adapters import load_bbq
    from socialbias.expand import expand
    from socialbias.personas import load_instructions, load_personas

    items = load_bbq(spec["bbq_dir"], spec["categories"])
    items = items.groupby("category", sort=False, group_keys=False)[items.columns].apply(
        lambda g: g.iloc[:: spec["item_stride"]].head(spec["items_per_category"]))
    return expand(items, load_personas(names=spec["personas"]), load_instructions(), runs=spec["runs"])


def _error(fn) -> str | None:
    from socialbias.errors import InputError

    try:
        fn()
    except InputError as e:
        return str(e)
    except Exception as e:  # noqa: BLE001  (reported, and the main test fails on it)
        return f"NOT AN InputError: {type(e).__name__}: {e}"
    return None


def build_lora(model_dir: Path, out: Path) -> tuple[Path, Path]:
    """A random rank-8 LoRA adapter on every linear layer (peft, B not zero so it changes the
    answers) and the base model with it merged in (the hf reference for the adapter)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(1)
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    peft_model = get_peft_model(base, LoraConfig(r=8, lora_alpha=16, target_modules=targets, init_lora_weights=False))
    lora_dir, merged_dir = out / "lora-rnd", out / "merged-rnd"
    peft_model.save_pretrained(lora_dir)
    peft_model.merge_and_unload().save_pretrained(merged_dir)
    AutoTokenizer.from_pretrained(model_dir).save_pretrained(merged_dir)
    return lora_dir, merged_dir


def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    out = Path(spec["out"])
    out.mkdir(parents=True, exist_ok=True)
    result: dict = {"timings": {}}
    t0 = time.perf_counter()

    import socialbias.backends.vllm as vb

    result["lazy_import"] = "vllm" not in sys.modules and "torch" not in sys.modules

    from socialbias.backends import Decoding, prompts_from_table
    from socialbias.runner import answer_prompts
    from socialbias.store import ResponseStore

    table = expand_prompts(spec)
    result["prompt_ids"] = sorted(table["prompt_id"])

    # Error paths, before any engine exists (one engine per process).
    not_a_model = out / "not-a-model"
    not_a_model.mkdir(exist_ok=True)
    result["errors"] = {
        "missing": _error(lambda: vb.VLLMBackend("/no/such/model")),
        "not_a_model": _error(lambda: vb.VLLMBackend(str(not_a_model))),
        "bad_lora": _error(lambda: vb.VLLMBackend(spec["model"], lora={"x": str(not_a_model)})),
        "bad_mode": _error(lambda: vb.VLLMBackend(spec["model"], mode="score")),
        "bad_template": _error(lambda: vb.VLLMBackend(spec["model"], template=str(out / "missing.jinja"))),
        "bad_size": _error(lambda: vb.VLLMBackend(spec["model"], tensor_parallel_size=0)),
    }

    t = time.perf_counter()
    lora_dir, merged_dir = build_lora(Path(spec["model"]), out)
    result["merged_model"] = str(merged_dir)
    result["timings"]["lora_build"] = time.perf_counter() - t

    t = time.perf_counter()
    backend = vb.VLLMBackend(
        spec["model"], dtype="float32", lora={"rnd": str(lora_dir)}, chunk_size=spec["chunk_size"],
        engine_kwargs={"enforce_eager": True, "block_size": 32, "kv_cache_memory_bytes": 256 << 20},
    )
    result["timings"]["engine_start"] = time.perf_counter() - t
    engine = backend._engine
    engine.submitted = []
    generate_calls = [0]
    real_generate = engine.llm.generate

    def counting_generate(*args, **kwargs):
        generate_calls[0] += 1
        return real_generate(*args, **kwargs)

    engine.llm.generate = counting_generate

    # Streaming: the first answers come before the last chunk is submitted.
    few = prompts_from_table(table.head(3 * spec["chunk_size"]))
    stream = backend.answer(few)
    next(stream)
    calls_at_first = generate_calls[0]
    rest = list(stream)
    result["streaming"] = {"calls_at_first_answer": calls_at_first, "calls": generate_calls[0],
                           "answers": 1 + len(rest), "prompts": len(few)}

    # Logprob mode, base and adapter, through the runner into one store; prompts shuffled so
    # that the backend's prefix ordering has something to do.
    engine.submitted = []
    shuffled = table.sample(frac=1.0, random_state=0)
    t = time.perf_counter()
    stats = {}
    with ResponseStore.open(out / "run") as store:
        for variant in backend.variants():
            s = answer_prompts(shuffled, variant, store, "logprob", batch_size=50, progress=False)
            stats[variant.adapter or "base"] = {
                "key": variant.key, "prompts": s.prompts, "asked": s.asked, "stored": s.stored,
                "letter_mass": variant.letter_mass(), "describe": variant.describe(),
            }
        result["timings"]["logprob"] = time.perf_counter() - t
        # Submission order, per chunk of the base model's call.
        base_asked = stats["base"]["asked"]
        submitted = engine.submitted[:base_asked]
        chunks = [submitted[i:i + spec["chunk_size"]] for i in range(0, len(submitted), spec["chunk_size"])]
        result["order"] = {"chunks_sorted": all(c == sorted(c) for c in chunks), "chunks": len(chunks),
                           "submitted": len(submitted)}
        result["prefix_cache"] = backend.prefix_cache()
        result["prefix_caching"] = backend.prefix_caching
        result["variants"] = stats

        # Generate mode on the same engine: greedy (stored), then seeded sampling.
        sub = table[table["sample"] == 0].head(spec["generate_prompts"])
        greedy = backend.with_mode("generate", decoding=Decoding(max_tokens=6))
        t = time.perf_counter()
        s = answer_prompts(sub, greedy, store, "generate", progress=False)
        result["timings"]["greedy"] = time.perf_counter() - t
        result["greedy"] = {"key": greedy.key, "stored": s.stored, "describe": greedy.describe()}

    few = prompts_from_table(sub.head(6))

    def sample(seed: int, prompts) -> dict:
        b = backend.with_mode("generate", decoding=Decoding(temperature=1.0, top_p=0.9, max_tokens=5, seed=seed))
        return {a.prompt_id: a.text for a in b.answer(prompts)}

    result["sampling"] = {
        "first": sample(1, few), "again": sample(1, few), "reversed_alone": sample(1, few[::-1][:3]),
        "other_seed": sample(2, few),
    }
    result["mode_mismatch"] = _error(lambda: backend.answer(few, "generate"))
    result["unknown_adapter"] = _error(lambda: backend.for_adapter("nope"))
    backend.close()
    result["closed_error"] = _error(lambda: backend.answer(few))
    result["describe_after_close"] = backend.describe()["key"] == backend.key

    # A closed engine frees the process for the next one (a run may measure models one by one).
    t = time.perf_counter()
    with vb.VLLMBackend(spec["model"], dtype="float32", mode="generate", decoding=Decoding(max_tokens=6),
                        engine_kwargs={"enforce_eager": True, "block_size": 32, "kv_cache_memory_bytes": 128 << 20}) as again:
        result["second_engine"] = {"key": again.key, "texts": {a.prompt_id: a.text for a in again.answer(few)}}
    result["timings"]["second_engine"] = time.perf_counter() - t
    result["timings"]["total"] = time.perf_counter() - t0
    (out / "result.json").write_text(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    try:
        main(sys.argv[1])
    except BaseException:
        traceback.print_exc()
        sys.exit(1)
