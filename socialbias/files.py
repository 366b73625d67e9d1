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
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def move_into_place(staging: Path, out: Path, names: Iterable[str] | None = None) -> None:
    """Replace ``out/<name>`` by ``staging/<name>`` for each name (default: everything staged).

    Files are renamed over their old version; an old folder is renamed away first, then removed.
    """
    for name in list(names) if names is not None else sorted(p.name for p in staging.iterdir()):
        src, dst = staging / name, out / name
        if src.is_dir():
            old = None
            if dst.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{name}-old-", dir=out))
                os.replace(dst, old / name)
            os.replace(src, dst)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(src, dst)


@contextmanager
def staged(out: str | os.PathLike[str], prefix: str = "staging") -> Iterator[Path]:
    """A staging folder inside ``out``; its contents move into ``out`` when the block succeeds.

    ``out`` is created if needed. On an exception nothing moves; the staging folder is always removed.
    """
    target = Path(out)
    target.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{prefix}-", dir=target))
    try:
        yield staging
        move_into_place(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as indented, key-sorted JSON to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False, encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=True, default=str)
        fh.write("\n")
        tmp = Path(fh.name)
    os.replace(tmp, path)


__all__ = ["move_into_place", "staged", "write_json_atomic"]
