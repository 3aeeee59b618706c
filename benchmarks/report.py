"""(b) Inspection with N retained finished jobs: ``jobservice_report`` and ``job_ls``.

Baseline, measured in the same run: a plain ``sorted()`` over N tuples, which is what
Alluxio does to build the report (it sorts every job by last status change).
Target: ``jobservice_report`` median under 1 ms with 100,000 jobs.
"""

import argparse
import random
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from alluxio_jobs.render import format_job_ls, format_jobservice_report
from alluxio_jobs.reports import job_ls, jobservice_report
from benchmarks.retained import fill, new_master


def timed(fn: Callable[[], Any], repeat: int) -> float:
    """Median wall time of ``repeat`` calls, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def sort_baseline(n: int, repeat: int) -> float:
    rng = random.Random(42)
    rows = [(rng.randrange(10**12), 10**12 + i, "Echo", "COMPLETED") for i in range(n)]
    return timed(lambda: sorted(rows), repeat)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:10.4f} ms"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=100_000, help="retained finished jobs")
    parser.add_argument("--report-calls", type=int, default=1000,
                        help="jobservice_report calls (median)")
    parser.add_argument("--repeat", type=int, default=5, help="job_ls and sort runs (median)")
    args = parser.parse_args(argv)
    n = args.jobs

    master, transport = new_master(n)
    with master:
        fill(master, transport, n, fail_every=100)
        counts = master.summary().status_counts
        sort = sort_baseline(n, args.repeat)
        report = timed(lambda: jobservice_report(master), args.report_calls)
        render_report = timed(lambda: format_jobservice_report(jobservice_report(master)),
                              args.report_calls)
        ls = timed(lambda: job_ls(master), args.repeat)
        rows = job_ls(master)
        render_ls = timed(lambda: format_job_ls(rows), args.repeat)

    mix = ", ".join(f"{count:,} {status}" for status, count in counts.items() if count)
    print(f"report: {n:,} retained finished jobs ({mix}), one task each")
    lines = [
        (f"baseline: sorted() of {n:,} tuples", sort, f"(median of {args.repeat})"),
        ("jobservice_report", report,
         f"{report / sort:9.5f}x the sort (median of {args.report_calls}; target < 1 ms)"),
        ("jobservice_report + its text", render_report, f"{render_report / sort:9.5f}x the sort"),
        ("job_ls", ls, f"{ls / sort:9.2f}x the sort (median of {args.repeat})"),
        ("format_job_ls of those rows", render_ls, f"{render_ls / sort:9.2f}x the sort"),
    ]
    for label, seconds, note in lines:
        print(f"  {label:<37}: {ms(seconds)}  {note}")

if __name__ == "__main__":
    main()
