"""Job workers on a Dask distributed cluster (the ``alluxio_jobs[dask]`` extra).

Each Dask worker is one job worker. The master side (:class:`DaskTransport`) keeps the
map from Dask worker addresses to job worker ids, sends each task as plain data with
``client.submit`` pinned to its worker, and turns what comes back into
:class:`~alluxio_jobs.TaskResult` futures. The worker side is a Dask worker plugin,
registered once per transport: it holds the plans, runs the tasks, gates them to the
task pool size, keeps each running task's cancel flag, and reports health in the
worker's heartbeat.

What crosses the wire:

* master to worker: the plugin (the :class:`~alluxio_jobs.PlanRegistry`, the pool size
  and the ``resources`` factory) once per worker; then per task the request as plain
  data (:func:`alluxio_jobs.serde.to_dict`, the arguments through
  :func:`alluxio_jobs.serde.to_plain`);
  cancellations as ``client.run`` calls carrying task keys.
* worker to master: per task a "running" and a "done" event on a topic of the
  scheduler's event broker, the done event carrying the result as plain data. A result
  that is not plain data (msgpack-serialisable) comes back as the Dask task's own
  result instead.

Every error from ``distributed`` is translated by :func:`translate_dask_error` into
:class:`~alluxio_jobs.TransportError` or :class:`~alluxio_jobs.WorkerLostError`.

This module holds the master side; the worker plugin is in
:mod:`alluxio_jobs.transports._dask_worker`, the plain-data encoding and the error
translation in :mod:`alluxio_jobs.transports._dask_codec` (re-exported here).
"""

import contextlib
import itertools
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, InvalidStateError
from typing import Any

try:
    import distributed
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "DaskTransport needs Dask distributed: pip install 'alluxio_jobs[dask]'"
    ) from exc

from alluxio_jobs.errors import (
    ClosedError,
    JobConfigError,
    TransportError,
    WorkerLostError,
    WorkerNotFoundError,
)
from alluxio_jobs.model import JobWorkerHealth, TaskRequest, TaskResult, WorkerInfo
from alluxio_jobs.plans.base import PlanRegistry
from alluxio_jobs.transports._dask_codec import (
    DASK_ERRORS,
    dask_error_kind,
    decode_request,
    decode_result,
    encode_request,
    encode_result,
    translate_dask_error,
)
from alluxio_jobs.transports._dask_codec import (
    mapped_errors as _mapped_errors,
)
from alluxio_jobs.transports._dask_worker import (
    JobWorkerPlugin,
    ResourceFactory,
    cancel_on_worker,
    execute_task,
    set_pool_size_on_worker,
)
from alluxio_jobs.transports.base import WorkerTransport
from alluxio_jobs.worker import check_pool_size, error_type_of

__all__ = [
    "DASK_ERRORS",
    "DaskTransport",
    "dask_error_kind",
    "decode_request",
    "decode_result",
    "encode_request",
    "encode_result",
    "translate_dask_error",
]

logger = logging.getLogger(__name__)


# -------------------------------------------------------------- master side


class _Pending:
    """A task sent and not yet resolved."""

    __slots__ = ("dask", "future", "job_id", "key", "on_running", "running", "task_id",
                 "worker_id")

    def __init__(self, key: str, worker_id: int, request: TaskRequest,
                 on_running: Callable[[], None] | None) -> None:
        self.key = key
        self.worker_id = worker_id
        self.job_id = request.job_id
        self.task_id = request.task_id
        self.on_running = on_running
        self.running = False
        self.future: Future[TaskResult] = Future()
        self.dask: Any = None


class DaskTransport(WorkerTransport):
    """Job workers on the Dask workers of ``client``'s cluster: one job worker each.

    ``client`` is a synchronous :class:`distributed.Client`; the transport uses it but
    does not close it. Workers get ids 0, 1, … in the order they are first seen; a
    worker that joins later gets a new id and takes new tasks. A worker that leaves
    (dies, or is retired) fails its unfinished tasks with
    :class:`~alluxio_jobs.WorkerLostError` within about ``poll_interval`` seconds.

    ``threadpool_size`` is each job worker's task pool size; ``None`` follows the Dask
    worker's threads. ``resources(worker_info)`` is called on the Dask worker the
    first time it runs a task and its mapping is ``ctx.resources`` for every task
    there (it must be picklable; values with a ``close()`` method are closed when the
    transport closes). ``worker_plans()``, if given, builds the plan registry on each
    Dask worker instead of the master's registry being pickled there (for plans that
    hold master-side state, such as the storage plans). ``close_timeout`` is how long
    :meth:`close` waits for running tasks to stop after asking them to.
    """

    def __init__(
        self,
        client: "distributed.Client",
        *,
        threadpool_size: int | None = None,
        resources: ResourceFactory | None = None,
        worker_plans: Callable[[], PlanRegistry] | None = None,
        poll_interval: float = 0.5,
        close_timeout: float = 30.0,
    ) -> None:
        if not isinstance(client, distributed.Client):
            raise JobConfigError("client", client, "must be a distributed.Client")
        if client.asynchronous:
            raise JobConfigError("client", client, "must be a synchronous client")
        if threadpool_size is not None:
            check_pool_size(threadpool_size)
        if not (isinstance(poll_interval, int | float) and poll_interval > 0):
            raise JobConfigError("poll_interval", poll_interval, "must be > 0")
        self.client = client
        self._pool_size = threadpool_size
        self._resources = resources
        self._worker_plans = worker_plans
        self._listeners: list[Callable[[Mapping[int, str]], None]] = []
        self._poll_interval = float(poll_interval)
        self._close_timeout = close_timeout
        token = uuid.uuid4().hex[:8]
        self._token = token
        self._name = f"alluxio-jobs-{token}"
        self._seq = itertools.count()
        self._lock = threading.Lock()
        self._drained = threading.Condition(self._lock)
        self._pending: dict[str, _Pending] = {}
        self._by_task: dict[tuple[int, int, int], str] = {}
        self._by_worker: dict[int, set[str]] = {}
        self._ids: dict[str, int] = {}  # Dask worker address -> job worker id
        self._addresses: dict[int, str] = {}
        self._next_id = itertools.count()
        self._infos: tuple[WorkerInfo, ...] = ()
        self._health: dict[int, dict[str, Any]] = {}
        self._plugin_lock = threading.Lock()
        self._refresh_lock = threading.Lock()  # one refresh at a time: listeners in order
        self._plugin_plans: PlanRegistry | None = None
        self._closed = False
        self._stop = threading.Event()
        self.plans = PlanRegistry.default()
        self._inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._cancels: queue.SimpleQueue[tuple[int, str] | None] = queue.SimpleQueue()
        self.client.subscribe_topic(self._name, self._inbox.put)
        try:
            self._refresh()
        except BaseException:
            with contextlib.suppress(Exception):
                self.client.unsubscribe_topic(self._name)
            raise
        self._threads = [
            threading.Thread(target=self._dispatch, name=f"alluxio-dask-results-{token}",
                             daemon=True),
            threading.Thread(target=self._monitor, name=f"alluxio-dask-monitor-{token}",
                             daemon=True),
            threading.Thread(target=self._send_cancels, name=f"alluxio-dask-cancel-{token}",
                             daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    # ------------------------------------------------------------ membership

    def bind(self, plans: PlanRegistry) -> None:
        self.plans = plans
        self._ensure_plugin()

    def _ensure_plugin(self) -> None:
        plans = self.plans
        if self._plugin_plans is plans:
            return
        with self._plugin_lock:
            if self._plugin_plans is plans or plans is None:
                return
            plugin = JobWorkerPlugin(self._name, self._worker_plans or plans,
                                      self._pool_size, self._resources)
            with _mapped_errors():
                self.client.register_plugin(plugin, name=self._name)
            self._plugin_plans = plans

    def workers(self) -> Sequence[WorkerInfo]:
        return self._infos

    def add_worker_listener(self, listener: Callable[[Mapping[int, str]], None]) -> None:
        """Call ``listener`` with the map of job worker id to Dask address now, and
        again each time a worker joins or leaves, before a new worker is offered to
        the master (e.g. to publish the map to the workers, as the Dask block network
        does). It runs on the transport's monitor thread and must not block for long."""
        with self._lock:
            self._listeners.append(listener)
            addresses = dict(self._addresses)
        listener(addresses)

    def _refresh(self) -> None:
        """Take a snapshot of the cluster's workers; fail the tasks of those gone."""
        with self._refresh_lock:
            self._refresh_locked()

    def _refresh_locked(self) -> None:
        with _mapped_errors():
            info = self.client.scheduler_info(n_workers=-1)
        workers: dict[str, dict[str, Any]] = info.get("workers", {})
        lost: list[tuple[int, str, list[_Pending]]] = []
        with self._lock:
            if self._closed:
                return
            for address in [a for a in self._ids if a not in workers]:
                worker_id = self._ids.pop(address)
                del self._addresses[worker_id]
                keys = self._by_worker.pop(worker_id, set())
                lost.append((worker_id, address, [self._pending[k] for k in keys]))
            joined = sorted(a for a in workers if a not in self._ids)
            for address in joined:
                worker_id = next(self._next_id)
                self._ids[address] = worker_id
                self._addresses[worker_id] = address
            addresses = dict(self._addresses)
            listeners = list(self._listeners) if joined or lost else []
        for listener in listeners:
            try:
                listener(addresses)
            except Exception:
                logger.exception("a worker listener failed")
        with self._lock:
            if self._closed:
                return
            self._health = {self._ids[a]: w for a, w in workers.items() if a in self._ids}
            self._infos = tuple(
                WorkerInfo(worker_id=self._ids[a], host=a)
                for a in sorted(workers, key=self._ids.__getitem__)
                if workers[a].get("status", "running") == "running")
        for worker_id, address, pending in lost:
            logger.warning("Dask worker %s (job worker %s) left the cluster", address,
                           worker_id)
            error = WorkerLostError(worker_id, address)
            for p in pending:
                self._resolve(p.key, error=error)
            self._cancel_dask([p.dask for p in pending if p.dask is not None])

    def _monitor(self) -> None:
        while not self._stop.wait(self._poll_interval):
            try:
                self._refresh()
            except TransportError as exc:
                logger.warning("cannot reach the Dask scheduler: %s", exc)
            except Exception:
                logger.exception("Dask worker poll failed")

    def worker_health(self) -> list[JobWorkerHealth]:
        with self._lock:
            health = sorted(self._health.items())
            unfinished = {w: len(keys) for w, keys in self._by_worker.items()}
            addresses = dict(self._addresses)
        out = []
        for worker_id, w in health:
            metrics = w.get("metrics", {}).get(self._name, {})
            pool = metrics.get("pool")
            if pool is None:
                pool = self._pool_size if self._pool_size is not None else w.get("nthreads", 0)
            out.append(JobWorkerHealth(
                worker_id=worker_id, host=addresses.get(worker_id, ""),
                load_average=list(metrics.get("load", [])), task_pool_size=pool,
                num_active_tasks=metrics.get("active", 0),
                unfinished_tasks=unfinished.get(worker_id, 0),
                last_updated=int(w.get("last_seen", 0) * 1000)))
        return out

    def set_task_pool_size(self, worker_id: int, size: int) -> None:
        check_pool_size(size)
        address = self._address(worker_id)
        self._ensure_plugin()
        with _mapped_errors(worker_id, address):
            self.client.run(set_pool_size_on_worker, self._name, size, workers=[address])

    def _address(self, worker_id: int) -> str:
        address = self._addresses.get(worker_id)
        if address is None:
            if self._closed:
                raise ClosedError("DaskTransport")
            raise WorkerNotFoundError(worker_id)
        return address

    # ----------------------------------------------------------------- tasks

    def submit(self, worker_id: int, request: TaskRequest,
               on_running: Callable[[], None] | None = None) -> "Future[TaskResult]":
        if self._closed:
            raise ClosedError("DaskTransport")
        self._ensure_plugin()
        data = encode_request(request)
        key = (f"alluxio-job-{request.job_id}-task-{request.task_id}-{request.attempt}"
               f"-{self._token}-{next(self._seq)}")
        pending = _Pending(key, worker_id, request, on_running)
        with self._lock:
            if self._closed:
                raise ClosedError("DaskTransport")
            address = self._addresses.get(worker_id)
            if address is None:
                raise WorkerNotFoundError(worker_id)
            self._pending[key] = pending
            self._by_task[(worker_id, request.job_id, request.task_id)] = key
            self._by_worker.setdefault(worker_id, set()).add(key)
        try:
            with _mapped_errors(worker_id, address):
                dask_future = self.client.submit(
                    execute_task, self._name, key, worker_id, address, data, key=key,
                    workers=[address], allow_other_workers=False, pure=False)
        except TransportError:
            self._forget(key)
            raise
        pending.dask = dask_future
        if pending.future.done():  # lost or closed meanwhile: nothing waits for it
            self._cancel_dask([dask_future])
        else:
            dask_future.add_done_callback(self._inbox.put)
        return pending.future

    def cancel(self, worker_id: int, job_id: int, task_id: int,
               reason: str | None = None) -> None:
        key = self._by_task.get((worker_id, job_id, task_id))
        if key is not None and key in self._pending:
            self._cancels.put((worker_id, key))

    def _send_cancels(self) -> None:
        while True:
            item = self._cancels.get()
            batch = [item]
            with contextlib.suppress(queue.Empty):
                while True:
                    batch.append(self._cancels.get_nowait())
            if None not in batch:  # skip workers that left: Dask would retry them for long
                with contextlib.suppress(Exception):
                    self._refresh()
            by_address: dict[str, list[str]] = {}
            for entry in batch:
                if entry is None:
                    continue
                worker_id, key = entry
                address = self._addresses.get(worker_id)
                if address is not None:
                    by_address.setdefault(address, []).append(key)
            for address, keys in by_address.items():
                try:
                    with _mapped_errors():
                        self.client.run(cancel_on_worker, self._name, keys,
                                        workers=[address], on_error="ignore")
                except Exception as exc:  # noqa: BLE001 - the worker is gone or going
                    logger.info("cancel on %s failed: %s", address, exc)
            if None in batch:
                return

    # ---------------------------------------------------------------- results

    def _dispatch(self) -> None:
        """Results thread: worker events and finished Dask futures, in arrival order."""
        while True:
            item = self._inbox.get()
            if item is None:
                return
            try:
                if isinstance(item, distributed.Future):
                    self._on_dask_done(item)
                else:  # (timestamp, message) from the event broker
                    self._on_event(item[1])
            except Exception:
                logger.exception("failed to handle a Dask task update")

    def _on_event(self, message: Sequence[Any]) -> None:
        kind, key = message[0], message[1]
        if kind == "r":
            pending = self._pending.get(key)
            if pending is not None and not pending.running:
                pending.running = True
                if pending.on_running is not None:
                    try:
                        pending.on_running()
                    except Exception:
                        logger.exception("task-running callback failed for %s", key)
        elif kind == "d" and key in self._pending:
            self._resolve(key, self._decode(message[2]))

    def _on_dask_done(self, dask_future: Any) -> None:
        key = dask_future.key
        pending = self._pending.get(key)
        if pending is None:
            return
        status = dask_future.status
        address = self._addresses.get(pending.worker_id, "")
        try:
            with _mapped_errors(pending.worker_id, address):
                if status == "finished":
                    data = dask_future.result(timeout=self._close_timeout)
                    self._resolve(key, TaskResult.canceled() if data is None
                                  else self._decode(data))
                    return
                exc = dask_future.exception(timeout=self._close_timeout)
                if exc is None:
                    exc = TransportError(f"task {key} ended as {status} on the Dask cluster")
        except TransportError as failed:
            exc = failed
        if pending.worker_id not in self._addresses:
            exc = WorkerLostError(pending.worker_id, address)
        else:  # it may still run there: stop it (it is re-scheduled elsewhere)
            self._cancels.put((pending.worker_id, key))
        error = translate_dask_error(exc, pending.worker_id, address)
        if error is not exc:
            error.__cause__ = exc
        self._resolve(key, error=error)

    def _decode(self, data: Mapping[str, Any]) -> TaskResult:
        try:
            return decode_result(data)
        except Exception as exc:  # noqa: BLE001 - recorded on the task
            return TaskResult.failed(error_type_of(exc), f"cannot read the task result: {exc}")

    def _resolve(self, key: str, result: TaskResult | None = None,
                 error: BaseException | None = None) -> None:
        pending = self._forget(key)
        if pending is None:
            return
        with contextlib.suppress(InvalidStateError):
            if error is not None:
                pending.future.set_exception(error)
            else:
                pending.future.set_result(result)  # type: ignore[arg-type]

    def _forget(self, key: str) -> _Pending | None:
        with self._lock:
            pending = self._pending.pop(key, None)
            if pending is None:
                return None
            task = (pending.worker_id, pending.job_id, pending.task_id)
            if self._by_task.get(task) == key:
                del self._by_task[task]
            keys = self._by_worker.get(pending.worker_id)
            if keys is not None:
                keys.discard(key)
            if not self._pending:
                self._drained.notify_all()
        return pending

    def _cancel_dask(self, futures: list[Any]) -> None:
        if not futures:
            return
        try:
            with _mapped_errors():
                self.client.cancel(futures)
        except TransportError as exc:
            logger.info("cannot cancel Dask futures: %s", exc)

    # ------------------------------------------------------------------ close

    def close(self) -> None:
        """Stop every task (queued ones are dropped, running ones asked to stop and
        waited for up to ``close_timeout``), remove the worker plugin, stop the
        transport's threads. The client stays open. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            pending = list(self._pending.values())
        for p in pending:
            self._cancels.put((p.worker_id, p.key))
        deadline = time.monotonic() + self._close_timeout
        with self._drained:
            while self._pending and time.monotonic() < deadline:
                self._drained.wait(min(0.1, max(0.0, deadline - time.monotonic())))
            left = list(self._pending.values())
        for p in left:
            self._resolve(p.key, TaskResult.canceled())
        self._cancel_dask([p.dask for p in left if p.dask is not None])
        self._stop.set()
        self._cancels.put(None)
        with contextlib.suppress(Exception):
            self.client.unsubscribe_topic(self._name)
        self._inbox.put(None)
        current = threading.current_thread()
        for thread in self._threads:
            if thread is not current:
                thread.join()
        if self._plugin_plans is not None:
            try:
                with _mapped_errors():
                    self.client.unregister_worker_plugin(self._name)
            except Exception as exc:  # noqa: BLE001 - the cluster may be gone already
                logger.info("cannot remove the job worker plugin: %s", exc)
        with self._lock:
            self._infos = ()
            self._health = {}

