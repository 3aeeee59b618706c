"""Keep job history in a SQLite file and inspect it from a second process.

A master runs jobs with ``store=SQLiteJobStore(path)``; while it is still running, the
``alluxio-jobs`` command line (here ``python -m alluxio_jobs``) reads the same file from
another process, asks the master to cancel a job, and prints Alluxio's reports. A new
master opened on the file afterwards still lists every job.
"""

import subprocess
import sys
import tempfile
from pathlib import Path

from alluxio_jobs import JobMaster, LocalTransport, MasterConfig, SleepConfig, Status
from alluxio_jobs.stores import SQLiteJobStore


def cli(store: Path, *args: str) -> str:
    """Run the command line in another process, as an operator would."""
    result = subprocess.run([sys.executable, "-m", "alluxio_jobs", "--store", str(store), *args],
                            capture_output=True, text=True, check=True)
    return result.stdout


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "jobs.db"
        config = MasterConfig(store_flush_interval=0.05)
        with JobMaster(config, LocalTransport(num_workers=2), store=SQLiteJobStore(path)) as master:
            done = master.run(SleepConfig(time_ms=10, tasks_per_worker=2))
            master.wait(done, timeout=60)
            long_job = master.run(SleepConfig(time_ms=60_000))
            master.wait(master.run(SleepConfig(time_ms=0)), timeout=60)  # flushed with it

            print("$ alluxio-jobs --store jobs.db job ls")
            print(cli(path, "job", "ls"), end="")
            print(f"$ alluxio-jobs --store jobs.db job cancel {long_job}")
            cli(path, "job", "cancel", str(long_job))
            status = master.wait(long_job, timeout=60).status
            print(f"the master canceled job {long_job}: {status}")
            assert status is Status.CANCELED

        print("\n$ alluxio-jobs --store jobs.db job stat -v", done)
        print(cli(path, "job", "stat", "-v", str(done)), end="")

        with JobMaster(transport=LocalTransport(num_workers=1),
                       store=SQLiteJobStore(path)) as reopened:
            print(f"\na new master on the same file lists {len(reopened.list())} jobs; "
                  f"the next id is {reopened.run(SleepConfig(time_ms=0))}")


if __name__ == "__main__":
    main()
