"""Option-order rotation (``--option-orders``) and the position-bias report (issue 14 item 4)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from socialbias.bbq_adapters import load_bbq
from socialbias.metrics.position import (
    displayed_positions,
    order_runs,
    original_choices,
    original_probabilities,
    position_bias,
)
from socialbias.eval import main
from socialbias.expand import expand
from socialbias.personas import load_instructions, load_personas
from socialbias.pipeline import answers_from_store, load_run
from tests.conftest import BBQ_DIR
from tests.tiny_model import tiny_corpus, tiny_model_dir  # noqa: F401  (fixtures)


@pytest.fixture(scope="module")
def items():
    items = load_bbq(BBQ_DIR, ["Age", "Religion", "Nationality"])
    return items.groupby("category").head(60).reset_index(drop=True)


def _grid_digest(grid: pd.DataFrame) -> str:
    h = hashlib.sha256()
    for row in grid[["prompt_id", "item_id", "persona", "instruction", "sample", "messages"]].itertuples(index=False):
        h.update(json.dumps(list(row), ensure_ascii=False).encode())
    return h.hexdigest()


def test_fixed_design_is_the_papers_grid_byte_for_byte(items):
    # Digests of the grid as built before option orders existed (commit f2fd278), both layouts.
    expected = {"split": "700cd8eb32d637c7883843734db43500f93ddc8c06ffb7fda3786a30b9d0b610",
                "merged": "0ab6266d06d0da2494825c895dc0175dd574bdf8f3051145d7f855ff659a6971"}
    for template, digest in expected.items():
        grid = expand(items, load_personas(), load_instructions(), template=template)
        assert len(grid) == 26400 and _grid_digest(grid) == digest, template
        assert set(grid["option_order"]) == {"012"}


def test_cyclic_design_asks_every_order_and_shows_it(items):
    fixed = expand(items, load_personas(), load_instructions(), runs=[0])
    grid = expand(items, load_personas(), load_instructions(), runs=[0], option_orders="cyclic")
    assert len(grid) == 3 * len(fixed) and grid["prompt_id"].is_unique
    per_prompt = grid.groupby(["item_id", "persona", "instruction"])["option_order"].agg(lambda s: tuple(sorted(s)))
    assert set(per_prompt) == {("012", "120", "201")}
    # The source order keeps the fixed design's text and id; the others show the options rotated.
    assert set(grid.loc[grid.option_order == "012", "prompt_id"]) == set(fixed["prompt_id"])
    item = items.iloc[0]
    row = grid[(grid.item_id == item.item_id) & (grid.persona == "") & (grid.option_order == "120")].iloc[0]
    assert row.messages[2]["content"] == f"(A): {item.option1}\n(B): {item.option2}\n(C): {item.option0}\n"


def test_balanced_design_is_balanced_seeded_and_shared_by_personas(items):
    grid = expand(items, load_personas(), load_instructions(), option_orders="balanced", seed=3)
    counts = grid.drop_duplicates(["item_id", "instruction"]).groupby(["category", "instruction"])["option_order"]
    for _, c in counts.value_counts().groupby(level=[0, 1]):
        assert c.max() - c.min() <= 1 and len(c) == 3
    assert (grid.groupby(["item_id", "instruction"])["option_order"].nunique() == 1).all()  # every persona alike
    # Over runs 0-2 each item is shown each order once; another seed draws another assignment.
    first3 = grid[grid.instruction < 3].drop_duplicates(["item_id", "instruction"])
    assert (first3.groupby("item_id")["option_order"].nunique() == 3).all()
    again = expand(items, load_personas(), load_instructions(), option_orders="balanced", seed=3)
    other = expand(items, load_personas(), load_instructions(), option_orders="balanced", seed=4)
    assert again["prompt_id"].tolist() == grid["prompt_id"].tolist()
    assert (other["option_order"].to_numpy() != grid["option_order"].to_numpy()).any()
    assert grid["prompt_id"].is_unique


def test_mapping_between_shown_and_original_options():
    orders = np.array(["012", "120", "201", "210", "120"])
    shown = np.array([0, 0, 2, 1, -1])
    original = original_choices(shown, orders)
    assert original.tolist() == [0, 1, 1, 1, -1]
    assert displayed_positions(original, orders).tolist() == shown.tolist()
    probs = np.array([[0.7, 0.2, 0.1]] * 5)
    mapped = original_probabilities(probs, orders)
    assert mapped[1].tolist() == [0.1, 0.7, 0.2] and np.allclose(mapped.sum(axis=1), 1)
    assert order_runs(np.array([0, 1]), np.array(["012", "201"]), repeated=True).tolist() == [0, 10]
    assert order_runs(np.array([0, 1]), np.array(["012", "201"]), repeated=False).tolist() == [0, 1]


def _always(prompts: pd.DataFrame, letter: int) -> pd.DataFrame:
    return pd.DataFrame({"prompt_id": prompts["prompt_id"], "choice": letter, "parse": "simulated"})


def test_always_A_answerer_is_uniform_over_original_options_and_flagged(items):
    prompts = expand(items, load_personas(), load_instructions(), runs=[0, 1], option_orders="cyclic")
    answers = answers_from_store(prompts, _always(prompts, 0), items, "always-A")
    shares = answers["choice"].value_counts(normalize=True).sort_index()
    assert shares.to_numpy() == pytest.approx([1 / 3] * 3, abs=1e-12)
    assert not answers.duplicated(["item_id", "persona", "run"]).any()  # one metrics run per (k, order)
    table = position_bias(answers, n_perm=199, seed=0)
    row = table.iloc[0]
    assert row.design == "rotated" and row.share_A == 1.0
    assert row.expected_A == pytest.approx(1 / 3) and row.p_value == pytest.approx(1 / 200)
    # The fixed design cannot tell "A" from an answer: reported, not tested.
    fixed = expand(items, load_personas(), load_instructions(), runs=[0])
    table = position_bias(answers_from_store(fixed, _always(fixed, 0), items, "always-A"), n_perm=199)
    assert table.iloc[0].design == "fixed" and np.isnan(table.iloc[0].p_value)


def _simulate(rng, design: str, n_items: int, n_answers: int, tilt: float, sampled: bool) -> pd.DataFrame:
    """Answers of a model with per-item content preferences; ``tilt`` adds weight to shown "A"."""
    prefs = rng.dirichlet([0.5, 0.5, 0.5], size=n_items)
    item = np.repeat(np.arange(n_items), n_answers)
    if design == "cyclic":
        rot = np.tile(np.arange(3), n_items * n_answers // 3)
    else:  # balanced: answer j of an item is in run j % 3, shown order (base + run) % 3, base balanced
        rot = (np.repeat(rng.permutation(np.arange(n_items) % 3), n_answers) + np.tile(np.arange(n_answers), n_items)) % 3
    orders = np.array(["012", "120", "201"])[rot]
    order_m = np.array([[int(c) for c in o] for o in ["012", "120", "201"]])[rot]
    p = prefs[item][np.arange(item.size)[:, None], order_m]  # preference by shown position
    p[:, 0] += tilt
    p /= p.sum(axis=1, keepdims=True)
    shown = (rng.random(item.size)[:, None] > p.cumsum(axis=1)).sum(axis=1) if sampled else p.argmax(axis=1)
    return pd.DataFrame({"model": "m", "item_id": item, "option_order": orders,
                         "choice": original_choices(shown, orders)})


def test_position_test_false_positive_rate_and_power_by_simulation():
    rng = np.random.default_rng(20261205)
    for design in ("cyclic", "balanced"):
        for sampled in (True, False):
            p = [position_bias(_simulate(rng, design, 60, 6, 0.0, sampled), n_perm=99, seed=s).p_value.iloc[0]
                 for s in range(150)]
            rate = float(np.mean(np.array(p) <= 0.05))
            assert rate <= 0.09, (design, sampled, rate)  # nominal 0.05; 3 sd of 150 draws is 0.053
        hits = [position_bias(_simulate(rng, design, 60, 6, 0.3, True), n_perm=99, seed=s).p_value.iloc[0]
                for s in range(30)]
        assert np.mean(np.array(hits) <= 0.05) >= 0.8, design


def test_position_report_refuses_choices_that_are_not_options_and_missing_orders():
    """Choices are original options (0-2, -1 none) and every answer has its order: anything
    else is one clear error, not a position read from a row it does not index."""
    from socialbias.metrics import MetricsInputError

    answers = _simulate(np.random.default_rng(1), "cyclic", 6, 3, 0.0, False)
    bad = answers.assign(choice=answers["choice"].astype(np.int64).where(answers.index != 4, 3))
    with pytest.raises(MetricsInputError, match="choice values up to 3"):
        position_bias(bad, n_perm=9)
    missing = answers.assign(option_order=answers["option_order"].where(answers.index != 2, None))
    with pytest.raises(MetricsInputError, match="option_order"):
        position_bias(missing, n_perm=9)


def test_run_cyclic_end_to_end(tmp_path, tiny_model_dir):
    out = tmp_path / "run"
    args = ["run", "--model", str(tiny_model_dir), "--backend", "hf", "--bbq-dir", str(BBQ_DIR),
            "--categories", "Sexual_orientation", "--personas", "gay", "--instructions", "0", "--limit", "6",
            "--n-boot", "20", "--quiet", "--option-orders", "cyclic", "--out", str(out)]
    assert main(args) == 0
    prompts = pd.read_parquet(out / "prompts.parquet")
    assert sorted(prompts["option_order"].unique()) == ["012", "120", "201"] and len(prompts) == 6 * 2 * 3
    record = json.loads((out / "run.json").read_text())
    assert record["config"]["option_orders"] == "cyclic" and record["counts"]["unanswered"] == 0
    assert record["position_bias"] and record["position_bias"][0].startswith("position bias ")
    table = pd.read_csv(out / "results" / "position_bias.csv")
    assert table["design"].tolist() == ["rotated"] and table["n_valid"].iloc[0] == 36
    shares = table[["share_A", "share_B", "share_C"]].to_numpy().sum()
    assert shares == pytest.approx(1.0)
    assert load_run(out).position_bias["n_valid"].iloc[0] == 36
    summary = pd.read_csv(out / "results" / "summary.csv")
    assert (summary["n_runs"] == 3).all()  # instruction 0 in three orders
    with pytest.raises(SystemExit) as refused:
        main([*args[:-1], str(tmp_path / "bad"), "--option-orders", "shuffled"])
    assert refused.value.code == 2 and not (tmp_path / "bad").exists()


def test_score_and_replay_map_rotated_answers_back(tmp_path):
    """A model that always answers correctly, recorded in the three cyclic orders: every choice
    is read as shown, mapped back, and scored correct (read as the source order it would not be)."""
    items = load_bbq(BBQ_DIR, ["Sexual_orientation"]).head(12)
    prompts = expand(items, load_personas(names=["gay"]), load_instructions(), runs=[0], option_orders="cyclic")
    by_item = items.set_index("item_id")
    lines = []
    for row in prompts.itertuples(index=False):
        item = by_item.loc[row.item_id]
        shown = row.option_order.index(str(item.label))
        lines.append({"model": "oracle", "category": item.category, "example_id": int(item.example_id),
                      "persona": row.persona, "instruction": int(row.instruction), "option_order": row.option_order,
                      "response": f"({'ABC'[shown]})"})
    path = tmp_path / "oracle.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    common = ["--bbq-dir", str(BBQ_DIR), "--n-boot", "0", "--quiet"]
    assert main(["score", str(path), *common, "--no-report", "--out", str(tmp_path / "scored")]) == 0
    scored = pd.read_csv(tmp_path / "scored" / "summary.csv")
    assert (scored["acc"] == 1.0).all() and (scored["n_runs"] == 3).all()
    assert pd.read_csv(tmp_path / "scored" / "position_bias.csv")["design"].tolist() == ["rotated"]
    assert main(["run", "--backend", "replay", "--responses", str(path), "--categories", "Sexual_orientation",
                 "--personas", "gay", "--instructions", "0", "--limit", "12", "--option-orders", "cyclic",
                 *common, "--out", str(tmp_path / "replayed")]) == 0
    replayed = pd.read_csv(tmp_path / "replayed" / "results" / "summary.csv")
    assert (replayed["acc"] == 1.0).all()
    pd.testing.assert_frame_equal(replayed.drop(columns="model"), scored.drop(columns="model"))
