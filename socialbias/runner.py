"""Put prompts through a backend into the response store: resumable, deduplicated, with progress.

:func:`answer_prompts` is the loop every run uses:

1. ask the store which prompts this backend's ``key`` has not answered yet (``missing``): a rerun
   of the same command resumes where the last one stopped;
2. in deterministic modes (log-probability scoring, greedy decoding) repeated identical prompts
   (the default persona's five runs, see :mod:`socialbias.expand`) are answered once and the
   answer is stored for every copy; in sampling modes each copy is its own request;
3. stream the backend's answers into the store in transactions of ``batch_size``: a Ctrl-C or a
   killed process loses at most the batch in flight. The progress bar counts prompts; its ETA
   weighs each prompt by its length (:class:`Progress`), since backends answer the longest first.

Counts have one name each, the same in the CLI, ``run.json``, the report and the README
(:data:`COUNTS`): a study has ``prompts`` (one per item, persona, instruction and sample, each
with its own id and row in the store), ``distinct`` texts among them and ``copies`` (prompts
whose text is another prompt's, so a deterministic model gives them that prompt's answer);
a run finds some ``cached`` (already in the store), ``asked`` the model the rest (one per
distinct text in deterministic modes), and ``scored`` the answers that entered the metrics.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from .backends.base import Backend, Mode, prompts_from_table
from .store import ResponseStore


#: The count words, defined once (module docstring): every report of counts uses these.
COUNTS: dict[str, str] = {
    "prompts": "prompts of the study (each with its own id and row in the store)",
    "distinct": "distinct prompt texts among them",
    "copies": "prompts whose text is another prompt's (a deterministic model gives them its answer)",
    "cached": "prompts already answered in the store when the run started",
    "asked": "prompts put to the model by this run",
    "scored": "answers that entered the metrics",
}


@dataclass
class RunStats:
    """What one call of :func:`answer_prompts` did (the words of :data:`COUNTS`): of ``prompts``,
    ``cached`` were in the store; the model was ``asked`` the others, their ``copies`` got the
    answer of the prompt they copy; ``stored`` rows were written (asked + copies)."""

    prompts: int = 0
    cached: int = 0
    asked: int = 0
    copies: int = 0
    stored: int = 0
    seconds: float = 0.0

    @property
    def prompts_per_second(self) -> float:
        return self.asked / self.seconds if self.seconds > 0 else float("nan")


def deterministic(mode: Mode, backend: Backend) -> bool:
    """Whether the same prompt always gets the same answer (then copies are asked once).

    A backend may say so itself with a ``deterministic`` attribute (the replay backend: every
    recorded line is its own draw)."""
    declared = getattr(backend, "deterministic", None)
    if declared is not None:
        return bool(declared)
    if mode == "logprob":
        return True
    decoding = getattr(backend, "decoding", None)
    return decoding is not None and float(getattr(decoding, "temperature", 1.0)) == 0.0


def prompt_counts(prompts: pd.DataFrame) -> dict[str, int]:
    """``prompts``, ``distinct`` and ``copies`` of a prompts table (see :data:`COUNTS`)."""
    unique = prompts.drop_duplicates("prompt_id")
    distinct = len(_representatives(unique)[0]) if len(unique) and "messages" in unique.columns else len(unique)
    return {"prompts": len(unique), "distinct": distinct, "copies": len(unique) - distinct}


def headline(stats: RunStats, counts: dict[str, int] | None = None) -> str:
    """The first line of a run: what will happen, in the words of :data:`COUNTS` (``counts``:
    :func:`prompt_counts` of the study, for its distinct texts and copies)."""
    total = f"{stats.prompts:,} prompts" + (f" ({counts['distinct']:,} distinct, {counts['copies']:,} copies)"
                                            if counts else "")
    if stats.asked == 0:
        return f"{total}: all {stats.cached:,} cached in the store; nothing to ask"
    return (f"{total}: {stats.cached:,} cached in the store; asking {stats.asked:,}"
            + (f" (their {stats.copies:,} copies get the same answer)" if stats.copies else ""))


def loading_line(counts: dict[str, int], model: str) -> str:
    """The first line of a run that loads a model: the study's counts (:func:`prompt_counts`)
    and what happens next (the store's ``cached`` count needs the loaded model's key, so it
    comes in :func:`headline`, once the model is loaded)."""
    return (f"{counts['prompts']:,} prompts ({counts['distinct']:,} distinct, {counts['copies']:,} copies); "
            f"loading {model} to answer those the store lacks")


def _representatives(todo: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """One prompt per identical text (same item, system message, template and option order), and its copies.

    Copies differ only in ``sample`` (expand numbers repeats), so they share the item id, the
    system message and the template; the lowest sample stands for the others.
    """
    system = [m[0]["content"] if len(m) and m[0].get("role") == "system" else "" for m in todo["messages"]]
    keys = pd.DataFrame({"item": todo["item_id"].to_numpy(), "system": system, "template": todo.get("template", ""),
                         "order": todo.get("option_order", "012")})
    first = ~keys.duplicated(keep="first").to_numpy()
    reps = todo.loc[first]
    copies: dict[str, list[str]] = {}
    if not first.all():
        rep_of = keys.groupby(["item", "system", "template", "order"], sort=False).ngroup().to_numpy()
        rep_ids = pd.Series(todo["prompt_id"].to_numpy()[first], index=rep_of[first])
        for pid, group in zip(todo["prompt_id"].to_numpy()[~first], rep_of[~first]):
            copies.setdefault(rep_ids[group], []).append(pid)
    return reps, copies


@dataclass
class Plan:
    """What to ask: the prompts the store lacks (one per distinct text when deterministic) and,
    for each asked prompt, the ids of its identical copies that get the same answer."""

    todo: pd.DataFrame
    copies: dict[str, list[str]]
    stats: RunStats


def plan_questions(prompts: pd.DataFrame, backend: Backend, store: ResponseStore, mode: Mode) -> Plan:
    """Steps 1-2 of the module docstring, shared by every executor (local, ray)."""
    unique = prompts.drop_duplicates("prompt_id")
    todo = store.missing(unique, backend.key)
    stats = RunStats(prompts=len(unique), cached=len(unique) - len(todo))
    copies: dict[str, list[str]] = {}
    if not todo.empty and deterministic(mode, backend) and "item_id" in todo.columns:
        todo, copies = _representatives(todo)
    stats.asked = len(todo)
    stats.copies = sum(len(c) for c in copies.values())
    return Plan(todo, copies, stats)


def store_answer(writer: Any, answer: Any, copies: dict[str, list[str]]) -> None:
    """Step 3 for one answer: store it, and the same answer for each of its copies."""
    writer.add(answer)
    for pid in copies.get(answer.prompt_id, ()):
        writer.add(replace(answer, prompt_id=pid))


def store_stream(
    store: ResponseStore,
    chunks: Any,
    copies: dict[str, list[str]],
    *,
    total: int,
    description: str = "answering",
    progress: bool = True,
    batch_size: int = 256,
    weights: Mapping[str, float] | None = None,
) -> int:
    """Step 3: store every answer of ``chunks`` (an iterable of answer lists) with its copies,
    in transactions of ``batch_size``, with a progress bar (:class:`Progress`: ``weights`` per
    prompt id for its ETA); returns how many rows were new."""
    bar = Progress(total, weights, description) if progress else None
    try:
        with store.writer(batch_size=batch_size) as writer:
            for chunk in chunks:
                for answer in chunk:
                    store_answer(writer, answer, copies)
                if bar is not None:
                    bar.update(a.prompt_id for a in chunk)
            writer.flush()
            return writer.inserted
    finally:
        if bar is not None:
            bar.close()


def prompt_weights(todo: pd.DataFrame) -> dict[str, float]:
    """The cost of each prompt to ask, for the ETA: the characters of its messages (plus one).

    A forward pass costs about as much as the prompt has tokens, and characters are proportional
    to tokens within one study; the HF backend asks the longest prompts of a window first, so an
    ETA per prompt would overestimate early (see :class:`Progress`)."""
    if "messages" not in todo.columns:
        return {}
    return {pid: 1.0 + sum(len(str(m.get("content") or "")) for m in messages)
            for pid, messages in zip(todo["prompt_id"], todo["messages"])}


class Progress:
    """A progress bar per prompt whose ETA is per unit of cost (``weights``, see :func:`prompt_weights`).

    The ETA is the cost still to answer divided by the cost answered per second, as of the last
    answer, counted down since: right whatever order the backend answers in (longest first, as
    the HF backend does), when a prompt's cost is proportional to its weight. Prompts without
    a weight count 1 (then the ETA is per prompt). The bar is redrawn once a second by a helper
    thread, not on each answer: a batch's answers arrive together after the batch's time, and
    an ETA drawn on its first answer would be one prompt's share of that time (hours, for a
    first batch of a minute). ``clock`` is for tests; ``enabled=False`` counts without drawing."""

    def __init__(self, total: int, weights: Mapping[str, float] | None = None, description: str = "answering",
                 *, enabled: bool = True, clock: Any = time.perf_counter, redraw_seconds: float = 1.0) -> None:
        self.weights = dict(weights or {})
        self.total_weight = float(sum(self.weights.values())) + max(0, total - len(self.weights))
        self.done = 0
        self.done_weight = 0.0
        self._clock = clock
        self._start = self._last = clock()
        self._bar: Any = None
        self._stop = threading.Event()
        if enabled:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc=description, unit="prompt", file=sys.stderr, dynamic_ncols=True,
                             mininterval=math.inf, bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} "
                             "prompts [{elapsed}{postfix}]")
            self._bar.refresh()
            self._thread = threading.Thread(target=self._redraw_every, args=(redraw_seconds,), daemon=True)
            self._thread.start()

    def update(self, prompt_ids: Iterable[str]) -> None:
        """Count the answers of ``prompt_ids`` as done."""
        ids = list(prompt_ids)
        self.done += len(ids)
        self.done_weight += sum(self.weights.get(pid, 1.0) for pid in ids)
        self._last = self._clock()
        if self._bar is not None:
            self._bar.update(len(ids))  # counted; drawn by the helper thread

    def eta(self) -> float | None:
        """Seconds still to go (None before the first answer)."""
        spent = self._last - self._start
        if self.done_weight <= 0 or spent <= 0:
            return None
        at_last = max(0.0, self.total_weight - self.done_weight) * spent / self.done_weight
        return max(0.0, at_last - (self._clock() - self._last))

    def _draw(self) -> None:
        eta = self.eta()
        if eta is not None:
            self._bar.set_postfix_str(f"ETA {self._bar.format_interval(eta)}", refresh=False)
        self._bar.refresh()

    def _redraw_every(self, seconds: float) -> None:
        while not self._stop.wait(seconds):
            self._draw()

    def close(self) -> None:
        if self._bar is not None:
            self._stop.set()
            self._thread.join()
            self._draw()
            self._bar.close()


def answer_prompts(
    prompts: pd.DataFrame,
    backend: Backend,
    store: ResponseStore,
    mode: Mode = "logprob",
    *,
    batch_size: int = 256,
    progress: bool = True,
    description: str = "answering",
) -> RunStats:
    """Answer every prompt of ``prompts`` that ``store`` lacks for ``backend.key`` (see module doc)."""
    started = time.perf_counter()
    plan = plan_questions(prompts, backend, store, mode)
    stats = plan.stats
    if progress:
        print(headline(stats, prompt_counts(prompts)), file=sys.stderr, flush=True)
    if plan.todo.empty:
        return stats
    answers = ([a] for a in backend.answer(prompts_from_table(plan.todo), mode))
    stats.stored = store_stream(store, answers, plan.copies, total=stats.asked, description=description,
                                progress=progress, batch_size=batch_size, weights=prompt_weights(plan.todo))
    stats.seconds = time.perf_counter() - started
    return stats


__all__ = ["COUNTS", "Plan", "Progress", "RunStats", "prompt_weights", "headline", "loading_line", "prompt_counts", "answer_prompts", "deterministic", "plan_questions", "store_answer", "store_stream"]
