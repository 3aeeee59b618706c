"""alluxio_jobs: the Alluxio Job Service as an embeddable Python library.

An in-process :class:`JobMaster` splits each job into tasks with the job type's
plan, hands them to job workers through a :class:`WorkerTransport`, follows every
task, joins the results and keeps the job history. Inspection commands live in
:mod:`alluxio_jobs.reports` (data) and :mod:`alluxio_jobs.render` (Alluxio's text).

The embedded storage, :class:`FileSystem` (fsspec under file systems mounted in one
namespace, file blocks cached on the job workers), runs the data jobs (Load, Migrate,
Persist, Evict, Replicate, SetReplica, Move) and Alluxio's distributed commands
(:func:`distributed_load`, :func:`distributed_cp`, :func:`distributed_mv`,
:func:`persist`, :func:`free`).
"""

from alluxio_jobs.commands import (
    CmdInfo,
    CommandHandle,
    distributed_cp,
    distributed_load,
    distributed_mv,
    free,
    persist,
)
from alluxio_jobs.errors import (
    AlluxioJobsError,
    CacheFullError,
    ClosedError,
    FailedPreconditionError,
    JobCanceledError,
    JobConfigError,
    JobFailedError,
    JobNotFoundError,
    JobTimeoutError,
    NotFoundError,
    ResourceExhaustedError,
    StorageError,
    StoreError,
    TransportError,
    UnknownJobTypeError,
    WorkerLostError,
    WorkerNotFoundError,
)
from alluxio_jobs.filesystem import FileSystem
from alluxio_jobs.master import JobMaster
from alluxio_jobs.model import (
    JobInfo,
    JobServiceSummary,
    JobWorkerHealth,
    MasterConfig,
    Status,
    TaskInfo,
    TaskRequest,
    TaskResult,
    WorkerInfo,
)
from alluxio_jobs.plans import (
    BatchedJobConfig,
    CompositeConfig,
    EvictConfig,
    JobConfig,
    JobPlan,
    LoadConfig,
    MigrateConfig,
    MoveConfig,
    NoopConfig,
    PersistConfig,
    PlanRegistry,
    ReplicateConfig,
    RunTaskContext,
    SelectContext,
    SetReplicaConfig,
    SleepConfig,
    WorkflowConfig,
)
from alluxio_jobs.replication import ReplicationChecker, decommission
from alluxio_jobs.storage import FileInfo, PersistenceState, WriteType
from alluxio_jobs.transports import LocalTransport, WorkerTransport

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # DaskTransport (the ``alluxio_jobs[dask]`` extra) is imported on first use and is
    # not in __all__, so that neither ``import alluxio_jobs`` nor a star import needs
    # ``distributed``.
    if name == "DaskTransport":
        from alluxio_jobs.transports.dask import DaskTransport

        return DaskTransport
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), "DaskTransport"])

__all__ = [
    "AlluxioJobsError",
    "BatchedJobConfig",
    "CacheFullError",
    "ClosedError",
    "CmdInfo",
    "CommandHandle",
    "CompositeConfig",
    "EvictConfig",
    "FailedPreconditionError",
    "FileInfo",
    "FileSystem",
    "JobCanceledError",
    "JobConfig",
    "JobConfigError",
    "JobFailedError",
    "JobInfo",
    "JobMaster",
    "JobNotFoundError",
    "JobPlan",
    "JobServiceSummary",
    "JobTimeoutError",
    "JobWorkerHealth",
    "LoadConfig",
    "LocalTransport",
    "MasterConfig",
    "MigrateConfig",
    "MoveConfig",
    "NoopConfig",
    "NotFoundError",
    "PersistConfig",
    "PersistenceState",
    "PlanRegistry",
    "ReplicateConfig",
    "ReplicationChecker",
    "ResourceExhaustedError",
    "RunTaskContext",
    "SelectContext",
    "SetReplicaConfig",
    "SleepConfig",
    "Status",
    "StorageError",
    "StoreError",
    "TaskInfo",
    "TaskRequest",
    "TaskResult",
    "TransportError",
    "UnknownJobTypeError",
    "WorkerInfo",
    "WorkerLostError",
    "WorkerNotFoundError",
    "WorkerTransport",
    "WorkflowConfig",
    "WriteType",
    "__version__",
    "decommission",
    "distributed_cp",
    "distributed_load",
    "distributed_mv",
    "free",
    "persist",
]
