"""Every exception ``alluxio_jobs`` raises, in one place.

Each class also derives from the builtin category it belongs to, so ordinary
``except ValueError`` / ``except LookupError`` / ``except TimeoutError`` code works::

    AlluxioJobsError(Exception)
    ├── JobConfigError(ValueError)          .field .value .reason
    │   ├── FailedPreconditionError             valid, but not in this state (Alluxio's)
    │   └── UnknownJobTypeError                 no plan registered for that config type
    ├── NotFoundError(LookupError)
    │   ├── JobNotFoundError                    .job_id
    │   └── WorkerNotFoundError                 .worker_id
    ├── ResourceExhaustedError(RuntimeError)    .capacity
    ├── ClosedError(RuntimeError)               .what
    ├── TransportError(RuntimeError)            a task could not be delivered
    │   └── WorkerLostError                     .worker_id
    ├── JobFailedError(RuntimeError)            .job_id .message
    ├── JobCanceledError(CancelledError)        .job_id .reason
    ├── JobTimeoutError(TimeoutError)           .job_id .timeout
    ├── StoreError(RuntimeError)                job-history store failure
    └── StorageError(OSError)                   .path .reason
        └── CacheFullError                      .needed .free — a block cache has no room

Every error keeps its context as attributes and pickles with them (errors cross
process boundaries on remote transports). The spelling is Alluxio's throughout:
"cancel", "canceled", ``CANCELED``.
"""

from concurrent.futures import CancelledError
from typing import Any

__all__ = [
    "AlluxioJobsError",
    "CacheFullError",
    "ClosedError",
    "FailedPreconditionError",
    "JobCanceledError",
    "JobConfigError",
    "JobFailedError",
    "JobNotFoundError",
    "JobTimeoutError",
    "NotFoundError",
    "ResourceExhaustedError",
    "StorageError",
    "StoreError",
    "TransportError",
    "UnknownJobTypeError",
    "WorkerLostError",
    "WorkerNotFoundError",
]


class AlluxioJobsError(Exception):
    """Base of every error raised by ``alluxio_jobs``."""

    _fields: tuple[str, ...] = ("message",)

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuild through __init__ with the original arguments, so subclasses with
        # several constructor arguments survive pickling (e.g. across Dask workers).
        return (type(self), tuple(getattr(self, name) for name in self._fields))


class JobConfigError(AlluxioJobsError, ValueError):
    """A job config or argument is invalid; nothing was registered or changed."""

    _fields: tuple[str, ...] = ("field", "value", "reason")

    def __init__(self, field: str, value: object, reason: str) -> None:
        super().__init__(f"{field}: {reason}, got {value!r}")
        self.field = field
        self.value = value
        self.reason = reason


class FailedPreconditionError(JobConfigError):
    """The request is valid but the target is not in a state that allows it (Alluxio's
    ``FailedPreconditionException``), e.g. freeing a file that is not persisted. Its
    text is the sentence alone; ``field`` and ``value`` still name what was refused."""

    _fields: tuple[str, ...] = ("field", "value", "reason")

    def __init__(self, field: str, value: object, reason: str) -> None:
        AlluxioJobsError.__init__(self, reason)
        self.field = field
        self.value = value
        self.reason = reason


class UnknownJobTypeError(JobConfigError):
    """No plan is registered for the config's type; the job is not tracked."""

    _fields: tuple[str, ...] = ("value",)

    def __init__(self, value: object) -> None:
        AlluxioJobsError.__init__(
            self, f"The job definition for config {value} does not exist"
        )
        self.field = "type"
        self.value = value
        self.reason = "no plan is registered for this config type"


class NotFoundError(AlluxioJobsError, LookupError):
    """Something looked up by id does not exist."""


class JobNotFoundError(NotFoundError):
    """No job with this id is tracked (never existed, or already purged)."""

    _fields: tuple[str, ...] = ("job_id",)

    def __init__(self, job_id: int) -> None:
        super().__init__(f"The job of id {job_id} does not exist")
        self.job_id = job_id


class WorkerNotFoundError(NotFoundError):
    """The transport has no job worker with this id."""

    _fields: tuple[str, ...] = ("worker_id",)

    def __init__(self, worker_id: int) -> None:
        super().__init__(f"The job worker of id {worker_id} does not exist")
        self.worker_id = worker_id


class ResourceExhaustedError(AlluxioJobsError, RuntimeError):
    """The master tracks ``capacity`` jobs and none could be purged; nothing changed."""

    _fields: tuple[str, ...] = ("capacity",)

    def __init__(self, capacity: int) -> None:
        super().__init__(f"Job master is at full capacity of {capacity:,} jobs")
        self.capacity = capacity


class ClosedError(AlluxioJobsError, RuntimeError):
    """A master, transport, worker or store was used after ``close()``."""

    _fields: tuple[str, ...] = ("what",)

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} is closed")
        self.what = what


class TransportError(AlluxioJobsError, RuntimeError):
    """A task could not be delivered to, or its outcome not returned from, a worker."""

    _fields: tuple[str, ...] = ("message",)


class WorkerLostError(TransportError):
    """The job worker running a task disappeared before the task finished."""

    _fields: tuple[str, ...] = ("worker_id", "host")

    def __init__(self, worker_id: int, host: str = "") -> None:
        super().__init__(f"Job worker {worker_id} ({host or 'unknown host'}) was lost")
        self.worker_id = worker_id
        self.host = host


class JobFailedError(AlluxioJobsError, RuntimeError):
    """Asked for the result of a job that FAILED."""

    _fields: tuple[str, ...] = ("job_id", "error_message")

    def __init__(self, job_id: int, error_message: str) -> None:
        super().__init__(f"Job {job_id} failed: {error_message}")
        self.job_id = job_id
        self.error_message = error_message


class JobCanceledError(AlluxioJobsError, CancelledError):
    """Raised by a task at a cancellation checkpoint (``ctx.check_canceled()``)."""

    _fields: tuple[str, ...] = ("job_id", "reason")

    def __init__(self, job_id: int, reason: str | None = None) -> None:
        super().__init__(f"Job {job_id} was canceled" + (f": {reason}" if reason else ""))
        self.job_id = job_id
        self.reason = reason


class JobTimeoutError(AlluxioJobsError, TimeoutError):
    """``wait`` ran out of time; the job itself keeps running."""

    _fields: tuple[str, ...] = ("job_id", "timeout")

    def __init__(self, job_id: int, timeout: float) -> None:
        super().__init__(f"Job {job_id} did not finish within {timeout} seconds")
        self.job_id = job_id
        self.timeout = timeout


class StoreError(AlluxioJobsError, RuntimeError):
    """The job-history store failed (wraps the backend's error)."""

    _fields: tuple[str, ...] = ("message",)


class StorageError(AlluxioJobsError, OSError):
    """An under file system or block-cache operation failed for ``path``."""

    _fields: tuple[str, ...] = ("path", "reason")

    def __init__(self, path: str, reason: str) -> None:
        AlluxioJobsError.__init__(self, f"{path}: {reason}")
        self.path = path
        self.reason = reason


class CacheFullError(StorageError):
    """A block cache (or every cache a write could use) has no room for ``needed``
    more bytes; ``free`` is what was left (the most any of them had)."""

    _fields: tuple[str, ...] = ("path", "reason", "needed", "free")

    def __init__(self, path: str, reason: str, needed: int, free: int) -> None:
        super().__init__(path, reason)
        self.needed = needed
        self.free = free
