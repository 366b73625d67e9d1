"""``run --instrument NAME --lora NAME=DIR`` and ``--edit DIR`` on the hf backend (issue 17).

The base model and each LoRA adapter are models of one run (one store, one summary), ready for
``compare --paired`` on that directory. Checked on the tiny random Llama with random nonzero
adapters: the base model's option probabilities are the bare model's, each adapter's are those
of the same weights merged into the model (an independent path: no peft at inference), the
adapters move the answers, the run resumes, and the paired comparison reads the one directory.
An edit along the difference of the labels' output embeddings raises log P("1")/P("5") on every
prompt (docs/model_edits.md). The vLLM half (same adapter, same probabilities) is in
tests/test_politics_engines.py.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from socialbias.eval import main  # noqa: E402
from socialbias.instruments.politics.run import run_instrument  # noqa: E402
from tests.test_backend_lora import make_random_lora  # noqa: E402
from tests.tiny_model import tiny_corpus, tiny_model_dir  # noqa: E402,F401  (fixtures)

GRID = ["--limit", "6", "--scale-orders", "both", "--n-boot", "50", "--quiet"]
#: float32 on the CPU. The base view and the bare model run the same weights (1e-5); peft's
#: unmerged adapter and the merged weights round differently, more so for these deliberately
#: large random adapters (measured up to 1e-4), far below the adapters' own effect (> 0.05).
TOL, MERGED_TOL, MOVES = 1e-5, 5e-4, 0.05


@pytest.fixture(scope="module")
def adapters(tiny_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("lora-politics")
    return {"left": make_random_lora(tiny_model_dir, root / "left", seed=1, scale=20.0),
            "right": make_random_lora(tiny_model_dir, root / "right", seed=2, scale=20.0)}


def _merged(model_dir, adapter, out):
    """The tiny model with ``adapter``'s weights merged in, saved as a plain model directory."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    PeftModel.from_pretrained(base, adapter).merge_and_unload().save_pretrained(out)
    AutoTokenizer.from_pretrained(model_dir).save_pretrained(out)
    return out


def _probs(frame: pd.DataFrame) -> dict[str, list[float]]:
    return {p: json.loads(v) for p, v in zip(frame["prompt_id"], frame["probs"])}


def _max_diff(a: dict, b: dict) -> float:
    assert sorted(a) == sorted(b)
    return max(abs(x - y) for k in a for x, y in zip(a[k], b[k], strict=True))


@pytest.fixture(scope="module")
def lora_run(tiny_model_dir, adapters, tmp_path_factory):
    out = tmp_path_factory.mktemp("instrument-lora") / "run"
    argv = ["run", "--instrument", "8values", "--model", str(tiny_model_dir), "--device", "cpu",
            "--lora", f"left={adapters['left']}", "--lora", f"right={adapters['right']}", *GRID, "--out", str(out)]
    assert main(argv) == 0
    return out, argv


def test_base_and_adapters_are_models_of_one_run(tiny_model_dir, adapters, lora_run, tmp_path):
    out, argv = lora_run
    name = str(tiny_model_dir)
    record = json.loads((out / "run.json").read_text())
    names = [m["model"] for m in record["models"]]
    assert names == [name, f"{name}+left", f"{name}+right"]
    assert [m["adapter"] for m in record["models"]] == [None, "left", "right"]
    assert len({m["model_key"] for m in record["models"]}) == 3 and record["model"] == name
    answers = pd.read_csv(out / "answers.csv", keep_default_na=False)
    assert answers.groupby("model").size().to_dict() == {n: 12 for n in names}  # 6 items x 2 scale orders
    summary = pd.read_csv(out / "summary.csv", keep_default_na=False)
    assert sorted(set(summary["model"])) == sorted(names)

    # The base model answers as the bare model (every adapter disabled) ...
    run_instrument("8values", name, tmp_path / "bare", limit=6, option_orders="both", n_boot=50,
                   model_settings={"device": "cpu"})
    bare = pd.read_csv(tmp_path / "bare" / "answers.csv", keep_default_na=False)
    by_model = {m: g for m, g in answers.groupby("model")}
    assert _max_diff(_probs(by_model[name]), _probs(bare)) < TOL
    bare_key = json.loads((tmp_path / "bare" / "run.json").read_text())["model_key"]
    assert record["models"][0]["model_key"] == bare_key  # the same model in the store
    # ... and each adapter as its weights merged into the model, which differs from the base.
    for side in ("left", "right"):
        merged = _merged(tiny_model_dir, adapters[side], tmp_path / f"merged-{side}")
        run_instrument("8values", str(merged), tmp_path / f"m-{side}", limit=6, option_orders="both", n_boot=50,
                       model_settings={"device": "cpu"})
        ref = pd.read_csv(tmp_path / f"m-{side}" / "answers.csv", keep_default_na=False)
        got = _probs(by_model[f"{name}+{side}"])
        assert _max_diff(got, _probs(ref)) < MERGED_TOL, side
        assert _max_diff(got, _probs(bare)) > MOVES, side  # the adapter moves the answers

    # The same command resumes: nothing is asked again.
    assert main(argv) == 0
    assert json.loads((out / "run.json").read_text())["newly_answered"] == 0


def test_compare_paired_reads_the_one_directory(tiny_model_dir, lora_run, tmp_path):
    out, _ = lora_run
    assert main(["compare", "--paired", str(out), "--n-boot", "50", "--out", str(tmp_path / "shifts")]) == 0
    shifts = pd.read_csv(tmp_path / "shifts" / "paired_shifts.csv", dtype={"persona": str}).fillna({"persona": ""})
    name = str(tiny_model_dir)
    assert set(shifts["base"]) == {name} and set(shifts["model"]) == {f"{name}+left", f"{name}+right"}
    assert set(shifts["measure"]) == {"score", "score_expected"}
    expected = shifts[shifts["measure"] == "score_expected"]
    finite = expected[np.isfinite(expected["shift"])]  # an axis none of the 6 items weighs on has no score
    assert len(finite) == 6 and (finite["shift"].abs() > 1e-3).all()
    assert np.isfinite(finite.loc[finite["n_items"] >= 2, "shift_lo"]).all()  # one item: no interval


def test_edit_moves_the_option_probabilities_as_predicted(tiny_model_dir, tmp_path):
    from socialbias.backends.hf import HFBackend
    from socialbias.edit import Edit

    labels = [str(k) for k in range(1, 6)]
    probe = HFBackend(tiny_model_dir, device="cpu", labels=labels)
    W = probe.model.lm_head.weight.detach().numpy().astype(np.float64)
    u = W[list(probe.letters.ids[0])].mean(axis=0) - W[list(probe.letters.ids[4])].mean(axis=0)
    edit = tmp_path / "toward-1"
    Edit({"model.norm": u[None]}, {"model.norm": np.zeros(1)}, {"model.norm": np.array([3.0])}).save(edit)
    common = ["run", "--instrument", "8values", "--model", str(tiny_model_dir), "--device", "cpu", *GRID]
    assert main([*common, "--out", str(tmp_path / "plain")]) == 0
    assert main([*common, "--edit", str(edit), "--out", str(tmp_path / "edited")]) == 0
    plain = pd.read_csv(tmp_path / "plain" / "answers.csv", keep_default_na=False)
    edited = pd.read_csv(tmp_path / "edited" / "answers.csv", keep_default_na=False)
    assert set(edited["model"]) == {f"{tiny_model_dir}@toward-1"}
    before, after = _probs(plain), _probs(edited)
    # probs are in the instrument's option order; label "1" is option order[0] as shown, so compare
    # the labels through the presented order.
    order = {p: json.loads(o) for p, o in zip(plain["prompt_id"], plain["order"])}
    for pid, o in order.items():
        first, last = o[0], o[-1]  # the options shown as "1" and as "5"
        moved = math.log(after[pid][first] / after[pid][last]) - math.log(before[pid][first] / before[pid][last])
        assert moved > 0.1, pid
    record = json.loads((tmp_path / "edited" / "run.json").read_text())
    assert record["model"] == f"{tiny_model_dir}@toward-1" and record["models"][0]["adapter"] is None
    assert record["model_key"] != json.loads((tmp_path / "plain" / "run.json").read_text())["model_key"]
    # Both directories pair: the edited model against the plain one.
    assert main(["compare", "--paired", str(tmp_path / "plain"), str(tmp_path / "edited"), "--n-boot", "50",
                 "--out", str(tmp_path / "shifts")]) == 0


def test_lora_and_edit_on_other_backends_are_refused(tmp_path, capsys):
    for extra in (["--edit", str(tmp_path)], ["--lora", f"a={tmp_path}"]):
        assert main(["run", "--instrument", "8values", "--backend", "openai", "--base-url", "http://127.0.0.1:9",
                     "--model", "m", *extra, "--out", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert "not a setting of the openai backend" in err and extra[0] in err, err
        assert not (tmp_path / "out").exists()
    assert main(["run", "--instrument", "8values", "--backend", "vllm", "--model", "m", "--edit", str(tmp_path),
                 "--out", str(tmp_path / "out")]) == 2
    assert "--edit: not a setting of the vllm backend" in capsys.readouterr().err


def test_agreement_sample_is_asked_of_every_model(tiny_model_dir, adapters, tmp_path):
    """``--agreement N`` with adapters: the sample is asked in the other mode of the base model and
    of each adapter (one other-mode backend with the same adapters), one agreement row per model."""
    name = str(tiny_model_dir)
    run_instrument("8values", name, tmp_path / "agree", limit=4, n_boot=20, agreement=3,
                   model_settings={"device": "cpu", "lora": {"left": adapters["left"]}})
    answers = pd.read_csv(tmp_path / "agree" / "answers.csv", keep_default_na=False)
    sampled = answers[answers["text_choice"].astype(str) != ""]
    assert sampled.groupby("model").size().to_dict() == {name: 3, f"{name}+left": 3}
    assert sorted(pd.read_csv(tmp_path / "agree" / "agreement.csv")["model"]) == [name, f"{name}+left"]
