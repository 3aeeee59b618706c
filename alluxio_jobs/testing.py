"""Test doubles and conformance checks for code that embeds or extends ``alluxio_jobs``.

* :class:`MockTransport` runs tasks synchronously in the caller's thread, through a
  plain ``handler(worker_id, request) -> TaskResult`` function or the real plans.
* :class:`FaultyTransport` wraps any transport and injects faults chosen by a policy
  function: lose a worker, fail, drop, delay or hold a task, reject a submission.
* :func:`check_transport` and :func:`check_job_store` check that a transport or a
  job store keeps its contract.
* :class:`ManualClock` makes times and retention deterministic.
"""

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future

from alluxio_jobs._conformance import (
    EchoConfig,
    HoldConfig,
    RaiseConfig,
    check_job_store,
    check_transport,
    conformance_plans,
)
from alluxio_jobs._faults import (
    Delay,
    DropTask,
    FailTask,
    Fault,
    FaultyTransport,
    Hold,
    LoseWorker,
    RandomFaults,
    RejectSubmit,
)
from alluxio_jobs.errors import (
    ClosedError,
    TransportError,
    WorkerNotFoundError,
)
from alluxio_jobs.model import TaskRequest, TaskResult, WorkerInfo
from alluxio_jobs.plans.base import PlanRegistry
from alluxio_jobs.transports.base import WorkerTransport
from alluxio_jobs.worker import error_type_of, run_task

__all__ = [
    "Delay",
    "DropTask",
    "EchoConfig",
    "FailTask",
    "Fault",
    "FaultyTransport",
    "Hold",
    "HoldConfig",
    "LoseWorker",
    "ManualClock",
    "MockTransport",
    "RaiseConfig",
    "RandomFaults",
    "RejectSubmit",
    "check_job_store",
    "check_transport",
    "conformance_plans",
]

Handler = Callable[[int, TaskRequest], TaskResult]


class ManualClock:
    """A clock that moves only when told to; pass it as ``JobMaster(clock=...)``."""

    def __init__(self, start: float = 1_600_000_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds

    def set(self, now: float) -> None:
        with self._lock:
            self._now = now


class MockTransport(WorkerTransport):
    """A transport whose workers are a plain function, for deterministic tests.

    ``handler(worker_id, request)`` returns the task's :class:`TaskResult`; raising a
    :class:`~alluxio_jobs.errors.TransportError` (e.g. ``WorkerLostError``) simulates a
    delivery failure, any other exception becomes a FAILED result. With
    ``handler=None`` the real plan runs inline. Futures come back already resolved.
    """

    def __init__(self, handler: Handler | None = None, workers: int = 1) -> None:
        self.handler = handler
        self._workers = [WorkerInfo(worker_id=i, host=f"mock-worker-{i}") for i in range(workers)]
        self._lock = threading.Lock()
        self._closed = False
        self.plans = PlanRegistry.default()
        #: Every request submitted, in order.
        self.requests: list[TaskRequest] = []
        #: Every cancel call as (worker_id, job_id, task_id).
        self.cancels: list[tuple[int, int, int]] = []

    def workers(self) -> Sequence[WorkerInfo]:
        with self._lock:
            return list(self._workers)

    def remove_worker(self, worker_id: int) -> None:
        """Forget a worker (plans no longer see it)."""
        with self._lock:
            self._workers = [w for w in self._workers if w.worker_id != worker_id]

    def submit(self, worker_id: int, request: TaskRequest,
               on_running: Callable[[], None] | None = None) -> "Future[TaskResult]":
        with self._lock:
            if self._closed:
                raise ClosedError("MockTransport")
            worker = next((w for w in self._workers if w.worker_id == worker_id), None)
            if worker is None:
                raise WorkerNotFoundError(worker_id)
            self.requests.append(request)
        future: Future[TaskResult] = Future()
        if on_running is not None:
            on_running()
        try:
            if self.handler is None:
                assert self.plans is not None
                result = run_task(self.plans, request, worker)
            else:
                result = self.handler(worker_id, request)
        except TransportError as exc:
            future.set_exception(exc)
            return future
        except Exception as exc:  # noqa: BLE001 - isolated and recorded
            result = TaskResult.failed(error_type_of(exc), str(exc))
        future.set_result(result)
        return future

    def cancel(self, worker_id: int, job_id: int, task_id: int,
               reason: str | None = None) -> None:
        with self._lock:
            self.cancels.append((worker_id, job_id, task_id))

    def close(self) -> None:
        self._closed = True
