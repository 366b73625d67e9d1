"""bench/gpu_bench.py: the CPU smoke run (tiny shape), the real shapes' sizes, and the lm-eval
style scorer against a plain one-sequence computation."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench" / "gpu_bench.py"


def _bench_module():
    if "gpu_bench" not in sys.modules:
        spec = importlib.util.spec_from_file_location("gpu_bench", BENCH)
        module = importlib.util.module_from_spec(spec)
        sys.modules["gpu_bench"] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules["gpu_bench"]


def test_tiny_cpu_smoke(tmp_path: Path, bbq_dir: Path) -> None:
    out = tmp_path / "tmp.json"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--shape", "tiny", "--prompts", "40", "--generate-prompts", "4",
         "--device", "cpu", "--bbq-dir", str(bbq_dir), "--out", str(out)],
        capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path, env=env,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "| method | shape | prompts | prompts/s | tokens/s | MFU |" in proc.stdout
    data = json.loads(out.read_text())
    assert data["env"]["device_type"] == "cpu" and data["env"]["peak"]["dtype"] == "float32"
    assert data["env"]["peak_tflops"] > 0
    results = {r["method"]: r for r in data["results"]}
    assert set(results) == {"hf", "lmeval", "generate"}
    for method, r in results.items():
        assert r["error"] is None, (method, r["error"])
        assert r["shape"] == "tiny"
        assert r["prompts_per_s"] > 0 and r["tokens_per_s"] > 0, method
        assert 0 < r["mfu"] <= 1 and 0 < r["floor_mfu"] <= r["mfu"] + 1e-12, (method, r["mfu"], r["floor_mfu"])
    assert results["hf"]["prompts"] == results["lmeval"]["prompts"] == 40
    assert results["generate"]["prompts"] == 4
    # One forward pass per prompt for hf; lm-eval style runs every option's tokens too.
    assert results["hf"]["tokens"] == results["hf"]["prompt_tokens"]
    assert results["lmeval"]["tokens"] > 2 * results["lmeval"]["prompt_tokens"]
    assert results["hf"]["details"]["stored"] == 40
    # All methods read the same rendered prompts and token ids.
    checks = data["same_prompts"]["tiny"]
    assert checks and all(v is True for v in checks.values()), checks


@pytest.mark.parametrize("shape, total, non_embedding", [
    ("1b", 1_235_814_400, 973_146_112),  # Llama-3.2-1B (tied embeddings)
    ("8b", 8_030_261_248, 6_979_588_096),  # Llama-3-8B
])
def test_real_shapes_parameter_counts(shape: str, total: int, non_embedding: int) -> None:
    import torch

    gb = _bench_module()

    class Tok:  # what build_config reads of a tokenizer
        bos_token_id, eos_token_id = 0, 1

        def __len__(self) -> int:
            return 2000

    model = gb.build_model(gb.build_config(shape, Tok()), torch.device("meta"), torch.bfloat16, seed=0)
    counts = gb.parameter_counts(model)
    assert counts["total"] == total and counts["non_embedding"] == non_embedding


def test_lmeval_scorer_matches_unbatched(bbq_dir: Path) -> None:
    """Batched, right-padded, maskless, grouped scoring = one sequence at a time."""
    import torch

    gb = _bench_module()
    tokenizer = gb.build_tokenizer(bbq_dir, 4000)
    config = gb.build_config("tiny", tokenizer)
    model = gb.build_model(config, torch.device("cpu"), torch.float32, seed=0)
    grid = gb.build_prompts(bbq_dir, seed=1)
    w = gb.make_workload(grid, 5, 0, tokenizer, "auto")
    from socialbias.backends.base import prompt_options, prompts_from_table

    requests = [(text, o) for text, p in zip(w.texts, prompts_from_table(w.prompts)) for o in prompt_options(p)]
    requests.append(requests[0])  # an identical request is answered from the same forward pass
    scorer = gb.LmEvalScorer(model, tokenizer, torch.device("cpu"), batch_size=4, max_length=8192)
    got = scorer.loglikelihood(requests)
    assert scorer.batches <= 4 and got[-1] == got[0]
    for (ctx, cont), (ll, _) in zip(requests, got):
        c, k = scorer._encode_pair(ctx, cont)
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([c + k])).logits[0].float(), -1)
        want = sum(logp[len(c) - 1 + j, t].item() for j, t in enumerate(k))
        assert ll == pytest.approx(want, abs=1e-3)
    assert all(w.ids[t][:3] == scorer.tok_encode(t)[:3] for t in w.texts)
