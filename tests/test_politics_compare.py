"""compare of political runs: one table with shifts from a base run, the compass with arrows from
the base to its variants, and clear errors for runs that cannot be compared (issue 16, item 6/7)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from socialbias.eval import main
from socialbias.instruments.politics import load_instrument
from socialbias.instruments.politics.cli import score_instrument


def _answers(path, inst, model: str, lean: int, seed: int):
    """A JSONL file of answers leaning to option ``lean`` (ids and options of ``inst``)."""
    rng = np.random.default_rng(seed)
    with open(path, "w") as fh:
        for it in inst.items:
            for variant in ("a", "b"):
                choice = int(np.clip(lean + rng.integers(-1, 2), 0, len(inst.options) - 1))
                fh.write(json.dumps({"model": model, "item": it.id, "variant": variant, "choice": choice}) + "\n")
    return path


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    root = tmp_path_factory.mktemp("cmp")
    inst = load_instrument("sapplyvalues")
    dirs = {}
    for name, lean, seed in (("base", 2, 0), ("chat", 0, 1), ("tuned", 4, 2)):
        score_instrument("sapplyvalues", str(_answers(root / f"{name}.jsonl", inst, f"org/{name}-model", lean, seed)),
                         str(root / name), n_boot=50)
        dirs[name] = root / name
    return root, dirs


def test_compare_table_shifts_and_compass(scored, capsys):
    root, dirs = scored
    out = root / "out"
    assert main(["compare", str(dirs["chat"]), str(dirs["base"]), str(dirs["tuned"]), "--base", "base",
                 "--out", str(out)]) == 0
    assert "compare.csv" in capsys.readouterr().out
    table = pd.read_csv(out / "compare.csv", keep_default_na=False)
    assert set(table["run"]) == {"base", "chat", "tuned"} and (table["base"] == "base").all()
    assert len(table) == 3 * 3  # runs x axes
    for run in ("chat", "tuned"):
        mine = pd.read_csv(dirs[run] / "summary.csv").set_index("axis")["score"]
        ref = pd.read_csv(dirs["base"] / "summary.csv").set_index("axis")["score"]
        got = table[table.run == run].set_index("axis")["shift"]
        assert got.to_dict() == pytest.approx((mine - ref).to_dict())
    assert (table[table.run == "base"]["shift"] == 0).all()
    meta = json.loads((out / "compare.json").read_text())
    assert meta["base"] == "base" and meta["instrument"] == "sapplyvalues" and set(meta["runs"]) == {"base", "chat", "tuned"}
    assert (out / "figures" / "compass.png").stat().st_size > 10_000 and (out / "figures" / "axes.png").is_file()


def test_compass_draws_one_arrow_per_variant(scored):
    from matplotlib.patches import FancyArrowPatch

    from socialbias.figures.politics import plot_compass
    from socialbias.instruments.politics.baselines import random_baseline

    _, dirs = scored
    inst = load_instrument("sapplyvalues")
    table = pd.concat([pd.read_csv(dirs[n] / "summary.csv").assign(model=n) for n in ("base", "chat", "tuned")])
    fig = plot_compass(table, inst, "right", "auth", baseline=random_baseline(inst),
                       arrows=[("base", "chat"), ("base", "tuned")])
    arrows = [p for p in fig.axes[0].patches if isinstance(p, FancyArrowPatch)]
    assert len(arrows) == 2
    base = table[(table.model == "base")].set_index("axis")["score"]
    assert arrows[0]._posA_posB[0] == pytest.approx((base["right"], base["auth"]))


def test_base_by_model_name_and_clear_errors(scored, tmp_path, capsys):
    _, dirs = scored
    assert main(["compare", str(dirs["base"]), str(dirs["chat"]), "--base", "chat-model", "--out", str(tmp_path / "a")]) == 0
    assert (pd.read_csv(tmp_path / "a" / "compare.csv")["base"] == "chat").all()
    assert main(["compare", str(dirs["base"]), str(dirs["chat"]), "--base", "nobody", "--out", str(tmp_path / "b")]) == 2
    assert "--base 'nobody' names none of the runs" in capsys.readouterr().err
    other = tmp_path / "other"
    inst = load_instrument("8values")
    score_instrument("8values", str(_answers(tmp_path / "o.jsonl", inst, "m", 1, 0)), str(other), n_boot=20)
    assert main(["compare", str(dirs["base"]), str(other), "--out", str(tmp_path / "c")]) == 2
    assert "different instruments" in capsys.readouterr().err
    assert not (tmp_path / "b").exists() and not (tmp_path / "c").exists()
