"""Political instruments: baselines against simulation, the strict parser, answers files,
hierarchical intervals checked by simulation with known truth, and ``score --instrument``."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from socialbias.errors import InputError
from socialbias.eval import main
from socialbias.instruments.politics import load_instrument
from socialbias.instruments.politics.answers import SUMMARY_COLUMNS, group_scores, parse_option, read_answers
from socialbias.instruments.politics.baselines import (constant_answerers, exact_moments, random_baseline,
                                                       simulate_random)
from tests.test_politics_instruments import MADE_UP


@pytest.mark.parametrize("name", ["8values", "sapplyvalues", "politiscales"])
def test_random_answerer_exact_moments_match_simulation(name):
    inst = load_instrument(name)
    mean, cov = exact_moments(inst)
    rng = np.random.default_rng(11)
    choices = rng.integers(0, len(inst.options), size=(20_000, len(inst.items)))
    scores = inst.score(choices)  # the scorer itself, not the linear shortcut of simulate_random
    sims = np.stack([scores[a] for a in inst.all_axes], axis=1)
    sd = np.sqrt(np.diag(cov))
    z = (sims.mean(0) - mean) / (sd / np.sqrt(len(sims)))
    assert np.abs(z).max() < 4.5  # 4 to 31 axes, each ~N(0, 1)
    assert np.allclose(sims.std(0), sd, rtol=0.03)
    assert np.allclose(np.cov(sims.T), cov, atol=0.05 * sd.max() ** 2)  # covariances too (derived axes)
    # the Monte Carlo region of random_baseline agrees with the scorer's own quantiles
    base = random_baseline(inst, n_sims=20_000, seed=3)
    lo, hi = np.quantile(sims, [0.025, 0.975], axis=0)
    spread = hi - lo
    assert np.allclose(base.lo, lo, atol=0.06 * spread.max()) and np.allclose(base.hi, hi, atol=0.06 * spread.max())
    assert np.allclose(base.mean, mean)


def test_simulate_random_is_the_scorer_on_the_same_draws():
    inst = load_instrument("politiscales")
    fast = simulate_random(inst, n_sims=50, seed=4)
    rng = np.random.default_rng(4)
    choices = rng.integers(0, 5, size=(50, 117))
    slow = inst.score(choices)
    assert np.allclose(fast, np.stack([slow[a] for a in inst.all_axes], axis=1))


def test_persona_random_region_is_binomial():
    inst = load_instrument("anthropic-persona-politics")
    mean, cov = exact_moments(inst)
    assert np.allclose(mean, 0.5) and np.allclose(np.diag(cov), 0.25 / 1000)


def test_constant_answerers_expose_acquiescence():
    consts = constant_answerers(load_instrument("8values"))
    assert list(consts) == ["always Strongly agree", "always Agree", "always Neutral/Unsure", "always Disagree",
                            "always Strongly disagree"]
    assert consts["always Strongly agree"]["econ"] == pytest.approx(100 * 230 / 390)
    assert consts["always Strongly disagree"]["govt"] == pytest.approx(62.5)


@pytest.mark.parametrize("text, order, expected", [
    ("Agree", None, 2), ("agree.", None, 2), ("**Strongly agree**", None, 3), ("3", None, 2), ("3)", None, 2),
    ("(4)", None, 3), ("1) Strongly disagree", None, 0), ("1) Agree", None, -1), ("I agree", None, -1),
    ("Agree, but", None, -1), ("5", None, -1), ("", None, -1), ("1", [3, 2, 1, 0], 3), ('"Disagree"', None, 1),
])
def test_strict_parser(text, order, expected):
    assert parse_option(text, MADE_UP["options"], order) == expected


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("row, message", [
    ({"item": "q-01", "choice": 1}, "needs 'model' and 'item'"),
    ({"model": "m", "item": "q-99", "choice": 1}, "not an item of instrument madeup"),
    ({"model": "m", "item": "q-01", "choice": 4}, "not an option index 0..3"),
    ({"model": "m", "item": "q-01", "choice": 1, "response": "Agree"}, "exactly one of 'choice'"),
])
def test_bad_answers_line_names_the_line(tmp_path, row, message):
    path = _write(tmp_path / "a.jsonl", [{"model": "m", "item": "q-02", "choice": 0}, row])
    with pytest.raises(InputError, match=message) as info:
        read_answers(path, load_instrument(MADE_UP))
    assert f"{path}:2" in str(info.value)


def _population_instrument(rng, n_items):
    """weighted_sum instrument with random weights (items drawn from a population)."""
    w = rng.integers(-3, 4, size=(n_items, 4)).astype(float)
    items = [{"id": f"i{i}", "text": "x", "weights": {"a": list(w[i])}} for i in range(n_items)]
    return load_instrument({"id": "pop", "name": "p", "version": "1", "licence": "none", "source": "test",
                            "options": ["1", "2", "3", "4"], "axes": [{"id": "a"}],
                            "scoring": {"kind": "weighted_sum", "offset": {"a": 0.0}, "divisor": {"a": float(n_items)}},
                            "items": items})


def _answers(inst, probs, n_variants, rng):
    rows = []
    for i, it in enumerate(inst.items):
        for v in range(n_variants):
            rows.append(("m", it.id, str(v), "", 0, int(rng.choice(4, p=probs[i]))))
    return pd.DataFrame(rows, columns=["model", "item", "variant", "persona", "run", "choice"])


def test_hierarchical_interval_covers_the_population_truth():
    """Items drawn from a population with known mean score; answers drawn per variant from known
    option probabilities: the 90% interval covers the population score near 90% of the time."""
    n_items, n_variants, n_sims = 40, 3, 300
    hits = 0
    for s in range(n_sims):
        rng = np.random.default_rng(1000 + s)
        inst = _population_instrument(rng, n_items)
        # population: weights uniform on -3..3 (mean 0), the model prefers the last option
        probs = np.tile([0.1, 0.2, 0.3, 0.4], (n_items, 1))
        truth = 0.0  # E[w] = 0 for every option under the population -> mean score 0
        res = group_scores(inst, _answers(inst, probs, n_variants, rng), n_boot=300, ci=0.9, seed=s)
        hits += res["score_lo"][0] <= truth <= res["score_hi"][0]
    assert 0.84 <= hits / n_sims <= 0.96, hits / n_sims


def test_hierarchical_interval_is_conservative_for_fixed_items():
    """Fixed items (the estimand: this instrument's expected score under the model's answer
    probabilities): the interval covers at least nominally."""
    rng = np.random.default_rng(7)
    inst = _population_instrument(rng, 30)
    probs = rng.dirichlet(np.ones(4), size=30)
    truth = inst.score_expected(probs)["a"]
    hits = 0
    for s in range(200):
        res = group_scores(inst, _answers(inst, probs, 3, np.random.default_rng(s)), n_boot=300, ci=0.9, seed=s)
        hits += res["score_lo"][0] <= truth <= res["score_hi"][0]
    assert hits / 200 >= 0.88, hits / 200


def test_point_score_is_the_expected_score_of_the_answer_distribution():
    inst = load_instrument(MADE_UP)
    rows = [("m", "q-01", "a", "", 0, 0), ("m", "q-01", "b", "", 0, 3), ("m", "q-02", "a", "", 0, 2),
            ("m", "q-02", "b", "", 0, -1), ("m", "q-03", "a", "", 0, 1)]
    df = pd.DataFrame(rows, columns=["model", "item", "variant", "persona", "run", "choice"])
    res = group_scores(inst, df, n_boot=50)
    probs = np.array([[0.5, 0, 0, 0.5], [0, 0, 1, 0], [0, 1, 0, 0]])
    expected = inst.score_expected(probs)
    assert res["score"] == pytest.approx([expected["economic"], expected["social"]])
    assert res["invalid_rate"] == pytest.approx([0.0, 1 / 3])  # econ: q-01, q-03; social: q-02, q-03
    assert list(res["n_items"]) == [2, 2]


def test_score_cli_writes_summary(tmp_path, capsys):
    inst_path = tmp_path / "madeup.json"
    inst_path.write_text(json.dumps(MADE_UP))
    rows = [{"model": model, "item": f"q-0{i}", "variant": f"v{v}", "persona": persona, "run": 0,
             **({"choice": (i + v) % 4} if v else {"response": "Agree"})}
            for model in ("a", "b") for persona in ("", "elder") for i in (1, 2, 3) for v in range(3)]
    rows.append({"model": "a", "item": "q-01", "persona": "", "response": "maybe"})
    answers = _write(tmp_path / "answers.jsonl", rows)
    out = tmp_path / "scored"
    assert main(["score", "--instrument", str(inst_path), str(answers), "--out", str(out), "--n-boot", "200",
                 "--quiet"]) == 0
    summary = pd.read_csv(out / "summary.csv", keep_default_na=False)
    assert list(summary.columns[:11]) == SUMMARY_COLUMNS[:3] + ["persona"] + SUMMARY_COLUMNS[3:]
    assert len(summary) == 2 * 2 * 2  # models x personas x axes
    row = summary[(summary.model == "a") & (summary.persona == "") & (summary.axis == "economic")].iloc[0]
    assert row.invalid_rate == pytest.approx(1 / 7)  # "maybe" on q-01 (econ items q-01, q-03)
    assert row.score_lo <= row.score <= row.score_hi and row.random_lo < row.random_hi
    baselines = pd.read_csv(out / "baselines.csv")
    assert {"random", "always Strongly agree", "always Strongly disagree"} <= set(baselines.answerer)
    assert json.loads((out / "score.json").read_text())["n_invalid"] == 1
    assert (out / "figures" / "compass.png").is_file() and (out / "figures" / "axes.png").is_file()


def test_score_cli_bad_input_exits_2_and_writes_nothing(tmp_path, capsys):
    answers = _write(tmp_path / "answers.jsonl", [{"model": "m", "item": "q99", "choice": 0}])
    out = tmp_path / "scored"
    assert main(["score", "--instrument", "8values", str(answers), "--out", str(out)]) == 2
    assert "not an item of instrument 8values" in capsys.readouterr().err
    assert not out.exists()
    assert main(["score", "--instrument", "pct", str(answers), "--out", str(out)]) == 2
    assert "neither a built-in instrument" in capsys.readouterr().err
