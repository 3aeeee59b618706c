"""The transport extension point: how task requests reach job workers."""

import abc
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Self

from alluxio_jobs.model import JobWorkerHealth, TaskRequest, TaskResult, WorkerInfo
from alluxio_jobs.plans.base import PlanRegistry

__all__ = ["WorkerTransport"]


class WorkerTransport(abc.ABC):
    """Carries task requests from the master to job workers and their outcomes back.

    Implementations are called from many threads at once and must be thread-safe.
    The master calls :meth:`bind` once, then :meth:`workers` to plan jobs and
    :meth:`submit` / :meth:`cancel` to run them. To add behaviour around another
    transport (logging, faults), wrap it and delegate, as
    :class:`~alluxio_jobs.testing.FaultyTransport` does.
    """

    plans: PlanRegistry | None = None

    def bind(self, plans: PlanRegistry) -> None:
        """Called once by the owning master, before any submit, with the plans that
        workers use to run tasks."""
        self.plans = plans

    @abc.abstractmethod
    def workers(self) -> Sequence[WorkerInfo]:
        """A snapshot (not a live view) of the job workers that can take tasks now."""

    @abc.abstractmethod
    def submit(
        self,
        worker_id: int,
        request: TaskRequest,
        on_running: Callable[[], None] | None = None,
    ) -> "Future[TaskResult]":
        """Start ``request`` on ``worker_id`` without waiting for it.

        The future resolves to the task's :class:`TaskResult` (COMPLETED, FAILED or
        CANCELED); it fails only with :class:`~alluxio_jobs.errors.TransportError`
        (e.g. :class:`~alluxio_jobs.errors.WorkerLostError`), never with the task's
        own exception. ``on_running`` is called, where the transport can tell, when the
        task starts running; it stays on the master's side and is never sent.

        :raises WorkerNotFoundError: unknown ``worker_id``
        :raises ClosedError: after :meth:`close`
        """

    def cancel(self, worker_id: int, job_id: int, task_id: int,
               reason: str | None = None) -> None:
        """Drop the task if it is queued (it resolves CANCELED) or ask it to stop at its
        next checkpoint. Idempotent; unknown tasks are ignored. Default: no-op."""

    def worker_health(self) -> list[JobWorkerHealth]:
        """Health of every registered worker, by ascending worker id.

        The default reports each worker as just heard from, so a transport that
        does not track health never has a worker declared lost by timeout.
        """
        now = int(time.time() * 1000)
        return [JobWorkerHealth(worker_id=w.worker_id, host=w.host, last_updated=now)
                for w in sorted(self.workers(), key=lambda w: w.worker_id)]

    def set_task_pool_size(self, worker_id: int, size: int) -> None:
        """Resize a worker's task pool (0 pauses it). Default: not supported."""
        raise NotImplementedError(f"{type(self).__name__} cannot resize task pools")

    def close(self) -> None:
        """Release resources; cancel tasks not yet started. Idempotent."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
