"""Distributed commands: load, copy, move, persist or free many files with jobs.

Each command (Alluxio's ``distributedLoad``, ``distributedCp``, ``distributedMv``,
``persist`` and ``free``) runs in the background and returns a :class:`CommandHandle`
at once. Its record (:class:`CmdInfo`: status, per-file successes and failures,
progress, job ids) stays inspectable through the file system's
:class:`CommandTracker` (Alluxio's ``job getCmdStatus``) and is kept with the same
capacity and retention rules as jobs. Command ids come from the master's job id
generator, as in Alluxio; when the master has a job store, command records are written
to it in the store writer's batches, so ``alluxio-jobs job getCmdStatus`` can read them
from another process.

A command submits at most ``active_jobs`` jobs at a time, of ``batch_size`` files
each (a ``BatchedJob`` when more than one), and waits when the master is full rather
than failing. Its status follows Alluxio's CMD rules: RUNNING while any of its work
is unfinished, then FAILED if any file failed, else CANCELED if it was canceled, else
COMPLETED (also when there was nothing to do).
"""

# This module keeps the commands' records and their tracking; the commands themselves
# are in _file_commands and what their bodies run with in _command_run, both re-exported
# here.

import collections
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import attrs

from alluxio_jobs._command_run import _Item as _Item  # also for replication's commands
from alluxio_jobs._command_run import _Run as _Run
from alluxio_jobs._file_commands import (
    DEFAULT_ACTIVE_JOBS,
    distributed_cp,
    distributed_load,
    distributed_mv,
    free,
    persist,
)
from alluxio_jobs._journal import SHUTDOWN_MESSAGE
from alluxio_jobs.errors import (
    AlluxioJobsError,
    ClosedError,
    JobConfigError,
    JobNotFoundError,
    JobTimeoutError,
    ResourceExhaustedError,
)
from alluxio_jobs.model import Status
from alluxio_jobs.serde import register_record
from alluxio_jobs.stores.base import CommandRecord, JobStore

if TYPE_CHECKING:
    from alluxio_jobs.filesystem import FileSystem
    from alluxio_jobs.master import JobMaster

__all__ = [
    "DEFAULT_ACTIVE_JOBS",
    "CmdInfo",
    "CommandHandle",
    "CommandTracker",
    "cmd_info",
    "distributed_cp",
    "distributed_load",
    "distributed_mv",
    "format_cmd_status",
    "free",
    "persist",
]

logger = logging.getLogger(__name__)


@register_record
@attrs.frozen(kw_only=True)
class CmdInfo:
    """A snapshot of a distributed command (Alluxio's ``CmdStatusBlock``, with more)."""

    cmd_id: int
    operation: str
    description: str
    status: Status
    total: int
    completed: list[str]
    failed: dict[str, str]
    skipped: list[str]
    job_ids: list[int]
    error_message: str = ""
    submitted: int = 0
    last_updated: int = 0

    @property
    def progress(self) -> float:
        """Share of the files dealt with (completed, failed or skipped), 0.0 to 1.0."""
        if self.total == 0:
            return 1.0 if self.status.is_finished else 0.0
        return (len(self.completed) + len(self.failed) + len(self.skipped)) / self.total


_VERBS = {"DIST_LOAD": "loaded", "DIST_CP": "copied", "DIST_MV": "copied"}


def format_cmd_status(info: CmdInfo) -> str:
    """``job getCmdStatus``'s text for ``info``."""
    verb = _VERBS.get(info.operation, "processed")
    lines = ["Get command status information below:"]
    lines += [f"Successfully {verb} path {p}" for p in info.completed]
    lines.append(f"Total completed file count is {len(info.completed)}, "
                 f"failed file count is {len(info.failed)}")
    if info.failed:
        lines.append("Failed files are:")
        lines += list(info.failed)
    return "\n".join(lines) + "\n"


class _Cmd:
    __slots__ = ("canceled", "cmd_id", "completed", "description", "done", "error", "failed",
                 "failed_order", "finished_at", "job_ids", "operation", "skipped", "started",
                 "status", "stored", "thread", "total", "updated", "wake", "written")

    def __init__(self, cmd_id: int, operation: str, description: str, now: int) -> None:
        self.cmd_id = cmd_id
        self.operation = operation
        self.description = description
        self.status = Status.RUNNING
        self.total = 0
        self.completed: list[str] = []
        self.failed: dict[str, str] = {}
        self.failed_order: list[str] = []  # the keys of ``failed`` in insertion order
        self.skipped: list[str] = []
        self.job_ids: list[int] = []
        self.error = ""
        self.started = now
        self.updated = now
        self.finished_at = 0
        self.canceled = threading.Event()
        #: finished and, with a store, written; set for a purged command too
        self.done = threading.Event()
        #: wakes the command's thread: a job of it finished, or it was canceled
        self.wake = threading.Condition(threading.Lock())
        self.thread: threading.Thread | None = None
        #: restored from a store: the lists live there only
        self.stored = False
        #: how much of each list the store holds (completed, failed, skipped, job_ids)
        self.written = (0, 0, 0, 0)

    @classmethod
    def of_record(cls, record: CommandRecord) -> "_Cmd":
        cmd = cls(record.cmd_id, record.operation, record.description, record.submitted)
        cmd.status = record.status
        cmd.total = record.total
        cmd.error = record.error_message
        cmd.updated = cmd.finished_at = record.last_updated
        cmd.completed = list(record.completed)
        cmd.failed = dict(record.failed)
        cmd.failed_order = list(record.failed)
        cmd.skipped = list(record.skipped)
        cmd.job_ids = list(record.job_ids)
        cmd.written = cmd.lengths()
        cmd.done.set()
        return cmd

    def lengths(self) -> tuple[int, int, int, int]:
        return (len(self.completed), len(self.failed_order), len(self.skipped),
                len(self.job_ids))

    def info(self) -> CmdInfo:
        return cmd_info(self.record())

    def unwritten(self) -> CommandRecord:
        """The command with only what its store does not hold yet in its lists."""
        return self.record(self.written)

    def record(self, offsets: tuple[int, int, int, int] = (0, 0, 0, 0)) -> CommandRecord:
        """The command as a store record, its lists from ``offsets`` on (see
        :class:`~alluxio_jobs.stores.CommandRecord`)."""
        oc, of, os_, oj = offsets
        return CommandRecord(
            cmd_id=self.cmd_id, operation=self.operation, description=self.description,
            status=self.status, total=self.total, error_message=self.error,
            submitted=self.started, last_updated=self.updated,
            completed=self.completed[oc:],
            failed={path: self.failed[path] for path in self.failed_order[of:]},
            skipped=self.skipped[os_:], job_ids=self.job_ids[oj:], offsets=offsets)


def cmd_info(record: CommandRecord) -> CmdInfo:
    """The :class:`CmdInfo` of a stored command record."""
    return CmdInfo(cmd_id=record.cmd_id, operation=record.operation,
                   description=record.description, status=record.status, total=record.total,
                   completed=list(record.completed), failed=dict(record.failed),
                   skipped=list(record.skipped), job_ids=list(record.job_ids),
                   error_message=record.error_message, submitted=record.submitted,
                   last_updated=record.last_updated)


class CommandHandle:
    """A running or finished command: its id, snapshot, wait and cancel."""

    def __init__(self, tracker: "CommandTracker", cmd_id: int) -> None:
        self._tracker = tracker
        self.cmd_id = cmd_id

    def info(self) -> CmdInfo:
        """A snapshot: status, per-file successes, failures and skips, progress."""
        return self._tracker.get(self.cmd_id)

    @property
    def status(self) -> Status:
        """The command's status (Alluxio's CMD rules over its jobs)."""
        return self.info().status

    def wait(self, timeout: float | None = None) -> CmdInfo:
        """Block until the command is finished (and written, with a store).

        :raises JobTimeoutError: ``timeout`` seconds passed first
        """
        return self._tracker.wait(self.cmd_id, timeout)

    def cancel(self) -> None:
        """Cancel the command: no new job starts and its running jobs are canceled."""
        self._tracker.cancel(self.cmd_id)

    def __repr__(self) -> str:
        return f"CommandHandle(cmd_id={self.cmd_id})"


class CommandTracker:
    """Every command of one file system (Alluxio's ``CmdJobTracker``). Thread-safe.

    Command ids come from the master's job id generator (:meth:`JobMaster.new_id`), so
    a command id never equals a job id. Finished commands are purged like jobs: only
    when a new command would exceed the master's ``job_capacity``, the oldest
    finished at least ``finished_job_retention`` ago go first, at most
    ``finished_job_purge_count`` at a time.

    When the master has a job store, every command is written to it in the store
    writer's batches (a :class:`~alluxio_jobs.stores.StoreSource`), purged commands are
    deleted from it, and :meth:`wait` returns once the command's final state is
    written. Commands found in the store when the master is attached are tracked again
    (and purged in their turn); one that was running when its process stopped becomes
    FAILED with ``Job master shut down during execution``.
    """

    def __init__(self, fs: "FileSystem", *, clock: Callable[[], float] = time.time) -> None:
        self._fs = fs
        self._clock = clock
        self._lock = threading.Lock()
        self._cmds: dict[int, _Cmd] = {}
        self._finished: collections.deque[int] = collections.deque()
        self._closed = False
        self._master: JobMaster | None = None
        # journaling to the master's store; _flush is None when there is none (or it closed)
        self._store: JobStore | None = None
        self._flush: Callable[[], None] | None = None
        self._dirty: set[int] = set()
        self._purged: list[int] = []
        self._taken: dict[int, tuple[tuple[int, int, int, int], bool]] = {}
        self._taken_purged: list[int] = []

    def _now(self) -> int:
        return int(self._clock() * 1000)

    # ------------------------------------------------------------- the store

    def bind(self, master: "JobMaster") -> None:
        """Track commands with ``master`` (the file system calls this when a master is
        attached): take in the commands its store holds, and write to it from now on.

        :raises JobConfigError: the commands are written to another master's store
        :raises StoreError: the store cannot be read
        """
        with self._lock:
            if master is self._master:
                return
            if self._store is not None:
                raise JobConfigError("master", master, "this file system's commands are "
                                     "written to another master's job store already")
            self._master = master
        store = master.store
        if store is None:
            return
        now = self._now()
        restored: list[_Cmd] = []
        changed: list[int] = []
        for cmd_id in store.command_ids():
            record = store.get_command(cmd_id, files=False)
            if record is None:
                continue
            if record.status.is_finished:
                cmd = _Cmd.of_record(record)
                cmd.stored = True
            else:  # its process stopped while it ran: fail it, keeping what it did
                record = store.get_command(cmd_id) or record
                cmd = _Cmd.of_record(record)
                cmd.status = Status.FAILED
                cmd.error = SHUTDOWN_MESSAGE
                cmd.updated = cmd.finished_at = max(now, cmd.updated)
                changed.append(cmd_id)
            restored.append(cmd)
        restored.sort(key=lambda c: (c.finished_at, c.cmd_id))
        with self._lock:
            self._store = store
            fresh = [c for c in restored if c.cmd_id not in self._cmds]
            self._cmds.update((c.cmd_id, c) for c in fresh)
            self._finished = collections.deque([*(c.cmd_id for c in fresh), *self._finished])
            self._dirty.update(changed)
            self._flush = master.add_store_source(self)

    def take_commands(self) -> tuple[list[CommandRecord], list[int]]:
        """For the store writer: the commands changed since its last batch, and the
        ids of those purged."""
        with self._lock:
            ids, self._dirty = self._dirty, set()
            purged, self._purged = self._purged, []
            records = []
            taken = {}
            for cmd_id in sorted(ids):
                cmd = self._cmds.get(cmd_id)
                if cmd is None:
                    continue
                records.append(cmd.unwritten())
                taken[cmd_id] = (cmd.lengths(), cmd.status.is_finished)
            self._taken, self._taken_purged = taken, purged
        return records, purged

    def commands_written(self, ok: bool) -> None:
        """For the store writer: its last batch was written (or failed, if not ``ok``)."""
        ready = []
        with self._lock:
            taken, self._taken = self._taken, {}
            purged, self._taken_purged = self._taken_purged, []
            if not ok:  # take them again next time
                self._dirty.update(i for i in taken if i in self._cmds)
                self._purged.extend(purged)
                return
            for cmd_id, (lengths, finished) in taken.items():
                cmd = self._cmds.get(cmd_id)
                if cmd is None:
                    continue
                cmd.written = lengths
                if finished:
                    ready.append(cmd)
        for cmd in ready:
            cmd.done.set()

    def store_closed(self) -> None:
        """For the store writer: it stopped; commands are no longer written."""
        with self._lock:
            self._flush = None
            self._dirty.clear()
            self._purged.clear()
            ready = [c for c in self._cmds.values() if c.status.is_finished]
        for cmd in ready:
            cmd.done.set()

    def _changed(self, cmd: _Cmd) -> None:
        """Note a change of ``cmd`` (call under the lock)."""
        cmd.updated = self._now()
        if self._flush is not None:
            self._dirty.add(cmd.cmd_id)

    # ------------------------------------------------------------- commands

    def start(self, operation: str, description: str,
              body: Callable[["_Run"], None]) -> CommandHandle:
        """Track a new command and run ``body`` for it on its own thread."""
        cmd_id = self._fs.master.new_id()
        with self._lock:
            if self._closed:
                raise ClosedError("CommandTracker")
            self._admit()
            cmd = _Cmd(cmd_id, operation, description, self._now())
            self._cmds[cmd_id] = cmd
            self._changed(cmd)
            cmd.thread = threading.Thread(target=self._main, args=(cmd, body),
                                          name=f"alluxio-cmd-{cmd_id}", daemon=True)
        cmd.thread.start()
        return CommandHandle(self, cmd_id)

    def _admit(self) -> None:
        config = self._fs.master.config
        if len(self._cmds) < config.job_capacity:
            return
        now = self._now()
        limit = config.finished_job_purge_count
        retention = int(config.finished_job_retention * 1000)
        removed = 0
        while self._finished and (limit <= 0 or removed < limit):
            cmd = self._cmds.get(self._finished[0])
            if cmd is not None and now - cmd.finished_at < retention:
                break
            cmd_id = self._finished.popleft()
            self._cmds.pop(cmd_id, None)
            self._dirty.discard(cmd_id)
            if self._flush is not None:
                self._purged.append(cmd_id)
            if cmd is not None:
                cmd.done.set()
            removed += 1
        if not removed:
            raise ResourceExhaustedError(config.job_capacity)

    def _main(self, cmd: _Cmd, body: Callable[["_Run"], None]) -> None:
        run = _Run(self, cmd)
        try:
            body(run)
        except AlluxioJobsError as exc:
            run.fail_command(str(exc))
        except Exception as exc:
            logger.exception("command %s failed", cmd.cmd_id)
            run.fail_command(f"{type(exc).__name__}: {exc}")
        with self._lock:
            if cmd.failed or cmd.error:
                cmd.status = Status.FAILED
            elif cmd.canceled.is_set():
                cmd.status = Status.CANCELED
            else:
                cmd.status = Status.COMPLETED
            self._changed(cmd)
            cmd.finished_at = cmd.updated
            self._finished.append(cmd.cmd_id)
            flush = self._flush
        if flush is None:
            cmd.done.set()
        else:
            flush()  # done is set once the final state is written

    def get(self, cmd_id: int) -> CmdInfo:
        """:raises JobNotFoundError: unknown or purged id"""
        with self._lock:
            cmd = self._cmds.get(cmd_id)
            if cmd is None:
                raise JobNotFoundError(cmd_id)
            if not cmd.stored:
                return cmd.info()
            store = self._store
        record = None if store is None else store.get_command(cmd_id)
        if record is None:
            raise JobNotFoundError(cmd_id)
        return cmd_info(record)

    def list(self, statuses: Iterable[Status | str] | None = None) -> list[int]:
        """Ids of tracked commands, ascending, optionally only those with ``statuses``."""
        wanted = None if statuses is None else {Status(s) for s in statuses}
        with self._lock:
            return sorted(i for i, c in self._cmds.items() if wanted is None or c.status in wanted)

    def wait(self, cmd_id: int, timeout: float | None = None) -> CmdInfo:
        """Block until the command is finished (and, with a store, written) and return
        its record.

        :raises JobTimeoutError: ``timeout`` passed first (the command keeps running)
        """
        with self._lock:
            cmd = self._cmds.get(cmd_id)
        if cmd is None:
            raise JobNotFoundError(cmd_id)
        if not cmd.done.wait(timeout):
            raise JobTimeoutError(cmd_id, timeout if timeout is not None else 0.0)
        if cmd.stored:
            return self.get(cmd_id)
        with self._lock:  # also when purged meanwhile: its final record
            return cmd.info()

    def cancel(self, cmd_id: int) -> None:
        """Stop submitting and cancel the command's running jobs. Idempotent."""
        with self._lock:
            cmd = self._cmds.get(cmd_id)
        if cmd is None:
            raise JobNotFoundError(cmd_id)
        _cancel(cmd)

    def close(self) -> None:
        """Cancel every running command and wait for its thread. Idempotent."""
        with self._lock:
            self._closed = True
            cmds = list(self._cmds.values())
        for cmd in cmds:
            _cancel(cmd)
        for cmd in cmds:
            if cmd.thread is not None and cmd.thread is not threading.current_thread():
                cmd.thread.join()


def _cancel(cmd: _Cmd) -> None:
    cmd.canceled.set()
    with cmd.wake:
        cmd.wake.notify_all()
