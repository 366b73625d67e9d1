"""A tiny random Llama and a tokenizer trained offline on BBQ text, for backend tests.

Nothing is downloaded: the tokenizer is trained with the ``tokenizers`` library on the local BBQ
Age data plus the prompt boilerplate, the model is a 2-layer Llama with random (seeded) weights.
Both are saved with ``save_pretrained`` so backends load them like any local checkpoint. The
same directory is meant for the vLLM backend's tests too (head_dim 32: vLLM refuses 16).

The model answers nonsense, deterministically: tests check the plumbing (every prompt answered
once, probabilities, batching, templates), not the answers.

Use the session fixture in a test module with ``from tests.tiny_model import tiny_model_dir``.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tests.conftest import BBQ_DIR  # noqa: E402

BOS, EOS, PAD, UNK = "<s>", "</s>", "<pad>", "<unk>"
SPECIAL_TOKENS = [PAD, BOS, EOS, UNK]

#: A minimal chat template: BOS, then ``<|role|>`` headers; an empty system message is kept.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

#: A Mistral-style template that refuses anything but alternating user/assistant turns after an
#: optional system message (for the rejection test).
STRICT_TEMPLATE = (
    "{{ bos_token }}{% set loop_messages = messages[1:] if messages[0]['role'] == 'system' else messages %}"
    "{% for m in loop_messages %}"
    "{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
)


def corpus(bbq_dir: Path = BBQ_DIR, category: str = "Age") -> list[str]:
    """Training text: the category's contexts, questions and options, the prompt boilerplate,
    the persona instructions and names, the chat markers and answers such as ``Answer: A``."""
    from socialbias.expand import ANSWER_CUE, OPTIONS_TEMPLATE, TASK_TEMPLATE
    from socialbias.personas import load_instructions, load_personas

    texts: list[str] = []
    with open(Path(bbq_dir) / f"{category}.jsonl", encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            texts += [r["context"], r["question"], r["ans0"], r["ans1"], r["ans2"]]
    names = list(load_personas()["persona"])
    texts += [t.format(n) for t in load_instructions() for n in names]
    texts += [TASK_TEMPLATE, OPTIONS_TEMPLATE, ANSWER_CUE, "<|system|>\n<|user|>\n<|assistant|>\n"]
    texts += [f"Answer: {x}\n{x}\n({x}) {x})" for x in "ABC"] * 50
    return texts


def _wrap(tok: Any, chat_template: str | None) -> Any:
    """A ``tokenizers.Tokenizer`` as a transformers fast tokenizer that adds BOS like Llama's."""
    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast

    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, tok.token_to_id(BOS))]
    )
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD, unk_token=UNK)
    if chat_template is not None:
        hf.chat_template = chat_template
    return hf


def train_tokenizer(texts: Iterable[str], vocab_size: int = 1200, chat_template: str | None = CHAT_TEMPLATE) -> Any:
    """A byte-level BPE tokenizer trained on ``texts``; has ``A``, ``ĠA`` (" A"), ... as tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(list(texts), trainer)
    return _wrap(tok, chat_template)


def word_tokenizer(texts: Iterable[str], drop: Sequence[str] = (), chat_template: str | None = CHAT_TEMPLATE) -> Any:
    """A word-level tokenizer over byte-level pieces, with an exact vocabulary: every piece of
    ``texts`` except those in ``drop`` (byte-level spelling, e.g. ``"ĠA"`` for " A")."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    pre = pre_tokenizers.ByteLevel(add_prefix_space=False)
    counts = Counter(piece for t in texts for piece, _ in pre.pre_tokenize_str(t))
    words = sorted(w for w in counts if w not in set(drop) and w not in SPECIAL_TOKENS)
    vocab = {w: i for i, w in enumerate([*SPECIAL_TOKENS, *words])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    tok.pre_tokenizer = pre
    tok.decoder = decoders.ByteLevel()
    return _wrap(tok, chat_template)


def tiny_llama(vocab_size: int, seed: int = 0) -> Any:
    """A 2-layer random Llama (hidden 128, 4 heads of 32, 2 KV heads), seeded."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=vocab_size, hidden_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, head_dim=32, intermediate_size=256, max_position_embeddings=2048,
        pad_token_id=SPECIAL_TOKENS.index(PAD), bos_token_id=SPECIAL_TOKENS.index(BOS),
        eos_token_id=SPECIAL_TOKENS.index(EOS), initializer_range=0.2, tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config).eval()


def save_tiny_model(path: Path, tokenizer: Any, seed: int = 0) -> Path:
    """Save ``tokenizer`` and a tiny Llama sized to it into ``path``; return ``path``."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(path)
    tiny_llama(len(tokenizer), seed).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_corpus() -> list[str]:
    return corpus()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, tiny_corpus: list[str]) -> Path:
    """A saved tiny Llama + BPE tokenizer (with a chat template), built once per session."""
    return save_tiny_model(tmp_path_factory.mktemp("tiny-llama"), train_tokenizer(tiny_corpus))
