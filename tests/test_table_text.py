"""metrics.table_text writes the bytes of pandas' to_csv (MetricResults.save relies on it)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from socialbias import metrics
from socialbias.metrics.table_text import csv_text, float_reprs
from tests.test_metrics_hand import hand_answers

#: Floats at the edges of repr's notation (scientific below 1e-4 and from 1e16), signed zeros,
#: non-finite values, the smallest subnormal, values with 17 significant digits.
AWKWARD_FLOATS = [0.0, -0.0, 1.0, -3.0, 0.1 + 0.2, 1e-4, 9.999999999999999e-05, 1e-5, 1.5e-7, 1e16, 1e16 - 2,
                  1.2345678901234568e17, 1e22, 5e-324, 1.7976931348623157e308, float("inf"), float("-inf"),
                  float("nan"), 2 / 3, 16393574076.896772, 123456.0, -1e-300]


def _pandas(table: pd.DataFrame) -> str:
    return table.to_csv(index=False, lineterminator="\n")


def test_float_reprs_are_numpys_strings_which_pandas_writes() -> None:
    rng = np.random.default_rng(7)
    random_bits = rng.integers(0, 2**64, size=200_000, dtype=np.uint64).view(np.float64)
    short_decimals = np.round(rng.uniform(-1e4, 1e4, 50_000), 3)
    values = np.concatenate([AWKWARD_FLOATS, random_bits, short_decimals, [0.0, -0.0, 0.0]])
    texts = float_reprs(values)
    assert texts.tolist() == values.astype(str).tolist()
    assert texts[-3:].tolist() == ["0.0", "-0.0", "0.0"]  # told apart by their bits


def test_an_awkward_table_has_pandas_bytes(monkeypatch) -> None:
    n = len(AWKWARD_FLOATS)
    labels = ["plain", "a,comma", 'a "quote"', "line\nbreak", "carriage\rreturn", "", " lead", "Müslim ✓"]
    table = pd.DataFrame({
        "model": [labels[i % len(labels)] for i in range(n)],
        "x": AWKWARD_FLOATS,
        "n": np.arange(n, dtype=np.int64) * 10**12,
        "flag": [i % 3 == 0 for i in range(n)],
        "maybe": pd.array([None if i % 4 == 0 else i % 2 == 0 for i in range(n)], dtype="boolean"),
        "type": pd.array([None if i % 5 == 0 else labels[i % len(labels)] for i in range(n)], dtype="string"),
        "object": [None if i % 6 == 0 else labels[-i % len(labels)] for i in range(n)],
        "count": pd.array([None if i % 7 == 0 else i for i in range(n)], dtype="Int64"),
        "a,b": 1.5,
    })
    expected = _pandas(table)
    with monkeypatch.context() as patch:  # written column by column, not handed to pandas
        patch.setattr(pd.DataFrame, "to_csv", None)
        text = csv_text(table)
    assert text == expected
    assert '"a,comma"' in text and '"a ""quote"""' in text  # quoted: the test meets the quoting
    assert csv_text(table.iloc[:0]) == _pandas(table.iloc[:0]) == "model,x,n,flag,maybe,type,object,count,\"a,b\"\n"


@pytest.mark.parametrize("table", [
    pd.DataFrame({"only": ["", "a"]}),  # one column: a lone empty field is written as ""
    pd.DataFrame({"x": np.array([0.1, np.nan], dtype=np.float32), "y": [1, 2]}),
    pd.DataFrame({"when": pd.to_datetime(["2026-01-01", None]), "y": [1, 2]}),
    pd.DataFrame({"mixed": ["a", 0.5], "y": [1, 2]}),
    pd.DataFrame({0: [1, 2], "y": [1, 2]}),
])
def test_tables_it_does_not_cover_are_written_by_pandas(table: pd.DataFrame) -> None:
    assert csv_text(table) == _pandas(table)


def test_saved_metric_tables_have_pandas_bytes(tmp_path) -> None:
    results = metrics.score_answers(hand_answers(), n_boot=20, seed=0)
    results.save(tmp_path)
    for name in metrics.TABLES:
        table = getattr(results, name)
        assert len(table.columns) > 1 and table.select_dtypes("number").shape[1] > 0
        assert (tmp_path / f"{name}.csv").read_text(encoding="utf-8") == _pandas(table), name
