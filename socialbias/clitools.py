"""Running a command (``socialbias``, ``python -m socialbias.finetune``, ``python -m
socialbias.edit``) with one error contract.

A user error is one line on stderr and exit 2, a failure worth retrying exit 1, Ctrl-C 130,
SIGTERM 143 (every cleanup runs first); a bug shows its traceback
(:func:`socialbias.errors.exit_code` decides).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from typing import Any


@contextlib.contextmanager
def sigterm_raises():
    """SIGTERM raises :class:`~socialbias.errors.Terminated` in the main thread while a command
    runs, so that it ends like Ctrl-C: every cleanup runs (nothing half-written is left)."""
    import signal
    import threading

    from .errors import Terminated

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_command(func: Callable[[], Any], *, prog: str) -> int:
    """Call ``func``; its int result (None: 0) is the exit code; what it raises is mapped to an
    exit code and a one-line message."""
    from .errors import exit_code

    with sigterm_raises():
        try:
            result = func()
            return result if isinstance(result, int) and not isinstance(result, bool) else 0
        except BaseException as exc:
            code = exit_code(exc)
            if code is None:
                raise
            if code in (130, 143):
                print(f"{prog}: {'terminated' if code == 143 else 'interrupted'}", file=sys.stderr)
            else:
                print(f"{prog}: error: {' '.join(str(exc).split()) or type(exc).__name__}", file=sys.stderr)
            return code


#: glibc's mallopt parameters (malloc.h) and the values :func:`retain_freed_memory` sets: arrays
#: up to 32 MiB (the largest threshold glibc accepts) come from the heap, and up to 1 GiB of
#: freed heap stays mapped (grown 256 MiB at a time) instead of going back to the kernel.
MALLOPT = {"M_TRIM_THRESHOLD": (-1, 1 << 30), "M_TOP_PAD": (-2, 1 << 28), "M_MMAP_THRESHOLD": (-3, 1 << 25)}


def retain_freed_memory() -> bool:
    """Keep freed memory in the process for reuse (glibc only); True when it was set.

    Scoring allocates and frees arrays of a few MB thousands of times (bootstrap chunks, one
    block of strata at a time). By default glibc maps each array above its threshold afresh
    and hands freed heap back to the kernel, so every array costs a page fault per 4 KiB page
    on first touch (about 25 us on a virtual machine; 766k faults and 25 s of system time in a
    45 s ``score`` of docs/design.md's benchmark). Retaining it does not raise the peak: it is
    the memory the run already used. Only the command-line entry point calls this (a library
    must not change its host's allocator), and never when the user set any ``MALLOC_*``
    variable (glibc's own tunables win). Arrow then allocates from glibc too
    (:func:`_arrow_on_glibc`), and numpy stops advising huge pages
    (:func:`_numpy_without_huge_page_advice`).
    """
    if any(name.startswith("MALLOC_") for name in os.environ) or os.environ.get("GLIBC_TUNABLES"):
        return False
    import ctypes
    import ctypes.util
    import platform

    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        retained = all(libc.mallopt(param, value) == 1 for param, value in MALLOPT.values())
    except (OSError, AttributeError):
        return False
    if retained:
        _arrow_on_glibc()
        _numpy_without_huge_page_advice()
    return retained


def _arrow_on_glibc() -> None:
    """Arrow's buffers from glibc's heap too (:func:`retain_freed_memory`), unless the user
    chose Arrow's allocator (``ARROW_DEFAULT_MEMORY_POOL``).

    Arrow's default allocator here, mimalloc, spent 0.5-0.65 s of system time in ``score``'s
    reading of the benchmark's 1.6 M-line file, glibc's 0.11-0.16 s, and the reading took
    1.3 s instead of 1.5-1.75 s (bench/score_bench.py's file, 3 runs each, this 2-core VM)."""
    if "ARROW_DEFAULT_MEMORY_POOL" in os.environ:
        return
    try:
        import pyarrow
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        return
    pyarrow.set_memory_pool(pyarrow.system_memory_pool())


def _numpy_without_huge_page_advice() -> None:
    """numpy stops asking the kernel for transparent huge pages (:func:`retain_freed_memory`),
    unless the user chose (``NUMPY_MADVISE_HUGEPAGE``, read by numpy itself).

    numpy advises 2 MiB pages (``madvise(MADV_HUGEPAGE)``) for every array of 4 MiB or more.
    Each such page is zeroed and mapped at its first touch, and on this virtual machine that
    cost 0.3-4.5 ms a page (a fresh 64 MB array took 11 ms to fault in once, 143 ms another
    time; no compaction stall was counted in ``/proc/vmstat``), more than the small pages it
    replaces, which mostly reuse memory the retained heap already holds. ``score`` on
    bench/score_bench.py's file made 109 huge-page faults with the advice and 4 without; 0.96 s
    of system time instead of 1.19 and 7.95 s wall instead of 8.11 (medians of 8 interleaved
    runs each; faster in every pair, by 1-7%), the files byte-identical."""
    if "NUMPY_MADVISE_HUGEPAGE" in os.environ:
        return
    import numpy as np

    multiarray = getattr(getattr(np, "_core", None), "multiarray", None)
    setter = getattr(multiarray, "_set_madvise_hugepage", None)
    if setter is not None:  # numpy 2's private switch, the one the variable sets; absent: left as it is
        setter(False)


__all__ = ["MALLOPT", "retain_freed_memory", "run_command", "sigterm_raises"]
