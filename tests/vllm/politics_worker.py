"""The vLLM half of tests/test_politics_engines.py: a political study through ``run_instrument`` on
the vLLM engine (CPU build), one engine start.

Usage: ``python -m tests.vllm.politics_worker SPEC.json`` from the repository root under the vLLM
interpreter (``PYTHONPATH`` = the repository root, ``VLLM_ENABLE_V1_MULTIPROCESSING=0``). SPEC
names the tiny model directory, the grid and an output directory. Runs 8values (a few items,
both scale orders) in logprob mode with an agreement sample answered in generate mode on the
same engine (:meth:`VLLMBackend.with_mode`), then the same study again (resuming: nothing is
asked). With ``lora`` in SPEC the engine also holds those LoRA adapters, and a third run measures
the base model and every adapter in one directory (``OUT/lora``, as ``run --instrument --lora``
does). Writes ``result.json``. The assertions live in the main test.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ENGINE = {"dtype": "float32",
          "engine_kwargs": {"enforce_eager": True, "block_size": 32, "kv_cache_memory_bytes": 256 << 20}}


def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    from socialbias.instruments.politics.engines import make_backend
    from socialbias.instruments.politics.run import run_instrument

    out = Path(spec["out"])
    result: dict = {}
    t = time.perf_counter()
    backend = make_backend("vllm", spec["model"], "logprob", 5, {**ENGINE, "lora": spec.get("lora")})
    result["engine_start_s"] = time.perf_counter() - t
    result["key"] = backend.key
    result["letter_tokens"] = backend.describe()["letter_tokens"]
    grid = dict(spec["grid"])
    t = time.perf_counter()
    run_instrument("8values", spec["model"], out / "run", backend=backend, engine="vllm", agreement=spec["agreement"],
                   **grid)
    result["run_s"] = time.perf_counter() - t
    result["first"] = json.loads((out / "run" / "run.json").read_text())
    run_instrument("8values", spec["model"], out / "run", backend=backend, engine="vllm", agreement=spec["agreement"],
                   **grid)
    result["again"] = json.loads((out / "run" / "run.json").read_text())
    if spec.get("lora"):
        run_instrument("8values", spec["model"], out / "lora", backend=backend.variants(), engine="vllm", **grid)
        result["lora"] = json.loads((out / "lora" / "run.json").read_text())
    backend.close()
    (out / "result.json").write_text(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main(sys.argv[1])
