"""Job types with no data: ``NoOp`` (no tasks) and ``Sleep`` (tasks that wait)."""

from collections.abc import Sequence
from typing import ClassVar

import attrs

from alluxio_jobs import _validate as v
from alluxio_jobs.model import WorkerInfo
from alluxio_jobs.plans.base import JobConfig, JobPlan, RunTaskContext, SelectContext

__all__ = ["NoopConfig", "NoopPlan", "SleepConfig", "SleepPlan"]


@attrs.frozen(kw_only=True)
class NoopConfig(JobConfig):
    """A job with no tasks: COMPLETED as soon as it is submitted (Alluxio's ``NoOp``)."""

    name: ClassVar[str] = "NoOp"


class NoopPlan(JobPlan[NoopConfig, None, None]):
    def select_executors(
        self, config: NoopConfig, workers: Sequence[WorkerInfo], ctx: SelectContext
    ) -> list[tuple[WorkerInfo, None]]:
        return []

    def run_task(self, config: NoopConfig, args: None, ctx: RunTaskContext) -> None:
        raise RuntimeError("NoopPlan should never run a task")


@attrs.frozen(kw_only=True)
class SleepConfig(JobConfig):
    """``tasks_per_worker`` tasks on every worker, each waiting ``time_ms`` (Alluxio's ``Sleep``).

    A task stops early when the job is canceled.
    """

    name: ClassVar[str] = "Sleep"

    time_ms: int = attrs.field(validator=[v.instance_of(int), v.at_least(0)])
    tasks_per_worker: int = attrs.field(default=1, validator=[v.instance_of(int), v.at_least(1)])


class SleepPlan(JobPlan[SleepConfig, None, None]):
    def select_executors(
        self, config: SleepConfig, workers: Sequence[WorkerInfo], ctx: SelectContext
    ) -> list[tuple[WorkerInfo, None]]:
        return [(w, None) for w in workers for _ in range(config.tasks_per_worker)]

    def run_task(self, config: SleepConfig, args: None, ctx: RunTaskContext) -> None:
        if config.time_ms and ctx.wait_canceled(config.time_ms / 1000):
            ctx.check_canceled()
