"""The report benchmark script runs (``--small``: 20 strata, tiny items) and prints both times and
their ratio; no timing is asserted (CI machines differ), only that each figure mode does what it says."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "report_bench.py"


def test_report_bench_small_runs() -> None:
    out = subprocess.run([sys.executable, str(BENCH), "--small"], capture_output=True, text=True, timeout=600,
                         check=False)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "study: 20 strata (2 models)" in text
    assert re.search(r"score without report: [\d.]+ s wall", text)
    # 20 strata > SMALL_STUDY: the overview only (plane and PB bars, PDF and PNG each)
    assert re.search(r"score with report \(figures=auto: overview\): [\d.]+ s wall.*; 4 figure files", text)
    assert re.search(r"ratio with/without report: [\d.]+", text)
