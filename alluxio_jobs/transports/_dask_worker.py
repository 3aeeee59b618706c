"""The worker side of the Dask transport: the plugin on every Dask worker.

:class:`JobWorkerPlugin` is registered once per
:class:`~alluxio_jobs.transports.dask.DaskTransport` and pickled to each Dask worker,
which imports this module to rebuild it: it holds the plans, runs the tasks, gates
them to the task pool size, keeps each running task's cancel flag and reports health
in the worker's heartbeat. The functions below are what the master sends to run there
(``client.submit`` and ``client.run``). Nothing here runs on the master.
"""

import collections
import contextlib
import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import distributed
from distributed.diagnostics.plugin import WorkerPlugin

from alluxio_jobs.errors import TransportError
from alluxio_jobs.model import TaskResult, WorkerInfo
from alluxio_jobs.plans.base import CancelSignal, PlanRegistry
from alluxio_jobs.transports._dask_codec import decode_request, encode_result
from alluxio_jobs.worker import error_type_of, run_task

__all__ = [
    "JobWorkerPlugin",
    "ResourceFactory",
    "cancel_on_worker",
    "execute_task",
    "set_pool_size_on_worker",
]

# the transport's logger, as when this code lived in alluxio_jobs.transports.dask
logger = logging.getLogger("alluxio_jobs.transports.dask")

ResourceFactory = Callable[[WorkerInfo], Mapping[str, Any]]

_CANCELED = encode_result(TaskResult.canceled())


class JobWorkerPlugin(WorkerPlugin):
    """Lives on every Dask worker of a transport: runs its tasks with its plans."""

    #: how many finished and canceled-before-start task keys a worker remembers
    REMEMBER = 10_000

    def __init__(self, name: str, plans: "PlanRegistry | Callable[[], PlanRegistry]",
                 pool_size: int | None, resources: ResourceFactory | None) -> None:
        self.name = name
        self.plans: Any = plans  # a registry, or a factory called in setup()
        self.pool_size = pool_size
        self.resource_factory = resources
        self._init_state()

    def _init_state(self) -> None:
        self.worker: Any = None
        self.cond = threading.Condition(threading.Lock())
        self.running: dict[str, CancelSignal] = {}
        self.canceled: collections.OrderedDict[str, None] = collections.OrderedDict()
        self.finished: collections.OrderedDict[str, None] = collections.OrderedDict()
        self.active = 0
        self.nthreads = 1
        self.limit = 1
        self.resources: dict[int, Mapping[str, Any]] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"name": self.name, "plans": self.plans, "pool_size": self.pool_size,
                "resources": self.resource_factory}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.name = state["name"]
        self.plans = state["plans"]
        self.pool_size = state["pool_size"]
        self.resource_factory = state["resources"]
        self._init_state()

    def setup(self, worker: Any) -> None:
        if not isinstance(self.plans, PlanRegistry):
            self.plans = self.plans()
        self.worker = worker
        self.nthreads = worker.state.nthreads
        self.limit = self.pool_size if self.pool_size is not None else self.nthreads
        worker.metrics[self.name] = self._metrics

    def teardown(self, worker: Any) -> None:
        worker.metrics.pop(self.name, None)
        with self.cond:
            self.limit = max(self.limit, 1)
            for signal in self.running.values():
                signal.set()
            resources, self.resources = list(self.resources.values()), {}
            self.cond.notify_all()
        for mapping in resources:
            for value in mapping.values():
                close = getattr(value, "close", None)
                if callable(close):
                    try:
                        close()
                    except Exception:
                        logger.exception("closing a job worker resource failed")

    def _metrics(self, worker: Any) -> dict[str, Any]:
        try:
            load = [round(x, 2) for x in os.getloadavg()]
        except OSError:  # pragma: no cover - platforms without getloadavg
            load = []
        return {"load": load, "active": self.active, "pool": self.limit}

    def _remember(self, table: "collections.OrderedDict[str, None]", key: str) -> None:
        table[key] = None
        if len(table) > self.REMEMBER:
            table.popitem(last=False)

    # -- on a task thread

    def execute(self, key: str, worker_id: int, host: str, data: dict[str, Any]) -> Any:
        with self.cond:
            while key not in self.canceled and self.active >= self.limit:
                self.cond.wait()
            if key in self.canceled:
                return None  # dropped before it started; the master was told
            signal = CancelSignal()
            self.running[key] = signal
            self.active += 1
            secede = self.limit > self.nthreads
        try:
            if secede:  # a pool larger than the Dask worker's threads
                distributed.secede()
            self.worker.log_event(self.name, ["r", key])
            result = self._run(worker_id, host, data, signal)
        finally:
            with self.cond:
                del self.running[key]
                self.active -= 1
                self._remember(self.finished, key)
                self.cond.notify_all()
        out = encode_result(result)
        with contextlib.suppress(TypeError):  # not plain data: the master fetches `out`
            self.worker.log_event(self.name, ["d", key, out])
        return out

    def _run(self, worker_id: int, host: str, data: dict[str, Any],
             signal: CancelSignal) -> TaskResult:
        info = WorkerInfo(worker_id=worker_id, host=host)
        try:
            request = decode_request(data)
            resources = self._resources_for(info)
        except Exception as exc:  # noqa: BLE001 - recorded on the task
            return TaskResult.failed(error_type_of(exc), str(exc) or type(exc).__name__)
        return run_task(self.plans, request, info, signal, resources)

    def _resources_for(self, info: WorkerInfo) -> Mapping[str, Any] | None:
        if self.resource_factory is None:
            return None
        with self.cond:
            resources = self.resources.get(info.worker_id)
        if resources is None:
            resources = self.resource_factory(info)
            with self.cond:
                resources = self.resources.setdefault(info.worker_id, resources)
        return resources

    # -- on the worker's event loop (client.run)

    def cancel(self, keys: Sequence[str]) -> None:
        dropped = []
        with self.cond:
            for key in keys:
                signal = self.running.get(key)
                if signal is not None:
                    signal.set()
                elif key not in self.finished and key not in self.canceled:
                    self._remember(self.canceled, key)
                    dropped.append(key)
            self.cond.notify_all()
        for key in dropped:
            self.worker.log_event(self.name, ["d", key, _CANCELED])

    def set_pool_size(self, size: int) -> None:
        with self.cond:
            self.limit = size
            self.cond.notify_all()


def _plugin(name: str) -> JobWorkerPlugin:
    plugin = distributed.get_worker().plugins.get(name)
    if not isinstance(plugin, JobWorkerPlugin):
        raise TransportError(f"job worker plugin {name} is not set up on this Dask worker")
    return plugin


def execute_task(name: str, key: str, worker_id: int, host: str, data: dict[str, Any]) -> Any:
    """The Dask task: run one job task on this worker's plugin."""
    return _plugin(name).execute(key, worker_id, host, data)


def cancel_on_worker(name: str, keys: list[str], dask_worker: Any = None) -> None:
    plugin = dask_worker.plugins.get(name) if dask_worker is not None else None
    if isinstance(plugin, JobWorkerPlugin):
        plugin.cancel(keys)


def set_pool_size_on_worker(name: str, size: int, dask_worker: Any = None) -> None:
    plugin = dask_worker.plugins.get(name) if dask_worker is not None else None
    if not isinstance(plugin, JobWorkerPlugin):
        raise TransportError(f"job worker plugin {name} is not set up on this Dask worker")
    plugin.set_pool_size(size)
