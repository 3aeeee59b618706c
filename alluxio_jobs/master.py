"""The job master: takes job configs, plans them into tasks, runs them on workers, tracks them.

Wiring only: the state machine is :mod:`alluxio_jobs._tracker`, task delivery is the
:class:`~alluxio_jobs.transports.WorkerTransport`, and job types are plans from the
:class:`~alluxio_jobs.plans.PlanRegistry`. One lock guards the tracker; plans and
transports are always called outside it, so one slow ``select_executors`` never
stalls other submissions and transport callbacks can never deadlock the master.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import CancelledError, Future
from typing import Any, Self

from alluxio_jobs._journal import BatchRows, StoreWriter, restore
from alluxio_jobs._lost_workers import LostWorkerDetector
from alluxio_jobs._tracker import JobTracker, Outcome
from alluxio_jobs.errors import (
    AlluxioJobsError,
    ClosedError,
    JobConfigError,
    JobNotFoundError,
    JobTimeoutError,
    ResourceExhaustedError,
    TransportError,
)
from alluxio_jobs.model import (
    JobInfo,
    JobServiceSummary,
    JobWorkerHealth,
    MasterConfig,
    Status,
    TaskRequest,
    TaskResult,
    WorkerInfo,
)
from alluxio_jobs.plans.base import JobConfig, JobPlan, PlanRegistry, SelectContext, WorkflowConfig
from alluxio_jobs.stores.base import JobStore, StoreSource
from alluxio_jobs.transports.base import WorkerTransport
from alluxio_jobs.transports.local import LocalTransport
from alluxio_jobs.worker import error_type_of

__all__ = ["JobMaster"]

logger = logging.getLogger(__name__)


class _Waiter:
    """Who waits for one job: ``wait`` callers (the event) and done callbacks."""

    __slots__ = ("callbacks", "event", "info")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.info: JobInfo | None = None  # captured when the job finishes
        self.callbacks: builtins.list[Callable[[JobInfo], None]] = []


class _Guard:
    """``with master._guard:`` holds the master lock; leaving applies posted events."""

    __slots__ = ("_master",)

    def __init__(self, master: JobMaster) -> None:
        self._master = master

    def __enter__(self) -> None:
        master = self._master
        master._lock.acquire()
        if master._events:  # readers see every event posted before they got the lock
            master._apply_events()

    def __exit__(self, *exc_info: object) -> None:
        self._master._release()


class JobMaster:
    """An embeddable job master (Alluxio's ``JobMaster``). Thread-safe; a context manager.

    ``transport=None`` runs one in-process worker (:class:`LocalTransport`);
    ``plans=None`` knows the built-in job types (:meth:`PlanRegistry.default`).
    ``clock`` returns seconds since the epoch (tests pass a manual clock).

    Typical use::

        with JobMaster(transport=LocalTransport(num_workers=3)) as master:
            job_id = master.run(SleepConfig(time_ms=10))
            info = master.wait(job_id, timeout=30)
            print(info.status)

    :meth:`close` cancels unfinished jobs, closes the transport and stops the
    master's thread; it is idempotent.
    """

    def __init__(
        self,
        config: MasterConfig | None = None,
        transport: WorkerTransport | None = None,
        plans: PlanRegistry | None = None,
        *,
        store: JobStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if config is None:
            config = MasterConfig()
        elif not isinstance(config, MasterConfig):
            raise JobConfigError("config", config, "must be a MasterConfig")
        self.config = config
        self.plans = plans if plans is not None else PlanRegistry.default()
        self.transport = transport if transport is not None else LocalTransport()
        self.transport.bind(self.plans)
        self._clock = clock
        self._lock = threading.Lock()
        self._guard = _Guard(self)
        # Task events from worker threads: applied by whichever thread holds the lock,
        # so a worker thread never blocks on the master lock.
        self._events: deque[Callable[[int], Outcome | None]] = deque()
        self._deferred: builtins.list[Outcome] = []  # outcomes of applied events, to follow
        self._tracker = JobTracker(
            capacity=config.job_capacity,
            retention_ms=int(config.finished_job_retention * 1000),
            purge_count=config.finished_job_purge_count,
        )
        self._last_now = 0
        self._next_id = int(clock() * 1000) + 10_000  # Alluxio's JobIdGenerator
        self._waiters: dict[int, _Waiter] = {}
        self._closed = False
        self.store = store
        self._writer: StoreWriter | None = None
        self._unwritten: set[int] = set()  # taken by the store writer, not yet written
        self._unwritten_purged: builtins.list[int] = []
        self._unwritten_created: set[int] = set()
        rerun: builtins.list[tuple[int, Any]] = []
        if store is not None:
            self._tracker.dirty, self._tracker.created = set(), set()
            self._tracker.purged = []
            next_id, rerun = restore(self._tracker, store, config.on_restart)
            self._next_id = max(self._next_id, next_id)
            self._writer = StoreWriter(store, config.store_flush_interval, self._take_batch,
                                       self._written, self._cancel_request,
                                       self.transport.worker_health)
        self._detector = LostWorkerDetector(
            timeout=config.worker_timeout, interval=config.lost_worker_interval,
            health=self.transport.worker_health, now=self._locked_now, on_lost=self.fail_worker)
        self._detector.start()
        for job_id, job_config in rerun:
            try:
                self._follow(self._start(job_config, None, self._check_config(job_config),
                                         job_id)[1])
            except AlluxioJobsError:
                logger.exception("job %s could not be re-run after the restart", job_id)

    # ------------------------------------------------------------------ public API

    def run(self, job_config: JobConfig) -> int:
        """Submit a job and return its id without waiting for it.

        :raises JobConfigError: ``job_config`` is not a job config (nothing is tracked)
        :raises UnknownJobTypeError: no plan for it, or for a workflow child (nothing tracked)
        :raises ResourceExhaustedError: at capacity and nothing could be purged
        :raises ClosedError: after :meth:`close`
        """
        plan = self._check_config(job_config)
        job_id, outcomes = self._start(job_config, None, plan)
        self._follow(outcomes)
        assert job_id is not None
        return job_id

    def cancel(self, job_id: int, reason: str | None = None) -> None:
        """Cancel a job: queued tasks are dropped, running ones stop at their next check.

        The job is CANCELED once none of its tasks runs. A finished job is left as it is.

        :raises JobNotFoundError: unknown id
        """
        with self._guard:
            out = self._tracker.cancel(job_id, self._now())
        self._follow([out], reason)

    def get_status(self, job_id: int, verbose: bool = False) -> JobInfo:
        """A snapshot of the job; ``verbose`` adds every task (``job stat -v``).

        :raises JobNotFoundError: unknown (or purged) id
        """
        with self._guard:
            return self._tracker.info(job_id, verbose)

    def wait(self, job_id: int, timeout: float | None = None) -> JobInfo:
        """Block until the job is finished, whatever its status, and return its info.

        :raises JobTimeoutError: ``timeout`` seconds passed first (the job keeps running)
        :raises JobNotFoundError: unknown id
        """
        with self._guard:
            waiter, info, finished = self._register(job_id)
        if waiter is None:
            assert info is not None
            return info
        if finished and self._writer is not None:
            self._writer.kick()  # finished but not yet durable: write it now
        if not waiter.event.wait(timeout):
            raise JobTimeoutError(job_id, timeout if timeout is not None else 0.0)
        if waiter.info is None:  # purged before anyone looked
            raise JobNotFoundError(job_id)
        return waiter.info

    def add_done_callback(self, job_id: int, fn: Callable[[JobInfo], None]) -> None:
        """Call ``fn(info)`` once the job is finished (with a store: once that is written),
        in the thread that finished it, or at once if it already is. Callbacks run before
        :meth:`wait` returns for that job, so a plan can clean up after a failed job
        before anyone sees it finished. Exceptions raised by ``fn`` are logged and ignored.

        :raises JobNotFoundError: unknown id
        """
        with self._guard:
            waiter, info, finished = self._register(job_id)
            if waiter is not None:
                waiter.callbacks.append(fn)
        if waiter is None:
            assert info is not None
            _call(fn, info)
        elif finished and self._writer is not None:
            self._writer.kick()

    def new_id(self) -> int:
        """A fresh id from the job id generator (Alluxio numbers distributed commands
        from the same generator, so a command id never equals a job id)."""
        with self._guard:
            new_id = self._next_id
            self._next_id += 1
            return new_id

    def add_store_source(self, source: StoreSource) -> Callable[[], None] | None:
        """Have the store writer write ``source``'s records (the distributed commands
        of a file system) in its batches, until the master closes. Returns the function
        that asks for a write now (as :meth:`wait` does for a finished job), or None
        when the master has no store or is closed."""
        with self._guard:
            if self._writer is None or self._closed:
                return None
            self._writer.add_source(source)
            return self._writer.kick

    def list(self, statuses: Iterable[Status | str] | None = None,
             name: str | None = None) -> builtins.list[int]:
        """Ids of tracked jobs in ascending order, filtered by status and name."""
        wanted = _statuses(statuses)
        with self._guard:
            return self._tracker.ids(wanted, name)

    def list_info(self, statuses: Iterable[Status | str] | None = None,
                  name: str | None = None) -> builtins.list[JobInfo]:
        """Like :meth:`list`, with each job's name, status and times (no tasks, no children)."""
        wanted = _statuses(statuses)
        with self._guard:
            return self._tracker.infos(wanted, name)

    def summary(self) -> JobServiceSummary:
        """Counts per status and the three top-10 lists, from indexes (no scan)."""
        with self._guard:
            return self._tracker.summary()

    def worker_health(self) -> builtins.list[JobWorkerHealth]:
        """Health of every registered job worker, by ascending worker id."""
        return self.transport.worker_health()

    def close(self) -> None:
        """Cancel unfinished jobs, close the transport, stop the master's thread. Idempotent."""
        with self._guard:
            if self._closed:
                return
            self._closed = True
            now = self._now()
            outcomes = [self._tracker.cancel(jid, now) for jid in self._tracker.unfinished_ids()]
        self._follow(outcomes, "job master closed")
        self._detector.close()
        self.transport.close()
        if self._writer is not None:
            self._writer.close()
            assert self.store is not None
            self.store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---------------------------------------------------------------- submission

    def _locked_now(self) -> int:
        with self._guard:
            return self._now()

    def _now(self) -> int:
        """The clock in ms, never earlier than a time already used (call under the lock)."""
        now = int(self._clock() * 1000)
        if now < self._last_now:
            return self._last_now
        self._last_now = now
        return now

    def _check_config(self, config: object,
                      field: str = "job_config") -> JobPlan[Any, Any, Any] | None:
        """The config's plan (None for a workflow, whose children are checked instead)."""
        if not isinstance(config, JobConfig):
            raise JobConfigError(field, config, "must be a JobConfig")
        if isinstance(config, WorkflowConfig):
            for s, step in enumerate(config.steps()):
                for j, child in enumerate(step):
                    self._check_config(child, f"{field}.steps[{s}][{j}]")
            return None
        return self.plans.get(config)

    def _start(self, config: JobConfig, parent: int | None, plan: JobPlan[Any, Any, Any] | None,
               job_id: int | None = None) -> tuple[int | None, builtins.list[Outcome]]:
        """Track a new job, then (outside the lock) let its plan choose its tasks."""
        with self._guard:
            now = self._now()
            if parent is None and self._closed:
                raise ClosedError("JobMaster")
            try:
                self._tracker.admit(now)
            except ResourceExhaustedError as exc:
                if parent is None:
                    raise
                return None, [self._tracker.child_start_failed(parent, type(exc).__name__,
                                                               str(exc), now)]
            if job_id is None:
                job_id = self._next_id
                self._next_id += 1
            steps = config.steps() if isinstance(config, WorkflowConfig) else None
            added, out = self._tracker.add_job(job_id, config, config.name, plan, now, parent,
                                               steps)
        if not added:
            return None, [out]
        if plan is None:
            return job_id, [out]
        return job_id, [out, self._select(job_id, config, plan)]

    def _select(self, job_id: int, config: JobConfig, plan: JobPlan[Any, Any, Any]) -> Outcome:
        workers = self._live_workers()
        try:
            pairs = plan.select_executors(config, workers, SelectContext(job_id=job_id))
            pairs = _checked_pairs(pairs)
        except Exception as exc:  # noqa: BLE001 - recorded on the job
            with self._guard:
                return self._tracker.fail_job(job_id, error_type_of(exc), str(exc), self._now())
        with self._guard:
            return self._tracker.set_tasks(job_id, pairs, self._now())

    def _live_workers(self) -> Sequence[WorkerInfo]:
        workers = self.transport.workers()
        lost = self._detector.lost
        return [w for w in workers if w.worker_id not in lost] if lost else workers

    def _follow(self, outcomes: builtins.list[Outcome], reason: str | None = None) -> None:
        """Carry out what the tracker asked for, until nothing is left to do."""
        transport = self.transport
        todo = [o for o in outcomes if o is not None]
        while todo:
            out = todo.pop()
            for worker_id, job_id, task_id in out.cancel:
                transport.cancel(worker_id, job_id, task_id, reason)
            for job_id, task_id, attempt, worker, config, args, plan in out.submit:
                more = self._submit(job_id, task_id, attempt, worker, config, args, plan)
                if more is not None:
                    todo.append(more)
            for job_id in out.join:
                todo.append(self._join(job_id))
            for parent, config in out.start:
                plan = None if isinstance(config, WorkflowConfig) else self.plans.get(config)
                todo.extend(self._start(config, parent, plan)[1])
            if out.finished and self._waiters:
                if self._writer is None:
                    self._wake(out.finished)
                else:
                    self._capture(out.finished)
                    self._writer.kick()

    def _submit(self, job_id: int, task_id: int, attempt: int, worker: WorkerInfo,
                config: Any, args: Any, plan: JobPlan[Any, Any, Any]) -> Outcome | None:
        request = TaskRequest(job_id=job_id, task_id=task_id, attempt=attempt, config=config,
                              args=args)
        on_running = functools.partial(self._task_running, job_id, task_id, attempt)
        try:
            future = self.transport.submit(worker.worker_id, request, on_running)
        except (TransportError, LookupError):
            return self._lost(job_id, task_id, attempt, worker)
        except Exception as exc:  # noqa: BLE001 - e.g. ClosedError: the task fails
            failed = TaskResult.failed(error_type_of(exc), str(exc))
            with self._guard:
                return self._tracker.task_done(job_id, task_id, attempt, failed, self._now())
        hook = (functools.partial(plan.on_task_completed, config, args, worker=worker)
                if plan.has_task_hook else None)
        future.add_done_callback(
            functools.partial(self._task_done, job_id, task_id, attempt, worker, hook))
        if self._tracker.cancel_requested(job_id):  # a cancel that ran before submit
            self.transport.cancel(worker.worker_id, job_id, task_id, "job canceled")
        return None

    def _task_running(self, job_id: int, task_id: int, attempt: int) -> None:
        self._post(functools.partial(self._tracker.task_running, job_id, task_id, attempt))

    def _post(self, event: Callable[[int], Outcome | None]) -> None:
        """Apply ``event(now)`` to the tracker now, or leave it to the lock's holder."""
        self._events.append(event)
        if self._lock.acquire(blocking=False):
            self._release()

    def _apply_events(self) -> None:
        """Apply posted task events (call with the lock held); one clock read serves
        every event of the drain."""
        events = self._events
        now = self._now()
        while events:
            try:
                out = events.popleft()(now)
            except Exception:
                logger.exception("failed to apply a task event")
                continue
            if out is not None:
                self._deferred.append(out)

    def _release(self) -> None:
        """Release the master lock after applying posted events; then carry out what
        they asked for. Loops so that no event posted during a release is left behind."""
        while True:
            try:
                self._apply_events()
                outcomes, self._deferred = self._deferred, []
            finally:
                self._lock.release()
            if outcomes:
                self._follow(outcomes)
            if not self._events or not self._lock.acquire(blocking=False):
                return

    def _task_done(self, job_id: int, task_id: int, attempt: int, worker: WorkerInfo,
                   hook: Callable[[Any], None] | None, future: Future[TaskResult]) -> None:
        try:
            try:
                result = future.result()
            except CancelledError:
                result = TaskResult.canceled()
            except TransportError:
                self._follow([self._lost(job_id, task_id, attempt, worker)])
                return
            except Exception as exc:  # noqa: BLE001 - recorded on the job
                result = TaskResult.failed(error_type_of(exc), str(exc))
            if not isinstance(result, TaskResult):
                result = TaskResult.failed(
                    "TransportError", f"transport returned {result!r}, not a TaskResult")
            elif hook is not None and result.status is Status.COMPLETED:
                try:  # the plan records the task's effects before the job can finish
                    hook(result.result)
                except Exception as exc:  # noqa: BLE001 - recorded on the job
                    result = TaskResult.failed(error_type_of(exc), str(exc))
            self._post(functools.partial(self._tracker.task_done, job_id, task_id, attempt,
                                         result))
        except Exception:
            logger.exception("failed to record the outcome of task %s of job %s", task_id, job_id)

    def _lost(self, job_id: int, task_id: int, attempt: int, worker: WorkerInfo) -> Outcome:
        """The task's worker is gone: ask the plan for another worker, or fail the task."""
        with self._guard:
            if job_id not in self._tracker:
                return Outcome()
            plan = self._tracker.plan_of(job_id)
            config, args, _ = self._tracker.task_args(job_id, task_id)
        live = [w for w in self._live_workers() if w.worker_id != worker.worker_id]
        try:
            replacement = plan.reschedule(config, args, worker, live) if live else None
        except Exception:
            logger.exception("reschedule failed for task %s of job %s", task_id, job_id)
            replacement = None
        with self._guard:
            return self._tracker.task_lost(job_id, task_id, attempt, replacement,
                                           self.config.max_task_attempts, self._now())

    def _join(self, job_id: int) -> Outcome:
        with self._guard:
            plan, config, results = self._tracker.join_inputs(job_id)
        try:
            result = plan.join(config, results)
            error = None
        except Exception as exc:  # noqa: BLE001 - recorded on the job
            result, error = None, (error_type_of(exc), str(exc))
        with self._guard:
            return self._tracker.joined(job_id, result, error, self._now())

    def _register(self, job_id: int) -> tuple[_Waiter | None, JobInfo | None, bool]:
        """(waiter, None, finished) to wait on, or (None, info, True) if the job is
        finished and written already. Call under the lock."""
        tracker = self._tracker
        finished = tracker.status(job_id).is_finished
        if finished and not self._unwritten_job(job_id):
            return None, tracker.info(job_id, False), True
        waiter = self._waiters.get(job_id)
        if waiter is None:
            waiter = self._waiters[job_id] = _Waiter()
        if finished and waiter.info is None:
            waiter.info = tracker.info(job_id, False)
        return waiter, None, finished

    def _capture(self, finished: Iterable[int]) -> None:
        """Keep the final info of finished jobs someone waits for (they may be purged
        before they are written)."""
        with self._guard:
            for job_id in finished:
                waiter = self._waiters.get(job_id)
                if waiter is not None and waiter.info is None and job_id in self._tracker:
                    waiter.info = self._tracker.info(job_id, False)

    def _wake(self, finished: Iterable[int]) -> None:
        waiters = self._waiters
        if not waiters:
            return
        with self._guard:
            ready = []
            for job_id in finished:
                waiter = waiters.pop(job_id, None)
                if waiter is not None:
                    if waiter.info is None and job_id in self._tracker:
                        waiter.info = self._tracker.info(job_id, False)
                    ready.append(waiter)
        for waiter in ready:  # callbacks first: wait() returns after they ran
            if waiter.info is not None:
                for fn in waiter.callbacks:
                    _call(fn, waiter.info)
            waiter.event.set()

    # ----------------------------------------------------------------- job store

    def _unwritten_job(self, job_id: int) -> bool:
        dirty = self._tracker.dirty
        return dirty is not None and (job_id in dirty or job_id in self._unwritten)

    def _take_batch(self) -> tuple[BatchRows, builtins.list[int], int]:
        """The store writer takes what changed since its last batch (rows are built
        outside the lock, as the store reads them; a job that changes meanwhile is
        marked dirty again)."""
        tracker = self._tracker
        with self._guard:
            assert tracker.dirty is not None
            assert tracker.purged is not None
            assert tracker.created is not None
            ids, tracker.dirty = tracker.dirty, set()
            created, tracker.created = tracker.created, set()
            purged, tracker.purged = tracker.purged, []
            self._unwritten = ids
            self._unwritten_purged = purged
            self._unwritten_created = created
            next_id = self._next_id
        return BatchRows(tracker.refs(ids), created), purged, next_id

    def _written(self, ok: bool) -> None:
        """After a store write: wake the waiters of jobs now durably finished. A job
        dirty again changed after its row was taken, perhaps after it was built (rows
        are built outside the lock): the store may not hold its finished state yet, so
        its waiters wait for the next batch."""
        tracker = self._tracker
        with self._guard:
            dirty = tracker.dirty
            assert dirty is not None
            assert tracker.purged is not None
            ids, self._unwritten = self._unwritten, set()
            if not ok:  # keep them for the next batch
                dirty |= {i for i in ids if i in tracker}
                assert tracker.created is not None
                tracker.created |= self._unwritten_created
                tracker.purged.extend(self._unwritten_purged)
                return
            done = [i for i in self._waiters
                    if i not in tracker
                    or (i in ids and i not in dirty and tracker.status(i).is_finished)]
        self._wake(done)

    def _cancel_request(self, job_id: int) -> None:
        with contextlib.suppress(JobNotFoundError):
            self.cancel(job_id, "canceled from another process")

    # --------------------------------------------------------------- lost workers

    def check_lost_workers(self) -> builtins.list[WorkerInfo]:
        """Declare lost every worker whose heartbeat has not changed for ``worker_timeout``
        seconds of the master's clock, and fail or move its tasks; returns them.

        Runs by itself every ``lost_worker_interval``; tests may call it directly.
        """
        return self._detector.check()

    def fail_worker(self, worker: WorkerInfo) -> None:
        """Treat ``worker`` as lost now: each of its unfinished tasks is re-scheduled on
        another worker (while ``max_task_attempts`` allows) or fails with ``JobWorkerLost``."""
        with self._guard:
            tasks = self._tracker.tasks_on_worker(worker.worker_id)
        outcomes = []
        for job_id, task_id, attempt in tasks:
            self.transport.cancel(worker.worker_id, job_id, task_id, "job worker lost")
            outcomes.append(self._lost(job_id, task_id, attempt, worker))
        self._follow(outcomes)


def _call(fn: Callable[[JobInfo], None], info: JobInfo) -> None:
    try:
        fn(info)
    except Exception:
        logger.exception("done callback of job %s failed", info.job_id)


def _statuses(statuses: Iterable[Status | str] | None) -> frozenset[Status] | None:
    if statuses is None:
        return None
    if isinstance(statuses, str | Status):
        statuses = [statuses]
    wanted = set()
    statuses = list(statuses)
    if not statuses:  # as Alluxio: an empty status list does not filter
        return None
    for s in statuses:
        try:
            wanted.add(Status(s))
        except ValueError:
            names = [x.value for x in Status]
            raise JobConfigError("statuses", s, f"must be one of {names}") from None
    return frozenset(wanted)


def _checked_pairs(pairs: Any) -> list[tuple[WorkerInfo, Any]]:
    checked = []
    for pair in pairs:
        if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], WorkerInfo)):
            raise TypeError(f"select_executors must return (WorkerInfo, args) pairs, got {pair!r}")
        checked.append(pair)
    return checked
