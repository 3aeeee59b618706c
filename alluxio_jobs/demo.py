"""``python -m alluxio_jobs demo``: a tour of the job service on the embedded default.

The demo is a list of sections (:data:`SECTIONS`). Each section is a function that
takes a :class:`DemoContext`, starts what it needs (masters are closed for it at the
end) and writes what it shows to ``ctx.out``. To add a section, write such a function
and append it to :data:`SECTIONS`.
"""

import contextlib
import importlib.util
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Self, TextIO

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

if TYPE_CHECKING:
    from alluxio_jobs.filesystem import FileSystem

__all__ = ["SECTIONS", "CrashConfig", "CrashPlan", "DemoContext", "Section", "data_jobs",
           "main"]

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

    def filesystem(self, num_workers: int = 3, **options: Any) -> "FileSystem":
        """A new :meth:`FileSystem.local <alluxio_jobs.filesystem.FileSystem.local>`
        (storage, job workers and a master running the data jobs; ``options``: its
        keyword arguments), closed when the demo ends."""
        from alluxio_jobs.filesystem import FileSystem

        return self._stack.enter_context(FileSystem.local(num_workers, **options))

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


def data_jobs(ctx: DemoContext) -> None:
    """The data job types on sample files in a ``file://`` under file system: Load (a
    distributed load), Migrate (a distributed copy), Persist, Replicate, Evict, Move and
    (with :mod:`alluxio_jobs.plans.transform`) Compact, each to COMPLETED, then ``job ls``
    and the distributed load's ``getCmdStatus``."""
    from alluxio_jobs.commands import distributed_cp, distributed_load, format_cmd_status, persist
    from alluxio_jobs.fsspec_fs import AlluxioFileSystem
    from alluxio_jobs.plans import EvictConfig, MoveConfig, ReplicateConfig

    ctx.heading("Data jobs on sample files (a file:// under file system, 3 job workers)")
    sales = ctx.workdir / "ufs" / "sales"
    sales.mkdir(parents=True)
    for part in range(3):
        rows = [f"{part * 100 + i},store-{i % 7},{(i * 37) % 1000 / 10:.2f}" for i in range(90)]
        (sales / f"part-{part}.csv").write_text("id,store,amount\n" + "\n".join(rows) + "\n")
    fs = ctx.filesystem(3, block_size=1024, cache="memory", cache_capacity=1 << 20)
    fs.mount("/data", (ctx.workdir / "ufs").as_uri())
    ctx.write(f"mounted {(ctx.workdir / 'ufs').as_uri()} at /data; block size 1 KiB")

    load = distributed_load(fs, "/data/sales").wait(WAIT_SECONDS)
    ctx.write(f"distributedLoad /data/sales: {load.status.value}, "
              f"{len(load.completed)} files cached, {len(load.job_ids)} Load jobs")
    copy = distributed_cp(fs, "/data/sales/part-0.csv", "/data/backup/part-0.csv",
                          write_type="CACHE_THROUGH").wait(WAIT_SECONDS)
    ctx.write(f"distributedCp part-0.csv to /data/backup: {copy.status.value} (a Migrate job)")
    fs.write("/data/reports/summary.csv", b"store,total\nstore-0,1234.50\n",
             write_type="MUST_CACHE")
    saved = persist(fs, "/data/reports").wait(WAIT_SECONDS)
    state = fs.get_status("/data/reports/summary.csv").persistence_state.value
    ctx.write(f"persist /data/reports (written MUST_CACHE): {saved.status.value}, now {state}")

    path = "/data/sales/part-1.csv"
    block = fs.get_status(path).blocks[0].block_id

    def copies() -> list[str]:
        info = fs.get_status(path)
        return [w.host for b in info.blocks if b.block_id == block for w in b.locations]

    def move() -> MoveConfig:  # the one copy left, to a worker without it
        holder = copies()[0]
        other = next(w.host for w in fs.workers() if w.host != holder)
        return MoveConfig(path=path, block_id=block, source_worker=holder,
                          destination_worker=other)

    for make in (lambda: ReplicateConfig(path=path, block_id=block, replicas=1),
                 lambda: EvictConfig(path=path, block_id=block, replicas=1), move):
        config = make()
        info = fs.master.wait(fs.master.run(config), timeout=WAIT_SECONDS)
        ctx.write(f"{config.name:<9} block {block} of {path}: {info.status.value}, "
                  f"copies on {', '.join(copies())}")
    if importlib.util.find_spec("alluxio_jobs.plans.transform") is not None:
        from alluxio_jobs.plans import CompactConfig

        compact = CompactConfig(input="/data/sales", output="/data/sales-compacted",
                                output_format="csv", max_num_files=1)
        info = fs.master.wait(fs.master.run(compact), timeout=WAIT_SECONDS)
        parts = [f.name for f in fs.list_status("/data/sales-compacted")]
        ctx.write(f"Compact   /data/sales (3 CSV files) to /data/sales-compacted: "
                  f"{info.status.value}, {', '.join(parts)}")
    jobs = job_ls(fs.master)
    assert all(j.status is Status.COMPLETED for j in jobs), "a data job did not complete"
    with AlluxioFileSystem(fs).open("/data/sales/part-2.csv") as f:
        header = f.readline().decode().strip()
    ctx.write(f"fsspec read of /data/sales/part-2.csv through the caches: {header!r} ...")

    ctx.command("alluxio job ls", format_job_ls(jobs))
    ctx.command(f"alluxio job getCmdStatus {load.cmd_id}", format_cmd_status(load))


#: The demo's sections, in the order they run.
SECTIONS: list[Section] = [core_jobs, data_jobs]


def main(*, out: TextIO | None = None, sections: Sequence[Section] | None = None) -> int:
    """Run every section of the demo, writing to ``out`` (default: standard output)."""
    stream = out if out is not None else sys.stdout
    stream.write("alluxio_jobs demo: the Alluxio Job Service, embedded in this process\n")
    with tempfile.TemporaryDirectory(prefix="alluxio-jobs-demo-") as tmp, \
            DemoContext(stream, Path(tmp)) as ctx:
        for section in SECTIONS if sections is None else sections:
            section(ctx)
    return 0
