"""Tables as CSV text, column by column: the bytes of ``DataFrame.to_csv(index=False,
lineterminator="\\n")``, several times faster.

pandas formats a float column with numpy's ``astype(str)`` and hands every field to the csv
module one row at a time: for ``score``'s eight tables (1.1 M floats, 105k rows in ``per_run``)
that took 1.0 s of the command's writing. Here each column is formatted once per distinct
value -- a float as ``repr``, the shortest text that reads back as the same number (what numpy's
``str``, ``json`` and ``str(float)`` write too) -- and the rows are joined with ``","``. Labels are
quoted by the csv module itself, so a comma, quote or line break inside a label is written as
pandas would. A table this module does not cover (a column of another type, one column, labels
that are not strings) is written by pandas. tests/test_table_text.py compares both writers.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd


def float_reprs(values: npt.ArrayLike) -> npt.NDArray[np.object_]:
    """``repr`` of each float64 value, as an object array ("nan" for NaN).

    Each distinct value is formatted once: metric tables repeat their values (counts, 0.0,
    shares of a few runs), and ``repr`` is the costly part of writing them. Values are told
    apart by their bits, so 0.0 and -0.0 keep their own texts.
    """
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.int64)
    codes, distinct = pd.factorize(bits)
    texts = np.array(list(map(float.__repr__, distinct.view(np.float64).tolist())), dtype=object)
    return texts[codes]


def csv_field(text: str) -> str:
    """``text`` as the csv module writes it as one field of a row of several (quoted only when
    it holds a comma, a quote or a line terminator; the rules are the csv module's own)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([text, ""])
    return buffer.getvalue()[: -len(",\n")]


def _value_text(value: Any) -> str | None:
    """The CSV field pandas writes for one (not missing) value of a non-float column; None for
    a type this module leaves to pandas."""
    if isinstance(value, str):
        return csv_field(value)
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return None


def _column_texts(column: pd.Series) -> list[str] | None:
    """The CSV field of every row of ``column`` (missing values as ""); None when pandas must
    write the column."""
    if isinstance(column.dtype, np.dtype) and column.dtype == np.float64:
        values = column.to_numpy()
        texts = float_reprs(values)
        texts[np.isnan(values)] = ""
        return list(texts.tolist())
    codes, distinct = pd.factorize(column, use_na_sentinel=True)  # a missing value: code -1
    distinct_texts = [_value_text(value) for value in distinct]
    if any(text is None for text in distinct_texts):
        return None
    return list(np.array(distinct_texts + [""], dtype=object)[codes].tolist())


def csv_text(table: pd.DataFrame) -> str:
    """``table.to_csv(index=False, lineterminator="\\n")``, the same text, formatted by column."""
    labels = list(table.columns)
    if len(labels) < 2 or not all(isinstance(label, str) for label in labels):
        return str(table.to_csv(index=False, lineterminator="\n"))  # a lone empty field is quoted
    columns = []
    for position in range(len(labels)):
        texts = _column_texts(table.iloc[:, position])
        if texts is None:
            return str(table.to_csv(index=False, lineterminator="\n"))
        columns.append(texts)
    header = ",".join(csv_field(label) for label in labels)
    return "\n".join([header, *map(",".join, zip(*columns))]) + "\n"
