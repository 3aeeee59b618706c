"""(e) Compaction: 2,000 small CSV files (about 205 MiB in all) compacted into 10 Parquet
files by a Compact job on 3 local job workers, against ``pyarrow.dataset`` doing the same
conversion in one process, in the same run.

Both sides read the same files with the same CSV options (every column text, an empty
field null, quoted line breaks allowed) and write 10 snappy Parquet files; both use
Arrow's C++ CSV reader and Parquet writer. The Compact job adds what the job service
does: listing and grouping on the master, one task per output file on the workers, a
header check per input file, staging and an all-or-nothing commit. Both sides read from
the page cache (the files are read once before timing) and write to local disk; dirty
pages are flushed before each timed run. Needs pyarrow (``alluxio_jobs[parquet]``).
"""

import argparse
import math
import os
import random
import shutil
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from alluxio_jobs.filesystem import FileSystem
from alluxio_jobs.model import MasterConfig, Status
from alluxio_jobs.plans.transform import PARQUET_EXTRA, transform

MIB = 1 << 20
COLUMNS = ["id", "ts", "user", "country", "amount", "comment"]
WORDS = ["alpha", "beta", "gamma", "delta", "Zürich", "naïve", "東京", "comma, inside",
         'a "quoted" word', "plain"]


def generate(root: str, files: int, file_kib: int, seed: int = 7) -> tuple[int, int]:
    """``files`` CSV files of about ``file_kib`` KiB each; (bytes, rows)."""
    rng = random.Random(seed)
    os.makedirs(root)
    total = rows = 0
    row_id = 0
    for i in range(files):
        lines = ["id,ts,user,country,amount,comment\n"]
        size = len(lines[0])
        while size < file_kib * 1024:
            comment = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 6)))
            line = (f"{row_id},2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T"
                    f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00,"
                    f"user-{rng.randint(0, 99999)},"
                    f"{rng.choice(['CH', 'FR', 'JP', 'US', ''])},"
                    f"{rng.randint(0, 10**6) / 100:.2f},"
                    f'"{comment.replace(chr(34), chr(34) * 2)}"\n')
            lines.append(line)
            size += len(line.encode())
            row_id += 1
        with open(os.path.join(root, f"part-{i:05d}.csv"), "w", encoding="utf-8",
                  newline="") as f:
            f.write("".join(lines))
        total += size
        rows += len(lines) - 1
    return total, rows


def warm(root: str) -> None:
    for name in os.listdir(root):
        with open(os.path.join(root, name), "rb") as f:
            while f.read(16 * MIB):
                pass


def baseline(pa: Any, src: str, dest: str, rows: int, outputs: int) -> tuple[float, int]:
    """pyarrow.dataset: the same CSV-to-Parquet conversion in this process."""
    import pyarrow.csv as pacsv
    import pyarrow.dataset as ds

    start = time.perf_counter()
    csv_format = ds.CsvFileFormat(
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in COLUMNS}, strings_can_be_null=True,
            quoted_strings_can_be_null=True, null_values=[""]),
        read_options=pacsv.ReadOptions(block_size=MIB))
    dataset = ds.dataset(src, format=csv_format)
    per_file = math.ceil(rows / outputs)
    ds.write_dataset(dataset, dest, format="parquet", max_rows_per_file=per_file,
                     max_rows_per_group=min(per_file, 1 << 20),
                     existing_data_behavior="overwrite_or_ignore")
    elapsed = time.perf_counter() - start
    return elapsed, len(os.listdir(dest))


def compact(ufs: str, threads: int, outputs: int) -> tuple[float, int, str]:
    """A Compact job on 3 local job workers: /data/in to /data/out."""
    with FileSystem.local(3, threadpool_size=threads, cache="memory",
                          master_config=MasterConfig(finished_job_retention=0)) as fs:
        fs.mount("/data", f"file://{ufs}")
        start = time.perf_counter()
        job_id = transform(fs, "/data/in", "/data/out",
                           f"file.count.max={outputs};file.size.min=1")
        info = fs.master.wait(job_id, timeout=3600)
        elapsed = time.perf_counter() - start
        if info.status is not Status.COMPLETED:
            raise SystemExit(f"Compact {info.status.value}: {info.error_message}")
        return elapsed, len(os.listdir(os.path.join(ufs, "out"))), info.result or ""


def count_rows(pq: Any, directory: str) -> int:
    return sum(pq.ParquetFile(os.path.join(directory, n)).metadata.num_rows
               for n in os.listdir(directory))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=2000, help="number of CSV files")
    parser.add_argument("--file-kib", type=int, default=105, help="size of a CSV file")
    parser.add_argument("--outputs", type=int, default=10, help="Parquet files to write")
    parser.add_argument("--threads", type=int, default=10, help="task threads per worker")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true",
                        help="200 files of 20 KiB, one run: checks that it works")
    args = parser.parse_args(argv)
    if args.quick:
        args.files, args.file_kib, args.repeat = 200, 20, 1
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        print(f"compact: skipped, pyarrow is not installed ({PARQUET_EXTRA})")
        return
    with tempfile.TemporaryDirectory(prefix="alluxio-bench-") as tmp:
        ufs = os.path.join(tmp, "ufs")
        src = os.path.join(ufs, "in")
        total, rows = generate(src, args.files, args.file_kib)
        warm(src)

        def fresh(path: str) -> str:
            shutil.rmtree(path, ignore_errors=True)
            os.sync()
            return path

        ours, theirs = [], []
        for _ in range(args.repeat):
            seconds, _ = baseline(pa, src, fresh(os.path.join(tmp, "dataset")), rows,
                                  args.outputs)
            theirs.append(seconds)
            assert count_rows(pq, os.path.join(tmp, "dataset")) == rows
            seconds, files, result = compact(ufs, args.threads, args.outputs)
            ours.append(seconds)
            out = os.path.join(ufs, "out")
            assert files <= args.outputs
            assert count_rows(pq, out) == rows
            fresh(out)
        best_ours, best_theirs = min(ours), min(theirs)
    print(f"compact: {args.files} CSV files, {total / MIB:.0f} MiB, {rows:,} rows -> "
          f"{args.outputs} Parquet files; 3 workers x {args.threads} threads; "
          f"best of {args.repeat}")
    print(f"  pyarrow.dataset (1 process) : {best_theirs:8.3f} s  "
          f"({total / MIB / best_theirs:7.1f} MiB/s)")
    print(f"  Compact job (3 workers)     : {best_ours:8.3f} s  "
          f"({total / MIB / best_ours:7.1f} MiB/s)   {result}")
    print(f"  time ratio (job / dataset)  : {best_ours / best_theirs:8.2f}")


if __name__ == "__main__":
    main()
