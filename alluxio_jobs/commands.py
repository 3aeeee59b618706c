"""Distributed commands: load, copy, move, persist or free many files with jobs.

Each command (Alluxio's ``distributedLoad``, ``distributedCp``, ``distributedMv``,
``persist`` and ``free``) runs in the background and returns a :class:`CommandHandle`
at once. Its record (:class:`CmdInfo`: status, per-file successes and failures,
progress, job ids) stays inspectable through the file system's
:class:`CommandTracker` (Alluxio's ``job getCmdStatus``) and is kept with the same
capacity and retention rules as jobs.

A command submits at most ``active_jobs`` jobs at a time, of ``batch_size`` files
each (a ``BatchedJob`` when more than one), and waits when the master is full rather
than failing. Its status follows Alluxio's CMD rules: RUNNING while any of its work
is unfinished, then FAILED if any file failed, else CANCELED if it was canceled, else
COMPLETED (also when there was nothing to do).
"""

import collections
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

import attrs

from alluxio_jobs.errors import (
    AlluxioJobsError,
    ClosedError,
    JobConfigError,
    JobNotFoundError,
    JobTimeoutError,
    ResourceExhaustedError,
)
from alluxio_jobs.model import JobInfo, Status
from alluxio_jobs.plans.base import JobConfig
from alluxio_jobs.storage import FileInfo, PersistenceState, WriteType, is_under, normalize_path

if TYPE_CHECKING:
    from alluxio_jobs.filesystem import FileSystem

__all__ = [
    "DEFAULT_ACTIVE_JOBS",
    "CmdInfo",
    "CommandHandle",
    "CommandTracker",
    "distributed_cp",
    "distributed_load",
    "distributed_mv",
    "format_cmd_status",
    "free",
    "persist",
]

logger = logging.getLogger(__name__)

#: Alluxio's ``DEFAULT_ACTIVE_JOBS``.
DEFAULT_ACTIVE_JOBS = 3000


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
    __slots__ = ("canceled", "completed", "description", "done", "error", "failed",
                 "finished_at", "job_ids", "operation", "skipped", "started", "status",
                 "thread", "total", "updated")

    def __init__(self, operation: str, description: str, now: int) -> None:
        self.operation = operation
        self.description = description
        self.status = Status.RUNNING
        self.total = 0
        self.completed: list[str] = []
        self.failed: dict[str, str] = {}
        self.skipped: list[str] = []
        self.job_ids: list[int] = []
        self.error = ""
        self.started = now
        self.updated = now
        self.finished_at = 0
        self.canceled = threading.Event()
        self.done = threading.Event()
        self.thread: threading.Thread | None = None


class CommandHandle:
    """A running or finished command: its id, snapshot, wait and cancel."""

    def __init__(self, tracker: "CommandTracker", cmd_id: int) -> None:
        self._tracker = tracker
        self.cmd_id = cmd_id

    def info(self) -> CmdInfo:
        return self._tracker.get(self.cmd_id)

    @property
    def status(self) -> Status:
        return self.info().status

    def wait(self, timeout: float | None = None) -> CmdInfo:
        return self._tracker.wait(self.cmd_id, timeout)

    def cancel(self) -> None:
        self._tracker.cancel(self.cmd_id)

    def __repr__(self) -> str:
        return f"CommandHandle(cmd_id={self.cmd_id})"


class CommandTracker:
    """Every command of one file system (Alluxio's ``CmdJobTracker``). Thread-safe.

    Finished commands are purged like jobs: only when a new command would exceed the
    master's ``job_capacity``, the oldest finished at least ``finished_job_retention``
    ago go first, at most ``finished_job_purge_count`` at a time.
    """

    def __init__(self, fs: "FileSystem", *, clock: Callable[[], float] = time.time) -> None:
        self._fs = fs
        self._clock = clock
        self._lock = threading.Lock()
        self._cmds: dict[int, _Cmd] = {}
        self._finished: collections.deque[int] = collections.deque()
        self._next_id = int(clock() * 1000) + 10_000
        self._closed = False

    def _now(self) -> int:
        return int(self._clock() * 1000)

    def start(self, operation: str, description: str,
              body: Callable[["_Run"], None]) -> CommandHandle:
        """Track a new command and run ``body`` for it on its own thread."""
        with self._lock:
            if self._closed:
                raise ClosedError("CommandTracker")
            self._admit()
            cmd_id = self._next_id
            self._next_id += 1
            cmd = _Cmd(operation, description, self._now())
            self._cmds[cmd_id] = cmd
            cmd.thread = threading.Thread(target=self._main, args=(cmd_id, cmd, body),
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
            del self._cmds[self._finished.popleft()]
            removed += 1
        if not removed:
            raise ResourceExhaustedError(config.job_capacity)

    def _main(self, cmd_id: int, cmd: _Cmd, body: Callable[["_Run"], None]) -> None:
        run = _Run(self, cmd)
        try:
            body(run)
        except AlluxioJobsError as exc:
            run.fail_command(str(exc))
        except Exception as exc:
            logger.exception("command %s failed", cmd_id)
            run.fail_command(f"{type(exc).__name__}: {exc}")
        with self._lock:
            if cmd.failed or cmd.error:
                cmd.status = Status.FAILED
            elif cmd.canceled.is_set():
                cmd.status = Status.CANCELED
            else:
                cmd.status = Status.COMPLETED
            cmd.finished_at = cmd.updated = self._now()
            self._finished.append(cmd_id)
        cmd.done.set()

    def get(self, cmd_id: int) -> CmdInfo:
        """:raises JobNotFoundError: unknown or purged id"""
        with self._lock:
            cmd = self._cmds.get(cmd_id)
            if cmd is None:
                raise JobNotFoundError(cmd_id)
            return CmdInfo(cmd_id=cmd_id, operation=cmd.operation, description=cmd.description,
                           status=cmd.status, total=cmd.total, completed=list(cmd.completed),
                           failed=dict(cmd.failed), skipped=list(cmd.skipped),
                           job_ids=list(cmd.job_ids), error_message=cmd.error,
                           submitted=cmd.started, last_updated=cmd.updated)

    def list(self, statuses: Iterable[Status | str] | None = None) -> list[int]:
        """Ids of tracked commands, ascending, optionally only those with ``statuses``."""
        wanted = None if statuses is None else {Status(s) for s in statuses}
        with self._lock:
            return sorted(i for i, c in self._cmds.items() if wanted is None or c.status in wanted)

    def wait(self, cmd_id: int, timeout: float | None = None) -> CmdInfo:
        """Block until the command is finished and return its record.

        :raises JobTimeoutError: ``timeout`` passed first (the command keeps running)
        """
        with self._lock:
            cmd = self._cmds.get(cmd_id)
        if cmd is None:
            raise JobNotFoundError(cmd_id)
        if not cmd.done.wait(timeout):
            raise JobTimeoutError(cmd_id, timeout if timeout is not None else 0.0)
        return self.get(cmd_id)

    def cancel(self, cmd_id: int) -> None:
        """Stop submitting and cancel the command's running jobs. Idempotent."""
        with self._lock:
            cmd = self._cmds.get(cmd_id)
        if cmd is None:
            raise JobNotFoundError(cmd_id)
        cmd.canceled.set()

    def close(self) -> None:
        """Cancel every running command and wait for its thread. Idempotent."""
        with self._lock:
            self._closed = True
            cmds = list(self._cmds.values())
        for cmd in cmds:
            cmd.canceled.set()
        for cmd in cmds:
            if cmd.thread is not None and cmd.thread is not threading.current_thread():
                cmd.thread.join()


@attrs.frozen
class _Item:
    path: str
    destination: str = ""
    block_id: int = -1

    @property
    def label(self) -> str:
        """How the command's record names this item."""
        return self.path if self.block_id < 0 else f"{self.path}#{self.block_id}"


class _Run:
    """What a command body uses to record its progress and run jobs."""

    def __init__(self, tracker: CommandTracker, cmd: _Cmd) -> None:
        self.tracker = tracker
        self.cmd = cmd
        self.fs = tracker._fs

    @property
    def canceled(self) -> bool:
        return self.cmd.canceled.is_set()

    def _update(self, fn: Callable[[_Cmd], None]) -> None:
        with self.tracker._lock:
            fn(self.cmd)
            self.cmd.updated = self.tracker._now()

    def set_total(self, total: int) -> None:
        self._update(lambda c: setattr(c, "total", total))

    def succeed(self, path: str) -> None:
        self._update(lambda c: c.completed.append(path))

    def fail(self, path: str, reason: str) -> None:
        self._update(lambda c: c.failed.__setitem__(path, reason))

    def skip(self, path: str) -> None:
        self._update(lambda c: c.skipped.append(path))

    def _add_job(self, job_id: int) -> None:
        self._update(lambda c: c.job_ids.append(job_id))

    def fail_command(self, reason: str) -> None:
        self._update(lambda c: setattr(c, "error", reason))

    def run_jobs(self, items: Sequence[_Item], make_config: Callable[[_Item], JobConfig],
                 job_type: str, batch_size: int, active_jobs: int,
                 judge: Callable[[_Item, JobInfo], str | None]) -> None:
        """Run the items' jobs, at most ``active_jobs`` at once, ``batch_size`` items per
        job; ``judge`` returns None for an item that succeeded, else why it failed.
        Items of a canceled job that did not succeed are left uncounted."""
        from alluxio_jobs.plans.transfer import BatchedJobConfig

        master = self.fs.master
        batches = collections.deque(
            list(items[i:i + batch_size]) for i in range(0, len(items), batch_size))
        active: dict[int, list[_Item]] = {}
        backoff = 0.01
        while batches or active:
            if self.canceled:
                for job_id in active:
                    master.cancel(job_id, "distributed command canceled")
                batches.clear()
            while batches and len(active) < active_jobs and not self.canceled:
                batch = batches[0]
                try:
                    configs = [make_config(item) for item in batch]
                    config = configs[0] if len(configs) == 1 else BatchedJobConfig(
                        job_type=job_type, configs=configs)
                    job_id = master.run(config)
                except ResourceExhaustedError:
                    if not active:  # nothing of ours will free a place: wait a little
                        self.cmd.canceled.wait(backoff)
                        backoff = min(1.0, backoff * 2)
                    break
                except JobConfigError as exc:
                    batches.popleft()
                    for item in batch:
                        self.fail(item.label, str(exc))
                    continue
                backoff = 0.01
                batches.popleft()
                active[job_id] = batch
                self._add_job(job_id)
            if not active:
                continue
            # returns as soon as the oldest job is done; the others are looked at below
            with contextlib.suppress(JobTimeoutError, JobNotFoundError):
                master.wait(next(iter(active)), timeout=0.05)
            for job_id in list(active):
                try:
                    info = master.get_status(job_id, verbose=True)
                except JobNotFoundError:
                    info = JobInfo(job_id=job_id, name="", description="", status=Status.FAILED,
                                   error_message="the job was purged before it was seen done")
                if not info.status.is_finished:
                    continue
                for item in active.pop(job_id):
                    reason = judge(item, info)
                    if reason is None:
                        self.succeed(item.label)
                    elif info.status is not Status.CANCELED:
                        self.fail(item.label, reason)


def _job_error(info: JobInfo) -> str:
    return info.error_message or f"job {info.job_id} {info.status.value}"


def _write_type(value: object) -> WriteType:
    from alluxio_jobs.filesystem import write_type_of

    return write_type_of(value)


def _check_count(name: str, value: object, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise JobConfigError(name, value, f"must be an int >= {minimum}")
    return value


# ------------------------------------------------------------------ commands


def distributed_load(fs: "FileSystem", path: str, replication: int = 1, *,
                     batch_size: int = 1, active_jobs: int = DEFAULT_ACTIVE_JOBS,
                     worker_set: Sequence[str] = (),
                     excluded_worker_set: Sequence[str] = ()) -> CommandHandle:
    """Cache every file at or below ``path`` on ``replication`` workers with Load jobs
    (Alluxio's ``distributedLoad``). Files already cached that often are skipped.

    :raises NotFoundError: ``path`` does not exist (nothing is started)
    """
    from alluxio_jobs.plans.cache import LoadConfig

    path = normalize_path(path)
    _check_count("replication", replication)
    _check_count("batch_size", batch_size)
    _check_count("active_jobs", active_jobs)
    fs.get_status(path)

    def config(item: _Item) -> JobConfig:
        return LoadConfig(file_path=item.path, replication=replication,
                          worker_set=list(worker_set),
                          excluded_worker_set=list(excluded_worker_set))

    def judge(item: _Item, info: JobInfo) -> str | None:
        try:
            status = fs.get_status(item.path)
        except AlluxioJobsError as exc:
            return str(exc)
        if status.cached_replicas() >= replication:
            return None
        return _job_error(info) if info.status is not Status.COMPLETED else "not fully loaded"

    def body(run: _Run) -> None:
        files = fs.namespace.files_under(path, fs._live_ids())
        run.set_total(len(files))
        todo = []
        for f in files:
            if f.cached_replicas() >= replication:
                run.skip(f.path)
            else:
                todo.append(_Item(f.path))
        run.run_jobs(todo, config, "Load", batch_size, active_jobs, judge)

    return fs.commands.start("DIST_LOAD", f"distributedLoad {path} --replication {replication}",
                             body)


def _copy_items(fs: "FileSystem", src: str, dst: str) -> list[_Item]:
    info = fs.get_status(src)
    if not info.is_folder:
        return [_Item(info.path, dst)]
    return [_Item(f.path, dst + f.path[len(src):] if src != "/" else dst + f.path)
            for f in fs.namespace.files_under(src)]


def _check_copy(fs: "FileSystem", src: str, dst: str) -> tuple[str, str]:
    src = normalize_path(src, "source")
    dst = normalize_path(dst, "destination")
    if is_under(dst, src):
        raise JobConfigError("destination", dst,
                             f"Cannot migrate because {src} is a prefix of {dst}")
    fs.get_status(src)
    return src, dst


def _cp_body(fs: "FileSystem", src: str, dst: str, overwrite: bool,
             write_type: WriteType | None, batch_size: int, active_jobs: int
             ) -> Callable[[_Run], list[_Item]]:
    from alluxio_jobs.plans.transfer import MigrateConfig, MigrateResult

    def config(item: _Item) -> JobConfig:
        return MigrateConfig(source=item.path, destination=item.destination,
                             write_type=write_type, overwrite=overwrite)

    def judge(item: _Item, info: JobInfo) -> str | None:
        if info.status is Status.COMPLETED:
            return None
        for task in info.tasks:
            if (task.status is Status.COMPLETED and isinstance(task.result, MigrateResult)
                    and task.result.destination == item.destination):
                return None
        return _job_error(info)

    def body(run: _Run) -> list[_Item]:
        items = _copy_items(fs, src, dst)
        run.set_total(len(items))
        run.run_jobs(items, config, "Migrate", batch_size, active_jobs, judge)
        return items

    return body


def distributed_cp(fs: "FileSystem", source: str, destination: str, *,
                   overwrite: bool = True, write_type: WriteType | str | None = None,
                   batch_size: int = 1, active_jobs: int = DEFAULT_ACTIVE_JOBS) -> CommandHandle:
    """Copy a file, or every file below a directory, with Migrate jobs (Alluxio's
    ``distributedCp``; ``overwrite`` defaults to true as there).

    :raises JobConfigError: ``destination`` is inside ``source``
    """
    src, dst = _check_copy(fs, source, destination)
    _check_count("batch_size", batch_size)
    _check_count("active_jobs", active_jobs)
    wt = None if write_type is None else _write_type(write_type)
    copy = _cp_body(fs, src, dst, overwrite, wt, batch_size, active_jobs)

    def body(run: _Run) -> None:
        copy(run)

    return fs.commands.start("DIST_CP", f"distributedCp {src} {dst}", body)


def distributed_mv(fs: "FileSystem", source: str, destination: str, *,
                   overwrite: bool = True, write_type: WriteType | str | None = None,
                   batch_size: int = 1, active_jobs: int = DEFAULT_ACTIVE_JOBS) -> CommandHandle:
    """Copy like :func:`distributed_cp`, then delete the source, but only if every
    copy completed; otherwise the source is left as it was."""
    src, dst = _check_copy(fs, source, destination)
    _check_count("batch_size", batch_size)
    _check_count("active_jobs", active_jobs)
    wt = None if write_type is None else _write_type(write_type)
    copy = _cp_body(fs, src, dst, overwrite, wt, batch_size, active_jobs)

    def body(run: _Run) -> None:
        copy(run)
        if run.cmd.failed or run.canceled:
            return
        if src != dst:
            fs.delete(src, recursive=True)

    return fs.commands.start("DIST_MV", f"distributedMv {src} {dst}", body)


def persist(fs: "FileSystem", path: str, *, overwrite: bool = False, batch_size: int = 1,
            active_jobs: int = DEFAULT_ACTIVE_JOBS) -> CommandHandle:
    """Persist every file at or below ``path`` with Persist jobs; files already
    persisted are skipped (unless ``overwrite``)."""
    from alluxio_jobs.plans.transfer import PersistConfig

    path = normalize_path(path)
    _check_count("batch_size", batch_size)
    _check_count("active_jobs", active_jobs)
    fs.get_status(path)

    def config(item: _Item) -> JobConfig:
        return PersistConfig(file_path=item.path, overwrite=overwrite)

    def judge(item: _Item, info: JobInfo) -> str | None:
        try:
            status = fs.get_status(item.path)
        except AlluxioJobsError as exc:
            return str(exc)
        if status.persistence_state is PersistenceState.PERSISTED and (
                info.status is Status.COMPLETED or not overwrite):
            return None
        return _job_error(info)

    def body(run: _Run) -> None:
        files = fs.namespace.files_under(path)
        run.set_total(len(files))
        todo = []
        for f in files:
            if f.persisted and not overwrite:
                run.skip(f.path)
            else:
                todo.append(_Item(f.path))
        run.run_jobs(todo, config, "Persist", batch_size, active_jobs, judge)

    return fs.commands.start("PERSIST", f"persist {path}", body)


def free(fs: "FileSystem", path: str) -> CommandHandle:
    """Drop the cached copies of every file at or below ``path``; a file that is not
    persisted is refused (and counted as failed), the others are freed."""
    path = normalize_path(path)
    fs.get_status(path)

    def body(run: _Run) -> None:
        files: list[FileInfo] = fs.namespace.files_under(path)
        run.set_total(len(files))
        for f in files:
            if run.canceled:
                return
            try:
                fs.free(f.path)
            except AlluxioJobsError as exc:
                run.fail(f.path, exc.message if not isinstance(exc, JobConfigError)
                         else exc.reason)
                continue
            run.succeed(f.path)

    return fs.commands.start("FREE", f"free {path}", body)
