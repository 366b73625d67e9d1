"""run --instrument: a political study through the hf engine and the response store (tiny random
model, offline), N-label log-prob scoring, the option_responses table, robustness tables."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pandas as pd
import pytest

from socialbias.eval import main
from socialbias.store_options import OptionAnswer, OptionResponses
from socialbias.instruments.politics import load_instrument
from socialbias.instruments.politics.grid import expand_instrument
from socialbias.instruments.politics.robustness import robustness_table
from socialbias.instruments.politics.run import run_instrument
from socialbias.store import Answer, ResponseStore
from tests.test_politics_instruments import MADE_UP
from tests.tiny_model import tiny_corpus, tiny_model_dir  # noqa: F401  (fixtures)

GRID = dict(variants=["templ-01/jail-02", "templ-03/jail-02", "rozado"], option_orders="both", personas=["", "elder"],
            limit=5, n_boot=100)


def test_grid_is_the_full_cross_and_ids_are_stable():
    inst = load_instrument("8values")
    prompts = expand_instrument(inst, variants=GRID["variants"], option_orders="both", personas=["", "elder"], runs=2,
                                limit=5)
    assert len(prompts) == 5 * 3 * 2 * 2 * 2 and prompts["prompt_id"].is_unique
    again = expand_instrument(inst, variants=GRID["variants"], option_orders="both", personas=["", "elder"], runs=2,
                              limit=5)
    assert again["prompt_id"].tolist() == prompts["prompt_id"].tolist()
    assert again["messages"].tolist() == prompts["messages"].tolist()
    elder = prompts[prompts.persona == "elder"].iloc[0]["messages"]
    assert elder[0]["role"] == "system" and "elder" in elder[0]["content"] and len(elder) == 2
    reversed_ = prompts[prompts.order == json.dumps([4, 3, 2, 1, 0])].iloc[0]["messages"][-1]["content"]
    assert "1) Strongly disagree\n2) Disagree" in reversed_
    # Rozado-style prefix/suffix: drawn per item and run, the same for every persona (paired)
    rozado = prompts[prompts.variant.str.startswith("rozado")]
    assert rozado.groupby(["item", "run"])["variant"].nunique().eq(1).all()


def test_run_on_tiny_model_scores_and_resumes(tiny_model_dir, tmp_path):
    out = tmp_path / "run"
    first = run_instrument("8values", str(tiny_model_dir), out, model_settings={"device": "cpu"}, **GRID)
    record = json.loads((out / "run.json").read_text())
    assert record["n_prompts"] == 5 * 3 * 2 * 2 == record["newly_answered"] == record["n_answers"]
    answers = pd.read_csv(out / "answers.csv", keep_default_na=False)
    probs = np.array([json.loads(p) for p in answers["probs"]])
    assert probs.shape == (60, 5) and np.allclose(probs.sum(1), 1)
    assert (answers["choice"] == probs.argmax(1)).all()  # argmax, mapped back to the instrument's order
    assert set(first["persona"]) == {"", "elder"} and (first["invalid_rate"].dropna() == 0).all()
    econ = first[(first.axis == "econ") & (first.persona == "")].iloc[0]
    assert econ.score_lo <= econ.score <= econ.score_hi and np.isfinite(econ.score_expected)
    assert sorted(p.name for p in (out / "figures").glob("*.png")) == ["axes.png", "items.png"]  # 4 axes: no compass
    robustness = pd.read_csv(out / "robustness.csv")
    assert set(robustness.factor) == {"template", "forcing", "order"}
    # resume: nothing is asked again and the same summary comes out
    again = run_instrument("8values", str(tiny_model_dir), out, model_settings={"device": "cpu"}, **GRID)
    assert json.loads((out / "run.json").read_text())["newly_answered"] == 0
    pd.testing.assert_frame_equal(first, again)
    with ResponseStore.open(out) as store:  # the BBQ table is untouched, the store opens as before
        assert store.count() == 0


class ScriptedBackend:
    """Generate-mode stand-in: answers each prompt with a scripted text."""

    key = "scripted:generate"

    def __init__(self, texts):
        self.texts = texts

    def answer(self, prompts, mode):
        for i, p in enumerate(prompts):
            yield Answer(p.prompt_id, self.key, -1, text=self.texts[i % len(self.texts)], parse="raw")


def test_generate_mode_parses_strictly_and_counts_invalid(tmp_path):
    path = tmp_path / "madeup.json"
    path.write_text(json.dumps(MADE_UP))
    summary = run_instrument(str(path), "scripted", tmp_path / "gen", backend=ScriptedBackend(["3", "I am not sure"]),
                             mode="generate", option_orders="both", n_boot=50)
    answers = pd.read_csv(tmp_path / "gen" / "answers.csv", keep_default_na=False)
    assert len(answers) == 6
    fixed = answers[answers.order == "[0, 1, 2, 3]"]
    assert set(fixed["choice"]) <= {2, -1}  # "3" = the third option shown
    rev = answers[answers.order == "[3, 2, 1, 0]"]
    assert set(rev["choice"]) <= {1, -1}  # reversed: the third shown is "Disagree"
    assert (answers["choice"] == -1).sum() == 3
    assert summary["invalid_rate"].tolist() == pytest.approx([0.5, 0.5])


def test_bad_settings_fail_before_any_model_is_loaded(tmp_path, capsys):
    assert main(["run", "--instrument", "8values", "--model", "no/such-model", "--variants", "templ-99/jail-02",
                 "--out", str(tmp_path / "x")]) == 2
    assert "templ-NN/jail-MM" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_cli_run_instrument(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["run", "--instrument", "sapplyvalues", "--model", str(tiny_model_dir), "--device", "cpu",
                 "--personas", "elder", "--limit", "3", "--n-boot", "50", "--quiet", "--out", str(out)]) == 0
    summary = pd.read_csv(out / "summary.csv", keep_default_na=False)
    assert set(summary.persona) == {"", "elder"} and set(summary.axis) == {"right", "auth", "prog"}
    assert (out / "figures" / "compass.png").stat().st_size > 10_000  # SapplyValues: right x auth compass


def test_compass_caption_states_mode_variants_and_forcing():
    from socialbias.figures.politics import caption, plot_compass
    from socialbias.instruments.politics.baselines import constant_answerers, random_baseline

    inst = load_instrument(MADE_UP)
    summary = pd.DataFrame({"model": ["m", "m"], "instrument": "madeup", "axis": ["economic", "social"],
                            "score": [1.0, -2.0], "score_lo": [0.0, -3.0], "score_hi": [2.0, -1.0]})
    record = {"mode": "generate", "variants": ["templ-02/jail-05", "rozado"], "option_orders": "both", "ci": 0.9}
    text = caption(record)
    assert "Mode: generate" in text and "templ-02/jail-05, rozado" in text and "Forcing: jail-01 (none), jail-05" in text
    fig = plot_compass(summary, inst, "economic", "social", baseline=random_baseline(inst), record=record)
    assert fig._supxlabel.get_text().replace("\n", " ") == text
    ax = fig.axes[0]
    assert ax.get_xlim() == (-10, 10) and len(ax.patches) == 2  # random region + the model's interval ellipse
    drawn = plot_compass(summary, inst, "economic", "social", baseline=random_baseline(inst),
                         constants=constant_answerers(inst)).axes[0].get_legend_handles_labels()[1]
    assert f"always {inst.options[0]}" in drawn and f"always {inst.options[-1]}" in drawn  # the extreme constants only
    assert not any(f"always {o}" in drawn for o in inst.options[1:-1])


def test_option_responses_table_keeps_old_stores_working(tmp_path):
    with ResponseStore.open(tmp_path) as store:  # a store as every earlier version wrote it
        store.add([Answer("p1", "m", 1, 0.2, 0.5, 0.3)])
    with ResponseStore.open(tmp_path) as store:
        table = OptionResponses(store)
        assert table.add([OptionAnswer("q1", "m", 4, (0.1, 0.1, 0.1, 0.1, 0.6)), OptionAnswer("q2", "m", -1)]) == 2
        assert table.add([OptionAnswer("q1", "m", 0, (0.6, 0.1, 0.1, 0.1, 0.1))]) == 0  # the first answer wins
        with pytest.raises(Exception, match="not a distribution"):
            table.add([OptionAnswer("q3", "m", 0, (0.6, 0.6))])
    with ResponseStore.open(tmp_path) as store:  # reopens with the extra table; BBQ rows unchanged
        assert store.responses()["choice"].tolist() == [1]
        frame = OptionResponses(store).frame("m")
        assert frame["choice"].tolist() == [4, -1] and frame["probs"].iloc[0][4] == pytest.approx(0.6)
    con = sqlite3.connect(tmp_path / "responses.sqlite")
    from socialbias.store import SCHEMA_VERSION

    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION  # the option table bumps nothing
    con.close()


def test_robustness_counts_flips_per_factor():
    inst = load_instrument(MADE_UP)  # 4 options: 0, 1 = disagree side; 2, 3 = agree side
    rows = []
    for item, by_template, by_order in (("q-01", (0, 3), (0, 0)), ("q-02", (1, 0), (1, 2)), ("q-03", (2, 3), (3, 3))):
        for t, c in zip(("templ-01", "templ-02"), by_template):
            rows.append(("m", "", item, t, "jail-02", "[0, 1, 2, 3]", 0, c))
        rows.append(("m", "", item, "templ-01", "jail-02", "[3, 2, 1, 0]", 0, by_order[1] if item != "q-01" else 3))
    df = pd.DataFrame(rows, columns=["model", "persona", "item", "template", "forcing", "order", "run", "choice"])
    table = robustness_table(df, inst).set_index("factor")
    assert table.loc["template", "n_items"] == 3 and table.loc["template", "n_flipped"] == 1  # q-01 only
    assert table.loc["order", "n_flipped"] == 2  # q-01 (0 vs 3), q-02 (1 vs 2)
    assert table.loc["forcing", "n_items"] == 0


def test_n_labels_leave_bbq_scoring_unchanged(tiny_model_dir):
    from socialbias.backends.hf import HFBackend, letter_tokens

    bbq = HFBackend(tiny_model_dir, device="cpu")
    five = HFBackend(tiny_model_dir, device="cpu", labels=["1", "2", "3", "4", "5"])
    assert "labels" not in bbq._key_settings() and bbq.letters.labels == ("A", "B", "C")
    assert five.key != bbq.key and five._key_settings()["labels"] == ["1", "2", "3", "4", "5"]
    assert letter_tokens(bbq.tokenizer) == bbq.letters  # the default is still A/B/C
    assert [five.tokenizer.decode([ids[0]]).strip() for ids in five.letters.ids] == ["1", "2", "3", "4", "5"]


def test_bbq_only_flags_are_refused_with_an_instrument(tmp_path, capsys):
    assert main(["run", "--instrument", "8values", "--model", "x", "--categories", "Age", "--out", str(tmp_path / "y")]) == 2
    assert "does not use --categories" in capsys.readouterr().err


def test_python_api_names():
    import socialbias.instruments.politics as politics

    assert politics.run_instrument is run_instrument
    assert callable(politics.score_answers_file) and callable(politics.random_baseline)
