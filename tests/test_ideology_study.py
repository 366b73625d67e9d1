"""The worked study's preference sets (examples/ideology_adapters.py), built from PolitiScales.

No model: checks that the "left" and "right" sets are mirror images (same prompts, chosen and
rejected swapped), that half of the items are worded each way (so "always agree" is not what
either adapter learns), that the labels follow the shown order of the scale, and that the
evaluation instrument shares no statement with the training one (the shift is a transfer).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from socialbias.instruments.politics import load_instrument

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "ideology_adapters.py"


def _study():
    spec = importlib.util.spec_from_file_location("ideology_adapters", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_left_and_right_sets_mirror_each_other_and_are_balanced():
    study = _study()
    left, right = study.preference_rows("left"), study.preference_rows("right")
    assert len(left) == len(right) == 2 * 97  # 97 items with a left-right weight, both scale orders
    for a, b in zip(left, right):
        assert a["prompt"] == b["prompt"] and (a["chosen"], a["rejected"]) == (b["rejected"], b["chosen"])
        assert {a["chosen"], a["rejected"]} == {"1", "5"}  # the scale's two ends, in either shown order
    lean = study.left_right_lean(load_instrument("politiscales"))
    assert (lean > 0).sum() == 49 and (lean < 0).sum() == 48
    # Fixed order: label 1 is "Absolutely agree"; the left set prefers it exactly for left-worded items.
    fixed = [r for r in left if "1) Absolutely agree" in r["prompt"]]
    assert sum(r["chosen"] == "1" for r in fixed) == 49 and sum(r["chosen"] == "5" for r in fixed) == 48
    small = study.preference_rows("left", option_orders="fixed", limit=4)
    assert len(small) == 8 and sum(r["chosen"] == "1" for r in small) == 4


def test_evaluation_statements_are_not_trained_on():
    train = {it.text.strip().lower() for it in load_instrument("politiscales").items}
    test = {it.text.strip().lower() for it in load_instrument("sapplyvalues").items}
    assert not train & test
    assert np.isfinite(_study().left_right_lean(load_instrument("politiscales"))).all()
