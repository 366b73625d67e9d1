"""``socialbias.finetune``: LoRA DPO and SFT through trl on the tiny random Llama, a few steps.

Checks what a researcher relies on: the loss falls, the adapter loads in the hf backend and
changes its answers, recipe.json records seed, data hash, versions and the loss per step, a
stopped run resumes from its checkpoint, and bad data or a foreign ``--out`` is one error
(exit 2) before any model is loaded.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from socialbias.finetune import DEFAULT_TARGETS, Recipe, finetune, main  # noqa: E402
from tests.tiny_model import tiny_corpus, tiny_model_dir  # noqa: E402,F401  (fixtures)

PROMPTS = [f"Who was forgetful in story {i}? Answer with A, B or C." for i in range(8)]


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def prefs(tmp_path_factory) -> Path:
    rows = [{"prompt": p, "chosen": "Answer: A", "rejected": "Answer: C"} for p in PROMPTS]
    return _write_jsonl(tmp_path_factory.mktemp("data") / "prefs.jsonl", rows)


@pytest.fixture(scope="module")
def sft_data(tmp_path_factory) -> Path:
    rows = [{"prompt": p, "completion": "Answer: B"} for p in PROMPTS]
    return _write_jsonl(tmp_path_factory.mktemp("data") / "sft.jsonl", rows)


def test_politune_recipe_is_the_default():
    r = Recipe()
    assert (r.method, r.r, r.lora_alpha, r.beta, r.learning_rate, r.num_train_epochs) == ("dpo", 16, 32, 0.1, 5e-4, 4)
    assert r.target_modules == DEFAULT_TARGETS and {"q_proj", "o_proj", "down_proj"} <= set(r.target_modules)
    assert Recipe.with_settings(beta="0.5", target_modules="q_proj,v_proj").target_modules == ("q_proj", "v_proj")


def test_dpo_loss_falls_and_the_adapter_changes_answers(tiny_model_dir, prefs, tmp_path):
    from socialbias.backends import Prompt
    from socialbias.backends.hf import HFBackend

    out = tmp_path / "left"
    record = finetune(tiny_model_dir, prefs, out, method="dpo", max_steps=4, per_device_train_batch_size=4,
                      r=4, lora_alpha=8, quiet=True)
    losses = [x["loss"] for x in record["losses"]]
    assert len(losses) == 4 and losses[0] == pytest.approx(0.6931, abs=1e-3)  # DPO starts at log 2
    assert losses[-1] < losses[0] - 0.02 and losses == sorted(losses, reverse=True), losses
    saved = json.loads((out / "recipe.json").read_text())
    assert saved["status"] == "done" and saved["recipe"]["beta"] == 0.1 and saved["recipe"]["seed"] == 0
    assert len(saved["data"]["sha256"]) == 64 and saved["data"]["rows"] == len(PROMPTS) and saved["chat_template"]
    assert {"torch", "transformers", "peft", "trl"} <= set(saved["versions"])
    assert (out / "adapter_config.json").is_file() and (out / "adapter_model.safetensors").is_file()

    backend = HFBackend(tiny_model_dir, device="cpu", lora={"left": out})
    prompts = [Prompt(f"p{i}", [{"role": "user", "content": p}], ("x", "y", "z")) for i, p in enumerate(PROMPTS)]
    base, left = ({a.prompt_id: (a.p0, a.p1, a.p2) for a in v.answer(prompts)} for v in backend.variants())
    assert max(abs(x - y) for k in base for x, y in zip(base[k], left[k])) > 1e-4
    # The same command again: the finished adapter is kept as it is.
    assert finetune(tiny_model_dir, prefs, out, method="dpo", max_steps=4, per_device_train_batch_size=4,
                    r=4, lora_alpha=8, quiet=True)["finished"] == saved["finished"]


def test_sft_loss_falls_and_a_stopped_run_resumes(tiny_model_dir, sft_data, tmp_path, capsys):
    out = tmp_path / "sft"
    args = ["--model", str(tiny_model_dir), "--data", str(sft_data), "--method", "sft", "--out", str(out),
            "--max-steps", "3", "--batch-size", "4", "--r", "4", "--set", "save_steps=1", "--set", "lora_alpha=8"]
    assert main(args) == 0
    assert "finetune: step 3/3" in capsys.readouterr().err  # progress with the loss
    record = json.loads((out / "recipe.json").read_text())
    losses = [x["loss"] for x in record["losses"]]
    assert record["method"] == "sft" and losses[-1] < losses[0], losses
    # Simulate a crash after step 2: the last checkpoint and the adapter are gone.
    shutil.rmtree(out / "checkpoints" / "checkpoint-3")
    (out / "adapter_model.safetensors").unlink()
    record["status"] = "training"
    (out / "recipe.json").write_text(json.dumps(record))
    assert main(args) == 0
    resumed = json.loads((out / "recipe.json").read_text())
    assert resumed["resumed_from"].endswith("checkpoint-2") and resumed["global_step"] == 3
    assert [x["step"] for x in resumed["losses"]] == [3] and (out / "adapter_model.safetensors").is_file()
    # Another recipe in the same directory is refused (it would mix two trainings).
    assert main([*args[:-4], "--set", "lora_alpha=16"]) == 2
    assert "another recipe" in capsys.readouterr().err


def test_bad_data_and_settings_fail_before_any_model_loads(tiny_model_dir, tmp_path, monkeypatch, capsys):
    import transformers

    def no_load(*a, **k):
        raise AssertionError("a model was loaded before the input was checked")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", no_load)
    good = {"prompt": "Who?", "chosen": "A", "rejected": "B"}
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    cases = {
        "no column(s) rejected": ([{"prompt": "Who?", "chosen": "A"}], []),
        "row 2: column 'chosen' is empty": ([good, {**good, "chosen": "  "}], []),
        "row 1: the prompt has": ([{**good, "prompt": "word " * 200}], ["--max-length", "64"]),
        "chosen and rejected are the same": ([{**good, "rejected": "A"}], []),
        "unknown training setting 'betta'": ([good], ["--set", "betta=1"]),
        "lora_alpha=-1": ([good], ["--lora-alpha", "-1"]),
        "no rows": ([], []),
    }
    for i, (message, (rows, extra)) in enumerate(cases.items()):
        data = _write_jsonl(tmp_path / f"d{i}.jsonl", rows)
        out = tmp_path / f"out{i}"
        code = main(["--model", str(tiny_model_dir), "--data", str(data), "--out", str(out), *extra])
        err = capsys.readouterr().err
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (message, err)
        assert not out.exists(), "a refused run must write nothing"
    data = _write_jsonl(tmp_path / "ok.jsonl", [good])
    assert main(["--model", str(tiny_model_dir), "--data", str(data), "--out", str(foreign)]) == 2
    assert "did not write" in capsys.readouterr().err and sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]
    assert main(["--model", str(tiny_model_dir), "--data", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "x")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_trained_adapter_loads_in_vllm_and_changes_answers(tiny_model_dir, prefs, tmp_path):
    """A DPO adapter written by ``finetune`` runs on vLLM (CPU build, ``.venv-vllm``) beside its
    base in one study: its own model key and answers that differ from the base's."""
    import subprocess

    from socialbias.store import ResponseStore
    from tests.conftest import BBQ_DIR, REPO
    from tests.test_backend_vllm import _tail, vllm_env, vllm_python

    adapter = tmp_path / "dpo"
    finetune(tiny_model_dir, prefs, adapter, method="dpo", max_steps=3, per_device_train_batch_size=4, r=4,
             lora_alpha=8, learning_rate=5e-3, quiet=True)
    out = tmp_path / "study"
    args = ["-m", "socialbias.eval", "run", "--backend", "vllm", "--model", str(tiny_model_dir), "--dtype", "float32",
            "--lora", f"dpo={adapter}", "--bbq-dir", str(BBQ_DIR), "--categories", "Religion", "--personas",
            "Muslim", "--instructions", "0", "--limit", "4", "--n-boot", "20", "--quiet", "--out", str(out)]
    # vLLM's CPU start-up is about 2 min on an idle 2-core machine and took over 8 min under load.
    proc = subprocess.run([str(vllm_python()), *args], cwd=REPO, env=vllm_env(), capture_output=True, text=True,
                          timeout=1200)
    assert proc.returncode == 0, _tail(proc.stderr)
    record = json.loads((out / "run.json").read_text())
    keys = {v["model"]: v["model_key"] for v in record["variants"]}
    base_key, dpo_key = keys[Path(tiny_model_dir).name], keys[f"{Path(tiny_model_dir).name}+dpo"]
    with ResponseStore.open(out) as store:
        rows = store.responses()
    by_key = {k: g.set_index("prompt_id").sort_index() for k, g in rows.groupby("model_key")}
    base, dpo = by_key[base_key][["p0", "p1", "p2"]], by_key[dpo_key][["p0", "p1", "p2"]]
    assert len(dpo) == len(base) > 0 and (dpo - base.loc[dpo.index]).abs().to_numpy().max() > 1e-4
    diff = (dpo - base.loc[dpo.index]).abs().to_numpy().max()
    print(f"\ntrained DPO adapter on vLLM: max |p adapter - p base| = {diff:.2e} over {len(dpo)} prompts")
