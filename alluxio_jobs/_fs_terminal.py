"""The terminal side of an ``fs`` run: one-line errors, Ctrl-C and the progress bar.

Errors are printed as one line (the exit code is 1); Ctrl-C cancels the running command
rather than killing the process (a second one exits at once); a ``tqdm`` progress bar
goes to standard error when it is a terminal and ``tqdm`` is installed.
"""

from __future__ import annotations

import importlib
import os
import signal
import threading
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from alluxio_jobs.commands import CmdInfo

#: Exit code after Ctrl-C (128 + SIGINT).
INTERRUPTED = 130
#: How often a waiting command refreshes its progress and looks for Ctrl-C, in seconds.
POLL = 0.1


class _CommandError(Exception):
    """An error to print as one line (exit code 1)."""


def _message(exc: BaseException) -> str:
    from alluxio_jobs.errors import AlluxioJobsError

    if isinstance(exc, AlluxioJobsError | OSError | ValueError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class _Interrupts:
    """SIGINT while ``busy`` sets :attr:`event` (the running command is canceled);
    otherwise it raises KeyboardInterrupt; a second one while busy exits at once."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.busy = True
        self._old: Any = None

    def __enter__(self) -> _Interrupts:
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if not self.busy:
            raise KeyboardInterrupt
        if self.event.is_set():
            os.write(2, b"alluxio-jobs: interrupted again: exiting now\n")
            os._exit(INTERRUPTED)
        self.event.set()


class _Progress:
    """A tqdm bar on ``stream`` (a terminal), or nothing."""

    def __init__(self, stream: TextIO | None, desc: str) -> None:
        self._bar: Any = None
        if stream is None:
            return
        try:
            tqdm = importlib.import_module("tqdm").tqdm
        except ImportError:
            return
        bar = tqdm(total=None, desc=desc, unit="file", file=stream, disable=None,
                   leave=False, dynamic_ncols=True, mininterval=POLL)
        if not bar.disable:
            self._bar = bar

    def update(self, info: CmdInfo) -> None:
        bar = self._bar
        if bar is None:
            return
        if info.total and bar.total != info.total:
            bar.total = info.total
        done = len(info.completed) + len(info.failed) + len(info.skipped)
        if info.failed:
            bar.set_postfix(failed=len(info.failed), refresh=False)
        bar.update(done - bar.n)
        bar.refresh()  # called every POLL seconds: show each step

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
