"""Stateful property test of the master: any order of run / complete / fail / lose / cancel /
purge keeps statuses, counts and the report's indexes consistent.

Tasks go to a transport whose futures the test resolves itself, in the test's thread,
so every step is deterministic.
"""

from collections.abc import Callable
from concurrent.futures import Future

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from alluxio_jobs import (
    CompositeConfig,
    JobInfo,
    JobMaster,
    MasterConfig,
    NoopConfig,
    ResourceExhaustedError,
    SleepConfig,
    Status,
    TaskRequest,
    TaskResult,
    WorkerInfo,
    WorkerLostError,
    WorkerTransport,
)
from alluxio_jobs.testing import EchoConfig, ManualClock, conformance_plans


class ManualTransport(WorkerTransport):
    """Keeps every submitted task pending until the test resolves it."""

    def __init__(self, workers: int = 2) -> None:
        self._workers = tuple(WorkerInfo(worker_id=i, host=f"w{i}") for i in range(workers))
        self.pending: dict[tuple[int, int], tuple[int, Future[TaskResult]]] = {}

    def workers(self) -> tuple[WorkerInfo, ...]:
        return self._workers

    def submit(self, worker_id: int, request: TaskRequest,
               on_running: Callable[[], None] | None = None) -> "Future[TaskResult]":
        future: Future[TaskResult] = Future()
        self.pending[(request.job_id, request.task_id)] = (worker_id, future)
        if on_running is not None and request.task_id % 2 == 0:
            on_running()  # some tasks report RUNNING, others go straight to an outcome
        return future

    def cancel(self, worker_id: int, job_id: int, task_id: int, reason: str | None = None) -> None:
        entry = self.pending.pop((job_id, task_id), None)
        if entry is not None and entry[0] == worker_id:
            entry[1].set_result(TaskResult.canceled())

    def resolve(self, index: int, outcome: str) -> None:
        keys = sorted(self.pending)
        key = keys[index % len(keys)]
        worker_id, future = self.pending.pop(key)
        if outcome == "ok":
            future.set_result(TaskResult.completed(key[1]))
        elif outcome == "fail":
            future.set_result(TaskResult.failed("ValueError", "boom"))
        else:
            future.set_exception(WorkerLostError(worker_id, f"w{worker_id}"))


CONFIGS = {
    "noop": NoopConfig(),
    "echo": EchoConfig(value=1),  # one task per worker
    "sleep": SleepConfig(time_ms=1, tasks_per_worker=2),
    "sequential": CompositeConfig(jobs=[EchoConfig(value=2), NoopConfig(), EchoConfig(value=3)]),
    "parallel": CompositeConfig(jobs=[EchoConfig(value=4), SleepConfig(time_ms=1)],
                                sequential=False),
}


class MasterMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock()
        self.transport = ManualTransport()
        self.master = JobMaster(MasterConfig(job_capacity=12, finished_job_retention=5,
                                             lost_worker_interval=3600),
                                self.transport, conformance_plans(), clock=self.clock)
        self.finished: dict[int, JobInfo] = {}

    def teardown(self) -> None:
        self.master.close()

    @rule(kind=st.sampled_from(sorted(CONFIGS)))
    def run(self, kind: str) -> None:
        before = self.master.list()
        try:
            self.master.run(CONFIGS[kind])
        except ResourceExhaustedError:
            assert self.master.list() == before
            assert len(before) >= 10  # capacity 12 minus what a workflow step may add

    @precondition(lambda self: self.transport.pending)
    @rule(index=st.integers(0, 100), outcome=st.sampled_from(["ok", "ok", "fail", "lost"]))
    def resolve(self, index: int, outcome: str) -> None:
        self.transport.resolve(index, outcome)

    @precondition(lambda self: self.master.list())
    @rule(index=st.integers(0, 100))
    def cancel(self, index: int) -> None:
        ids = self.master.list()
        self.master.cancel(ids[index % len(ids)])

    @rule(seconds=st.sampled_from([0.001, 1, 6]))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @invariant()
    def counts_match_a_recount(self) -> None:
        infos = self.master.list_info()
        summary = self.master.summary()
        recount = dict.fromkeys(Status, 0)
        for info in infos:
            recount[info.status] += 1
        assert summary.status_counts == recount
        assert [i.job_id for i in infos] == sorted(i.job_id for i in infos)

    @invariant()
    def top_lists_match_a_sort(self) -> None:
        infos = self.master.list_info()
        summary = self.master.summary()
        newest = sorted(infos, key=lambda i: (-i.last_updated, i.job_id))
        assert [i.job_id for i in summary.recent_activities] == [i.job_id for i in newest[:10]]
        failed = [i for i in newest if i.status is Status.FAILED]
        assert [i.job_id for i in summary.recent_failures] == [i.job_id for i in failed[:10]]
        running = sorted((i for i in infos if i.status is Status.RUNNING),
                         key=lambda i: (i.last_updated, -i.job_id))
        assert [i.job_id for i in summary.longest_running] == [i.job_id for i in running[:10]]

    @invariant()
    def finished_jobs_never_change(self) -> None:
        tracked = set(self.master.list())
        for job_id, info in list(self.finished.items()):
            if job_id in tracked:
                assert self.master.get_status(job_id) == info
            else:
                del self.finished[job_id]  # purged
        for job_id in tracked:
            info = self.master.get_status(job_id)
            if info.status.is_finished:
                self.finished.setdefault(job_id, info)

    @invariant()
    def a_job_is_finished_exactly_when_nothing_of_it_runs(self) -> None:
        for job_id in self.master.list():
            info = self.master.get_status(job_id, verbose=True)
            parts = [t.status for t in info.tasks] + [c.status for c in info.children]
            if info.status.is_finished:
                assert all(s.is_finished for s in parts), info
            elif info.name != "Composite" and info.tasks:
                assert not all(s.is_finished for s in parts), info
        pending_jobs = {job_id for job_id, _ in self.transport.pending}
        for job_id in pending_jobs:
            assert not self.master.get_status(job_id).status.is_finished


TestMasterMachine = MasterMachine.TestCase
