"""The fault kit's policy helpers: RandomFaults and FaultyTransport(on_worker_lost=...)."""

import threading

import pytest

from alluxio_jobs import LocalTransport, TaskRequest, TransportError, WorkerLostError
from alluxio_jobs.testing import (
    Delay,
    DropTask,
    EchoConfig,
    FailTask,
    FaultyTransport,
    LoseWorker,
    RandomFaults,
    RejectSubmit,
    conformance_plans,
)

WAIT = 60.0


def request(job_id: int) -> TaskRequest:
    return TaskRequest(job_id=job_id, task_id=0, attempt=1, config=EchoConfig(value=job_id),
                       args=None)


def test_random_faults_are_repeatable_and_counted():
    def draw(seed: int) -> list[str]:
        policy = RandomFaults(seed, lose=0.1, fail=0.1, drop=0.1, reject=0.1, delay=0.1)
        faults = [policy(0, request(i)) for i in range(2000)]
        kinds = [type(f).__name__ for f in faults]
        counts = {name: kinds.count(kind) for name, kind in [
            ("lose", "LoseWorker"), ("fail", "FailTask"), ("drop", "DropTask"),
            ("reject", "RejectSubmit"), ("delay", "Delay")]}
        assert counts == policy.counts
        return kinds

    first = draw(3)
    assert first == draw(3)
    assert first != draw(4)
    assert 100 < first.count("NoneType") < 1900
    policy = RandomFaults(1, reject=1.0)
    fault = policy(0, request(1))
    assert isinstance(fault, RejectSubmit)
    assert isinstance(fault.exc, TransportError)
    assert isinstance(RandomFaults(1, lose=1.0)(0, request(1)), LoseWorker)
    assert isinstance(RandomFaults(1, fail=1.0)(0, request(1)), FailTask)
    assert isinstance(RandomFaults(1, drop=1.0)(0, request(1)), DropTask)
    delay = RandomFaults(1, delay=1.0, delay_seconds=0.5)(0, request(1))
    assert isinstance(delay, Delay)
    assert 0.0 <= delay.seconds <= 0.5


@pytest.mark.parametrize("rates", [{"fail": -0.1}, {"drop": 1.5}, {"fail": 0.6, "drop": 0.6}])
def test_random_faults_reject_bad_rates(rates):
    with pytest.raises(ValueError, match=r"0\.\.1|more than 1"):
        RandomFaults(0, **rates)


def test_on_worker_lost_is_told_once_per_worker():
    lost: list[int] = []
    told = threading.Event()

    def on_lost(worker_id: int) -> None:
        lost.append(worker_id)
        told.set()

    inner = LocalTransport(num_workers=2)
    inner.bind(conformance_plans())
    policy = RandomFaults(0, lose=1.0)
    with FaultyTransport(inner, lambda w, r: policy(w, r) if w == 0 else None,
                         on_worker_lost=on_lost) as faulty:
        with pytest.raises(WorkerLostError):
            faulty.submit(0, request(1)).result(WAIT)
        assert told.wait(WAIT)
        faulty.kill_worker(0)  # already lost: not told again
        faulty.kill_worker(1)
        assert lost == [0, 1]
