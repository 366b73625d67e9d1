"""Answers with N options (instruments other than BBQ), kept in the run's response store.

The store's second table and its answer record. It sits in the store layer (docs/design.md, "The
import chain"): the engines build :class:`OptionAnswer` records and the instruments read and write
:class:`OptionResponses`, so both import it from below them.

BBQ's ``responses`` table has three probability columns and ``CHECK (choice IN (-1, 0, 1, 2))``;
an instrument may have 2, 4, 5 or more options. Rather than migrate that table (old stores
must keep opening, and other work changes it), N-option answers live in a second table of the
same SQLite file, created on first use::

    option_responses(model_key, prompt_id, choice >= -1, probs (JSON list or ''), text, parse,
                     latency, created_at, PRIMARY KEY (model_key, prompt_id))

It shares everything else with :class:`socialbias.store.ResponseStore`: the file checks, WAL,
the run-directory lock, and the promises (committed in batches as answers arrive, the first
answer wins, resumable through :meth:`OptionResponses.missing`). A store without the table is
an ordinary store (the schema version does not change: a store version that does not know the
table ignores it, and this module creates it with ``CREATE TABLE IF NOT EXISTS``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from socialbias.errors import InputError
from socialbias.store_rows import _now

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from socialbias.store import ResponseStore

TABLE = "option_responses"
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    model_key  TEXT    NOT NULL,
    prompt_id  TEXT    NOT NULL,
    choice     INTEGER NOT NULL CHECK (choice >= -1),
    probs      TEXT    NOT NULL DEFAULT '',
    text       TEXT    NOT NULL DEFAULT '',
    parse      TEXT    NOT NULL DEFAULT '',
    latency    REAL,
    created_at TEXT    NOT NULL,
    PRIMARY KEY (model_key, prompt_id)
) WITHOUT ROWID
"""
_INSERT = (f"INSERT INTO {TABLE} (model_key, prompt_id, choice, probs, text, parse, latency, created_at) "
           "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (model_key, prompt_id) DO NOTHING")


@dataclass(frozen=True, slots=True)
class OptionAnswer:
    """One answer to an N-option prompt: ``choice`` is the index of the *presented* option
    (-1: none could be read), ``probs`` one probability per presented option (empty when the
    engine gives none)."""

    prompt_id: str
    model_key: str
    choice: int
    probs: tuple[float, ...] = ()
    text: str = ""
    parse: str = ""
    latency: float = math.nan


_OptionRow = tuple[str, str, int, str, str, str, float | None, str]


def _row(a: OptionAnswer, created_at: str) -> _OptionRow:
    if not isinstance(a, OptionAnswer):
        raise InputError(f"option_responses takes OptionAnswer records, got {type(a).__name__}")
    if not isinstance(a.choice, int) or a.choice < -1 or (a.probs and a.choice >= len(a.probs)):
        raise InputError(f"answer to {a.prompt_id}: choice {a.choice!r} is not an option index or -1")
    probs = [float(p) for p in a.probs]
    if any(not (0.0 <= p <= 1.0) for p in probs) or (probs and abs(sum(probs) - 1) > 1e-6):
        raise InputError(f"answer to {a.prompt_id}: option probabilities {probs} are not a distribution")
    latency = None if a.latency is None or math.isnan(a.latency) else float(a.latency)
    return (a.model_key, a.prompt_id, a.choice, json.dumps(probs) if probs else "", a.text, a.parse, latency,
            created_at)


class OptionResponses:
    """The option_responses table of an open :class:`~socialbias.store.ResponseStore`."""

    def __init__(self, store: ResponseStore) -> None:
        self.store = store
        # the store's own connection and transaction helper: one file, one lock, one WAL
        with store._transaction():
            store._db.execute(_SCHEMA)

    def add(self, answers: Iterable[OptionAnswer]) -> int:
        """Insert answers in one transaction (already stored keys are skipped); returns how many were new."""
        rows = [_row(a, _now()) for a in answers]
        if not rows:
            return 0
        db = self.store._db
        with self.store._transaction():
            before = db.total_changes
            db.executemany(_INSERT, rows)
            return db.total_changes - before

    def answered_ids(self, model_key: str) -> set[str]:
        cur = self.store._db.execute(f"SELECT prompt_id FROM {TABLE} WHERE model_key = ?", (model_key,))
        return {r[0] for r in cur.fetchall()}

    def missing(self, prompts: pd.DataFrame, model_key: str) -> pd.DataFrame:
        """Rows of the prompts table without a stored answer of ``model_key`` (resuming)."""
        done = self.answered_ids(model_key)
        return prompts.loc[~prompts["prompt_id"].isin(done)] if done else prompts.copy()

    def frame(self, model_key: str | None = None) -> pd.DataFrame:
        """The stored answers (prompt_id, model_key, choice, probs as lists, text, parse, latency)."""
        import pandas as pd

        sql = f"SELECT prompt_id, model_key, choice, probs, text, parse, latency FROM {TABLE}"
        params: tuple[str, ...] = ()
        if model_key is not None:
            sql, params = sql + " WHERE model_key = ?", (model_key,)
        rows = self.store._db.execute(sql + " ORDER BY model_key, prompt_id", params).fetchall()
        df = pd.DataFrame.from_records(rows, columns=["prompt_id", "model_key", "choice", "probs", "text", "parse",
                                                      "latency"])
        df["probs"] = [json.loads(p) if p else [] for p in df["probs"]]
        return df
