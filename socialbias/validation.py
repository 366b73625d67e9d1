"""Every setting checked before a model is loaded or a request is sent.

A bad ``--n-boot`` found after every prompt was answered costs real money; so :func:`check_run`
looks at every field of a :class:`~socialbias.pipeline.RunConfig` (its type, its range, the
files it names) and :func:`check_statistics` at the settings ``score`` shares with ``run``.
Each problem is one :class:`~socialbias.errors.InputError` that names the setting and the fix.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from pathlib import Path
from typing import Any

from .errors import InputError

#: The largest instruction index: indices are stored as int16 in the answers table.
MAX_INSTRUCTION = 32767
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_TYPES = {"str": (str,), "int": (int,), "float": (int, float), "bool": (bool,), "list": (list, tuple),
          "dict": (dict,), "None": (type(None),)}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _allowed(annotation: str) -> tuple[type, ...]:
    kinds: list[type] = []
    for part in str(annotation).split("|"):
        base = part.strip().split("[", 1)[0]
        kinds.extend(_TYPES.get(base, (object,)))
    return tuple(kinds)


def check_types(config: Any) -> None:
    """Each field has the type its annotation names (a config file can hold anything)."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        allowed = _allowed(f.type)
        if isinstance(value, os.PathLike) and str in allowed:  # a Path where a path is asked for
            value = os.fspath(value)
            setattr(config, f.name, value)
        ok = isinstance(value, allowed) and not (isinstance(value, bool) and bool not in allowed)
        if not ok:
            raise InputError(f"setting {f.name} = {_short(value)} has the wrong type ({type(value).__name__}): "
                             f"{_flag(f.name)} takes {str(f.type).replace('|', 'or')}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _number(name: str, value: Any, *, low: float | None = None, high: float | None = None,
            low_open: bool = False, high_open: bool = False, integer: bool = False) -> None:
    if value is None:
        return
    bad = isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int))
    if not bad:
        bad = not math.isfinite(value) or (low is not None and (value <= low if low_open else value < low)) or (
            high is not None and (value >= high if high_open else value > high))
    if bad:
        lo = "" if low is None else f"{'>' if low_open else '>='} {low:g}"
        hi = "" if high is None else f"{'<' if high_open else '<='} {high:g}"
        rule = " and ".join(x for x in (lo, hi) if x) or "finite"
        raise InputError(f"{_flag(name)} {_short(value)}: expected {'an integer' if integer else 'a number'} {rule}")


def check_statistics(*, n_boot: Any, ci: Any, w: Any = 2.0, v: Any = 1.0, resample: Any = "templates",
                     tb_threshold: Any = None, bamt_threshold: Any = None, bamt_fraction: Any = None,
                     workers: Any = None) -> None:
    """The bootstrap, counter and model-type settings shared by ``run`` and ``score`` (and
    ``score``'s worker processes: None for every usable core)."""
    from socialbias.metrics.clusters import RESAMPLE_UNITS

    if resample not in RESAMPLE_UNITS:
        raise InputError(f"--resample {_short(resample)}: use one of {', '.join(RESAMPLE_UNITS)} "
                         "(the bootstrap's unit: BBQ templates, or single items)")
    _number("n_boot", n_boot, low=0, integer=True)
    _number("ci", ci, low=0, high=1, low_open=True, high_open=True)
    _number("w", w)
    _number("v", v)
    _number("tb_threshold", tb_threshold, low=0)
    _number("bamt_threshold", bamt_threshold, low=0)
    _number("bamt_fraction", bamt_fraction, low=0, low_open=True)
    _number("workers", workers, low=1, integer=True)


def _file(name: str, value: Any, *, directory: bool = False) -> None:
    if value is None:
        return
    path = Path(os.path.expanduser(str(value)))
    if not (path.is_dir() if directory else path.is_file()):
        raise InputError(f"{_flag(name)} {str(value)!r}: no such {'directory' if directory else 'file'}")


def check_run(config: Any) -> None:
    """Check every setting of a run (see the module docstring)."""
    check_types(config)
    check_statistics(n_boot=config.n_boot, ci=config.ci, w=config.w, v=config.v, resample=config.resample,
                     tb_threshold=config.tb_threshold, bamt_threshold=config.bamt_threshold,
                     bamt_fraction=config.bamt_fraction)
    _number("limit", config.limit, low=0, integer=True)
    from socialbias.bbq_adapters.limit import LIMIT_FROM

    if config.limit_from not in LIMIT_FROM:
        raise InputError(f"--limit-from {config.limit_from!r}: use one of {', '.join(LIMIT_FROM)}")
    _number("temperature", config.temperature, low=0)
    _number("top_p", config.top_p, low=0, high=1, low_open=True)
    _number("max_tokens", config.max_tokens, low=1, integer=True)
    _number("concurrency", config.concurrency, low=1, integer=True)
    _number("tensor_parallel_size", config.tensor_parallel_size, low=1, integer=True)
    _number("gpu_memory_utilization", config.gpu_memory_utilization, low=0, high=1, low_open=True)
    _number("max_batch_tokens", config.max_batch_tokens, low=1, integer=True)
    _number("max_model_len", config.max_model_len, low=1, integer=True)
    _number("ray_concurrency", config.ray_concurrency, low=1, integer=True)
    _number("ray_batch_size", config.ray_batch_size, low=1, integer=True)
    _number("ray_num_gpus", config.ray_num_gpus, low=0)
    _number("request_timeout", config.request_timeout, low=0, low_open=True)
    _number("max_retries", config.max_retries, low=0, integer=True)
    if not str(config.personas).strip() or not [p for p in str(config.personas).split(",") if p.strip()]:
        raise InputError("--personas is empty: use 'paper' (the catalogue), a CSV file, or names like gay,straight")
    if not config.instructions:
        raise InputError("--instructions names no instruction: use e.g. 0-4")
    for k in config.instructions:
        _number("instructions", k, low=0, high=MAX_INSTRUCTION, integer=True)
    if config.categories is not None and not [c for c in config.categories if str(c).strip()]:
        raise InputError("--categories is empty: name categories, e.g. Age,Religion, or leave it out for all")
    _file("bbq_dir", config.bbq_dir, directory=True)
    if config.instruction_file != "paper":
        _file("instruction_file", config.instruction_file)
    if str(config.personas).endswith(".csv"):
        _file("personas", config.personas)
    if config.backend == "replay":
        _file("responses", config.responses)
    if config.backend == "openai":
        _file("api_key_file", config.api_key_file)
        name = config.api_key_env
        if name is not None and not _ENV_NAME.match(str(name)):
            raise InputError("--api-key-env takes the NAME of an environment variable that holds the key (e.g. "
                             "--api-key-env MY_API_KEY), not the key itself")
        if name and name != "OPENAI_API_KEY" and not config.api_key_file and not os.environ.get(name, "").strip():
            raise InputError(f"--api-key-env {name}: the environment variable {name} is not set or empty: "
                             f"export {name}=... first")


__all__ = ["MAX_INSTRUCTION", "check_run", "check_statistics", "check_types"]
