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
from .jsonl_columns import read_columns
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
        table = pd.DataFrame(rows, columns=list(RECORDED_COLUMNS))
    else:
        outcome.lines += len(columnar.table)
        rows = [row for lineno, raw in columnar.other
                if (row := _read_line(raw, lineno, path, outcome, strict)) is not None]
        table = _combine(columnar.table, rows)
    if outcome.lines == 0:
        raise InputError(f"responses file {str(path)!r} is empty: one JSON object per line expected")
    table["model"] = table["model"].fillna(model or "recorded")
    return table, outcome


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


def _combine(columns: pd.DataFrame, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The lines read as columns and those read one by one, in line order, with the column
    types a table built from the rows alone would have (``choice`` int unless some line
    has text; ``response`` all None when no line has text)."""
    if not len(columns):  # nothing read as columns: the table the line reader alone makes
        return pd.DataFrame(rows, columns=list(RECORDED_COLUMNS))
    table = pd.concat([columns, pd.DataFrame(rows, columns=list(RECORDED_COLUMNS))], ignore_index=True) \
        if rows else columns
    if rows and len(columns):
        table = table.sort_values("line", kind="stable").reset_index(drop=True)
    table = table[list(RECORDED_COLUMNS)]
    choice = table["choice"].astype("Float64")
    table["choice"] = (pd.Series([None] * len(table), dtype=object) if len(table) and choice.isna().all()
                       else choice.astype(np.int64) if not choice.isna().any() else choice.astype(np.float64))
    response = table["response"]
    table["response"] = (pd.Series([None] * len(table), dtype=object) if response.isna().all()
                         else response.astype("str"))
    for name in ("category", "persona", "option_order", "model"):
        table[name] = table[name].astype("str")
    for name in ("example_id", "instruction", "line"):
        table[name] = table[name].astype(np.int64)
    return table


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
    """
    outcome = outcome or ReadOutcome()
    table = recorded.copy()
    categories = set(items["category"])
    bad_cat = ~table["category"].isin(categories)
    for _, r in table[bad_cat].head(_MAX_ERRORS_KEPT).iterrows():
        outcome.errors.append(f"line {r['line']}: category {r['category']!r} is not in the BBQ data loaded")
    outcome.unknown_category += int(bad_cat.sum())
    table = table[~bad_cat]

    merged = table.merge(items, on=["category", "example_id"], how="left", indicator=True, suffixes=("", "_item"))
    missing = merged["_merge"] == "left_only"
    for _, r in merged[missing].head(_MAX_ERRORS_KEPT).iterrows():
        outcome.errors.append(f"line {r['line']}: example_id {r['example_id']} is not in BBQ {r['category']}")
    outcome.unknown_example_id += int(missing.sum())
    merged = merged[~missing].drop(columns="_merge")

    key = ["model", "category", "example_id", "persona", "instruction"]
    if "option_order" not in merged.columns:
        merged["option_order"] = "012"
    dup = merged.duplicated([*key, "option_order"], keep="first")
    outcome.duplicates += int(dup.sum())
    merged = merged[~dup]

    # Choices: rows that carry only a choice keep it; text is parsed, unless the recorded choice
    # is asked for (``parser="recorded"``, for files such as the paper's that hold both).
    choice = merged["choice"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    how = np.where(np.isnan(choice), "", "recorded").astype(object)
    has_text = merged["response"].notna().to_numpy()
    if parser == "recorded":
        if np.isnan(choice).any():
            raise InputError("--parser recorded needs a recorded choice on every line: use --parser strict or paper")
    else:
        fn = get_parser(parser)
        sel = np.flatnonzero(has_text)
        shown = order_matrix(merged["option_order"].to_numpy()[sel])
        opts = np.take_along_axis(merged[["option0", "option1", "option2"]].to_numpy()[sel], shown, axis=1)
        parsed = [fn(t, o) for t, o in zip(merged["response"].to_numpy()[sel], opts)]
        choice[sel] = [c for c, _ in parsed]
        how[sel] = [h for _, h in parsed]
    # Choices refer to the options as shown: map them to the item's own options.
    merged["choice"] = original_choices(choice.astype(np.int64), merged["option_order"].to_numpy())
    merged["parse"] = how

    # In-group of each (category, persona): looked up once per distinct pair, not per response.
    members = {}
    if personas is not None and len(personas):
        members = {(c, p): m for c, p, m in zip(personas["persona_category"], personas["persona"], personas["member_of"])}
    cat_codes, cats = pd.factorize(merged["category"])
    per_codes, pers = pd.factorize(merged["persona"])
    keys, pair_codes = np.unique(cat_codes.astype(np.int64) * max(len(pers), 1) + per_codes, return_inverse=True)
    pairs = [(cats[k // max(len(pers), 1)], pers[k % max(len(pers), 1)]) for k in keys]
    pair_member = np.array([members.get(pair, "") for pair in pairs], dtype=object)
    pair_known = np.array([pair[1] == DEFAULT_PERSONA or pair in members for pair in pairs], dtype=bool)
    known = pair_known[pair_codes] if len(pairs) else np.ones(len(merged), bool)
    unknown = merged.loc[~known, "persona"].value_counts()
    for name, n in unknown.items():
        outcome.unknown_personas[name] = outcome.unknown_personas.get(name, 0) + int(n)
    if len(unknown):
        warnings.warn(
            f"persona(s) not in the catalogue, scored without an in-group: {', '.join(map(repr, unknown.index[:10]))}",
            stacklevel=2,
        )
    merged["persona_member_of"] = pd.array(pair_member[pair_codes] if len(pairs) else [], dtype="str")
    placebo = set()
    if personas is not None and "placebo" in personas.columns:
        flagged = personas[personas["placebo"].astype(bool)]
        placebo = set(zip(flagged["persona_category"], flagged["persona"]))
    pair_placebo = np.array([pair in placebo for pair in pairs], dtype=bool)
    merged["persona_placebo"] = pair_placebo[pair_codes] if len(pairs) else np.zeros(0, dtype=bool)
    repeated = bool(merged.duplicated(key).any())  # an item asked in several orders per run: cyclic design
    merged["run"] = order_runs(merged["instruction"].to_numpy(), merged["option_order"].to_numpy(), repeated)
    outcome.scored += len(merged)
    answers = merged[list(ANSWER_COLUMNS)].reset_index(drop=True)
    return answers, outcome


__all__ = ["ANSWER_COLUMNS", "RECORDED_COLUMNS", "ReadOutcome", "read_jsonl", "read_paper_results", "to_answers"]
