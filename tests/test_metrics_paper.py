"""Real-world check: the paper's recorded Llama-2-7b-chat answers (Sexual_orientation).

Expected numbers: ../shared/paper_outputs/README.md (an independent implementation of the
protocol to 3 decimals, and the published 2-decimal table with population sds over runs).
Two definitions are pinned down by these numbers: accuracy is over the *default persona's*
responses, and a "none" answer counts as the unknown option -- i.e. as *correct* on an
ambiguous item (ambiguous accuracy 0.532; counting "none" as wrong would give 0.365).
s_AMB_paper is the mean over runs of (1 - acc_ambig,k) * s_DIS,k.
"""

from __future__ import annotations

import pytest

from socialbias import metrics
from tests.metrics_fixtures import PAPER_DIR, paper_answers

pytestmark = pytest.mark.skipif(not PAPER_DIR.exists(), reason="../shared/paper_outputs missing")

INDEPENDENT = {  # README.md: 3 decimals
    "ambig": {"TB": 0.059, "BAmt": 0.694, "PB": 0.091, "s_amb_paper": -0.027, "acc": 0.532},
    "disambig": {"TB": 0.032, "BAmt": 0.467, "PB": 0.049, "s_dis": -0.058, "acc": 0.366},
}
PUBLISHED = {  # README.md: 2 decimals, (population sd over runs)
    "ambig": {"TB": (0.06, 0.03), "BAmt": (0.69, 0.03), "PB": (0.09, 0.01),
              "s_amb_paper": (-0.03, 0.01), "acc": (0.53, 0.02)},
    "disambig": {"TB": (0.03, None), "BAmt": (0.47, None), "PB": (0.05, None),
                 "s_dis": (-0.06, None), "acc": (0.37, None)},
}


@pytest.fixture(scope="module")
def summary():
    answers = paper_answers()
    assert len(answers) == 25920 and answers["run"].nunique() == 5
    assert sorted(answers["persona"].unique()) == ["", "bisexual", "gay", "lesbian", "pansexual", "straight"]
    s = metrics.score_answers(answers, n_boot=200, seed=1).summary
    return s.set_index("context_condition")


@pytest.mark.parametrize("ctx", ["ambig", "disambig"])
def test_matches_independent_implementation(summary, ctx: str) -> None:
    for name, expected in INDEPENDENT[ctx].items():
        assert round(float(summary.loc[ctx, name]), 3) == pytest.approx(expected), name


@pytest.mark.parametrize("ctx", ["ambig", "disambig"])
def test_matches_published_table(summary, ctx: str) -> None:
    for name, (mean, sd) in PUBLISHED[ctx].items():
        assert round(float(summary.loc[ctx, name]), 2) == pytest.approx(mean), name
        if sd is not None:
            assert round(float(summary.loc[ctx, name + "_sd"]), 2) == pytest.approx(sd), name + "_sd"


def test_paper_sample_extras(summary) -> None:
    # 25,920 answers, 8.9% "none"; every number has an interval around it
    assert summary["n_responses"].sum() == 25920
    for ctx in ("ambig", "disambig"):
        row = summary.loc[ctx]
        assert row.acc_lo <= row.acc <= row.acc_hi
        assert row.BAmt_lo <= row.BAmt <= row.BAmt_hi
        assert row.type in metrics.TYPES
        assert 0.0 <= row.type_confidence <= 1.0
        assert row.PB_floor > 0  # sampled (temperature 1) answers: default runs differ
