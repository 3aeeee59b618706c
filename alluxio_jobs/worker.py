"""A job worker: runs task requests on its own fixed-size, resizable thread pool.

Mirrors Alluxio's ``TaskExecutorManager``: ``alluxio.job.worker.threadpool.size``
threads take tasks from an unbounded queue; the size can change while tasks run,
and size 0 pauses the worker (running tasks finish, queued ones wait).
"""

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import CancelledError, Future
from typing import Any

from alluxio_jobs.errors import ClosedError, JobConfigError, WorkerLostError
from alluxio_jobs.model import JobWorkerHealth, TaskRequest, TaskResult, WorkerInfo
from alluxio_jobs.plans.base import CancelSignal, PlanRegistry, RunTaskContext

__all__ = ["MAX_TASK_POOL_SIZE", "JobWorker", "check_pool_size", "error_type_of", "run_task"]

logger = logging.getLogger(__name__)

#: Alluxio's ``MAX_TASK_EXECUTOR_POOL_SIZE``.
MAX_TASK_POOL_SIZE = 10_000

_QUEUED, _RUNNING, _DONE = 0, 1, 2


def error_type_of(exc: BaseException) -> str:
    """The class name of the root cause, as Alluxio's ``ErrorUtils.getErrorType``."""
    seen = {id(exc)}
    while exc.__cause__ is not None and id(exc.__cause__) not in seen:
        exc = exc.__cause__
        seen.add(id(exc))
    return type(exc).__name__


def run_task(
    plans: PlanRegistry,
    request: TaskRequest,
    worker: WorkerInfo,
    cancel_event: CancelSignal | threading.Event | None = None,
    resources: Mapping[str, Any] | None = None,
) -> TaskResult:
    """Run one task with its registered plan and turn whatever happens into a TaskResult.

    A task that returns is COMPLETED (even if it was asked to stop meanwhile: its work is
    done and its result must be recorded); one that raises after being canceled, or
    stops at a checkpoint, is CANCELED; any other exception makes it FAILED.
    """
    ctx = RunTaskContext(job_id=request.job_id, task_id=request.task_id,
                         attempt=request.attempt, worker=worker,
                         cancel_event=cancel_event, resources=resources)
    try:
        plan = plans.get(request.config)
        value = plan.run_task(request.config, request.args, ctx)
    except CancelledError:
        return TaskResult.canceled()
    except Exception as exc:  # noqa: BLE001 - isolated and recorded
        if ctx.canceled:
            return TaskResult.canceled()
        return TaskResult.failed(error_type_of(exc), str(exc) or type(exc).__name__)
    return TaskResult.completed(value)


class _WorkItem:
    __slots__ = ("cancel_event", "future", "key", "on_running", "request", "state")

    def __init__(self, request: TaskRequest, on_running: Callable[[], None] | None) -> None:
        self.request = request
        self.key = (request.job_id, request.task_id)
        self.on_running = on_running
        self.future: Future[TaskResult] = Future()
        self.cancel_event = CancelSignal()
        self.state = _QUEUED


class JobWorker:
    """One in-process job worker with ``pool_size`` task threads.

    Thread-safe. Tasks of one worker are keyed by (job id, task id).
    """

    def __init__(
        self,
        info: WorkerInfo,
        plans: PlanRegistry | None = None,
        pool_size: int = 10,
        *,
        resources: Mapping[str, Any] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        check_pool_size(pool_size)
        self.info = info
        self.plans = plans or PlanRegistry.default()
        self.resources: Mapping[str, Any] = resources or {}
        self._clock = clock
        self._size = pool_size
        self._queue: queue.SimpleQueue[_WorkItem | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)  # the pause/resize gate
        self._gated = 0  # threads waiting at the gate
        self._idle = 0  # threads waiting for work
        self._threads: list[threading.Thread] = []
        self._items: dict[tuple[int, int], _WorkItem] = {}
        self._active = 0
        self._closed = False
        self._lost = False

    # ------------------------------------------------------------------ tasks

    def submit(self, request: TaskRequest,
               on_running: Callable[[], None] | None = None) -> "Future[TaskResult]":
        """Queue ``request``; the future resolves to its TaskResult."""
        item = _WorkItem(request, on_running)
        with self._lock:
            if self._closed:
                raise ClosedError(f"job worker {self.info.worker_id}")
            self._items[item.key] = item
            self._queue.put(item)
            if self._idle:
                self._idle -= 1
            elif len(self._threads) < self._size:
                self._spawn()
        return item.future

    def cancel(self, job_id: int, task_id: int) -> None:
        """Drop a queued task (it resolves CANCELED) or ask a running one to stop."""
        with self._lock:
            item = self._items.get((job_id, task_id))
            if item is None:
                return
            item.cancel_event.set()
            if item.state != _QUEUED:
                return
        self._resolve(item, TaskResult.canceled())

    def _spawn(self) -> None:
        name = f"alluxio-job-worker-{self.info.worker_id}-{len(self._threads)}"
        thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _loop(self) -> None:
        get = self._queue.get
        lock = self._lock
        while True:
            item = get()
            if item is None:
                return
            with lock:
                while self._active >= self._size and not self._closed:
                    self._gated += 1
                    self._cond.wait()
                    self._gated -= 1
                if item.state != _QUEUED or self._closed:
                    self._idle += 1
                    continue
                item.state = _RUNNING
                self._active += 1
            self._run(item)

    def _run(self, item: _WorkItem) -> None:
        if item.on_running is not None:
            try:
                item.on_running()
            except Exception:
                logger.exception("task-running callback failed for %s", item.key)
        try:
            result = run_task(self.plans, item.request, self.info, item.cancel_event,
                              self.resources)
        finally:
            # before the result is out: whoever sees the job finished must not still see
            # its task counted as active in this worker's health
            with self._lock:
                self._active -= 1
                self._idle += 1
                if self._gated:
                    self._cond.notify()
        self._resolve(item, result)

    def _resolve(self, item: _WorkItem, result: TaskResult | None,
                 error: BaseException | None = None) -> None:
        with self._lock:
            if item.state == _DONE:
                return
            item.state = _DONE
            if self._items.get(item.key) is item:
                del self._items[item.key]
        if error is not None:
            item.future.set_exception(error)
        else:
            item.future.set_result(result)  # type: ignore[arg-type]

    # ----------------------------------------------------------------- control

    @property
    def pool_size(self) -> int:
        return self._size

    def set_pool_size(self, size: int) -> None:
        """Resize the pool while it runs; 0 pauses it (Alluxio's ``SetTaskPoolSizeCommand``)."""
        check_pool_size(size)
        with self._lock:
            self._size = size
            missing = min(size, len(self._items)) - len(self._threads)
            for _ in range(max(0, missing)):
                self._spawn()
            self._cond.notify_all()

    def health(self) -> JobWorkerHealth:
        with self._lock:
            active, unfinished = self._active, len(self._items)
        try:
            load = [round(x, 2) for x in os.getloadavg()]
        except OSError:  # pragma: no cover - platforms without getloadavg
            load = []
        return JobWorkerHealth(worker_id=self.info.worker_id, host=self.info.host,
                               load_average=load, task_pool_size=self._size,
                               num_active_tasks=active, unfinished_tasks=unfinished,
                               last_updated=int(self._clock() * 1000))

    def close(self) -> None:
        """Cancel queued tasks, ask running ones to stop, and join every thread. Idempotent."""
        self._shutdown(lambda item: (TaskResult.canceled(), None))

    def kill(self) -> None:
        """Simulate losing this worker: every unfinished task fails with WorkerLostError."""
        self._lost = True
        lost = WorkerLostError(self.info.worker_id, self.info.host)
        self._shutdown(lambda item: (None, lost), fail_running=True)

    @property
    def lost(self) -> bool:
        return self._lost

    def _shutdown(
        self,
        outcome: Callable[[_WorkItem], tuple[TaskResult | None, BaseException | None]],
        fail_running: bool = False,
    ) -> None:
        with self._lock:
            already = self._closed
            self._closed = True
            items = list(self._items.values())
            threads = list(self._threads)
            self._cond.notify_all()
        for item in items:
            # resolve before signalling: a killed worker's running task must end lost,
            # not CANCELED by a task that noticed the flag first
            if item.state == _QUEUED or fail_running:
                self._resolve(item, *outcome(item))
            item.cancel_event.set()
        if already:
            return
        for _ in threads:
            self._queue.put(None)
        current = threading.current_thread()
        for thread in threads:
            if thread is not current:
                thread.join()


def check_pool_size(size: int) -> None:
    """Reject a pool size outside Alluxio's range 0..10,000 (0 pauses a worker)."""
    if isinstance(size, bool) or not isinstance(size, int):
        raise JobConfigError("threadpool_size", size, "must be int")
    if not 0 <= size <= MAX_TASK_POOL_SIZE:
        raise JobConfigError("threadpool_size", size, f"must be in 0..{MAX_TASK_POOL_SIZE}")

