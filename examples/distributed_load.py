"""Distributed load, copy and move between local directories.

A ``FileSystem`` mounts a local directory (any fsspec URL works: ``file://``,
``memory://``, ``s3://`` with s3fs …) and caches file blocks on three in-process job
workers. ``distributed_load`` caches a directory with Load jobs, ``distributed_cp`` copies
it to a second mount with Migrate jobs, and ``distributed_mv`` moves it, deleting the source
only once every copy completed.
"""

import tempfile
from collections import Counter
from pathlib import Path

from alluxio_jobs import render, reports
from alluxio_jobs.commands import (
    distributed_cp,
    distributed_load,
    distributed_mv,
    format_cmd_status,
)
from alluxio_jobs.filesystem import FileSystem


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp, "source"), Path(tmp, "target")
        (source / "logs").mkdir(parents=True)
        target.mkdir()
        for i in range(12):
            (source / "logs" / f"part-{i:02d}.log").write_bytes(bytes([i]) * (3000 + i))

        # CACHE_THROUGH: copies are written to the target directory as part of each job
        # (the default, ASYNC_THROUGH, persists them later with background Persist jobs)
        with FileSystem.local(3, block_size=1024, cache="memory",
                              write_type="CACHE_THROUGH") as fs:
            fs.mount("/data", source.as_uri())
            fs.mount("/backup", target.as_uri())

            load = distributed_load(fs, "/data/logs", replication=2, batch_size=4)
            info = load.wait(60)
            print(f"distributedLoad {info.status}: {len(info.completed)} files loaded")
            status = fs.get_status("/data/logs/part-00.log")
            print(f"part-00.log: {status.length} bytes in {len(status.blocks)} blocks, "
                  f"{status.in_alluxio_percentage}% cached, on "
                  f"{sorted({w.host for b in status.blocks for w in b.locations})}")

            again = distributed_load(fs, "/data/logs", replication=2).wait(60)
            print(f"a second load skips {len(again.skipped)} files already cached")

            copy = distributed_cp(fs, "/data/logs", "/backup/logs").wait(60)
            print(format_cmd_status(copy), end="")
            copied = sorted(p.name for p in (target / "logs").iterdir())
            print(f"{len(copied)} files now in {target / 'logs'}")

            move = distributed_mv(fs, "/backup/logs", "/backup/archive").wait(60)
            print(f"distributedMv {move.status}: source gone: "
                  f"{not (target / 'logs').exists() or not any((target / 'logs').iterdir())}")

            rows = reports.job_ls(fs.master)
            print(f"\n$ alluxio job ls | head -3    # {len(rows)} jobs in all")
            print(render.format_job_ls(rows[:3]), end="")
            counts = Counter(f"{r.name} {r.status}" for r in rows)
            print(", ".join(f"{n} x {k}" for k, n in sorted(counts.items())))


if __name__ == "__main__":
    main()
