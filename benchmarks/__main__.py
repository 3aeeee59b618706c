"""``python -m benchmarks``: run every benchmark, or those named with ``--only``.

``--quick`` shrinks every size for a fast check that the benchmarks work; its figures
are not the ones to quote.
"""

import argparse
import time
from collections.abc import Callable, Sequence

from benchmarks import compact, dask_dispatch, dispatch, distributed_load, memory, report

Benchmark = Callable[[Sequence[str] | None], None]

#: name -> (main, arguments for a full run, arguments for a quick run)
BENCHMARKS: dict[str, tuple[Benchmark, list[str], list[str]]] = {
    "dispatch": (dispatch.main, [], ["--jobs", "2000", "--repeat", "1"]),
    "report": (report.main, [], ["--jobs", "10000", "--report-calls", "100", "--repeat", "3"]),
    "memory": (memory.main, [], ["--jobs", "10000"]),
    "dask_dispatch": (dask_dispatch.main, [], ["--jobs", "500", "--repeat", "1"]),
    "compact": (compact.main, [], ["--quick"]),
    "distributed_load": (distributed_load.main, [],
                         ["--large", "2", "--large-mib", "8", "--small", "100", "--small-kib", "16",
                          "--block-mib", "4", "--repeat", "1"]),
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--only", action="append", choices=sorted(BENCHMARKS), metavar="NAME",
                        help=f"run this benchmark only (repeatable): {', '.join(BENCHMARKS)}")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a quick run")
    args = parser.parse_args(argv)
    for name in args.only or list(BENCHMARKS):
        run, full, quick = BENCHMARKS[name]
        start = time.perf_counter()
        run(quick if args.quick else full)
        print(f"  ({name} took {time.perf_counter() - start:.1f} s)\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
