"""Scoring on several processes (:mod:`metrics.parts`): the same tables, bit for bit, as one
scoring; the same refusals; parts that follow the strata."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from socialbias import metrics
from socialbias.metrics.parts import check_workers, split_rows
from socialbias.metrics.results import TABLES
from tests.metrics_fixtures import bbq_items, simulate_answers

FAST = metrics.TypeThresholds(n_null=100)
PERSONAS = {"": "", "gay": "gay", "straight": "straight", "a gardener": ""}


@pytest.fixture(scope="module")
def three_models() -> pd.DataFrame:
    """Three models (one with Religion only), two categories, a placebo role, and one
    (model, category) whose items are all excluded (still reported, with n_excluded)."""
    items = pd.concat([bbq_items("Sexual_orientation"), bbq_items("Religion")], ignore_index=True)
    frames = [simulate_answers(items, PERSONAS, q=0.6, ingroup=0.2, runs=2, seed=3, model="m-b"),
              simulate_answers(items[items.category == "Religion"], PERSONAS, q=0.5, runs=2, seed=4, model="m-a"),
              simulate_answers(items, PERSONAS, q=0.7, runs=2, seed=5, model="m-c")]
    a = pd.concat(frames, ignore_index=True)
    a["persona_placebo"] = a["persona"] == "a gardener"
    a.loc[(a.model == "m-c") & (a.category == "Religion"), "excluded"] = True
    return a.sample(frac=1.0, random_state=0).reset_index(drop=True)  # parts must not need sorted rows


def _score(answers: pd.DataFrame, workers: int | None) -> metrics.MetricResults:
    return metrics.score_answers(answers, n_boot=40, n_perm=40, seed=11, thresholds=FAST, workers=workers)


@pytest.mark.parametrize("workers", [2, 3, 8])
def test_parts_give_the_tables_of_one_scoring(three_models, workers) -> None:
    one = _score(three_models, 1)
    split = _score(three_models, workers)
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(split, name), getattr(one, name), check_exact=True, obj=name)
    assert split.config == one.config
    assert one.config["n_excluded"] > 0 and one.summary["PB_placebo"].notna().any()


def test_parts_follow_the_strata(three_models) -> None:
    a = three_models
    for parts in (2, 3, 5):
        rows = split_rows(a, parts, include_excluded=False)
        assert 2 <= len(rows) <= parts
        assert np.array_equal(np.sort(np.concatenate(rows)), np.arange(len(a)))
        keys = [sorted(set(zip(a.model.iloc[r], a.category.iloc[r]))) for r in rows]
        assert [k for part in keys for k in part] == sorted(set(zip(a.model, a.category)))  # consecutive
        assert all((~a.excluded.iloc[r]).any() for r in rows)  # every part has a scored row
    missing = a.copy()
    missing.loc[0, "model"] = None
    assert len(split_rows(missing, 3, include_excluded=False)) == 1  # the serial scoring refuses it


def _placebo_in_one_model_only(a: pd.DataFrame) -> None:
    a.loc[(a.model == "m-a") & (a.persona == "a gardener"), "persona_placebo"] = False


def _two_groups_for_one_persona(a: pd.DataFrame) -> None:
    a["persona_member_of"] = a["persona"].astype(str).map({"gay": "gay", "straight": "straight"}).fillna("")
    a.loc[(a.model == "m-c") & (a.persona == "gay"), "persona_member_of"] = "lesbian"


def _bad_codes_in_two_parts(a: pd.DataFrame) -> None:
    a["choice"] = a["choice"].astype(np.int64)
    a.loc[a.index[(a.model == "m-c").to_numpy()][:3], "choice"] = 7
    a.loc[a.index[(a.model == "m-a").to_numpy()][:2], "choice"] = 9


def _missing_values(a: pd.DataFrame) -> None:
    a["target1"] = a["target1"].astype(object)
    a.loc[a.index[(a.model == "m-c").to_numpy()][:4], "target1"] = None


def _no_model_column(a: pd.DataFrame) -> None:
    del a["model"]


@pytest.mark.parametrize("damage", [_placebo_in_one_model_only, _two_groups_for_one_persona, _bad_codes_in_two_parts,
                                    _missing_values, _no_model_column])
def test_a_table_is_refused_as_by_one_scoring(three_models, damage) -> None:
    """Checks across models (placebo flags, member_of) and per-row checks failing in several
    parts: the same error, word for word, as one scoring."""
    bad = three_models.copy()
    damage(bad)
    messages = []
    for workers in (1, 2):
        with pytest.raises(metrics.MetricsInputError) as err:
            _score(bad, workers)
        messages.append(str(err.value))
    assert messages[0] == messages[1]


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_workers_must_be_a_positive_integer(bad) -> None:
    with pytest.raises(metrics.MetricsInputError, match="workers"):
        check_workers(bad)
    assert check_workers(None) >= 1 and check_workers(np.int64(3)) == 3


#: Closes many pools under the command line's SIGTERM handler; each worker reports its
#: signal dispositions. Before the workers reset them, about one pool in four printed a
#: worker's traceback as it closed, and now and then a worker never ended (the run hung).
#: Pools closed as soon as they open signal workers that may not have started yet: before
#: the workers were forked with the signals blocked, about 1 in 100 printed a traceback.
_POOLS_UNDER_HANDLER = """
import signal
from socialbias.clitools import sigterm_raises
from socialbias.metrics.parts import _forked_pool

def dispositions(_):
    return signal.getsignal(signal.SIGTERM) is signal.SIG_DFL, signal.getsignal(signal.SIGINT) is signal.SIG_IGN

with sigterm_raises():
    for _ in range(300):
        with _forked_pool(2) as pool:
            got = pool.map(dispositions, range(4), chunksize=1)
        assert all(term and intr for term, intr in got), got
    for _ in range(500):
        with _forked_pool(2):
            pass
print("closed 300 pools")
"""


def test_workers_end_when_the_pool_closes_under_the_command_lines_handler() -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _POOLS_UNDER_HANDLER], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "closed 300 pools" in done.stdout
    assert "Traceback" not in done.stderr, done.stderr[-2000:]


@pytest.mark.parametrize("workers", [1, 2])
def test_alongside_runs_once_here_while_the_workers_score(three_models, workers) -> None:
    import multiprocessing
    import os

    calls: list[tuple[int, int]] = []
    result = metrics.score_answers(three_models, n_boot=40, n_perm=40, seed=11, thresholds=FAST, workers=workers,
                                   alongside=lambda: calls.append((os.getpid(), len(multiprocessing.active_children()))))
    assert [pid for pid, _ in calls] == [os.getpid()]
    assert (calls[0][1] > 0) == (workers > 1)  # the workers are alive while it runs
    pd.testing.assert_frame_equal(result.summary, _score(three_models, 1).summary)


def _pid_and(value: int) -> tuple[int, int]:
    import os

    return os.getpid(), value


def _refuse(path: str) -> None:
    raise FileNotFoundError(path)


@pytest.mark.parametrize("fork", [True, False])
def test_forked_returns_the_result_or_raises_the_error(monkeypatch, fork) -> None:
    import os

    from socialbias.metrics import parts

    monkeypatch.setattr(parts, "can_fork", lambda: fork)
    with parts.forked(_pid_and, 7) as result:
        pid, value = result()
    assert value == 7 and (pid != os.getpid()) == fork
    with pytest.raises(FileNotFoundError, match="no/such/file"):
        with parts.forked(_refuse, "no/such/file") as result:
            result()
    assert parts._CALL == []
