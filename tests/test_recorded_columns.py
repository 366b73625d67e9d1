"""The columnar JSONL reader gives exactly what the line-by-line reader gives.

``read_jsonl`` reads plain lines as columns (socialbias/jsonl_columns.py) and every other line
one by one; these tests read the same files both ways (the line reader alone by turning the
columnar reader off) and require the same table, counts and messages: on valid files of
every shape, on lines crafted to look valid to a columnar parser but not to ``json.loads``
(keys given twice or with a null value, escaped keys, surrogates, nesting), and on randomly
damaged bytes. A file the columnar parser refuses as a whole must not crash the interpreter.
"""

from __future__ import annotations

import gzip
import json
import random

import pandas as pd
import pytest

import socialbias.recorded as recorded
from socialbias.errors import InputError

GOOD = [
    {"model": "m", "category": "Age", "example_id": 3, "persona": "", "instruction": 0, "response": "A"},
    {"category": "Age", "example_id": 4, "persona": " kid ", "instruction": 1, "choice": 2},
    {"category": "Age", "example_id": 5, "instruction": 2, "choice": None, "option_order": "120"},
    {"model": None, "category": "SES", "example_id": -7, "persona": None, "instruction": 32767, "response": "x, \"y\"\n"},
    {"category": "SES", "example_id": 9, "instruction": 4, "response": "caf\u00e9 \u4e2d", "extra": 1.5},
]
TRICKY = [
    '{"category": "Age", "example_id": 1, "instruction": 0, "response": "A", "choice": null}',
    '{"category": "Age", "example_id": 1, "instruction": 0, "choice": 1, "response": null}',
    '{"category": "Age", "example_id": 1, "instruction": 0, "choice": 1, "option_order": null}',
    '{"category": "Age", "example_id": 1, "instruction": 0, "response": null}',
    '{"category": "Age", "example_id": 1, "instruction": 0}',
    '{"category": "Age", "example_id": 1, "instruction": 0, "choice": null, "choice": 1}',
    '{"category": "Age", "example_id": 1, "instruction": 0, "\\u0063hoice": null, "response": "B"}',
    '{"category": "Age", "example_id": 1, "instruction": 0, "response": "\\ud83d\\ude00 C"}',
    '{"category": "Age", "example_id": 1, "instruction": 0, "response": "\\ud800"}',
    '{"category": "Age", "example_id": 1, "instruction": 0, "choice": 1, "meta": {"response": 1}}',
    '{"category": "Age", "example_id": 1, "instruction": 0, "choice": 1, "tags": ["choice"]}',
    '{"category": "Age", "example_id": 1, "instruction": 0, "persona": "response", "choice": 1}',
    '{"category": "Age", "example_id": 1, "instruction": 0, "choice": 3}',
    '{"category": "Age", "example_id": 1, "instruction": 40000, "choice": 1}',
    '{"category": "", "example_id": 1, "instruction": 0, "choice": 1}',
    '{"category": "Age", "example_id": 1, "instruction": 0, "choice": 1, "option_order": "111"}',
    '{"category": "Age", "example_id": 1, "instruction": 0, "choice": 1} {"category": "Age"}',
    '{"category": "Age", "example_id": 1, "instruction": 0,\t"choice": 1}',
    '{"category": "Age", "example_id": 1, "instruction": 0, "choice": NaN}',
    '  {"category": "Age", "example_id": 1, "instruction": 0, "choice": 0}  \r',
    '\x0c',
    '   ',
    '',
    '{"x": ' * 3000 + '1' + '}' * 3000,
    '\ufeff{"category": "Age", "example_id": 1, "instruction": 0, "choice": 0}',
]
TYPE_ERRORS = [  # lines the columnar parser refuses as a whole file (the line reader reads it)
    '{"category": "Age", "example_id": 1.0, "instruction": 0, "choice": 1}',
    '{"category": "Age", "example_id": true, "instruction": 0, "choice": 1}',
    '{"category": "Age", "example_id": 1, "instruction": 0, "choice": "1"}',
    '{"category": "Age", "example_id": 99999999999999999999, "instruction": 0, "choice": 1}',
    '{"category": 5, "example_id": 1, "instruction": 0, "choice": 1}',
    '{"category": "Age", "example_id": 1, "instruction": 0, "persona": 3, "choice": 1}',
]


def _both(path, monkeypatch, **kw):
    """(table, outcome or error) read with and without the columnar reader."""
    results = []
    for columnar in (True, False):
        with monkeypatch.context() as m:
            if not columnar:
                m.setattr(recorded, "read_columns", lambda *a, **k: None)
            try:
                table, outcome = recorded.read_jsonl(path, **kw)
                results.append((table, outcome.as_dict()))
            except InputError as exc:
                results.append((None, str(exc)))
    return results


def _same(path, monkeypatch, **kw) -> None:
    (fast, fo), (slow, so) = _both(path, monkeypatch, **kw)
    assert fo == so
    if slow is None:
        assert fast is None
    else:
        pd.testing.assert_frame_equal(fast, slow)


def _lines(objs) -> list[str]:
    return [json.dumps(o) for o in objs]


@pytest.mark.parametrize("kind", ["choice", "text", "mixed"])
def test_valid_files_read_the_same(tmp_path, monkeypatch, kind) -> None:
    rng = random.Random(1)
    objs = []
    for i in range(300):
        o = {"model": rng.choice(["a", "b", None]), "category": rng.choice(["Age", "SES"]), "example_id": i,
             "persona": rng.choice(["", "kid", None]), "instruction": i % 5}
        if kind == "choice" or (kind == "mixed" and i % 3):
            o["choice"] = rng.choice([0, 1, 2, None])
        else:
            o["response"] = rng.choice(["A", "(B) the kid", "I cannot say.", "C\n\nbecause"])
        if i % 7 == 0:
            o["option_order"] = "201"
        objs.append(o)
    path = tmp_path / "r.jsonl"
    path.write_text("\n".join(_lines(objs)) + "\n")
    _same(path, monkeypatch)
    table, outcome = recorded.read_jsonl(path)
    assert outcome.scored == 0 and outcome.lines == 300 and len(table) == 300
    assert list(table["line"]) == list(range(1, 301))


@pytest.mark.parametrize("line", TRICKY + TYPE_ERRORS)
def test_tricky_lines_read_the_same(tmp_path, monkeypatch, line) -> None:
    path = tmp_path / "r.jsonl"
    path.write_bytes(("\n".join(_lines(GOOD[:3]) + [line] + _lines(GOOD[3:])) + "\n").encode("utf-8", "surrogatepass"))
    _same(path, monkeypatch)
    _same(path, monkeypatch, model="fallback")
    _same(path, monkeypatch, strict=True)


#: Lines with no backslash: a file of only such lines has its key names counted over long
#: slices at once (socialbias/jsonl_columns.py, ``_key_counts``).
SLASH_FREE_GOOD = [line for line in _lines(GOOD) if "\\" not in line]


@pytest.mark.parametrize("line", [line for line in TRICKY + TYPE_ERRORS if "\\" not in line])
def test_tricky_lines_in_a_file_without_backslashes_read_the_same(tmp_path, monkeypatch, line) -> None:
    """A key given twice, or present with a null value beside another, raises the file's count
    of key names above what the parsed columns show: its line still goes to the line reader."""
    path = tmp_path / "r.jsonl"
    path.write_text("\n".join(SLASH_FREE_GOOD[:2] + [line] + SLASH_FREE_GOOD[2:]) + "\n")
    assert b"\\" not in path.read_bytes()
    _same(path, monkeypatch)
    _same(path, monkeypatch, strict=True)


def test_key_names_are_counted_per_line_only_when_the_totals_disagree(tmp_path, monkeypatch) -> None:
    import socialbias.jsonl_columns as columns

    calls = []
    per_slice = columns._per_slice
    monkeypatch.setattr(columns, "_per_slice", lambda f, lines, pattern, **kw: (
        calls.append((pattern, len(lines))), per_slice(f, lines, pattern, **kw))[1])
    path = tmp_path / "r.jsonl"
    path.write_text("\n".join(SLASH_FREE_GOOD * 5) + "\n")
    recorded.read_jsonl(path)
    assert [n for pattern, n in calls if pattern == columns._KEYS] == [1]  # one long string, no line by line
    calls.clear()
    path.write_text("\n".join(SLASH_FREE_GOOD * 5 + [TRICKY[1]]) + "\n")  # "response": null beside a choice
    table, outcome = recorded.read_jsonl(path)
    assert [n for pattern, n in calls if pattern == columns._KEYS] == [1, 5 * len(SLASH_FREE_GOOD) + 1]
    assert outcome.malformed == 1 and len(table) == 5 * len(SLASH_FREE_GOOD)


def test_all_tricky_lines_together_and_gzip(tmp_path, monkeypatch) -> None:
    text = "\n".join(_lines(GOOD) + TRICKY + _lines(GOOD)) + "\n"
    path = tmp_path / "r.jsonl"
    path.write_text(text)
    _same(path, monkeypatch)
    gz = tmp_path / "r.jsonl.gz"
    gz.write_bytes(gzip.compress(text.encode()))
    _same(gz, monkeypatch)
    table, outcome = recorded.read_jsonl(path)
    assert outcome.malformed > 10 and len(table) > 2 * len(GOOD)


def test_pattern_scans_in_parallel_slices_read_the_same(tmp_path, monkeypatch) -> None:
    """The per-line pattern scans run on slices in threads (big files); forced here on a small
    one, with tricky lines at the slice bounds, every line is still decided as one by one."""
    import pyarrow as pa
    import pyarrow.compute as pc

    import socialbias.jsonl_columns as columns

    monkeypatch.setattr("socialbias.metrics.parts.usable_cpus", lambda: 3)
    monkeypatch.setattr(columns, "SLICE_LINES", 5)
    words = pa.array(["a", "bb", "", "cbc", "b"] * 4)
    assert columns._per_slice(pc.count_substring, words, "b").tolist() == [0, 2, 0, 1, 1] * 4  # 3 slices
    path = tmp_path / "r.jsonl"
    path.write_text("\n".join(_lines(GOOD * 3) + TRICKY + _lines(GOOD * 3)) + "\n")
    _same(path, monkeypatch)


@pytest.mark.parametrize("good", [GOOD, "slash-free"])
def test_damaged_bytes_never_crash_and_read_the_same(tmp_path, monkeypatch, good) -> None:
    lines = SLASH_FREE_GOOD if good == "slash-free" else _lines(good)
    base = ("\n".join(lines * 4) + "\n").encode()
    rng = random.Random(7)
    for trial in range(60):
        data = bytearray(base)
        for _ in range(rng.randint(1, 12)):
            pos = rng.randrange(len(data))
            op = rng.random()
            if op < 0.4:
                data[pos] = rng.randrange(256)
            elif op < 0.7:
                data.insert(pos, rng.choice(b'{}[]",:\\\n\x00 u'))
            else:
                del data[pos]
        path = tmp_path / f"f{trial}.jsonl"
        path.write_bytes(bytes(data))
        _same(path, monkeypatch)


def test_no_trailing_newline_and_crlf(tmp_path, monkeypatch) -> None:
    path = tmp_path / "r.jsonl"
    path.write_bytes(("\r\n".join(_lines(GOOD))).encode())
    _same(path, monkeypatch)
    assert len(recorded.read_jsonl(path)[0]) == len(GOOD)


@pytest.mark.parametrize("bad", [b"\xc0\xaf", b"\xed\xa0\x80", b"\x80", b"\xe4\xb8", b"\xf4\x90\x80\x80"])
def test_invalid_utf8_reads_the_same(tmp_path, monkeypatch, bad) -> None:
    """The file is mapped, not copied, and checked for UTF-8 by Arrow: overlong forms, encoded
    surrogates, stray continuation bytes, cut sequences and code points above U+10FFFF in a
    value must be refused as ``bytes.decode`` refuses them."""
    line = b'{"category": "Age", "example_id": 1, "instruction": 0, "response": "A' + bad + b'"}'
    path = tmp_path / "r.jsonl"
    path.write_bytes(b"\n".join([*(s.encode() for s in _lines(GOOD[:3])), line, *(s.encode() for s in _lines(GOOD[3:]))]))
    _same(path, monkeypatch)
    table, outcome = recorded.read_jsonl(path)
    assert outcome.malformed == 1 and len(table) == len(GOOD)


def test_responses_are_all_none_when_the_only_text_is_on_a_refused_line(tmp_path, monkeypatch) -> None:
    """The columnar reader tells whether a kept row has text: a text on a refused line (text
    and choice both given) leaves every kept response None, as the line reader gives it."""
    lines = _lines([{"category": "Age", "example_id": i, "instruction": 0, "choice": 1} for i in range(5)])
    path = tmp_path / "r.jsonl"
    path.write_text("\n".join(lines + ['{"category": "Age", "example_id": 9, "instruction": 0, '
                                       '"response": "A", "choice": 2}']) + "\n")
    _same(path, monkeypatch)
    table, outcome = recorded.read_jsonl(path)
    assert outcome.malformed == 1 and len(table) == 5
    assert table["response"].dtype == object and table["response"].isna().all()
