"""Inspection data from a real master: ``job ls``, ``job stat`` and the job-service summary.

Jobs are driven into exact states on a manual clock: tasks run inline (MockTransport),
and FaultyTransport's ``Hold`` keeps chosen tasks from starting until the test opens
their gate. A job whose every task is held stays CREATED; a job with one task through
and one held is RUNNING.
"""

import json
import threading
from collections import Counter
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alluxio_jobs import (
    CompositeConfig,
    JobConfig,
    JobConfigError,
    JobInfo,
    JobMaster,
    JobNotFoundError,
    MasterConfig,
    NoopConfig,
    Status,
    TaskRequest,
    TaskResult,
    WorkerInfo,
    serde,
)
from alluxio_jobs._tracker import JobTracker
from alluxio_jobs.plans.basic import NoopPlan
from alluxio_jobs.reports import JobServiceReport, job_ls, job_stat, jobservice_report
from alluxio_jobs.testing import (
    EchoConfig,
    FaultyTransport,
    Hold,
    ManualClock,
    MockTransport,
    RaiseConfig,
    conformance_plans,
)
from alluxio_jobs.worker import run_task

WAIT = 60.0
CREATED, CANCELED, FAILED, RUNNING, COMPLETED = (
    Status.CREATED, Status.CANCELED, Status.FAILED, Status.RUNNING, Status.COMPLETED)


def label(config: JobConfig) -> str | None:
    """The test's name for a job: an Echo job's string value or a Raise job's message."""
    if isinstance(config, EchoConfig) and isinstance(config.value, str):
        return config.value
    if isinstance(config, RaiseConfig):
        return config.message
    return None


class Gates:
    """Fault policy: hold the tasks of labelled jobs until the test opens their gate."""

    def __init__(self) -> None:
        self._events: dict[tuple[str, int | None], threading.Event] = {}

    def gate(self, name: str, task_id: int | None = None) -> threading.Event:
        """The gate of task ``task_id`` (or of every task) of the jobs labelled ``name``."""
        return self._events.setdefault((name, task_id), threading.Event())

    def __call__(self, worker_id: int, request: TaskRequest) -> Hold | None:
        name = label(request.config)
        if name is None:
            return None
        event = self._events.get((name, request.task_id)) or self._events.get((name, None))
        return None if event is None else Hold(event)


class Ran:
    """MockTransport handler: runs the real plan inline, then marks the job's label as run."""

    def __init__(self, transport: MockTransport) -> None:
        self._transport = transport
        self._lock = threading.Lock()
        self._events: dict[str, threading.Event] = {}

    def event(self, name: str) -> threading.Event:
        with self._lock:
            return self._events.setdefault(name, threading.Event())

    def __call__(self, worker_id: int, request: TaskRequest) -> TaskResult:
        assert self._transport.plans is not None
        worker = WorkerInfo(worker_id=worker_id, host=f"mock-worker-{worker_id}")
        result = run_task(self._transport.plans, request, worker)
        name = label(request.config)
        if name is not None:
            self.event(name).set()
        return result


def gated_master(make_master: Callable[..., JobMaster], clock: ManualClock,
                 config: MasterConfig | None = None) -> tuple[JobMaster, Gates, Ran]:
    """A master with 2 inline workers on ``clock`` whose labelled tasks can be held."""
    gates = Gates()
    inner = MockTransport(workers=2)
    ran = Ran(inner)
    inner.handler = ran
    master = make_master(config, transport=FaultyTransport(inner, gates), clock=clock)
    return master, gates, ran


def ids(jobs: list[JobInfo]) -> list[int]:
    return [j.job_id for j in jobs]


def now_ms(clock: ManualClock) -> int:
    return int(clock() * 1000)


def expected_summary(infos: list[JobInfo]) -> tuple[list[JobInfo], list[JobInfo], list[JobInfo]]:
    """Alluxio's JobServiceSummary over every job: sort by last status change, newest
    first (ties by lower id first); recent = first 10, failures = first 10 FAILED;
    longest running = first 10 RUNNING of the reversed list."""
    newest_first = sorted(infos, key=lambda j: (-j.last_updated, j.job_id))
    recent = newest_first[:10]
    failures = [j for j in newest_first if j.status is FAILED][:10]
    running = [j for j in reversed(newest_first) if j.status is RUNNING][:10]
    return recent, failures, running


# -------------------------------------------------------------------------- job ls


def test_job_ls_lists_every_job_in_id_order(inline_master: JobMaster, clock: ManualClock):
    start = now_ms(clock)
    echo = inline_master.run(EchoConfig(value=1))
    clock.advance(2)
    boom = inline_master.run(RaiseConfig(message="boom"))
    workflow = inline_master.run(CompositeConfig(jobs=[NoopConfig()]))
    rows = job_ls(inline_master)
    assert ids(rows) == sorted(ids(rows))
    child = rows[-1].job_id
    assert [(r.job_id, r.name, r.status, r.last_updated) for r in rows] == [
        (echo, "Echo", COMPLETED, start),
        (boom, "Raise", FAILED, start + 2000),
        (workflow, "Composite", COMPLETED, start + 2000),
        (child, "NoOp", COMPLETED, start + 2000),
    ]
    assert rows[1].error_message == "Task execution failed: boom"
    assert all(r.tasks == [] and r.children == [] for r in rows)
    assert rows == inline_master.list_info()


def test_job_ls_of_an_empty_master(inline_master: JobMaster):
    assert job_ls(inline_master) == []


@pytest.fixture
def mixed(make_master, clock):
    """Echo jobs COMPLETED, CREATED and RUNNING, a FAILED Raise job and a COMPLETED NoOp."""
    master, gates, _ = gated_master(make_master, clock)
    gates.gate("created")
    gates.gate("running", task_id=1)
    jobs = {
        "echo_done": master.run(EchoConfig(value="done")),
        "echo_created": master.run(EchoConfig(value="created")),
        "raise": master.run(RaiseConfig(message="boom")),
        "echo_running": master.run(EchoConfig(value="running")),
        "noop": master.run(NoopConfig()),
    }
    return master, jobs


def test_job_ls_mixed_states(mixed):
    master, jobs = mixed
    assert [(r.job_id, r.status) for r in job_ls(master)] == [
        (jobs["echo_done"], COMPLETED), (jobs["echo_created"], CREATED),
        (jobs["raise"], FAILED), (jobs["echo_running"], RUNNING), (jobs["noop"], COMPLETED)]


@pytest.mark.parametrize(("statuses", "name", "expected"), [
    ([COMPLETED], None, ["echo_done", "noop"]),
    (None, "Echo", ["echo_done", "echo_created", "echo_running"]),
    ([COMPLETED], "Echo", ["echo_done"]),
    (["RUNNING", "CREATED"], "Echo", ["echo_created", "echo_running"]),
    ([FAILED], "Echo", []),
    ([FAILED, COMPLETED], "Raise", ["raise"]),
    (FAILED, None, ["raise"]),
    ("COMPLETED", "NoOp", ["noop"]),
    (None, "Sleep", []),
    ([CANCELED], None, []),
    (None, None, ["echo_done", "echo_created", "raise", "echo_running", "noop"]),
])
def test_job_ls_filters_by_status_and_name_together(mixed, statuses, name, expected):
    master, jobs = mixed
    rows = job_ls(master, statuses, name)
    assert ids(rows) == [jobs[k] for k in expected]
    assert master.list(statuses, name) == ids(rows)


def test_job_ls_rejects_an_unknown_status(inline_master: JobMaster):
    with pytest.raises(JobConfigError) as info:
        job_ls(inline_master, ["DONE"])
    assert info.value.field == "statuses"
    assert info.value.value == "DONE"


# ------------------------------------------------------------------------ job stat


def test_job_stat_brief_and_verbose(inline_master: JobMaster):
    job_id = inline_master.run(EchoConfig(value=7))
    brief = job_stat(inline_master, job_id)
    assert (brief.job_id, brief.name, brief.status) == (job_id, "Echo", COMPLETED)
    assert brief.description == "EchoConfig(value=7)"
    assert brief.tasks == []
    verbose = job_stat(inline_master, job_id, verbose=True)
    assert [(t.task_id, t.worker_host, t.status, t.result) for t in verbose.tasks] == [
        (0, "mock-worker-0", COMPLETED, 7), (1, "mock-worker-1", COMPLETED, 7)]
    assert all(t.job_id == job_id for t in verbose.tasks)
    assert verbose == inline_master.get_status(job_id, verbose=True)


def test_job_stat_failed_tasks_carry_their_errors(inline_master: JobMaster):
    job_id = inline_master.run(RaiseConfig(message="boom"))
    info = job_stat(inline_master, job_id, verbose=True)
    assert info.status is FAILED
    assert info.error_type == "ValueError"
    assert info.error_message == "Task execution failed: boom"
    assert info.tasks[0].status is FAILED
    assert (info.tasks[0].error_type, info.tasks[0].error_message) == ("ValueError", "boom")


def test_job_stat_of_a_workflow_lists_child_jobs(inline_master: JobMaster):
    job_id = inline_master.run(CompositeConfig(jobs=[NoopConfig(), EchoConfig(value=3)]))
    info = job_stat(inline_master, job_id, verbose=True)
    assert info.status is COMPLETED
    assert [(c.name, c.status) for c in info.children] == [("NoOp", COMPLETED),
                                                          ("Echo", COMPLETED)]
    assert [t.result for t in info.children[1].tasks] == [3, 3]
    assert ids(info.children) == ids(job_ls(inline_master))[1:]


def test_job_stat_of_a_held_job_shows_created_tasks(make_master, clock):
    master, gates, _ = gated_master(make_master, clock)
    gates.gate("wait")
    job_id = master.run(EchoConfig(value="wait"))
    info = job_stat(master, job_id, verbose=True)
    assert info.status is CREATED
    assert [t.status for t in info.tasks] == [CREATED, CREATED]


def test_job_stat_of_an_unknown_job(inline_master: JobMaster):
    with pytest.raises(JobNotFoundError, match="The job of id 42 does not exist"):
        job_stat(inline_master, 42)


def test_stat_and_report_of_a_real_master_round_trip_through_json(inline_master: JobMaster):
    workflow = inline_master.run(CompositeConfig(jobs=[EchoConfig(value=[1, 2]),
                                                       RaiseConfig(message="late")]))
    stat = job_stat(inline_master, workflow, verbose=True)
    assert stat.status is FAILED
    assert len(stat.children) == 2
    report = jobservice_report(inline_master)
    for data in (stat, report, job_ls(inline_master)):
        text = json.dumps(serde.to_dict(data))
        assert serde.from_dict(json.loads(text)) == data


# ------------------------------------------------------------------- report/summary


def test_jobservice_report_has_worker_health_and_summary(inline_master: JobMaster):
    inline_master.run(NoopConfig())
    report = jobservice_report(inline_master)
    assert isinstance(report, JobServiceReport)
    assert [(w.worker_id, w.host) for w in report.workers] == [(0, "mock-worker-0"),
                                                               (1, "mock-worker-1")]
    assert report.summary == inline_master.summary()
    assert report.summary.status_counts[COMPLETED] == 1


def test_local_workers_report_their_pool(master: JobMaster):
    report = jobservice_report(master)
    assert [(w.host, w.task_pool_size) for w in report.workers] == [("local-worker-0", 4),
                                                                    ("local-worker-1", 4)]
    assert all(w.num_active_tasks == 0 and w.unfinished_tasks == 0 for w in report.workers)


def test_summary_counts_cover_all_five_statuses(inline_master: JobMaster):
    counts = jobservice_report(inline_master).summary.status_counts
    assert counts == dict.fromkeys(Status, 0)
    assert list(counts) == list(Status)


def test_summary_reproduces_alluxio_job_service_summary_test(make_master, clock):
    # JobServiceSummaryTest: (1,FAILED,10003) (2,COMPLETED,9998) (3,COMPLETED,9999)
    # (4,FAILED,9997) (5,RUNNING,10000) (6,FAILED,10002) (7 workflow,RUNNING,9996).
    master, gates, ran = gated_master(make_master, clock)
    for name in ("j1", "j2", "j3", "j4", "j6"):
        gates.gate(name)
    gates.gate("j5", task_id=0)
    gates.gate("j5", task_id=1)  # never opened: j5 stays RUNNING
    gates.gate("j7-child")  # never opened: the workflow stays RUNNING
    j1 = master.run(RaiseConfig(message="j1"))
    j2 = master.run(EchoConfig(value="j2"))
    j3 = master.run(EchoConfig(value="j3"))
    j4 = master.run(RaiseConfig(message="j4"))
    j5 = master.run(EchoConfig(value="j5"))
    j6 = master.run(RaiseConfig(message="j6"))
    clock.advance(1)
    j7 = master.run(CompositeConfig(jobs=[EchoConfig(value="j7-child")]))
    (child,) = ids(master.get_status(j7).children)
    times = {j7: now_ms(clock), child: now_ms(clock)}

    def finish(name: str, job_id: int) -> None:
        clock.advance(1)
        gates.gate(name).set()
        master.wait(job_id, timeout=WAIT)
        times[job_id] = now_ms(clock)

    finish("j4", j4)
    finish("j2", j2)
    finish("j3", j3)
    clock.advance(1)
    gates.gate("j5", task_id=0).set()
    assert ran.event("j5").wait(WAIT)
    assert master.get_status(j5).status is RUNNING
    times[j5] = now_ms(clock)
    finish("j6", j6)
    finish("j1", j1)

    report = jobservice_report(master)
    summary = report.summary
    assert ids(summary.recent_activities) == [j1, j6, j5, j3, j2, j4, j7, child]
    assert ids(summary.recent_failures) == [j1, j6, j4]
    assert ids(summary.longest_running) == [j7, j5]
    assert summary.status_counts == {CREATED: 1, CANCELED: 0, FAILED: 3, RUNNING: 2,
                                     COMPLETED: 2}
    assert {j.job_id: j.last_updated for j in summary.recent_activities} == times
    assert [j.status for j in summary.recent_activities] == [
        FAILED, FAILED, RUNNING, COMPLETED, COMPLETED, FAILED, RUNNING, CREATED]
    assert [j.name for j in summary.longest_running] == ["Composite", "Echo"]
    recent, failures, running = expected_summary(master.list_info())
    assert (summary.recent_activities, summary.recent_failures,
            summary.longest_running) == (recent, failures, running)


def test_summary_fixture_with_alluxio_ids_and_times():
    # The same fixture on the pure tracker, with Alluxio's exact ids and timestamps.
    tracker = JobTracker(capacity=100, retention_ms=0, purge_count=-1)
    plan = NoopPlan()
    worker = WorkerInfo(worker_id=0, host="h")
    for job_id in range(1, 7):
        tracker.add_job(job_id, NoopConfig(), f"Test{job_id}", plan, 9990)
    tracker.add_job(7, CompositeConfig(jobs=[NoopConfig()]), "Composite", None, 9996,
                    steps=[[NoopConfig()]])
    tracker.fail_job(4, "TestError", "failed", 9997)
    tracker.set_tasks(2, [], 9998)
    tracker.set_tasks(3, [], 9999)
    tracker.set_tasks(5, [(worker, None)], 10000)
    tracker.task_running(5, 0, 1, 10000)
    tracker.fail_job(6, "TestError", "failed", 10002)
    tracker.fail_job(1, "TestError", "failed", 10003)
    summary = tracker.summary()
    assert ids(summary.recent_activities) == [1, 6, 5, 3, 2, 4, 7]
    assert ids(summary.recent_failures) == [1, 6, 4]
    assert ids(summary.longest_running) == [7, 5]
    assert summary.status_counts == {CREATED: 0, CANCELED: 0, FAILED: 3, RUNNING: 2,
                                     COMPLETED: 2}
    assert [j.last_updated for j in summary.recent_activities] == [
        10003, 10002, 10000, 9999, 9998, 9997, 9996]


def test_each_list_keeps_only_ten(make_master, clock):
    master, gates, _ = gated_master(make_master, clock)
    gates.gate("run", task_id=1)
    running = []
    for _ in range(12):
        running.append(master.run(EchoConfig(value="run")))
        clock.advance(1)
    failed = []
    for _ in range(12):
        failed.append(master.run(RaiseConfig(message="x")))
        clock.advance(1)
    summary = master.summary()
    assert ids(summary.longest_running) == running[:10]
    assert ids(summary.recent_failures) == failed[::-1][:10]
    assert ids(summary.recent_activities) == failed[::-1][:10]
    assert summary.status_counts[RUNNING] == 12
    assert summary.status_counts[FAILED] == 12


def test_recent_ties_go_to_the_lower_id(inline_master: JobMaster, clock: ManualClock):
    early = [inline_master.run(NoopConfig()) for _ in range(3)]
    clock.advance(1)
    late = [inline_master.run(RaiseConfig()) for _ in range(3)]
    summary = inline_master.summary()
    assert ids(summary.recent_activities) == late + early
    assert ids(summary.recent_failures) == late


def test_recent_ties_beyond_ten_keep_the_ten_lowest_ids(inline_master: JobMaster,
                                                       clock: ManualClock):
    inline_master.run(NoopConfig())
    clock.advance(1)
    same_time = [inline_master.run(RaiseConfig()) for _ in range(13)]
    summary = inline_master.summary()
    assert ids(summary.recent_activities) == same_time[:10]
    assert ids(summary.recent_failures) == same_time[:10]


def test_longest_running_ties_follow_alluxios_reversed_order(make_master, clock):
    # Alluxio reverses the newest-first list, so equal times come out higher id first.
    master, gates, _ = gated_master(make_master, clock)
    gates.gate("run", task_id=1)
    first = master.run(EchoConfig(value="run"))
    clock.advance(1)
    same_time = [master.run(EchoConfig(value="run")) for _ in range(12)]
    summary = master.summary()
    assert ids(summary.longest_running) == [first, *same_time[::-1][:9]]
    assert ids(summary.longest_running) == ids(expected_summary(master.list_info())[2])


def test_a_job_leaving_running_moves_to_the_top_of_recent(make_master, clock):
    master, gates, _ = gated_master(make_master, clock)
    gates.gate("a", task_id=1)
    gates.gate("b", task_id=1)
    a = master.run(EchoConfig(value="a"))
    clock.advance(1)
    b = master.run(EchoConfig(value="b"))
    clock.advance(1)
    noop = master.run(NoopConfig())
    assert ids(master.summary().longest_running) == [a, b]
    clock.advance(1)
    gates.gate("a", task_id=1).set()
    master.wait(a, timeout=WAIT)
    summary = master.summary()
    assert ids(summary.longest_running) == [b]
    assert ids(summary.recent_activities) == [a, noop, b]
    assert summary.recent_activities[0].status is COMPLETED


def test_an_old_job_finishing_last_is_the_most_recent(make_master, clock):
    master, gates, _ = gated_master(make_master, clock)
    gates.gate("old")
    old = master.run(EchoConfig(value="old"))
    clock.advance(1)
    newer = [master.run(NoopConfig()) for _ in range(11)]
    clock.advance(1)
    gates.gate("old").set()
    master.wait(old, timeout=WAIT)
    assert ids(master.summary().recent_activities) == [old, *newer[:9]]


def test_a_workflow_step_moves_it_behind_older_running_jobs(make_master, clock):
    master, gates, _ = gated_master(make_master, clock)
    gates.gate("step1")
    gates.gate("step2")
    gates.gate("run", task_id=1)
    workflow = master.run(CompositeConfig(jobs=[EchoConfig(value="step1"),
                                                EchoConfig(value="step2")]))
    running = []
    for _ in range(11):
        clock.advance(1)
        running.append(master.run(EchoConfig(value="run")))
    assert ids(master.summary().longest_running) == [workflow, *running[:9]]
    clock.advance(1)
    gates.gate("step1").set()
    master.wait(master.get_status(workflow).children[0].job_id, timeout=WAIT)
    assert ids(master.summary().longest_running) == running[:10]


def test_canceled_jobs_are_counted(make_master, clock):
    master, gates, _ = gated_master(make_master, clock)
    gates.gate("held")
    job_id = master.run(EchoConfig(value="held"))
    clock.advance(1)
    master.cancel(job_id)
    assert master.wait(job_id, timeout=WAIT).status is CANCELED
    summary = master.summary()
    assert summary.status_counts[CANCELED] == 1
    assert summary.status_counts[CREATED] == 0
    assert summary.recent_activities[0].last_updated == now_ms(clock)


def test_longest_running_is_measured_from_the_last_step_of_a_workflow(make_master, clock):
    master, gates, _ = gated_master(make_master, clock)
    gates.gate("step1")
    gates.gate("step2")
    workflow = master.run(CompositeConfig(jobs=[EchoConfig(value="step1"),
                                                EchoConfig(value="step2")]))
    clock.advance(1)
    gates.gate("hold", task_id=1)
    plain = master.run(EchoConfig(value="hold"))
    assert ids(master.summary().longest_running) == [workflow, plain]
    clock.advance(1)
    step1 = master.get_status(workflow).children[0].job_id
    gates.gate("step1").set()
    master.wait(step1, timeout=WAIT)
    info = master.get_status(workflow)
    assert info.status is RUNNING
    assert len(info.children) == 2
    assert info.last_updated == now_ms(clock)
    assert ids(master.summary().longest_running) == [plain, workflow]


def test_purged_jobs_leave_the_summary(make_master, clock):
    config = MasterConfig(job_capacity=3, finished_job_retention=0)
    master = make_master(config, transport=MockTransport(workers=2), clock=clock)
    old = [master.run(RaiseConfig()), master.run(NoopConfig()), master.run(NoopConfig())]
    clock.advance(1)
    new = master.run(NoopConfig())
    summary = master.summary()
    assert master.list() == [new]
    assert ids(summary.recent_activities) == [new]
    assert summary.recent_failures == []
    assert summary.status_counts == {CREATED: 0, CANCELED: 0, FAILED: 0, RUNNING: 0,
                                     COMPLETED: 1}
    for job_id in old:
        with pytest.raises(JobNotFoundError):
            job_stat(master, job_id)


# ------------------------------------------------------------------ recount (random)

OPS = ["noop", "echo", "raise", "created", "running", "failing", "workflow_done",
       "workflow_failed", "workflow_steps", "workflow_failing", "release", "cancel", "tick"]


class Scenario:
    """Random jobs on a gated master; ``pending`` jobs wait for their gate or a cancel."""

    def __init__(self) -> None:
        self.clock = ManualClock()
        self.gates = Gates()
        self.gates.gate("held")  # never opened
        self.master = JobMaster(None, FaultyTransport(MockTransport(workers=2), self.gates),
                                conformance_plans(), clock=self.clock)
        #: (gate, id of the job that finishes once the gate opens, job to cancel)
        self.pending: list[tuple[threading.Event, int, int]] = []
        self._labels = 0

    def _label(self) -> str:
        self._labels += 1
        return f"gate-{self._labels}"

    def _gated(self, make: Callable[[str], JobConfig], task_id: int | None = None) -> None:
        name = self._label()
        gate = self.gates.gate(name, task_id)
        job_id = self.master.run(make(name))
        self.pending.append((gate, job_id, job_id))

    def _workflow(self, first: Callable[[str], JobConfig], then: JobConfig) -> None:
        name = self._label()
        gate = self.gates.gate(name)
        workflow = self.master.run(CompositeConfig(jobs=[first(name), then]))
        (child,) = ids(self.master.get_status(workflow).children)
        self.pending.append((gate, child, workflow))

    def apply(self, op: str, pick: int) -> None:
        master = self.master
        if op == "tick":
            self.clock.advance(1)
        elif op == "noop":
            master.run(NoopConfig())
        elif op == "echo":
            master.run(EchoConfig(value=1))
        elif op == "raise":
            master.run(RaiseConfig())
        elif op == "created":
            self._gated(lambda name: EchoConfig(value=name))
        elif op == "running":
            self._gated(lambda name: EchoConfig(value=name), task_id=1)
        elif op == "failing":
            self._gated(lambda name: RaiseConfig(message=name))
        elif op == "workflow_done":
            master.run(CompositeConfig(jobs=[NoopConfig(), EchoConfig(value=2)],
                                       sequential=False))
        elif op == "workflow_failed":
            master.run(CompositeConfig(jobs=[RaiseConfig(), NoopConfig()]))
        elif op == "workflow_steps":  # opening the gate moves it to a held second step
            self._workflow(lambda name: EchoConfig(value=name), EchoConfig(value="held"))
        elif op == "workflow_failing":
            self._workflow(lambda name: RaiseConfig(message=name), NoopConfig())
        elif op in ("release", "cancel") and self.pending:
            gate, waited, target = self.pending.pop(pick % len(self.pending))
            if op == "release":
                gate.set()
                assert master.wait(waited, timeout=WAIT).status.is_finished
            else:
                master.cancel(target)
                assert master.wait(target, timeout=WAIT).status is CANCELED

    def check(self) -> None:
        infos = self.master.list_info()
        summary = jobservice_report(self.master).summary
        counts = Counter(j.status for j in infos)
        assert summary.status_counts == {s: counts[s] for s in Status}
        recent, failures, running = expected_summary(infos)
        assert summary.recent_activities == recent
        assert summary.recent_failures == failures
        assert summary.longest_running == running


@settings(max_examples=30)
@given(st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 63)), min_size=5,
                max_size=40))
def test_summary_agrees_with_a_recount_of_every_job(ops):
    scenario = Scenario()
    try:
        for op, pick in ops:
            scenario.apply(op, pick)
        scenario.check()
    finally:
        scenario.master.close()
