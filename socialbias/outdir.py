"""Output directories: a command deletes or replaces only what it can prove it wrote itself.

Every directory that ``run``, ``score``, ``compare`` or ``report`` writes carries a marker file,
``.socialbias-output``: one JSON object with the format tag ``socialbias-output/1`` and the
command that wrote it. Before a command writes anything it checks its ``--out`` with
:func:`check_output_dir`, which refuses, with one line naming the path and the fix (exit 2):

* an empty path (``--out ""``), the file-system root, the current directory (``.``) and the
  home directory: never a place for generated output;
* a path that is a file (or lies below a file);
* an existing directory that is not empty and is not ours;
* a place that cannot be written (a read-only file system or directory).

**Ours** means: the marker is there (with our format tag), or, for directories written by the
versions before the marker existed, the directory holds one of

* ``run.json`` whose JSON object has a ``run_format`` entry (``run``),
* ``score.json`` whose JSON object has ``"command": "score"`` (``score``),
* ``compare.html`` that starts with the page head ``compare`` has always written (``compare``),
* ``responses.sqlite`` with the store's SQLite application id (a run stopped before its run.json).

Such a directory gets the marker the next time a command writes to it. An empty directory is
claimed; a new one is created. Only after the directory's exclusive lock is held does a command
remove staging folders (``.report-*``, ``.scoring-*``, ``.compare-*``, ``.results-*``,
``.staging-*``) left by a process that crashed (:func:`remove_stale_staging`).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import InputError
from .files import make_dir_temp, move_into_place
from .locks import RunDirLock

MARKER = ".socialbias-output"
FORMAT = "socialbias-output/1"
#: Staging-folder prefixes of the package's writers (outdir.staged, report, Results.save).
STAGING_PREFIXES = (".report-", ".scoring-", ".compare-", ".results-", ".staging-", ".figures-old-",
                    ".graphs-old-")
_LEGACY_COMPARE_HEAD = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>socialbias comparison</title>"


def _read_json(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.loads(fh.read(10_000_000))
    except (OSError, ValueError, RecursionError):
        return None


def owner(directory: Path) -> str | None:
    """The command that wrote ``directory`` (from its marker or the legacy rule), else None."""
    marker = directory / MARKER
    if marker.is_file() and not marker.is_symlink():
        data = _read_json(marker)
        if isinstance(data, dict) and data.get("format") == FORMAT:
            return str(data.get("command") or "unknown")
        return None
    run = _read_json(directory / "run.json") if (directory / "run.json").is_file() else None
    if isinstance(run, dict) and "run_format" in run:
        return "run"
    score = _read_json(directory / "score.json") if (directory / "score.json").is_file() else None
    if isinstance(score, dict) and score.get("command") == "score":
        return "score"
    store = directory / "responses.sqlite"  # a run killed before its run.json was written
    if store.is_file() and not store.is_symlink():
        with open(store, "rb") as fh:
            head = fh.read(100)
        if head.startswith(b"SQLite format 3\x00") and head[68:72] == (0x53426961).to_bytes(4, "big"):
            return "run"
    page = directory / "compare.html"
    if page.is_file():
        with open(page, encoding="utf-8", errors="replace") as fh:
            if fh.read(len(_LEGACY_COMPARE_HEAD)) == _LEGACY_COMPARE_HEAD:
                return "compare"
    return None


def _forbidden(path: Path) -> str | None:
    """Why ``path`` can never be an output directory, or None."""
    resolved = path.resolve()
    if resolved == Path(resolved.anchor):
        return "is the file-system root"
    if resolved == Path.home().resolve():
        return "is the home directory"
    if resolved == Path.cwd().resolve():
        return "is the current directory"
    return None


def _writable(path: Path) -> str | None:
    """None if a new file can be created in ``path`` or its nearest existing parent, else why not."""
    probe_dir = path
    while not probe_dir.exists():
        if probe_dir.parent == probe_dir:
            break
        probe_dir = probe_dir.parent
    if not probe_dir.is_dir():
        return f"lies below {probe_dir}, which is a file"
    try:
        fd, name = tempfile.mkstemp(prefix=".socialbias-probe-", dir=probe_dir)
    except OSError as e:
        return f"cannot be written ({probe_dir}: {e.strerror or type(e).__name__})"
    os.close(fd)
    os.unlink(name)
    return None


def check_output_dir(out: str | os.PathLike[str] | None, *, flag: str = "--out") -> Path:
    """Refuse an output directory socialbias must not write into (see the module docstring).

    Writes nothing (a probe file is created and removed at once to test that the place is
    writable). Returns the path. Raises :class:`InputError` naming the path and the fix.
    """
    if out is None or not str(out).strip():
        raise InputError(f"{flag} is empty: name a new directory for the output, e.g. {flag} runs/study")
    path = Path(os.path.expanduser(str(out)))
    why = _forbidden(path)
    if why:
        raise InputError(f"{flag} {str(out)!r} {why}: name a new directory for the output, e.g. {flag} runs/study")
    if path.exists() and not path.is_dir():
        raise InputError(f"{flag} {str(out)!r} is a file, not a directory: choose a new directory name")
    if path.is_dir() and owner(path) is None:
        try:
            empty = next(path.iterdir(), None) is None
        except OSError as e:
            raise InputError(f"{flag} {str(out)!r} cannot be read ({e.strerror}): choose another directory") from None
        if not empty:
            raise InputError(
                f"{flag} {str(out)!r} is a directory that socialbias did not write (it is not empty and has no "
                f"{MARKER} marker): choose a new or empty directory, nothing there was touched")
    problem = _writable(path)
    if problem:
        raise InputError(f"{flag} {str(out)!r} {problem}: choose a writable directory")
    return path


def claim_output_dir(out: str | os.PathLike[str], command: str, *, flag: str = "--out") -> Path:
    """Check ``out`` (:func:`check_output_dir`), create it, and write the marker if it has none."""
    path = check_output_dir(out, flag=flag)
    try:
        path.mkdir(parents=True, exist_ok=True)
        marker = path / MARKER
        if not (marker.is_file() and owner(path) is not None and not marker.is_symlink()):
            from .files import write_json_atomic

            write_json_atomic(marker, {"format": FORMAT, "command": command})
    except OSError as e:
        raise InputError(f"{flag} {str(out)!r} cannot be written ({e.strerror}): choose a writable directory") from None
    return path


def open_output(out: str | os.PathLike[str], command: str, *, flag: str = "--out") -> RunDirLock:
    """Claim ``out`` for ``command`` (:func:`claim_output_dir`), take its exclusive lock, then
    remove what a crashed command left there. Returns the held lock (release it when done);
    a process that already holds the lock just gets it again."""
    path = claim_output_dir(out, command, flag=flag)
    lock = RunDirLock(path, reentrant=True).acquire()
    try:
        remove_stale_staging(path)
    except BaseException:
        lock.release()
        raise
    return lock


@contextmanager
def writing(out: str | os.PathLike[str], command: str, *, flag: str = "--out") -> Iterator[Path]:
    """``with writing(out, "score") as path:``: :func:`open_output` for the block."""
    lock = open_output(out, command, flag=flag)
    try:
        yield lock.run_dir
    finally:
        lock.release()


@contextmanager
def reading(directory: str | os.PathLike[str]) -> Iterator[Path]:
    """A shared lock on a directory for the block: no writer can change it while it is read.

    A directory that is not ours is read without a lock (no lock file is created there)."""
    if owner(Path(directory)) is None:
        yield Path(directory)
        return
    with RunDirLock(directory, shared=True, reentrant=True) as lock:
        yield lock.run_dir


def remove_stale_staging(directory: Path) -> list[str]:
    """Remove the staging folders a crashed command left in ``directory`` (ours only).

    Call only while holding the directory's exclusive lock: then no other process can be
    writing into one of them. Returns the names removed.
    """
    if owner(directory) is None:
        return []
    removed = []
    for entry in directory.iterdir():
        if entry.name.startswith(STAGING_PREFIXES) and entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry.name)
    return sorted(removed)


__all__ = ["FORMAT", "MARKER", "STAGING_PREFIXES", "check_output_dir", "claim_output_dir", "open_output",
           "owner", "reading", "remove_stale_staging", "writing"]


@contextmanager
def staged(out: str | os.PathLike[str], prefix: str = "staging", command: str | None = None) -> Iterator[Path]:
    """A staging folder inside ``out``; its contents move into ``out`` when the block succeeds.

    ``out`` must be new, empty or ours (:mod:`socialbias.outdir`); it is created and marked as
    written by ``command`` (default: ``prefix``), and its exclusive lock is held for the block.
    On an exception (Ctrl-C and SIGTERM included) nothing moves; the staging folder is always removed.
    """
    with writing(out, command or prefix) as target:
        staging = make_dir_temp(target, f".{prefix}-")
        try:
            yield staging
            move_into_place(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
