"""Running a command (``socialbias``, ``python -m socialbias.finetune``, ``python -m
socialbias.edit``) with one error contract.

A user error is one line on stderr and exit 2, a failure worth retrying exit 1, Ctrl-C 130,
SIGTERM 143 (every cleanup runs first); a bug shows its traceback
(:func:`socialbias.errors.exit_code` decides).
"""

from __future__ import annotations

import contextlib
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


__all__ = ["run_command", "sigterm_raises"]
