"""A job type whose tasks follow a script, for driving the master into exact states.

Each task gets one action: ``ok`` returns, ``fail`` raises ValueError("boom"),
``hold`` waits until canceled, ``gate`` waits for the test to open its gate and
ignores cancellation meanwhile, ``gatefail`` waits for its gate, then fails.
Every task sets its ``started`` event first.
"""

import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import ClassVar

import attrs

from alluxio_jobs import JobConfig, JobPlan, RunTaskContext, SelectContext, WorkerInfo

WAIT = 60.0
_events: dict[tuple[str, str, int], threading.Event] = {}
_lock = threading.Lock()


def event(kind: str, key: str, task_id: int = 0) -> threading.Event:
    """The ``started`` or ``gate`` event of task ``task_id`` of the script ``key``."""
    with _lock:
        return _events.setdefault((kind, key, task_id), threading.Event())


def started(key: str, task_id: int = 0) -> threading.Event:
    return event("started", key, task_id)


def gate(key: str, task_id: int = 0) -> threading.Event:
    return event("gate", key, task_id)


def _strings(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


def _ints(values: Iterable[int]) -> tuple[int, ...]:
    return tuple(values)


@attrs.frozen(kw_only=True)
class ScriptConfig(JobConfig):
    name: ClassVar[str] = "Script"
    actions: tuple[str, ...] = attrs.field(converter=_strings)
    key: str = ""
    join_error: str = ""
    #: worker index for each task (default: round-robin)
    placement: tuple[int, ...] = attrs.field(default=(), converter=_ints)


class ScriptPlan(JobPlan[ScriptConfig, str, str]):
    def select_executors(self, config: ScriptConfig, workers: Sequence[WorkerInfo],
                         ctx: SelectContext) -> list[tuple[WorkerInfo, str]]:
        ordered = sorted(workers, key=lambda w: w.worker_id)
        placement = config.placement or tuple(range(len(config.actions)))
        return [(ordered[placement[i] % len(ordered)], action)
                for i, action in enumerate(config.actions)]

    def run_task(self, config: ScriptConfig, args: str, ctx: RunTaskContext) -> str:
        started(config.key, ctx.task_id).set()
        if args == "gatefail":
            gate(config.key, ctx.task_id).wait(WAIT)
            raise ValueError("boom")
        if args == "fail":
            raise ValueError("boom")
        if args == "hold":
            ctx.wait_canceled(WAIT)
            ctx.check_canceled()
        if args == "gate":
            gate(config.key, ctx.task_id).wait(WAIT)
        return f"done-{ctx.task_id}"

    def join(self, config: ScriptConfig, results: Mapping[int, str]) -> str:
        if config.join_error:
            raise RuntimeError(config.join_error)
        return ",".join(results[i] for i in sorted(results))


@attrs.frozen(kw_only=True)
class BadSelectConfig(JobConfig):
    name: ClassVar[str] = "BadSelect"


class BadSelectPlan(JobPlan[BadSelectConfig, None, None]):
    def select_executors(self, config: BadSelectConfig, workers: Sequence[WorkerInfo],
                         ctx: SelectContext) -> list[tuple[WorkerInfo, None]]:
        raise LookupError("no such file: /missing")

    def run_task(self, config: BadSelectConfig, args: None, ctx: RunTaskContext) -> None:
        raise AssertionError("never runs")
