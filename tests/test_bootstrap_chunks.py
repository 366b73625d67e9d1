"""The bootstrap's replicates do not depend on how many are computed at once (the chunk,
chosen from the width of the contribution matrix: metrics/bootstrap.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from socialbias.metrics import bootstrap as boot
from socialbias.metrics.streams import StratumStreams


def _run(chunk, monkeypatch=None):
    rng = np.random.default_rng(3)
    strata = pd.DataFrame({"model": ["m", "m"], "category": ["Age", "SES"], "context_condition": ["ambig", "ambig"]})
    cluster_stratum = np.repeat([0, 1], [7, 5])
    C = sp.csr_array(rng.poisson(1.0, (12, 40)).astype(float))
    streams = StratumStreams(5, strata, "bootstrap", cluster_stratum)
    return boot.bootstrap(C, cluster_stratum, lambda X: {"x": X, "s": X.sum(axis=1, keepdims=True)},
                          n_boot=23, streams=streams, chunk=chunk)


def test_replicates_do_not_depend_on_the_chunk(monkeypatch) -> None:
    ref = _run(100)
    for chunk in (1, 4, None):
        out = _run(chunk)
        assert out.keys() == ref.keys()
        for name in ref:
            np.testing.assert_array_equal(out[name], ref[name])
    monkeypatch.setattr(boot, "CHUNK_VALUES", 80)  # 40 columns: 2 replicates per chunk
    out = _run(None)
    np.testing.assert_array_equal(out["x"], ref["x"])
    assert ref["x"].shape == (23, 40) and np.ptp(ref["s"]) > 0  # replicates differ
