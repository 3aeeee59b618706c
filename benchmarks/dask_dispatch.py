"""(f) Dask dispatch overhead: N single-task jobs through JobMaster + DaskTransport, against
N ``client.submit`` no-ops on the same local Dask cluster, in one run.

Target: the master's time is at most 1.5x the bare ``client.submit`` time. Both sides
submit everything first, then wait for all of it; the bare side waits with
``distributed.wait`` (its results stay on the workers), the master side until every job
is finished (its results are back on the master). The cluster is a
``LocalCluster(processes=True)`` of 2 workers with 2 threads each on 127.0.0.1.
"""

import argparse
import statistics
import time
from collections.abc import Sequence
from typing import Any, ClassVar

import attrs

from alluxio_jobs import (
    JobConfig,
    JobMaster,
    JobPlan,
    MasterConfig,
    PlanRegistry,
    RunTaskContext,
    SelectContext,
    WorkerInfo,
)


@attrs.frozen(kw_only=True)
class SpreadTaskConfig(JobConfig):
    """One no-op task, on the workers in turn (by job id)."""

    name: ClassVar[str] = "SpreadTask"


class SpreadTaskPlan(JobPlan[SpreadTaskConfig, None, None]):
    def select_executors(self, config: SpreadTaskConfig, workers: Sequence[WorkerInfo],
                         ctx: SelectContext) -> list[tuple[WorkerInfo, None]]:
        return [(workers[ctx.job_id % len(workers)], None)]

    def run_task(self, config: SpreadTaskConfig, args: None, ctx: RunTaskContext) -> None:
        return noop(0)


def noop(i: int) -> None:
    return None


def bare_submit(client: Any, n: int) -> float:
    from distributed import wait

    start = time.perf_counter()
    futures = [client.submit(noop, i, pure=False) for i in range(n)]
    wait(futures)
    elapsed = time.perf_counter() - start
    del futures
    return elapsed


def through_master(client: Any, n: int) -> float:
    from alluxio_jobs.transports.dask import DaskTransport

    plans = PlanRegistry.default()
    plans.register(SpreadTaskConfig, SpreadTaskPlan())
    config = SpreadTaskConfig()
    with JobMaster(MasterConfig(job_capacity=max(n, 100_000)), DaskTransport(client),
                   plans) as master:
        start = time.perf_counter()
        ids = [master.run(config) for _ in range(n)]
        for job_id in ids:
            master.wait(job_id, timeout=600)
        return time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        print("dask_dispatch: skipped (distributed is not installed: pip install "
              "'alluxio_jobs[dask]')")
        return
    with LocalCluster(processes=True, n_workers=2, threads_per_worker=2, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0") as cluster, Client(cluster) as client:
        bare_submit(client, 200)  # warm up both paths
        through_master(client, 200)
        bare, ours = [], []
        for _ in range(args.repeat):
            bare.append(bare_submit(client, args.jobs))
            ours.append(through_master(client, args.jobs))
    b, o = statistics.median(bare), statistics.median(ours)
    print(f"dask_dispatch: {args.jobs} single-task jobs, LocalCluster of 2 processes x 2 "
          f"threads, median of {args.repeat}")
    print(f"  bare client.submit      : {b:8.3f} s  ({args.jobs / b:10.0f} tasks/s)")
    print(f"  JobMaster+DaskTransport : {o:8.3f} s  ({args.jobs / o:10.0f} jobs/s)")
    print(f"  ratio master/bare       : {o / b:8.2f}x  (target <= 1.5x)")
    print(f"  runs (bare / master)    : {', '.join(f'{x:.2f}' for x in bare)} / "
          f"{', '.join(f'{x:.2f}' for x in ours)} s")


if __name__ == "__main__":
    main()
