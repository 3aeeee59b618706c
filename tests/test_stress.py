"""Many threads submitting, canceling and inspecting jobs at once."""

import random
import threading

from alluxio_jobs import (
    CompositeConfig,
    JobConfig,
    JobMaster,
    LocalTransport,
    MasterConfig,
    NoopConfig,
    SleepConfig,
    Status,
)
from alluxio_jobs.testing import EchoConfig, HoldConfig, RaiseConfig, conformance_plans

THREADS = 8
JOBS_PER_THREAD = 400
WAIT = 120.0

CONFIGS: list[JobConfig] = [
    NoopConfig(),
    SleepConfig(time_ms=0, tasks_per_worker=2),
    EchoConfig(value="x"),
    RaiseConfig(message="boom"),
    HoldConfig(seconds=WAIT),
    CompositeConfig(jobs=[EchoConfig(value=1), HoldConfig(seconds=WAIT)], sequential=False),
    CompositeConfig(jobs=[NoopConfig(), EchoConfig(value=2)]),
]
HOLDS = {4, 5}  # configs that only finish when canceled


def test_threads_submitting_and_canceling_leave_nothing_running():
    master = JobMaster(MasterConfig(job_capacity=100_000),
                       LocalTransport(num_workers=3, threadpool_size=4), conformance_plans())
    submitted: list[list[int]] = [[] for _ in range(THREADS)]
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def work(t: int) -> None:
        rng = random.Random(t)
        start.wait()
        try:
            for _ in range(JOBS_PER_THREAD):
                choice = rng.randrange(len(CONFIGS))
                job_id = master.run(CONFIGS[choice])
                submitted[t].append(job_id)
                if choice in HOLDS or rng.random() < 0.2:
                    master.cancel(job_id)
                if rng.random() < 0.1:  # also cancel someone else's job
                    others = submitted[rng.randrange(THREADS)]
                    if others:
                        master.cancel(others[rng.randrange(len(others))])
                if rng.random() < 0.05:
                    master.summary()
                    master.list_info(statuses=["RUNNING"])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors[0]

    all_ids = sorted(j for ids in submitted for j in ids)
    assert len(set(all_ids)) == THREADS * JOBS_PER_THREAD
    for job_id in all_ids:
        assert master.wait(job_id, WAIT).status.is_finished
    infos = master.list_info()
    assert not [i for i in infos if not i.status.is_finished]
    counts = master.summary().status_counts
    assert counts[Status.RUNNING] == counts[Status.CREATED] == 0
    assert sum(counts.values()) == len(infos) >= len(all_ids)
    for h in master.worker_health():
        assert h.num_active_tasks == 0
        assert h.unfinished_tasks == 0
    master.close()
    leftover = [t.name for t in threading.enumerate() if t.name.startswith("alluxio-")]
    assert leftover == []


def test_close_while_threads_submit_leaves_no_job_unfinished():
    master = JobMaster(MasterConfig(job_capacity=100_000),
                       LocalTransport(num_workers=2, threadpool_size=2), conformance_plans())
    ids: list[int] = []
    go = threading.Event()

    def submit() -> None:
        go.wait()
        for _ in range(300):
            try:
                ids.append(master.run(HoldConfig(seconds=WAIT)))
            except Exception:  # ClosedError once the master is closed
                return

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for thread in threads:
        thread.start()
    go.set()
    master.close()
    for thread in threads:
        thread.join()
    for job_id in ids:
        assert master.get_status(job_id).status.is_finished
