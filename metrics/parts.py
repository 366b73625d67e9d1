"""Scoring on several CPU cores: :func:`~metrics.score_answers` split by (model, category).

Every number :func:`~metrics.score_answers` reports is a function of the answers of one
stratum (model, category, context condition) -- or of one (model, category): the ambiguous
s_AMB reads the bias score of the disambiguated stratum -- and every random draw comes from
that stratum's own streams (:mod:`metrics.streams`). So the answers can be cut into parts
of whole (model, category) groups, each part scored in its own process, and the tables put
back together in stratum order: they are those of one scoring of the whole table, bit for bit
(``tests/test_parts.py``; docs/design.md, "Speed").

Two things are not per stratum, and are handled here:

- checks that look across strata (a persona flagged as placebo in one model's answers and not
  in another's; a persona with two ``member_of`` values in one category): they run on the
  whole table (:func:`~metrics.schema.check_across_strata`) while the parts are scored, and
  every part has a scored row (so "every response is excluded" is a whole-table error); on
  any refusal the whole table is prepared once more to raise the error one scoring raises;
- the counts of ``config`` (``n_clusters``, ``n_excluded``): summed over the parts.

Processes are forked (Linux only; elsewhere, inside a daemon process, or with one part,
the scoring runs in this process): a forked worker shares the parent's answers table
without copying or pickling it, and returns only the result tables.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import warnings
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from .errors import MetricsInputError
from .results import TABLES, MetricResults
from .schema import ANSWER_COLUMNS, check_across_strata, prepare_answers, rank_keys

#: ``config`` entries that count something per stratum: a split scoring sums them.
SUMMED_CONFIG: tuple[str, ...] = ("n_clusters", "n_excluded")

#: Parts per worker process: parts of a few strata keep the arrays of a part small (on the
#: issue-14 benchmark, 1.6 M responses in 225 strata, scoring it in 4 parts took 10.3 CPU
#: seconds, in 2 parts 11.5, whole 13.1), and a worker that is done takes the next part.
PARTS_PER_WORKER = 4

T = TypeVar("T")

#: The job of the forked workers (set just before the fork, read by :func:`_score_part`).
_JOB: dict[str, Any] = {}


def usable_cpus() -> int:
    """CPU cores this process may run on (its affinity mask where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def check_workers(workers: object) -> int:
    """``workers`` as a number of processes (None: :func:`usable_cpus`); anything other
    than None or an integer >= 1 is refused with the fix."""
    if workers is None:
        return usable_cpus()
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise MetricsInputError(f"workers={workers!r}: must be an integer >= 1 (processes that score "
                                "groups of strata at once), or None for every usable CPU core.")
    return int(workers)


def can_fork() -> bool:
    """Whether worker processes can be forked here: Linux, and not from a daemon process
    (which may not have children)."""
    return sys.platform.startswith("linux") and not multiprocessing.current_process().daemon


def split_rows(answers: pd.DataFrame, parts: int, include_excluded: bool) -> list[np.ndarray]:
    """Row indices of at most ``parts`` parts of whole (model, category) groups, consecutive
    in stratum order (models, then categories, as :func:`~metrics.schema.prepare_answers`
    sorts them), with about as many scored rows each. Every part has a scored (not
    excluded) row. One part (everything) where a model or category is missing: the serial
    scoring then refuses the table with its own message."""
    model, _ = pd.factorize(answers["model"], sort=True)
    category, categories = pd.factorize(answers["category"], sort=True)
    if parts < 2 or (model < 0).any() or (category < 0).any():
        return [np.arange(len(answers))]
    group = model.astype(np.int64) * max(len(categories), 1) + category
    scored = np.ones(len(answers), bool) if include_excluded else ~answers["excluded"].to_numpy(bool)
    inverse, keys = rank_keys(group)
    before = np.concatenate([[0.0], np.cumsum(np.bincount(inverse, weights=scored, minlength=keys.size))])
    total = before[-1]  # before[g]: scored rows of the groups before group g
    # cut before the group after which the running count first reaches k / parts of the total
    cuts = np.searchsorted(before[1:], total * np.arange(1, parts) / parts, side="left") + 1
    bounds = [0]
    for cut in cuts.tolist():  # each part keeps at least one scored row, the last one included
        if before[bounds[-1]] < before[cut] < total:
            bounds.append(cut)
    bounds.append(keys.size)
    order = np.argsort(inverse, kind="stable")  # rows grouped by (model, category), in row order
    starts = np.searchsorted(inverse[order], bounds)
    return [np.sort(order[a:b]) for a, b in zip(starts[:-1], starts[1:])]


#: Signals a forked worker must not handle as its parent does (:func:`_worker_signals`).
_WORKER_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def _worker_signals() -> None:
    """Signal dispositions of a forked worker (the pool's initializer): SIGTERM kills it, and
    SIGINT is left to the parent. The worker is forked with both signals blocked
    (:func:`_forked_pool`) and unblocks them here, once its own dispositions are set: a pool
    closed right after it opened sent SIGTERM to workers that had not yet reached this
    function, which then raised the parent's exception (seen in CI, under load).

    A worker inherits its parent's Python signal handlers. The command line's SIGTERM handler
    raises an exception (:func:`socialbias.clitools.sigterm_raises`), but the pool stops its
    idle workers with SIGTERM when it closes, and relies on the signal ending them: with the
    handler, a worker printed a traceback as it ended, and one whose signal arrived just
    before it blocked on the task queue never ran the handler and waited for a task forever,
    so ``score`` hung (``tests/test_parts.py`` closes hundreds of pools under the handler).
    Ctrl-C reaches every process of the terminal's group: the parent gets KeyboardInterrupt
    and closes the pool, which ends the workers; a worker that raised it too would die with
    its part unfinished and leave the parent waiting for that part."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _WORKER_SIGNALS)


def _forked_pool(processes: int) -> Any:
    """A pool of ``processes`` forked workers (signals: :func:`_worker_signals`).

    Python 3.12 and later warn at every fork of a process that has threads; here they are the
    idle threads of Arrow's reader pool and of the BLAS library, which both reinitialise
    themselves in a forked child, and the workers run only numpy, pandas and scipy code on
    the parent's arrays. The warning would reach ``score``'s users as noise on every run,
    so it is silenced for these forks only.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*multi-threaded, use of fork\(\) may lead to deadlocks",
                                category=DeprecationWarning)
        # forked with SIGTERM and SIGINT blocked, so that none reaches a worker before it has
        # set its own dispositions; here a signal that came meanwhile is delivered on unblocking
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _WORKER_SIGNALS)
        try:
            return multiprocessing.get_context("fork").Pool(processes, initializer=_worker_signals)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


#: The call of :func:`forked` (set just before its fork, read by :func:`_forked_call`).
_CALL: list[Any] = []


def _forked_call() -> Any:
    function, args = _CALL
    return function(*args)


@contextlib.contextmanager
def forked(function: Callable[..., T], *args: Any) -> Iterator[Callable[[], T]]:
    """``function(*args)`` computed in a forked process while the ``with`` block runs; the
    block gets a function that waits for the result and returns it (or raises what it
    raised). The process sees this one's memory as it was at the fork, so ``args`` are not
    copied or pickled; only the result comes back. Where :func:`can_fork` says no, the call
    runs in this process when its result is asked for. Leaving the block ends the process,
    so ask for the result inside it. ``score`` writes its perception graphs this way while
    it writes the tables (docs/design.md, "Speed")."""
    if not can_fork():
        yield lambda: function(*args)
        return
    _CALL[:] = [function, args]
    try:
        with _forked_pool(1) as pool:
            pending = pool.apply_async(_forked_call)
            yield pending.get
    finally:
        _CALL.clear()


def _score_part(index: int) -> tuple[MetricResults, list[tuple[type[Warning], str]]]:
    """Score part ``index`` of :data:`_JOB` (runs in a forked worker); its warnings are
    returned for the parent to re-issue."""
    job = _JOB
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = job["score"](job["answers"].iloc[job["rows"][index]], **job["kwargs"])
    return result, [(w.category, str(w.message)) for w in caught]


def merge_results(parts: list[MetricResults]) -> MetricResults:
    """One :class:`MetricResults` from those of consecutive parts of the strata: tables
    concatenated in order, :data:`SUMMED_CONFIG` summed, the rest of ``config`` (the same
    settings in every part) kept."""
    first = parts[0]
    config = dict(first.config)
    for key in SUMMED_CONFIG:
        if key in config:
            config[key] = sum(p.config[key] for p in parts)
    for p in parts[1:]:
        other = {k: v for k, v in p.config.items() if k not in SUMMED_CONFIG}
        if other != {k: v for k, v in first.config.items() if k not in SUMMED_CONFIG}:
            raise RuntimeError("parts of one scoring were scored with different settings")
    tables = {name: pd.concat([getattr(p, name) for p in parts], ignore_index=True) for name in TABLES}
    return MetricResults(**tables, thresholds=first.thresholds, config=config)


def score_in_parts(score: Callable[..., MetricResults], answers: pd.DataFrame, workers: int,
                   alongside: Callable[[], object] | None = None, **kwargs: Any) -> MetricResults:
    """``score(answers, **kwargs)`` computed by ``workers`` forked processes, which score
    parts of the (model, category) groups (:func:`split_rows`; :data:`PARTS_PER_WORKER` per
    process), merged (:func:`merge_results`).

    A table is refused with the error one scoring gives: the checks that look across strata
    run on the whole table (:func:`~metrics.schema.check_across_strata`), the others in the
    parts, and on any refusal the whole table's own first error is raised
    (:func:`~metrics.schema.prepare_answers`). Warnings of the parts are re-issued here.
    ``alongside`` (a function of no arguments, the caller's own work) runs in this process
    while the workers score, after the checks that look across strata (what it raises closes
    the pool and is raised). When :func:`can_fork` says no, the table lacks a column, or it
    has a single group, ``score(answers, alongside=alongside, **kwargs)`` runs once, in this
    process, and calls it itself.
    """
    include_excluded = bool(kwargs.get("include_excluded", False))
    readable = (isinstance(answers, pd.DataFrame) and len(answers) > 0
                and set(ANSWER_COLUMNS) <= set(answers.columns))  # else one scoring says what is wrong
    rows = split_rows(answers, PARTS_PER_WORKER * workers, include_excluded) if readable else []
    if len(rows) < 2 or not can_fork():
        return score(answers, alongside=alongside, **kwargs)
    # the largest parts first, so that no large part is left running alone at the end
    order = sorted(range(len(rows)), key=lambda i: -rows[i].size)
    _JOB.update(score=score, answers=answers, rows=rows, kwargs=kwargs)
    try:
        with _forked_pool(min(workers, len(rows))) as pool:
            pending = pool.map_async(_score_part, order, chunksize=1)
            # while the parts are scored: the checks that look across strata, on the whole
            # table (an error stops the workers as the pool closes)
            check_across_strata(answers, personas=kwargs.get("personas"))
            if alongside is not None:
                alongside()
            done = pending.get()
    except MetricsInputError as error:
        # the error one scoring of the whole table gives (its checks run in another order)
        prepare_answers(answers, include_excluded=include_excluded, personas=kwargs.get("personas"))
        raise error
    finally:
        _JOB.clear()
    outcomes = [outcome for _, outcome in sorted(zip(order, done), key=lambda pair: pair[0])]
    seen = set()
    for _, issued in outcomes:
        for category, message in issued:
            if (category, message) not in seen:  # each part warns of the same thing once
                seen.add((category, message))
                warnings.warn(message, category, stacklevel=3)
    return merge_results([result for result, _ in outcomes])
