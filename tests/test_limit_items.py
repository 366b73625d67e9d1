"""``--limit N --limit-from templates`` spreads the N items over the templates (bbq_adapters/limit.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from socialbias.bbq_adapters.errors import DatasetError
from socialbias.bbq_adapters.limit import limit_items

BBQ = Path(__file__).resolve().parents[1].parent / "shared" / "bbq" / "data"


def _items(n_templates: int = 10, per_cell: int = 3) -> pd.DataFrame:
    rows = []
    for category in ("Age", "Religion"):
        for t in range(1, n_templates + 1):
            for context in ("ambig", "disambig"):
                for k in range(per_cell):
                    for polarity in ("neg", "nonneg"):
                        rows.append({"category": category, "question_index": str(t), "context_condition": context,
                                     "polarity": polarity, "item_id": f"{category}-{t}-{context}-{k}-{polarity}"})
    return pd.DataFrame(rows)


def test_spread_covers_as_many_templates_as_the_limit_allows_with_both_contexts_and_polarities() -> None:
    items = _items()
    chosen = limit_items(items, 24, "templates")
    assert chosen.groupby("category").size().tolist() == [24, 24]
    per_context = chosen.groupby(["category", "context_condition"])["question_index"].nunique()
    assert per_context.tolist() == [6, 6, 6, 6]  # 24 items = 6 templates x 2 contexts x 2 polarities
    assert chosen.groupby(["context_condition", "polarity"]).size().nunique() == 1  # balanced cells
    # the first N in file order would have been one template only
    start = limit_items(items, 24)  # the default: the first N in file order
    assert start.groupby(["category", "context_condition"])["question_index"].nunique().max() == 2
    pd.testing.assert_frame_equal(start, items.groupby("category", sort=False).head(24).reset_index(drop=True))


def test_spread_keeps_file_order_is_deterministic_and_wraps_to_second_items() -> None:
    items = _items(n_templates=3)
    chosen = limit_items(items, 20, "templates")  # 3 templates x 4 cells = 12 first items, then 8 second items
    positions = items.reset_index().merge(chosen, on=list(items.columns))["index"].to_numpy()
    assert (positions[1:] > positions[:-1]).all()
    pd.testing.assert_frame_equal(chosen, limit_items(items.copy(), 20, "templates"))
    ranks = chosen["item_id"].str.split("-").str[3].astype(int)
    assert sorted(ranks.groupby(chosen["category"]).apply(lambda r: (r == 0).sum()).tolist()) == [12, 12]
    assert len(limit_items(items, 0)) == len(items) and len(limit_items(items, 10_000)) == len(items)


def test_an_unknown_choice_is_one_clear_error() -> None:
    with pytest.raises(DatasetError, match="--limit-from 'middle'"):
        limit_items(_items(), 5, "middle")


@pytest.mark.skipif(not BBQ.is_dir(), reason="needs ../shared/bbq/data")
def test_cli_prompts_on_real_bbq_spread_and_bad_value(tmp_path: Path) -> None:
    out = tmp_path / "p.csv"
    cmd = [sys.executable, "-m", "socialbias.eval", "prompts", "--bbq-dir", str(BBQ), "--categories",
           "Sexual_orientation", "--personas", "gay", "--instructions", "0", "--limit", "24", "--limit-from",
           "templates", "--out", str(out)]
    subprocess.run(cmd, check=True, capture_output=True)
    from socialbias.pipeline import RunConfig, study_inputs

    items = study_inputs(RunConfig(bbq_dir=str(BBQ), categories=["Sexual_orientation"], personas="gay",
                                   instructions=[0], limit=24, limit_from="templates")).items
    assert items.groupby("context_condition")["question_index"].nunique().min() >= 6
    assert set(pd.read_csv(out)["item_id"].astype(str)) == set(items["item_id"].astype(str))
    bad = subprocess.run([*cmd[:-4], "--limit-from", "middle"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--limit-from" in bad.stderr
