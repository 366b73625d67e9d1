"""The scoring benchmark runs (``--small``: 2 models, 100 replicates) and prints its figures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "score_bench.py"


@pytest.mark.parametrize("order", [[], ["--in-a-row"]])
def test_score_bench_small_runs(order) -> None:
    out = subprocess.run([sys.executable, str(BENCH), "--small", *order], capture_output=True, text=True,
                         timeout=300, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "15 strata; TB, BAmt, PB and acc agree between the scorers" in out.stdout
    assert "score --no-report --n-boot 100:" in out.stdout and "ratio package / plain:" in out.stdout
