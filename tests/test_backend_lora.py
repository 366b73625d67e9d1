"""LoRA adapters in the hf backend (peft): base and adapters side by side on the same prompts.

The adapter is built in code on the tiny random Llama with nonzero LoRA weights
(``init_lora_weights=False``), so it must change the answers; the base view (every adapter
disabled) must answer exactly as the bare model.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from socialbias.backends import prompts_from_table  # noqa: E402
from socialbias.backends.hf import HFBackend  # noqa: E402
from socialbias.errors import InputError  # noqa: E402
from socialbias.eval import main  # noqa: E402
from socialbias.expand import expand  # noqa: E402
from socialbias.personas import load_instructions, load_personas  # noqa: E402
from socialbias.store import ResponseStore  # noqa: E402
from tests.conftest import BBQ_DIR  # noqa: E402
from tests.tiny_model import tiny_corpus, tiny_model_dir  # noqa: E402,F401  (fixtures)

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def make_random_lora(model_dir: Path, out: Path, seed: int = 1, scale: float = 1.0) -> Path:
    """A PEFT LoRA adapter of the tiny model with random nonzero A and B (so it changes answers)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=LORA_TARGETS, init_lora_weights=False))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.mul_(scale)
    model.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def adapters(tiny_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("lora")
    return {"left": make_random_lora(tiny_model_dir, root / "left", seed=1, scale=20.0),
            "right": make_random_lora(tiny_model_dir, root / "right", seed=2, scale=20.0)}


@pytest.fixture(scope="module")
def prompts():
    from socialbias.bbq_adapters import load_bbq

    items = load_bbq(BBQ_DIR, ["Age"]).iloc[::400].head(6)
    return prompts_from_table(expand(items, load_personas(names=["elder", "kid"]), load_instructions(), runs=[0]))


def _probs(backend, prompts):
    return {a.prompt_id: (a.p0, a.p1, a.p2) for a in backend.answer(prompts)}


def test_base_and_adapters_answer_side_by_side(tiny_model_dir, adapters, prompts):
    bare = HFBackend(tiny_model_dir, device="cpu")
    backend = HFBackend(tiny_model_dir, device="cpu", lora=adapters)
    variants = backend.variants()
    assert [v.adapter for v in variants] == [None, "left", "right"] and backend.adapters == ("left", "right")
    keys = [v.key for v in variants]
    assert len(set(keys)) == 3 and keys[0] == bare.key  # the base model's key is the bare model's
    assert all(v.model is backend.model for v in variants)  # one copy of the weights
    for v, name in zip(variants[1:], ("left", "right")):  # the key is a hash of these settings
        assert v._key_settings()["adapter"]["name"] == name and len(v._key_settings()["adapter"]["sha256"]) == 64

    expected = _probs(bare, prompts)
    answers = {v.adapter: _probs(v, prompts) for v in variants}
    # Interleave again: switching adapters per batch leaves no state behind.
    answers_again = {v.adapter: _probs(v, prompts) for v in reversed(variants)}
    for pid, p in expected.items():
        assert answers[None][pid] == pytest.approx(p, abs=1e-6)
    for name in ("left", "right"):
        diff = max(abs(a - b) for pid in expected for a, b in zip(answers[name][pid], expected[pid]))
        assert diff > 1e-3, f"adapter {name} did not change the answers"
        for pid in expected:
            assert answers_again[name][pid] == pytest.approx(answers[name][pid], abs=1e-6)
    assert answers["left"] != answers["right"]
    info = variants[1].describe()
    assert info["adapter"] == "left" and [a["name"] for a in info["adapters"]] == ["left", "right"]
    assert "peft" in info["versions"]


def test_bad_adapters_are_input_errors_before_loading(tiny_model_dir, tmp_path, monkeypatch):
    import transformers

    def no_load(*a, **k):  # validation must come before the model is loaded
        raise AssertionError("model loaded before the adapters were checked")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", no_load)
    (tmp_path / "empty").mkdir()
    cases = [({"a": tmp_path / "missing"}, "does not exist"), ({"a": tmp_path / "empty"}, "adapter_config.json"),
             ({"base": tmp_path / "empty"}, "reserved")]
    for lora, message in cases:
        with pytest.raises(InputError, match=message):
            HFBackend(tiny_model_dir, device="cpu", lora=lora)


def test_adapter_of_another_model_is_one_line_error(tiny_model_dir, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 4, "lora_alpha": 8,
                                                         "target_modules": ["no_such_module"]}))
    with pytest.raises(InputError, match="cannot load lora adapter 'bad'"):
        HFBackend(tiny_model_dir, device="cpu", lora={"bad": bad})


def test_cli_run_measures_base_and_adapter_in_one_study(tiny_model_dir, adapters, tmp_path, capsys):
    out = tmp_path / "study"
    args = ["run", "--backend", "hf", "--model", str(tiny_model_dir), "--lora", f"left={adapters['left']}",
            "--bbq-dir", str(BBQ_DIR), "--categories", "Religion", "--personas", "Muslim,Jewish",
            "--instructions", "0-1", "--limit", "6", "--n-boot", "20", "--quiet", "--out", str(out)]
    assert main(args) == 0
    record = json.loads((out / "run.json").read_text())
    names = [v["model"] for v in record["variants"]]
    keys = [v["model_key"] for v in record["variants"]]
    assert names == [tiny_model_dir.name, f"{tiny_model_dir.name}+left"] and len(set(keys)) == 2
    import pandas as pd

    summary = pd.read_csv(out / "results" / "summary.csv")
    assert sorted(set(summary.model)) == sorted(names)
    with ResponseStore.open(out) as store:
        assert store.count(keys[0]) == store.count(keys[1]) == 6 * 3 * 2

    # compare --paired: the adapter's shift from the base on the same items, with intervals.
    cmp = tmp_path / "paired"
    assert main(["compare", "--paired", str(out), "--n-boot", "50", "--out", str(cmp)]) == 0
    shifts = pd.read_csv(cmp / "paired_shifts.csv")
    assert set(shifts["model"]) == {names[1]} and set(shifts["base"]) == {names[0]}
    assert set(shifts["metric"]) == {"TB", "BAmt", "PB", "acc", "invalid_rate"}
    acc = shifts[shifts.metric == "acc"]
    assert np.allclose(acc["shift"], acc["value"] - acc["base_value"])
    assert (cmp / "paired.html").is_file() and (cmp / "figures" / "shift_arrows.png").is_file()
    # Runs asked with other settings are refused, as is the same model twice.
    other = tmp_path / "other"
    shutil.copytree(out, other)
    record["config"]["parser"] = "paper"
    (other / "run.json").write_text(json.dumps(record))
    capsys.readouterr()
    assert main(["compare", "--paired", str(out), str(other), "--out", str(tmp_path / "no1")]) == 2
    assert "differ in parser" in capsys.readouterr().err
    assert main(["compare", "--paired", str(out), str(out), "--out", str(tmp_path / "no2")]) == 2
    assert "same model name" in capsys.readouterr().err
    assert not (tmp_path / "no1").exists() and not (tmp_path / "no2").exists()
