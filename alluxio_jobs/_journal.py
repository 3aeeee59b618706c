"""Connects a master to its job store: restore on open, then group commits.

A writer thread wakes every ``store_flush_interval`` seconds, takes the ids of the
jobs that changed (under the master lock, only a set swap and snapshots), writes
them to the store in one transaction, and only then wakes the callers of
``wait`` whose jobs finished: a job ``wait`` reports finished is durable. It also
carries cancel requests from other processes (after the wake: no waiter waits for
that) and publishes worker health (at most every ``HEALTH_INTERVAL`` seconds: it
changes at every call, and a transaction per flush would keep an idle store busy).

The writer thread competes with the master's threads for the interpreter lock: each
time it lets go of it (for every SQL statement, for instance) it may wait a whole
switch interval (5 ms) to get it back, and what it does while holding it, the master
cannot do. So a flush runs few statements, and the rows it builds are plain tuples
(:data:`~alluxio_jobs.stores.base.JobRow`) that a store can keep as they are
(:meth:`~alluxio_jobs.stores.base.JobStore.write_rows`), built one at a time as the
store reads them (:class:`BatchRows`).

Other sources of records (the distributed commands of a file system, see
:meth:`JobMaster.add_store_source`) add their changes to the same batches.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from alluxio_jobs._tracker import JobTracker, row
from alluxio_jobs.errors import AlluxioJobsError, JobConfigError, StoreError
from alluxio_jobs.model import JobInfo, Status, TaskInfo
from alluxio_jobs.serde import from_dict, to_dict
from alluxio_jobs.stores.base import CommandRecord, JobRecord, JobRow, JobStore, StoreSource

logger = logging.getLogger(__name__)

SHUTDOWN_TYPE = "JobMasterShutdown"
SHUTDOWN_MESSAGE = "Job master shut down during execution"

#: Seconds between two writes of worker health (besides the first and the last flush).
HEALTH_INTERVAL = 1.0


class StoredDescription:
    """Stands in for the config of a job read back from a store."""

    __slots__ = ("_description",)

    def __init__(self, description: str) -> None:
        self._description = description

    def describe(self) -> str:
        return self._description


def restore(tracker: JobTracker, store: JobStore, on_restart: str,
            ) -> tuple[int, list[tuple[int, Any]]]:
    """Load the store into ``tracker``.

    Jobs that were unfinished when the previous master stopped are failed with
    ``Job master shut down during execution`` (``on_restart="fail"``), or, with
    ``"rerun"``, dropped with their children and returned as (job id, config) to run
    again under the same id. Returns (next job id, jobs to re-run).
    """
    stored = store.load()
    records = {r.job_id: r for r in stored.records}
    unfinished_roots = {_root(records, r.job_id) for r in stored.records
                        if not r.status.is_finished}
    rerun: list[tuple[int, Any]] = []
    dropped: list[int] = []
    if on_restart == "rerun":
        for root in sorted(unfinished_roots):
            try:
                config = from_dict(records[root].config)
            except (AlluxioJobsError, ValueError):
                logger.warning("job %s cannot be re-run: its config type is unknown; "
                               "failing it", root)
                continue
            rerun.append((root, config))
        rerun_ids = {job_id for job_id, _ in rerun}
        dropped = [r.job_id for r in stored.records
                   if _root(records, r.job_id) in rerun_ids]
    dropped_set = set(dropped)
    changed = []
    for record in stored.records:
        if record.job_id in dropped_set:
            continue
        info = from_dict(record.info)
        assert isinstance(info, JobInfo)
        if not info.status.is_finished:
            info = _shut_down(info)
            changed.append(record.job_id)
        tracker.restore(info, record.parent, StoredDescription(info.description))
    tracker.restored()
    if tracker.dirty is not None:
        tracker.dirty.update(changed)
    if tracker.purged is not None:
        tracker.purged.extend(dropped)
    highest = max(records, default=0)
    return max(stored.next_job_id, highest + 1), rerun


def _root(records: dict[int, JobRecord], job_id: int) -> int:
    parent = records[job_id].parent
    while parent is not None and parent in records:
        job_id, parent = parent, records[parent].parent
    return job_id


def _shut_down(info: JobInfo) -> JobInfo:
    tasks = [t if t.status.is_finished else _failed_task(t) for t in info.tasks]
    return JobInfo(job_id=info.job_id, name=info.name, description=info.description,
                   status=Status.FAILED, error_type=SHUTDOWN_TYPE,
                   error_message=SHUTDOWN_MESSAGE, result=info.result,
                   last_updated=info.last_updated, tasks=tasks)


def _failed_task(task: TaskInfo) -> TaskInfo:
    return TaskInfo(job_id=task.job_id, task_id=task.task_id, worker_host=task.worker_host,
                    start_time=task.start_time, end_time=task.end_time,
                    status=Status.FAILED, error_type=SHUTDOWN_TYPE,
                    error_message=SHUTDOWN_MESSAGE, result=task.result,
                    description=task.description)


def plain(value: Any) -> Any:
    """A task result as JSON-ready data."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    try:
        return to_dict(value)
    except Exception:  # noqa: BLE001 - a result that cannot be stored is shown as text
        return repr(value)


def config_data(config: Any) -> dict[str, Any]:
    """A new job's config as the store keeps it ({} when it cannot be made plain data:
    the job is still shown, it only cannot be re-run)."""
    if isinstance(config, StoredDescription):
        return {}
    try:
        data: dict[str, Any] = to_dict(config)
    except (TypeError, ValueError, JobConfigError):
        return {}
    return data


class BatchRows:
    """The rows of one batch, built as the store reads them. Each row is dropped once
    the store has encoded it: built all at once, a batch of rows would make the garbage
    collector trace the whole heap (every tracked job) several times per batch."""

    __slots__ = ("_created", "_jobs")

    def __init__(self, jobs: list[Any], created: set[int]) -> None:
        self._jobs = jobs  # from JobTracker.refs
        self._created = created  # ids the store has not seen: their config is written

    def __len__(self) -> int:
        return len(self._jobs)

    def __iter__(self) -> Iterator[JobRow]:
        created = self._created
        # a config run many times (the same object) is described and converted once
        last: Any = None
        description = ""
        data: dict[str, Any] | None = None
        for job in self._jobs:
            config = job.config
            if config is not last:
                last, description, data = config, config.describe(), None
            if job.job_id in created:
                if data is None:
                    data = config_data(config)
                yield row(job, plain, description, data)
            else:
                yield row(job, plain, description, None)


class StoreWriter:
    """The writer thread of one master (see the module docstring)."""

    def __init__(self, store: JobStore, interval: float,
                 take_batch: Callable[[], tuple[BatchRows, list[int], int]],
                 written: Callable[[bool], None], cancel: Callable[[int], None],
                 health: Callable[[], list[Any]],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.interval = interval
        self._take_batch = take_batch
        self._written = written
        self._cancel = cancel
        self._health = health
        self._clock = clock
        self._health_due: float | None = None  # clock time of the next health write
        self._stop = False
        self._sources: list[StoreSource] = []
        self._kick = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="alluxio-job-store-writer",
                                        daemon=True)
        self._thread.start()

    def add_source(self, source: StoreSource) -> None:
        """Write ``source``'s records in the following batches."""
        self._sources = [*self._sources, source]

    def _loop(self) -> None:
        while True:
            self._kick.wait(self.interval)
            self._kick.clear()
            stop = self._stop
            self.flush(final=stop)
            if stop:
                for source in self._sources:
                    source.store_closed()
                return

    def kick(self) -> None:
        """Flush now rather than at the next interval (someone waits for a job)."""
        self._kick.set()

    def flush(self, final: bool = False) -> None:
        """Write what changed, then wake waiters, then serve cancel requests; also write
        worker health when it is due (or ``final``: the writer stops after this)."""
        now = self._clock()
        # sources first: the ids their records hold were handed out before the next
        # job id is read, so a restarted master never hands them out again
        sources = self._sources
        commands: list[CommandRecord] = []
        command_deletes: list[int] = []
        for source in sources:
            try:
                taken, gone = source.take_commands()
            except Exception:
                logger.exception("a store source failed to give its changes")
                continue
            commands += taken
            command_deletes += gone
        rows, deletes, next_job_id = self._take_batch()
        ok = False
        try:
            if len(rows) or deletes or commands or command_deletes:
                self.store.write_rows(rows, deletes, next_job_id, commands=commands,
                                      command_deletes=command_deletes)
            ok = True
            if final or self._health_due is None or now >= self._health_due:
                self.store.put_worker_health(self._health())
                self._health_due = now + HEALTH_INTERVAL
        except StoreError:
            logger.exception("job store write failed; will retry")
        finally:
            self._written(ok)
            for source in sources:
                try:
                    source.commands_written(ok)
                except Exception:
                    logger.exception("a store source failed after a write")
        try:
            for job_id in self.store.take_cancel_requests():
                self._cancel(job_id)
        except StoreError:
            logger.exception("could not read cancel requests from the job store")

    def close(self) -> None:
        """Stop after a last flush. Idempotent."""
        self._stop = True
        self._kick.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
