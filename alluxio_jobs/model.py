"""The records the job service speaks in: statuses, job/task/worker snapshots, messages.

All records are frozen, slotted, keyword-only attrs classes; times are milliseconds
since the epoch (as in Alluxio's wire types).
"""

import enum
from typing import Any

import attrs

from alluxio_jobs import _validate as v

__all__ = [
    "JobInfo",
    "JobServiceSummary",
    "JobWorkerHealth",
    "MasterConfig",
    "Status",
    "TaskInfo",
    "TaskRequest",
    "TaskResult",
    "WorkerInfo",
]


class Status(enum.StrEnum):
    """Job and task status. The declaration order is Alluxio's (and the report's print order)."""

    CREATED = "CREATED"
    CANCELED = "CANCELED"
    FAILED = "FAILED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"

    @property
    def is_finished(self) -> bool:
        """CANCELED, FAILED and COMPLETED are terminal: they never change again."""
        return self in _FINISHED


_FINISHED = frozenset({Status.CANCELED, Status.FAILED, Status.COMPLETED})


@attrs.frozen(kw_only=True)
class WorkerInfo:
    """A job worker as plans see it: its id and host."""

    worker_id: int
    host: str


@attrs.frozen(kw_only=True)
class TaskInfo:
    """A snapshot of one task of a plan job (``job stat -v``'s ``Task N`` block)."""

    job_id: int
    task_id: int
    worker_host: str
    status: Status
    error_type: str = ""
    error_message: str = ""
    result: Any = None
    description: str = ""
    #: When the task started running and when it ended, in ms since the epoch (0: not
    #: yet; a task dropped before it ran has equal start and end times).
    start_time: int = 0
    end_time: int = 0


@attrs.frozen(kw_only=True)
class JobInfo:
    """A job snapshot: a plan job (``tasks`` filled when verbose) or a workflow (``children``)."""

    job_id: int
    name: str
    description: str
    status: Status
    error_type: str = ""
    error_message: str = ""
    result: str = ""
    last_updated: int = 0
    tasks: list[TaskInfo] = attrs.field(factory=list)
    children: list["JobInfo"] = attrs.field(factory=list)


attrs.resolve_types(JobInfo)  # resolve the "JobInfo" forward reference for cattrs


@attrs.frozen(kw_only=True)
class JobWorkerHealth:
    """What a job worker reports about itself (``fsadmin report jobservice``'s worker lines)."""

    worker_id: int
    host: str
    load_average: list[float] = attrs.field(factory=list)
    task_pool_size: int = 0
    num_active_tasks: int = 0
    unfinished_tasks: int = 0
    last_updated: int = 0


@attrs.frozen(kw_only=True)
class JobServiceSummary:
    """Counts per status and the three top-10 lists of ``fsadmin report jobservice``."""

    status_counts: dict[Status, int]
    recent_activities: list[JobInfo]
    recent_failures: list[JobInfo]
    longest_running: list[JobInfo]


@attrs.frozen(kw_only=True)
class TaskRequest:
    """What the master sends a worker: run task ``task_id`` of job ``job_id`` with ``args``.

    ``config`` and ``args`` must be plain data (attrs records of module-level types,
    builtins) so any transport can carry them.
    """

    job_id: int
    task_id: int
    attempt: int
    config: Any
    args: Any


@attrs.frozen(kw_only=True)
class TaskResult:
    """How a task ended. A task's own failure is data here, never an exception."""

    status: Status
    result: Any = None
    error_type: str = ""
    error_message: str = ""

    @classmethod
    def completed(cls, result: Any = None) -> "TaskResult":
        if result is None:
            return _COMPLETED_EMPTY
        return cls(status=Status.COMPLETED, result=result)

    @classmethod
    def failed(cls, error_type: str, error_message: str) -> "TaskResult":
        return cls(status=Status.FAILED, error_type=error_type, error_message=error_message)

    @classmethod
    def canceled(cls) -> "TaskResult":
        return cls(status=Status.CANCELED)


_COMPLETED_EMPTY = TaskResult(status=Status.COMPLETED)


@attrs.frozen(kw_only=True)
class MasterConfig:
    """Settings of a :class:`~alluxio_jobs.JobMaster`, each mirroring an Alluxio property.

    Times are in seconds.
    """

    #: ``alluxio.job.master.job.capacity``: most jobs tracked (running plus retained finished).
    job_capacity: int = attrs.field(
        default=100_000, validator=[v.instance_of(int), v.at_least(0)]
    )
    #: ``alluxio.job.master.finished.job.retention.time``: minimum age of a finished job
    #: before it may be purged to make room.
    finished_job_retention: float = attrs.field(
        default=60.0, validator=[v.instance_of(int, float), v.finite, v.at_least(0)]
    )
    #: ``alluxio.job.master.finished.job.purge.count``: most jobs purged at once (<= 0: all).
    finished_job_purge_count: int = attrs.field(default=-1, validator=v.instance_of(int))
    #: ``alluxio.job.master.worker.timeout``: a worker silent this long is lost.
    worker_timeout: float = attrs.field(
        default=60.0, validator=[v.instance_of(int, float), v.finite, v.greater_than(0)]
    )
    #: ``alluxio.job.master.lost.worker.interval``: how often lost workers are looked for.
    lost_worker_interval: float = attrs.field(
        default=1.0, validator=[v.instance_of(int, float), v.finite, v.greater_than(0)]
    )
    #: No Alluxio equivalent (Alluxio keeps no history): with a job store, how often
    #: changes are written in one transaction; ``wait`` returns once its job is written.
    store_flush_interval: float = attrs.field(
        default=0.05, validator=[v.instance_of(int, float), v.finite, v.greater_than(0)]
    )
    #: No Alluxio equivalent (Alluxio fails them): with a job store, what happens to jobs
    #: that were unfinished when the previous master stopped: ``"fail"`` them with
    #: ``Job master shut down during execution``, or ``"rerun"`` them under the same id.
    on_restart: str = attrs.field(default="fail", validator=v.one_of("fail", "rerun"))
    #: No Alluxio equivalent (Alluxio never re-schedules): how many times a task may be
    #: started in all when its worker is lost, before the task fails with ``JobWorkerLost``.
    max_task_attempts: int = attrs.field(
        default=3, validator=[v.instance_of(int), v.at_least(1)]
    )
