"""The response store's file format: the SQLite tables, the header checks and the creation of a
new store file (docs/design.md, "store").

:mod:`socialbias.store` opens and uses stores; this module only knows what a store file looks
like on disk, so that the format is read in one place: the schema version and application id,
the ``responses`` and ``meta`` tables, the header check that refuses a foreign, empty or
truncated file before SQLite touches it, and the race-free creation of a new file.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from pathlib import Path

from socialbias import __version__
from socialbias.errors import StoreError
from socialbias.files import _umask
from socialbias.store_rows import _TABLE_COLUMNS, _now

#: Version of the on-disk layout, kept in ``PRAGMA user_version``. Bump it (and add a migration)
#: whenever the tables change; a store written by a newer version is refused, not misread.
SCHEMA_VERSION = 2  # 2: per-row checksum (socialbias.integrity); 1 is migrated on open

#: ``PRAGMA application_id`` of every socialbias store ("SBia"): tells our files from other
#: SQLite databases before we touch them.
APPLICATION_ID = 0x53426961

#: File name of the store inside a run directory.
STORE_FILENAME = "responses.sqlite"

_SQLITE_MAGIC = b"SQLite format 3\x00"
_FIX = "move it away or choose another --out directory"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    model_key  TEXT    NOT NULL,
    prompt_id  TEXT    NOT NULL,
    choice     INTEGER NOT NULL CHECK (choice IN (-1, 0, 1, 2)),
    p0         REAL,
    p1         REAL,
    p2         REAL,
    text       TEXT    NOT NULL DEFAULT '',
    parse      TEXT    NOT NULL DEFAULT '',
    latency    REAL,
    created_at TEXT    NOT NULL,
    checksum   TEXT,
    PRIMARY KEY (model_key, prompt_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""
# ON CONFLICT DO NOTHING (not INSERT OR IGNORE): only an already stored key is skipped; a NOT NULL
# or CHECK violation still fails loudly instead of silently dropping a paid-for answer.
_INSERT = (
    f"INSERT INTO responses ({', '.join(_TABLE_COLUMNS)}) VALUES ({', '.join('?' * len(_TABLE_COLUMNS))})"
    " ON CONFLICT (model_key, prompt_id) DO NOTHING"
)

#: The columns a row check reads (socialbias.integrity.row_is_bad), text read as bytes so that a
#: damaged UTF-8 sequence is a bad row, not an exception.
_CHECK_SELECT = ("SELECT CAST(model_key AS BLOB), CAST(prompt_id AS BLOB), choice, p0, p1, p2, CAST(text AS BLOB), "
                 "CAST(parse AS BLOB), latency, checksum FROM responses")




def _check_header(path: Path) -> None:
    """Refuse, before SQLite opens it, a file that does not start with the SQLite header, a
    0-byte file (stores are created complete, so it is a truncated store) and a file shorter
    than the database size its header states (truncated)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(100)
            size = os.fstat(fh.fileno()).st_size
    except FileNotFoundError:
        return
    except OSError as e:
        raise StoreError(f"cannot read the response store {path}: {e}") from e
    if not head:
        raise StoreError(f"{path} is empty (0 bytes): the store was truncated or never written; restore it from a "
                         f"backup, or {_FIX}")
    if len(head) < 100 or not head.startswith(_SQLITE_MAGIC):
        raise StoreError(f"{path} is not a socialbias response store (file is not a database): {_FIX}")
    page_size = int.from_bytes(head[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(head[28:32], "big")
    if head[92:96] == head[24:28] and pages and size < pages * page_size:
        raise StoreError(f"{path} is a damaged SQLite database: truncated ({size:,} of {pages * page_size:,} bytes); "
                         f"restore it from a backup, or {_FIX}")


def _create_file(path: Path) -> None:
    """Build an empty store beside ``path`` and link it into place (never over an existing file:
    a process that loses the race just uses the winner's)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.new-", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())
    try:
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            _write_schema(conn)
        finally:
            conn.close()
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    except sqlite3.Error as e:
        raise StoreError(f"cannot create the response store {path}: {e}") from e
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _write_schema(conn: sqlite3.Connection) -> None:
    """Create the tables and the meta rows of a new store on ``conn`` (statement by statement:
    executescript() would COMMIT an open transaction first)."""
    for stmt in filter(None, (s.strip() for s in _SCHEMA.split(";"))):
        conn.execute(stmt)
    conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", [
        ("created_by", f"socialbias {__version__}"),
        ("schema_version", str(SCHEMA_VERSION)),
        ("created_at", _now()),
    ])
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
