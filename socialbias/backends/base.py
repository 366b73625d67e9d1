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
from typing import Any, Iterable, Iterator, Literal, Protocol, Sequence, runtime_checkable

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


# The options block of PROTOCOL.md section 2 (socialbias.expand.OPTIONS_TEMPLATE), in a split or merged prompt.
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


__all__ = ["Answer", "Backend", "Decoding", "MODES", "Mode", "Prompt", "model_key", "prompt_options", "prompts_from_table"]
