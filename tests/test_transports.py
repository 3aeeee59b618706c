"""Every transport keeps the WorkerTransport contract; fault injection behaves as documented."""

import threading
from collections.abc import Callable

import pytest

from alluxio_jobs import (
    ClosedError,
    JobMaster,
    LocalTransport,
    Status,
    TaskRequest,
    TaskResult,
    TransportError,
    WorkerInfo,
    WorkerLostError,
    WorkerNotFoundError,
    WorkerTransport,
)
from alluxio_jobs.testing import (
    Delay,
    DropTask,
    EchoConfig,
    FailTask,
    FaultyTransport,
    Hold,
    HoldConfig,
    LoseWorker,
    MockTransport,
    RejectSubmit,
    check_transport,
    conformance_plans,
)
from alluxio_jobs.worker import JobWorker

WAIT = 60.0

TRANSPORTS: dict[str, Callable[[], WorkerTransport]] = {
    "local": lambda: LocalTransport(num_workers=2, threadpool_size=3),
    "mock-inline": lambda: MockTransport(workers=2),
    "faulty-no-faults": lambda: FaultyTransport(LocalTransport(num_workers=2)),
}


@pytest.mark.parametrize("name", sorted(TRANSPORTS))
def test_transport_conformance(name: str):
    check_transport(TRANSPORTS[name], timeout=WAIT, synchronous=name == "mock-inline")


def test_check_transport_catches_a_broken_transport():
    class LeakyErrors(MockTransport):
        def submit(self, worker_id, request, on_running=None):
            if worker_id not in {w.worker_id for w in self.workers()}:
                raise KeyError(worker_id)  # should be WorkerNotFoundError
            return super().submit(worker_id, request, on_running)

    with pytest.raises(AssertionError, match="WorkerNotFoundError"):
        check_transport(LeakyErrors)


def test_an_incomplete_transport_cannot_be_built():
    class NoSubmit(WorkerTransport):
        def workers(self):
            return []

    with pytest.raises(TypeError):
        NoSubmit()  # type: ignore[abstract]


def request(job_id: int = 1, config=None) -> TaskRequest:
    return TaskRequest(job_id=job_id, task_id=0, attempt=1,
                       config=config or EchoConfig(value=job_id), args=None)


@pytest.fixture
def local() -> LocalTransport:
    transport = LocalTransport(num_workers=2)
    transport.bind(conformance_plans())
    return transport


def test_fail_task_fault_resolves_failed_without_running(local: LocalTransport):
    with FaultyTransport(local, lambda w, r: FailTask("disk on fire", "IOError")) as faulty:
        result = faulty.submit(0, request()).result(WAIT)
    assert result == TaskResult.failed("IOError", "disk on fire")


def test_drop_fault_fails_the_future_with_transport_error(local: LocalTransport):
    with FaultyTransport(local, lambda w, r: DropTask()) as faulty:
        future = faulty.submit(0, request())
        with pytest.raises(TransportError, match="dropped"):
            future.result(WAIT)


def test_reject_fault_raises_from_submit(local: LocalTransport):
    reject = RejectSubmit(WorkerNotFoundError(0))
    with FaultyTransport(local, lambda w, r: reject) as faulty, pytest.raises(WorkerNotFoundError):
        faulty.submit(0, request())


def test_lose_worker_fault_fails_the_task_and_removes_the_worker(local: LocalTransport):
    with FaultyTransport(local, lambda w, r: LoseWorker() if w == 0 else None) as faulty:
        with pytest.raises(WorkerLostError) as raised:
            faulty.submit(0, request()).result(WAIT)
        assert raised.value.worker_id == 0
        assert [w.worker_id for w in faulty.workers()] == [1]
        with pytest.raises(WorkerNotFoundError):
            faulty.submit(0, request())
        assert faulty.submit(1, request(7)).result(WAIT).result == 7


def test_hold_fault_delivers_only_when_released(local: LocalTransport):
    release = threading.Event()
    with FaultyTransport(local, lambda w, r: Hold(release)) as faulty:
        future = faulty.submit(0, request(5))
        assert not future.done()
        release.set()
        assert future.result(WAIT).result == 5


def test_a_held_task_can_be_canceled(local: LocalTransport):
    release = threading.Event()
    with FaultyTransport(local, lambda w, r: Hold(release)) as faulty:
        future = faulty.submit(0, request(5))
        faulty.cancel(0, 5, 0)
        assert future.result(WAIT).status is Status.CANCELED


def test_delay_fault_delivers_later(local: LocalTransport):
    with FaultyTransport(local, lambda w, r: Delay(0.01)) as faulty:
        assert faulty.submit(1, request(3)).result(WAIT).result == 3


def test_a_delayed_task_can_be_canceled_and_close_does_not_wait_for_delays(
        local: LocalTransport):
    faulty = FaultyTransport(local, lambda w, r: Delay(3600))
    canceled = faulty.submit(0, request(5))
    pending = faulty.submit(1, request(6))
    faulty.cancel(0, 5, 0)
    assert canceled.result(WAIT).status is Status.CANCELED
    assert not pending.done()
    faulty.close()  # an hour-long delay would hang the test if close waited for it
    assert pending.result(WAIT).status is Status.CANCELED


def test_kill_worker_fails_its_running_tasks(local: LocalTransport):
    with FaultyTransport(local) as faulty:
        future = faulty.submit(0, request(config=HoldConfig(seconds=WAIT)))
        faulty.kill_worker(0)
        with pytest.raises(WorkerLostError):
            future.result(WAIT)


def test_mock_transport_handler_outcomes():
    def handler(worker_id: int, req: TaskRequest) -> TaskResult:
        if req.job_id == 1:
            raise WorkerLostError(worker_id, "mock-worker-0")
        if req.job_id == 2:
            raise ValueError("handler bug")
        return TaskResult.completed(req.job_id)

    transport = MockTransport(handler)
    with pytest.raises(WorkerLostError):
        transport.submit(0, request(1)).result(0)
    failed = transport.submit(0, request(2)).result(0)
    assert failed == TaskResult.failed("ValueError", "handler bug")
    assert transport.submit(0, request(3)).result(0).result == 3
    assert [r.job_id for r in transport.requests] == [1, 2, 3]
    transport.close()
    with pytest.raises(ClosedError):
        transport.submit(0, request(4))


def test_local_transport_add_and_remove_workers():
    with LocalTransport(num_workers=1) as transport:
        transport.bind(conformance_plans())
        added = transport.add_worker()
        assert [w.worker_id for w in transport.workers()] == [0, added.worker_id]
        assert transport.submit(added.worker_id, request(9)).result(WAIT).result == 9
        transport.remove_worker(0)
        assert [w.worker_id for w in transport.workers()] == [added.worker_id]
        with pytest.raises(WorkerNotFoundError):
            transport.remove_worker(0)


def test_a_worker_joining_later_takes_new_tasks(make_master):
    transport = LocalTransport(num_workers=1)
    master: JobMaster = make_master(transport=transport)
    transport.add_worker()
    job_id = master.run(EchoConfig(value="x"))
    info = master.wait(job_id, WAIT)
    assert info.status is Status.COMPLETED
    hosts = {t.worker_host for t in master.get_status(job_id, verbose=True).tasks}
    assert hosts == {"local-worker-0", "local-worker-1"}


def test_a_finished_task_is_no_longer_active_when_its_result_is_out():
    # paused (pool 0) until the callbacks are in place, then one task at a time: each
    # callback runs in the worker's thread as the result is set
    worker = JobWorker(WorkerInfo(worker_id=0, host="w0"), conformance_plans(), pool_size=0)
    try:
        seen: list[tuple[int, int]] = []

        def on_done(_future: object) -> None:
            health = worker.health()
            seen.append((health.num_active_tasks, health.unfinished_tasks))

        futures = [worker.submit(request(job_id)) for job_id in (1, 2, 3)]
        for future in futures:
            future.add_done_callback(on_done)
        worker.set_pool_size(1)
        assert [f.result(WAIT).result for f in futures] == [1, 2, 3]
        assert seen == [(0, 2), (0, 1), (0, 0)]  # never counted active once done
    finally:
        worker.close()
