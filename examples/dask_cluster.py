"""Job workers on a Dask cluster on 127.0.0.1 (needs ``pip install 'alluxio_jobs[dask]'``).

Each Dask worker is one job worker: the master plans jobs as usual and the
``DaskTransport`` sends each task, as plain data, to the worker the plan chose. Then the
embedded storage runs on the same cluster (``FileSystem.dask``): each worker caches blocks
in a directory of its own, and blocks move between workers through Dask.
"""

import os
import tempfile
from typing import TYPE_CHECKING

from alluxio_jobs import CompositeConfig, JobMaster, NoopConfig, SleepConfig, render, reports
from alluxio_jobs.filesystem import FileSystem
from alluxio_jobs.plans.cache import LoadConfig
from alluxio_jobs.plans.transfer import MoveConfig
from alluxio_jobs.transports.dask import DaskTransport

if TYPE_CHECKING:
    import distributed


def jobs(client: "distributed.Client") -> None:
    with JobMaster(transport=DaskTransport(client)) as master:
        workers = master.transport.workers()
        print(f"{len(workers)} job workers on Dask: {[w.host for w in workers]}")
        sleep = master.run(SleepConfig(time_ms=20, tasks_per_worker=2))
        workflow = master.run(CompositeConfig(jobs=[NoopConfig(), SleepConfig(time_ms=5)]))
        for job_id in (sleep, workflow):
            print(f"job {job_id}: {master.wait(job_id, timeout=120).status}")
        print()
        print(render.format_job_stat(reports.job_stat(master, sleep, verbose=True), verbose=True),
              end="")


def storage(client: "distributed.Client") -> None:
    with (tempfile.TemporaryDirectory() as tmp,
          FileSystem.dask(client, block_size=1024, cache_capacity=1 << 20) as fs):
        os.makedirs(f"{tmp}/ufs")
        with open(f"{tmp}/ufs/events.log", "wb") as f:
            f.write(b"event\n" * 500)  # 3,000 bytes: 3 blocks
        fs.mount("/data", f"file://{tmp}/ufs")
        load = fs.master.run(LoadConfig(file_path="/data/events.log", replication=2))
        print(f"\nLoad: {fs.master.wait(load, timeout=120).status}")
        for block in fs.get_status("/data/events.log").blocks:
            print(f"  block {block.block_id}: cached on {[w.host for w in block.locations]}")
        info = fs.write("/data/draft", b"not persisted yet", write_type="MUST_CACHE")
        block = info.blocks[0]
        source = block.locations[0]
        target = next(w for w in fs.workers() if w.worker_id != source.worker_id)
        move = fs.master.run(MoveConfig(path="/data/draft", block_id=block.block_id,
                                        source_worker=source.host,
                                        destination_worker=target.host))
        print(f"Move: {fs.master.wait(move, timeout=120).status}, "
              f"now on {[w.host for w in fs.get_status('/data/draft').blocks[0].locations]}")
        print(f"read back: {fs.read('/data/draft')!r}")
        for usage in fs.cache_usage():
            print(f"  cache of {usage.worker.host}: {usage.blocks} blocks, {usage.used} bytes")


def main() -> None:
    import distributed

    cluster = distributed.LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=2, threads_per_worker=2, processes=True, host="127.0.0.1",
        dashboard_address="127.0.0.1:0")
    client = distributed.Client(cluster)  # type: ignore[no-untyped-call]
    with cluster, client:
        jobs(client)
        storage(client)


if __name__ == "__main__":
    main()
