"""Representation edits (socialbias.edit) on the tiny random Llama.

An edit with a known direction must move the letter probabilities as predicted; a derived edit
with scale -1 must remove its directions from the module's output; edits are saved without
pickle and recorded in the model key; ``run --edit`` names the edited model apart.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from socialbias.backends import Prompt  # noqa: E402
from socialbias.backends.hf import HFBackend  # noqa: E402
from socialbias.edit import Edit, apply_edit, derive_edit, last_token_states, main  # noqa: E402
from socialbias.errors import InputError  # noqa: E402
from socialbias.eval import main as eval_main  # noqa: E402
from tests.conftest import BBQ_DIR  # noqa: E402
from tests.tiny_model import tiny_corpus, tiny_model_dir  # noqa: E402,F401  (fixtures)

PROMPTS = [Prompt(f"p{i}", [{"role": "user", "content": f"Who was forgetful in story {i}?"}], ("x", "y", "z"))
           for i in range(6)]


@pytest.fixture(scope="module")
def base(tiny_model_dir):
    return HFBackend(tiny_model_dir, device="cpu")


def _log_ratio(backend):
    return {a.prompt_id: math.log(a.p0 / a.p1) for a in backend.answer(PROMPTS)}


def test_known_direction_moves_the_letter_probabilities_as_predicted(tiny_model_dir, base, tmp_path):
    W = base.model.lm_head.weight.detach().numpy().astype(np.float64)
    a_ids, b_ids = base.letters.ids[0], base.letters.ids[1]
    u = W[list(a_ids)].mean(axis=0) - W[list(b_ids)].mean(axis=0)  # raises A's logits against B's
    before = _log_ratio(base)
    for sign in (+1, -1):
        out = tmp_path / f"edit{sign}"
        Edit({"model.norm": u[None]}, {"model.norm": np.zeros(1)}, {"model.norm": np.array([3.0 * sign])}).save(out)
        edited = HFBackend(tiny_model_dir, device="cpu", edit=out)
        after = _log_ratio(edited)
        assert all((after[k] - before[k]) * sign > 0.1 for k in before), (sign, before, after)
        assert edited.key != base.key and edited.describe()["edit"]["sha256"] in str(edited._key_settings())
    # The files are safetensors + JSON, no pickle.
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["edit.json", "edit.safetensors"]


def test_derived_edit_removes_its_directions(base):
    pos = [f"I am an old man. Who forgot? Story {i}" for i in range(6)]
    neg = [f"Who forgot? Story {i}" for i in range(6)]
    module = "model.layers.0"
    edit = derive_edit(base.model, base.tokenizer, pos, neg, [module], k=2, scale=-1.0)
    u = edit.directions[module]
    assert u.shape[0] == 2 and np.allclose(np.linalg.norm(u, axis=1), 1)
    diff = last_token_states(base.model, base.tokenizer, pos, [module])[module] - \
        last_token_states(base.model, base.tokenizer, neg, [module])[module]
    assert np.all(diff.mean(axis=0) @ u[:1].T > 0)  # oriented along the mean difference
    before = last_token_states(base.model, base.tokenizer, pos, [module])[module] @ u.T
    handles = apply_edit(base.model, edit)
    try:
        after = last_token_states(base.model, base.tokenizer, pos, [module])[module] @ u.T
    finally:
        for h in handles:
            h.remove()
    assert np.abs(before).max() > 0.1 and np.abs(after).max() < 1e-4 * max(1.0, np.abs(before).max())


def test_bad_edits_are_input_errors(tiny_model_dir, tmp_path):
    with pytest.raises(InputError, match="cannot be read"):
        HFBackend(tiny_model_dir, device="cpu", edit=tmp_path / "nothing")
    out = tmp_path / "wrong"
    Edit({"model.no_such": np.ones((1, 4))}, {}, {}).save(out)
    with pytest.raises(InputError, match="not a module"):
        HFBackend(tiny_model_dir, device="cpu", edit=out)
    with pytest.raises(InputError, match="zero"):
        Edit({"m": np.zeros((1, 4))}, {}, {}).check()


def test_cli_derive_then_run_with_the_edit(tiny_model_dir, tmp_path):
    edit_dir = tmp_path / "persona-edit"
    assert main(["derive", "--model", str(tiny_model_dir), "--out", str(edit_dir), "--modules", "model.layers.1",
                 "--data-dir", str(BBQ_DIR), "--category", "Age", "--personas", "elder,kid", "--limit", "3"]) == 0
    meta = json.loads((edit_dir / "edit.json").read_text())
    assert meta["n_pairs"] == 6 and meta["modules"] == ["model.layers.1"]
    out = tmp_path / "run"
    assert eval_main(["run", "--backend", "hf", "--model", str(tiny_model_dir), "--edit", str(edit_dir),
                      "--bbq-dir", str(BBQ_DIR), "--categories", "Religion", "--personas", "Muslim",
                      "--instructions", "0", "--limit", "4", "--n-boot", "10", "--quiet", "--out", str(out)]) == 0
    record = json.loads((out / "run.json").read_text())
    assert record["variants"][0]["model"] == f"{tiny_model_dir.name}@persona-edit"


def test_edit_and_lora_on_other_backends_are_refused(tmp_path, capsys):
    for extra in (["--edit", str(tmp_path)], ["--lora", f"a={tmp_path}"]):
        assert eval_main(["run", "--backend", "openai", "--model", "m", *extra, "--bbq-dir", str(BBQ_DIR),
                          "--out", str(tmp_path / "out")]) == 2
        assert "backend" in capsys.readouterr().err and not (tmp_path / "out").exists()
