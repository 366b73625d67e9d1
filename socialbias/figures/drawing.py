"""Drawing many figures: a job list, drawn in worker processes when there are enough of them.

A report of a large study draws hundreds of figures, and each costs a second or more (mostly
saving: the PDF embeds subsets of its fonts, docs/design.md "report"). The figures are
independent, so :func:`draw_jobs` draws them in a pool of worker processes (each on matplotlib's
non-interactive Agg canvas, no pyplot, nothing shared) and falls back to drawing them here, one
after another, for a few figures or one core, where starting workers would cost more than it
saves.

A :class:`FigureJob` names its figure function by key (:data:`FIGURE_FUNCTIONS`), not by object,
and carries only the slice of the tables that its figure reads, so sending it to a worker is
cheap. Workers are started with the ``forkserver`` method (never ``fork``: a run that loaded a
model has threads, and forking a threaded process can deadlock), preloading matplotlib once.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Figure functions a job may name, by key (module path, function name): resolved in the worker.
FIGURE_FUNCTIONS: dict[str, tuple[str, str]] = {
    "plane": ("socialbias.figures.planes", "plot_tb_bamt_plane"),
    "pb_compare": ("socialbias.figures.bars", "plot_pb_bars_compare"),
    "persona_bias": ("socialbias.figures.bars", "plot_persona_bias"),
    "heatmap": ("socialbias.figures.heatmaps", "plot_tb_heatmap"),
    "separated": ("socialbias.figures.bars", "plot_separated_tb"),
    "graph": ("socialbias.figures.graphs", "plot_perception_graph"),
    "position": ("socialbias.figures.position", "plot_position_bias"),
}
#: Fewer jobs than this are drawn in this process (a worker's start costs about a figure's time).
PARALLEL_FROM = 6
#: Environment variable that sets the number of worker processes (1 = never start any).
WORKERS_ENV = "SOCIALBIAS_FIGURE_WORKERS"


@dataclass(frozen=True)
class FigureJob:
    """One figure to draw: ``FIGURE_FUNCTIONS[kind](*args, **kwargs)``, saved as ``<stem>.pdf|png``."""

    stem: str
    kind: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


def _draw(job: FigureJob, figdir: str, dpi: int) -> str:
    import importlib

    from .style import save_figure

    module, name = FIGURE_FUNCTIONS[job.kind]
    fig = getattr(importlib.import_module(module), name)(*job.args, **job.kwargs)
    save_figure(fig, Path(figdir) / job.stem, dpi=dpi)
    return job.stem


def default_workers(n_jobs: int) -> int:
    """Worker processes for ``n_jobs`` figures: :data:`WORKERS_ENV` when set, else the cores this
    process may use (at most 8, at most one per :data:`PARALLEL_FROM` jobs)."""
    env = os.environ.get(WORKERS_ENV, "").strip()
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            from ..errors import InputError

            raise InputError(f"{WORKERS_ENV}={env!r} is not a number. Fix: set it to a number of processes, "
                             "e.g. 4 (1 draws every figure in this process).") from None
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover (not Linux)
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8, n_jobs // PARALLEL_FROM))


def draw_jobs(jobs: Sequence[FigureJob], figdir: str | os.PathLike[str], *, dpi: int,
              workers: int | None = None) -> int:
    """Draw every job into ``figdir``; returns the number of worker processes used (0: here).

    ``workers``: None = :func:`default_workers`. A figure that fails raises here, as it would
    when drawn in this process (the pool is shut down first)."""
    unknown = sorted({j.kind for j in jobs} - set(FIGURE_FUNCTIONS))
    if unknown:
        raise ValueError(f"unknown figure kinds {unknown}")
    n = default_workers(len(jobs)) if workers is None else max(1, int(workers))
    if n <= 1 or len(jobs) < PARALLEL_FROM:
        for job in jobs:
            _draw(job, str(figdir), dpi)
        return 0
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg",
                                "socialbias.figures"])
    with ProcessPoolExecutor(max_workers=n, mp_context=ctx) as pool:
        futures = [pool.submit(_draw, job, str(figdir), dpi) for job in jobs]
        for future in futures:
            future.result()
    return n
