"""A master holding many retained finished jobs, filled quickly (shared by ``report`` and
``memory``).

The master runs on ``testing.MockTransport()``: each task runs synchronously, inside
``run``, so every job is finished when ``run`` returns and no thread is involved.
"""

from alluxio_jobs import JobConfig, JobMaster, MasterConfig
from alluxio_jobs.testing import EchoConfig, MockTransport, RaiseConfig, conformance_plans


def new_master(capacity: int) -> tuple[JobMaster, MockTransport]:
    """A master on one synchronous mock worker that knows Echo and Raise jobs."""
    transport = MockTransport(workers=1)
    master = JobMaster(MasterConfig(job_capacity=max(capacity, 100_000)), transport,
                       conformance_plans())
    return master, transport


def fill(master: JobMaster, transport: MockTransport, jobs: int, *, fail_every: int = 0,
         config: type[JobConfig] = EchoConfig) -> None:
    """Run ``jobs`` jobs of ``config`` (one task each; every ``fail_every``-th one a
    failing Raise job), each with its own config instance."""
    run = master.run
    for i in range(1, jobs + 1):
        run(RaiseConfig() if fail_every and i % fail_every == 0 else config())
    # MockTransport keeps every request it saw, for tests to inspect; the master does not.
    transport.requests.clear()
