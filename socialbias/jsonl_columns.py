"""Columnar reading of a responses JSONL file: the lines that can be read without Python.

``score`` on 1.6 million responses spent most of its reading time in one ``json.loads`` and
one validation per line (docs/design.md, "responses"; bench/score_bench.py). Here the file is read as one byte buffer,
cut into lines with numpy, classified with vectorised regular expressions (pyarrow compute),
and the *plain* lines are parsed by pyarrow's JSON reader into columns and validated as
columns. Every other line -- blank, damaged, nested, escaped keys, surrogate escapes, a
field given twice, anything the vectorised checks do not prove valid -- goes back to the
line-by-line reader of :mod:`socialbias.recorded`, which decides it exactly as before. So the
result (rows, line numbers, counts, messages) is the same as reading every line in Python;
only the time differs (tests/test_recorded_columns.py compares both on damaged files).

Safety: pyarrow's parser only ever sees bytes that are valid UTF-8 and lines of the form
``{...}`` with no control character, no nested object or array and no second brace (so no
deep nesting can reach its recursive parser); if it still refuses the buffer, the whole file
is read line by line. A "plain" line: optional spaces, ``{``, no ``{ } [ ]`` or control
character inside, ``}``, optional spaces and ``\\r``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: A line the vectorised path may take: one flat object, no control characters.
_PLAIN = r"^ *\{[^{}\[\]\x00-\x1f]*\} *\r?\n?$"
#: A line ``bytes.strip()`` empties (skipped, not counted, as by the line reader).
_BLANK = r"^[ \t\r\x0b\x0c]*\n?$"
#: A key written with an escape (``"\u0063hoice"``), or a surrogate escape: the line reader decides.
_ESCAPED = r'[{,] *"[^"]*\\|\\u[dD][89a-fA-F]'
#: Occurrences of the keys whose presence (not only value) matters.
_KEYS = r'"(?:response|choice|option_order)"'
#: ``"choice": null`` as a key of a plain line.
_NULL_CHOICE = r'[{,] *"choice" *: *null *[,}]'


@dataclass
class ColumnarRead:
    """The lines read as columns, and the lines (number, raw bytes) left to the line reader."""

    table: pd.DataFrame  # columns of socialbias.recorded.RECORDED_COLUMNS, rows valid
    other: list[tuple[int, bytes]]
    text: bool = False  # some row of ``table`` has a response text (else its responses are all None)


def _schema():
    import pyarrow as pa

    return pa.schema([("model", pa.string()), ("category", pa.string()), ("example_id", pa.int64()),
                      ("persona", pa.string()), ("instruction", pa.int64()), ("response", pa.string()),
                      ("choice", pa.int64()), ("option_order", pa.string())])


def read_columns(data: bytes, order_names: tuple[str, ...], none_code: int) -> ColumnarRead | None:
    """Read ``data`` (a whole JSONL file); None when the line reader must read all of it.

    ``order_names`` are the valid ``option_order`` values and ``none_code`` the choice of a
    ``"choice": null`` line (:data:`socialbias.answers.NONE`).
    """
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.json as pj
    except ImportError:  # pragma: no cover - pyarrow is a dependency of pandas' string dtype here
        return None
    ends = _line_ends(data)
    offsets = np.concatenate([[0], ends, [len(data)] if not ends.size or ends[-1] != len(data) else []])
    offsets = offsets.astype(np.int64)
    n_lines = offsets.size - 1
    lines = pa.LargeStringArray.from_buffers(n_lines, pa.py_buffer(offsets), pa.py_buffer(data))
    try:  # strict UTF-8 (no surrogates, no overlong forms), as bytes.decode checks it, without a copy
        lines.validate(full=True)
    except pa.ArrowInvalid:
        return None
    plain = _per_slice(pc.match_substring_regex, lines, _PLAIN)
    slash_free = data.find(b"\\") < 0  # one memchr over the file (18 ms for 190 MB): no line has an escape
    if plain.any() and not slash_free:
        slash = np.flatnonzero(plain & _per_slice(pc.match_substring, lines, "\\"))
        if slash.size:
            escaped = pc.match_substring_regex(lines.take(pa.array(slash)), _ESCAPED).to_numpy(zero_copy_only=False)
            plain[slash[escaped]] = False
    idx = np.flatnonzero(plain)
    table = None
    if idx.size:
        rest = np.flatnonzero(~plain)
        if all(data[offsets[i]:offsets[i + 1]] in (b"", b"\n") for i in rest[:1000]) and rest.size <= 1000:
            buffer = pa.py_buffer(data)  # every other line is empty: pyarrow skips those itself
        else:
            mark = np.zeros(len(data) + 1, np.int64)  # +1 at each plain line's start, -1 at its end
            np.add.at(mark, offsets[idx], 1)
            np.add.at(mark, offsets[idx + 1], -1)
            keep_bytes = np.cumsum(mark[:-1]) > 0
            buffer = pa.py_buffer(np.frombuffer(data, np.uint8)[keep_bytes].tobytes())
        try:
            table = pj.read_json(pa.BufferReader(buffer), parse_options=pj.ParseOptions(
                explicit_schema=_schema(), unexpected_field_behavior="ignore", newlines_in_values=False))
        except (pa.ArrowException, ValueError, OSError):
            return None
        if table.num_rows != idx.size:
            return None
    ok, columns, text = (_validate(table, lines, idx, order_names, none_code, slash_free) if table is not None
                         else (None, None, False))
    keep = idx[ok] if ok is not None else idx[:0]
    taken = np.zeros(n_lines, bool)
    taken[keep] = True
    rest = np.flatnonzero(~taken)
    if rest.size:
        blank = pc.match_substring_regex(lines.take(pa.array(rest)), _BLANK).to_numpy(zero_copy_only=False)
        rest = rest[~blank]
    other = [(int(i) + 1, data[offsets[i]:offsets[i + 1]]) for i in rest]
    frame = pd.DataFrame({name: col for name, col in (columns or {}).items()}, copy=False)  # fresh arrays: no copy
    if columns is not None:
        frame["line"] = keep + 1
    return ColumnarRead(frame, other, text)


#: Lines per slice below which :func:`_per_slice` does not start threads.
SLICE_LINES = 200_000


def _threads(n_values: int, slice_lines: int) -> int:
    """Threads for ``n_values`` lines: one per usable core, each with at least ``slice_lines``."""
    from socialbias.metrics.parts import usable_cpus

    return max(1, min(usable_cpus(), n_values // slice_lines))


def _per_slice(function, lines, pattern: str, slice_lines: int | None = None) -> np.ndarray:
    """``function(lines, pattern)`` (a pyarrow compute function of one value per line) as a
    numpy array, computed on consecutive slices of the lines in parallel threads, one per
    usable core: Arrow's kernels release the GIL, and each is single-threaded (the three
    pattern scans of 1.6 M lines took 0.92 s in one thread, 0.49 s on two cores). A thread
    gets at least ``slice_lines`` values (default :data:`SLICE_LINES`)."""
    from concurrent.futures import ThreadPoolExecutor

    k = _threads(len(lines), slice_lines or SLICE_LINES)
    if k == 1:
        return function(lines, pattern).to_numpy(zero_copy_only=False)
    bounds = np.linspace(0, len(lines), k + 1).astype(np.int64)
    with ThreadPoolExecutor(k) as pool:
        parts = pool.map(lambda i: function(lines.slice(bounds[i], bounds[i + 1] - bounds[i]), pattern)
                         .to_numpy(zero_copy_only=False), range(k))
        return np.concatenate(list(parts))


def _line_ends(data: bytes, block: int = 1 << 22) -> np.ndarray:
    """Offsets just after each newline; the file is scanned in blocks into one reused buffer
    (a mask of the whole file would cost a page fault per 4 KiB, which dominates here)."""
    raw = np.frombuffer(data, np.uint8)
    mask = np.empty(min(block, raw.size), bool)
    parts = []
    for start in range(0, raw.size, block):
        chunk = raw[start:start + block]
        np.equal(chunk, 10, out=mask[:chunk.size])
        parts.append(np.flatnonzero(mask[:chunk.size]) + (start + 1))
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def _validate(table, lines, idx: np.ndarray, order_names: tuple[str, ...], none_code: int, slash_free: bool):
    """Which parsed plain lines are valid exactly as the line reader would find them, their
    columns (rows of the valid lines only), and whether one of those has a response text.
    ``slash_free``: no byte of the file is a backslash (:func:`_key_counts`)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def valid(name: str) -> np.ndarray:
        return table[name].is_valid().to_numpy(zero_copy_only=False)

    category = table["category"]
    ok = valid("category") & (pc.fill_null(pc.utf8_length(category), 0).to_numpy(zero_copy_only=False) > 0)
    ok &= valid("example_id")
    inst = pc.fill_null(table["instruction"], -1).to_numpy(zero_copy_only=False)
    ok &= valid("instruction") & (inst >= 0) & (inst <= 32767)
    has_order = valid("option_order")
    ok &= ~has_order | pc.is_in(table["option_order"], pa.array(order_names)).to_numpy(zero_copy_only=False)
    has_text, has_choice = valid("response"), valid("choice")
    choice = pc.fill_null(table["choice"], none_code).to_numpy(zero_copy_only=False)
    ok &= ~(has_text & has_choice) & (~has_choice | np.isin(choice, (0, 1, 2)))
    # Keys present with a null value cannot be seen in the columns: count the key names in the
    # line. A valid line names exactly its text or choice key (a choice may be null, as
    # ``"choice": null``), and option_order if it has one.
    contiguous = idx.size == 0 or idx[-1] == idx.size - 1  # the plain lines are the first lines
    picked = lines.slice(0, idx.size) if contiguous else lines.take(pa.array(idx))
    neither = ~has_text & ~has_choice
    null_choice = np.zeros(idx.size, bool)
    if neither.any():
        at = np.flatnonzero(neither)
        null_choice[at] = pc.match_substring_regex(picked.take(pa.array(at)), _NULL_CHOICE).to_numpy(zero_copy_only=False)
    at_least = has_text.astype(np.int64) + has_choice + has_order + null_choice  # each is a distinct key string
    n_keys = _key_counts(picked, at_least, contiguous and slash_free)
    ok &= (n_keys == 1 + has_order) & (~neither | null_choice)
    every = bool(ok.all())  # the usual case: no row to drop, no copy of the parsed columns
    persona = pc.fill_null(table["persona"], "")
    response = table["response"]
    columns = {
        "model": _categorical(table["model"], ok, every),
        "category": _categorical(table["category"], ok, every),
        "example_id": pc.fill_null(table["example_id"], 0).to_numpy()[ok],
        "persona": _categorical(persona, ok, every, str.strip),
        "instruction": inst[ok],
        "response": (np.full(int(ok.sum()), None, object) if response.null_count == len(response)
                     else (response if every else response.filter(pa.array(ok))).to_pandas()),
        "choice": np.where(has_text[ok], np.nan, choice[ok]),
        "option_order": _categorical(pc.fill_null(table["option_order"], "012"), ok, every),
    }
    return ok, columns, bool(has_text[ok].any())


def _key_counts(picked, at_least: np.ndarray, whole: bool) -> np.ndarray:
    """Matches of :data:`_KEYS` in each of the ``picked`` lines (an Arrow string array).

    ``at_least``: per line, a number of matches it is known to have (the keys the JSON parser
    found with a value, and a ``"choice": null`` found by :data:`_NULL_CHOICE`). When ``whole``
    (no byte of the file is a backslash, and the picked lines are consecutive lines of it),
    every ``"`` opens or closes a string, so each such key is a match of its own. The lines are
    then counted as one long string per thread, without the per-line overhead (0.16 s instead
    of 0.22-0.39 s on the 1.6 M lines of bench/score_bench.py, two cores): a total equal to
    ``at_least.sum()`` means that every line has exactly ``at_least`` matches (none has fewer).
    Any other total, or not ``whole``: counted line by line, as always before."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if whole and len(picked):
        threads = _threads(len(picked), SLICE_LINES)
        bounds = np.linspace(0, len(picked), threads + 1).astype(np.int64)
        offsets = np.frombuffer(picked.buffers()[1], np.int64)[picked.offset:picked.offset + len(picked) + 1]
        long = pa.LargeStringArray.from_buffers(threads, pa.py_buffer(offsets[bounds].copy()), picked.buffers()[2])
        if int(_per_slice(pc.count_substring_regex, long, _KEYS, slice_lines=1).sum()) == int(at_least.sum()):
            return at_least
    return _per_slice(pc.count_substring_regex, picked, _KEYS)


def _categorical(column, ok: np.ndarray, every: bool, clean=None) -> pd.Categorical:
    """An Arrow string column as a pandas Categorical (rows where ``ok``): dictionary-encoded,
    so no Python string is made per row; ``clean`` maps each distinct value (persona: strip)."""
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(column.combine_chunks() if hasattr(column, "combine_chunks") else column)
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    names = encoded.dictionary.to_pylist()
    return sorted_categorical(codes if every else codes[ok], [clean(n) for n in names] if clean else names)


def sorted_categorical(codes: np.ndarray, names) -> pd.Categorical:
    """Codes into ``names`` (-1 = missing) as a Categorical whose categories are the distinct
    names, sorted: codes then follow the order pandas' ``factorize(sort=True)`` gives the
    strings, so metrics encode them without touching a string per row (docs/design.md,
    "responses"). Equal names (two personas that strip to one) merge into one category."""
    uniques, inverse = np.unique(np.asarray(names, dtype=object), return_inverse=True)
    small = np.int8 if uniques.size < 127 else np.int16 if uniques.size < 32767 else np.int64
    lookup = np.append(inverse.reshape(-1), -1).astype(small)  # code -1 reads the last entry: -1
    dtype = pd.CategoricalDtype(pd.Index(uniques.tolist()))
    return pd.Categorical.from_codes(lookup[codes], dtype=dtype, validate=False)


__all__ = ["ColumnarRead", "read_columns", "sorted_categorical"]
