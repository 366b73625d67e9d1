"""One result type (Results) for run, score and load_run; the run record's format version."""

from __future__ import annotations

import json

import numpy as np
import pytest

from socialbias.errors import InputError
from socialbias.results import RUN_FORMAT, Results, check_run_dir, format_major
from socialbias.scoring import ScoredResponses


@pytest.mark.parametrize("fmt, major", [(1, 1), ("1.1", 1), ("1.9", 1), ("2.0", 2), ("x", None), (None, None),
                                        (True, None)])
def test_format_major(fmt, major):
    assert format_major(fmt) == major


@pytest.mark.parametrize("fmt", [1, "1.0", RUN_FORMAT, "1.99"])
def test_same_major_is_read(tmp_path, fmt):
    (tmp_path / "run.json").write_text(json.dumps({"run_format": fmt}))
    assert check_run_dir(tmp_path)["run_format"] == fmt


def test_newer_major_is_refused_with_the_fix(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps({"run_format": "2.0", "versions": {"socialbias": "2.3"}}))
    with pytest.raises(InputError, match=r"newer socialbias \(2.3, run format 2.0.*upgrade socialbias"):
        check_run_dir(tmp_path)


def test_record_without_format_is_refused(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps({"something": "else"}))
    with pytest.raises(InputError, match="not a socialbias run record"):
        check_run_dir(tmp_path)


def test_scored_responses_are_results(tmp_path):
    from tests.test_cli import PAPER_OUTPUTS  # the paper's released answers
    from socialbias.pipeline import load_run
    from socialbias.scoring import score_responses

    scored = score_responses(PAPER_OUTPUTS, fmt="paper", parser="paper", n_boot=0, out=tmp_path / "s", report=False)
    assert isinstance(scored, ScoredResponses) and isinstance(scored, Results)
    assert scored.to_results() is scored and scored.results is scored.metrics and scored.out == tmp_path / "s"
    assert len(scored.types) == len(scored.summary) and len(scored.answers) > 0
    again = load_run(tmp_path / "s")
    assert type(again) is Results
    for col in ("TB", "BAmt", "PB", "acc"):
        assert np.allclose(again.summary[col].to_numpy(float), scored.summary[col].to_numpy(float), equal_nan=True)
