"""Scale-out: answer the missing prompts on a Ray cluster, stream the answers into the local store.

:func:`answer_prompts_ray` is :func:`socialbias.runner.answer_prompts` with the backend moved into
Ray actors (``eval run --executor ray``):

1. the driver asks the run's :class:`~socialbias.store.ResponseStore` which prompts the backend's
   ``key`` has not answered (``missing``): only those are sent, so a rerun resumes;
2. in deterministic modes the repeated prompts are asked once (the runner's own
   ``plan_questions``; the copies get the answer on the driver, as in a local run);
3. the prompts to ask become a Ray Dataset (``prompt_id``, ``messages`` as JSON text, ``sample``),
   cut into blocks of ``batch_size`` rows, mapped by ``map_batches`` through :class:`EngineActor`,
   one engine per actor (``concurrency`` actors, each with ``num_gpus``); the backend is made
   *inside* each actor from a picklable ``backend_factory`` (a ``functools.partial`` of
   :func:`socialbias.backends.registry.make_backend`), never on the driver;
4. the answers stream back as blocks complete (``iter_batches``) into the store's writer,
   committed every ``store_batch_size`` answers: a killed driver loses at most what was in flight,
   and the same command resumes from the store like a local run.

The model key. A backend's ``key`` is known only once it is made (the HF backend's key holds
the dtype and the chat template read from the checkpoint), and the driver should not load a model
(a head node has no GPU). So :func:`probe` makes the backend once in a Ray task placed like an
actor (same ``num_gpus``) and returns its key, ``describe()`` and the settings the driver needs
(:class:`RemoteBackend`). That costs one extra model load per run; in exchange the key is exact.
Every actor checks that the backend it made has that key and refuses to answer otherwise (a
node that picks another dtype, say fp16 on a GPU without bf16, must not mix its answers in).

Failures. An actor that dies (``os._exit``, OOM kill, lost node) is restarted by Ray up to
``max_restarts`` times and its batch is retried (``max_task_retries=-1``: as long as the actor can
come back); nothing it did not return is lost, and an answer that does come back twice is stored
once (the store's primary key is (model_key, prompt_id), inserts skip known keys). An exception
raised by the backend (a bad model, an InputError) is not retried: the job stops, what was stored
stays, and the same command resumes.

Ray is imported only when these functions run, never on ``import socialbias``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .backends.base import Mode, Prompt
from .errors import InputError
from .runner import RunStats, deterministic, headline, plan_questions, prompt_counts, store_stream
from .store import Answer, ResponseStore

EXECUTORS = ("local", "ray")
#: Answer fields in the order of the columns an actor returns.
ANSWER_COLUMNS = tuple(f.name for f in dataclasses.fields(Answer))
#: At most this many input blocks (larger runs get blocks of several batches).
MAX_BLOCKS = 20_000
#: Whether :func:`connect` started the Ray this process uses (then :func:`disconnect` stops it).
_started = False


def _ray():
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise InputError(f"--executor ray needs Ray Data ({exc}): pip install 'socialbias[ray]'") from None
    return ray


def connect(address: str | None = None, *, num_cpus: int | None = None) -> bool:
    """Join a Ray cluster: ``address`` (or ``$RAY_ADDRESS``), else start a local one.

    Returns whether this call started Ray (then the caller shuts it down when done); an already
    initialised Ray (a notebook, a test) is used as it is."""
    global _started
    ray = _ray()
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or None
    try:
        if address:
            ray.init(address=address, log_to_driver=True)
        else:
            ray.init(num_cpus=num_cpus, include_dashboard=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {address!r}" if address else "a local Ray cluster"
        raise InputError(f"could not connect to {where}: {str(exc).splitlines()[0] if str(exc) else exc}") from None
    _started = True
    return True


def disconnect() -> None:
    """Shut Ray down if :func:`connect` started it (a cluster joined or a Ray the caller started stays)."""
    global _started
    if _started:
        _started = False
        _ray().shutdown()


@dataclass
class RemoteBackend:
    """What the driver knows of a backend that lives in Ray actors: its key, ``describe()`` and
    the settings :func:`socialbias.runner.deterministic` and the run record read."""

    key: str
    deterministic: bool
    model_name: str | None = None
    adapter: str | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {**self.info, "executor": "ray"}

    def answer(self, prompts, mode):  # pragma: no cover - a guard, never called by the pipeline
        raise RuntimeError("this backend lives in Ray actors: answer with socialbias.executors.answer_prompts_ray")


def _probe_backend(factory: Callable[[], Any], mode: str) -> dict[str, Any]:
    backend = factory()
    try:
        info = backend.describe() if hasattr(backend, "describe") else {"key": backend.key}
        return {"key": backend.key, "deterministic": deterministic(mode, backend),
                "model_name": getattr(backend, "model_name", None), "adapter": getattr(backend, "adapter", None),
                "info": json.loads(json.dumps(info, default=str))}
    finally:
        close = getattr(backend, "close", None)
        if callable(close):
            close()


def probe(backend_factory: Callable[[], Any], mode: Mode, *, num_gpus: float = 0.0, num_cpus: float = 1.0,
          address: str | None = None) -> RemoteBackend:
    """Make the backend once in a Ray task (placed like an engine actor) and return its key and
    description (see the module docstring). Starts or joins Ray as :func:`connect` does."""
    ray = _ray()
    connect(address)
    task = ray.remote(_probe_backend).options(num_gpus=num_gpus, num_cpus=num_cpus, max_retries=2)
    try:
        return RemoteBackend(**ray.get(task.remote(backend_factory, mode)))
    except ray.exceptions.RayTaskError as exc:
        disconnect()
        cause = getattr(exc, "cause", None)
        if isinstance(cause, InputError):  # the backend's own one-line error, as a local run shows it
            raise InputError(str(cause)) from None
        raise
    except BaseException:
        disconnect()
        raise


class EngineActor:
    """One engine per Ray actor: ``map_batches`` calls it with a pandas batch of prompts and gets
    a pandas batch of answers (the :class:`~socialbias.store.Answer` fields)."""

    def __init__(self, backend_factory: Callable[[], Any], mode: str, expected_key: str | None = None):
        self.backend = backend_factory()
        self.mode = mode
        if expected_key is not None and self.backend.key != expected_key:
            raise InputError(
                f"a Ray worker made a backend with model key {self.backend.key!r}, not the run's {expected_key!r} "
                "(another dtype or template on that node?): pin --dtype and --template, or use matching nodes")

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        prompts = [Prompt(pid, json.loads(m), int(s))
                   for pid, m, s in zip(batch["prompt_id"], batch["messages"], batch["sample"])]
        rows = [dataclasses.astuple(a) for a in self.backend.answer(prompts, self.mode)]
        return pd.DataFrame.from_records(rows, columns=list(ANSWER_COLUMNS))


def backend_factory(config: Any) -> Callable[[], Any]:
    """A picklable factory of the backend a :class:`~socialbias.pipeline.RunConfig` names (the
    replay backend, which needs the whole prompts table, is not sent to Ray)."""
    import functools

    from .backends.registry import make_backend

    if config.backend == "replay":
        raise InputError("the replay backend reads a local file: run it with --executor local")
    return functools.partial(make_backend, config, None, None, None)


def _dataset(todo: pd.DataFrame, batch_size: int):
    """The prompts to ask as a Ray Dataset of blocks of whole batches."""
    ray = _ray()
    table = pd.DataFrame({
        "prompt_id": todo["prompt_id"].astype(str).to_numpy(),
        "messages": [json.dumps(list(m), ensure_ascii=False) for m in todo["messages"]],
        "sample": (todo["sample"] if "sample" in todo.columns else pd.Series(0, index=todo.index)).astype("int64").to_numpy(),
    })
    per_block = batch_size * max(1, math.ceil(len(table) / (batch_size * MAX_BLOCKS)))
    return ray.data.from_pandas([table.iloc[i:i + per_block] for i in range(0, len(table), per_block)])


def answer_prompts_ray(
    prompts: pd.DataFrame,
    backend_factory: Callable[[], Any],
    store: ResponseStore,
    mode: Mode = "logprob",
    *,
    backend: RemoteBackend | None = None,
    address: str | None = None,
    concurrency: int = 1,
    num_gpus: float = 0.0,
    num_cpus: float | None = None,
    batch_size: int = 64,
    max_restarts: int = 4,
    store_batch_size: int = 256,
    progress: bool = True,
    description: str = "answering (ray)",
    keep_ray: bool = False,
) -> RunStats:
    """Answer every prompt of ``prompts`` that ``store`` lacks, on Ray (see the module docstring).

    ``backend_factory`` makes the backend (called in the actors, and once in :func:`probe` unless
    ``backend``, an earlier probe's result, is given); it must be picklable. ``concurrency`` engine
    actors, each with ``num_gpus`` GPUs (fractions allowed) and ``num_cpus`` CPUs (default 1 on a
    CPU-only actor, 0.5 beside a GPU), answer blocks of ``batch_size`` prompts. Returns the
    runner's :class:`~socialbias.runner.RunStats`. A Ray that :func:`connect` started (here or in
    :func:`probe`) is shut down at the end unless ``keep_ray``.
    """
    if concurrency < 1 or batch_size < 1:
        raise InputError(f"ray concurrency={concurrency!r} and batch_size={batch_size!r}: expected positive integers")
    if num_gpus < 0:
        raise InputError(f"ray num_gpus={num_gpus!r}: expected a number >= 0")
    if num_cpus is None:
        num_cpus = 1.0 if not num_gpus else 0.5
    started = time.perf_counter()
    ray = _ray()
    connect(address)
    try:
        if backend is None:
            backend = probe(backend_factory, mode, num_gpus=num_gpus, num_cpus=num_cpus)
        plan = plan_questions(prompts, backend, store, mode)
        todo, copies, stats = plan.todo, plan.copies, plan.stats
        if progress:
            print(headline(stats, prompt_counts(prompts)), file=sys.stderr, flush=True)
        if todo.empty:
            return stats

        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # the runner's own bar counts answers
        with warnings.catch_warnings():
            # Actor restarts have no named map_batches parameter yet (Ray 2.60 deprecates the
            # ray_remote_args route in favour of named ones; Ray Data's own default is unbounded).
            warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated")
            dataset = _dataset(todo, batch_size).map_batches(
                EngineActor,
                batch_size=batch_size,
                batch_format="pandas",
                fn_constructor_kwargs={"backend_factory": backend_factory, "mode": mode, "expected_key": backend.key},
                concurrency=concurrency,
                num_gpus=num_gpus,
                num_cpus=num_cpus,
                max_restarts=max_restarts,
                max_task_retries=-1,
            )
        chunks = ([Answer(*row) for row in batch.itertuples(index=False, name=None)]
                  for batch in dataset.iter_batches(batch_size=None, batch_format="pandas"))
        stats.stored = store_stream(store, chunks, copies, total=stats.asked, description=description,
                                    progress=progress, batch_size=store_batch_size)
        stats.seconds = time.perf_counter() - started
        return stats
    finally:
        if not keep_ray:
            disconnect()


__all__ = ["EXECUTORS", "EngineActor", "RemoteBackend", "answer_prompts_ray", "backend_factory", "connect", "disconnect", "probe"]
