"""Fault injection for tests: :class:`FaultyTransport` wraps any transport and injects
the faults a policy function picks (re-exported by :mod:`alluxio_jobs.testing`)."""

import contextlib
import random
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, InvalidStateError

import attrs

from alluxio_jobs.errors import (
    ClosedError,
    TransportError,
    WorkerLostError,
    WorkerNotFoundError,
)
from alluxio_jobs.model import JobWorkerHealth, TaskRequest, TaskResult, WorkerInfo
from alluxio_jobs.plans.base import PlanRegistry
from alluxio_jobs.transports.base import WorkerTransport

__all__ = [
    "Delay",
    "DropTask",
    "FailTask",
    "Fault",
    "FaultPolicy",
    "FaultyTransport",
    "Hold",
    "LoseWorker",
    "RandomFaults",
    "RejectSubmit",
]


@attrs.frozen
class LoseWorker:
    """The task's worker is lost: the task fails with WorkerLostError and the worker
    disappears from ``workers()``."""


@attrs.frozen
class FailTask:
    """The task fails with this message, without running."""

    message: str = "injected failure"
    error_type: str = "InjectedFault"


@attrs.frozen
class DropTask:
    """The request never arrives: the future fails with TransportError."""


@attrs.frozen
class RejectSubmit:
    """``submit`` itself raises ``exc``."""

    exc: BaseException


@attrs.frozen
class Hold:
    """The task is handed to the inner transport only once ``event`` is set."""

    event: threading.Event


@attrs.frozen
class Delay:
    """The task is handed to the inner transport after ``seconds``."""

    seconds: float


Fault = LoseWorker | FailTask | DropTask | RejectSubmit | Hold | Delay
FaultPolicy = Callable[[int, TaskRequest], Fault | None]


class RandomFaults:
    """A fault policy that injects each kind of fault with a given probability per task.

    Seeded and thread-safe, so a run can be repeated (with one submitting thread, the
    same seed gives the same faults). ``counts`` tells how many of each were injected.
    Each rate is a probability per submitted task; a :class:`Delay` lasts a uniform
    0..``delay_seconds``::

        faults = RandomFaults(seed=7, lose=0.001, fail=0.01, drop=0.01, reject=0.01,
                              delay=0.05, delay_seconds=0.002)
        transport = FaultyTransport(LocalTransport(num_workers=4), faults)
    """

    def __init__(self, seed: int | None = None, *, lose: float = 0.0, fail: float = 0.0,
                 drop: float = 0.0, reject: float = 0.0, delay: float = 0.0,
                 delay_seconds: float = 0.001) -> None:
        rates = {"lose": lose, "fail": fail, "drop": drop, "reject": reject, "delay": delay}
        for name, rate in rates.items():
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name}: must be in 0..1, got {rate!r}")
        if sum(rates.values()) > 1.0:
            raise ValueError(f"the rates add up to more than 1: {rates!r}")
        self.rates = rates
        self.delay_seconds = delay_seconds
        self.counts: dict[str, int] = dict.fromkeys(rates, 0)
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def __call__(self, worker_id: int, request: TaskRequest) -> Fault | None:
        with self._lock:
            draw = self._random.random()
            seconds = self._random.uniform(0.0, self.delay_seconds)
            for name, rate in self.rates.items():
                if draw < rate:
                    self.counts[name] += 1
                    break
                draw -= rate
            else:
                return None
        if name == "lose":
            return LoseWorker()
        if name == "fail":
            return FailTask()
        if name == "drop":
            return DropTask()
        if name == "reject":
            return RejectSubmit(TransportError(f"task {request.task_id} of job "
                                               f"{request.job_id} was rejected"))
        return Delay(seconds)


class FaultyTransport(WorkerTransport):
    """Wraps ``inner`` and injects the fault ``faults(worker_id, request)`` returns.

    :meth:`kill_worker` loses a worker on demand: it leaves ``workers()`` and every
    task sent to it and not yet finished fails with ``WorkerLostError``.
    """

    def __init__(self, inner: WorkerTransport, faults: FaultPolicy | None = None, *,
                 on_worker_lost: Callable[[int], None] | None = None) -> None:
        self.inner = inner
        self.faults: FaultPolicy = faults or (lambda worker_id, request: None)
        #: Called with the worker id once a worker is lost (a LoseWorker fault or
        #: :meth:`kill_worker`), before its tasks are failed, e.g. to start a
        #: replacement; it runs in the thread that lost the worker, so hand slow work
        #: to another thread.
        self.on_worker_lost = on_worker_lost
        self._lock = threading.Lock()
        self._dead: set[int] = set()
        self._inflight: dict[int, dict[tuple[int, int], Future[TaskResult]]] = {}
        self._held: dict[tuple[int, int, int], threading.Event] = {}
        self._threads: list[threading.Thread] = []
        self._closing = threading.Event()
        self._closed = False

    def bind(self, plans: PlanRegistry) -> None:
        super().bind(plans)
        self.inner.bind(plans)

    def workers(self) -> Sequence[WorkerInfo]:
        dead = self._dead
        return [w for w in self.inner.workers() if w.worker_id not in dead]

    def worker_health(self) -> list[JobWorkerHealth]:
        return [h for h in self.inner.worker_health() if h.worker_id not in self._dead]

    def set_task_pool_size(self, worker_id: int, size: int) -> None:
        self.inner.set_task_pool_size(worker_id, size)

    def kill_worker(self, worker_id: int) -> None:
        """Lose ``worker_id`` now."""
        host = next((w.host for w in self.inner.workers() if w.worker_id == worker_id), "")
        with self._lock:
            already = worker_id in self._dead
            self._dead.add(worker_id)
            futures = list(self._inflight.pop(worker_id, {}).values())
            held = [event for key, event in self._held.items() if key[0] == worker_id]
        if self.on_worker_lost is not None and not already:
            self.on_worker_lost(worker_id)
        for future in futures:  # before the held tasks wake: they fail, not cancel
            _set_exception(future, WorkerLostError(worker_id, host))
        for event in held:
            event.set()

    def submit(self, worker_id: int, request: TaskRequest,
               on_running: Callable[[], None] | None = None) -> "Future[TaskResult]":
        if self._closed:
            raise ClosedError("FaultyTransport")
        if worker_id in self._dead or all(w.worker_id != worker_id for w in self.inner.workers()):
            raise WorkerNotFoundError(worker_id)
        fault = self.faults(worker_id, request)
        if isinstance(fault, RejectSubmit):
            raise fault.exc
        outer: Future[TaskResult] = Future()
        key = (request.job_id, request.task_id)
        with self._lock:
            if worker_id in self._dead:  # lost since the check above
                raise WorkerNotFoundError(worker_id)
            self._inflight.setdefault(worker_id, {})[key] = outer
        outer.add_done_callback(lambda _f: self._forget(worker_id, key, outer))
        if isinstance(fault, LoseWorker):
            self.kill_worker(worker_id)
        elif isinstance(fault, FailTask):
            _set_result(outer, TaskResult.failed(fault.error_type, fault.message))
        elif isinstance(fault, DropTask):
            _set_exception(outer, TransportError(f"task {key} was dropped"))
        elif isinstance(fault, Hold | Delay):
            self._hold(worker_id, request, on_running, outer, fault)
        else:
            self._forward(worker_id, request, on_running, outer)
        return outer

    def _forget(self, worker_id: int, key: tuple[int, int], future: "Future[TaskResult]") -> None:
        with self._lock:
            futures = self._inflight.get(worker_id)
            if futures is not None and futures.get(key) is future:
                del futures[key]

    def _forward(self, worker_id: int, request: TaskRequest,
                 on_running: Callable[[], None] | None, outer: "Future[TaskResult]") -> None:
        if outer.done():
            return
        try:
            inner = self.inner.submit(worker_id, request, on_running)
        except Exception as exc:  # noqa: BLE001 - isolated and recorded
            _set_exception(outer, exc if isinstance(exc, TransportError)
                           else TransportError(f"{type(exc).__name__}: {exc}"))
            return
        inner.add_done_callback(lambda f: _copy(f, outer))

    def _hold(self, worker_id: int, request: TaskRequest, on_running: Callable[[], None] | None,
              outer: "Future[TaskResult]", fault: "Hold | Delay") -> None:
        canceled = threading.Event()  # set by a cancel of the task, or by close
        key = (worker_id, request.job_id, request.task_id)
        with self._lock:
            self._held[key] = canceled
            if self._closing.is_set():
                canceled.set()

        def wait_then_forward() -> None:
            if isinstance(fault, Delay):
                canceled.wait(fault.seconds)
            else:  # the user's event cannot wake this thread on a cancel: look often
                while not (fault.event.is_set() or canceled.is_set()):
                    fault.event.wait(0.01)
            with self._lock:
                self._held.pop(key, None)
            if canceled.is_set() or self._closing.is_set():
                _set_result(outer, TaskResult.canceled())
            else:
                self._forward(worker_id, request, on_running, outer)

        thread = threading.Thread(target=wait_then_forward, daemon=True,
                                  name=f"alluxio-faulty-hold-{request.job_id}-{request.task_id}")
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def cancel(self, worker_id: int, job_id: int, task_id: int,
               reason: str | None = None) -> None:
        held = self._held.get((worker_id, job_id, task_id))
        if held is not None:
            held.set()
            return
        self.inner.cancel(worker_id, job_id, task_id, reason)

    def close(self) -> None:
        self._closed = True
        self._closing.set()
        with self._lock:
            threads = list(self._threads)
            for canceled in self._held.values():
                canceled.set()
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join()
        self.inner.close()


def _copy(source: "Future[TaskResult]", target: "Future[TaskResult]") -> None:
    exc = source.exception()
    if exc is not None:
        _set_exception(target, exc)
    else:
        _set_result(target, source.result())


def _set_result(future: "Future[TaskResult]", result: TaskResult) -> None:
    with contextlib.suppress(InvalidStateError):  # already resolved (its worker was killed)
        future.set_result(result)


def _set_exception(future: "Future[TaskResult]", exc: BaseException) -> None:
    with contextlib.suppress(InvalidStateError):  # already resolved
        future.set_exception(exc)


