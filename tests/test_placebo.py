"""Placebo personas: the catalogue's control group, the design option, and the placebo floor.

The statistical check (:func:`validity.placebo_study`, CI-sized): simulated answerers without
any persona effect, in sampled and deterministic (log-probability) mode, on a 3-target and a
10-target category, with and without wording effects (every role, real or placebo, favours a
random target of its own: the null of the placebo test). ``PB_exceeds_floor`` must then be
false in at least 90% of the strata in each mode (the stratum test is an exact permutation
test: its size is at most 5%; docs/validity.md has the longer run), the per-persona test's
false-positive rate must stay near 5%, ``PB - PB_placebo`` must be near 0 in both categories
while PB itself is not, and the interval of PB_placebo must cover its true value. Under a
strong persona effect the test must fire. About a minute on the 2-core machine.
"""

from __future__ import annotations

import sys
from math import comb
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import t as student_t

from socialbias import metrics
from socialbias.errors import InputError
from socialbias.metrics.placebo import label_permutation_pvalue, prediction_pvalues
from socialbias.personas import PLACEBO_GROUP, load_personas, load_placebo, with_placebo
from tests.metrics_fixtures import BBQ_DATA

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
needs_bbq = pytest.mark.skipif(not (BBQ_DATA / "Religion.jsonl").exists(), reason="BBQ data missing")


def test_catalogue_control_group():
    table = load_placebo(["Age", "Religion"])
    names = list(load_placebo()["persona"])
    assert 5 <= len(names) <= 10 and len(set(names)) == len(names)
    assert len(table) == 2 * len(names)
    assert (table.persona_group == PLACEBO_GROUP).all() and (table.member_of == "").all() and table.placebo.all()
    paper = load_personas()
    assert not set(names) & set(paper.persona) and not paper.placebo.any()
    both = with_placebo(load_personas(categories=["Age"]), ["Age"])
    assert both.placebo.sum() == len(names) and (both.loc[both.placebo, "member_of"] == "").all()
    with pytest.raises(InputError, match="English only"):
        load_placebo(["Age"], language="ko")


def test_own_catalogue_placebo_rows(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("Category,Subcategory,Name\nReligion,,Muslim\nReligion,placebo,a person who knits\n")
    table = load_personas(path)
    assert table.set_index("persona").loc["a person who knits", ["member_of", "placebo"]].tolist() == ["", True]
    path.write_text("Category,Subcategory,Target,Name\nReligion,placebo,Muslim,a person who knits\n")
    with pytest.raises(InputError, match="identity-free"):
        load_personas(path)


def test_label_permutation_pvalue_is_exact():
    rng = np.random.default_rng(0)
    assert label_permutation_pvalue(np.array([3.0]), np.array([1.0, 2.0]), 0, rng) == pytest.approx(1 / 3)
    # ties count against the real personas: no evidence
    assert label_permutation_pvalue(np.zeros(2), np.zeros(8), 0, rng) == 1.0
    # the largest two of ten values: 1 / C(10, 2)
    real, plac = np.array([9.0, 10.0]), np.arange(8.0)
    assert label_permutation_pvalue(real, plac, 0, rng) == pytest.approx(1 / comb(10, 2))
    # beyond EXACT_LIMIT: Monte Carlo, (1 + hits) / (1 + n_perm)
    big_real, big_plac = np.arange(10.0) + 100, np.arange(12.0)
    assert label_permutation_pvalue(big_real, big_plac, 99, rng) == pytest.approx(1 / 100)
    # uniform under exchangeable labels: P(p <= 0.1) <= 0.1
    ps = [label_permutation_pvalue(*np.split(rng.normal(size=12), [4]), 0, rng) for _ in range(400)]
    assert np.mean(np.array(ps) <= 0.1) <= 0.1 + 2 * np.sqrt(0.09 / 400)


def test_prediction_pvalues():
    plac = np.array([0.10, 0.12, 0.08, 0.11, 0.09])
    real = np.array([0.10, 0.20])
    # on the cube-root scale (metrics/placebo.py)
    t = (np.cbrt(real) - np.cbrt(plac).mean()) / (np.cbrt(plac).std(ddof=1) * np.sqrt(1 + 1 / 5))
    assert prediction_pvalues(real, plac) == pytest.approx(student_t.sf(t, 4))
    # no spread among the placebo roles: the rank p-value, (1 + #{PB(j) >= PB(p)}) / (1 + m)
    assert prediction_pvalues(np.array([0.0, 0.3]), np.zeros(4)).tolist() == [1.0, pytest.approx(0.2)]
    assert np.isnan(prediction_pvalues(real, plac[:1])).all()
    # exact where the cube roots are normal: a persona drawn like the placebos has p < 0.05 about 5% of the time
    rng = np.random.default_rng(1)
    hits = [prediction_pvalues(rng.normal(2, 0.3, size=1) ** 3, rng.normal(2, 0.3, size=8) ** 3)[0] < 0.05
            for _ in range(2000)]
    assert abs(np.mean(hits) - 0.05) < 0.015


@pytest.mark.parametrize("k", [1, 3, 10])
def test_prediction_pvalues_hold_their_level_on_skewed_pbs(k):
    """Known truth (no persona effect): PB(j) = mean over k targets of |a_t + e_jt|, a_t the
    stratum's shared default noise, e_jt a role's own (all N(0, 1) and N(0, 0.5^2));
    3 real personas and 8 placebo roles exchangeable. At 5% the per-persona test rejects at
    most 5% + 3 standard errors (on the PBs' own scale it rejected 6.6-7.9% for k <= 3)."""
    rng = np.random.default_rng(k)
    n, m, r = 3000, 8, 3
    pb = np.abs(rng.normal(0, 0.5, size=(n, 1, k)) + rng.normal(size=(n, m + r, k))).mean(axis=2)
    p = np.concatenate([prediction_pvalues(row[m:], row[:m]) for row in pb])
    rate = np.mean(p < 0.05)
    assert 0.02 <= rate <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / p.size), rate


def _answers(with_placebo_roles: bool) -> pd.DataFrame:
    import validity

    rng = np.random.default_rng(3)
    items = validity.placebo_items("3 targets", 40, rng)
    roles = tuple(load_placebo()["persona"])[:4] if with_placebo_roles else ()
    personas = {"": "", "gay": "gay", "straight": "straight", **{r: "" for r in roles}}
    sc = validity.Scenario("x", q=0.6, effect=0.3)
    frame = validity.simulate(items, personas, sc, 3, rng, placebo=roles)
    if not with_placebo_roles:
        frame["persona_placebo"] = False
    return frame


@needs_bbq
def test_placebo_roles_stay_out_of_pb():
    full = _answers(True)
    res = metrics.score_answers(full, n_boot=50, n_perm=50, seed=0)
    real = metrics.score_answers(full[~full.persona_placebo], n_boot=50, n_perm=50, seed=0)
    s, r = res.summary, real.summary
    for col in ("PB", "PB_floor", "TB", "BAmt", "PB_lo", "PB_hi", "PB_pvalue", "n_personas"):
        np.testing.assert_allclose(s[col].to_numpy(float), r[col].to_numpy(float), err_msg=col)
    assert (s.n_placebo == 4).all() and (r.n_placebo == 0).all()
    assert (s.floor_test == "placebo").all() and (r.floor_test == "exchange").all()
    assert r.PB_placebo.isna().all() and r.PB_placebo_pvalue.isna().all()
    pb = res.persona_bias
    mean_pl = pb[pb.placebo].groupby("context_condition")["PB"].mean()
    np.testing.assert_allclose(s.set_index("context_condition").PB_placebo.loc[mean_pl.index], mean_pl)
    np.testing.assert_allclose(s.PB_excess_placebo, s.PB - s.PB_placebo)
    assert (s.PB_placebo_lo <= s.PB_placebo).all() and (s.PB_placebo <= s.PB_placebo_hi).all()
    assert pb.loc[pb.placebo, "PB_placebo_pvalue"].isna().all()
    assert pb.loc[~pb.placebo & (pb.persona != ""), "PB_placebo_padj"].notna().all()
    # the exchange test's Holm family holds the real personas only
    np.testing.assert_allclose(pb.loc[~pb.placebo & (pb.persona != ""), "PB_padj"].to_numpy(),
                               real.persona_bias.loc[real.persona_bias.persona != "", "PB_padj"].to_numpy())
    assert set(res.ingroup.persona) == set(real.ingroup.persona)


def test_placebo_flag_errors():
    from tests.test_metrics_hand import hand_answers

    base = hand_answers()
    with pytest.raises(metrics.MetricsInputError, match="default persona"):
        metrics.score_answers(base.assign(persona_placebo=base.persona == ""), n_boot=0)
    some = base.assign(persona_placebo=False)
    some.loc[some.index[some.persona == "p"][:1], "persona_placebo"] = True
    with pytest.raises(metrics.MetricsInputError, match="some rows only"):
        metrics.score_answers(some, n_boot=0)
    with pytest.raises(metrics.MetricsInputError, match="target group"):  # p is a member of "a"
        metrics.score_answers(base.assign(persona_placebo=base.persona == "p"), n_boot=0)
    ok = metrics.score_answers(base.assign(persona_placebo=base.persona == "p", persona_member_of=""), n_boot=0)
    assert ok.summary.n_placebo.tolist() == [1, 1] and (ok.summary.floor_test == "exchange").all()
    assert ok.summary.PB.isna().all() and ok.summary.n_personas.tolist() == [0, 0]


@pytest.fixture(scope="module")
def study() -> pd.DataFrame:
    import validity

    scenarios = validity.PLACEBO_SCENARIOS
    return validity.placebo_study(n_items=120, reps=8, n_boot=50, n_perm=50, scenarios=scenarios)


@needs_bbq
@pytest.mark.parametrize("mode", ["sampled", "deterministic"])
def test_exceeds_placebo_floor_rarely_without_persona_effect(study, mode):
    null = study[(study["mode"] == mode) & ~study.scenario.str.startswith("persona effect")]
    n = null["n"].sum()
    rate = (null["exceeds (placebo)"] * null["n"]).sum() / n
    assert n >= 64 and rate <= 0.10, (mode, rate, null)
    per_persona = (null["persona p < 0.05"] * null["n"]).sum() / n
    assert per_persona <= 0.10, (mode, per_persona)
    fwer = (null["any persona padj < 0.05"] * null["n"]).sum() / n
    assert fwer <= 0.10, (mode, fwer)


@needs_bbq
def test_placebo_floor_comparable_across_target_counts(study):
    null = study[study.scenario == "no persona effect"].groupby("design")[["PB", "PB_placebo", "PB - PB_placebo"]].mean()
    # PB's noise grows with the number of targets; the placebo floor grows with it
    assert null.loc["10 targets", "PB"] > 1.3 * null.loc["3 targets", "PB"], null
    for design in ("3 targets", "10 targets"):
        assert abs(null.loc[design, "PB - PB_placebo"]) <= 0.15 * null.loc[design, "PB_placebo"], null


@needs_bbq
def test_placebo_intervals_cover_and_test_has_power(study):
    rows = study
    cov = (rows["PB_placebo covered"] * rows["n"]).sum() / rows["n"].sum()
    cov_ex = (rows["PB_excess_placebo covered"] * rows["n"]).sum() / rows["n"].sum()
    assert cov >= 0.90 and cov_ex >= 0.90, (cov, cov_ex)
    strong = rows[rows.scenario.str.startswith("persona effect") & (rows.design == "3 targets")]
    assert (strong["exceeds (placebo)"] >= 0.5).all(), strong


def test_design_option_adds_the_control_group(tmp_path, capsys):
    """``--placebo-personas`` (``RunConfig.placebo_personas``) adds 8 roles per category; their
    answers reach the metrics flagged as placebo (``persona_placebo``) and set the floor."""
    from socialbias.eval import main
    from socialbias.pipeline import CONFIG_GROUPS, RunConfig, answers_from_store, study_inputs
    from tests.conftest import BBQ_DIR

    assert "placebo_personas" in CONFIG_GROUPS["personas"] and RunConfig().placebo_personas is False
    out = tmp_path / "p.csv"
    assert main(["prompts", "--bbq-dir", str(BBQ_DIR), "--categories", "Sexual_orientation", "--limit", "12",
                 "--placebo-personas", "--out", str(out)]) == 0
    n_roles = len(load_placebo())
    assert f"of which placebo control group: {n_roles * 12 * 5:,} prompts" in capsys.readouterr().out
    table = pd.read_csv(out, keep_default_na=False)
    assert (table.persona_group == PLACEBO_GROUP).sum() == n_roles * 12 * 5
    assert (table.loc[table.persona_group == PLACEBO_GROUP, "member_of"] == "").all()

    config = RunConfig(bbq_dir=str(BBQ_DIR), categories=["Sexual_orientation"], limit=24, instructions=[0, 1],
                       placebo_personas=True)
    inputs = study_inputs(config)
    plain = study_inputs(RunConfig(bbq_dir=str(BBQ_DIR), categories=["Sexual_orientation"], limit=24, instructions=[0, 1]))
    assert len(inputs.prompts) - len(plain.prompts) == n_roles * 24 * 2
    prompts = inputs.prompts
    rng = np.random.default_rng(0)
    responses = pd.DataFrame({"prompt_id": prompts.prompt_id.unique()})
    responses["choice"], responses["parse"] = rng.integers(0, 3, len(responses)), "logprob"
    answers = answers_from_store(prompts, responses, inputs.items, "m")
    assert answers.persona_placebo.sum() == n_roles * 24 * 2 and not answers.loc[answers.persona_placebo, "persona_member_of"].any()
    res = metrics.score_answers(answers, n_boot=20, n_perm=20)
    assert (res.summary.n_placebo == n_roles).all() and (res.summary.floor_test == "placebo").all()
    assert (res.summary.n_personas == 5).all()


@needs_bbq
def test_report_shows_the_placebo_floor():
    """The PB(p) figure draws placebo roles as grey bars with a PB_placebo line; the summary
    table says which floor decided."""
    from socialbias.documents import _summary_rows
    from socialbias.figures.bars import PLACEBO_COLOR
    from socialbias.report import plot_persona_bias

    res = metrics.score_answers(_answers(True), n_boot=20, n_perm=20, seed=0)
    fig = plot_persona_bias(res)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "placebo role" in labels and "PB_placebo (placebo floor)" in labels
    from matplotlib.colors import to_rgba

    n_grey = sum(1 for ax in fig.axes for bar in ax.patches if bar.get_facecolor() == to_rgba(PLACEBO_COLOR))
    assert n_grey == 4 * len(res.summary)  # 4 placebo roles per panel
    _, rows = _summary_rows(res.summary)
    assert all(row[7].endswith("(placebo)") for row in rows)


@needs_bbq
def test_graph_marks_placebo_roles_without_membership():
    from socialbias.graph import build_graph, persona_node

    res = metrics.score_answers(_answers(True), n_boot=0, n_perm=0)
    G = build_graph(res.target_bias, persona_bias=res.persona_bias, context="ambig")
    roles = list(load_placebo()["persona"])[:4]
    for name in roles:
        node = G.nodes[persona_node(name)]
        assert node["placebo"] is True and node["member_of"] == ""
        assert not [u for u, _, d in G.in_edges(persona_node(name), data=True) if d["kind"] == "has_member"]
    assert G.nodes[persona_node("gay")]["placebo"] is False
    assert not any(d["in_group"] for p in roles for _, _, d in G.out_edges(persona_node(p), data=True))
