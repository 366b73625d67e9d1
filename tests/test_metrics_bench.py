"""The benchmark script runs (``--small``: 1/20 of the paper's grid, 100 replicates)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "metrics_bench.py"


def test_bench_small_runs() -> None:
    out = subprocess.run([sys.executable, str(BENCH), "--small"], capture_output=True, text=True,
                         timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert "score_answers(n_boot=100)" in out.stdout and "peak RSS" in out.stdout
    assert "Sexual_orientation" in out.stdout
