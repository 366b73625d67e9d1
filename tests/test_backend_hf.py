"""The transformers backend and the template renderer, on a tiny random Llama (no downloads).

End to end on real BBQ Age items: expand -> HFBackend -> ResponseStore. The model answers
nonsense deterministically; the tests check the plumbing: every prompt answered once, the
probabilities, batch-composition invariance, letter-token variants, generate mode and its
seeds, template rendering, loading errors and lazy imports.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Before transformers/huggingface_hub are imported: they read these once.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# The hf backend's dependencies are part of the test extra: a missing one is a failure, not a skip.
import torch  # noqa: E402,F401
import transformers  # noqa: E402,F401

from socialbias.answers import parse_paper, parse_strict  # noqa: E402
from socialbias.backends import Decoding, Prompt, prompts_from_table  # noqa: E402
from socialbias.backends.base import Backend, prompt_options  # noqa: E402
from socialbias.backends.hf import HFBackend, letter_tokens, plan_batches  # noqa: E402
from socialbias.backends.render import (  # noqa: E402
    PLAIN_TEMPLATE_SPEC,
    render_plain,
    render_prompt,
    resolve_template,
)
from socialbias.errors import InputError  # noqa: E402
from socialbias.expand import expand  # noqa: E402
from socialbias.personas import load_instructions, load_personas  # noqa: E402
from socialbias.store import ResponseStore  # noqa: E402
from tests.conftest import BBQ_DIR  # noqa: E402
from tests.tiny_model import (  # noqa: E402,F401  (fixtures)
    CHAT_TEMPLATE,
    STRICT_TEMPLATE,
    save_tiny_model,
    tiny_corpus,
    tiny_model_dir,
    train_tokenizer,
    word_tokenizer,
)

PERSONAS = ["elder", "kid", "girl"]


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture(scope="module")
def items():
    from socialbias.bbq_adapters import load_bbq

    age = load_bbq(BBQ_DIR, ["Age"])
    return age.iloc[::400].head(10)  # ambiguous and disambiguated items of several templates


@pytest.fixture(scope="module")
def prompt_table(items):
    return expand(items, load_personas(names=PERSONAS), load_instructions(), runs=[0, 1])


@pytest.fixture(scope="module")
def prompts(prompt_table) -> list[Prompt]:
    return prompts_from_table(prompt_table)


@pytest.fixture(scope="module")
def backend(tiny_model_dir) -> HFBackend:
    return HFBackend(tiny_model_dir, device="cpu")


def _by_id(answers):
    out = {a.prompt_id: a for a in answers}
    assert len(out) == len(answers), "a prompt was answered twice"
    return out


# --------------------------------------------------------------------------------------------
# logprob mode, end to end
# --------------------------------------------------------------------------------------------


def test_logprob_end_to_end(backend, prompts, prompt_table, tmp_path):
    assert isinstance(backend, Backend)
    answers = list(backend.answer(prompts, "logprob"))
    assert len(prompts) == (1 + len(PERSONAS)) * 2 * 10
    assert sorted(a.prompt_id for a in answers) == sorted(prompt_table["prompt_id"])
    for a in answers:
        p = (a.p0, a.p1, a.p2)
        assert a.model_key == backend.key and a.parse == "logprob" and a.text == ""
        assert all(0.0 <= x <= 1.0 for x in p) and math.isclose(sum(p), 1.0, abs_tol=1e-5)
        assert a.choice == max(range(3), key=p.__getitem__)
        assert a.latency >= 0
    # The default persona's two runs are one prompt (same messages): same probabilities.
    default = prompt_table[prompt_table.persona == ""]
    by_id = _by_id(answers)
    for _, pair in default.groupby("item_id"):
        a, b = (by_id[i] for i in pair["prompt_id"])
        assert (a.p0, a.p1, a.p2) == (b.p0, b.p1, b.p2)
    mass = backend.letter_mass()
    assert mass["n"] > 0 and 0 < mass["min"] <= mass["mean"] <= 1

    with ResponseStore.open(tmp_path / "run") as store:
        with store.writer(batch_size=7) as w:
            w.add_many(answers)
        table = store.responses(backend.key)
        assert store.missing(prompt_table, backend.key).empty
    assert len(table) == len(prompts)
    row = table.set_index("prompt_id").loc[answers[0].prompt_id]
    assert row.choice == answers[0].choice and row.p1 == pytest.approx(answers[0].p1, abs=1e-12)


def test_letter_mass_tally_shared_by_hf_and_vllm():
    """backends.letters.LetterMass (both engines' tally): counts, mean, min and the share below
    LOW_LETTER_MASS over every answer so far; a NaN mass (no logprobs) is not counted."""
    from socialbias.backends.letters import LOW_LETTER_MASS, LetterMass

    tally = LetterMass()
    assert tally.summary()["n"] == 0 and all(math.isnan(tally.summary()[k]) for k in ("mean", "min", "low"))
    tally.add([0.9, 0.2])
    tally.add([math.nan, 0.7])
    assert LOW_LETTER_MASS == 0.5
    assert tally.summary() == pytest.approx({"n": 3, "mean": 0.6, "min": 0.2, "low": 1 / 3})


def test_batch_composition_invariance(tiny_model_dir, backend, prompts):
    reference = _by_id(list(backend.answer(prompts)))
    one_by_one = HFBackend(tiny_model_dir, device="cpu", max_batch_tokens=1, window=7)
    shuffled = prompts[::-1][::2] + prompts[::-1][1::2]
    for a in one_by_one.answer(shuffled):
        r = reference[a.prompt_id]
        assert a.model_key == backend.key  # batching is not part of the key
        assert a.choice == r.choice
        for x, y in zip((a.p0, a.p1, a.p2), (r.p0, r.p1, r.p2)):
            assert abs(x - y) < 1e-4


def test_plan_batches_respects_the_budget():
    lengths = [5, 50, 7, 20, 20, 3, 90]
    batches = plan_batches(lengths, max_batch_tokens=100)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        assert len(b) == 1 or len(b) * max(lengths[i] for i in b) <= 100
    assert batches[0] == [6]  # longest first
    assert plan_batches(lengths, 10**6) == [[6, 1, 3, 4, 2, 0, 5]]
    assert all(len(b) * (max(lengths[i] for i in b) + 10) <= 100 or len(b) == 1
               for b in plan_batches(lengths, 100, extra_tokens=10))


@pytest.mark.parametrize("drop, kept", [(["A", "B", "C"], " "), (["ĠA", "ĠB", "ĠC"], "")])
def test_letter_variants(tmp_path, tiny_corpus, prompts, drop, kept):
    """A tokenizer with only " A" (or only "A") still scores the letters."""
    tok = word_tokenizer(tiny_corpus, drop=drop)
    letters = letter_tokens(tok)
    for i, x in enumerate("ABC"):
        assert [tok.decode([t]) for t in letters.ids[i]] == [kept + x]
    backend = HFBackend(save_tiny_model(tmp_path / "m", tok), device="cpu", template="plain")
    answers = list(backend.answer(prompts[:12]))
    assert len(answers) == 12
    for a in answers:
        assert math.isclose(a.p0 + a.p1 + a.p2, 1.0, abs_tol=1e-5)
        assert a.choice == max(range(3), key=(a.p0, a.p1, a.p2).__getitem__)


def test_letter_variants_are_summed(backend):
    assert backend.letters.as_dict() == {"A": ["A", "ĠA"], "B": ["B", "ĠB"], "C": ["C", "ĠC"]}


def test_no_letter_token_is_an_input_error(tiny_corpus):
    tok = word_tokenizer(tiny_corpus, drop=["B", "ĠB"])
    with pytest.raises(InputError, match="no single token for option letter.*B.*generate"):
        letter_tokens(tok)


# --------------------------------------------------------------------------------------------
# generate mode
# --------------------------------------------------------------------------------------------


def test_generate_greedy_is_deterministic_and_parsed(tiny_model_dir, prompts):
    few = prompts[:8]
    greedy = HFBackend(tiny_model_dir, device="cpu", mode="generate", decoding=Decoding(max_tokens=6))
    first = _by_id(list(greedy.answer(few)))
    second = _by_id(list(greedy.answer(few, "generate")))
    assert set(first) == {p.prompt_id for p in few}
    for p in few:
        a = first[p.prompt_id]
        assert a.text == second[p.prompt_id].text and a.text
        assert (a.choice, a.parse) == parse_strict(a.text, prompt_options(p))
        assert math.isnan(a.p0)
    assert prompt_options(Prompt("custom", [{"role": "user", "content": "Pick A or B."}])) == ()  # letters only
    paper = HFBackend(tiny_model_dir, device="cpu", mode="generate", parser="paper", decoding=Decoding(max_tokens=6))
    assert paper.key != greedy.key
    for a in paper.answer(few):
        p = next(x for x in few if x.prompt_id == a.prompt_id)
        assert a.text == first[a.prompt_id].text
        assert (a.choice, a.parse) == parse_paper(a.text, prompt_options(p))


def test_seeded_sampling_is_reproducible(tiny_model_dir, prompts):
    few = prompts[:6]

    def sample(seed: int, budget: int | None = None) -> dict[str, str]:
        b = HFBackend(tiny_model_dir, device="cpu", mode="generate", max_batch_tokens=budget,
                      decoding=Decoding(temperature=1.0, top_p=0.9, max_tokens=5, seed=seed))
        return {a.prompt_id: a.text for a in b.answer(few)}

    first = sample(1)
    assert sample(1) == first
    assert sample(1, budget=1) == first  # one prompt per batch: a prompt's sample ignores its batch
    assert sample(2) != first
    # The default persona's repeated prompts (sample 0, 1) are independent draws.
    assert len(set(first.values())) == len(first)


def test_mode_is_part_of_the_key(tiny_model_dir, backend, prompts):
    greedy = HFBackend(tiny_model_dir, device="cpu", mode="generate")
    seeded = HFBackend(tiny_model_dir, device="cpu", mode="generate", decoding=Decoding(seed=7, top_p=0.5))
    assert len({backend.key, greedy.key}) == 2
    assert seeded.key == greedy.key  # greedy ignores seed and top_p
    with pytest.raises(InputError, match="mode 'logprob'"):
        backend.answer(prompts, "generate")
    with pytest.raises(InputError, match="top_p"):
        HFBackend(tiny_model_dir, device="cpu", mode="generate", decoding=Decoding(top_p=0))


# --------------------------------------------------------------------------------------------
# templates
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tokenizers_(tiny_corpus):
    return {"chat": train_tokenizer(tiny_corpus, vocab_size=400), "none": train_tokenizer(tiny_corpus, 400, None)}


def test_render_chat_and_plain(tokenizers_, prompts):
    messages = [m for m in prompts if m.messages[0]["content"]][0].messages
    tok = tokenizers_["chat"]
    text, info = render_prompt(messages, tok, "chat")
    assert text == tok.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
    assert text.startswith("<s><|system|>\nYou are elder.") and text.endswith("Answer:\n<|assistant|>\n")
    assert (info.name, info.sha256) == ("chat", _sha(CHAT_TEMPLATE))

    plain, info = render_prompt(messages, tok, "plain")
    system, task, options, cue = (m["content"] for m in messages)
    assert plain == f"{system}\n\n{task}{options}{cue}"
    assert plain.startswith("You are elder.") and plain.endswith("\nAnswer:") and "<" not in plain
    assert (info.name, info.sha256) == ("plain", _sha(PLAIN_TEMPLATE_SPEC))
    no_system = [{"role": "system", "content": ""}, *messages[1:]]
    assert render_plain(no_system) == f"{task}{options}{cue}"


def test_render_auto(tokenizers_, prompts, caplog):
    messages = prompts[0].messages
    assert render_prompt(messages, tokenizers_["chat"])[1].name == "chat"
    tok = tokenizers_["none"]
    tok.name_or_path = "tiny-base-model"
    with caplog.at_level(logging.WARNING, logger="socialbias.backends.render"):
        text, info = render_prompt(messages, tok)
        render_prompt(messages, tok, "auto")
    assert info.name == "plain" and text == render_plain(messages)
    notices = [r for r in caplog.records if "no chat template" in r.getMessage()]
    assert len(notices) == 1 and "tiny-base-model" in notices[0].getMessage()
    with pytest.raises(InputError, match="no chat template.*--template plain"):
        render_prompt(messages, tok, "chat")


def test_template_file_and_its_rejection(tokenizers_, items, tmp_path):
    path = tmp_path / "strict.jinja"
    path.write_text(STRICT_TEMPLATE, encoding="utf-8")
    persona = load_personas(names=["kid"])
    split = prompts_from_table(expand(items.head(1), persona, load_instructions(), runs=[0]))
    renderer = resolve_template(tokenizers_["chat"], str(path))
    assert renderer.info.name == "file" and renderer.info.sha256 == _sha(STRICT_TEMPLATE)
    assert renderer.info.path == str(path.resolve())
    with pytest.raises(InputError) as err:
        renderer.render(split[0].messages, split[0].prompt_id)
    message = str(err.value)
    assert "\n" not in message and split[0].prompt_id in message
    assert "must alternate" in message and "--template merged" in message and "--template plain" in message
    merged = prompts_from_table(expand(items.head(1), persona, load_instructions(), runs=[0], template="merged"))
    text = renderer.render(merged[0].messages)
    assert text.startswith("<s>[user] Read the given context") and text.endswith("Answer:\n")
    with pytest.raises(InputError, match="neither auto, chat, plain nor an existing"):
        resolve_template(tokenizers_["chat"], str(tmp_path / "missing.jinja"))


def test_backend_template_choice(tiny_model_dir, backend, prompts):
    plain = HFBackend(tiny_model_dir, device="cpu", template="plain")
    assert plain.template_info.name == "plain" and backend.template_info.name == "chat"
    assert plain.key != backend.key
    assert backend.describe()["template"] == backend.template_info.as_dict()
    # BOS exactly once: the chat template writes it, plain text gets it from the tokenizer.
    bos = backend.tokenizer.bos_token_id
    for b in (backend, plain):
        text = b.renderer.render(prompts[0].messages)
        ids = b._encode([text], [[prompts[0]]])[0]
        assert ids[0] == bos and ids.count(bos) == 1


# --------------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------------


def test_describe_records_engine_and_settings(backend):
    d = backend.describe()
    assert d["model"] == str(Path(d["model"]).resolve()) and d["dtype"] == "float32" and d["device"] == "cpu"
    assert set(d["versions"]) == {"torch", "transformers", "tokenizers"}
    assert d["key"] == backend.key and d["letter_tokens"]["A"] == ["A", "ĠA"]


@pytest.mark.parametrize("model", ["/no/such/model", "./no-such-dir/model", "nobody-here/no-such-model-xyz"])
def test_unloadable_model_is_one_line_input_error(model):
    with pytest.raises(InputError) as err:
        HFBackend(model, device="cpu")
    message = str(err.value)
    assert "\n" not in message and model.lstrip("./") in message


def test_bad_gguf_file_is_an_input_error(tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"not a gguf file")
    with pytest.raises(InputError) as err:
        HFBackend(bad, device="cpu")
    assert "\n" not in str(err.value) and "broken.gguf" in str(err.value)


def test_gguf_file_is_passed_to_from_pretrained(tiny_model_dir, tmp_path, monkeypatch):
    import transformers

    calls = []
    for cls in (transformers.AutoTokenizer, transformers.AutoModelForCausalLM):
        real = cls.from_pretrained

        def fake(source, *args, _real=real, _cls=cls.__name__, **kwargs):
            calls.append((_cls, source, kwargs.pop("gguf_file", None)))
            return _real(tiny_model_dir, *args, **kwargs)

        monkeypatch.setattr(cls, "from_pretrained", fake)
    (tmp_path / "tiny-q4.gguf").write_bytes(b"GGUF")
    by_name = HFBackend(tmp_path, gguf_file="tiny-q4.gguf", device="cpu")
    by_path = HFBackend(tmp_path / "tiny-q4.gguf", device="cpu")
    expected = {(c, str(tmp_path.resolve()), "tiny-q4.gguf") for c in ("AutoTokenizer", "AutoModelForCausalLM")}
    assert set(calls) == expected and len(calls) == 4
    assert by_name.key == by_path.key and by_name.model_name.endswith("tiny-q4.gguf")
    assert by_name.describe()["gguf_file"] == "tiny-q4.gguf"
    with pytest.raises(InputError, match="not found"):
        HFBackend(tmp_path, gguf_file="other.gguf", device="cpu")


def test_import_is_lazy():
    code = (
        "import sys, socialbias, socialbias.backends, socialbias.backends.hf, socialbias.backends.render\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'tokenizers') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])


def test_pickled_checkpoints_are_refused(tmp_path, tiny_model_dir):
    """Weights load from safetensors only: a .bin (pickle) checkpoint is one clear error, not code run."""
    import shutil

    import torch
    from transformers import AutoModelForCausalLM

    pickled = tmp_path / "pickled"
    shutil.copytree(tiny_model_dir, pickled)
    model = AutoModelForCausalLM.from_pretrained(pickled)
    for f in pickled.glob("*.safetensors"):
        f.unlink()
    torch.save(model.state_dict(), pickled / "pytorch_model.bin")
    with pytest.raises(InputError) as err:
        HFBackend(str(pickled))
    text = str(err.value)
    assert "\n" not in text and "safetensors" in text and "use_safetensors" in text
