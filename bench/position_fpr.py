"""False-positive rate and power of the position-bias test (metrics/position.py) by simulation.

    python bench/position_fpr.py
"""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from socialbias.metrics.position import position_bias  # noqa: E402
from tests.test_position import _simulate  # noqa: E402

rng = np.random.default_rng(1)
for design in ("cyclic", "balanced"):
    for sampled in (True, False):
        p = np.array([position_bias(_simulate(rng, design, 60, 6, 0.0, sampled), n_perm=199, seed=s).p_value.iloc[0] for s in range(1000)])
        print(design, "sampled" if sampled else "deterministic", "FPR@0.05 =", (p <= 0.05).mean(), flush=True)
    for tilt in (0.1, 0.3):
        p = np.array([position_bias(_simulate(rng, design, 60, 6, tilt, True), n_perm=199, seed=s).p_value.iloc[0] for s in range(200)])
        print(design, "tilt", tilt, "power@0.05 =", (p <= 0.05).mean(), flush=True)
