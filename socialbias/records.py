"""The record of an output directory: one typed reader and one writer for every command and instrument.

Every directory ``run``, ``score`` and ``compare`` write holds one record (docs/design.md,
"On-disk layout"): ``run.json``, ``score.json`` or ``compare.json``. Each carries
``run_format`` = ``"MAJOR.MINOR"`` (:data:`RUN_FORMAT`): a reader accepts every minor version of
its own major (a newer minor only adds fields) and refuses a newer major with the fix (upgrade
socialbias). Records written before a kind carried ``run_format`` (score and political records
before 1.2) are read as they are. ``instrument`` names the instrument (absent: BBQ persona QA,
whose records have never named it).

:func:`write_record` stamps the format, scrubs secrets (:mod:`socialbias.redact`) and writes
atomically (:func:`socialbias.files.write_json_atomic`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InputError
from .files import write_json_atomic
from .redact import redact as scrub

#: Format of every record ("MAJOR.MINOR"). 1 (an int) was the first; 1.1 adds personas.parquet
#: (BBQ runs); 1.2 stamps it on every record (score.json, the political records, compare.json).
RUN_FORMAT = "1.2"
#: The record file of each command.
RECORD_FILES = {"run": "run.json", "score": "score.json", "compare": "compare.json"}
#: The instrument a record without an ``instrument`` entry belongs to.
DEFAULT_INSTRUMENT = "bbq"


def format_major(fmt: Any) -> int | None:
    """The major version of a ``run_format`` value (``1``, ``"1.1"``), None if it is none."""
    if isinstance(fmt, bool):
        return None
    if isinstance(fmt, int):
        return fmt
    if isinstance(fmt, str):
        head = fmt.split(".", 1)[0]
        if head.isdigit():
            return int(head)
    return None


def refuse_newer(record: Any, where: Path) -> None:
    """One clear error when ``record`` was written in a newer major format than this version reads."""
    fmt = record.get("run_format") if isinstance(record, dict) else None
    major, ours = format_major(fmt), format_major(RUN_FORMAT)
    if major is not None and ours is not None and major > ours:
        written_by = record.get("versions", {}).get("socialbias", "?") if isinstance(record.get("versions"), dict) \
            else "?"
        raise InputError(f"{where} was written by a newer socialbias ({written_by}, run format {fmt}; this version "
                         f"reads {ours}.x): upgrade socialbias (pip install -U socialbias) to read it")


@dataclass(frozen=True)
class RunRecord:
    """The record of one output directory, read back (:func:`read_record`)."""

    #: ``run``, ``score`` or ``compare``
    kind: str
    #: the record file
    path: Path
    #: its JSON object
    data: dict[str, Any]

    @property
    def directory(self) -> Path:
        return self.path.parent

    @property
    def instrument(self) -> str:
        """The instrument's id (``bbq`` for BBQ persona QA, ``8values``, ...)."""
        return str(self.data.get("instrument") or DEFAULT_INSTRUMENT)

    @property
    def format(self) -> Any:
        """``run_format`` as written (None for records of the versions before it was stamped)."""
        return self.data.get("run_format")

    @property
    def tables(self) -> Path:
        """Where the directory's tables (``summary.csv``, ...) are: ``results/`` in a BBQ run, else the top."""
        nested = self.directory / "results"
        if self.kind == "run" and self.instrument == DEFAULT_INSTRUMENT and nested.is_dir():
            return nested
        return self.directory


def read_record(directory: str | Path) -> RunRecord | None:
    """The record of ``directory`` (the first of run.json, score.json, compare.json there), or None.

    An unreadable record or one in a newer major format is one :class:`InputError` naming the file."""
    directory = Path(directory)
    for kind, name in RECORD_FILES.items():
        path = directory / name
        if not path.is_file():
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"{path} is not a readable record ({exc}): it was damaged; rerun the command "
                             "that wrote it") from None
        if not isinstance(data, dict):
            raise InputError(f"{path} is not a socialbias record (not a JSON object): rerun the command that wrote it")
        refuse_newer(data, path)
        return RunRecord(kind, path, data)
    return None


def write_record(directory: str | Path, kind: str, data: dict[str, Any]) -> Path:
    """Write ``data`` as the ``kind`` record of ``directory``: format stamped, secrets scrubbed, atomically."""
    path = Path(directory) / RECORD_FILES[kind]
    write_json_atomic(path, scrub({**data, "run_format": RUN_FORMAT}))
    return path


__all__ = ["DEFAULT_INSTRUMENT", "RECORD_FILES", "RUN_FORMAT", "RunRecord", "format_major", "read_record",
           "refuse_newer", "write_record"]
