"""Job workers on a Dask cluster on 127.0.0.1 (needs ``pip install 'alluxio_jobs[dask]'``).

Each Dask worker is one job worker: the master plans jobs as usual and the
``DaskTransport`` sends each task, as plain data, to the worker the plan chose.
"""

from alluxio_jobs import CompositeConfig, JobMaster, NoopConfig, SleepConfig, render, reports
from alluxio_jobs.transports.dask import DaskTransport


def main() -> None:
    import distributed

    cluster = distributed.LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=2, threads_per_worker=2, processes=True, host="127.0.0.1",
        dashboard_address="127.0.0.1:0")
    client = distributed.Client(cluster)  # type: ignore[no-untyped-call]
    with cluster, client, JobMaster(transport=DaskTransport(client)) as master:
        workers = master.transport.workers()
        print(f"{len(workers)} job workers on Dask: {[w.host for w in workers]}")
        sleep = master.run(SleepConfig(time_ms=20, tasks_per_worker=2))
        workflow = master.run(CompositeConfig(jobs=[NoopConfig(), SleepConfig(time_ms=5)]))
        for job_id in (sleep, workflow):
            print(f"job {job_id}: {master.wait(job_id, timeout=120).status}")
        print()
        print(render.format_job_stat(reports.job_stat(master, sleep, verbose=True), verbose=True),
              end="")


if __name__ == "__main__":
    main()
