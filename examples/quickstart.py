"""Quickstart: embed a job master, run a job on local job workers, wait, print ``job stat``."""

from alluxio_jobs import JobMaster, LocalTransport, SleepConfig
from alluxio_jobs.render import format_job_stat
from alluxio_jobs.reports import job_stat


def main() -> None:
    # Two in-process job workers, each with Alluxio's default pool of 10 task threads.
    with JobMaster(transport=LocalTransport(num_workers=2)) as master:
        job_id = master.run(SleepConfig(time_ms=100, tasks_per_worker=2))
        info = master.wait(job_id, timeout=30)
        print(f"job {job_id} finished: {info.status}")
        print(format_job_stat(job_stat(master, job_id, verbose=True), verbose=True), end="")


if __name__ == "__main__":
    main()
