"""Workflows (``Composite`` jobs) and cancellation.

1. A sequential workflow runs its steps in order; a parallel one runs its jobs at once.
2. When a child fails, its running siblings are canceled, later steps never start, and
   the workflow is FAILED once none of its children runs.
3. Canceling a job (or a workflow) drops its queued tasks, tells running tasks to stop,
   and the job is CANCELED as soon as none of its tasks runs.
"""

from collections.abc import Sequence
from typing import ClassVar

import attrs

from alluxio_jobs import (
    CompositeConfig,
    JobConfig,
    JobMaster,
    JobNotFoundError,
    JobPlan,
    LocalTransport,
    NoopConfig,
    PlanRegistry,
    RunTaskContext,
    SelectContext,
    SleepConfig,
    Status,
    WorkerInfo,
)
from alluxio_jobs.render import format_job_stat


@attrs.frozen(kw_only=True)
class ValidateConfig(JobConfig):
    """One task that checks ``rows`` and fails when it is negative."""

    name: ClassVar[str] = "Validate"
    rows: int


class ValidatePlan(JobPlan[ValidateConfig, None, int]):
    def select_executors(self, config: ValidateConfig, workers: Sequence[WorkerInfo],
                         ctx: SelectContext) -> list[tuple[WorkerInfo, None]]:
        return [(workers[0], None)]

    def run_task(self, config: ValidateConfig, args: None, ctx: RunTaskContext) -> int:
        if config.rows < 0:
            raise ValueError(f"row count must not be negative, got {config.rows}")
        return config.rows


def show(master: JobMaster, job_id: int) -> None:
    print(format_job_stat(master.get_status(job_id, verbose=True), verbose=True))


def main() -> None:
    plans = PlanRegistry.default()
    plans.register(ValidateConfig, ValidatePlan())
    with JobMaster(transport=LocalTransport(num_workers=2), plans=plans) as master:
        # 1. Sequential steps; the second step runs two jobs in parallel.
        pipeline = CompositeConfig(jobs=[
            SleepConfig(time_ms=20),
            CompositeConfig(jobs=[ValidateConfig(rows=10), NoopConfig()], sequential=False),
            SleepConfig(time_ms=20),
        ])
        ok = master.run(pipeline)
        info = master.wait(ok, timeout=30)
        print(f"pipeline {ok}: {info.status}, {len(info.children)} steps")
        assert info.status is Status.COMPLETED

        # 2. The Validate step fails: the long Sleep beside it is canceled, the last
        #    step never starts, and the workflow reports the child's error.
        broken = master.run(CompositeConfig(jobs=[
            SleepConfig(time_ms=10),
            CompositeConfig(jobs=[ValidateConfig(rows=-1), SleepConfig(time_ms=60_000)],
                            sequential=False),
            SleepConfig(time_ms=10),
        ]))
        info = master.wait(broken, timeout=30)
        print(f"broken pipeline {broken}: {info.status}: {info.error_message}")
        assert info.status is Status.FAILED
        show(master, broken)
        inner = master.get_status(broken, verbose=True).children[1]
        print("inner step:", ", ".join(f"{c.name} {c.status}" for c in inner.children))

        # 3. Cancel a running workflow: every child that runs is asked to stop, and
        #    wait() returns once nothing of the workflow runs any more.
        long = master.run(CompositeConfig(
            jobs=[SleepConfig(time_ms=60_000), SleepConfig(time_ms=60_000)], sequential=False))
        master.cancel(long, reason="no longer needed")
        info = master.wait(long, timeout=30)
        print(f"canceled workflow {long}: {info.status}; children:",
              ", ".join(str(c.status) for c in master.get_status(long).children))
        assert info.status is Status.CANCELED

        # Canceling a finished job changes nothing; an unknown id is an error.
        master.cancel(ok)
        print(f"pipeline {ok} after cancel: {master.get_status(ok).status}")
        try:
            master.cancel(12345)
        except JobNotFoundError as exc:
            print(f"cancel(12345): {exc}")


if __name__ == "__main__":
    main()
