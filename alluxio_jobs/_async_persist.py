"""Background persisting of ASYNC_THROUGH files.

An ASYNC_THROUGH write returns once its blocks are cached; the file reaches its UFS
later, through a Persist job that :class:`AsyncPersister` starts, retries with
back-off, and gives up on once the file is gone. One per
:class:`~alluxio_jobs.filesystem.FileSystem`, which owns and closes it; apart from the
client so that neither holds the other's details.
"""

import functools
import logging
import threading
import time
from typing import TYPE_CHECKING

from alluxio_jobs.errors import (
    AlluxioJobsError,
    ClosedError,
    JobNotFoundError,
    ResourceExhaustedError,
)
from alluxio_jobs.model import JobInfo, Status
from alluxio_jobs.storage_model import PersistenceState

if TYPE_CHECKING:
    from alluxio_jobs.filesystem import FileSystem

__all__ = ["AsyncPersister"]

# the client's logger, as when this code lived in alluxio_jobs.filesystem
logger = logging.getLogger("alluxio_jobs.filesystem")


class AsyncPersister:
    """Persists ASYNC_THROUGH files with Persist jobs (Alluxio's PersistenceScheduler
    and PersistenceChecker): failed jobs are retried with exponential back-off, a
    busy master is retried later, and files deleted meanwhile are dropped.

    One thread does the work; it sleeps until a file is scheduled, a Persist job it
    started finishes (the job's done callback wakes it), or a back-off ends. Nothing
    polls the master."""

    def __init__(self, fs: "FileSystem", initial: float, maximum: float) -> None:
        self._fs = fs
        self._initial = initial
        self._maximum = maximum
        self._cond = threading.Condition()
        self._queue: list[int] = []
        self._thread: threading.Thread | None = None
        self._stop = False
        #: file id -> its Persist attempts
        self._pending: dict[int, _Persisting] = {}

    def schedule(self, file_id: int) -> None:
        with self._cond:
            if self._stop:
                return
            self._queue.append(file_id)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="alluxio-async-persist",
                                                daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def pending(self) -> int:
        with self._cond:
            return len(self._queue) + len(self._pending)

    def wait_idle(self, timeout: float | None) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and not self._pending, timeout)

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _job_done(self, entry: "_Persisting", job_id: int, info: JobInfo) -> None:
        """A Persist job's done callback (in the master's thread that finished it)."""
        with self._cond:
            if entry.job_id == job_id:
                entry.outcome = info.status
                self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                for file_id in self._queue:
                    self._pending.setdefault(file_id, _Persisting())
                self._queue.clear()
                if self._stop:
                    return
                now = time.monotonic()
                due = [f for f, e in self._pending.items()
                       if e.outcome is not None or (e.job_id is None and e.next_at <= now)]
                if not due:
                    waits = [e.next_at for e in self._pending.values() if e.job_id is None]
                    self._cond.wait(max(0.0, min(waits) - now) if waits else None)
                    continue
            for file_id in due:
                try:
                    self._step(file_id)
                except Exception:
                    logger.exception("async persist of file %s failed", file_id)
            with self._cond:
                if not self._queue and not self._pending:
                    self._cond.notify_all()

    def _step(self, file_id: int) -> None:
        """Deal with one due file: judge its finished job, or start a Persist job."""
        from alluxio_jobs.plans.transfer import PersistConfig

        with self._cond:
            entry = self._pending[file_id]
            outcome, entry.outcome = entry.outcome, None
            if outcome is not None:
                entry.job_id = None
                if outcome is Status.COMPLETED:
                    del self._pending[file_id]
                    return
                entry.attempts += 1
                entry.next_at = time.monotonic() + min(
                    self._maximum, self._initial * 2 ** (entry.attempts - 1))
                return
        info = self._fs.namespace.file_by_id(file_id)
        if info is None or info.persistence_state is PersistenceState.PERSISTED:
            with self._cond:  # deleted meanwhile, or persisted by someone else
                del self._pending[file_id]
            return
        master = self._fs.master
        try:
            job_id = master.run(PersistConfig(file_path=info.path))
        except (ResourceExhaustedError, ClosedError):
            with self._cond:
                entry.next_at = time.monotonic() + self._initial
            return
        except AlluxioJobsError:  # e.g. the file went away: try again later
            logger.exception("could not start persisting %s", info.path)
            with self._cond:
                entry.attempts += 1
                entry.next_at = time.monotonic() + min(
                    self._maximum, self._initial * 2 ** (entry.attempts - 1))
            return
        with self._cond:
            entry.job_id = job_id
        try:
            master.add_done_callback(job_id, functools.partial(self._job_done, entry, job_id))
        except JobNotFoundError:  # finished and purged already: look at the file again
            with self._cond:
                entry.outcome = Status.FAILED
                self._cond.notify_all()


class _Persisting:
    """The Persist attempts of one ASYNC_THROUGH file."""

    __slots__ = ("attempts", "job_id", "next_at", "outcome")

    def __init__(self) -> None:
        self.job_id: int | None = None  # its running Persist job
        self.outcome: Status | None = None  # how that job ended, told by its callback
        self.attempts = 0  # failed attempts so far
        self.next_at = 0.0  # when to start the next attempt (time.monotonic)
