"""The default transport: job workers in this process, each on its own thread pool."""

import itertools
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import Any

from alluxio_jobs.errors import ClosedError, JobConfigError, WorkerNotFoundError
from alluxio_jobs.model import JobWorkerHealth, TaskRequest, TaskResult, WorkerInfo
from alluxio_jobs.plans.base import PlanRegistry
from alluxio_jobs.transports.base import WorkerTransport
from alluxio_jobs.worker import JobWorker, check_pool_size

__all__ = ["LocalTransport"]


class LocalTransport(WorkerTransport):
    """``num_workers`` in-process job workers with ``threadpool_size`` task threads each.

    ``threadpool_size`` mirrors ``alluxio.job.worker.threadpool.size`` (default 10).
    Workers are registered as soon as the transport exists; :meth:`add_worker` adds
    one later and :meth:`remove_worker` takes one away as if it were lost.
    ``resources`` is handed to every task as ``ctx.resources`` (e.g. storage).
    """

    def __init__(
        self,
        num_workers: int = 1,
        threadpool_size: int = 10,
        *,
        host_prefix: str = "local-worker-",
        resources: Callable[[WorkerInfo], Mapping[str, Any]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if isinstance(num_workers, bool) or not isinstance(num_workers, int):
            raise JobConfigError("num_workers", num_workers, "must be int")
        if num_workers < 0:
            raise JobConfigError("num_workers", num_workers, "must be >= 0")
        check_pool_size(threadpool_size)
        self._threadpool_size = threadpool_size
        self._host_prefix = host_prefix
        self._resources = resources
        self._clock = clock
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._workers: dict[int, JobWorker] = {}
        self._infos: tuple[WorkerInfo, ...] = ()  # immutable snapshot for workers()
        self._closed = False
        self.plans = PlanRegistry.default()
        for _ in range(num_workers):
            self.add_worker()

    def bind(self, plans: PlanRegistry) -> None:
        with self._lock:
            self.plans = plans
            for worker in self._workers.values():
                worker.plans = plans

    def add_worker(self) -> WorkerInfo:
        """Register a new job worker (it takes new tasks from now on)."""
        with self._lock:
            if self._closed:
                raise ClosedError("LocalTransport")
            worker_id = next(self._ids)
            info = WorkerInfo(worker_id=worker_id, host=f"{self._host_prefix}{worker_id}")
            resources = self._resources(info) if self._resources else None
            self._workers[worker_id] = JobWorker(info, self.plans, self._threadpool_size,
                                                 resources=resources, clock=self._clock)
            self._infos = (*self._infos, info)
            return info

    def remove_worker(self, worker_id: int) -> None:
        """Take a worker away as if its process died: its unfinished tasks fail with
        :class:`~alluxio_jobs.errors.WorkerLostError`."""
        with self._lock:
            worker = self._workers.pop(worker_id, None)
            self._infos = tuple(i for i in self._infos if i.worker_id != worker_id)
        if worker is None:
            raise WorkerNotFoundError(worker_id)
        worker.kill()

    def workers(self) -> Sequence[WorkerInfo]:
        return self._infos

    def _worker(self, worker_id: int) -> JobWorker:
        worker = self._workers.get(worker_id)
        if worker is None:
            if self._closed:
                raise ClosedError("LocalTransport")
            raise WorkerNotFoundError(worker_id)
        return worker

    def submit(self, worker_id: int, request: TaskRequest,
               on_running: Callable[[], None] | None = None) -> "Future[TaskResult]":
        if self._closed:
            raise ClosedError("LocalTransport")
        return self._worker(worker_id).submit(request, on_running)

    def cancel(self, worker_id: int, job_id: int, task_id: int,
               reason: str | None = None) -> None:
        worker = self._workers.get(worker_id)
        if worker is not None:
            worker.cancel(job_id, task_id)

    def worker_health(self) -> list[JobWorkerHealth]:
        with self._lock:
            workers = sorted(self._workers.values(), key=lambda w: w.info.worker_id)
        return [w.health() for w in workers]

    def set_task_pool_size(self, worker_id: int, size: int) -> None:
        self._worker(worker_id).set_pool_size(size)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            workers = list(self._workers.values())
            self._workers.clear()
            self._infos = ()
        for worker in workers:
            worker.close()
