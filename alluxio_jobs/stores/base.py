"""The job-history extension point: where a master keeps the jobs it tracks."""

import abc
import builtins
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, Self

import attrs

from alluxio_jobs.errors import JobNotFoundError
from alluxio_jobs.model import JobInfo, JobServiceSummary, JobWorkerHealth, Status
from alluxio_jobs.serde import from_dict

if TYPE_CHECKING:
    from alluxio_jobs.commands import CmdInfo

__all__ = ["CommandRecord", "JobRecord", "JobRow", "JobStore", "StoreSource", "StoreView",
           "StoredJobs", "info_of", "record_of_row"]

RECENT_LENGTH = 10

#: A job as a master's store writer hands it to :meth:`JobStore.write_rows`: tuples and
#: lists of plain values, cheap to build and to encode (no per-field keys). The fields are
#: (job id, parent, name, status, last updated, config, info): ``config`` as in
#: :class:`JobRecord` (None keeps the stored one) and ``info`` compact, as
#: ``[description, error type, error message, result, tasks]`` with each task
#: ``[task id, worker host, status, error type, error message, result, description,
#: start time, end time]``. :func:`info_of` expands it into a record's ``info``. Rows of
#: jobs with the same config may share its ``config`` dict: a store only reads it.
JobRow = tuple[int, int | None, str, Status, int, dict[str, Any] | None, list[Any]]

_TASK_FIELDS = ("task_id", "worker_host", "status", "error_type", "error_message", "result",
                "description", "start_time", "end_time")


@attrs.frozen(kw_only=True)
class JobRecord:
    """One job as stored: its index columns plus plain-data config and verbose info.

    ``info`` is the job's verbose :class:`JobInfo` without children (children are
    records of their own, pointing at their ``parent``), as plain data; ``config`` is
    the job's config as :func:`alluxio_jobs.serde.to_dict` gives it. In a write,
    ``config=None`` keeps the config already stored.
    """

    job_id: int
    parent: int | None
    name: str
    status: Status
    last_updated: int
    config: dict[str, Any] | None
    info: dict[str, Any]


@attrs.frozen(kw_only=True)
class CommandRecord:
    """One distributed command as stored: what ``job getCmdStatus`` shows.

    ``completed``, ``skipped`` and ``failed`` (path -> reason) name files in the order
    they were dealt with, ``job_ids`` the command's jobs in the order they were
    submitted. These lists only grow while a command runs, so a write need not repeat
    them: ``offsets`` gives, for ``completed``, ``failed``, ``skipped`` and ``job_ids``
    in that order, the position in the command's whole list of the record's first
    element. A store keeps the elements it holds before that position and puts the
    record's from there on. A read returns whole lists (and offsets of zero).
    """

    cmd_id: int
    operation: str
    description: str
    status: Status
    total: int = 0
    error_message: str = ""
    submitted: int = 0
    last_updated: int = 0
    completed: list[str] = attrs.field(factory=list)
    failed: dict[str, str] = attrs.field(factory=dict)
    skipped: list[str] = attrs.field(factory=list)
    job_ids: list[int] = attrs.field(factory=list)
    offsets: tuple[int, int, int, int] = (0, 0, 0, 0)


def info_of(job_id: int, name: str, status: str | Status, last_updated: int,
            compact: Sequence[Any]) -> dict[str, Any]:
    """The ``info`` of a :class:`JobRecord` from the compact info of a :data:`JobRow`."""
    description, error_type, error_message, result, tasks = compact
    return {"type": "JobInfo", "job_id": job_id, "name": name, "description": description,
            "status": str(status), "error_type": error_type, "error_message": error_message,
            "result": result, "last_updated": last_updated,
            "tasks": [_task_info(job_id, t) for t in tasks], "children": []}


def _task_info(job_id: int, task: Sequence[Any]) -> dict[str, Any]:
    info = {"job_id": job_id, **dict(zip(_TASK_FIELDS, task, strict=True))}
    info["status"] = str(info["status"])  # a Status in a row not yet stored
    return info


def record_of_row(row: JobRow) -> JobRecord:
    """The :class:`JobRecord` a :data:`JobRow` stands for."""
    job_id, parent, name, status, last_updated, config, compact = row
    return JobRecord(job_id=job_id, parent=parent, name=name, status=Status(status),
                     last_updated=last_updated, config=config,
                     info=info_of(job_id, name, status, last_updated, compact))


@attrs.frozen(kw_only=True)
class StoredJobs:
    """What a store holds when a master opens it."""

    records: list[JobRecord]
    next_job_id: int


class JobStore(abc.ABC):
    """Keeps job history for a master, and serves it to readers such as the CLI.

    The owning master calls :meth:`load` once, then :meth:`write` from one writer
    thread with batches of changes: jobs, and the distributed commands of the file
    system that uses the master. Readers (any thread, or another process for durable
    stores) use the query methods. Implementations are thread-safe.
    """

    @abc.abstractmethod
    def load(self) -> StoredJobs:
        """Every stored job and the next job id to hand out.

        :raises StoreError: the store is unreadable, corrupt or of a newer schema
        """

    @abc.abstractmethod
    def write(self, upserts: Sequence[JobRecord], deletes: Iterable[int],
              next_job_id: int, *, commands: Sequence[CommandRecord] = (),
              command_deletes: Iterable[int] = ()) -> None:
        """Apply one batch atomically: insert or replace the jobs ``upserts`` and drop
        ``deletes``; insert or update ``commands`` (see :class:`CommandRecord` for
        their lists) and drop ``command_deletes``."""

    def write_rows(self, rows: Iterable[JobRow], deletes: Iterable[int], next_job_id: int,
                   *, commands: Sequence[CommandRecord] = (),
                   command_deletes: Iterable[int] = ()) -> None:
        """:meth:`write`, with the jobs as the master's store writer builds them (``rows``
        may be built as they are read: read it once). This default turns them into
        records; a store that can keep rows as they are (cheaper for the master's hot
        path) overrides it."""
        self.write([record_of_row(r) for r in rows], deletes, next_job_id,
                   commands=commands, command_deletes=command_deletes)

    @abc.abstractmethod
    def get(self, job_id: int) -> JobRecord | None:
        """One job, or None."""

    @abc.abstractmethod
    def records(self, statuses: Iterable[Status] | None = None, name: str | None = None,
                parent: int | None = None) -> list[JobRecord]:
        """Jobs by ascending id, filtered by status, name and parent id."""

    @abc.abstractmethod
    def summary(self) -> JobServiceSummary:
        """Counts per status and the report's three top-10 lists (brief infos)."""

    @abc.abstractmethod
    def get_command(self, cmd_id: int, *, files: bool = True) -> CommandRecord | None:
        """One distributed command with whole lists, or None; ``files=False`` leaves
        its four lists empty (cheaper, for a command's status only)."""

    @abc.abstractmethod
    def command_ids(self, statuses: Iterable[Status] | None = None) -> list[int]:
        """Ids of the stored distributed commands, ascending, filtered by status."""

    @abc.abstractmethod
    def put_worker_health(self, health: Sequence[JobWorkerHealth]) -> None:
        """Replace the stored worker health."""

    @abc.abstractmethod
    def worker_health(self) -> list[JobWorkerHealth]:
        """The last stored worker health, by ascending worker id."""

    @abc.abstractmethod
    def request_cancel(self, job_id: int) -> None:
        """Ask the master that owns this store to cancel ``job_id`` (e.g. from a CLI)."""

    @abc.abstractmethod
    def take_cancel_requests(self) -> list[int]:
        """Pop the pending cancel requests (called by the owning master)."""

    def close(self) -> None:
        """Release resources. Idempotent."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class StoreSource(Protocol):
    """Records other than jobs that a master's store writer writes in its batches
    (:meth:`JobMaster.add_store_source`): a file system's distributed commands."""

    def take_commands(self) -> tuple[list[CommandRecord], list[int]]:
        """What changed since the last batch: (commands to write, ids to delete)."""

    def commands_written(self, ok: bool) -> None:
        """The batch holding the last :meth:`take_commands` was written (or, if not
        ``ok``, failed: take it again next time)."""

    def store_closed(self) -> None:
        """The writer stopped after its last batch; nothing more will be written."""


def brief(record: JobRecord) -> JobInfo:
    """A record as ``job ls`` shows it (no description, tasks or children)."""
    info = record.info
    return JobInfo(job_id=record.job_id, name=record.name, description="",
                   status=record.status, error_type=info.get("error_type", ""),
                   error_message=info.get("error_message", ""),
                   result=info.get("result", ""), last_updated=record.last_updated)


def summary_of(records: Sequence[JobRecord]) -> JobServiceSummary:
    """The report summary computed from records (Alluxio's JobServiceSummary order)."""
    counts = dict.fromkeys(Status, 0)
    for r in records:
        counts[r.status] += 1
    newest = sorted(records, key=lambda r: (-r.last_updated, r.job_id))
    failed = [r for r in newest if r.status is Status.FAILED]
    running = sorted((r for r in records if r.status is Status.RUNNING),
                     key=lambda r: (r.last_updated, -r.job_id))
    return JobServiceSummary(
        status_counts=counts,
        recent_activities=[brief(r) for r in newest[:RECENT_LENGTH]],
        recent_failures=[brief(r) for r in failed[:RECENT_LENGTH]],
        longest_running=[brief(r) for r in running[:RECENT_LENGTH]],
    )


class StoreView:
    """Reads a store with the master's query methods, so the inspection reports
    (:mod:`alluxio_jobs.reports`) work on a store written by a master in another
    process (the CLI's ``--store``)."""

    def __init__(self, store: JobStore) -> None:
        self.store = store

    def list(self, statuses: Iterable[Status | str] | None = None,
             name: str | None = None) -> "builtins.list[int]":
        return [r.job_id for r in self.store.records(_statuses(statuses), name)]

    def list_info(self, statuses: Iterable[Status | str] | None = None,
                  name: str | None = None) -> "builtins.list[JobInfo]":
        return [brief(r) for r in self.store.records(_statuses(statuses), name)]

    def get_status(self, job_id: int, verbose: bool = False) -> JobInfo:
        """:raises JobNotFoundError: no such job in the store"""
        record = self.store.get(job_id)
        if record is None:
            raise JobNotFoundError(job_id)
        return self._info(record, verbose)

    def _info(self, record: JobRecord, verbose: bool) -> JobInfo:
        info: JobInfo = from_dict(record.info)
        children = [self._info(r, verbose) for r in self.store.records(parent=record.job_id)]
        return attrs.evolve(info, tasks=info.tasks if verbose else [], children=children)

    def summary(self) -> JobServiceSummary:
        return self.store.summary()

    def worker_health(self) -> "builtins.list[JobWorkerHealth]":
        return self.store.worker_health()

    def get_cmd_status(self, cmd_id: int) -> "CmdInfo":
        """A distributed command's record (``job getCmdStatus``).

        :raises JobNotFoundError: no such command in the store
        """
        from alluxio_jobs.commands import cmd_info
        record = self.store.get_command(cmd_id)
        if record is None:
            raise JobNotFoundError(cmd_id)
        return cmd_info(record)


def _statuses(statuses: Iterable[Status | str] | None) -> list[Status] | None:
    if statuses is None:
        return None
    if isinstance(statuses, str):
        statuses = [statuses]
    return [Status(s) for s in statuses] or None  # as Alluxio: empty means no filter
