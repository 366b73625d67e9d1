"""The bootstrap computed a few strata at a time (metrics/blocks.py, docs/design.md "Speed")
gives the replicates of one block over every stratum, bit for bit, and a block never
separates an ambiguous stratum from the disambiguated one its s_AMB reads."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from socialbias import metrics
from socialbias.metrics import persona_test
from socialbias.metrics import score as score_mod
from socialbias.metrics.abs_intervals import cell_signs
from socialbias.metrics.blocks import strata_blocks
from socialbias.metrics.bootstrap import bootstrap, bootstrap_blocks
from socialbias.metrics.clusters import make_clusters
from socialbias.metrics.design import build_layout
from socialbias.metrics.schema import prepare_answers
from socialbias.metrics.streams import StratumStreams
from tests.metrics_fixtures import bbq_items, simulate_answers

PERSONAS = {"": "", "gay": "gay", "a Muslim": "Muslim", "a gardener": ""}
FAST = metrics.TypeThresholds(n_null=50)


@pytest.fixture(scope="module")
def answers() -> pd.DataFrame:
    items = pd.concat([bbq_items("Sexual_orientation").head(96), bbq_items("Religion").head(96)],
                      ignore_index=True)
    frames = [simulate_answers(items, PERSONAS, runs=3, q=0.65, ingroup=0.2, seed=5),
              simulate_answers(items[items.context_condition == "ambig"], PERSONAS, runs=2, q=0.5, seed=6,
                               model="amb-only")]
    out = pd.concat(frames, ignore_index=True)
    out["persona_placebo"] = out["persona"] == "a gardener"  # an identity-free role (metrics/placebo.py)
    return out


@pytest.fixture(scope="module")
def setup(answers):
    r = prepare_answers(answers)
    layout = build_layout(r, 2.0, 1.0)
    clusters = make_clusters(r)
    C = (clusters.indicator() @ layout.C).tocsr()
    counts = layout.split(np.asarray(C.sum(axis=0)).reshape(1, -1))
    return r, layout, clusters, C, cell_signs(C, layout, counts)


def test_blocks_cover_every_row_and_keep_context_pairs(setup) -> None:
    r, layout, *_ = setup
    blocks = strata_blocks(layout, 1)  # as many blocks as the links allow
    assert len(blocks) == 4  # 2 (model, category) pairs of "sim" + 2 ambiguous-only strata
    for name in blocks[0]:
        assert blocks[0][name][0] == 0
        assert all(a[name][1] == b[name][0] for a, b in zip(blocks, blocks[1:]))
    assert blocks[-1]["tc"][1] == layout.n_tc and blocks[-1]["st"][1] == len(r.strata)
    key = r.strata["model"] + "/" + r.strata["category"]
    for blk in blocks:
        s0, s1 = blk["st"]
        assert set(key[s0:s1]).isdisjoint(set(key[:s0]) | set(key[s1:]))  # a pair is never cut
    assert len(strata_blocks(layout, 10**9)) == 1


def _blocked(setup, n_boot: int, columns: int, chunk: int | None = None,
             dtype: type[np.floating] = np.float64) -> dict[str, np.ndarray]:
    """The score's bootstrap replicates with blocks of ``columns`` count columns."""
    r, layout, clusters, C, signs = setup
    widths = {"tg": len(layout.tg), "pg": len(layout.pg), "st": len(r.strata)}
    streams = StratumStreams(3, r.strata, "bootstrap", clusters.cluster_stratum)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(score_mod, "BLOCK_COLUMNS", columns)
        blocks = score_mod._replicate_blocks(layout, signs)
    return bootstrap_blocks(C, clusters.cluster_stratum, blocks, widths, n_boot=n_boot, streams=streams,
                            chunk=chunk, dtype=dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_boot", [0, 37])
def test_blocked_replicates_equal_one_block(setup, n_boot, dtype) -> None:
    """In either precision: the blocks, the chunks (the first one of which also computes the
    observed sample's statistic in float32) and one block give the same replicates."""
    r, layout, clusters, C, signs = setup
    widths = {"tg": len(layout.tg), "pg": len(layout.pg), "st": len(r.strata)}

    def run(columns: int, chunk: int | None = None) -> dict[str, np.ndarray]:
        return _blocked(setup, n_boot, columns, chunk, dtype)

    whole = bootstrap(C[:, :layout.C.shape[1]], clusters.cluster_stratum,
                      lambda X: score_mod.replicate_statistics(layout.split(X), layout, signs), n_boot=n_boot,
                      streams=StratumStreams(3, r.strata, "bootstrap", clusters.cluster_stratum), dtype=dtype)
    for got in (run(1), run(1, chunk=5), run(10**9)):
        assert got.keys() == whole.keys()
        for name, arr in whole.items():
            assert arr.shape == got[name].shape == (n_boot, widths[name.split(".")[0]])
            np.testing.assert_array_equal(got[name], arr, err_msg=name)
    if n_boot:
        assert np.nanstd(whole["st.PB_placebo:fs"]) > 0 and np.nanstd(whole["pg.s_amb_paper"]) > 0


def test_single_precision_replicates_are_the_double_ones_rounded(setup) -> None:
    """float32 replicates (metrics.score.REPLICATE_DTYPE) are the float64 ones up to float32
    rounding: defined in the same cells, within 1e-6, and really computed in float32."""
    double, single = _blocked(setup, 60, 10**9), _blocked(setup, 60, 10**9, dtype=np.float32)
    assert double.keys() == single.keys()
    moved = 0
    for name, arr in double.items():
        assert single[name].dtype == np.float64
        np.testing.assert_array_equal(np.isnan(single[name]), np.isnan(arr), err_msg=name)
        np.testing.assert_allclose(single[name], arr, rtol=0, atol=1e-6, err_msg=name)
        moved += int(np.nansum(single[name] != arr))
    assert moved > 0


def test_single_precision_keeps_a_constant_statistic_exact() -> None:
    """A statistic that resampling cannot move (every cluster's ratio is 1/3) has replicates
    equal, bit for bit, to its float64 value in float32 too (recentred on the observed
    sample): float32 alone would give 0.3333333432674408, outside the estimate's [1/3, 1/3]."""
    import scipy.sparse as sp

    n = np.array([3.0, 6.0, 9.0, 3.0, 12.0])
    C = sp.csr_array(np.column_stack([n, n / 3.0]))  # clusters x (n, S), one stratum
    stratum = np.zeros(5, dtype=np.int64)
    strata = pd.DataFrame({"model": ["m"], "category": ["c"], "context_condition": ["ambig"]})

    def ratio(X: np.ndarray) -> dict[str, np.ndarray]:
        return {"st.r": X[:, 1:2] / X[:, 0:1]}

    for dtype in (np.float64, np.float32):
        reps = bootstrap(C, stratum, ratio, n_boot=30, dtype=dtype,
                         streams=StratumStreams(1, strata, "bootstrap", stratum))["st.r"]
        assert (reps == 1.0 / 3.0).all(), dtype
    assert float(np.float32(3.0) / np.float32(9.0)) != 1.0 / 3.0  # what recentring corrects
    with pytest.raises(ValueError, match="float64 or np.float32"):
        bootstrap(C, stratum, ratio, n_boot=3, dtype=np.float16,
                  streams=StratumStreams(1, strata, "bootstrap", stratum))


def test_score_in_single_precision_matches_double(answers, monkeypatch) -> None:
    """The whole scoring with float32 replicates against float64 ones: the same point
    estimates, intervals and p-values within 1e-6, the same calls (model types, floors)."""
    tables = {}
    for dtype in (np.float64, np.float32):
        monkeypatch.setattr(score_mod, "REPLICATE_DTYPE", dtype)
        tables[dtype] = metrics.score_answers(answers, n_boot=80, n_perm=20, seed=2, thresholds=FAST)
    moved = 0
    for name in ("summary", "target_bias", "persona_bias", "bbq_scores", "ingroup"):
        a, b = getattr(tables[np.float64], name), getattr(tables[np.float32], name)
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=0, atol=1e-6, obj=name)
        for column in a.columns:
            if a[column].dtype.kind == "f":
                moved += int((a[column] != b[column]).sum())
                if not column.endswith(("_lo", "_hi", "pvalue", "padj", "confidence")) and \
                        not column.startswith("p_"):
                    np.testing.assert_array_equal(a[column], b[column], err_msg=f"{name}.{column}")
            else:
                pd.testing.assert_series_equal(a[column], b[column], obj=f"{name}.{column}")
    assert moved > 0


def test_score_does_not_depend_on_the_blocks(answers, monkeypatch) -> None:
    tables = []
    for columns in (1, 10**9):
        monkeypatch.setattr(score_mod, "BLOCK_COLUMNS", columns)
        monkeypatch.setattr(persona_test, "EXCHANGE_COLUMNS", columns)
        tables.append(metrics.score_answers(answers, n_boot=40, n_perm=20, seed=2, thresholds=FAST))
    for name in ("summary", "target_bias", "persona_bias", "bbq_scores", "ingroup"):
        pd.testing.assert_frame_equal(getattr(tables[0], name), getattr(tables[1], name), check_exact=True)


@pytest.mark.parametrize("n_perm", [0, 23])
def test_exchange_null_blocks(setup, n_perm, monkeypatch) -> None:
    """The persona-exchange null, a few strata at a time, equals one block's."""
    r, layout, clusters, C, _ = setup
    counts = layout.point_counts()
    shift = score_mod.per_run_statistics(counts, layout)["pb"]["shift"]
    got = []
    for columns in (1, 10**9):
        monkeypatch.setattr(persona_test, "EXCHANGE_COLUMNS", columns)
        got.append(persona_test.exchange_null(layout, clusters, shift, counts["n"], n_perm, 4, chunk=10))
    for a, b in zip(*got):
        np.testing.assert_array_equal(a, b)
    assert got[0][0].shape == (n_perm, len(layout.pg)) and got[0][1].shape == (n_perm, len(r.strata))
    # column-major like the chunks' means, so np.nanmean over swaps (PB_null) sums each
    # column pairwise in the order it did before the blocks (the bench's check of main)
    assert got[0][0].flags.f_contiguous and got[0][1].flags.f_contiguous
    if n_perm:
        assert np.nanstd(got[0][1]) > 0


def test_exchange_null_is_its_definition(setup, monkeypatch) -> None:
    """exchange_null (|shift - 2 D flips| computed in place in the product) equals the
    straightforward formula on one block, bit for bit."""
    r, layout, clusters, C, _ = setup
    counts = layout.point_counts()
    shift = score_mod.per_run_statistics(counts, layout)["pb"]["shift"]
    monkeypatch.setattr(persona_test, "EXCHANGE_COLUMNS", 10**9)
    got = persona_test.exchange_null(layout, clusters, shift, counts["n"], 30, 4, chunk=30)
    D_t = persona_test.exchange_matrix(layout, clusters, counts["n"]).T.tocsr()  # pairs x clusters
    flips = StratumStreams(4, r.strata, "exchange", clusters.cluster_stratum).uniform(30) < 0.5
    null_shift = shift - 2.0 * np.asarray(D_t @ np.ascontiguousarray(flips.T, dtype=np.float64)).T
    pb_k = layout.pb_prc.mean(np.abs(null_shift))
    want = layout.prc_pg.mean(pb_k), layout.sr_st.mean(layout.prc_sr_personas.mean(pb_k))
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a.view(np.int64), b.view(np.int64))
    assert np.nanstd(want[0]) > 0


def test_column_blocks_of_sd_and_percentiles(monkeypatch) -> None:
    """nan_sd and nan_percentile reduce COLUMN_BLOCK columns at a time: same values as one
    block, and as numpy's definitions."""
    import warnings

    from socialbias.metrics import _grouping, crossfit

    rng = np.random.default_rng(8)
    reps = np.asfortranarray(rng.normal(size=(50, 600)))
    reps[rng.random(reps.shape) < 0.2] = np.nan
    reps[:, 5] = np.nan  # no defined replicate
    reps[1:, 7] = np.nan  # one
    ref = {}
    for block in (10**9, 7):
        monkeypatch.setattr(_grouping, "COLUMN_BLOCK", block)
        monkeypatch.setattr(crossfit, "COLUMN_BLOCK", block)
        got = crossfit.nan_sd(reps), _grouping.nan_percentile(reps, np.array([0.025, 0.975]))
        for name, arr in zip(("sd", "pct"), got):
            if name in ref:
                np.testing.assert_array_equal(arr, ref[name])
            ref[name] = arr
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        np.testing.assert_allclose(ref["sd"], np.nanstd(reps, axis=0, ddof=1), rtol=1e-12)
        np.testing.assert_allclose(ref["pct"], np.nanquantile(reps, [0.025, 0.975], axis=0), rtol=1e-12)
    assert np.isnan(ref["sd"][[5, 7]]).all() and np.isnan(ref["pct"][:, 5]).all() and not np.isnan(ref["pct"][:, 7]).any()
