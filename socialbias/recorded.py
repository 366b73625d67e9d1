"""Recorded responses: answers obtained elsewhere, read back for scoring.

Two formats:

``jsonl`` (ours): one JSON object per line,
    ``{"model": str (optional), "category": str, "example_id": int, "persona": str ("" or absent =
    default), "instruction": int, "response": str}``, or ``"choice": 0|1|2|null`` instead of
    ``"response"`` (null = no valid answer). Optional ``"option_order": "120"``: the options were
    shown in that order (shown A, B, C = the item's options 1, 2, 0; default ``"012"``, the
    source order), and the response or ``choice`` refers to the options as shown; scoring maps
    it back to the item's own options (:mod:`metrics.position`).

``paper``: the result files released with Shin et al. (2024) (repository ddindidu/BiasedPersona,
    ``results/refined/{model}/{persona category}/refined_p_{persona}_inst_{k}_target_{category}_{date}_{time}.json``,
    optionally gzipped): a JSON list of BBQ records, each with
    ``"response": {"origin": raw text, "refined": 0|1|2 or 9 = none}``; persona ``Baseline`` is the
    default model. The model name is the folder two levels above the file.

Reading never executes anything from the file (plain JSON). Every line that cannot be used is
counted in :class:`ReadOutcome` with its reason; ``strict=True`` makes the first one an error.
"""

from __future__ import annotations

import gzip
import json
import mmap
import os
import re
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from socialbias.metrics.schema import ANSWER_COLUMNS as METRIC_ANSWER_COLUMNS
from socialbias.metrics.position import ORDER_NAMES, order_matrix, order_runs, original_choices
from socialbias.metrics.schema import MEMBER_COLUMN, PLACEBO_COLUMN, TEMPLATE_COLUMN

from .answers import NONE, get_parser
from .errors import InputError
from .jsonl_columns import read_columns, sorted_categorical
from .personas import DEFAULT_PERSONA

#: Columns of the recorded-responses table (one row per response, before items are joined).
RECORDED_COLUMNS = ("model", "category", "example_id", "persona", "instruction", "response", "choice", "option_order",
                    "line")

#: Columns of the answers table: what ``metrics.score_answers`` takes (its own contract), plus the
#: persona's in-group, how each choice was read and the option order shown (``"012"``: as in
#: the source; ``choice`` is always the item's original option).
ANSWER_COLUMNS = (*METRIC_ANSWER_COLUMNS, MEMBER_COLUMN, PLACEBO_COLUMN, TEMPLATE_COLUMN, "parse", "instruction",
                  "option_order")

_PAPER_NAME = re.compile(r"^refined_p_(?P<persona>.+)_inst_(?P<k>\d+)_target_(?P<category>.+?)_\d{6}_\d{6}\.json(\.gz)?$")
_MAX_ERRORS_KEPT = 20
#: Text columns of the recorded table kept as categoricals (few distinct values, many rows).
_TEXT_COLUMNS = ("model", "category", "persona", "option_order")


@dataclass
class ReadOutcome:
    """What happened to every input line: kept, or dropped and why (reported in the run record)."""

    lines: int = 0
    scored: int = 0
    malformed: int = 0
    unknown_category: int = 0
    unknown_example_id: int = 0
    duplicates: int = 0
    unknown_personas: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def drop(self, kind: str, message: str) -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        if len(self.errors) < _MAX_ERRORS_KEPT:
            self.errors.append(message)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_line(obj: Any) -> dict[str, Any]:
    """Validate one JSONL object; returns the row or raises ValueError with the reason."""
    if not isinstance(obj, dict):
        raise ValueError(f"a line must be a JSON object, got {type(obj).__name__}")
    category = obj.get("category")
    if not isinstance(category, str) or not category:
        raise ValueError("field 'category' must be a non-empty string")
    if not _is_int(obj.get("example_id")) or not -2**63 <= obj["example_id"] < 2**63:
        raise ValueError("field 'example_id' must be an integer (within 64 bits)")
    persona = obj.get("persona", DEFAULT_PERSONA)
    if persona is None:
        persona = DEFAULT_PERSONA
    if not isinstance(persona, str):
        raise ValueError("field 'persona' must be a string ('' or absent for the default persona)")
    k = obj.get("instruction")
    if not _is_int(k) or not 0 <= k <= 32767:
        raise ValueError("field 'instruction' must be an integer from 0 to 32767")
    model = obj.get("model", None)
    if model is not None and not isinstance(model, str):
        raise ValueError("field 'model' must be a string")
    order = obj.get("option_order", "012")
    if order not in ORDER_NAMES:
        raise ValueError("field 'option_order' must be an order of the three options, e.g. \"120\"")
    has_text, has_choice = "response" in obj, "choice" in obj
    if has_text == has_choice:
        raise ValueError("give exactly one of 'response' (text) or 'choice' (0, 1, 2 or null)")
    response, choice = None, None
    if has_text:
        if not isinstance(obj["response"], str):
            raise ValueError("field 'response' must be a string")
        response = obj["response"]
    else:
        c = obj["choice"]
        if c is not None and not (_is_int(c) and c in (0, 1, 2)):
            raise ValueError("field 'choice' must be 0, 1, 2 or null")
        choice = NONE if c is None else c
    for name, value in (("category", category), ("persona", persona), ("model", model), ("response", response)):
        if isinstance(value, str) and not _encodable(value):
            raise ValueError(f"field {name!r} holds a lone surrogate escape (\\ud800-\\udfff): not text")
    return {
        "model": model,
        "category": category,
        "example_id": obj["example_id"],
        "persona": persona.strip(),
        "instruction": k,
        "response": response,
        "choice": choice,
        "option_order": order,
    }


def read_jsonl(path: str | os.PathLike[str], *, strict: bool = False, model: str | None = None) -> tuple[pd.DataFrame, ReadOutcome]:
    """Read a responses JSONL file into the recorded-responses table.

    Malformed lines are counted (and the first few quoted) in the outcome; ``strict=True`` makes
    the first one an ``InputError`` naming file and line. ``model`` fills lines without one.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"responses file {str(path)!r} does not exist: give the path of a .jsonl file")
    outcome = ReadOutcome()
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        data = _file_bytes(path)
    except (OSError, EOFError):  # a damaged gzip stream: the line reader reports it as before
        data = None
    columnar = read_columns(data, ORDER_NAMES, NONE) if data is not None else None
    if columnar is None:
        with opener(path, "rb") as fh:
            rows = [row for lineno, raw in enumerate(fh, start=1)
                    if (row := _read_line(raw, lineno, path, outcome, strict)) is not None]
    else:
        outcome.lines += len(columnar.table)
        rows = [row for lineno, raw in columnar.other
                if (row := _read_line(raw, lineno, path, outcome, strict)) is not None]
    if outcome.lines == 0:
        raise InputError(f"responses file {str(path)!r} is empty: one JSON object per line expected")
    return _combine(columnar.table if columnar is not None else None, rows, model or "recorded",
                    columnar is not None and columnar.text), outcome


def _file_bytes(path: Path) -> bytes | mmap.mmap:
    """The whole file: gunzipped, or an uncompressed file mapped read-only with its pages
    populated at once (reading 190 MB into a new bytes object cost a page fault per 4 KiB,
    about 1 s here; docs/design.md, "responses")."""
    if path.suffix == ".gz":
        with gzip.open(path, "rb") as fh:
            return fh.read()
    with open(path, "rb") as fh:
        if os.fstat(fh.fileno()).st_size == 0 or not hasattr(mmap, "MAP_POPULATE"):
            return fh.read()
        return mmap.mmap(fh.fileno(), 0, flags=mmap.MAP_SHARED | mmap.MAP_POPULATE, prot=mmap.PROT_READ)


def _read_line(raw: bytes, lineno: int, path: Path, outcome: ReadOutcome, strict: bool) -> dict[str, Any] | None:
    """One line, read by ``json.loads`` and :func:`_check_line`: its row, or None (blank, or
    counted as malformed; ``strict``: an ``InputError`` naming file and line)."""
    if not raw.strip():
        return None
    outcome.lines += 1
    try:
        try:
            obj = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"not valid JSON ({exc})") from None
        except RecursionError:
            raise ValueError("JSON nested too deeply (a response line is one flat object)") from None
        row = _check_line(obj)
    except ValueError as exc:
        message = f"{path}:{lineno}: {exc}"
        if strict:
            raise InputError(f"{message} (fix the line, or drop --strict to skip and count bad lines)") from None
        outcome.drop("malformed", message)
        return None
    row["line"] = lineno
    return row


def _combine(columns: pd.DataFrame | None, rows: list[dict[str, Any]], model: str, columns_text: bool = False) -> pd.DataFrame:
    """The lines read as columns and those read one by one, in line order, typed as the table
    of either reader alone: ``choice`` int unless some line has text (float, NaN there), all
    None when no line has a choice; ``response`` all None when no line has text; ``model``,
    ``category``, ``persona`` and ``option_order`` categorical with sorted categories (a
    missing model is ``model``), so that joins and metrics work on integer codes
    (docs/design.md, "responses"). ``columns_text``: some row of ``columns`` has a text."""
    parts = [pd.DataFrame(rows, columns=list(RECORDED_COLUMNS))] if rows or columns is None or not len(columns) else []
    if columns is not None and len(columns):
        parts.insert(0, columns[list(RECORDED_COLUMNS)])
    for name in _TEXT_COLUMNS:  # one category list over both parts, so that they stack as codes
        fill = model if name == "model" else None
        cats = [_category(part[name], fill) for part in parts]
        names = sorted(set().union(*(c.categories for c in cats)))
        for part, cat in zip(parts, cats):
            part[name] = cat.set_categories(names) if list(cat.categories) != names else cat
    table = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    if len(parts) > 1:
        table = table.take(np.argsort(table["line"].to_numpy(), kind="stable")).reset_index(drop=True)
    choice = table["choice"].astype("Float64")
    table["choice"] = (pd.Series([None] * len(table), dtype=object) if len(table) and choice.isna().all()
                       else choice.astype(np.int64) if not choice.isna().any() else choice.astype(np.float64))
    text = columns_text or any(row["response"] is not None for row in rows)  # each a str or None
    table["response"] = table["response"].astype("str") if text else np.full(len(table), None, object)
    for name in ("example_id", "instruction", "line"):
        table[name] = table[name].astype(np.int64)
    return table


def _category(values: pd.Series, fill: str | None = None) -> pd.Categorical:
    """A text column as a Categorical with sorted categories; missing values become ``fill``
    (when given). Categoricals are recoded without looking at their rows' strings."""
    codes, uniques = pd.factorize(values)
    names = [str(u) for u in np.asarray(uniques, dtype=object)]
    if fill is not None and (codes < 0).any():
        codes = np.where(codes < 0, len(names), codes)
        names.append(fill)
    return sorted_categorical(codes, names)


def read_paper_results(path: str | os.PathLike[str]) -> tuple[pd.DataFrame, list[dict[str, Any]], ReadOutcome]:
    """Read the paper's result files under ``path`` (a folder, searched recursively, or one file).

    Returns the recorded-responses table (``choice`` = the paper's own ``refined`` choice,
    ``response`` = the raw text), the BBQ records embedded in the files (deduplicated), and the
    outcome.
    """
    root = Path(path)
    if root.is_file():
        files = [root]
    elif root.is_dir():
        files = sorted(p for p in root.rglob("refined_p_*") if _PAPER_NAME.match(p.name))
    else:
        raise InputError(f"paper results {str(root)!r} do not exist: give a folder of refined_p_*.json files")
    if not files:
        raise InputError(
            f"no paper result files (refined_p_{{persona}}_inst_{{k}}_target_{{category}}_*.json) under {str(root)!r}"
        )
    outcome = ReadOutcome()
    rows: list[dict[str, Any]] = []
    records: dict[tuple[str, int], dict[str, Any]] = {}
    for f in files:
        m = _PAPER_NAME.match(f.name)
        if m is None:
            raise InputError(f"{f}: not a paper result file name (refined_p_{{persona}}_inst_{{k}}_target_{{category}}_...)")
        persona = DEFAULT_PERSONA if m["persona"] == "Baseline" else m["persona"]
        model_name = f.resolve().parent.parent.name
        try:
            with (gzip.open(f, "rb") if f.suffix == ".gz" else open(f, "rb")) as fh:
                data = json.load(fh)
        except (OSError, json.JSONDecodeError, UnicodeDecodeError, EOFError) as exc:
            raise InputError(f"{f}: not a readable JSON result file ({exc}); re-download it") from None
        if not isinstance(data, list):
            raise InputError(f"{f}: expected a JSON list of records, got {type(data).__name__}")
        for i, rec in enumerate(data, start=1):
            outcome.lines += 1
            resp = rec.get("response") if isinstance(rec, dict) else None
            if not (isinstance(resp, dict) and "refined" in resp and _is_int(rec.get("example_id"))):
                outcome.drop("malformed", f"{f}: record {i}: no example_id or response.refined")
                continue
            refined = resp["refined"]
            choice = refined if refined in (0, 1, 2) else NONE
            rows.append(
                {
                    "model": model_name,
                    "category": m["category"],
                    "example_id": rec["example_id"],
                    "persona": persona,
                    "instruction": int(m["k"]),
                    "response": resp.get("origin") if isinstance(resp.get("origin"), str) else "",
                    "choice": choice,
                    "option_order": "012",
                    "line": i,
                }
            )
            key = (m["category"], rec["example_id"])
            if key not in records:
                records[key] = {k: v for k, v in rec.items() if k != "response"}
    return pd.DataFrame(rows, columns=list(RECORDED_COLUMNS)), list(records.values()), outcome


def to_answers(
    recorded: pd.DataFrame,
    items: pd.DataFrame,
    personas: pd.DataFrame | None,
    parser: str = "strict",
    outcome: ReadOutcome | None = None,
) -> tuple[pd.DataFrame, ReadOutcome]:
    """Join recorded responses with their items into the answers table metrics take.

    ``parser``: ``strict`` or ``paper`` parse the ``response`` text; ``recorded`` keeps the
    recorded ``choice`` (rows that carry a choice instead of text always keep it). Rows whose
    category or example id is not in ``items`` are dropped and counted; personas that are not
    in ``personas`` are kept (with a warning, counted): they are scored, without an in-group.
    Of two responses with the same model, item, persona, instruction and option order the first
    is kept (counted as a duplicate).

    The join works on integer codes, not on strings (docs/design.md, "responses"): each row's
    item is found by binary search among its category's example ids, duplicates by one integer
    key, in-groups once per (category, persona); text columns come out categorical.
    """
    outcome = outcome or ReadOutcome()
    n = len(recorded)
    line, example = recorded["line"].to_numpy(), recorded["example_id"].to_numpy()
    cat_codes, cats = _factor(recorded["category"])
    item_cat = pd.Index(cats).get_indexer(items["category"])  # -1: a category no response names
    known_cat = np.zeros(cats.size + 1, bool)  # the last slot: a missing category (code -1)
    known_cat[np.unique(item_cat[item_cat >= 0])] = True
    bad_cat = ~known_cat[cat_codes]
    for i in np.flatnonzero(bad_cat)[:_MAX_ERRORS_KEPT]:
        outcome.errors.append(f"line {line[i]}: category {recorded['category'].iloc[i]!r} is not in the BBQ data loaded")
    outcome.unknown_category += int(bad_cat.sum())

    item_row = np.full(n, -1, np.int64)  # the row of items each response refers to
    item_ids = items["example_id"].to_numpy()
    for c in np.flatnonzero(known_cat[:-1]):
        rows, its = np.flatnonzero(cat_codes == c), np.flatnonzero(item_cat == c)
        order = np.argsort(item_ids[its], kind="stable")
        ids = item_ids[its][order]
        pos = np.minimum(np.searchsorted(ids, example[rows]), ids.size - 1)
        hit = ids[pos] == example[rows]
        item_row[rows[hit]] = its[order[pos[hit]]]
    missing = ~bad_cat & (item_row < 0)
    for i in np.flatnonzero(missing)[:_MAX_ERRORS_KEPT]:
        outcome.errors.append(f"line {line[i]}: example_id {example[i]} is not in BBQ {recorded['category'].iloc[i]}")
    outcome.unknown_example_id += int(missing.sum())

    model_codes, models = _factor(recorded["model"])
    pers_codes, pers = _factor(recorded["persona"])
    inst_codes, _ = _factor(recorded["instruction"])
    order_col = recorded["option_order"] if "option_order" in recorded.columns else pd.Series(["012"] * n)
    order_codes, order_names = _factor(order_col)
    sel = np.flatnonzero(~bad_cat & ~missing)
    key = _joint(_rows(model_codes, sel), _rows(item_row, sel), _rows(pers_codes, sel), _rows(inst_codes, sel))
    dup = _duplicated(_joint(key, _rows(order_codes, sel)))
    outcome.duplicates += int(dup.sum())
    if dup.any():
        sel, key = sel[~dup], key[~dup]
    take = _rows(item_row, sel)
    orders = sorted_categorical(_rows(order_codes, sel), order_names)

    # Choices: rows that carry only a choice keep it; text is parsed, unless the recorded choice
    # is asked for (``parser="recorded"``, for files such as the paper's that hold both).
    choice = recorded["choice"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)[sel]
    how_codes, how_names = np.where(np.isnan(choice), 0, 1), ["", "recorded"]
    has_text = _rows(recorded["response"].notna().to_numpy(), sel)
    if parser == "recorded":
        if np.isnan(choice).any():
            raise InputError("--parser recorded needs a recorded choice on every line: use --parser strict or paper")
    elif has_text.any():
        fn = get_parser(parser)
        text = np.flatnonzero(has_text)
        shown = order_matrix(orders[text])
        options = items[["option0", "option1", "option2"]].to_numpy()[take[text]]
        parsed = [fn(t, o) for t, o in zip(recorded["response"].iloc[sel[text]].to_numpy(),
                                           np.take_along_axis(options, shown, axis=1))]
        choice[text] = [c for c, _ in parsed]
        codes, names = pd.factorize(np.array([h for _, h in parsed], dtype=object))
        how_codes[text] = codes + len(how_names)
        how_names += list(names)
    # Choices refer to the options as shown: map them to the item's own options.
    choice = original_choices(choice.astype(np.int64), orders)

    member_of, placebo = _persona_groups(_rows(cat_codes, sel), cats, _rows(pers_codes, sel), pers, personas, outcome)
    # an item asked in several orders per run: the cyclic design (with one order, the keys
    # are as distinct as the keys with the order, just deduplicated)
    repeated = len(order_names) > 1 and bool(_duplicated(key).any())
    instruction = recorded["instruction"].to_numpy()[sel]
    computed = {
        "model": sorted_categorical(_rows(model_codes, sel), models),
        "category": sorted_categorical(_rows(cat_codes, sel), cats),
        "persona": sorted_categorical(_rows(pers_codes, sel), pers),
        "run": order_runs(instruction, orders, repeated),
        "choice": choice,
        MEMBER_COLUMN: member_of,
        PLACEBO_COLUMN: placebo,
        "parse": sorted_categorical(how_codes, how_names),
        "instruction": instruction,
        "option_order": orders,
    }
    outcome.scored += len(sel)
    answers = pd.DataFrame({name: computed[name] if name in computed else _item_column(items[name], take)
                            for name in ANSWER_COLUMNS}, copy=False)  # every column a fresh array: no copy
    return answers, outcome


def _rows(values: np.ndarray, sel: np.ndarray) -> np.ndarray:
    """``values[sel]`` for the rows ``sel`` (sorted indices) that :func:`to_answers` keeps;
    ``values`` itself when it keeps every row, the usual case (each gather of 1.6 M rows is a
    fresh 13 MB array). Only for arrays made inside :func:`to_answers` and never written."""
    return values if sel.size == values.size else values[sel]


def _factor(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes (-1 = missing) and the distinct values (object array) of a column; a categorical
    column is recoded from its codes, without looking at a string per row."""
    codes, uniques = pd.factorize(values)
    return codes.astype(np.int64), np.asarray(uniques, dtype=object)


def _duplicated(key: np.ndarray) -> np.ndarray:
    """``pandas.Series(key).duplicated(keep="first")``: True for each repeat of an earlier
    key. A sort first tells whether any key repeats (0.02 s for 1.6 M keys, the hash table
    0.12-0.18 s), the usual answer being no."""
    ordered = np.sort(key)
    if not (ordered[1:] == ordered[:-1]).any():
        return np.zeros(key.size, bool)
    out: np.ndarray = pd.Series(key).duplicated(keep="first").to_numpy()
    return out


def _joint(*codes: np.ndarray) -> np.ndarray:
    """One int64 key per row from several code columns (each >= -1): equal keys, equal rows.
    Mixed radix; when it could overflow, the key so far is first ranked (np.unique)."""
    key, size = np.zeros(codes[0].size, np.int64), 1
    for c in codes:
        radix = int(c.max()) + 2 if c.size else 1
        if size * radix >= 2**62:
            uniq, key = np.unique(key, return_inverse=True)
            key, size = key.reshape(-1).astype(np.int64), uniq.size
        key, size = key * radix + (c + 1), size * radix
    return key


def _item_column(column: pd.Series, rows: np.ndarray):
    """An item column for each response (``rows`` index items): text as a categorical of
    codes (text with missing values as plain objects), numbers and flags as arrays."""
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column) or column.isna().any():
        return column.to_numpy()[rows]
    codes, uniques = _factor(column)
    return sorted_categorical(codes[rows], uniques)


def _persona_groups(cat_codes: np.ndarray, cats: np.ndarray, pers_codes: np.ndarray, pers: np.ndarray,
                    personas: pd.DataFrame | None, outcome: ReadOutcome) -> tuple[pd.Categorical, np.ndarray]:
    """Each response's persona in-group (``""`` if none) and placebo flag, looked up once per
    distinct (category, persona) pair; personas not in the catalogue are counted and warned of."""
    members = {}
    if personas is not None and len(personas):
        members = {(c, p): m for c, p, m in zip(personas["persona_category"], personas["persona"], personas["member_of"])}
    placebo = set()
    if personas is not None and "placebo" in personas.columns:
        flagged = personas[personas["placebo"].astype(bool)]
        placebo = set(zip(flagged["persona_category"], flagged["persona"]))
    width = pers.size + 1  # persona codes shifted by one: -1 (missing) is slot 0
    pair = (cat_codes + 1) * width + (pers_codes + 1)
    present = np.flatnonzero(np.bincount(pair, minlength=(cats.size + 1) * width))
    names = [(cats[k // width - 1] if k // width else None, pers[k % width - 1] if k % width else None) for k in present]
    slot = np.zeros((cats.size + 1) * width, np.int64)
    slot[present] = np.arange(present.size)
    group, member_names = pd.factorize(np.array([members.get(p, "") for p in names] + [""], dtype=object))
    is_placebo = np.array([p in placebo for p in names], dtype=bool)
    known = np.array([p[1] == DEFAULT_PERSONA or p in members for p in names], dtype=bool)
    row_slot = slot[pair]
    counts = np.bincount(row_slot[~known[row_slot]], minlength=present.size)
    unknown = pd.Series(counts, index=[p[1] for p in names]).groupby(level=0, sort=False).sum()
    unknown = unknown[unknown > 0].sort_values(ascending=False, kind="stable")
    for name, count in unknown.items():
        outcome.unknown_personas[name] = outcome.unknown_personas.get(name, 0) + int(count)
    if len(unknown):
        warnings.warn(
            f"persona(s) not in the catalogue, scored without an in-group: {', '.join(map(repr, unknown.index[:10]))}",
            stacklevel=3,
        )
    return sorted_categorical(group[:-1][row_slot], member_names), is_placebo[row_slot]


__all__ = ["ANSWER_COLUMNS", "RECORDED_COLUMNS", "ReadOutcome", "read_jsonl", "read_paper_results", "to_answers"]
