"""BatchedJob: several Load, Migrate or Persist jobs run as one (Alluxio's ``BatchedJob``).

Small tasks of one worker run together as one task when their plan can undo a task, so
that a batch of small files does not cost a dispatch per file.
"""

import logging
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import attrs

from alluxio_jobs.errors import JobConfigError
from alluxio_jobs.model import WorkerInfo
from alluxio_jobs.plans.base import JobConfig, JobPlan, RunTaskContext, SelectContext
from alluxio_jobs.plans.cache import _as_list

__all__ = [
    "BATCHABLE",
    "BATCH_TASK_BYTES",
    "BATCH_TASK_PARTS",
    "BatchedJobConfig",
    "BatchedJobPlan",
    "BatchedPart",
    "BatchedTaskArgs",
]

logger = logging.getLogger(__name__)

BATCHABLE = ("Load", "Migrate", "Persist")


def _configs(inst: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
    if not isinstance(value, list):
        raise JobConfigError(attribute.name, value, "must be a list of job configs")
    for i, config in enumerate(value):
        if not isinstance(config, JobConfig) or config.name != inst.job_type:
            raise JobConfigError(f"{attribute.name}[{i}]", config,
                                 f"must be a {inst.job_type} config")


def _job_type(_inst: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
    if value not in BATCHABLE:
        raise JobConfigError(attribute.name, value,
                             f"Batched Job currently doesn't support this jobType: {value}")


@attrs.frozen(kw_only=True)
class BatchedJobConfig(JobConfig):
    """Several Load, Migrate or Persist jobs run as one (Alluxio's ``BatchedJob``): its
    tasks are the union of its children's; any failing task fails the batch."""

    name: ClassVar[str] = "BatchedJob"

    job_type: str = attrs.field(validator=_job_type)
    configs: list[JobConfig] = attrs.field(factory=list, converter=_as_list,
                                           validator=_configs)

    def describe(self) -> str:
        return f"BatchedJobConfig(job_type={self.job_type!r}, {len(self.configs)} configs)"


#: A batched job runs its children's tasks of at most this many bytes together, one
#: task per worker, up to this many bytes and :data:`BATCH_TASK_PARTS` tasks at a time.
BATCH_TASK_BYTES = 4 << 20
BATCH_TASK_PARTS = 32


@attrs.frozen(kw_only=True)
class BatchedPart:
    """One child task: ``args`` of child config ``index``."""

    index: int
    args: Any


@attrs.frozen(kw_only=True)
class BatchedTaskArgs:
    """Child tasks run one after another as one task; more than one only for plans
    that can undo a task (:meth:`JobPlan.undo_task`), so that the task stays all or
    nothing."""

    parts: list[BatchedPart]


class BatchedJobPlan(JobPlan[BatchedJobConfig, BatchedTaskArgs, list[Any]]):
    """Runs each child's plan; ``children`` maps job type names to plans.

    Small tasks of the same worker run together (see :data:`BATCH_TASK_BYTES`) when
    the child plan can undo them: a task per small file would cost more in dispatch
    than in copying.
    """

    def __init__(self, children: Mapping[str, JobPlan[Any, Any, Any]]) -> None:
        self.children = dict(children)

    def _parts(self, config: BatchedJobConfig, args: BatchedTaskArgs
               ) -> list[tuple[JobConfig, Any]]:
        return [(config.configs[part.index], part.args) for part in args.parts]

    def select_executors(self, config: BatchedJobConfig, workers: Sequence[WorkerInfo],
                         ctx: SelectContext) -> list[tuple[WorkerInfo, BatchedTaskArgs]]:
        plan = self.children[config.job_type]
        merge = plan.merges_tasks
        tasks: list[tuple[WorkerInfo, list[BatchedPart]]] = []
        group: dict[int, list[BatchedPart]] = {}  # worker id -> its group still open
        group_bytes: dict[int, int] = {}
        for index, child in enumerate(config.configs):
            for worker, args in plan.select_executors(child, workers, ctx):
                part = BatchedPart(index=index, args=args)
                size = plan.task_size(child, args) if merge else None
                if size is None or size > BATCH_TASK_BYTES:
                    tasks.append((worker, [part]))
                    continue
                wid = worker.worker_id
                parts = group.get(wid)
                if (parts is None or group_bytes[wid] + size > BATCH_TASK_BYTES
                        or len(parts) >= BATCH_TASK_PARTS):
                    parts = group[wid] = []
                    group_bytes[wid] = 0
                    tasks.append((worker, parts))
                parts.append(part)
                group_bytes[wid] += size
        return [(worker, BatchedTaskArgs(parts=parts)) for worker, parts in tasks]

    def run_task(self, config: BatchedJobConfig, args: BatchedTaskArgs,
                 ctx: RunTaskContext) -> list[Any]:
        """Each part in turn; when one fails or is canceled, the parts done before it
        are undone, newest first, and its error is the task's."""
        plan = self.children[config.job_type]
        done: list[tuple[JobConfig, Any, Any]] = []
        try:
            for child, child_args in self._parts(config, args):
                if done:
                    ctx.check_canceled()
                done.append((child, child_args, plan.run_task(child, child_args, ctx)))
        except BaseException:
            for child, child_args, result in reversed(done):
                try:
                    plan.undo_task(child, child_args, result, ctx)
                except Exception:  # the first error is the task's; log the others
                    logger.exception("could not undo a task of batched job %d", ctx.job_id)
            raise
        return [result for _child, _args, result in done]

    def on_task_completed(self, config: BatchedJobConfig, args: BatchedTaskArgs,
                          result: list[Any], *, worker: WorkerInfo) -> None:
        """Every part's hook runs, even after one raised (each must see its copies);
        then the first error fails the task."""
        plan = self.children[config.job_type]
        first: Exception | None = None
        for (child, child_args), part_result in zip(self._parts(config, args), result,
                                                    strict=True):
            try:
                plan.on_task_completed(child, child_args, part_result, worker=worker)
            except Exception as exc:  # noqa: BLE001 - raised below
                first = first or exc
        if first is not None:
            raise first

    def describe_task(self, config: BatchedJobConfig, args: BatchedTaskArgs) -> str:
        plan = self.children[config.job_type]
        return "; ".join(plan.describe_task(child, child_args)
                         for child, child_args in self._parts(config, args))

    def reschedule(self, config: BatchedJobConfig, args: BatchedTaskArgs, lost: WorkerInfo,
                   workers: Sequence[WorkerInfo]) -> WorkerInfo | None:
        """A worker every part accepts: of the parts' own choices, the first that each
        part would also pick were it the only one left."""
        plan = self.children[config.job_type]
        parts = self._parts(config, args)
        choices = [plan.reschedule(child, child_args, lost, workers)
                   for child, child_args in parts]
        if any(choice is None for choice in choices):
            return None
        for choice in {c.worker_id: c for c in choices if c is not None}.values():
            if all(plan.reschedule(child, child_args, lost, [choice]) == choice
                   for child, child_args in parts):
                return choice
        return None
