"""(a) Dispatch overhead: N single-task jobs through JobMaster + LocalTransport, against N
bare ThreadPoolExecutor submits of the same no-op, in one run.

Targets: the master's time is at most 3x the bare pool's; with a SQLite job store, at
most 1.5x the master's time without one.
"""

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any, ClassVar

import attrs

from alluxio_jobs import (
    JobConfig,
    JobMaster,
    JobPlan,
    LocalTransport,
    MasterConfig,
    PlanRegistry,
    RunTaskContext,
    SelectContext,
    WorkerInfo,
)


@attrs.frozen(kw_only=True)
class OneTaskConfig(JobConfig):
    """One no-op task on the first worker."""

    name: ClassVar[str] = "OneTask"


class OneTaskPlan(JobPlan[OneTaskConfig, None, None]):
    def select_executors(self, config: OneTaskConfig, workers: Sequence[WorkerInfo],
                         ctx: SelectContext) -> list[tuple[WorkerInfo, None]]:
        return [(workers[0], None)]

    def run_task(self, config: OneTaskConfig, args: None, ctx: RunTaskContext) -> None:
        return noop()


def noop() -> None:
    return None


def bare_pool(n: int, threads: int) -> float:
    with ThreadPoolExecutor(max_workers=threads) as pool:
        start = time.perf_counter()
        futures = [pool.submit(noop) for _ in range(n)]
        wait(futures)
        return time.perf_counter() - start


def through_master(n: int, threads: int, store: Any = None) -> float:
    plans = PlanRegistry.default()
    plans.register(OneTaskConfig, OneTaskPlan())
    transport = LocalTransport(num_workers=1, threadpool_size=threads)
    kwargs = {} if store is None else {"store": store}
    with JobMaster(MasterConfig(job_capacity=max(n, 100_000)), transport, plans,
                   **kwargs) as master:
        start = time.perf_counter()
        ids = [master.run(OneTaskConfig()) for _ in range(n)]  # a config per job, as callers do
        for job_id in ids:
            master.wait(job_id, timeout=600)
        return time.perf_counter() - start


def with_sqlite_store(n: int, threads: int) -> float:
    from alluxio_jobs.stores import SQLiteJobStore

    with tempfile.TemporaryDirectory() as tmp:
        return through_master(n, threads, SQLiteJobStore(os.path.join(tmp, "jobs.db")))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--threads", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    bare, ours, durable = [], [], []
    for _ in range(args.repeat):
        bare.append(bare_pool(args.jobs, args.threads))
        ours.append(through_master(args.jobs, args.threads))
        durable.append(with_sqlite_store(args.jobs, args.threads))
    b, o, d = statistics.median(bare), statistics.median(ours), statistics.median(durable)
    print(f"dispatch: {args.jobs} single-task jobs, pool of {args.threads} threads, "
          f"median of {args.repeat}")
    print(f"  bare ThreadPoolExecutor : {b:8.3f} s  ({args.jobs / b:10.0f} tasks/s)")
    print(f"  JobMaster+LocalTransport: {o:8.3f} s  ({args.jobs / o:10.0f} jobs/s)")
    print(f"  ratio master/bare       : {o / b:8.2f}x  (target <= 3x)")
    print(f"  with SQLiteJobStore     : {d:8.3f} s  ({args.jobs / d:10.0f} jobs/s)")
    print(f"  ratio sqlite/memory     : {d / o:8.2f}x  (target <= 1.5x)")


if __name__ == "__main__":
    main()
