"""``python -m alluxio_jobs demo``: a tour of the job service on the embedded default.

The demo is a list of sections (:data:`SECTIONS`). Each section is a function that
takes a :class:`DemoContext`, starts what it needs (masters are closed for it at the
end) and writes what it shows to ``ctx.out``. To add a section, write such a function
and append it to :data:`SECTIONS`.
"""

import contextlib
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self, TextIO

import attrs

from alluxio_jobs.master import JobMaster
from alluxio_jobs.model import MasterConfig, Status, WorkerInfo
from alluxio_jobs.plans import (
    CompositeConfig,
    JobConfig,
    JobPlan,
    NoopConfig,
    PlanRegistry,
    RunTaskContext,
    SelectContext,
    SleepConfig,
)
from alluxio_jobs.render import format_job_ls, format_job_stat, format_jobservice_report
from alluxio_jobs.reports import job_ls, job_stat, jobservice_report
from alluxio_jobs.transports import LocalTransport, WorkerTransport

__all__ = ["SECTIONS", "CrashConfig", "CrashPlan", "DemoContext", "Section", "main"]

#: How long the demo waits for any one job: a safety net, every job finishes far sooner.
WAIT_SECONDS = 60.0


@attrs.frozen(kw_only=True)
class CrashConfig(JobConfig):
    """A demo job type: one task that always raises (Alluxio's test ``Crash`` plan)."""

    name: ClassVar[str] = "Crash"

    message: str = "Crash always crashes"


class CrashPlan(JobPlan[CrashConfig, None, None]):
    """Runs one task, on the first worker, which raises ``RuntimeError(config.message)``."""

    def select_executors(self, config: CrashConfig, workers: Sequence[WorkerInfo],
                         ctx: SelectContext) -> list[tuple[WorkerInfo, None]]:
        return [(workers[0], None)] if workers else []

    def run_task(self, config: CrashConfig, args: None, ctx: RunTaskContext) -> None:
        raise RuntimeError(config.message)


class DemoContext:
    """What every section gets: where to write, a scratch directory, and masters that
    are closed when the demo ends."""

    def __init__(self, out: TextIO, workdir: Path) -> None:
        self.out = out
        #: A temporary directory, removed when the demo ends (for sections that need storage).
        self.workdir = workdir
        self._stack = contextlib.ExitStack()

    def master(self, transport: WorkerTransport | None = None, plans: PlanRegistry | None = None,
               config: MasterConfig | None = None, **options: Any) -> JobMaster:
        """A new :class:`JobMaster` (``options``: its keyword arguments, e.g. ``store``),
        closed when the demo ends."""
        return self._stack.enter_context(JobMaster(config, transport, plans, **options))

    def write(self, text: str = "") -> None:
        """Write ``text`` followed by a newline (unless it already ends with one)."""
        self.out.write(text if text.endswith("\n") else text + "\n")

    def heading(self, title: str) -> None:
        self.write(f"\n== {title} ==\n")

    def command(self, line: str, output: str) -> None:
        """Show an Alluxio CLI command line and the text it prints."""
        self.write(f"\n$ {line}")
        self.out.write(output)

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


Section = Callable[[DemoContext], None]


def core_jobs(ctx: DemoContext) -> None:
    """Built-in and custom job types on three local job workers, then the inspection commands."""
    ctx.heading("Jobs on an embedded JobMaster with 3 local job workers")
    plans = PlanRegistry.default()
    plans.register(CrashConfig, CrashPlan())
    master = ctx.master(LocalTransport(num_workers=3), plans)

    jobs: list[tuple[str, JobConfig]] = [
        ("2 Sleep tasks on every worker", SleepConfig(time_ms=50, tasks_per_worker=2)),
        ("no tasks: COMPLETED at submit", NoopConfig()),
        ("a second Sleep job", SleepConfig(time_ms=20)),
        ("Sleep, then NoOp and Sleep in parallel", CompositeConfig(jobs=[
            SleepConfig(time_ms=10),
            CompositeConfig(jobs=[NoopConfig(), SleepConfig(time_ms=30)], sequential=False),
        ])),
        ("a 60 s Sleep, canceled below", SleepConfig(time_ms=60_000)),
        ("a custom plan whose task raises", CrashConfig()),
    ]
    ids = []
    for what, config in jobs:
        job_id = master.run(config)
        ids.append(job_id)
        ctx.write(f"submitted {job_id}  {config.name:<10} {what}")
    multi_task, canceled = ids[0], ids[4]

    master.cancel(canceled)
    ctx.write(f"canceled  {canceled}")

    ctx.write("\nwaiting for every job to finish:")
    for job_id in ids:
        info = master.wait(job_id, timeout=WAIT_SECONDS)
        error = f"  ({info.error_message})" if info.error_message else ""
        ctx.write(f"  {job_id}  {info.name:<10} {info.status.value}{error}")
    assert not master.list(statuses=[Status.CREATED, Status.RUNNING]), "a job is still running"

    ctx.command("alluxio job ls", format_job_ls(job_ls(master)))
    ctx.command(f"alluxio job stat -v {multi_task}",
                format_job_stat(job_stat(master, multi_task, verbose=True), verbose=True))
    ctx.command(f"alluxio job stat -v {ids[3]}",
                format_job_stat(job_stat(master, ids[3], verbose=True), verbose=True))
    ctx.command("alluxio fsadmin report jobservice",
                format_jobservice_report(jobservice_report(master)))


#: The demo's sections, in the order they run.
SECTIONS: list[Section] = [core_jobs]


def main(*, out: TextIO | None = None, sections: Sequence[Section] | None = None) -> int:
    """Run every section of the demo, writing to ``out`` (default: standard output)."""
    stream = out if out is not None else sys.stdout
    stream.write("alluxio_jobs demo: the Alluxio Job Service, embedded in this process\n")
    with tempfile.TemporaryDirectory(prefix="alluxio-jobs-demo-") as tmp, \
            DemoContext(stream, Path(tmp)) as ctx:
        for section in SECTIONS if sections is None else sections:
            section(ctx)
    return 0
