"""alluxio_jobs: the Alluxio Job Service as an embeddable Python library.

An in-process :class:`JobMaster` splits each job into tasks with the job type's
plan, hands them to job workers through a :class:`WorkerTransport`, follows every
task, joins the results and keeps the job history. Inspection commands live in
:mod:`alluxio_jobs.reports` (data) and :mod:`alluxio_jobs.render` (Alluxio's text).
"""

from alluxio_jobs.errors import (
    AlluxioJobsError,
    ClosedError,
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
    CompositeConfig,
    JobConfig,
    JobPlan,
    NoopConfig,
    PlanRegistry,
    RunTaskContext,
    SelectContext,
    SleepConfig,
    WorkflowConfig,
)
from alluxio_jobs.transports import LocalTransport, WorkerTransport

__version__ = "0.1.0"

__all__ = [
    "AlluxioJobsError",
    "ClosedError",
    "CompositeConfig",
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
    "LocalTransport",
    "MasterConfig",
    "NoopConfig",
    "NotFoundError",
    "PlanRegistry",
    "ResourceExhaustedError",
    "RunTaskContext",
    "SelectContext",
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
    "__version__",
]
