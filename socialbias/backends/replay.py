"""The replay backend: recorded responses (a JSONL file) played back as a model's answers.

Answers obtained elsewhere (another harness, an API batch job, a colleague's run) then flow
through the same store, metrics and report as live ones. The file is our JSONL format
(:mod:`socialbias.recorded`): one object per line with ``category``, ``example_id``,
``persona``, ``instruction``, optionally ``option_order``, and ``response`` (text, parsed with
``parser``) or ``choice``.
A prompt with no recorded line is simply not answered: it stays missing in the store and the
run reports how many.

Each recorded line is its own draw, so the runner never copies one answer over repeated
prompts (``deterministic = False``).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Iterable, Iterator

import pandas as pd

from socialbias.metrics.position import displayed_positions

from ..errors import InputError
from ..recorded import read_jsonl, to_answers
from .base import Answer, Mode, Prompt, model_key


class ReplayBackend:
    """Play back ``path`` for the prompts of ``prompts`` (whose items are in ``items``)."""

    deterministic = False

    def __init__(
        self,
        path: str | os.PathLike[str],
        prompts: pd.DataFrame,
        items: pd.DataFrame,
        *,
        parser: str = "strict",
        model: str | None = None,
        personas: pd.DataFrame | None = None,
        strict: bool = False,
    ) -> None:
        self.path = Path(path)
        recorded, outcome = read_jsonl(self.path, strict=strict, model=model)
        models = sorted(set(recorded["model"]))
        if model is None and len(models) > 1:
            raise InputError(
                f"{self.path} holds answers of several models ({', '.join(models)}): pass --model NAME to replay one"
            )
        if model is not None:
            recorded = recorded[recorded["model"] == model]
        self.model_name = model or models[0]
        self.parser = parser
        answers, self.outcome = to_answers(recorded, items, personas, parser, outcome)
        digest = hashlib.sha256(self.path.read_bytes()).hexdigest()[:16]
        self.key = model_key("replay", self.model_name, file_sha256=digest, parser=parser)
        # (item_id, persona, instruction, option order) -> the recorded answer; joined to the
        # prompts' ids. A prompt shown in another order than any recorded line stays unanswered.
        keyed = answers.set_index(["item_id", "persona", "instruction", "option_order"])
        orders = prompts["option_order"] if "option_order" in prompts.columns else pd.Series("012", index=prompts.index)
        index = pd.MultiIndex.from_arrays(
            [prompts["item_id"], prompts["persona"], prompts["instruction"].astype("int64"), orders]
        )
        found = keyed.reindex(index)
        hit = found["choice"].notna().to_numpy()
        # The store holds the letter as shown: the recorded (original) option's shown position.
        shown = displayed_positions(found["choice"].to_numpy()[hit].astype("int64"), orders.to_numpy()[hit])
        self._by_prompt: dict[str, tuple[int, str]] = {
            pid: (int(c), how)
            for pid, c, how in zip(prompts["prompt_id"].to_numpy()[hit], shown, found["parse"].to_numpy()[hit])
        }
        self.unmatched_prompts = int((~hit).sum())

    def describe(self) -> dict[str, Any]:
        return {
            "backend": "replay",
            "key": self.key,
            "model": self.model_name,
            "file": str(self.path),
            "parser": self.parser,
            "read": self.outcome.as_dict(),
            "prompts_without_recorded_answer": self.unmatched_prompts,
        }

    def answer(self, prompts: Iterable[Prompt], mode: Mode | None = None) -> Iterator[Answer]:
        for prompt in prompts:
            got = self._by_prompt.get(prompt.prompt_id)
            if got is not None:
                yield Answer(prompt.prompt_id, self.key, got[0], parse=got[1])


__all__ = ["ReplayBackend"]


def from_config(config: Any, prompts: Any = None, items: Any = None, personas: Any = None) -> ReplayBackend:
    """The registry's factory (:mod:`socialbias.backends.registry`): recorded answers for the study's prompts."""
    if prompts is None:
        raise InputError("the replay backend reads a local file for the study's prompts: run it with --executor local")
    return ReplayBackend(config.responses, prompts, items, parser=config.parser, model=config.model, personas=personas)
