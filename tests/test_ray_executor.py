"""``--executor ray``: the same answers as a local run, retried workers, resume, the CLI end to end.

One local Ray cluster (2 CPUs) for the module. Ray is in the test extra: missing is a failure.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import pandas as pd
import pytest

import ray  # noqa: E402

from socialbias.backends.hf import HFBackend  # noqa: E402
from socialbias.eval import main  # noqa: E402
from socialbias.executors import answer_prompts_ray, probe  # noqa: E402
from socialbias.expand import expand  # noqa: E402
from socialbias.personas import load_instructions, load_personas  # noqa: E402
from socialbias.runner import answer_prompts  # noqa: E402
from socialbias.store import ResponseStore  # noqa: E402
from tests.conftest import BBQ_DIR  # noqa: E402
from tests.tiny_model import tiny_corpus, tiny_model_dir  # noqa: E402,F401  (fixtures)


@pytest.fixture(scope="module", autouse=True)
def ray_cluster():
    # Workers import socialbias and tests from this checkout, offline, one torch thread each.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                                       "TOKENIZERS_PARALLELISM": "false",
                                       "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}})
    yield
    ray.shutdown()


class RecordingBackend(HFBackend):
    """The HF backend, writing each prompt id it is asked into ``log_dir`` (one file per process);
    with ``crash_marker``, the first process to answer creates the marker and dies (once)."""

    def __init__(self, model, log_dir: str, crash_marker: str | None = None, **kw):
        super().__init__(model, device="cpu", **kw)
        self.log = Path(log_dir) / f"{os.getpid()}.txt"
        self.crash_marker = crash_marker

    def answer(self, prompts, mode=None):
        prompts = list(prompts)
        if self.crash_marker:
            try:
                fd = os.open(self.crash_marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                pass
            else:
                os.close(fd)
                os._exit(1)  # a worker lost mid-job (OOM kill, node gone)
        with open(self.log, "a", encoding="utf-8") as fh:
            fh.writelines(p.prompt_id + "\n" for p in prompts)
        yield from super().answer(prompts, mode)


def asked(log_dir: Path) -> list[str]:
    return [line for f in sorted(log_dir.glob("*.txt")) for line in f.read_text().splitlines()]


@pytest.fixture(scope="module")
def prompts(bbq_items):
    # 16 items x (default + 2 personas) x 2 runs = 96 prompts, 80 distinct texts.
    items = bbq_items[bbq_items.category == "Sexual_orientation"].head(16)
    return expand(items, load_personas(names=["gay", "straight"]), load_instructions(), runs=[0, 1])


@pytest.fixture(scope="module")
def local_answers(tmp_path_factory, tiny_model_dir, prompts):
    with ResponseStore.open(tmp_path_factory.mktemp("local")) as store:
        backend = HFBackend(tiny_model_dir, device="cpu")
        answer_prompts(prompts, backend, store, "logprob", progress=False)
        return backend.key, store.responses(backend.key).set_index("prompt_id").sort_index()


def factory(tiny_model_dir, log_dir, crash_marker=None):
    return functools.partial(RecordingBackend, str(tiny_model_dir), str(log_dir), crash_marker)


@pytest.fixture(scope="module")
def remote(tmp_path_factory, tiny_model_dir):
    """The probe's view of the backend (made once in a Ray task): the tests reuse it."""
    return probe(factory(tiny_model_dir, tmp_path_factory.mktemp("probe")), "logprob")


def test_ray_gives_the_local_answers_once_each(tmp_path, tiny_model_dir, prompts, local_answers, remote):
    key, local = local_answers
    (tmp_path / "log").mkdir()
    make = factory(tiny_model_dir, tmp_path / "log")
    assert remote.key == key and remote.deterministic and remote.describe()["executor"] == "ray"
    assert remote.describe()["letter_tokens"] == HFBackend(tiny_model_dir, device="cpu").describe()["letter_tokens"]
    with ResponseStore.open(tmp_path / "run") as store:
        stats = answer_prompts_ray(prompts, make, store, "logprob", backend=remote, concurrency=2, batch_size=16,
                                   progress=False)
        assert stats.asked == 80 and stats.stored == len(prompts) == 96
        got = store.responses(key).set_index("prompt_id").sort_index()
    ids = asked(tmp_path / "log")
    assert len(ids) == len(set(ids)) == 80  # each distinct text asked once, by either actor
    # Two engine actors were started; which one gets which batch is Ray's call (under load one
    # may take them all), so only the bound is asserted.
    assert 1 <= len(list((tmp_path / "log").glob("*.txt"))) <= 2
    assert list(got.index) == list(local.index)
    assert (got["choice"] == local["choice"]).all()
    for p in ("p0", "p1", "p2"):
        assert (got[p] - local[p]).abs().max() < 1e-5


def test_killed_worker_is_retried_nothing_lost_or_duplicated(tmp_path, tiny_model_dir, prompts, local_answers, remote):
    key, local = local_answers
    (tmp_path / "log").mkdir()
    marker = tmp_path / "crashed"
    make = factory(tiny_model_dir, tmp_path / "log", str(marker))
    with ResponseStore.open(tmp_path / "run") as store:
        stats = answer_prompts_ray(prompts, make, store, "logprob", backend=remote, concurrency=1, batch_size=16,
                                   progress=False)
        got = store.responses(key).set_index("prompt_id").sort_index()
    assert marker.exists()  # a worker did die mid-job
    assert stats.asked == 80 and stats.stored == 96 and got.index.is_unique
    assert list(got.index) == list(local.index) and (got["choice"] == local["choice"]).all()
    assert len(set(asked(tmp_path / "log"))) == 80  # the lost batch was asked again, by the restarted actor


def test_only_missing_prompts_are_sent(tmp_path, tiny_model_dir, prompts, local_answers, remote):
    key, local = local_answers
    (tmp_path / "log").mkdir()
    half = local.reset_index().iloc[::2]
    with ResponseStore.open(tmp_path / "run") as store:
        store.add(half)
        stats = answer_prompts_ray(prompts, factory(tiny_model_dir, tmp_path / "log"), store, "logprob",
                                   backend=remote, concurrency=2, batch_size=8, progress=False)
        assert stats.cached == len(half) == 48 and stats.stored == 48
        assert store.count(key) == 96
    sent = asked(tmp_path / "log")
    assert len(sent) == len(set(sent)) == stats.asked
    assert not set(sent) & set(half["prompt_id"])  # nothing already stored went to the actors


GRID = ["--bbq-dir", str(BBQ_DIR), "--categories", "Sexual_orientation", "--personas", "gay,straight",
        "--instructions", "0-1", "--limit", "12", "--n-boot", "50", "--quiet"]


def test_cli_executor_ray_writes_the_local_summary(tmp_path, tiny_model_dir):
    import json

    base = ["run", "--model", str(tiny_model_dir), "--backend", "hf", "--device", "cpu", *GRID]
    assert main([*base, "--out", str(tmp_path / "local")]) == 0
    ray_flags = ["--executor", "ray", "--ray-concurrency", "2", "--ray-batch-size", "16"]
    assert main([*base, *ray_flags, "--out", str(tmp_path / "ray")]) == 0
    record = json.loads((tmp_path / "ray" / "run.json").read_text())
    local_record = json.loads((tmp_path / "local" / "run.json").read_text())
    assert record["model_key"] == local_record["model_key"] and record["config"]["executor"] == "ray"
    assert record["answering"]["asked"] == 12 * 5 and record["answering"]["stored"] == 72
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "ray" / "results" / "summary.csv"),
                                  pd.read_csv(tmp_path / "local" / "results" / "summary.csv"))
    # (resuming is the store's missing(): test_only_missing_prompts_are_sent)


def test_ray_errors_are_one_line_like_local(tmp_path, capsys):
    # A model the workers cannot load: the backend's own message, from the probe.
    assert main(["run", "--model", str(tmp_path / "nope"), "--executor", "ray", *GRID, "--out", str(tmp_path / "n")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope" in err and "ray::" not in err
def test_ray_refuses_lora_and_replay(tmp_path):
    assert main(["run", "--model", "m", "--backend", "vllm", "--lora", "a=/x", "--executor", "ray", *GRID,
                 "--out", str(tmp_path / "a")]) == 2
    assert main(["run", "--backend", "replay", "--responses", "r.jsonl", "--executor", "ray", *GRID,
                 "--out", str(tmp_path / "b")]) == 2
