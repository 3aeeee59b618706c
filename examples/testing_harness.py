"""How an application's unit tests embed a job master, deterministically.

* ``MockTransport`` runs tasks synchronously in the test's own thread, through the real
  plans or through a plain ``handler(worker_id, request) -> TaskResult`` function.
* ``FaultyTransport`` wraps any transport and injects faults: lose a worker, fail a
  task, hold a task until an event is set.
* ``ManualClock`` fixes job ids, timestamps and retention.
* ``check_transport`` checks a transport of your own against the transport contract.

Each ``test_*`` function below is a pytest test (copy them into your suite); run this
file directly to run them all.
"""

import threading

from alluxio_jobs import (
    JobMaster,
    LocalTransport,
    MasterConfig,
    NoopConfig,
    ResourceExhaustedError,
    SleepConfig,
    Status,
    TaskRequest,
    TaskResult,
)
from alluxio_jobs.testing import (
    FaultyTransport,
    Hold,
    LoseWorker,
    ManualClock,
    MockTransport,
    check_transport,
)

WAIT = 30.0  # a safety net only: nothing below depends on timing


def test_a_failed_task_fails_the_job() -> None:
    """A handler decides each task's outcome; the job's status follows the rules."""

    def handler(worker_id: int, request: TaskRequest) -> TaskResult:
        if worker_id == 1:
            return TaskResult.failed("IOException", "disk full")
        return TaskResult.completed()

    transport = MockTransport(handler, workers=2)
    with JobMaster(transport=transport) as master:
        job_id = master.run(SleepConfig(time_ms=0))  # one task per worker
        info = master.get_status(job_id)  # no wait needed: MockTransport is synchronous
        assert info.status is Status.FAILED
        assert info.error_message == "Task execution failed: disk full"
        assert [r.task_id for r in transport.requests] == [0, 1]


def test_real_plans_run_inline() -> None:
    """Without a handler, MockTransport runs the real plan in the calling thread."""
    with JobMaster(transport=MockTransport(workers=3)) as master:
        job_id = master.run(SleepConfig(time_ms=0, tasks_per_worker=2))
        info = master.get_status(job_id, verbose=True)
        assert info.status is Status.COMPLETED
        assert len(info.tasks) == 6


def test_retention_and_capacity_with_a_manual_clock() -> None:
    """Finished jobs are purged only when room is needed and they are old enough."""
    clock = ManualClock(start=1_700_000_000.0)
    config = MasterConfig(job_capacity=2, finished_job_retention=60.0)
    with JobMaster(config, MockTransport(), clock=clock) as master:
        first = master.run(NoopConfig())
        assert first == 1_700_000_000_000 + 10_000  # ids: clock in ms + 10,000, then +1
        assert master.get_status(first).last_updated == 1_700_000_000_000
        master.run(NoopConfig())
        try:  # with pytest: `with pytest.raises(ResourceExhaustedError, match=...)`
            master.run(NoopConfig())
            raise AssertionError("expected ResourceExhaustedError")
        except ResourceExhaustedError as exc:
            message = str(exc)
        assert message == "Job master is at full capacity of 2 jobs"
        clock.advance(61)  # both finished jobs are now past the retention time
        third = master.run(NoopConfig())
        assert master.list() == [third]


def test_a_lost_worker_task_runs_elsewhere() -> None:
    """Worker 0 is lost when it gets its first task: the task moves to another worker."""

    def faults(worker_id: int, request: TaskRequest) -> LoseWorker | None:
        return LoseWorker() if worker_id == 0 and request.attempt == 1 else None

    transport = FaultyTransport(LocalTransport(num_workers=2), faults)
    with JobMaster(transport=transport) as master:
        job_id = master.run(SleepConfig(time_ms=0))
        info = master.wait(job_id, timeout=WAIT)
        assert info.status is Status.COMPLETED
        hosts = [t.worker_host for t in master.get_status(job_id, verbose=True).tasks]
        assert hosts == ["local-worker-1", "local-worker-1"]


def test_cancel_a_job_whose_task_is_held() -> None:
    """Hold keeps a task from starting until an event is set: ordering without sleep()."""
    release = threading.Event()
    transport = FaultyTransport(LocalTransport(num_workers=1), lambda w, r: Hold(release))
    with JobMaster(transport=transport) as master:
        job_id = master.run(SleepConfig(time_ms=0))
        assert master.get_status(job_id).status is Status.CREATED  # its task is held
        master.cancel(job_id)
        assert master.wait(job_id, timeout=WAIT).status is Status.CANCELED
        release.set()


def test_a_transport_keeps_the_contract() -> None:
    """Run the conformance checks against a transport (here the built-in one)."""
    check_transport(lambda: LocalTransport(num_workers=2))


def main() -> None:
    tests = [obj for name, obj in globals().items() if name.startswith("test_")]
    for test in tests:
        test()
        print(f"ok  {test.__name__}")
    print(f"{len(tests)} passed")


if __name__ == "__main__":
    main()
