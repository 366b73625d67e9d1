"""Advisory locks on an output directory: exclusive for a writer, shared for readers.

A run, a score, a report or a comparison *writing* a directory takes an exclusive lock on
``DIR/.lock``; a command that only *reads* a run (``compare`` reading its inputs) takes a shared
one. Two writers, or a writer and a reader, never work on the same directory at once: the second
stops at once with a message naming the holder's pid.

The lock file is opened with ``O_NOFOLLOW`` and must be a plain file with one link: a ``.lock``
that is a symlink (or a hard link to another file) is refused, never followed, so no file
outside the directory can be truncated through it. The kernel drops an ``flock`` when its holder
exits, however it exits, so a stale lock is impossible (on local file systems; flock over NFS
may not lock at all).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import threading
from pathlib import Path
from typing import Any

from .errors import StoreError

LOCK_NAME = ".lock"
#: Locks this process holds: lock path -> [fd, shared, count]. A command that already holds a
#: directory's lock (a run writing its report) takes it again without blocking itself.
_HELD: dict[str, list[Any]] = {}
_HELD_LOCK = threading.Lock()


class RunDirLock:
    """An advisory lock on a directory (``fcntl.flock`` on ``DIR/.lock``).

    ``shared=False`` (default): exclusive, for a command that writes the directory; the holder's
    pid is written into the lock file for the error message of the next one. ``shared=True``:
    for a command that only reads it; any number of readers, no writer. ``reentrant=True``: a
    process that holds the lock already (a run writing its report) takes it again; otherwise a
    second lock in the same process is refused like one in another process.
    """

    def __init__(self, run_dir: str | os.PathLike[str], *, shared: bool = False, reentrant: bool = False) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self.shared = shared
        self.reentrant = reentrant
        self._fd: int | None = None
        self._key = ""

    def _open(self) -> int:
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        if self.shared and not os.access(self.run_dir, os.W_OK):
            flags = (flags & ~(os.O_RDWR | os.O_CREAT)) | os.O_RDONLY  # a reader of a read-only run
        try:
            fd = os.open(self.path, flags, 0o666)
        except OSError as e:
            if e.errno == errno.ELOOP or self.path.is_symlink():
                raise StoreError(f"{self.path} is a symbolic link, not a lock file: remove it (socialbias never "
                                 "follows a link there) and run again") from None
            if e.errno == errno.ENOENT and self.shared:
                return -1  # read-only directory without a lock file: nothing can write it either
            raise StoreError(f"cannot create the lock file {self.path} ({e.strerror}): choose a writable "
                             "directory") from None
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
            os.close(fd)
            raise StoreError(f"{self.path} is not a plain lock file (a {'hard link' if stat.S_ISREG(info.st_mode) else 'special file'}): "
                             "remove it and run again")
        return fd

    def acquire(self) -> RunDirLock:
        """Take the lock now or raise :class:`StoreError` naming the process that holds it."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            raise StoreError("run-directory locking needs fcntl (POSIX); open the store with lock=False") from None
        if self._fd is not None:
            return self
        key = os.path.abspath(self.path)
        with _HELD_LOCK:
            held = _HELD.get(key)
            if held is not None and self.reentrant and (self.shared or not held[1]):
                held[2] += 1
                self._fd, self._key = held[0], key
                return self
        if held is not None:
            raise StoreError(
                f"this socialbias process (pid {os.getpid()}) is already {'reading' if held[1] else 'writing to'} "
                f"{self.run_dir}: write the output to another directory")
        if not self.shared:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        fd = self._open()
        if fd < 0:
            self._fd = fd
            return self
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            doing = "writing to" if holder else "reading"
            raise StoreError(
                f"another socialbias process (pid {holder or 'unknown'}) is {doing} {self.run_dir}: wait for it to "
                f"finish, stop it, or choose another --out directory"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        if not self.shared:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self._fd, self._key = fd, key
        with _HELD_LOCK:
            _HELD[key] = [fd, self.shared, 1]
        return self

    def release(self) -> None:
        """Drop the lock (closing the file releases the flock)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            if fd < 0:
                return
            with _HELD_LOCK:
                held = _HELD.get(self._key)
                if held is not None and held[0] == fd:
                    held[2] -= 1
                    if held[2] > 0:
                        return
                    del _HELD[self._key]
            if not self.shared:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)
            os.close(fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> RunDirLock:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


def _read_pid(fd: int) -> str:
    with contextlib.suppress(OSError, UnicodeDecodeError):
        return os.pread(fd, 32, 0).decode("ascii").strip()
    return ""


__all__ = ["LOCK_NAME", "RunDirLock"]
