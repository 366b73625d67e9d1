"""Pieces every adapter shares: reading (gzip-aware), record errors, the final items table.

An adapter turns its source's records into *rows* (dicts holding the items-table columns except
``dataset``, ``language`` and, optionally, ``item_id``) and hands them to :func:`finish_items`,
which fixes the column order and dtypes, builds item ids, applies ``include_excluded`` and
attaches the load report. Invalid records raise :class:`RecordError` (field + message) inside
the adapter; :func:`collect_rows` turns that into one ``DatasetError`` naming file, line and
field, or (``on_error="skip"``) into an entry of the load report.
"""

from __future__ import annotations

import gzip
import re
import io
import json
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator

import pandas as pd

from .errors import DatasetError
from .schema import ITEM_COLUMNS, LoadReport

ON_ERROR = ("raise", "skip")


class RecordError(Exception):
    """One record is unusable; ``field`` names the offending field for the error message."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


class BadLine:
    """Stands in for a line that could not be parsed at all (bad JSON, truncation)."""

    def __init__(self, message: str):
        self.message = message


def check_on_error(on_error: str) -> None:
    if on_error not in ON_ERROR:
        raise DatasetError(f"on_error must be 'raise' or 'skip', got {on_error!r}")


def find_file(directory: Path, name: str) -> Path | None:
    """``directory/name`` or its gzipped copy ``name.gz`` (large files are often stored gzipped)."""
    for candidate in (directory / name, directory / (name + ".gz")):
        if candidate.is_file():
            return candidate
    return None


def open_text(path: Path, encoding: str = "utf-8") -> IO[str]:
    """Open a text file, transparently gunzipping ``*.gz``."""
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding=encoding, newline="")
    return open(path, encoding=encoding, newline="")


def jsonl_records(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed object) for each non-blank line of a (gzipped) jsonl file."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            for lineno, raw in enumerate(fh, start=1):
                if not raw.strip():
                    continue
                try:
                    yield lineno, json.loads(raw)
                except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                    yield lineno, BadLine(
                        f"not valid JSON ({exc}); the file may be truncated or corrupt: re-download it"
                    )
    except (OSError, EOFError) as exc:  # a truncated .gz
        yield -1, BadLine(f"cannot read the file ({exc}); it may be truncated or corrupt: re-download it")


def collect_rows(
    sources: Iterable[tuple[str, Iterable[tuple[int, Any]]]],
    parse: Callable[[Any], dict[str, Any] | list[dict[str, Any]]],
    report: LoadReport,
    *,
    on_error: str,
    unique: Callable[[dict[str, Any]], tuple[Any, str]] | None = None,
) -> list[dict[str, Any]]:
    """Parse ``(where, (line, record) pairs)`` sources into rows, handling errors uniformly.

    ``parse`` returns one row (or several, for adapters that expand a record) or raises
    :class:`RecordError`. ``unique(row)`` gives ``(key, description)``: a key that must not
    repeat within one source (e.g. ``(category, example_id)``) and how to name it in the error.
    """
    rows: list[dict[str, Any]] = []
    for where, records in sources:
        report.sources.append(where)
        seen: dict[Any, int] = {}
        for lineno, rec in records:
            report.n_records += 1
            try:
                if isinstance(rec, BadLine):
                    raise RecordError("<line>", rec.message)
                parsed = parse(rec)
                parsed = parsed if isinstance(parsed, list) else [parsed]
                if unique is not None:
                    for row in parsed:
                        key, description = unique(row)
                        if key in seen:
                            raise RecordError("example_id", f"duplicate {description} (first on line {seen[key]})")
            except RecordError as err:
                if on_error == "raise":
                    raise DatasetError(f"{where}:{lineno}: field {err.field}: {err}") from None
                report.skipped.append({"source": where, "line": lineno, "field": err.field, "error": str(err)})
                continue
            if unique is not None:
                for row in parsed:
                    seen[unique(row)[0]] = lineno
            rows.extend(parsed)
    return rows


def flag(row: dict[str, Any], reason: str, report: LoadReport, *, exclude: bool) -> None:
    """Mark a row as a known defect: excluded from metrics (``exclude``) or only noted."""
    row.setdefault("excluded", False)
    row.setdefault("exclusion_reason", "")
    row.setdefault("data_note", "")
    if exclude:
        if not row["excluded"]:
            row["excluded"] = True
            row["exclusion_reason"] = reason
        report.excluded[reason] = report.excluded.get(reason, 0) + 1
    else:
        row["data_note"] = f"{row['data_note']}; {reason}" if row["data_note"] else reason
        report.notes[reason] = report.notes.get(reason, 0) + 1


def finish_items(
    rows: list[dict[str, Any]],
    *,
    dataset: str,
    language: str,
    report: LoadReport,
    include_excluded: bool = True,
    extra_columns: tuple[str, ...] = (),
) -> pd.DataFrame:
    """The items table of parsed rows: columns in :data:`ITEM_COLUMNS` order (then
    ``extra_columns``), dtypes fixed, ``item_id`` = ``dataset/category/example_id`` unless the
    rows bring their own, sorted by category then example id, load report attached."""
    for row in rows:
        row.setdefault("excluded", False)
        row.setdefault("exclusion_reason", "")
        row.setdefault("data_note", "")
        if row.get("stereotyped_idx", 0) == -1:
            report.ambiguous_stereotype += 1
    columns = [*ITEM_COLUMNS, *extra_columns]
    items = pd.DataFrame.from_records(rows, columns=columns) if rows else pd.DataFrame(columns=columns)
    items["dataset"] = dataset
    if rows and "language" in rows[0]:
        items["language"] = items["language"].fillna(language)
    else:
        items["language"] = language
    own_ids = items["item_id"].notna() if len(items) else pd.Series([], dtype=bool)
    default_ids = dataset + "/" + items["category"].astype(str) + "/" + items["example_id"].astype(str)
    items["item_id"] = items["item_id"].where(own_ids, default_ids)
    items = items.astype(
        {
            "example_id": "int64",
            "unknown_idx": "int8",
            "stereotyped_idx": "int8",
            "label": "int8",
            "excluded": "bool",
        }
    )
    if len(items) and items["item_id"].duplicated().any():
        dup = items.loc[items["item_id"].duplicated(), "item_id"].iloc[0]
        raise DatasetError(f"{dataset}: two items share the id {dup!r}: load each file once")
    if not include_excluded:
        items = items[~items["excluded"]]
    items = items.sort_values(["category", "example_id"], kind="stable").reset_index(drop=True)
    items.attrs["load_report"] = report.as_dict()
    return items


def resolve_dir(source: Any, *, dataset: str, must_contain: Callable[[Path], bool], hint: str,
                subdirs: tuple[str, ...] = ()) -> Path:
    """The data directory a user pointed at: ``source`` itself, or one of ``subdirs`` under it
    (so both a clone's root and its data folder work); one clear error otherwise."""
    base = Path(source)
    if not base.exists():
        raise DatasetError(f"{dataset}: {str(base)!r} does not exist: {hint}")
    for candidate in (base, *(base / s for s in subdirs)):
        if candidate.is_dir() and must_contain(candidate):
            return candidate
    raise DatasetError(f"{dataset}: no {dataset} data files in {str(base)!r}: {hint}")


_SHA = re.compile(r"[0-9a-f]{40}")


def pin_revision(repo: str, revision: str) -> str:
    """The commit a hub revision points at now, so that a run records (and can repeat) exactly
    the data it read.

    A 40-hex commit is returned unchanged. A branch or tag (``"main"``) is resolved with
    ``huggingface_hub`` (the dataset's current commit); if that is not possible (offline, no
    access) the revision is returned as given and the load itself reports the problem. The
    caller records the result in the load report's ``sources``: pass it back as
    ``revision=`` (``--dataset-option revision=SHA``) to read the same commit again.
    """
    if _SHA.fullmatch(revision or ""):
        return revision
    try:
        from huggingface_hub import HfApi

        sha = HfApi().dataset_info(repo, revision=revision).sha
    except Exception:  # noqa: BLE001 - offline or no access: the load reports it
        return revision
    return sha if isinstance(sha, str) and _SHA.fullmatch(sha) else revision


def hub_records(repo: str, revision: str, what: str, fix: str, **load_kwargs: Any) -> Iterator[tuple[int, Any]]:
    """(row number, record dict) of a Hugging Face hub dataset read with
    ``datasets.load_dataset(repo, revision=revision, **load_kwargs)``.

    Any failure (offline, no access, a moved file) is one ``DatasetError``: "could not load
    ``what`` from the Hugging Face hub (repo@revision): the cause. Offline? ``fix``".
    """
    try:
        import datasets
    except ImportError as exc:  # pragma: no cover - datasets is a core dependency
        raise DatasetError(f"the 'datasets' package is needed to read {what} from the hub: pip install datasets") from exc
    try:
        ds = datasets.load_dataset(repo, revision=revision, **load_kwargs)
    except Exception as exc:  # noqa: BLE001 - every failure here means the same thing to the user
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise DatasetError(
            f"could not load {what} from the Hugging Face hub ({repo}@{revision[:12]}): "
            f"{type(exc).__name__}: {first}. Offline? {fix}"
        ) from None
    for i, rec in enumerate(ds, start=1):
        yield i, rec if isinstance(rec, dict) else dict(rec)


def check_categories(dataset: str, categories: Iterable[str] | None, known: Iterable[str]) -> list[str] | None:
    """The requested categories (order kept, duplicates dropped), None for all; an empty list or
    a name outside ``known`` is one ``DatasetError`` listing the valid names."""
    if categories is None:
        return None
    wanted = list(dict.fromkeys([categories] if isinstance(categories, str) else categories))
    if not wanted:
        raise DatasetError(f"{dataset}: no categories given: name at least one category, e.g. Age")
    known = list(known)
    unknown = [c for c in wanted if c not in known]
    if unknown:
        raise DatasetError(f"{dataset}: unknown category {', '.join(map(repr, unknown))}: "
                           f"choose from {', '.join(known)}")
    return wanted
