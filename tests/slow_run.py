"""Test helper: ``python -m tests.slow_run ARGS`` is ``python -m socialbias.eval ARGS`` with the
backend's answers slowed down, so that tests can kill or race a run while it answers.

Environment (all optional):

``SLOW_RUN_DELAY``  seconds to sleep before yielding each answer
``SLOW_RUN_MARK``   a file created when the backend starts answering (the run-dir lock is held then),
                    or, with ``SLOW_RUN_MARK_AT=N``, once N answers were handed to the runner (or when the
                    backend has no more answers, if it has fewer)
``SLOW_RUN_HOLD``   a file to wait for before the first answer (the test creates it to let the run go on)
``SLOW_RUN_SAVE_MARK``, ``SLOW_RUN_SAVE_HOLD``  the same around the writing of results/ and the report

Only the timing changes: the backend, its key and its answers are those of the real command.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path


def _wait_for(path: str | None) -> None:
    deadline = time.monotonic() + 120
    while path and not Path(path).exists() and time.monotonic() < deadline:
        time.sleep(0.02)


def main(argv: list[str]) -> int:
    from socialbias import pipeline
    from socialbias.eval import main as cli

    delay = float(os.environ.get("SLOW_RUN_DELAY", "0") or 0)
    mark = os.environ.get("SLOW_RUN_MARK")
    mark_at = int(os.environ.get("SLOW_RUN_MARK_AT", "0") or 0)
    hold = os.environ.get("SLOW_RUN_HOLD")
    real_make_backend = pipeline.make_backend

    def make_backend(*args, **kwargs):
        backend = real_make_backend(*args, **kwargs)
        inner = backend.answer

        def answer(prompts, mode):
            if mark and not mark_at:
                Path(mark).touch()
            _wait_for(hold)
            given = 0
            for item in inner(prompts, mode):
                if delay:
                    time.sleep(delay)
                if mark and mark_at and given == mark_at:
                    Path(mark).touch()
                given += 1
                yield item
            if mark:
                Path(mark).touch()

        backend.answer = answer
        return backend

    pipeline.make_backend = make_backend

    save_mark, save_hold = os.environ.get("SLOW_RUN_SAVE_MARK"), os.environ.get("SLOW_RUN_SAVE_HOLD")
    real_save = pipeline.Results.save

    def save(self, *args, **kwargs):
        if save_mark:
            Path(save_mark).touch()
        _wait_for(save_hold)
        return real_save(self, *args, **kwargs)

    pipeline.Results.save = save
    return cli(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
