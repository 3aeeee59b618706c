"""The job-type extension point: configs, plans, their contexts and the plan registry.

A job type is a :class:`JobConfig` subclass (what to do) plus a :class:`JobPlan`
(how): the master calls ``select_executors`` to split the job into tasks, each task's
``run_task`` runs on a job worker, and the master calls ``join`` once every task
completed. Register new job types with :meth:`PlanRegistry.register`.
"""

import abc
import threading
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Generic, TypeVar

import attrs

from alluxio_jobs.errors import JobCanceledError, UnknownJobTypeError
from alluxio_jobs.model import WorkerInfo

__all__ = [
    "CancelSignal",
    "JobConfig",
    "JobPlan",
    "PlanRegistry",
    "RunTaskContext",
    "SelectContext",
    "WorkflowConfig",
]

ConfigT = TypeVar("ConfigT", bound="JobConfig")
ArgsT = TypeVar("ArgsT")
ResultT = TypeVar("ResultT")


@attrs.frozen(kw_only=True)
class JobConfig:
    """Base of every job config. Subclasses are frozen attrs classes that set ``name``.

    ``name`` is the job's name in ``job ls`` (Alluxio's ``getName()``), e.g. ``"Load"``;
    it is also the config's type tag in :mod:`alluxio_jobs.serde`.
    """

    name: ClassVar[str] = "JobConfig"

    def describe(self) -> str:
        """The job's description (``job stat``'s ``Description:``); the config's repr."""
        return repr(self)


@attrs.frozen(kw_only=True)
class WorkflowConfig(JobConfig):
    """A job made of child jobs run in steps; the master runs it without a plan."""

    @abc.abstractmethod
    def steps(self) -> list[list[JobConfig]]:
        """The child configs, step by step: every job of a step runs at once, and a step
        starts only when the previous one completed."""


class SelectContext:
    """What ``select_executors`` may use on the master side.

    ``memo`` is scratch space for one job's selection, shared by the children of a
    ``BatchedJob``: e.g. a snapshot of the workers' free space, taken once for all of
    them. Key it by something of your plan's own.
    """

    __slots__ = ("job_id", "memo")

    def __init__(self, *, job_id: int) -> None:
        self.job_id = job_id
        self.memo: dict[object, Any] = {}

    def __repr__(self) -> str:
        return f"SelectContext(job_id={self.job_id})"


class CancelSignal:
    """A one-way cancel flag that creates its Event only if someone waits on it.

    Most tasks only poll :meth:`is_set`; this keeps a task's bookkeeping cheap.
    """

    __slots__ = ("_event", "_flag")
    _create_lock = threading.Lock()

    def __init__(self) -> None:
        self._flag = False
        self._event: threading.Event | None = None

    def set(self) -> None:
        self._flag = True
        event = self._event
        if event is not None:
            event.set()

    def is_set(self) -> bool:
        return self._flag

    def wait(self, timeout: float | None = None) -> bool:
        if self._flag:
            return True
        with CancelSignal._create_lock:
            if self._event is None:
                self._event = threading.Event()
        if self._flag:  # set() ran before the event existed
            self._event.set()
        return self._event.wait(timeout)


class RunTaskContext:
    """What ``run_task`` may use on a worker: who it is, and whether it was canceled.

    Long tasks should check :attr:`canceled` (or call :meth:`check_canceled`)
    between chunks of work, so a cancel takes effect quickly.
    """

    __slots__ = ("_cancel_event", "attempt", "job_id", "resources", "task_id", "worker")

    def __init__(
        self,
        *,
        job_id: int,
        task_id: int,
        attempt: int,
        worker: WorkerInfo,
        cancel_event: CancelSignal | threading.Event | None = None,
        resources: Mapping[str, Any] | None = None,
    ) -> None:
        self.job_id = job_id
        self.task_id = task_id
        self.attempt = attempt
        self.worker = worker
        self.resources: Mapping[str, Any] = resources or {}
        self._cancel_event = cancel_event if cancel_event is not None else CancelSignal()

    @property
    def canceled(self) -> bool:
        """True once the task was asked to stop."""
        return self._cancel_event.is_set()

    def check_canceled(self) -> None:
        """Raise :class:`~alluxio_jobs.errors.JobCanceledError` if the task was canceled."""
        if self._cancel_event.is_set():
            raise JobCanceledError(self.job_id)

    def wait_canceled(self, timeout: float | None) -> bool:
        """Block up to ``timeout`` seconds or until canceled; return :attr:`canceled`."""
        return self._cancel_event.wait(timeout)


class JobPlan(abc.ABC, Generic[ConfigT, ArgsT, ResultT]):
    """How a job type is split into tasks, run, and joined (Alluxio's ``PlanDefinition``).

    Task arguments and results must be plain data (builtins or attrs records of
    module-level types) so that remote transports can carry them.
    """

    @abc.abstractmethod
    def select_executors(
        self, config: ConfigT, workers: Sequence[WorkerInfo], ctx: SelectContext
    ) -> list[tuple[WorkerInfo, ArgsT]]:
        """On the master: one ``(worker, args)`` pair per task; task ids follow list order.

        An empty list completes the job at once. An exception fails the job (it stays
        tracked, as in Alluxio).
        """

    @abc.abstractmethod
    def run_task(self, config: ConfigT, args: ArgsT, ctx: RunTaskContext) -> ResultT:
        """On a worker: do one task's work and return its result."""

    def join(self, config: ConfigT, results: Mapping[int, ResultT]) -> str:
        """On the master, once every task completed: the job's result (task id -> result)."""
        return ""

    def on_task_completed(self, config: ConfigT, args: ArgsT, result: ResultT, *,
                          worker: WorkerInfo) -> None:
        """On the master, as each task COMPLETED and before its job can finish: apply
        what the task reports it changed (e.g. "block 7 is now cached on worker 2") to
        master-side state. Tasks never change master-side state themselves. Raising
        here fails the task. Default: nothing."""

    def task_size(self, config: ConfigT, args: ArgsT) -> int | None:
        """Bytes a task moves, for plans whose small tasks a ``BatchedJob`` may run
        several at a time as one task of one worker (saving a dispatch, a thread
        hand-off and a status update per task). Such a plan must also implement
        :meth:`undo_task`. Default: ``None``, every task runs on its own."""
        return None

    def undo_task(self, config: ConfigT, args: ArgsT, result: ResultT,
                  ctx: "RunTaskContext") -> None:
        """On a worker: take back what a completed run of ``args`` did, because a task
        run together with it failed or was canceled (see :meth:`task_size`). Default:
        nothing."""

    @property
    def merges_tasks(self) -> bool:
        """True when :meth:`undo_task` is overridden: :meth:`task_size` is then used."""
        return type(self).undo_task is not JobPlan.undo_task

    @property
    def has_task_hook(self) -> bool:
        """False when :meth:`on_task_completed` is not overridden."""
        return type(self).on_task_completed is not JobPlan.on_task_completed

    @property
    def needs_join(self) -> bool:
        """False when :meth:`join` is not overridden: the master then skips calling it."""
        return type(self).join is not JobPlan.join

    def describe_task(self, config: ConfigT, args: ArgsT) -> str:
        """A task's description for ``job stat -v`` (Alluxio: the args' ``toString``)."""
        return "" if args is None else str(args)

    def reschedule(
        self,
        config: ConfigT,
        args: ArgsT,
        lost: WorkerInfo,
        workers: Sequence[WorkerInfo],
    ) -> WorkerInfo | None:
        """Pick a live worker for a task whose worker was lost, or ``None`` to fail it.

        The default takes the live worker that follows the lost one in id order.
        Plans whose tasks must run on one particular worker return ``None``.
        """
        others = sorted((w for w in workers if w.worker_id != lost.worker_id),
                        key=lambda w: w.worker_id)
        if not others:
            return None
        after = [w for w in others if w.worker_id > lost.worker_id]
        return (after or others)[0]


class PlanRegistry:
    """Maps config classes to the plans that run them.

    Every master and worker set gets its own registry: :meth:`default` returns a fresh
    one holding the built-in job types, and :meth:`register` adds user types.
    """

    def __init__(self, plans: Mapping[type[JobConfig], JobPlan[Any, Any, Any]] | None = None):
        self._plans: dict[type[JobConfig], JobPlan[Any, Any, Any]] = dict(plans or {})
        self._lock = threading.Lock()

    @classmethod
    def default(cls) -> "PlanRegistry":
        """A new registry with every built-in job type."""
        from alluxio_jobs.plans.basic import NoopConfig, NoopPlan, SleepConfig, SleepPlan

        return cls({NoopConfig: NoopPlan(), SleepConfig: SleepPlan()})

    def register(self, config_cls: type[JobConfig], plan: JobPlan[Any, Any, Any]) -> None:
        """Run configs of ``config_cls`` (and its subclasses) with ``plan``."""
        if not (isinstance(config_cls, type) and issubclass(config_cls, JobConfig)):
            raise TypeError(f"config_cls must be a JobConfig subclass, got {config_cls!r}")
        if not isinstance(plan, JobPlan):
            raise TypeError(f"plan must be a JobPlan, got {plan!r}")
        with self._lock:
            self._plans[config_cls] = plan

    def get(self, config: JobConfig) -> JobPlan[Any, Any, Any]:
        """The plan for ``config``; :class:`UnknownJobTypeError` if there is none."""
        plans = self._plans
        plan = plans.get(type(config))
        if plan is not None:
            return plan
        for klass in type(config).__mro__[1:]:
            plan = plans.get(klass)
            if plan is not None:
                return plan
        raise UnknownJobTypeError(getattr(config, "name", type(config).__name__))

    def __contains__(self, config_cls: object) -> bool:
        return config_cls in self._plans

    def config_types(self) -> list[type[JobConfig]]:
        """The registered config classes."""
        return list(self._plans)

    def __getstate__(self) -> dict[str, Any]:
        return {"plans": self._plans}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._plans = state["plans"]
        self._lock = threading.Lock()
