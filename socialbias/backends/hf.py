"""The transformers backend: a local causal language model answers the prompts.

:class:`HFBackend` loads a model from a hub id, a local directory or a local GGUF file and
answers prompts in one of two modes (chosen when the backend is made, because the mode is part
of its model key):

``logprob``
    one forward pass per prompt, logits of the last position only; the answer is the next-token
    distribution over the option letters (:func:`letter_probabilities`). Every single token of
    the vocabulary that reads as the bare letter (``"A"``, ``" A"``, ``"▁A"``, ``"\\nA"``, ...:
    :func:`letter_tokens`) counts as that letter; the variants' probabilities are summed, then
    the three letters are renormalised so ``p0 + p1 + p2 = 1``; ``choice`` is the argmax (the
    first on a tie) and ``parse`` is ``"logprob"``. How much probability the letters had
    before renormalising (the *letter mass*) tells whether the model answers with a letter at
    all; it is summarised by :meth:`HFBackend.letter_mass` and in :meth:`HFBackend.describe`,
    and a low mean is logged as a warning.
``generate``
    greedy (``temperature == 0``) or sampled text (:class:`~socialbias.backends.base.Decoding`),
    then the ``strict`` or ``paper`` parser (:mod:`socialbias.answers`) on the continuation;
    ``parse`` is e.g. ``"strict:letter"``. Sampling draws Gumbel noise from a generator seeded by
    ``(seed, prompt_id, step)``, so a prompt's sample does not depend on which other prompts
    share its batch: a resumed run gives the answers an uninterrupted one would have given.

Batching. Prompts are taken in windows (``window``), rendered (:mod:`.render`), tokenized,
sorted longest first and cut into batches whose *padded* size (rows x longest prompt, plus the
new tokens in generate mode) stays within ``max_batch_tokens``. Batches are left-padded with an
attention mask and explicit position ids, so each answer is the same (up to float rounding)
whatever the batch it was in. Answers are yielded as each batch completes. Deterministic modes
(logprob, greedy) compute identical prompt texts once per window: the default persona's five
runs are one prompt (see :mod:`socialbias.expand`, ``sample``).

Loading (device, dtype, where the model is, GGUF files parsed once) lives in :mod:`.hf_load`.

torch and transformers are imported only when a backend is made, never when this module is.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..answers import LETTERS, get_parser
from ..errors import InputError
from .adapters import Adapter, PeftVariants, adapter_key, attach_peft, parse_adapters
from .base import (Answer, Decoding, Mode, Prompt, check_decoding, check_mode, chunked, encode_texts, first_line,
                   group_by_text, model_key, prompt_options, seed_of)
from .hf_edit import apply_edit, read_edit
from .hf_load import _load, _locate, _resolve_device, _resolve_dtype
from .hub_access import access_kwargs, offline_if
from .letters import LETTER_SCORING, LOW_LETTER_MASS, LetterMass, LetterScoring
from .render import ChatRenderer, TemplateInfo

if TYPE_CHECKING:  # pragma: no cover
    import torch

logger = logging.getLogger(__name__)

#: Default padded-token budget of one batch, by device type.
DEFAULT_MAX_BATCH_TOKENS = {"cpu": 2048, "cuda": 65536}
#: Version of the per-prompt seeded sampler; part of the model key of sampled runs.
SAMPLER = "gumbel-per-prompt/1"



# --------------------------------------------------------------------------------------------
# option letters
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LetterTokens:
    """The vocabulary's single tokens for each option letter: ``ids[i]`` and ``tokens[i]`` for
    letter ``LETTERS[i]``."""

    ids: tuple[tuple[int, ...], ...]
    tokens: tuple[tuple[str, ...], ...]
    labels: tuple[str, ...] = LETTERS

    def as_dict(self) -> dict[str, list[str]]:
        return {letter: list(toks) for letter, toks in zip(self.labels, self.tokens)}


def letter_tokens(tokenizer: Any, labels: Sequence[str] = LETTERS) -> LetterTokens:
    """Find every single token that decodes to a bare option letter, blanks around it allowed.

    Tokenizers spell a letter at the start of an answer differently: ``"A"`` after a chat
    template's newline, ``" A"`` (byte-level ``"ĠA"``, SentencePiece ``"▁A"``) after
    ``"Answer:"``; some have ``"\\nA"``. All of them are the same answer. Lower-case letters and
    forms like ``"(A"`` are not counted. Special tokens are skipped. Raises :class:`InputError`
    when a letter has no single token (score such a model in generate mode). ``labels``: other
    option labels (N of them, e.g. ``"1".."5"`` for a political instrument), found the same way.
    """
    labels = tuple(labels)
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    found: list[list[tuple[int, str]]] = [[] for _ in labels]
    for token, tid in tokenizer.get_vocab().items():
        if tid in special or len(token) > 16 or not any(letter in token for letter in labels):
            continue
        text = tokenizer.decode([tid]).strip()
        if text in labels:
            found[labels.index(text)].append((tid, token))
    missing = [letter for letter, f in zip(labels, found) if not f]
    if missing:
        raise InputError(
            f"the tokenizer of {getattr(tokenizer, 'name_or_path', '?')} has no single token for option "
            f"letter(s) {', '.join(missing)}: logprob mode cannot score it; use --mode generate"
        )
    found = [sorted(f) for f in found]
    return LetterTokens(tuple(tuple(t for t, _ in f) for f in found), tuple(tuple(s for _, s in f) for f in found), labels)


def letter_probabilities(logits: torch.Tensor, letters: LetterTokens) -> tuple[torch.Tensor, torch.Tensor]:
    """Option probabilities and letter mass from next-token logits (``rows x vocab``).

    Per letter, the log of the summed probability of its variants (a log-sum-exp, so nothing
    underflows); then a softmax over the three letters. Returns ``(probs rows x 3, mass rows)``
    in float64, where ``mass`` is the total probability of all letter tokens before the
    renormalisation.
    """
    import torch

    logp = torch.log_softmax(logits.float(), dim=-1)
    per_letter = torch.stack(
        [torch.logsumexp(logp[:, torch.tensor(ids, device=logp.device)], dim=-1) for ids in letters.ids], dim=-1
    ).double()
    return torch.softmax(per_letter, dim=-1), torch.logsumexp(per_letter, dim=-1).exp()


# --------------------------------------------------------------------------------------------
# batching
# --------------------------------------------------------------------------------------------


def plan_batches(lengths: Sequence[int], max_batch_tokens: int, extra_tokens: int = 0) -> list[list[int]]:
    """Cut sequences into batches by a padded-token budget; returns lists of indices.

    Sequences are sorted longest first (ties by index, so the plan is deterministic), and a
    batch grows while ``rows x (its longest length + extra_tokens)`` stays within
    ``max_batch_tokens``; a sequence longer than the budget gets a batch of its own. Longest
    first also means an out-of-memory error shows in the first batch, not after hours.
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    width = 0
    for i in order:
        w = max(width, lengths[i] + extra_tokens)
        if current and (len(current) + 1) * w > max_batch_tokens:
            batches.append(current)
            current, w = [], lengths[i] + extra_tokens
        current.append(i)
        width = w
    if current:
        batches.append(current)
    return batches


# --------------------------------------------------------------------------------------------
# the backend
# --------------------------------------------------------------------------------------------


class HFBackend(PeftVariants, LetterScoring):
    """A transformers causal language model as a :class:`~socialbias.backends.base.Backend`.

    Args:
        model: a hub id (``"org/name"``), a local model directory, or a local ``.gguf`` file.
        mode: ``"logprob"`` or ``"generate"`` (see the module docstring); part of :attr:`key`.
        revision: hub revision (branch, tag or commit).
        dtype: ``"bfloat16"``, ``"float16"``, ``"float32"`` (or ``bf16``/``fp16``/``fp32``), ``"auto"``
            (the checkpoint's), or None: bfloat16 on CUDA (float16 where bf16 is unsupported),
            float32 on CPU.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...; None: CUDA when available.
        template: how messages become text: ``"auto"``, ``"chat"``, ``"plain"`` or a Jinja file
            (:mod:`socialbias.backends.render`).
        gguf_file: the GGUF file name inside the directory ``model`` (or give the file as ``model``).
        decoding: generate mode's settings (temperature 0 = greedy); ignored in logprob mode.
        parser: generate mode's text parser, ``"strict"`` or ``"paper"``.
        max_batch_tokens: padded tokens per batch; None: 65536 on CUDA, 2048 on CPU (small batches: on a
            CPU the throughput barely depends on the batch, and answers, progress and ETA come every few prompts).
        window: prompts sorted and batched together (bounds memory and the wait for the first answers).
        attn_implementation: passed to ``from_pretrained``; ``"sdpa"`` falls back to the default
            when the architecture has no SDPA attention.
        model_kwargs: more ``from_pretrained`` arguments (e.g. ``trust_remote_code``,
            ``quantization_config``); recorded in the key since they may change the answers.
        lora: PEFT LoRA adapters to measure beside the base model, ``{name: path}`` or
            ``[(name, path), ...]``; loaded once with peft; :meth:`variants` lists the base model
            and each adapter as backends sharing the weights, each with its own :attr:`key`
            (as :class:`~socialbias.backends.vllm.VLLMBackend` does).
        edit: a saved representation edit (:mod:`socialbias.edit`; read and hooked by :mod:`.hf_edit`)
            applied to every answer through forward hooks; its SHA-256 is part of :attr:`key`.

    Raises :class:`InputError` (one line: the model, the reason, the fix) when the model cannot
    be loaded.
    """

    def __init__(
        self,
        model: str | Path,
        *,
        mode: Mode = "logprob",
        revision: str | None = None,
        dtype: str | Any | None = None,
        device: str | None = None,
        template: str = "auto",
        gguf_file: str | None = None,
        decoding: Decoding | None = None,
        parser: str = "strict",
        max_batch_tokens: int | None = None,
        window: int = 4096,
        attn_implementation: str | None = "sdpa",
        model_kwargs: dict[str, Any] | None = None,
        lora: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None,
        labels: Sequence[str] | None = None,
        edit: str | Path | None = None,
    ) -> None:
        self.mode: Mode = check_mode(mode)
        #: option labels scored in logprob mode; None: BBQ's A/B/C (answers are store Answers).
        #: Given (e.g. "1".."5"), logprob answers are OptionAnswers with one probability per label.
        self.labels = tuple(labels) if labels is not None else None
        self.decoding = check_decoding(decoding or Decoding(), backend="hf")
        self.parser = parser
        self._parse = get_parser(parser)
        if window < 1:
            raise InputError(f"window={window!r}: expected a positive number of prompts")
        self.window = int(window)
        self.revision = revision
        self.model_kwargs = dict(model_kwargs or {})

        try:
            import torch  # noqa: F401
            import transformers  # noqa: F401
        except ImportError as e:
            raise InputError(f"the hf backend needs torch and transformers ({first_line(e)}): "
                             "pip install 'socialbias[hf]'") from None

        self.device = _resolve_device(device)
        if max_batch_tokens is None:
            max_batch_tokens = DEFAULT_MAX_BATCH_TOKENS["cuda" if self.device.type == "cuda" else "cpu"]
        if max_batch_tokens < 1:
            raise InputError(f"max_batch_tokens={max_batch_tokens!r}: expected a positive number of tokens")
        self.max_batch_tokens = int(max_batch_tokens)

        self.model_name, source, self.gguf_file = _locate(model, gguf_file)
        self._adapters: dict[str, Adapter] = {a.name: a for a in parse_adapters(lora)}
        self.edit_path, self._edit = read_edit(edit)
        self.adapter: str | None = None
        # A local model never touches the network; an unreachable, uncached hub id fails at once.
        access = access_kwargs(source, {**self.model_kwargs, "revision": revision})
        with offline_if(bool(access)):
            self.tokenizer, self.model = _load(
                self.model_name, source, revision=revision, gguf_file=self.gguf_file,
                dtype=_resolve_dtype(dtype, self.device), device=self.device,
                attn_implementation=attn_implementation, model_kwargs={**self.model_kwargs, **access},
            )
        self.dtype = str(self.model.dtype).removeprefix("torch.")
        self.renderer = ChatRenderer(self.tokenizer, template)
        self.template_info: TemplateInfo = self.renderer.info
        self.letters: LetterTokens | None = (
            letter_tokens(self.tokenizer, self.labels or LETTERS) if mode == "logprob" else None)

        tok = self.tokenizer
        eos = getattr(self.model.generation_config, "eos_token_id", None)
        if eos is None:
            eos = tok.eos_token_id
        self._eos_ids: list[int] = [e for e in (eos if isinstance(eos, (list, tuple)) else [eos]) if e is not None]
        self._pad_id: int = next(i for i in (tok.pad_token_id, *self._eos_ids, 0) if i is not None)
        self._max_len = getattr(self.model.config, "max_position_embeddings", None)
        self._keep_kwarg = _logits_to_keep_kwarg(self.model)
        if self._edit is not None:
            apply_edit(self.model, self._edit)  # hooks on the base modules: they stay under peft
        if self._adapters:
            self.model = attach_peft(self.model, list(self._adapters.values()))
        self._mass = LetterMass()
        self.key = model_key("hf", self.model_name, **self._key_settings())

    # -- identity -------------------------------------------------------------------------------

    def _key_settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = {
            "mode": self.mode, "revision": self.revision, "dtype": self.dtype, "gguf_file": self.gguf_file,
            "template": self.template_info.key, "model_kwargs": self.model_kwargs or None,
        }
        if self.adapter is not None:
            settings["adapter"] = adapter_key(self._adapters[self.adapter])
        if self._edit is not None:
            settings["edit"] = self._edit.meta["sha256"]
        return {**settings, **self._mode_key()}

    def _decoding_settings(self) -> dict[str, Any]:
        """The decoding settings that change generated text (greedy ignores seed and top_p)."""
        d = self.decoding
        if d.temperature == 0:
            return {"temperature": 0.0, "max_tokens": d.max_tokens}
        return {"temperature": d.temperature, "top_p": d.top_p, "max_tokens": d.max_tokens, "seed": d.seed,
                "sampler": SAMPLER}

    def describe(self) -> dict[str, Any]:
        """What a run record needs to say about this backend (model, engine versions, settings)."""
        import tokenizers
        import torch
        import transformers

        out: dict[str, Any] = {
            "backend": "hf", "key": self.key, "model": self.model_name, "revision": self.revision,
            "commit": getattr(self.model.config, "_commit_hash", None), "gguf_file": self.gguf_file,
            "dtype": self.dtype, "device": str(self.device),
            "attn_implementation": getattr(self.model.config, "_attn_implementation", None),
            "mode": self.mode, "template": self.template_info.as_dict(), "max_batch_tokens": self.max_batch_tokens,
            "model_kwargs": {k: repr(v) for k, v in self.model_kwargs.items()},
            "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                         "tokenizers": tokenizers.__version__},
        }
        out.update(self._mode_record())
        if self._edit is not None:
            out["edit"] = {"path": self.edit_path, **self._edit.meta}
        if self._adapters:
            import peft

            out["versions"]["peft"] = peft.__version__
            out["adapters"] = [a.as_dict() for a in self._adapters.values()]
            out["adapter"] = self.adapter
        return out

    # -- answering ------------------------------------------------------------------------------

    def answer(self, prompts: Iterable[Prompt], mode: Mode | None = None) -> Iterator[Answer]:
        """Answer every prompt once, streaming answers as batches complete (in batch order, not
        input order). ``mode`` must be the backend's own (or None): the mode is part of :attr:`key`."""
        if mode is not None and mode != self.mode:
            raise InputError(
                f"this backend was made for mode {self.mode!r} (its model key says so); "
                f"make another one with HFBackend(..., mode={mode!r})")
        return self._answer(prompts)

    def _answer(self, prompts: Iterable[Prompt]) -> Iterator[Answer]:
        deterministic = self.mode == "logprob" or self.decoding.temperature == 0
        for window in chunked(prompts, self.window):
            texts, owners = group_by_text(window, self._render, deterministic=deterministic)
            ids = self._encode(texts, owners)
            extra = self.decoding.max_tokens if self.mode == "generate" else 0
            for batch in plan_batches([len(x) for x in ids], self.max_batch_tokens, extra):
                start = time.perf_counter()
                with self._scope():
                    if self.mode == "logprob":
                        results = self._score([ids[i] for i in batch])
                    else:
                        results = self._generate([ids[i] for i in batch], [owners[i][0].prompt_id for i in batch])
                answered = [(owners[i], r) for i, r in zip(batch, results)]
                latency = (time.perf_counter() - start) / sum(len(o) for o, _ in answered)
                for group, result in answered:
                    for p in group:
                        yield self._make_answer(p, result, latency)
        self._check_mass()

    def _render(self, prompt: Prompt) -> str:
        return self.renderer.render(prompt.messages, prompt.prompt_id)

    def _make_answer(self, prompt: Prompt, result: Any, latency: float) -> Answer:
        if self.mode == "logprob" and self.labels is not None:
            from ..store_options import OptionAnswer

            choice = max(range(len(result)), key=result.__getitem__)
            return OptionAnswer(prompt.prompt_id, self.key, choice, tuple(result), parse="logprob", latency=latency)
        if self.mode == "logprob":
            probs = result
            choice = max(range(3), key=probs.__getitem__)
            return Answer(prompt.prompt_id, self.key, choice, *probs, text="", parse="logprob", latency=latency)
        choice, how = self._parse(result, prompt_options(prompt))
        return Answer(prompt.prompt_id, self.key, choice, text=result, parse=how, latency=latency)

    def _encode(self, texts: list[str], owners: list[list[Prompt]]) -> list[list[int]]:
        """Token ids of rendered texts (:func:`~socialbias.backends.base.encode_texts`: BOS unless the
        template wrote it, no trailing EOS), each checked to be non-empty and to fit the context."""
        out = encode_texts(self.tokenizer, texts)
        for i, ids in enumerate(out):
            if not ids:
                raise InputError(f"prompt {owners[i][0].prompt_id} renders to no tokens: check its messages")
            limit = self._max_len
            if limit and len(ids) + (self.decoding.max_tokens if self.mode == "generate" else 0) > limit:
                raise InputError(
                    f"prompt {owners[i][0].prompt_id} has {len(ids)} tokens, more than {self.model_name} "
                    f"takes ({limit}): shorten the persona instruction or use a model with a longer context")
        return out

    def _pad(self, seqs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Left-padded input ids and attention mask on the model's device."""
        import torch

        width = max(len(s) for s in seqs)
        input_ids = torch.full((len(seqs), width), self._pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for row, s in enumerate(seqs):
            input_ids[row, width - len(s):] = torch.tensor(s, dtype=torch.long)
            mask[row, width - len(s):] = 1
        return input_ids.to(self.device), mask.to(self.device)

    def _score(self, seqs: list[list[int]]) -> list[tuple[float, float, float]]:
        """Option probabilities of a batch: one forward pass, last position only."""
        import torch

        input_ids, mask = self._pad(seqs)
        position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
        kwargs = {self._keep_kwarg: 1} if self._keep_kwarg else {}
        with torch.inference_mode():
            logits = self.model(input_ids=input_ids, attention_mask=mask, position_ids=position_ids,
                                use_cache=False, **kwargs).logits[:, -1, :]
            probs, mass = letter_probabilities(logits, self.letters)
        self._mass.add(mass.tolist())
        return [tuple(row) for row in probs.tolist()]

    def _generate(self, seqs: list[list[int]], prompt_ids: list[str]) -> list[str]:
        """Generated continuations of a batch (greedy, or per-prompt seeded sampling)."""
        import torch
        from transformers import GenerationConfig, LogitsProcessorList

        input_ids, mask = self._pad(seqs)
        d = self.decoding
        config = GenerationConfig(
            max_new_tokens=d.max_tokens, do_sample=False, num_beams=1, pad_token_id=self._pad_id,
            eos_token_id=self._eos_ids or None,
        )
        processors = LogitsProcessorList()
        if d.temperature > 0:
            processors.append(_seeded_sampler(d, prompt_ids, input_ids.shape[1]))
        with torch.inference_mode():
            out = self.model.generate(input_ids=input_ids, attention_mask=mask, generation_config=config,
                                      logits_processor=processors)
        texts = []
        for row in out[:, input_ids.shape[1]:].tolist():
            cut = next((j for j, t in enumerate(row) if t in self._eos_ids), len(row))
            texts.append(self.tokenizer.decode(row[:cut], skip_special_tokens=True))
        return texts


def _logits_to_keep_kwarg(model: Any) -> str | None:
    """The forward argument that limits logits to the last positions, if the model has one."""
    import inspect

    params = inspect.signature(model.forward).parameters
    return next((k for k in ("logits_to_keep", "num_logits_to_keep") if k in params), None)


def _seeded_sampler(decoding: Decoding, prompt_ids: Sequence[str], prompt_width: int) -> Any:
    """A logits processor that turns greedy search into per-prompt seeded sampling.

    Temperature and top-p are applied, then Gumbel noise drawn from a CPU generator seeded by
    ``(seed, prompt_id, step)`` is added; the argmax (greedy search) is then a sample from the
    top-p distribution (the Gumbel-max trick), reproducible and independent of the batch.
    """
    import torch
    from transformers import LogitsProcessor, TemperatureLogitsWarper, TopPLogitsWarper

    warpers = [TemperatureLogitsWarper(decoding.temperature)]
    if decoding.top_p < 1:
        warpers.append(TopPLogitsWarper(decoding.top_p))

    class SeededGumbel(LogitsProcessor):
        def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
            step = input_ids.shape[1] - prompt_width
            scores = scores.float()
            for w in warpers:
                scores = w(input_ids, scores)
            noise = torch.empty(scores.shape, dtype=torch.float32)
            for row, pid in enumerate(prompt_ids):
                gen = torch.Generator().manual_seed(seed_of(decoding.seed, pid, step))
                noise[row].uniform_(1e-10, 1.0, generator=gen)
            gumbel = -torch.log(-torch.log(noise))
            return scores + gumbel.to(scores.device)

    return SeededGumbel()


__all__ = [
    "DEFAULT_MAX_BATCH_TOKENS",
    "HFBackend",
    "LETTER_SCORING",
    "LOW_LETTER_MASS",
    "LetterTokens",
    "letter_probabilities",
    "letter_tokens",
    "plan_batches",
]


def from_config(config: Any, prompts: Any = None, items: Any = None, personas: Any = None) -> HFBackend:
    """The registry's factory (:mod:`socialbias.backends.registry`): an :class:`HFBackend` for a run configuration."""
    from .base import decoding_from_config, parse_lora

    return HFBackend(
        config.model, mode=config.mode, revision=config.revision, dtype=config.dtype, device=config.device,
        template=config.template, gguf_file=config.gguf_file, decoding=decoding_from_config(config),
        parser=config.parser, max_batch_tokens=config.max_batch_tokens, lora=parse_lora(config.lora),
        edit=getattr(config, "edit", None),
    )
