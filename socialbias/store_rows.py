"""Answers as the store keeps them: the :class:`Answer` record and the validation that turns every
answer (an Answer, any object with the same attributes, a mapping, or a DataFrame row) into one
checked row tuple before it reaches SQLite, and the :class:`ResponseWriter` that buffers streamed
answers into small committed batches (docs/design.md, "store").

A row is refused, with one error naming the prompt and the field, when a key is empty, the choice
is not 0, 1, 2 or -1, a probability is not a number, or the probabilities are impossible
(:func:`socialbias.integrity.answer_problem`); each row carries its checksum
(:func:`socialbias.integrity.row_checksum`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from types import TracebackType
from typing import TYPE_CHECKING, Any

from socialbias.errors import InputError
from socialbias.integrity import answer_problem, row_checksum

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from socialbias.store import ResponseStore

#: Columns of the responses table, in this order, as returned by :meth:`ResponseStore.responses`.
RESPONSE_COLUMNS: tuple[str, ...] = (
    "prompt_id", "model_key", "choice", "p0", "p1", "p2", "text", "parse", "latency",
)

#: Allowed values of ``choice``: option 0, 1, 2, or -1 when no option could be read.
VALID_CHOICES = frozenset({-1, 0, 1, 2})

_DEFAULT_BATCH = 512

# Column order in the table (model_key first: the primary key clusters a model's answers).
_TABLE_COLUMNS = (
    "model_key", "prompt_id", "choice", "p0", "p1", "p2", "text", "parse", "latency", "created_at", "checksum",
)

_Row = tuple[str, str, int, "float | None", "float | None", "float | None", str, str, "float | None", str, str]


@dataclass(frozen=True, slots=True)
class Answer:
    """One model's answer to one prompt, as a backend yields it and the store keeps it.

    ``choice`` is the chosen option (0, 1, 2) or -1 when none could be read; ``p0..p2`` are the
    option probabilities (NaN when the engine gives none); ``text`` is the raw output (may be
    empty); ``parse`` says how the choice was made (``'logprob'``, ``'strict'``, ``'paper'``,
    ``'recorded'``, ...); ``latency`` is seconds spent on this answer (NaN if unknown).
    """

    prompt_id: str
    model_key: str
    choice: int
    p0: float = math.nan
    p1: float = math.nan
    p2: float = math.nan
    text: str = ""
    parse: str = ""
    latency: float = math.nan


def _is_missing(x: Any) -> bool:
    """None, NaN, pandas.NA / NaT."""
    if x is None:
        return True
    if isinstance(x, float):
        return x != x
    return type(x).__name__ in ("NAType", "NaTType") or (isinstance(x, numbers.Real) and x != x)


def _opt_float(x: Any, field: str, prompt_id: Any) -> float | None:
    """A probability/latency as float, or None (SQL NULL) when missing/NaN."""
    if type(x) is float:  # fast path
        return None if x != x else x
    if _is_missing(x):
        return None
    if isinstance(x, numbers.Real) and not isinstance(x, bool):
        f = float(x)
        return None if f != f else f
    raise InputError(f"answer for prompt {prompt_id!r} has {field}={x!r}; expected a number or NaN")


def _opt_str(x: Any, field: str, prompt_id: Any) -> str:
    """Text fields: a string; missing becomes ''."""
    if type(x) is str:
        return x
    if isinstance(x, str):
        return str(x)
    if _is_missing(x):
        return ""
    raise InputError(f"answer for prompt {prompt_id!r} has {field}={x!r}; expected a string")


def _key(x: Any, field: str, prompt_id: Any) -> str:
    if isinstance(x, str) and x:
        return str(x)
    raise InputError(f"answer for prompt {prompt_id!r} has {field}={x!r}; expected a non-empty string")


def _choice(x: Any, prompt_id: Any) -> int:
    c: int | None
    if type(x) is int:
        c = x
    elif isinstance(x, numbers.Integral) and not isinstance(x, bool):
        c = int(x)
    elif isinstance(x, numbers.Real) and not isinstance(x, bool) and float(x).is_integer():
        c = int(float(x))  # e.g. 1.0 from a float column
    else:
        c = None
    if c is None or c not in VALID_CHOICES:
        raise InputError(
            f"answer for prompt {prompt_id!r} has choice={x!r}; expected 0, 1, 2, or -1 for no answer"
        )
    return c


def _row(prompt_id: Any, model_key: Any, choice: Any, p0: Any, p1: Any, p2: Any,
         text: Any, parse: Any, latency: Any, created_at: str) -> _Row:
    """Validate one answer and return it as a row tuple in :data:`_TABLE_COLUMNS` order."""
    pid = _key(prompt_id, "prompt_id", prompt_id)
    values = (
        _key(model_key, "model_key", pid),
        pid,
        _choice(choice, pid),
        _opt_float(p0, "p0", pid),
        _opt_float(p1, "p1", pid),
        _opt_float(p2, "p2", pid),
        _opt_str(text, "text", pid),
        _opt_str(parse, "parse", pid),
        _opt_float(latency, "latency", pid),
    )
    problem = answer_problem(values[2], values[3], values[4], values[5])
    if problem:
        raise InputError(f"answer for prompt {pid!r} is impossible: {problem}")
    return (*values, created_at, row_checksum(*values))


def _answer_row(a: Any, created_at: str) -> _Row:
    """An :class:`Answer`, any object with the same attributes, or a mapping -> row tuple."""
    if isinstance(a, Mapping):
        get = a.get
        try:
            return _row(a["prompt_id"], a["model_key"], a["choice"], get("p0"), get("p1"), get("p2"),
                        get("text", ""), get("parse", ""), get("latency"), created_at)
        except KeyError as e:
            raise InputError(f"answer {dict(a)!r} has no {e.args[0]!r} field") from None
    try:
        return _row(a.prompt_id, a.model_key, a.choice, getattr(a, "p0", None), getattr(a, "p1", None),
                    getattr(a, "p2", None), getattr(a, "text", ""), getattr(a, "parse", ""),
                    getattr(a, "latency", None), created_at)
    except AttributeError as e:
        raise InputError(
            f"cannot store {a!r} as an answer: it needs prompt_id, model_key and choice ({e})"
        ) from None


def _frame_rows(df: pd.DataFrame, created_at: str) -> list[_Row]:
    """Validate a whole DataFrame of answers (all or nothing) and return its row tuples."""
    missing = [c for c in ("prompt_id", "model_key", "choice") if c not in df.columns]
    if missing:
        raise InputError(f"answers table lacks column(s) {missing}; it needs {list(RESPONSE_COLUMNS)}")
    n = len(df)

    def col(name: str, default: Any) -> list[Any]:
        return df[name].tolist() if name in df.columns else [default] * n

    cols = [col(c, None if c in ("p0", "p1", "p2", "latency") else "") for c in RESPONSE_COLUMNS]
    return [_row(pid, key, choice, p0, p1, p2, text, parse, latency, created_at)
            for pid, key, choice, p0, p1, p2, text, parse, latency in zip(*cols, strict=True)]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _pk(row: _Row) -> tuple[str, str]:
    return row[0], row[1]


def _bad_key(model_key: Any) -> None:
    raise InputError(f"model_key={model_key!r}: expected a non-empty string")


def _check_batch(batch_size: Any) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise InputError(f"batch_size={batch_size!r}: expected a positive integer")
    return int(batch_size)


def _is_frame(x: Any) -> bool:
    return type(x).__name__ == "DataFrame" and hasattr(x, "columns")


class ResponseWriter:
    """Buffers streamed answers and commits them every ``batch_size`` (see :meth:`ResponseStore.writer`).

    ``added`` counts accepted answers, ``inserted`` the ones that were new to the store,
    ``pending`` the ones not committed yet. Answers are validated in :meth:`add`, so a bad answer
    fails at once and never poisons a batch.
    """

    def __init__(self, store: ResponseStore, batch_size: int = _DEFAULT_BATCH) -> None:
        self.store = store
        self.batch_size = _check_batch(batch_size)
        self.added = 0
        self.inserted = 0
        self._buffer: list[_Row] = []

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def add(self, answer: Any) -> None:
        """Buffer one answer; commit the buffer once it holds ``batch_size`` answers."""
        self._buffer.append(_answer_row(answer, _now()))
        self.added += 1
        if len(self._buffer) >= self.batch_size:
            self.flush()

    def add_many(self, answers: Iterable[Any]) -> None:
        for a in answers:
            self.add(a)

    def flush(self) -> int:
        """Commit the buffered answers now; return how many were new. The buffer is cleared only
        after the commit succeeded, so a failed or interrupted flush can simply be retried."""
        if not self._buffer:
            return 0
        n = self.store._insert(self._buffer)
        self._buffer = []
        self.inserted += n
        return n

    def __enter__(self) -> ResponseWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        # Commit what was answered even when leaving by an exception or KeyboardInterrupt: the
        # answers are paid for. If this flush fails, its error (answers NOT saved) propagates
        # with the original exception as its context.
        self.flush()
