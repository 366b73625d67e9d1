"""Throughput of three ways to score the paper's BBQ Age prompts with a Llama-shaped model.

One run, one device, one randomly initialised Llama-shaped model per ``--shape``:

``8b``    Llama-3-8B shape: hidden 4096, 32 layers, 32 heads (8 KV heads, head_dim 128),
          intermediate 14336, vocab 128256, untied embeddings;
``1b``    Llama-3.2-1B shape: hidden 2048, 16 layers, 32 heads (8 KV heads, head_dim 64),
          intermediate 8192, vocab 128256, tied embeddings;
``tiny``  hidden 128, 2 layers, 4 heads (2 KV), intermediate 256, vocab = the tokenizer's:
          a CPU smoke test (the shape of ``tests/tiny_model.py``).

and three methods, on the same prompts:

``hf``        this package's ``hf`` backend end to end: :func:`socialbias.runner.answer_prompts`
              into a fresh :class:`~socialbias.store.ResponseStore` (rendering, tokenisation,
              length-sorted token-budget batching with left padding, ONE forward pass per prompt
              with last-position logits of the option letters, storing the answers).
``lmeval``    per-option log-likelihood the way lm-evaluation-harness (``HFLM``,
              ``_loglikelihood_tokens``) scores a multiple-choice task: for each of the three
              option TEXTS a request (context, delimiter + option) -- delimiter ``" "``, or ``""``
              under a chat template -- encoded with lm-eval's ``_encode_pair`` (trailing blanks of
              the context move into the continuation; two ``encode`` calls per request); requests
              sorted longest first (``Collator``), identical ``context + continuation[:-1]``
              computed once (its ``group_by="contexts"`` logits cache); batches of
              ``--lmeval-batch-size`` right-padded WITHOUT an attention mask; full logits at
              every position, ``log_softmax`` over the whole batch, then per request the
              continuation slice, greedy check and summed log-probability (``float``/``bool``
              per request, as lm-eval does); the choice is the argmax of the three sums.
              Strings are encoded with the package's rule (BOS unless the template wrote it), so
              the context tokens are the ``hf`` backend's prompt tokens.
``generate``  one prompt at a time, ``model.generate(max_new_tokens=8, do_sample=False)`` with the
              KV cache, decode, then the package's strict parser (first ``--generate-prompts``).

The model is built in memory (``AutoModelForCausalLM.from_config`` under ``torch.device``: no
random weights are written to disk). The ``hf`` backend normally loads from a path, so the bench
saves the tokenizer and ``config.json`` (no weights) to a temporary directory and, while the
backend is constructed, replaces ``socialbias.backends.hf._load`` with a function that returns
the in-memory tokenizer and model (after the same post-processing ``_load`` does); everything
else in the backend is the package's own code.

Prompts. The paper's persona grid for BBQ Age from the local data (``--bbq-dir``): 3,680 items x
7 personas (the default one included) x 5 instructions = 128,800 prompts
(:func:`socialbias.expand.expand`), shuffled with ``--seed``; the first ``--prompts`` are measured
(all methods but ``generate``, which takes the first ``--generate-prompts`` of them), the next
``--warmup-prompts`` warm each method up (not timed). A random sample keeps the length
distribution of the whole grid; identical prompts (the default persona's five runs) are rare in
it, and the ``hf`` path (runner + backend) and the ``lmeval`` path (logits cache) each compute an
identical text once, ``generate`` does not.

Tokenizer. No hub access: a byte-level BPE tokenizer is trained offline on the Age corpus of
``tests/tiny_model.py`` (contexts, questions, options, persona instructions, prompt boilerplate)
with Llama-3's special tokens and a Llama-3-style chat template (``<|start_header_id|>role
<|end_header_id|>\\n\\n content <|eot_id|>``, without 3.1's date header). Trained with
``--tokenizer-vocab`` merges and Llama 3's pre-tokenizer split, it saturates at ~2.3k tokens:
nearly every pre-token (word with its leading blank, punctuation run, newline run) of this corpus
is one token, as most common English words are in Llama 3's 128k vocabulary. The model's vocab
stays 128,256 (the ids used are a subset), so the LM head costs what it costs in Llama 3. The
report gives the bench's tokens per prompt and two estimates of real Llama-3 counts (not measured
here: no Llama-3 tokenizer offline): Llama-3 pre-tokens + special tokens (a lower bound) and
characters / 4 + special tokens (a crude upper one); about 154-171 for the Age grid, against ~157
for the bench's tokenizer. (Llama 3.1/3.2's own template also writes a ~25-token date header into
every system message; the bench's template does not.)

Same prompts. Every method renders with :class:`socialbias.backends.render.ChatRenderer` (same
template, same hash) and the run checks, per shape (``same_prompts`` in the output, exit status 1
on a mismatch): the backend's ``_encode`` gives the bench's token ids; lm-eval's contexts are the
same texts and their tokens are the backend's up to the trailing blank(s) ``_encode_pair`` moves
into the continuation; ``generate`` feeds exactly the backend's ids.

FLOP accounting. ``N`` = non-embedding parameters: everything but the input embedding and the LM
head (the 1B shape ties them): 6,979,588,096 for 8B, 973,146,112 for 1B. The issue's floor: ``2 N x prompt tokens / peak``, where prompt
tokens are those of the distinct prompt texts the method had to answer (BOS and template
included, no padding). Per method the FLOPs it actually executes in the transformer blocks:

* ``hf``: ``2 N x prompt tokens`` (one pass; same as the floor);
* ``lmeval``: ``2 N x sum over the forwarded requests of (context + continuation - 1)`` tokens,
  about 3x the floor plus the options' tokens;
* ``generate``: ``2 N x (prompt tokens + new tokens - 1)`` per prompt (prefill, then one token
  per step; the last new token is never fed back).

``mfu`` = executed FLOPs / (wall time x peak); ``floor_mfu`` = floor FLOPs / (wall time x peak),
the share of the peak that went to the minimum work of answering the prompts. Not counted in
either: padding, attention score/value products (``4 x layers x hidden x context`` per token,
about 1-3% here), the LM head (``2 x vocab x hidden`` per logit position: one per prompt for
``hf``, every position for ``lmeval`` -- 7.5% of ``2N`` per token at 8B, 27% at 1B; reported
separately as ``lm_head_flops``). The peak is measured in the same run: the best of several
square ``--peak-size`` matmuls (8192 on CUDA) in the model's dtype (bf16 on CUDA, float32 on
CPU), timed with ``torch.cuda.synchronize`` around the timed loop.

Usage::

    python bench/gpu_bench.py --shape 1b,8b --out results.json                # on one GPU
    python bench/gpu_bench.py --shape tiny --prompts 40 --generate-prompts 4   # CPU smoke test

Prints a markdown table (method, shape, prompts, prompts/s, tokens/s, MFU, floor MFU, notes);
``--out`` writes the same plus the environment, shapes and per-method details as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import os
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# No hub access; the backend's batch tokenisation may use every core (tests/tiny_model sets
# TOKENIZERS_PARALLELISM=false on import, unless it is set already).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")

DEFAULT_BBQ_DIR = REPO.parent / "shared" / "bbq" / "data"
METHODS = ("hf", "lmeval", "generate")
CATEGORY = "Age"

#: Llama-3 special tokens and a Llama-3(.0)-style chat template (content trimmed, as Llama 3's).
BOS, EOT, EOS_TEXT = "<|begin_of_text|>", "<|eot_id|>", "<|end_of_text|>"
HEADER_START, HEADER_END = "<|start_header_id|>", "<|end_header_id|>"
SPECIAL_TOKENS = [BOS, EOS_TEXT, HEADER_START, HEADER_END, EOT]
LLAMA3_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
    "{{ m['content'] | trim }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)

#: Llama 3's pre-tokenizer split (before byte-level mapping): words with one leading non-letter,
#: digits in threes, punctuation runs, newline runs.
LLAMA3_PRETOKENIZE = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
    r"|\s+(?!\S)|\s+"
)

LLAMA3_VOCAB = 128256
SHAPES: dict[str, dict[str, Any]] = {
    "tiny": dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=32,
                 intermediate_size=256, vocab_size=None, tie_word_embeddings=False),
    "1b": dict(hidden_size=2048, num_hidden_layers=16, num_attention_heads=32, num_key_value_heads=8, head_dim=64,
               intermediate_size=8192, vocab_size=LLAMA3_VOCAB, tie_word_embeddings=True),
    "8b": dict(hidden_size=4096, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8, head_dim=128,
               intermediate_size=14336, vocab_size=LLAMA3_VOCAB, tie_word_embeddings=False),
}


# --------------------------------------------------------------------------------------------
# timing helpers
# --------------------------------------------------------------------------------------------


def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextlib.contextmanager
def _timed(device: Any, out: dict[str, float], key: str = "wall_s") -> Iterator[None]:
    """Wall time of the block, with the device synchronised on both sides."""
    _sync(device)
    start = time.perf_counter()
    try:
        yield
    finally:
        _sync(device)
        out[key] = time.perf_counter() - start


def measure_peak(device: Any, dtype: Any, size: int, reps: int = 5) -> dict[str, Any]:
    """Best observed ``size``-cubed matmul throughput (FLOP/s) in ``dtype`` on ``device``: the best
    of ``reps`` timed loops (50 matmuls each on CUDA, after ~100 untimed ones to raise the clocks;
    10 after 3 on CPU)."""
    import torch

    warmup, iters = (100, 50) if device.type == "cuda" else (3, 10)
    gen = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(size, size, generator=gen).to(device=device, dtype=dtype)
    b = torch.randn(size, size, generator=gen).to(device=device, dtype=dtype)
    c = torch.empty(size, size, device=device, dtype=dtype)
    for _ in range(warmup):
        torch.mm(a, b, out=c)
    best = float("inf")
    for _ in range(reps):
        _sync(device)
        start = time.perf_counter()
        for _ in range(iters):
            torch.mm(a, b, out=c)
        _sync(device)
        best = min(best, (time.perf_counter() - start) / iters)
    del a, b, c
    flops = 2.0 * size**3
    return {"flops_per_s": flops / best, "size": size, "dtype": str(dtype).removeprefix("torch."),
            "best_matmul_s": best, "iters": iters, "reps": reps}


# --------------------------------------------------------------------------------------------
# prompts, tokenizer, model
# --------------------------------------------------------------------------------------------


def build_prompts(bbq_dir: Path, seed: int):
    """The Age persona grid (128,800 prompts for the paper's data), shuffled with ``seed``."""
    from socialbias.bbq_adapters import load_bbq
    from socialbias.expand import expand
    from socialbias.personas import load_instructions, load_personas

    items = load_bbq(bbq_dir, [CATEGORY])
    grid = expand(items, load_personas(categories=[CATEGORY]), load_instructions())
    return grid.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def build_tokenizer(bbq_dir: Path, vocab_size: int) -> Any:
    """A byte-level BPE tokenizer trained on the Age corpus, with Llama-3 specials and template."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    from tests.tiny_model import corpus

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PRETOKENIZE), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    # The corpus of tests/tiny_model.py, plus the blank lines that follow the chat headers.
    tok.train_from_iterator(corpus(bbq_dir, CATEGORY) + ["\n\n", "\n"] * 50, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, tok.token_to_id(BOS))])
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOT)
    hf.chat_template = LLAMA3_CHAT_TEMPLATE
    return hf


def build_config(shape: str, tokenizer: Any) -> Any:
    from transformers import LlamaConfig

    spec = dict(SHAPES[shape])
    if spec["vocab_size"] is None:
        spec["vocab_size"] = len(tokenizer)
    if spec["vocab_size"] < len(tokenizer):
        raise SystemExit(f"shape {shape}: vocab {spec['vocab_size']} is smaller than the tokenizer's {len(tokenizer)}")
    return LlamaConfig(
        **spec, max_position_embeddings=8192, rms_norm_eps=1e-5,
        rope_parameters={"rope_type": "default", "rope_theta": 500000.0},
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=None,
    )


def build_model(config: Any, device: Any, dtype: Any, seed: int) -> Any:
    """A randomly initialised causal LM made directly on ``device`` (weights never touch disk)."""
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation="sdpa")
    return model.eval()


def parameter_counts(model: Any) -> dict[str, int]:
    """Total, embedding (input table + LM head, counted once when tied) and non-embedding parameters."""
    emb = {id(model.get_input_embeddings().weight)}
    out = model.get_output_embeddings()
    if out is not None:
        emb.add(id(out.weight))
    total = embedding = 0
    for p in model.parameters():  # tied parameters are listed once
        total += p.numel()
        if id(p) in emb:
            embedding += p.numel()
    return {"total": total, "embedding": embedding, "non_embedding": total - embedding}


def encode_like_backend(tokenizer: Any, texts: Sequence[str]) -> list[list[int]]:
    """Token ids as the hf backend's ``_encode`` makes them: BOS added unless the text starts with
    it, a trailing EOS that the tokenizer adds by itself dropped."""
    bos, eos = tokenizer.bos_token, tokenizer.eos_token_id
    out: list[list[int]] = [[] for _ in texts]
    for add in (True, False):
        sel = [i for i, t in enumerate(texts) if (not (bos and t.startswith(bos))) == add]
        if not sel:
            continue
        for i, ids in zip(sel, tokenizer([texts[i] for i in sel], add_special_tokens=add)["input_ids"]):
            if add and ids and eos is not None and ids[-1] == eos and len(ids) > 1:
                ids = ids[:-1]
            out[i] = list(ids)
    return out


def llama3_estimate(tokenizer: Any, texts: Sequence[str]) -> dict[str, float]:
    """Two estimates of Llama 3's tokens per prompt (its tokenizer is not available offline): the
    pre-tokens of Llama 3's split plus the special tokens (a lower bound: with a 128k vocabulary
    nearly every pre-token of plain English is one token), and a crude upper one, characters
    outside special tokens / 4 plus the special tokens."""
    import re

    specials = re.compile("|".join(map(re.escape, SPECIAL_TOKENS)))
    pre = tokenizer.backend_tokenizer.pre_tokenizer
    n_pre = n_chars = n_special = 0
    for t in texts:
        parts = specials.split(t)
        n_special += len(parts) - 1
        n_pre += sum(len(pre.pre_tokenize_str(x)) for x in parts if x)
        n_chars += sum(map(len, parts))
    n = max(len(texts), 1)
    return {"pretokens": (n_pre + n_special) / n, "chars_div_4": (n_chars / 4 + n_special) / n}


@dataclass
class Workload:
    """The measured prompts of one shape, rendered and tokenised once (for accounting and checks)."""

    prompts: Any  # the measured rows of the prompts table
    warmup: Any  # rows used to warm each method up
    texts: list[str]  # rendered text of each measured prompt
    unique: list[int]  # index of the first prompt of each distinct text, in order
    ids: dict[str, list[int]]  # text -> token ids (backend encoding)
    template: Any  # TemplateInfo

    def tokens(self, rows: Sequence[int] | None = None) -> int:
        """Prompt tokens of the distinct texts among ``rows`` (default: all measured prompts)."""
        texts = self.texts if rows is None else [self.texts[i] for i in rows]
        return sum(len(self.ids[t]) for t in dict.fromkeys(texts))


def make_workload(grid: Any, n: int, n_warm: int, tokenizer: Any, template: str) -> Workload:
    from socialbias.backends.render import ChatRenderer

    measured = grid.iloc[:n].reset_index(drop=True)
    warm = grid.iloc[n:n + n_warm]
    if len(warm) == 0 and n_warm > 0:  # every prompt is measured: warm up on some of them (own store)
        warm = grid.iloc[:n_warm]
    warm = warm.reset_index(drop=True)
    renderer = ChatRenderer(tokenizer, template)
    texts = [renderer.render(m) for m in measured["messages"]]
    first: dict[str, int] = {}
    for i, t in enumerate(texts):
        first.setdefault(t, i)
    distinct = list(first)
    ids = dict(zip(distinct, encode_like_backend(tokenizer, distinct)))
    return Workload(measured, warm, texts, list(first.values()), ids, renderer.info)


# --------------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------------


@dataclass
class Result:
    method: str
    shape: str
    prompts: int = 0
    distinct_prompts: int = 0
    wall_s: float = float("nan")
    prompts_per_s: float = float("nan")
    tokens: int = 0  # tokens through the transformer blocks (no padding)
    tokens_per_s: float = float("nan")
    padded_tokens: int = 0  # rows x width summed over forward passes (generate: 0, no padding)
    prompt_tokens: int = 0  # of the distinct prompt texts (the floor's tokens)
    flops: float = 0.0
    floor_flops: float = 0.0
    lm_head_flops: float = 0.0
    mfu: float = float("nan")
    floor_mfu: float = float("nan")
    setup_s: float = 0.0
    warmup_s: float = 0.0
    notes: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def finish(self, n_nonemb: int, peak: float, hidden: int, vocab: int, logit_positions: int) -> Result:
        self.prompts_per_s = self.prompts / self.wall_s
        self.tokens_per_s = self.tokens / self.wall_s
        self.flops = 2.0 * n_nonemb * self.tokens
        self.floor_flops = 2.0 * n_nonemb * self.prompt_tokens
        self.lm_head_flops = 2.0 * hidden * vocab * logit_positions
        self.mfu = self.flops / self.wall_s / peak
        self.floor_mfu = self.floor_flops / self.wall_s / peak
        return self


# --------------------------------------------------------------------------------------------
# (a) the package's hf backend
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def preloaded(tokenizer: Any, model: Any) -> Iterator[None]:
    """While active, ``HFBackend`` gets ``tokenizer`` and ``model`` instead of loading weights."""
    from transformers import GenerationConfig

    from socialbias.backends import hf as hfmod

    def _load(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
        model.eval()  # what hf._load does after loading
        g = model.generation_config
        model.generation_config = GenerationConfig(
            bos_token_id=g.bos_token_id, eos_token_id=g.eos_token_id, pad_token_id=g.pad_token_id)
        return tokenizer, model

    original = hfmod._load
    hfmod._load = _load
    try:
        yield
    finally:
        hfmod._load = original


def run_hf(model: Any, tokenizer: Any, config: Any, w: Workload, args: argparse.Namespace, device: Any,
           shape: str, checks: dict[str, Any]) -> Result:
    from socialbias.backends import hf as hfmod
    from socialbias.runner import answer_prompts
    from socialbias.store import ResponseStore

    res = Result("hf", shape, notes="")
    with tempfile.TemporaryDirectory(prefix="gpu-bench-hf-") as tmp:
        model_dir = Path(tmp) / "model"
        tokenizer.save_pretrained(model_dir)
        config.save_pretrained(model_dir)  # no weights: the model is handed over in memory
        t = {}
        with _timed(device, t), preloaded(tokenizer, model):
            backend = hfmod.HFBackend(model_dir, mode="logprob", device=str(device), template=args.template,
                                      max_batch_tokens=args.max_batch_tokens)
        res.setup_s = t["wall_s"]
        if backend.template_info != w.template:
            raise RuntimeError(f"the backend renders with {backend.template_info}, the bench with {w.template}")
        # The backend's own encoding of the distinct texts must be the bench's (all methods share it).
        distinct = list(w.ids)
        own = backend._encode(distinct, [[None]] * len(distinct)) if hasattr(backend, "_encode") else None
        checks["hf_encoding_identical"] = None if own is None else own == [w.ids[x] for x in distinct]

        with ResponseStore(Path(tmp) / "warmup.sqlite") as store, _timed(device, t, "warm"):
            answer_prompts(w.warmup, backend, store, "logprob", progress=False)
        res.warmup_s = t["warm"]
        with ResponseStore(Path(tmp) / "measured.sqlite") as store:
            with _timed(device, t):
                stats = answer_prompts(w.prompts, backend, store, "logprob", progress=False)
            stored = store.count(backend.key)
        if stored != len(w.prompts):
            raise RuntimeError(f"the store holds {stored} answers for {len(w.prompts)} prompts")
        res.wall_s = t["wall_s"]
        # What the backend forwarded: the runner's representatives, windowed, batched by plan_batches.
        lengths = [len(w.ids[w.texts[i]]) for i in w.unique]
        padded, batches = 0, 0
        for start in range(0, len(lengths), backend.window):
            window = lengths[start:start + backend.window]
            for b in hfmod.plan_batches(window, backend.max_batch_tokens):
                padded += len(b) * max(window[i] for i in b)
                batches += 1
        res.prompts, res.distinct_prompts = len(w.prompts), len(w.unique)
        res.prompt_tokens = res.tokens = w.tokens()
        res.padded_tokens = padded
        res.details = {"asked": stats.asked, "stored": stored, "batches": batches,
                       "max_batch_tokens": backend.max_batch_tokens, "window": backend.window,
                       "template": backend.template_info.as_dict(), "letter_mass": backend.letter_mass(),
                       "runner_prompts_per_s": stats.prompts_per_second}
        res.notes = (f"1 fwd/prompt, last-pos logits; {batches} batches <= {backend.max_batch_tokens} padded tok, "
                     f"{100 * res.tokens / max(padded, 1):.0f}% fill; store incl.")
        del backend
    return res.finish(checks["n_nonemb"], checks["peak"], config.hidden_size, config.vocab_size,
                      logit_positions=res.distinct_prompts)


# --------------------------------------------------------------------------------------------
# (b) lm-evaluation-harness style per-option log-likelihood
# --------------------------------------------------------------------------------------------


class LmEvalScorer:
    """The parts of lm-eval's ``HFLM`` that score multiple choice (``loglikelihood``)."""

    def __init__(self, model: Any, tokenizer: Any, device: Any, batch_size: int, max_length: int) -> None:
        self.model, self.tokenizer, self.device = model, tokenizer, device
        self.batch_size, self.max_length = batch_size, max_length
        self.forwarded_tokens = self.padded_tokens = self.batches = self.logit_positions = 0

    def tok_encode(self, text: str) -> list[int]:
        # The package's prompt tokens (BOS unless the template wrote it), so all methods read the
        # same prompt; lm-eval's own default depends on its add_bos_token setting.
        return encode_like_backend(self.tokenizer, [text])[0]

    def _encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        n_spaces = len(context) - len(context.rstrip())
        if n_spaces > 0:
            continuation = context[-n_spaces:] + continuation
            context = context[:-n_spaces]
        whole_enc = self.tok_encode(context + continuation)
        context_enc = self.tok_encode(context)
        return context_enc, whole_enc[len(context_enc):]

    def loglikelihood(self, requests: list[tuple[str, str]]) -> list[tuple[float, bool]]:
        return self._loglikelihood_tokens([(r, *self._encode_pair(*r)) for r in requests])

    def _loglikelihood_tokens(
        self, requests: list[tuple[tuple[str, str], list[int], list[int]]]
    ) -> list[tuple[float, bool]]:
        import torch
        import torch.nn.functional as F

        # Collator: longest first; requests sharing context + continuation[:-1] are computed once.
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, (_, ctx, cont) in enumerate(requests):
            groups.setdefault(tuple(ctx + cont[:-1]), []).append(i)
        reps = sorted(groups.values(), key=lambda g: (-len(requests[g[0]][1] + requests[g[0]][2]),
                                                      tuple(requests[g[0]][1] + requests[g[0]][2])))
        out: list[tuple[float, bool] | None] = [None] * len(requests)
        for start in range(0, len(reps), self.batch_size):
            chunk = reps[start:start + self.batch_size]
            inps, inplens = [], []
            for g in chunk:
                _, ctx, cont = requests[g[0]]
                inp = torch.tensor((ctx + cont)[-(self.max_length + 1):][:-1], dtype=torch.long, device=self.device)
                inps.append(inp)
                inplens.append(inp.shape[0])
            padding_len = max(inplens)
            batched = torch.stack([F.pad(x, (0, padding_len - x.shape[0])) for x in inps])  # right, with 0
            self.forwarded_tokens += sum(inplens)
            self.padded_tokens += len(inps) * padding_len
            self.logit_positions += len(inps) * padding_len
            self.batches += 1
            with torch.no_grad():
                multi_logits = F.log_softmax(self.model(batched).logits, dim=-1)
                for g, logits, inplen in zip(chunk, multi_logits, inplens):
                    contlen = len(requests[g[0]][2])
                    ctxlen = inplen + (logits.shape[0] - padding_len)
                    logits = logits[ctxlen - contlen:ctxlen].unsqueeze(0)
                    greedy = logits.argmax(dim=-1)
                    for i in g:
                        cont = torch.tensor(requests[i][2], dtype=torch.long, device=self.device).unsqueeze(0)
                        max_equal = (greedy == cont).all()
                        picked = torch.gather(logits, 2, cont.unsqueeze(-1)).squeeze(-1)
                        out[i] = (float(picked.sum()), bool(max_equal))
        return out  # type: ignore[return-value]


def run_lmeval(model: Any, tokenizer: Any, config: Any, w: Workload, args: argparse.Namespace, device: Any,
               shape: str, checks: dict[str, Any]) -> Result:
    from socialbias.backends.base import prompts_from_table, prompt_options
    from socialbias.backends.render import ChatRenderer

    delimiter = "" if w.template.name == "chat" else " "  # lm-eval drops target_delimiter under a chat template
    scorer = LmEvalScorer(model, tokenizer, device, args.lmeval_batch_size,
                          max_length=getattr(config, "max_position_embeddings", 2048))

    def score(table: Any) -> tuple[list[int], list[list[tuple[str, str]]]]:
        renderer = ChatRenderer(tokenizer, args.template)
        seen: dict[str, None] = {}
        requests: list[tuple[str, str]] = []
        for p in prompts_from_table(table):
            text = renderer.render(p.messages, p.prompt_id)
            if text in seen:  # the logits cache answers an identical request without a forward pass
                continue
            seen[text] = None
            requests += [(text, delimiter + o) for o in prompt_options(p)]
        lls = scorer.loglikelihood(requests)
        choices = [max(range(3), key=lambda k: lls[j + k][0]) for j in range(0, len(lls), 3)]
        return choices, requests

    res = Result("lmeval", shape)
    t: dict[str, float] = {}
    with _timed(device, t):
        score(w.warmup)
    res.warmup_s = t["wall_s"]
    scorer.forwarded_tokens = scorer.padded_tokens = scorer.batches = scorer.logit_positions = 0
    with _timed(device, t):
        choices, requests = score(w.prompts)
    res.wall_s = t["wall_s"]
    # Same prompts: each request's context is a distinct prompt text of the workload, and lm-eval's
    # context tokens are the backend's prompt tokens up to the trailing blank(s) it moves.
    ctx_texts = list(dict.fromkeys(r[0] for r in requests))
    same_text = ctx_texts == [w.texts[i] for i in w.unique]
    same_ids = all((c := scorer._encode_pair(x, "")[0]) == w.ids[x][:len(c)]
                   and tokenizer.decode(w.ids[x][len(c):]) == x[len(x.rstrip()):] for x in ctx_texts)
    checks["lmeval_texts_identical"], checks["lmeval_context_tokens_identical"] = same_text, same_ids
    res.prompts, res.distinct_prompts = len(w.prompts), len(w.unique)
    res.prompt_tokens = w.tokens()
    res.tokens, res.padded_tokens = scorer.forwarded_tokens, scorer.padded_tokens
    res.details = {"requests": len(requests), "batches": scorer.batches, "batch_size": args.lmeval_batch_size,
                   "delimiter": delimiter, "choices_made": len(choices)}
    res.notes = (f"3 fwd/prompt (option texts), all-pos logits + log_softmax; bs {args.lmeval_batch_size}, "
                 f"right pad, {100 * res.tokens / max(res.padded_tokens, 1):.0f}% fill")
    return res.finish(checks["n_nonemb"], checks["peak"], config.hidden_size, config.vocab_size,
                      logit_positions=scorer.logit_positions)


# --------------------------------------------------------------------------------------------
# (c) one prompt at a time with generate()
# --------------------------------------------------------------------------------------------


def run_generate(model: Any, tokenizer: Any, config: Any, w: Workload, args: argparse.Namespace, device: Any,
                 shape: str, checks: dict[str, Any]) -> Result:
    import torch
    from transformers import GenerationConfig

    from socialbias.answers import get_parser
    from socialbias.backends.base import prompts_from_table, prompt_options
    from socialbias.backends.render import ChatRenderer

    eos = tokenizer.eos_token_id
    gen_config = GenerationConfig(max_new_tokens=args.max_new_tokens, do_sample=False, num_beams=1,
                                  pad_token_id=eos, eos_token_id=eos)
    parse = get_parser("strict")
    stats = {"tokens": 0, "new": 0}
    seen_ids: list[list[int]] = []

    def answer(table: Any, record: bool) -> list[int]:
        renderer = ChatRenderer(tokenizer, args.template)
        choices = []
        for p in prompts_from_table(table):
            text = renderer.render(p.messages, p.prompt_id)
            ids = encode_like_backend(tokenizer, [text])[0]
            input_ids = torch.tensor([ids], dtype=torch.long, device=device)
            with torch.inference_mode():
                out = model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                                     generation_config=gen_config)
            new = out[0, len(ids):].tolist()
            cut = next((j for j, x in enumerate(new) if x == eos), len(new))
            choices.append(parse(tokenizer.decode(new[:cut], skip_special_tokens=True), prompt_options(p))[0])
            if record:
                seen_ids.append(ids)
                stats["tokens"] += len(ids) + len(new) - 1
                stats["new"] += len(new)
        return choices

    m = min(args.generate_prompts, len(w.prompts))
    res = Result("generate", shape)
    t: dict[str, float] = {}
    with _timed(device, t):
        answer(w.warmup.iloc[:2], record=False)
    res.warmup_s = t["wall_s"]
    with _timed(device, t):
        answer(w.prompts.iloc[:m], record=True)
    res.wall_s = t["wall_s"]
    checks["generate_ids_identical"] = seen_ids == [w.ids[x] for x in w.texts[:m]]
    res.prompts = res.distinct_prompts = m
    res.prompt_tokens = sum(len(x) for x in seen_ids)
    res.tokens = stats["tokens"]
    res.details = {"new_tokens": stats["new"], "max_new_tokens": args.max_new_tokens}
    res.notes = f"1 prompt/call, greedy {args.max_new_tokens} new tok, KV cache, strict parser"
    return res.finish(checks["n_nonemb"], checks["peak"], config.hidden_size, config.vocab_size,
                      logit_positions=stats["new"])  # generate keeps the last position's logits only


RUNNERS = {"hf": run_hf, "lmeval": run_lmeval, "generate": run_generate}


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------


def _split(values: Sequence[str], known: Sequence[str], what: str) -> list[str]:
    out = [v.strip().lower() for s in values for v in s.split(",") if v.strip()]
    bad = [v for v in out if v not in known]
    if bad:
        raise SystemExit(f"unknown {what} {', '.join(bad)}: choose from {', '.join(known)}")
    return list(dict.fromkeys(out))


def _fmt(x: float, digits: int = 1) -> str:
    if x != x:  # nan
        return "-"
    return f"{x:,.{digits}f}"


def markdown_table(results: Sequence[Result]) -> str:
    rows = ["| method | shape | prompts | prompts/s | tokens/s | MFU | floor MFU | notes |",
            "|---|---|---:|---:|---:|---:|---:|---|"]
    for r in results:
        if r.error:
            rows.append(f"| {r.method} | {r.shape} | {r.prompts} | - | - | - | - | ERROR: {r.error} |")
            continue
        rows.append(f"| {r.method} | {r.shape} | {r.prompts:,} | {_fmt(r.prompts_per_s)} | {_fmt(r.tokens_per_s, 0)} "
                    f"| {100 * r.mfu:.2f}% | {100 * r.floor_mfu:.2f}% | {r.notes} |")
    return "\n".join(rows)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", action="append", default=None,
                    help="tiny, 1b, 8b (repeatable or comma list; default: 1b,8b on CUDA, tiny on CPU)")
    ap.add_argument("--prompts", type=int, default=4000, help="measured prompts (default 4000)")
    ap.add_argument("--methods", action="append", default=None, help="hf,lmeval,generate (default: all three)")
    ap.add_argument("--generate-prompts", type=int, default=64, help="prompts for the generate method (default 64)")
    ap.add_argument("--max-new-tokens", type=int, default=8, help="generate's max_new_tokens (default 8)")
    ap.add_argument("--warmup-prompts", type=int, default=None,
                    help="untimed warm-up prompts for hf and lmeval (default: 512 on CUDA, about one full hf "
                         "batch, so the allocator and kernels are warm; 32 on CPU); generate warms up on 2")
    ap.add_argument("--max-batch-tokens", type=int, default=None,
                    help="the hf backend's padded-token budget (default: its own, 65536 CUDA / 16384 CPU)")
    ap.add_argument("--lmeval-batch-size", type=int, default=32, help="lm-eval style batch size (default 32)")
    ap.add_argument("--template", default="auto", help="auto (= chat: the Llama-3-style template), chat or plain")
    ap.add_argument("--device", default=None, help="cuda, cuda:N or cpu (default: cuda when available)")
    ap.add_argument("--dtype", default=None, help="bfloat16, float16 or float32 (default: bf16 on CUDA, fp32 on CPU)")
    ap.add_argument("--peak-size", type=int, default=None,
                    help="matmul size of the peak measurement (8192 CUDA, 1024 CPU)")
    ap.add_argument("--bbq-dir", type=Path, default=DEFAULT_BBQ_DIR,
                    help=f"BBQ data directory (default {DEFAULT_BBQ_DIR})")
    ap.add_argument("--tokenizer-vocab", type=int, default=32000, help="BPE merges target (saturates at ~2.3k on Age)")
    ap.add_argument("--seed", type=int, default=0, help="prompt order and weight seed (default 0)")
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # A random model puts almost no probability on the option letters; the backend's warning
    # about it is expected here.
    logging.getLogger("socialbias.backends.hf").setLevel(logging.ERROR)
    import torch
    import tokenizers
    import transformers

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda asked for, but torch sees no CUDA GPU")
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    on_gpu = device.type == "cuda"
    dtype_name = (args.dtype or ("bfloat16" if on_gpu else "float32")).lower()
    dtype = {"bfloat16": torch.bfloat16, "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16,
             "float32": torch.float32, "fp32": torch.float32}.get(dtype_name)
    if dtype is None:
        raise SystemExit(f"--dtype {args.dtype}: use bfloat16, float16 or float32")
    shapes = _split(args.shape or (["1b,8b"] if on_gpu else ["tiny"]), list(SHAPES), "shape")
    methods = _split(args.methods or [",".join(METHODS)], METHODS, "method")
    if args.prompts < 1 or args.generate_prompts < 1:
        raise SystemExit("--prompts and --generate-prompts must be positive")

    t0 = time.perf_counter()
    grid = build_prompts(args.bbq_dir, args.seed)
    if args.prompts > len(grid):
        raise SystemExit(f"--prompts {args.prompts}: the {CATEGORY} grid has {len(grid)} prompts")
    tokenizer = build_tokenizer(args.bbq_dir, args.tokenizer_vocab)
    prep_s = time.perf_counter() - t0

    peak = measure_peak(device, dtype, args.peak_size or (8192 if on_gpu else 1024))
    env = {
        "device": torch.cuda.get_device_name(device) if on_gpu else (platform.processor() or platform.machine()),
        "device_type": device.type, "dtype": str(dtype).removeprefix("torch."), "cpu_threads": torch.get_num_threads(),
        "torch": torch.__version__, "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
        "cuda": torch.version.cuda, "python": platform.python_version(),
        "peak_tflops": peak["flops_per_s"] / 1e12, "peak": peak, "prep_s": prep_s,
        "grid_prompts": len(grid), "seed": args.seed, "tokenizer_vocab": len(tokenizer),
    }
    print(f"# device {env['device']} ({device}, {env['dtype']}), torch {torch.__version__}, "
          f"transformers {transformers.__version__}; measured {peak['dtype']} matmul peak "
          f"{env['peak_tflops']:.2f} TFLOP/s ({peak['size']}^3)", flush=True)

    results: list[Result] = []
    shapes_out: dict[str, Any] = {}
    checks_out: dict[str, Any] = {}
    for shape in shapes:
        config = build_config(shape, tokenizer)
        t = {}
        with _timed(device, t):
            model = build_model(config, device, dtype, args.seed)
        counts = parameter_counts(model)
        n_warm = args.warmup_prompts if args.warmup_prompts is not None else (512 if on_gpu else 32)
        w = make_workload(grid, args.prompts, n_warm, tokenizer, args.template)
        lengths = [len(w.ids[w.texts[i]]) for i in w.unique]
        shapes_out[shape] = {
            "config": {k: getattr(config, k) for k in ("hidden_size", "num_hidden_layers", "num_attention_heads",
                                                     "num_key_value_heads", "head_dim", "intermediate_size",
                                                     "vocab_size", "tie_word_embeddings")},
            "parameters": counts, "build_s": t["wall_s"], "template": w.template.as_dict(),
            "tokens_per_prompt": {"mean": sum(lengths) / len(lengths), "min": min(lengths), "max": max(lengths)},
            "llama3_tokens_per_prompt_estimate": llama3_estimate(tokenizer, [w.texts[i] for i in w.unique]),
        }
        est = shapes_out[shape]["llama3_tokens_per_prompt_estimate"]
        print(f"# {shape}: {counts['non_embedding'] / 1e9:.3f}B non-embedding params "
              f"({counts['total'] / 1e9:.3f}B total), built in {t['wall_s']:.1f}s; "
              f"{shapes_out[shape]['tokens_per_prompt']['mean']:.1f} tokens/prompt "
              f"(Llama 3 estimate {est['pretokens']:.0f}-{est['chars_div_4']:.0f})", flush=True)
        checks: dict[str, Any] = {"n_nonemb": counts["non_embedding"], "peak": peak["flops_per_s"]}
        for method in methods:
            try:
                r = RUNNERS[method](model, tokenizer, config, w, args, device, shape, checks)
            except Exception as e:  # an OOM in one method must not lose the others (exit status 1)
                traceback.print_exc()
                r = Result(method, shape, error=f"{type(e).__name__}: {(str(e).splitlines() or [''])[0][:200]}")
                if on_gpu:
                    torch.cuda.empty_cache()
            results.append(r)
            if r.error:
                print(f"#   {method}: {r.error}", flush=True)
            else:
                print(f"#   {method}: {r.prompts} prompts in {r.wall_s:.2f}s = {r.prompts_per_s:.1f} prompts/s, "
                      f"MFU {100 * r.mfu:.2f}%", flush=True)
        checks_out[shape] = {k: v for k, v in checks.items() if k not in ("n_nonemb", "peak")}
        del model
        gc.collect()
        if on_gpu:
            torch.cuda.empty_cache()

    print()
    print(markdown_table(results))
    for shape, c in checks_out.items():
        bad = [k for k, v in c.items() if v is False]
        print(f"\nsame prompts ({shape}): {'OK' if not bad else 'MISMATCH ' + ', '.join(bad)} {c}")
    if args.out:
        payload = {"env": env, "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                   "shapes": shapes_out, "same_prompts": checks_out, "results": [asdict(r) for r in results]}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(payload, indent=2, default=str))
    failed = [r for r in results if r.error] or [s for s, c in checks_out.items() if False in c.values()]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
