"""Writing results so that nothing half-written is ever left behind.

Every output folder (a score directory, a report, a comparison) is built in a staging folder
inside its destination and moved into place only when complete: an error on the way leaves the
previous output untouched and no partial files.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .errors import InputError


def move_into_place(staging: Path, out: Path, names: Iterable[str] | None = None) -> None:
    """Replace ``out/<name>`` by ``staging/<name>`` for each name (default: everything staged).

    Files are renamed over their old version; an old folder is renamed away first, then removed.
    """
    for name in list(names) if names is not None else sorted(p.name for p in staging.iterdir()):
        src, dst = staging / name, out / name
        if src.is_dir():
            old = None
            if dst.exists():
                old = make_dir_temp(out, f".{name}-old-")
                os.replace(dst, old / name)
            os.replace(src, dst)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(src, dst)


def _umask() -> int:
    """The process umask (read without changing it where /proc tells it)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def make_dir_temp(parent: Path, prefix: str) -> Path:
    """``tempfile.mkdtemp`` with the umask's permissions (mkdtemp forces 0700: a staging folder
    renamed into place would keep them)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    os.chmod(path, 0o777 & ~_umask())
    return path


def respect_umask(path: Path) -> None:
    """Give a file made by ``tempfile`` (0600) the permissions the umask asks for: nothing we
    write holds a secret."""
    os.chmod(path, 0o666 & ~_umask())


def read_text_utf8(path: str | os.PathLike[str], what: str) -> str:
    """The text of a user's file in UTF-8 (with or without a BOM); any other encoding is one
    clear error that names it, instead of a UnicodeDecodeError."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if data[:2] in (b"\xff\xfe", b"\xfe\xff") or (len(data) > 1 and b"\x00" in data[:64]):
            found = "UTF-16"
        else:
            found = f"not UTF-8 (byte {data[exc.start]:#04x} at offset {exc.start}; Latin-1 or Windows-1252?)"
        raise InputError(f"{what} {str(path)!r} is {found}: save it as UTF-8 (e.g. iconv -t UTF-8)") from None


def safe_file_stem(*parts: object, limit: int = 120) -> str:
    """A file-name stem from ``parts`` (model, category, ...): safe characters only, ``__``
    between parts, and at most ``limit`` characters (a long name keeps its start and gets a
    digest of the whole, so two long names never collide)."""
    import hashlib
    import re

    stem = "__".join(re.sub(r"[^A-Za-z0-9._-]+", "-", str(p)).strip("-") or "default" for p in parts)
    if len(stem) <= limit:
        return stem
    digest = hashlib.blake2b(stem.encode("utf-8"), digest_size=4).hexdigest()
    return f"{stem[:limit - 9]}-{digest}"


def write_table_atomic(table: Any, path: Path) -> None:
    """Write a DataFrame to ``path`` (.parquet, .csv or .jsonl, by its suffix) through a temporary file
    and a rename: ``path`` is the old file or the complete new one, never half written."""
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".csv", ".jsonl"):
        raise InputError(f"cannot write {str(path)!r}: use a .parquet, .csv or .jsonl file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False) as fh:
        tmp = Path(fh.name)
    try:
        respect_umask(tmp)
        if suffix == ".parquet":
            table.to_parquet(tmp, index=False)
        elif suffix == ".csv":
            table.to_csv(tmp, index=False)
        else:
            table.to_json(tmp, orient="records", lines=True, force_ascii=False)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as indented, key-sorted JSON to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False, encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=True, default=str)
        fh.write("\n")
        tmp = Path(fh.name)
    respect_umask(tmp)
    os.replace(tmp, path)


__all__ = ["read_text_utf8", "safe_file_stem", "make_dir_temp", "move_into_place", "respect_umask", "write_json_atomic",
           "write_table_atomic"]
