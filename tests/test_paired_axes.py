"""Paired shifts on a political instrument's axes (``socialbias.paired_axes``), checked by simulation.

Simulated answerers on the shipped SapplyValues items (46 items, three axes): every item has its
own answer distribution (drawn per simulation, so items differ as real ones do); a prompt's
option probabilities scatter around it and the answer is their argmax, as in a logprob run. The
base model and a variant with the *same* distributions answer the same prompts independently:
the test of "no shift" must reject at about its nominal 5%. A variant tilted towards the left
answers must be detected. Also: the point values are the instrument summary's scores, and runs
that did not ask the same prompts are refused with one message.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from socialbias.errors import InputError
from socialbias.instruments.politics import load_instrument
from socialbias.paired_axes import paired_axis_shifts

INSTRUMENT = "sapplyvalues"
ORDERS = ([0, 1, 2, 3, 4], [4, 3, 2, 1, 0])
RUNS = 2
CONCENTRATION = 20.0  # prompt-to-prompt scatter of the option probabilities around the item's


def _answers(rng: np.random.Generator, item_probs: np.ndarray, model: str, inst) -> pd.DataFrame:
    """One model's answers: items x option orders x runs, probabilities around ``item_probs``."""
    rows = []
    for i, it in enumerate(inst.items):
        for order in ORDERS:
            for run in range(RUNS):
                p = rng.dirichlet(CONCENTRATION * item_probs[i] + 0.05)
                rows.append({"model": model, "item": it.id, "variant": "templ-01/jail-02", "order": json.dumps(order),
                             "persona": "", "run": run, "choice": int(np.argmax(p)), "probs": p.tolist()})
    return pd.DataFrame(rows)


def _item_probs(rng: np.random.Generator, n_items: int) -> np.ndarray:
    return rng.dirichlet(np.full(5, 0.8), size=n_items)


def _tilt_left(inst, probs: np.ndarray, strength: float) -> np.ndarray:
    """Move probability towards the options whose weight points left on the 'right' axis."""
    right = list(inst.axes).index("right")
    w = inst.weights[:, :, right]  # (items, options); positive = right
    tilted = probs * np.exp(-strength * np.sign(w))
    return tilted / tilted.sum(axis=1, keepdims=True)


def _simulate(n_sims: int, strength: float, seed: int, n_boot: int = 200) -> pd.DataFrame:
    inst = load_instrument(INSTRUMENT)
    rng = np.random.default_rng(seed)
    tables = []
    for s in range(n_sims):
        probs = _item_probs(rng, len(inst.items))
        variant = _tilt_left(inst, probs, strength) if strength else probs
        answers = pd.concat([_answers(rng, probs, "base", inst), _answers(rng, variant, "variant", inst)])
        tables.append(paired_axis_shifts(answers, inst, "base", n_boot=n_boot, seed=s).assign(sim=s))
    return pd.concat(tables, ignore_index=True)


def test_no_shift_rejected_at_the_stated_rate():
    """At no shift, the 5% test rejects about 5% of the time (3 axes x 2 measures x 150 simulations)."""
    table = _simulate(150, 0.0, seed=1)
    rejected = table["p_value"] < 0.05
    rate = rejected.mean()
    covered = ((table["shift_lo"] <= 0) & (table["shift_hi"] >= 0)).mean()
    n = len(table)
    print(f"\nno shift: rejection rate {rate:.3f} over {n} tests; per measure "
          f"{table.assign(r=rejected).groupby('measure')['r'].mean().round(3).to_dict()}; coverage of 0 {covered:.3f}")
    assert covered == pytest.approx(1 - rate)  # the test rejects exactly when the interval excludes 0
    assert 0.02 <= rate <= 0.085, rate  # binomial sd at 900 tests (correlated in pairs): about 0.007-0.01


def test_planted_shift_is_detected_in_the_right_direction():
    table = _simulate(20, 1.0, seed=2)
    right = table[table["axis"] == "right"]
    print(f"\nplanted left tilt: 'right' axis shift {right.groupby('measure')['shift'].mean().round(2).to_dict()}, "
          f"detected {(right['p_value'] < 0.05).mean():.2f}")
    assert (right["shift"] < 0).all()
    assert (right["p_value"] < 0.05).mean() >= 0.9


def test_point_values_are_the_summary_scores_and_mismatches_are_refused():
    from socialbias.instruments.politics.answers import summarise

    inst = load_instrument(INSTRUMENT)
    rng = np.random.default_rng(5)
    probs = _item_probs(rng, len(inst.items))
    answers = pd.concat([_answers(rng, probs, "base", inst), _answers(rng, probs, "v", inst)], ignore_index=True)
    answers.loc[answers.index[:7], "choice"] = -1  # a few invalid answers: skipped as in the summary
    shifts = paired_axis_shifts(answers, inst, "base", n_boot=50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the summary warns about the skipped invalid answers
        summary = summarise(answers.drop(columns="probs"), inst, n_boot=10).set_index(["model", "axis"])["score"]
    row = shifts[shifts["measure"] == "score"].set_index("axis")
    for axis in inst.all_axes:
        assert row.at[axis, "base_value"] == pytest.approx(summary[("base", axis)])
        assert row.at[axis, "value"] == pytest.approx(summary[("v", axis)])
    with pytest.raises(InputError, match="did not answer the same prompts"):
        paired_axis_shifts(answers.iloc[1:], inst, "v", n_boot=10)
    with pytest.raises(InputError, match="not in the answers"):
        paired_axis_shifts(answers, inst, "nobody", n_boot=10)


def test_cli_compare_paired_on_instrument_runs(tmp_path, capsys):
    """``compare --paired`` on two ``run --instrument`` directories: the table, the compass arrows
    and the forest; runs with other settings are refused with one line (exit 2)."""
    from socialbias.eval import main

    inst = load_instrument(INSTRUMENT)
    rng = np.random.default_rng(7)
    probs = _item_probs(rng, len(inst.items))
    record = {"command": "run", "instrument": INSTRUMENT, "mode": "logprob", "variants": ["templ-01/jail-02"],
              "option_orders": "both", "personas": [""], "runs": RUNS, "limit": None, "seed": 0}
    dirs = []
    for name, p in (("base", probs), ("left", _tilt_left(inst, probs, 1.0))):
        d = tmp_path / name
        d.mkdir()
        (d / "run.json").write_text(json.dumps({**record, "model": name}))
        answers = _answers(rng, p, name, inst)
        answers.assign(probs=[json.dumps(x) for x in answers["probs"]]).to_csv(d / "answers.csv", index=False)
        dirs.append(str(d))
    out = tmp_path / "shifts"
    assert main(["compare", "--paired", *dirs, "--base", "base", "--n-boot", "100", "--out", str(out)]) == 0
    table = pd.read_csv(out / "paired_shifts.csv")
    assert set(table["measure"]) == {"score", "score_expected"} and set(table["axis"]) == set(inst.all_axes)
    right = table[(table.axis == "right") & (table.model == "left")]
    assert (right["shift"] < 0).all() and (right["p_value"] < 0.05).all()
    for name in ("shift_compass", "shift_compass_expected", "shift_forest"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 10_000
    other = tmp_path / "other"
    other.mkdir()
    (other / "run.json").write_text(json.dumps({**record, "model": "x", "option_orders": "fixed"}))
    (other / "answers.csv").write_text((tmp_path / "left" / "answers.csv").read_text())
    capsys.readouterr()
    assert main(["compare", "--paired", dirs[0], str(other), "--out", str(tmp_path / "no")]) == 2
    err = capsys.readouterr().err
    assert "differ in option_orders" in err and len(err.strip().splitlines()) == 1
