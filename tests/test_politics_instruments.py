"""Political instruments as data: schema validation, golden values from each source's scoring
(shared/politics/*/SOURCE.txt), the user-supplied weighted_sum rule and missing-answer policies."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest

from socialbias.errors import InputError
from socialbias.instruments.politics import builtin_ids, display_value, load_instrument

MULT_5 = [1.0, 0.5, 0.0, -0.5, -1.0]

#: A made-up instrument in the exact shape of issue 16's example (not PCT text).
MADE_UP = {
    "id": "madeup", "name": "Made-up compass", "version": "1", "licence": "CC0", "source": "tests",
    "options": ["Strongly disagree", "Disagree", "Agree", "Strongly agree"],
    "axes": [{"id": "economic", "low": "Left", "high": "Right", "range": [-10, 10]},
             {"id": "social", "low": "Libertarian", "high": "Authoritarian", "range": [-10, 10]}],
    "scoring": {"kind": "weighted_sum", "offset": {"economic": 0.38, "social": 2.41},
                "divisor": {"economic": 8.0, "social": 19.5}},
    "items": [{"id": "q-01", "text": "Cats should vote.", "weights": {"economic": [3, 1, -1, -3], "social": [0, 0, 0, 0]}},
              {"id": "q-02", "text": "Bread is better toasted.", "weights": {"economic": [0, 0, 0, 0], "social": [-4, -2, 2, 4]}},
              {"id": "q-03", "text": "Rivers belong to everyone.", "weights": {"economic": [-2, -1, 1, 2], "social": [5, 2, -2, -5]}}],
}


def test_builtins_ship_with_licences_and_attribution():
    from importlib import resources

    data = resources.files("socialbias.instruments.politics") / "data"
    assert builtin_ids() == ["8values", "anthropic-persona-politics", "politiscales", "sapplyvalues"]
    for lic in ("8values", "sapplyvalues", "politiscales", "anthropic-evals", "rottger"):
        assert (data / f"LICENSE-{lic}").is_file()
    attribution = (data / "ATTRIBUTION.md").read_text(encoding="utf-8")
    assert "Perez" in attribution and "Röttger" in attribution
    sizes = {i: len(load_instrument(i).items) for i in builtin_ids()}
    assert sizes == {"8values": 70, "sapplyvalues": 46, "politiscales": 117, "anthropic-persona-politics": 6000}


# -- 8values: golden values of SOURCE.txt (uniform answers) and the source formula on a mixed vector
@pytest.mark.parametrize("k, url", [(0, "59.0/51.1/37.5/53.8"), (1, "54.5/50.6/43.8/51.9"), (2, "50.0/50.0/50.0/50.0"),
                                    (3, "45.5/49.4/56.3/48.1"), (4, "41.0/48.9/62.5/46.2")])
def test_8values_golden(k, url):
    inst = load_instrument("8values")
    scores = inst.score(np.full(70, k))
    assert "/".join(inst.display(scores).values()) == url
    if k == 0:  # exact: SA econ = 100*230/390, dipl 100*230/450, govt 100*240/640, scty 100*314/584
        assert [scores[a] for a in ("econ", "dipl", "govt", "scty")] == pytest.approx(
            [100 * 230 / 390, 100 * 230 / 450, 100 * 240 / 640, 100 * 314 / 584], abs=1e-12)


def test_8values_mixed_vector_follows_quiz_html():
    inst = load_instrument("8values")
    effect = inst.weights[:, 0, :]  # the Strongly-agree weights are the effects
    choices = np.arange(70) % 5
    score = (np.array(MULT_5)[choices][:, None] * effect).sum(0)
    mx = np.abs(effect).sum(0)
    assert list(mx) == [195, 225, 320, 292]
    expected = 100 * (mx + score) / (2 * mx)
    got = inst.score(choices)
    assert [got[a] for a in inst.axes] == pytest.approx(expected, abs=1e-9)
    assert not np.allclose(expected, 50)


def test_js_rounding_quirks():
    assert display_value(56.25, "js_tofixed", 1) == "56.3"  # Python's %.1f gives 56.2
    assert f"{56.25:.1f}" == "56.2"
    assert display_value(-0.625, "js_math_round", 2) == "-0.62"  # Math.round(-62.5) = -62
    assert display_value(0.625, "js_math_round", 2) == "0.63"


# -- SapplyValues ---------------------------------------------------------------------------------
@pytest.mark.parametrize("k, shown", [(0, ["0.67", "0.67", "0.00"]), (1, ["0.33", "0.33", "0.00"]),
                                      (2, ["0.00", "0.00", "0.00"]), (3, ["-0.33", "-0.33", "0.00"]),
                                      (4, ["-0.67", "-0.67", "0.00"])])
def test_sapplyvalues_golden_uniform(k, shown):
    inst = load_instrument("sapplyvalues")
    assert list(inst.display(inst.score(np.full(46, k))).values()) == shown


def test_sapplyvalues_dropped_versus_neutral_answer():
    inst = load_instrument("sapplyvalues")
    positive = inst.weights[:, 0, :].sum(1) > 0
    dropped = np.where(positive, 0, -1)
    with pytest.warns(UserWarning, match="22 missing answer"):
        assert list(inst.display(inst.score(dropped, missing="skip")).values()) == ["10.00", "10.00", "10.00"]
    neutral = np.where(positive, 0, 2)
    assert list(inst.display(inst.score(neutral)).values()) == ["5.33", "5.33", "5.00"]
    assert inst.display(inst.score(dropped, missing="neutral")) == inst.display(inst.score(neutral))


# -- PolitiScales ---------------------------------------------------------------------------------
POLES = [f"{x}{k}" for x in "cbpmsjet" for k in (0, 1)]
BONUS = ["reli", "comp", "prag", "mona", "vega", "anar"]


@pytest.mark.parametrize("k, pole, femi, bonus", [(0, "50", "43", "100"), (1, "33", "29", "67"), (2, "0", "0", "0"),
                                                  (3, "33", "38", "0"), (4, "50", "57", "0")])
def test_politiscales_golden_uniform(k, pole, femi, bonus):
    inst = load_instrument("politiscales")
    shown = inst.display(inst.score(np.full(117, k)))
    assert {shown[p] for p in POLES} == {pole}
    assert shown["femi"] == femi and {shown[b] for b in BONUS} == {bonus}
    assert {shown[x] for x in "cbpmsjet"} == {"0"}  # each pair: pos - neg = 0


def test_politiscales_left_pole_profile():
    inst = load_instrument("politiscales")
    axes = list(inst.axes)
    bonus = [axes.index(b) for b in BONUS]
    choices = []
    for i in range(117):
        yes_axes = [axes[a] for a in np.flatnonzero(inst.weights[i, 0, :] > 0)]
        pair = [a for a in yes_axes if a in POLES]
        if not pair or inst.on_axis[i, bonus].any():
            choices.append(2)
        else:
            choices.append(0 if pair[0].endswith("0") else 4)
    shown = inst.display(inst.score(np.array(choices)))
    assert {shown[f"{x}0"] for x in "cbpmsjet"} == {"100"} and shown["femi"] == "100"
    assert {shown[f"{x}1"] for x in "cbpmsjet"} == {"0"}
    assert inst.score(np.array(choices))["p"] == -100  # pair value = pos - neg, in percent


# -- Anthropic persona evals ------------------------------------------------------------------------
def test_persona_share_matching():
    inst = load_instrument("anthropic-persona-politics")
    matching = inst.weights[:, :, :].sum(2).argmax(1)  # the option with weight 1
    assert inst.score(matching) == dict.fromkeys(inst.axes, 1.0)
    assert inst.score(1 - matching) == dict.fromkeys(inst.axes, 0.0)
    for k in (0, 1):
        assert inst.score(np.full(6000, k)) == dict.fromkeys(inst.axes, 0.5)
    assert inst.statement(inst.items[0]).startswith('Is the following statement something you would say?\n"')


# -- user-supplied weighted_sum ------------------------------------------------------------------
def test_made_up_weighted_sum_from_a_path(tmp_path):
    path = tmp_path / "madeup.json"
    path.write_text(json.dumps(MADE_UP))
    inst = load_instrument(path)
    got = inst.score(np.array([0, 3, 2]))  # weights econ 3, 0, 1; social 0, 4, -2
    assert got["economic"] == pytest.approx(0.38 + 4 / 8.0)
    assert got["social"] == pytest.approx(2.41 + 2 / 19.5)
    with pytest.warns(UserWarning, match="1 missing answer"):
        skipped = inst.score(np.array([0, -1, 2]), missing="skip")
    assert skipped["social"] == pytest.approx(2.41 - 2 / 19.5)
    with pytest.raises(InputError, match="1 item answer"):
        inst.score(np.array([0, -1, 2]), missing="fail")
    with pytest.raises(InputError, match="no neutral option"):
        inst.score(np.array([0, -1, 2]), missing="neutral")
    filled = [inst.score(np.array([0, -1, 2]), missing="random", seed=s)["social"] for s in range(40)]
    assert set(np.round(filled, 9)) == {round(2.41 + (w - 2) / 19.5, 9) for w in (-4, -2, 2, 4)}
    with pytest.raises(InputError, match="policy 'ignore' is unknown"):
        inst.score(np.array([0, -1, 2]), missing="ignore")


def test_expected_score_equals_mean_of_sampled_scores():
    inst = load_instrument(MADE_UP)
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4), size=3)
    expected = inst.score_expected(probs)
    draws = np.stack([rng.choice(4, size=200_000, p=p) for p in probs], axis=1)
    sampled = inst.score(draws)
    for axis in inst.axes:
        assert sampled[axis].mean() == pytest.approx(expected[axis], abs=0.01)




@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.pop("licence"), "'licence' is a required property"),
    (lambda d: d["items"][0]["weights"].__setitem__("economic", [1, 2]), "has 2 numbers; give one per option"),
    (lambda d: d["items"][0]["weights"].__setitem__("cultural", [1, 2, 3, 4]), "unknown axis 'cultural'"),
    (lambda d: d["scoring"]["divisor"].pop("social"), "missing \\['social'\\]"),
    (lambda d: d["scoring"].__setitem__("kind", "magic"), "'magic' is not one of"),
    (lambda d: d["items"].append(dict(d["items"][0])), "item id 'q-01' occurs more than once"),
    (lambda d: d["scoring"]["divisor"].__setitem__("social", 0), "divisor has a 0"),
    (lambda d: d["items"][1].__setitem__("text", 5), "5 is not of type 'string'"),
])
def test_bad_file_is_one_clear_error(tmp_path, mutate, message):
    data = copy.deepcopy(MADE_UP)
    mutate(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match=message) as info:
        load_instrument(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_not_json_and_unknown_id(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        load_instrument(path)
    with pytest.raises(InputError, match="neither a built-in instrument"):
        load_instrument("politicalcompass")


def test_nan_when_nothing_answered_on_a_ratio_axis():
    inst = load_instrument("sapplyvalues")
    with pytest.warns(UserWarning):
        assert math.isnan(inst.score(np.full(46, -1))["right"])


def test_shipped_files_rebuild_byte_identical_from_shared(tmp_path):
    """Provenance: scripts/build_politics_instruments.py turns the upstream copies in
    ../shared/politics into exactly the shipped files."""
    import subprocess
    import sys
    from importlib import resources

    from tests.conftest import REPO, SHARED

    subprocess.run([sys.executable, str(REPO / "scripts" / "build_politics_instruments.py"),
                    "--shared", str(SHARED / "politics"), "--out", str(tmp_path)], check=True, capture_output=True)
    shipped = resources.files("socialbias.instruments.politics") / "data"
    for built in sorted(tmp_path.rglob("*")):
        if built.is_file():
            rel = built.relative_to(tmp_path)
            assert (shipped / str(rel)).read_bytes() == built.read_bytes(), rel
