"""Training data for :mod:`socialbias.finetune`: read, check and format preference or SFT rows.

Sources: a local ``.jsonl``/``.json``/``.csv``/``.parquet`` file, or a Hugging Face hub dataset id
(read with ``datasets.load_dataset(id, split=...)``; users fetch hub data themselves, the package
ships none). Columns: ``prompt``/``chosen``/``rejected`` for DPO, ``prompt``/``completion`` for SFT;
other columns are ignored.

Everything is checked before a model is loaded, and every problem is one :class:`InputError`
naming the file, the row and the fix: missing columns, non-text or empty cells, no rows, and a
prompt that leaves no room for the answer within the training context (``max_length``) once the
base model's chat template is applied.

:func:`data_hash` is the SHA-256 of the rows actually trained on (the used columns, in order, as
canonical JSON), so the same data read from a CSV or a JSONL file has the same hash.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import InputError

#: The columns each training method needs.
COLUMNS: dict[str, tuple[str, ...]] = {"dpo": ("prompt", "chosen", "rejected"), "sft": ("prompt", "completion")}
_LOCAL_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")


def read_rows(data: str | Path, method: str, *, split: str = "train") -> list[dict[str, str]]:
    """The rows of ``data`` with exactly the columns ``method`` needs, checked (see module doc)."""
    if method not in COLUMNS:
        raise InputError(f"unknown training method {method!r}: use dpo or sft")
    need = COLUMNS[method]
    text = str(data)
    path = Path(text).expanduser()
    if path.exists() or path.suffix.lower() in _LOCAL_SUFFIXES or text.startswith((".", "/", "~")):
        frame = _read_local(path)
        where = str(path)
    else:
        frame = _read_hub(text, split)
        where = f"hub dataset {text} (split {split})"
    if not len(frame):
        raise InputError(f"training data {where} has no rows: give at least one {'/'.join(need)} row")
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise InputError(f"training data {where} has no column(s) {', '.join(missing)} (it has "
                         f"{', '.join(map(str, frame.columns)) or 'none'}): {method} needs {', '.join(need)}")
    rows: list[dict[str, str]] = []
    for i, record in enumerate(frame[list(need)].to_dict("records")):
        for col in need:
            value = record[col]
            if not isinstance(value, str) or not value.strip():
                what = "empty" if value is None or isinstance(value, str) or value != value else f"not text ({value!r})"
                raise InputError(f"training data {where}, row {i + 1}: column {col!r} is {what}: "
                                 "remove the row or fill it in")
        rows.append({c: record[c] for c in need})
    if method == "dpo":
        same = next((i for i, r in enumerate(rows) if r["chosen"] == r["rejected"]), None)
        if same is not None:
            raise InputError(f"training data {where}, row {same + 1}: chosen and rejected are the same text: "
                             "a preference pair needs two different answers")
    return rows


def _read_local(path: Path) -> Any:
    import pandas as pd

    suffix = path.suffix.lower()
    if not path.is_file():
        raise InputError(f"training data {str(path)!r} does not exist: give a .jsonl, .csv or .parquet file "
                         "or a hub dataset id")
    if suffix not in _LOCAL_SUFFIXES:
        raise InputError(f"training data {str(path)!r}: unknown format {suffix or '(none)'}: use .jsonl, .json, "
                         ".csv or .parquet")
    try:
        if suffix == ".csv":
            return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[])
        if suffix == ".parquet":
            return pd.read_parquet(path)
        return pd.read_json(path, lines=suffix == ".jsonl", dtype=False)
    except (ValueError, OSError, ImportError) as e:
        raise InputError(f"training data {str(path)!r} cannot be read ({' '.join(str(e).split())[:200]}): "
                         "check the file format") from None


def _read_hub(name: str, split: str) -> Any:
    try:
        import datasets
    except ImportError:
        raise InputError("reading a hub dataset needs the datasets package: pip install 'socialbias[finetune]'") from None
    try:
        return datasets.load_dataset(name, split=split).to_pandas()
    except Exception as e:  # noqa: BLE001 - offline, unknown id, unknown split: all the user's to fix
        raise InputError(f"cannot load hub dataset {name!r} (split {split}): {' '.join(str(e).split())[:200]}; "
                         "check the id and split, or download it and give a local .jsonl file") from None


def data_hash(rows: Sequence[dict[str, str]]) -> str:
    """SHA-256 of the training rows (canonical JSON), independent of the file format."""
    h = hashlib.sha256()
    for row in rows:
        h.update(json.dumps(row, sort_keys=True, ensure_ascii=False).encode())
        h.update(b"\n")
    return h.hexdigest()


def has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def to_training_format(rows: Sequence[dict[str, str]], tokenizer: Any) -> list[dict[str, Any]]:
    """Rows in trl's format: conversational (prompt as a user turn, answers as assistant turns,
    so trl applies the base model's chat template) when the tokenizer has a chat template,
    plain text otherwise."""
    if not has_chat_template(tokenizer):
        return [dict(r) for r in rows]
    return [{k: ([{"role": "user", "content": v}] if k == "prompt" else [{"role": "assistant", "content": v}])
             for k, v in r.items()} for r in rows]


def prompt_token_counts(rows: Sequence[dict[str, str]], tokenizer: Any) -> list[int]:
    """Tokens of each prompt as the model sees it in training (chat template with the
    generation prompt when there is a template)."""
    if has_chat_template(tokenizer):
        texts = [tokenizer.apply_chat_template([{"role": "user", "content": r["prompt"]}], tokenize=False,
                                               add_generation_prompt=True) for r in rows]
        return [len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
    return [len(tokenizer(r["prompt"])["input_ids"]) for r in rows]


def check_lengths(rows: Sequence[dict[str, str]], tokenizer: Any, max_length: int, where: str) -> int:
    """Refuse a prompt that leaves no room for the answer within ``max_length`` tokens; returns
    the longest prompt's token count."""
    counts = prompt_token_counts(rows, tokenizer)
    worst = max(range(len(counts)), key=counts.__getitem__)
    if counts[worst] >= max_length:
        raise InputError(f"training data {where}, row {worst + 1}: the prompt has {counts[worst]} tokens with the "
                         f"chat template, no room for an answer within --max-length {max_length}: shorten the "
                         "prompt or raise --max-length (up to the model's context)")
    return counts[worst]


__all__ = ["COLUMNS", "check_lengths", "data_hash", "has_chat_template", "prompt_token_counts", "read_rows",
           "to_training_format"]
