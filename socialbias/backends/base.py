"""The one small interface every inference engine implements.

A backend turns prompts (chat messages with a stable id) into :class:`~socialbias.store.Answer`
records, streaming them so the runner can commit them to the store as they arrive::

    class Backend(Protocol):
        key: str                      # the model_key of its answers
        def answer(self, prompts, mode) -> Iterator[Answer]: ...

``mode`` is ``"logprob"`` (one forward pass; the probabilities of the option letters A/B/C as
the first answer token; choice = argmax; p0..p2 stored) or ``"generate"`` (text, then a parser).

``key`` names everything that changes the answers: backend, model, revision, dtype, template,
and decoding settings (:func:`model_key`). Answers of different keys never mix in the store.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Collection, Iterable, Iterator, Literal, Protocol, Sequence, runtime_checkable

from ..errors import InputError
from ..store import Answer

Mode = Literal["logprob", "generate"]
MODES: tuple[str, ...] = ("logprob", "generate")


@dataclass(frozen=True)
class Prompt:
    """What a backend needs of one row of the prompts table."""

    prompt_id: str
    messages: Sequence[dict[str, str]]
    sample: int = 0


@dataclass(frozen=True)
class Decoding:
    """Decoding settings of generate mode (recorded in the model key and the run record)."""

    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 16
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "top_p": self.top_p, "max_tokens": self.max_tokens, "seed": self.seed, **self.extra}


@runtime_checkable
class Backend(Protocol):
    """An inference engine (see the module docstring)."""

    key: str

    def answer(self, prompts: Iterable[Prompt], mode: Mode) -> Iterator[Answer]: ...


def model_key(backend: str, model: str, **settings: Any) -> str:
    """A readable, stable model key: ``backend:model`` plus a short hash of the settings.

    ``settings`` (revision, dtype, template, mode, decoding, adapter, ...) are hashed as
    sorted JSON, so the key does not depend on argument order.
    """
    clean = {k: v for k, v in sorted(settings.items()) if v is not None}
    digest = hashlib.sha256(json.dumps(clean, sort_keys=True, default=str).encode()).hexdigest()[:10]
    return f"{backend}:{model}:{digest}"


# The options block of docs/method.md section 2 (socialbias.expand.OPTIONS_TEMPLATE), in a split or merged prompt.
_OPTIONS_BLOCK = re.compile(r"^\(A\): (.*)\n\(B\): (.*)\n\(C\): (.*)$", re.MULTILINE)


def prompt_options(prompt: Prompt) -> tuple[str, ...]:
    """The three option texts of a prompt, read back from its ``(A): ...`` user message.

    Text parsers need the options (``strict`` and ``paper`` match option texts); a backend has
    only the messages, so the options are recovered from the block that
    :data:`socialbias.expand.OPTIONS_TEMPLATE` wrote (split or merged prompts). Returns ``()``
    when the messages hold no such block: the parsers then read letters only.
    """
    for m in prompt.messages:
        if m.get("role") == "user":
            found = _OPTIONS_BLOCK.search(m.get("content") or "")
            if found:
                return found.group(1), found.group(2), found.group(3)
    return ()


def prompts_from_table(table) -> list[Prompt]:
    """The :class:`Prompt` records of a prompts table (columns prompt_id, messages, sample)."""
    samples = table["sample"] if "sample" in table.columns else [0] * len(table)
    return [Prompt(p, m, int(s)) for p, m, s in zip(table["prompt_id"], table["messages"], samples)]


# --------------------------------------------------------------------------------------------
# helpers shared by the backends (plain Python: nothing heavy is imported here)
# --------------------------------------------------------------------------------------------


def check_mode(mode: Any) -> Mode:
    """``mode`` itself if it is one of :data:`MODES`; otherwise an :class:`InputError` naming them."""
    if mode not in MODES:
        raise InputError(f"unknown mode {mode!r}: use 'logprob' or 'generate'")
    return mode


def check_decoding(decoding: Decoding, *, backend: str, extras: Collection[str] = ()) -> Decoding:
    """``decoding`` itself if a backend can use it; otherwise an :class:`InputError` (one line).

    Checks ``temperature >= 0`` (0 = greedy), ``0 < top_p <= 1`` and ``max_tokens >= 1``, and that
    every key of ``decoding.extra`` is one of ``extras``, the extra settings ``backend`` (its
    name, for the message) passes on to its engine.
    """
    d = decoding
    if not (isinstance(d.temperature, (int, float)) and d.temperature >= 0):
        raise InputError(f"temperature={d.temperature!r}: expected a number >= 0 (0 = greedy)")
    if not (isinstance(d.top_p, (int, float)) and 0 < d.top_p <= 1):
        raise InputError(f"top_p={d.top_p!r}: expected a number in (0, 1]")
    if not (isinstance(d.max_tokens, int) and d.max_tokens >= 1):
        raise InputError(f"max_tokens={d.max_tokens!r}: expected a positive integer")
    unknown = sorted(set(d.extra) - set(extras))
    if unknown:
        takes = (f"temperature, top_p, max_tokens, seed and {', '.join(sorted(extras))}" if extras
                 else "temperature, top_p, max_tokens and seed")
        raise InputError(
            f"the {backend} backend does not support decoding setting(s) {', '.join(unknown)}: it takes {takes}")
    return d


def chunked(prompts: Iterable[Prompt], size: int) -> Iterator[list[Prompt]]:
    """The prompts in lists of ``size`` (the last one may be shorter), read lazily: a backend
    sorts, batches and answers one list before it reads the next."""
    chunk: list[Prompt] = []
    for p in prompts:
        chunk.append(p)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def group_by_text(prompts: Iterable[Prompt], render: Callable[[Prompt], str], *,
                  deterministic: bool) -> tuple[list[str], list[list[Prompt]]]:
    """The texts to compute and, for each, the prompts that get its answer: ``(texts, owners)``.

    ``render`` turns a prompt into its text. In a deterministic mode (logprob, greedy) prompts
    that render to the same text share one entry, computed once (the default persona's runs
    are one prompt); otherwise every prompt has its own (sampled answers differ). Entries are
    in order of first appearance.
    """
    texts: list[str] = []
    owners: list[list[Prompt]] = []
    index: dict[str, int] = {}
    for p in prompts:
        text = render(p)
        at = index.get(text) if deterministic else None
        if at is None:
            index[text] = len(texts)
            texts.append(text)
            owners.append([p])
        else:
            owners[at].append(p)
    return texts, owners


def encode_texts(tokenizer: Any, texts: Sequence[str]) -> list[list[int]]:
    """Token ids of rendered prompt texts, by the one rule every local backend follows.

    Special tokens (BOS) are added unless the text already starts with BOS (chat templates
    usually write it); a trailing EOS that the tokenizer adds by itself is dropped, since the
    model must continue the prompt. ``tokenizer`` is a transformers tokenizer (called on a list
    of texts, returning ``input_ids``).
    """
    bos = getattr(tokenizer, "bos_token", None)
    eos_id = getattr(tokenizer, "eos_token_id", None)
    out: list[list[int]] = [[] for _ in texts]
    for add_special in (True, False):
        sel = [i for i, t in enumerate(texts) if (not (bos and t.startswith(bos))) == add_special]
        if not sel:
            continue
        enc = tokenizer([texts[i] for i in sel], add_special_tokens=add_special)["input_ids"]
        for i, ids in zip(sel, enc):
            if add_special and ids and eos_id is not None and ids[-1] == eos_id and len(ids) > 1:
                ids = ids[:-1]
            out[i] = list(ids)
    return out


def seed_of(*parts: Any) -> int:
    """A 63-bit seed from its parts (stable across processes, unlike ``hash``): the first 8 bytes
    of the SHA-256 of their ``str`` forms joined by ``\\x1f``, shifted right by one bit."""
    return int.from_bytes(hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()[:8], "big") >> 1


def first_line(exc: BaseException) -> str:
    """The first non-blank line of an exception's message (its type name when the message is
    blank), cut to 300 characters and stripped of trailing ``.:;`` and blanks: the reason part
    of a one-line error."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return (lines[0] if lines else type(exc).__name__)[:300].rstrip(".:; ")


def looks_like_path(model: str) -> bool:
    """Whether a model argument (that does not exist locally) was meant as a local path rather
    than a hub id: it starts with ``/``, ``./``, ``../`` or ``~``, or has more than one ``/``
    (a hub id is ``org/name``)."""
    return model.startswith(("/", "./", "../", "~")) or model.count("/") > 1


__all__ = [
    "Answer", "Backend", "Decoding", "MODES", "Mode", "Prompt", "check_decoding", "check_mode", "chunked",
    "encode_texts", "first_line", "group_by_text", "looks_like_path", "model_key", "prompt_options",
    "prompts_from_table", "seed_of",
]


def decoding_from_config(config: Any) -> Decoding:
    """The decoding settings of a run configuration (every backend's ``from_config`` uses it)."""
    return Decoding(temperature=config.temperature, top_p=config.top_p, max_tokens=config.max_tokens, seed=config.seed)


def parse_lora(specs: Sequence[str] | None) -> dict[str, str] | None:
    """``["name=path", ...]`` (the ``--lora`` flags) -> ``{name: path}``; ``None`` when there are none."""
    if not specs:
        return None
    out = {}
    for spec in specs:
        name, sep, path = str(spec).partition("=")
        if not sep or not name or not path:
            raise InputError(f"--lora {spec!r}: write NAME=PATH (a PEFT LoRA adapter directory)")
        out[name] = path
    return out
