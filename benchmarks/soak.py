"""Soak: many jobs of mixed types under random faults, then check every invariant.

Not part of the test run (``nox -s soak``, or ``python -m benchmarks.soak``). By default
10,000 jobs (Noop, Sleep, Echo, Raise, Hold and Composite workflows of them) go through
a ``JobMaster`` on a ``LocalTransport`` of 4 workers wrapped in a ``FaultyTransport``
that loses workers (each replaced by a new one), fails, drops, rejects and delays tasks
at random; some jobs are canceled while they run. ``--dask N`` then runs N more jobs on
a local Dask cluster (``FaultyTransport`` over ``DaskTransport``), killing a Dask worker
process halfway through.

At the end, for each run:

* every job is finished, and nothing is CREATED or RUNNING;
* the report's counts (``master.summary()``) equal a recount of ``master.list_info()``;
* no job worker has an unfinished or active task;
* outcomes are consistent: Noop jobs COMPLETED, Raise jobs never COMPLETED, only jobs
  that were canceled are CANCELED;
* after ``close()`` no ``alluxio-*`` thread is left.

Exits with status 1 (and says which) if an invariant does not hold.
"""

import argparse
import collections
import functools
import queue
import random
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from alluxio_jobs import (
    CompositeConfig,
    JobConfig,
    JobMaster,
    LocalTransport,
    MasterConfig,
    NoopConfig,
    SleepConfig,
    Status,
    WorkerTransport,
)
from alluxio_jobs.testing import (
    EchoConfig,
    FaultyTransport,
    HoldConfig,
    RaiseConfig,
    RandomFaults,
    conformance_plans,
)

WAIT = 120.0


def mixed_config(rng: random.Random, depth: int = 0) -> JobConfig:
    """A random job: mostly plain jobs, one in five a workflow of 1-3 of them."""
    draw = rng.random()
    if draw < 0.18:
        return NoopConfig()
    if draw < 0.36:
        return SleepConfig(time_ms=rng.randint(0, 2), tasks_per_worker=rng.randint(1, 2))
    if draw < 0.56:
        return EchoConfig(value={"n": rng.randint(0, 1000), "tags": ["soak"]})
    if draw < 0.66:
        return RaiseConfig(message="soak failure")
    if draw < 0.80 or depth > 0:
        return HoldConfig(seconds=rng.uniform(0.0005, 0.005))
    children = [mixed_config(rng, depth + 1) for _ in range(rng.randint(1, 3))]
    return CompositeConfig(jobs=children, sequential=rng.random() < 0.5)


class Soak:
    """One soak run against one transport."""

    def __init__(self, transport: WorkerTransport, jobs: int, seed: int, *,
                 submitters: int = 4, cancel_rate: float = 0.03,
                 during: Callable[[], None] | None = None) -> None:
        self.transport = transport
        self.jobs = jobs
        self.seed = seed
        self.submitters = submitters
        self.cancel_rate = cancel_rate
        self.during = during  # called once, halfway through the submissions
        self.master = JobMaster(
            MasterConfig(job_capacity=max(100_000, 8 * jobs), max_task_attempts=3),
            transport, conformance_plans())
        self.configs: dict[int, JobConfig] = {}
        self.canceled: set[int] = set()
        self.lock = threading.Lock()
        self.submitted = 0
        self.errors: list[str] = []

    def submit(self, index: int) -> None:
        rng = random.Random(self.seed * 1000 + index)
        mine: list[int] = []
        for _ in range(index, self.jobs, self.submitters):
            config = mixed_config(rng)
            job_id = self.master.run(config)
            mine.append(job_id)
            with self.lock:
                self.configs[job_id] = config
                self.submitted += 1
                halfway = self.submitted == self.jobs // 2
            if halfway and self.during is not None:
                self.during()
            if rng.random() < self.cancel_rate:
                victim = rng.choice(mine[-20:])
                with self.lock:
                    self.canceled.add(victim)
                self.master.cancel(victim, "soak")

    def run(self) -> dict[str, Any]:
        start = time.perf_counter()
        threads = [threading.Thread(target=self.submit, args=(i,), name=f"soak-submit-{i}")
                   for i in range(self.submitters)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        infos = {job_id: self.master.wait(job_id, WAIT) for job_id in sorted(self.configs)}
        elapsed = time.perf_counter() - start
        self.check(infos)
        statuses = collections.Counter(i.status.value for i in infos.values())
        return {"jobs": len(infos), "seconds": elapsed, "statuses": dict(sorted(statuses.items())),
                "tracked": len(self.master.list())}

    def fail(self, message: str) -> None:
        self.errors.append(message)

    def check(self, infos: dict[int, Any]) -> None:
        master = self.master
        if len(infos) != self.jobs:
            self.fail(f"{len(infos)} jobs finished, {self.jobs} submitted")
        unfinished = [j for j, i in infos.items() if not i.status.is_finished]
        if unfinished:
            self.fail(f"jobs not finished: {unfinished[:10]}")
        left = master.list(statuses=[Status.CREATED, Status.RUNNING])
        if left:
            self.fail(f"jobs still CREATED or RUNNING: {left[:10]}")
        recount = collections.Counter(i.status for i in master.list_info())
        counts = {s: n for s, n in master.summary().status_counts.items() if n}
        if counts != dict(recount):
            self.fail(f"summary counts {counts} != recount {dict(recount)}")
        deadline = time.monotonic() + 10
        busy = self.busy_workers()
        while busy and time.monotonic() < deadline:  # a lost worker's last callbacks
            time.sleep(0.05)
            busy = self.busy_workers()
        if busy:
            self.fail(f"workers with unfinished tasks at the end: {busy}")
        for job_id, info in infos.items():
            config = self.configs[job_id]
            if isinstance(config, NoopConfig) and info.status is not Status.COMPLETED:
                self.fail(f"Noop job {job_id} is {info.status}")
            if isinstance(config, RaiseConfig) and info.status is Status.COMPLETED:
                self.fail(f"Raise job {job_id} COMPLETED")
            if info.status is Status.CANCELED and job_id not in self.canceled:
                self.fail(f"job {job_id} is CANCELED but nobody canceled it")

    def busy_workers(self) -> list[Any]:
        return [h for h in self.master.worker_health()
                if h.unfinished_tasks or h.num_active_tasks]

    def close(self) -> None:
        self.master.close()


def _replace_lost_workers(inner: LocalTransport, lost: "queue.SimpleQueue[int | None]") -> None:
    """Maintenance thread: each lost worker is replaced by a new one at once, then taken
    away in a thread of its own (that waits for the tasks still running on it)."""
    removals: list[threading.Thread] = []
    while True:
        worker_id = lost.get()
        if worker_id is None:
            break
        try:
            inner.add_worker()
        except Exception as exc:  # noqa: BLE001 - closing meanwhile
            print(f"  (could not replace worker {worker_id}: {exc})")
        removal = threading.Thread(target=_remove, args=(inner, worker_id),
                                   name=f"soak-remove-{worker_id}")
        removal.start()
        removals.append(removal)
    for removal in removals:
        removal.join()


def _remove(inner: LocalTransport, worker_id: int) -> None:
    try:
        inner.remove_worker(worker_id)
    except Exception as exc:  # noqa: BLE001 - closing meanwhile
        print(f"  (could not remove worker {worker_id}: {exc})")


def local_soak(jobs: int, seed: int) -> tuple[dict[str, Any], list[str]]:
    inner = LocalTransport(num_workers=4, threadpool_size=4)
    faults = RandomFaults(seed, lose=0.0005, fail=0.004, drop=0.004, reject=0.004,
                          delay=0.02, delay_seconds=0.002)
    lost: queue.SimpleQueue[int | None] = queue.SimpleQueue()
    maintenance = threading.Thread(target=_replace_lost_workers, args=(inner, lost),
                                   name="soak-maintenance")
    maintenance.start()
    soak = Soak(FaultyTransport(inner, faults, on_worker_lost=lost.put), jobs, seed)
    try:
        report = soak.run()
    finally:
        lost.put(None)
        maintenance.join()
        soak.close()
    report["faults"] = dict(faults.counts)
    report["workers ever"] = 4 + faults.counts["lose"]
    return report, soak.errors


def dask_soak(jobs: int, seed: int) -> tuple[dict[str, Any], list[str]]:
    import os
    import signal

    from distributed import Client, LocalCluster

    from alluxio_jobs.transports.dask import DaskTransport

    faults = RandomFaults(seed, fail=0.004, drop=0.004, reject=0.004, delay=0.02,
                          delay_seconds=0.002)
    with LocalCluster(processes=True, n_workers=2, threads_per_worker=2, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0") as cluster, Client(cluster) as client:
        transport = DaskTransport(client, poll_interval=0.2)

        def kill_one() -> None:
            address = sorted(client.scheduler_info(n_workers=-1)["workers"])[0]
            pid = client.run(os.getpid, workers=[address])[address]
            os.kill(pid, signal.SIGKILL)
            print(f"  killed Dask worker {address} (pid {pid})")

        soak = Soak(FaultyTransport(transport, faults), jobs, seed, submitters=2,
                    during=kill_one)
        try:
            report = soak.run()
        finally:
            soak.close()
    report["faults"] = dict(faults.counts)
    return report, soak.errors


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=10_000, help="jobs on LocalTransport")
    parser.add_argument("--dask", type=int, default=0, metavar="N",
                        help="then N jobs on a local Dask cluster (needs the dask extra)")
    parser.add_argument("--seed", type=int, default=20_240_601)
    args = parser.parse_args(argv)
    runs: list[tuple[str, Callable[[], tuple[dict[str, Any], list[str]]]]] = []
    if args.jobs:
        runs.append(("LocalTransport", functools.partial(local_soak, args.jobs, args.seed)))
    if args.dask:
        runs.append(("DaskTransport", functools.partial(dask_soak, args.dask, args.seed)))
    failed = False
    for name, run in runs:
        print(f"soak on {name} ...")
        report, errors = run()
        leaked = [t.name for t in threading.enumerate() if t.name.startswith("alluxio-")]
        if leaked:
            errors.append(f"threads left after close(): {leaked}")
        print(f"  {report['jobs']:,} jobs in {report['seconds']:.1f} s "
              f"({report['jobs'] / report['seconds']:,.0f} jobs/s), "
              f"{report['tracked']:,} tracked with workflow children")
        print(f"  statuses: {report['statuses']}")
        print(f"  faults injected: {report['faults']}")
        for error in errors:
            print(f"  FAILED: {error}")
        if not errors:
            print("  every invariant holds")
        failed = failed or bool(errors)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
