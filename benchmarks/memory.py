"""(c) Memory per retained finished job, measured with ``tracemalloc``.

Baseline, measured in the same run: N small dicts each holding one bare ``object()``,
kept in a list (about the least a tracker could keep per job). Target: under 2 KB per
retained finished job.
"""

import argparse
import gc
import tracemalloc
from collections.abc import Callable, Sequence

from alluxio_jobs import JobConfig, NoopConfig
from alluxio_jobs.testing import EchoConfig
from benchmarks.retained import fill, new_master


def traced_bytes(build: Callable[[], object]) -> int:
    """Bytes still allocated once ``build()`` returned (its result kept alive)."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = build()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del kept
    return after - before


def per_job(n: int, config: type[JobConfig]) -> float:
    master, transport = new_master(n)
    with master:
        used = traced_bytes(lambda: fill(master, transport, n, config=config))
        assert len(master.list()) == n
    return used / n


def per_baseline(n: int) -> float:
    return traced_bytes(lambda: [{"job": object()} for _ in range(n)]) / n


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=100_000, help="retained finished jobs")
    args = parser.parse_args(argv)
    n = args.jobs
    baseline = per_baseline(n)
    echo = per_job(n, EchoConfig)
    noop = per_job(n, NoopConfig)
    print(f"memory: {n:,} retained finished jobs, bytes per job (tracemalloc)")
    print(f"  baseline: dict holding an object()   : {baseline:8.0f} B")
    print(f"  Echo job, 1 task, COMPLETED          : {echo:8.0f} B  "
          f"{echo / baseline:6.2f}x the baseline (target < 2048 B)")
    print(f"  NoOp job, no task, COMPLETED         : {noop:8.0f} B  "
          f"{noop / baseline:6.2f}x the baseline")


if __name__ == "__main__":
    main()
