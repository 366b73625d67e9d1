"""What a rerun keeps from the sessions before it: answers without the model, letter mass, warnings.

A run directory's ``run.json`` records each session. This module lets a rerun use that record:

- :func:`stored_backends`: when the previous session ran the same model with the same answering
  settings (and a local model or responses file is unchanged on disk) and the store already
  holds an answer for every prompt of the study, the study is scored from the store with
  :class:`StoredAnswers` stand-ins that carry the previous model keys: the model is never
  loaded (a complete rerun of the demo takes seconds instead of minutes).
- :func:`merge_letter_mass`: the letter mass of logprob answers, pooled over the sessions of
  the same model key (a rerun that asks nothing keeps the measured value instead of NaN).
- :func:`run_warnings`: the warnings of a run (low letter mass, and what the engines warned
  about), kept in ``run.json`` and shown at the top of the report; they survive reruns.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from .backends.letters import LOW_LETTER_MASS

#: Settings that do not change which model answers or how: the grid (prompt ids cover it: a new
#: prompt is simply missing from the store), scoring, output and execution. Every other field of
#: the run configuration, including any added later, must be equal for a rerun to skip loading.
NOT_ANSWERING = frozenset({
    "dataset", "bbq_dir", "dataset_options", "prompt_language", "categories", "personas", "placebo_personas",
    "instructions",
    "instruction_file", "limit", "limit_from", "messages", "option_orders", "w", "v", "n_boot", "ci", "bootstrap_seed",
    "tb_threshold", "bamt_threshold", "bamt_fraction",
    "resample", "include_excluded", "out", "report", "quiet", "figures", "executor", "ray_address", "ray_concurrency",
    "ray_num_gpus", "ray_batch_size", "concurrency", "max_batch_tokens", "api_key_env", "api_key_file",
})


class StoredAnswers:
    """Stands in for a backend whose every answer is already in the store: it has the previous
    session's model key and description, and never answers (nothing is missing)."""

    deterministic = True

    def __init__(self, variant: Mapping[str, Any]) -> None:
        self.key = str(variant["model_key"])
        self.model_name = str(variant.get("model") or self.key)
        self.adapter = None
        self._description = dict(variant.get("backend") or {"key": self.key})
        self._description["loaded"] = False

    def describe(self) -> dict[str, Any]:
        return dict(self._description)

    def answer(self, prompts: Any, mode: Any = None) -> Iterator[Any]:
        raise RuntimeError(f"{self.key}: every answer was expected in the store, but a prompt is missing")


def model_fingerprint(config: Any) -> str:
    """A digest of the size and modification time of the local files a run reads its answers
    from (the model file or directory, a replay file); hub ids add nothing (their revision is in
    the config). A digest, not the file list: run.json drops entries named like a secret
    (``tokenizer.json``)."""
    out: dict[str, Any] = {}
    for name in ("model", "responses"):
        value = getattr(config, name, None)
        if not value:
            continue
        path = Path(str(value)).expanduser()
        if path.is_file():
            files = [path]
        elif path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in
                           (".gguf", ".safetensors", ".json", ".model", ".bin", ".txt", ".jinja"))
        else:
            continue
        out[name] = {str(p.name): [p.stat().st_size, p.stat().st_mtime_ns] for p in files}
    return hashlib.sha256(json.dumps(out, sort_keys=True).encode()).hexdigest()[:16]


def stored_backends(config: Any, previous: Mapping[str, Any] | None, prompts: pd.DataFrame,
                    store: Any) -> list[StoredAnswers] | None:
    """Stand-ins for the previous session's backends when they need not be loaded, else None.

    True when ``previous`` (the run.json of the directory) ran the same answering settings on
    unchanged local files, and the store holds every prompt of ``prompts`` for each of its
    model keys (its variants: the base model and each adapter)."""
    if not previous or not isinstance(previous.get("config"), Mapping):
        return None
    before, now = previous["config"], config.public()
    keys = (set(before) | set(now)) - NOT_ANSWERING
    if any(before.get(k) != now.get(k) for k in keys):
        return None
    if previous.get("model_fingerprint") != model_fingerprint(config):
        return None
    variants = previous.get("variants")
    if not variants or not all(isinstance(v, Mapping) and v.get("model_key") for v in variants):
        return None
    unique = prompts.drop_duplicates("prompt_id")
    if any(len(store.missing(unique, str(v["model_key"]))) for v in variants):
        return None
    return [StoredAnswers(v) for v in variants]


def merge_letter_mass(earlier: Mapping[str, Any] | None, now: Mapping[str, Any] | None) -> dict[str, float] | None:
    """The letter mass of two sessions of one model key, pooled (``n``, ``mean``, ``min``, ``low``)."""
    parts = [m for m in (earlier, now) if isinstance(m, Mapping) and (m.get("n") or 0) > 0]
    if not parts:
        return dict(now) if isinstance(now, Mapping) else (dict(earlier) if isinstance(earlier, Mapping) else None)
    n = sum(int(m["n"]) for m in parts)
    return {"n": n, "mean": sum(m["n"] * m["mean"] for m in parts) / n, "min": min(m["min"] for m in parts),
            "low": sum(m["n"] * m["low"] for m in parts) / n}


def carry_letter_mass(variant: dict[str, Any], previous: Mapping[str, Any] | None) -> None:
    """Pool ``variant``'s letter mass with the previous session's of the same model key (in place)."""
    backend = variant.get("backend")
    if not isinstance(backend, dict) or "letter_mass" not in backend or backend.get("loaded") is False:
        return
    earlier = next((v.get("backend", {}).get("letter_mass") for v in (previous or {}).get("variants", []) or []
                    if isinstance(v, Mapping) and v.get("model_key") == variant.get("model_key")), None)
    backend["letter_mass"] = merge_letter_mass(earlier, backend.get("letter_mass"))


def letter_mass_warning(model: str, mass: Mapping[str, Any] | None) -> str | None:
    """The warning for a low mean letter mass, or None."""
    if not isinstance(mass, Mapping) or not mass.get("n"):
        return None
    mean = float(mass.get("mean", math.nan))
    if not mean < LOW_LETTER_MASS:
        return None
    return (f"{model}: on average only {100 * mean:.1f}% of the next-token probability is on the option "
            f"letters ({int(mass['n']):,} answers): the model rarely answers with a letter, so its logprob "
            "choices are weak evidence; check the template (--template chat or plain) or use --mode generate")


def run_warnings(record: Mapping[str, Any], captured: list[str], previous: Mapping[str, Any] | None) -> list[str]:
    """The run's warnings: low letter mass per variant, what was logged now, and earlier ones kept."""
    out: list[str] = []
    for variant in record.get("variants", []) or []:
        text = letter_mass_warning(str(variant.get("model")), (variant.get("backend") or {}).get("letter_mass"))
        if text:
            out.append(text)
    kept = [w for w in ((previous or {}).get("warnings") or []) if isinstance(w, str) and "option letters" not in w]
    for text in [*captured, *kept]:
        if "option letters" in text:  # the engine's own letter-mass line: the pooled one above replaces it
            continue
        if text not in out:
            out.append(text)
    return out


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a malformed log call must not break the run
            text = str(record.msg)
        if text not in self.messages:
            self.messages.append(text)
        if not logging.getLogger().handlers:  # as logging's last resort would have: still print it
            print(f"warning: {text}", file=sys.stderr)


@contextmanager
def captured_warnings() -> Iterator[list[str]]:
    """Collect the warnings that socialbias's loggers emit inside the block (they still print)."""
    handler = _Collect()
    logger = logging.getLogger("socialbias")
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)


__all__ = ["NOT_ANSWERING", "StoredAnswers", "captured_warnings", "carry_letter_mass", "letter_mass_warning",
           "merge_letter_mass", "model_fingerprint", "run_warnings", "stored_backends"]

