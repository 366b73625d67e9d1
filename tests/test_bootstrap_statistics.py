"""The bootstrap's fast per-replicate statistics (metrics/score.py ``replicate_statistics``,
metrics/_grouping.py ``Grouping.means``) give the same numbers as the definitions they
replace: the per-run statistics averaged over runs (metrics/bias.py, docs/method.md
section 6), bit for bit, on replicates with undefined cells."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from socialbias.metrics._grouping import Grouping, Pairs
from socialbias.metrics.abs_intervals import abs_replicates, cell_signs
from socialbias.metrics.clusters import make_clusters, multinomial_counts
from socialbias.metrics.design import build_layout
from socialbias.metrics.schema import prepare_answers
from socialbias.metrics.score import over_runs, per_run_statistics, replicate_statistics
from socialbias.metrics.streams import StratumStreams
from tests.metrics_fixtures import bbq_items, simulate_answers


def test_means_equal_mean_bit_for_bit() -> None:
    rng = np.random.default_rng(1)
    codes = np.array([0, 0, 2, 2, 2, -1, 3, 0, 3])  # group 1 empty, one column in no group
    g = Grouping(codes, 4)
    x = rng.normal(size=(6, codes.size))
    x[rng.random(x.shape) < 0.3] = np.nan
    valid = ~np.isnan(x)
    y = np.where(valid, 2.0 * x + 1.0, np.nan)  # NaN in the same cells
    for arr in (x, np.asfortranarray(x)):  # the bootstrap's arrays are column-major
        got = g.means([arr, y], valid)
        np.testing.assert_array_equal(got[0], g.mean(x))
        np.testing.assert_array_equal(got[1], g.mean(y))
    assert np.isnan(g.mean(x)[:, 1]).all()  # a group without members is NaN, not 0
    with warnings.catch_warnings():  # all-NaN rows: NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        expect = np.nanmean(x[:, [0, 1, 7]], axis=1)
    np.testing.assert_allclose(g.mean(x)[:, 0], expect, rtol=1e-15)
    # one validity row for every replicate (the exchange null: swaps never change it)
    one = np.ones((1, codes.size), dtype=bool)
    np.testing.assert_array_equal(g.means([np.nan_to_num(x)], one)[0], g.mean(np.nan_to_num(x)))


def test_masked_means_and_pair_differences_sum_like_the_definitions() -> None:
    """Grouping.masked_means of arrays zeroed in place (zeros of either sign) and sums of
    Pairs.difference (one sparse product; a zero may come out +0.0 instead of -0.0) give the
    NaN-skipping means of the masked subtraction, bit for bit."""
    rng = np.random.default_rng(2)
    codes = np.array([0, 0, 2, 2, 2, -1, 3, 0, 3, 1])
    g = Grouping(codes, 4)
    x = np.asfortranarray(rng.integers(-2, 3, size=(7, codes.size)) / 3.0)  # many exact zeros
    x[:, 2] = -0.0
    valid = rng.random(x.shape) < 0.7
    valid[:, 1] = False  # group 1 has no defined member
    zeroed = np.where(valid, x, -0.0)
    expect = g.means([np.where(valid, x, np.nan), np.where(valid, -x, np.nan)], valid)
    for got, want in zip(g.masked_means([zeroed, -zeroed], valid), expect):
        np.testing.assert_array_equal(got.view(np.int64), want.view(np.int64))
    a, b = np.array([0, 3, 4, 7, 9, 2]), np.array([1, 1, 8, 6, 2, 9])  # either order in a row
    pairs = Pairs(a, b, codes.size)
    diff = pairs.difference(x)
    assert diff.flags.f_contiguous
    np.testing.assert_array_equal(diff, x[:, a] - x[:, b])  # equal up to the sign of 0
    sums = Grouping(np.array([0, 0, 1, 1, 1, 0]), 2)
    sub = x[:, a] - x[:, b]
    for fast, slow in ((diff, sub), (np.abs(diff), np.abs(sub)), (-diff, -sub)):
        np.testing.assert_array_equal(sums.sum(fast).view(np.int64), sums.sum(slow).view(np.int64))


def _replicates(answers):
    r = prepare_answers(answers)
    layout = build_layout(r, 2.0, 1.0)
    clusters = make_clusters(r)
    C = (clusters.indicator() @ layout.C).tocsr()
    counts = layout.split(np.asarray(C.sum(axis=0)).reshape(1, -1))
    streams = StratumStreams(0, r.strata, "bootstrap", clusters.cluster_stratum)
    W = multinomial_counts(streams.uniform(40), clusters.cluster_stratum)
    X = np.asarray(C.T.tocsr() @ np.ascontiguousarray(W.T)).T  # column-major, as bootstrap() gives
    return layout, C, counts, X


def _answers():
    items = bbq_items("Religion").head(120)
    return simulate_answers(items, {"": "", "a Muslim": "Muslim", "an atheist": "Atheist"}, runs=3,
                            q=0.7, seed=4)


@pytest.fixture(scope="module")
def replicate_setup():
    return _replicates(_answers())


@pytest.fixture(scope="module")
def gappy_setup():
    """A persona that did not answer a third of the templates in one run: some of its target
    cells are empty in a replicate where the default's are not (PB pairs with one undefined
    side) while its cells of the other runs are defined (their mean over runs is not NaN)."""
    answers = _answers()
    template = answers["context_condition"] + "/" + answers["question_index"].astype(str)
    names = template.unique()
    gaps = np.random.default_rng(6).choice(names, size=len(names) // 3, replace=False)
    first_run = answers["run"] == answers["run"].min()
    setup = _replicates(answers[~((answers["persona"] == "a Muslim") & first_run & template.isin(gaps))])
    layout, _, _, X = setup
    valid = layout.split(X)["n"] != 0
    assert (valid[:, layout.pb_cell] != valid[:, layout.pb_default]).any()
    return setup


@pytest.mark.parametrize("setup", ["replicate_setup", "gappy_setup"])
def test_replicate_statistics_match_the_definitions(setup, request) -> None:
    layout, C, counts, X = request.getfixturevalue(setup)
    c = layout.split(X)
    assert np.isnan(per_run_statistics(c, layout)["tc"]["TB"]).any()  # some replicates leave cells empty
    fast = replicate_statistics(c, layout, cell_signs(C, layout, counts))
    slow = over_runs(per_run_statistics(c, layout), layout, with_sd=False)
    for key in ("tg.TB", "tg.BAmt", "tg.shift", "pg.TB", "pg.BAmt", "pg.ingroup", "pg.acc", "pg.s_amb",
                "pg.bias_score", "pg.acc_valid"):
        level, name = key.split(".")
        np.testing.assert_array_equal(fast[key], slow[level][name], err_msg=key)
    # the T_lin law is the linear part: at the observed counts every law is 0
    point = replicate_statistics(counts, layout, cell_signs(C, layout, counts))
    for key in ("pg.TB:lin", "pg.PB:lin", "st.PB:lin", "st.PB_floor:lin", "pg.TB:fs"):
        vals = point[key][~np.isnan(point[key])]
        assert vals.size and np.all(vals == 0), key
    assert np.nanstd(fast["st.PB:fs"]) > 0  # and they vary between replicates


def _abs_replicates_by_definition(TB, layout, signs):
    """The laws of metrics.abs_intervals as written in its module documentation: NaN where a
    cell is undefined, gathers and subtractions for the pairs, NaN-skipping means."""
    h = (TB - signs.x["tc"][None, :]) * signs.scale[None, :]

    def laws(d, kind):
        lin = signs.sign[kind][None, :] * d
        return [np.where(signs.small[kind][None, :], np.abs(d), lin), lin]

    def means(grouping, arrays):
        return [grouping.mean(a) for a in arrays]

    tc_prc = means(layout.tc_prc, laws(h, "tc"))
    pb_prc = means(layout.pb_prc, laws(h[:, layout.pb_cell] - h[:, layout.pb_default], "pb"))
    fl_pair = means(layout.fl_pair, laws(h[:, layout.fl_a] - h[:, layout.fl_b], "fl"))
    pb_sr, placebo_sr = means(layout.prc_sr_personas, pb_prc), means(layout.prc_sr_placebo, pb_prc)
    levels = {"pg.TB": means(layout.prc_pg, tc_prc), "pg.PB": means(layout.prc_pg, pb_prc),
              "st.PB": means(layout.sr_st, pb_sr), "st.PB_placebo": means(layout.sr_st, placebo_sr),
              "st.PB_floor": means(layout.pair_st, fl_pair)}
    return {f"{key}:{law}": arrs[i] for key, arrs in levels.items() for i, law in enumerate(("fs", "lin"))}


def test_abs_replicates_match_the_definition(replicate_setup) -> None:
    """abs_replicates (undefined cells zeroed in place, pair differences as a sparse product,
    T_lin computed in place) gives the laws of their definition, bit for bit, whether TB holds
    NaN or 0 in its undefined cells."""
    layout, C, counts, X = replicate_setup
    c = layout.split(X)
    signs = cell_signs(C, layout, counts)
    # undefined cells as a replicate leaves them, and more, so that pairs with one undefined
    # side occur (a persona without answers to some items)
    valid = (c["n"] != 0) & (np.random.default_rng(3).random(c["n"].shape) > 0.1)
    with np.errstate(invalid="ignore", divide="ignore"):
        TB = np.where(valid, c["S"] / c["n"], np.nan)
    want = _abs_replicates_by_definition(TB, layout, signs)
    for tb in (TB, np.where(valid, TB, 0.0)):
        got = abs_replicates(tb.copy(order="K"), layout, signs, valid)
        assert got.keys() == want.keys()
        for key, arr in want.items():
            np.testing.assert_array_equal(got[key].view(np.int64), arr.view(np.int64), err_msg=key)
    assert np.nanstd(want["pg.PB:fs"]) > 0 and np.isnan(want["pg.PB:fs"]).sum() < want["pg.PB:fs"].size
