"""JobMaster semantics: submission, status derivation, cancel, wait, capacity, workflows."""

import threading
import uuid

import pytest

from alluxio_jobs import (
    ClosedError,
    CompositeConfig,
    JobConfig,
    JobConfigError,
    JobInfo,
    JobMaster,
    JobNotFoundError,
    JobTimeoutError,
    JobWorkerHealth,
    LocalTransport,
    MasterConfig,
    NoopConfig,
    ResourceExhaustedError,
    SleepConfig,
    Status,
    UnknownJobTypeError,
)
from alluxio_jobs.testing import (
    FaultyTransport,
    Hold,
    HoldConfig,
    ManualClock,
    MockTransport,
    RejectSubmit,
    conformance_plans,
)
from tests.scripted import BadSelectConfig, ScriptConfig, gate, started

WAIT = 60.0


def key() -> str:
    return uuid.uuid4().hex


# ---------------------------------------------------------------- submission


def test_job_ids_start_after_clock_plus_10s_and_increase(make_master, clock: ManualClock):
    master = make_master(transport=MockTransport(), clock=clock)
    ids = [master.run(NoopConfig()) for _ in range(5)]
    assert ids[0] == int(clock() * 1000) + 10_000
    assert ids == list(range(ids[0], ids[0] + 5))


def test_zero_task_job_is_completed_at_submit(inline_master: JobMaster):
    job_id = inline_master.run(NoopConfig())
    info = inline_master.get_status(job_id)
    assert info.status is Status.COMPLETED
    assert info.name == "NoOp"
    assert info.description == "NoopConfig()"


def test_sleep_runs_tasks_per_worker_on_every_worker(master: JobMaster):
    job_id = master.run(SleepConfig(time_ms=1, tasks_per_worker=2))
    assert master.wait(job_id, WAIT).status is Status.COMPLETED
    info = master.get_status(job_id, verbose=True)
    assert [t.task_id for t in info.tasks] == [0, 1, 2, 3]
    hosts = sorted(t.worker_host for t in info.tasks)
    assert hosts == ["local-worker-0"] * 2 + ["local-worker-1"] * 2
    assert all(t.status is Status.COMPLETED for t in info.tasks)
    assert master.get_status(job_id).tasks == []  # tasks only when verbose


def test_select_executors_error_tracks_a_failed_job(inline_master: JobMaster):
    job_id = inline_master.run(BadSelectConfig())
    info = inline_master.get_status(job_id)
    assert info.status is Status.FAILED
    assert info.error_type == "LookupError"
    assert info.error_message == "no such file: /missing"
    assert inline_master.list() == [job_id]


def test_unknown_config_is_rejected_and_nothing_tracked(inline_master: JobMaster):
    class UnknownConfig(JobConfig):
        name = "dummy"

    with pytest.raises(UnknownJobTypeError,
                       match="The job definition for config dummy does not exist"):
        inline_master.run(UnknownConfig())
    nested = CompositeConfig(jobs=[NoopConfig(), CompositeConfig(jobs=[UnknownConfig()])])
    with pytest.raises(UnknownJobTypeError):
        inline_master.run(nested)
    with pytest.raises(JobConfigError, match="job_config"):
        inline_master.run("Sleep")  # type: ignore[arg-type]
    assert inline_master.list() == []
    assert inline_master.summary().status_counts == dict.fromkeys(Status, 0)


def test_task_results_are_joined_into_the_job_result(master: JobMaster):
    job_id = master.run(ScriptConfig(actions=["ok", "ok", "ok"], key=key()))
    info = master.wait(job_id, WAIT)
    assert info.status is Status.COMPLETED
    assert info.result == "done-0,done-1,done-2"
    verbose = master.get_status(job_id, verbose=True)
    assert [t.result for t in verbose.tasks] == ["done-0", "done-1", "done-2"]
    assert [t.description for t in verbose.tasks] == ["ok", "ok", "ok"]


def test_join_error_fails_the_job_with_the_raw_message(inline_master: JobMaster):
    job_id = inline_master.run(ScriptConfig(actions=["ok"], join_error="test exception"))
    info = inline_master.get_status(job_id)
    assert info.status is Status.FAILED
    assert info.error_message == "test exception"
    assert info.error_type == "RuntimeError"


# ----------------------------------------------------------- status derivation


def test_failure_cancels_siblings_and_job_fails_once_none_runs(master: JobMaster):
    k = key()
    job_id = master.run(ScriptConfig(actions=["gate", "gatefail", "hold"], key=k,
                                     placement=[0, 1, 1]))
    for task_id in range(3):
        assert started(k, task_id).wait(WAIT)
    gate(k, 1).set()  # task 1 fails; task 2 is canceled; task 0 ignores its cancel flag
    with pytest.raises(JobTimeoutError):
        master.wait(job_id, timeout=0.2)
    assert master.get_status(job_id).status is Status.RUNNING
    gate(k, 0).set()
    info = master.wait(job_id, WAIT)
    assert info.status is Status.FAILED
    assert info.error_message == "Task execution failed: boom"
    assert info.error_type == "ValueError"
    tasks = master.get_status(job_id, verbose=True).tasks
    # task 0 ignored the request to stop and returned; the job waited for it to end
    assert [t.status for t in tasks] == [Status.COMPLETED, Status.FAILED, Status.CANCELED]
    assert tasks[1].error_message == "boom"


@pytest.mark.parametrize("order", [["fail", "hold"], ["hold", "fail"]])
def test_failed_beats_canceled_whatever_the_task_order(master: JobMaster, order):
    job_id = master.run(ScriptConfig(actions=order, key=key()))
    assert master.wait(job_id, WAIT).status is Status.FAILED


def test_job_is_running_while_a_task_runs(master: JobMaster):
    k = key()
    job_id = master.run(ScriptConfig(actions=["gate"], key=k))
    assert started(k).wait(WAIT)
    assert master.get_status(job_id).status is Status.RUNNING
    assert master.get_status(job_id, verbose=True).tasks[0].status is Status.RUNNING
    gate(k).set()
    assert master.wait(job_id, WAIT).status is Status.COMPLETED


# ------------------------------------------------------------------- cancel


def test_cancel_stops_running_and_drops_queued_tasks(make_master):
    master = make_master(transport=LocalTransport(num_workers=1, threadpool_size=1))
    k = key()
    job_id = master.run(ScriptConfig(actions=["hold", "hold", "hold"], key=k, placement=[0, 0, 0]))
    assert started(k, 0).wait(WAIT)
    master.cancel(job_id)
    info = master.wait(job_id, WAIT)
    assert info.status is Status.CANCELED
    tasks = master.get_status(job_id, verbose=True).tasks
    assert [t.status for t in tasks] == [Status.CANCELED] * 3
    assert not started(k, 1).is_set()
    assert not started(k, 2).is_set()


def test_cancel_of_a_finished_job_changes_nothing(inline_master: JobMaster):
    job_id = inline_master.run(NoopConfig())
    before = inline_master.get_status(job_id)
    inline_master.cancel(job_id)
    assert inline_master.get_status(job_id) == before


def test_cancel_unknown_job_raises_not_found(inline_master: JobMaster):
    with pytest.raises(JobNotFoundError, match=r"^The job of id 1 does not exist$"):
        inline_master.cancel(1)
    with pytest.raises(JobNotFoundError):
        inline_master.get_status(1)
    with pytest.raises(JobNotFoundError):
        inline_master.wait(1, 0)


def test_wait_times_out_and_the_job_keeps_running(master: JobMaster):
    k = key()
    job_id = master.run(ScriptConfig(actions=["hold"], key=k))
    with pytest.raises(JobTimeoutError) as raised:
        master.wait(job_id, timeout=0.01)
    assert isinstance(raised.value, TimeoutError)
    assert raised.value.job_id == job_id
    assert not master.get_status(job_id).status.is_finished
    master.cancel(job_id)
    assert master.wait(job_id, WAIT).status is Status.CANCELED


def test_cancel_while_select_runs_cancels_before_any_task_starts(make_master):
    release = threading.Event()
    entered = threading.Event()

    class SlowSelect(LocalTransport):
        def workers(self):
            if threading.current_thread().name == "slow-submitter":
                entered.set()
                release.wait(WAIT)
            return super().workers()

    master = make_master(transport=SlowSelect(num_workers=1))
    ids: list[int] = []
    k = key()
    submitter = threading.Thread(
        target=lambda: ids.append(master.run(ScriptConfig(actions=["ok"], key=k))),
        name="slow-submitter")
    submitter.start()
    assert entered.wait(WAIT)
    (job_id,) = master.list()
    assert master.get_status(job_id).status is Status.CREATED
    master.cancel(job_id)
    release.set()
    submitter.join()
    assert ids == [job_id]
    assert master.wait(job_id, WAIT).status is Status.CANCELED
    assert not started(k).is_set()


# ------------------------------------------------------- capacity and purge


def test_full_master_raises_and_changes_nothing(make_master, clock: ManualClock):
    master = make_master(MasterConfig(job_capacity=3, finished_job_retention=60),
                         transport=MockTransport(), clock=clock)
    ids = [master.run(NoopConfig()) for _ in range(3)]
    with pytest.raises(ResourceExhaustedError, match=r"^Job master is at full capacity of 3 jobs$"):
        master.run(NoopConfig())
    assert master.list() == ids
    clock.advance(60)
    new = master.run(NoopConfig())
    assert master.list() == [new]  # every job past retention was purged


def test_capacity_message_groups_digits(make_master):
    master = make_master(MasterConfig(job_capacity=0), transport=MockTransport())
    with pytest.raises(ResourceExhaustedError, match="full capacity of 0 jobs"):
        master.run(NoopConfig())
    assert str(ResourceExhaustedError(100_000)) == "Job master is at full capacity of 100,000 jobs"


def test_unfinished_jobs_are_never_purged(make_master):
    master = make_master(MasterConfig(job_capacity=2, finished_job_retention=0))
    k = key()
    first = master.run(ScriptConfig(actions=["hold"], key=k))
    second = master.run(ScriptConfig(actions=["hold"], key=k + "2"))
    with pytest.raises(ResourceExhaustedError):
        master.run(NoopConfig())
    master.cancel(first)
    master.wait(first, WAIT)
    third = master.run(NoopConfig())
    assert master.list() == [second, third]
    master.cancel(second)


def test_purge_count_limits_how_many_are_purged(make_master, clock: ManualClock):
    # PlanTrackerTest.purgeCount: capacity 10, purge 5, 10 finished, add one: 6 remain
    master = make_master(MasterConfig(job_capacity=10, finished_job_retention=0,
                                      finished_job_purge_count=5),
                         transport=MockTransport(), clock=clock)
    ids = [master.run(NoopConfig()) for _ in range(10)]
    new = master.run(NoopConfig())
    assert master.list() == [*ids[5:], new]


def test_retention_keeps_finished_jobs_that_are_too_young(make_master, clock: ManualClock):
    master = make_master(MasterConfig(job_capacity=10, finished_job_retention=24 * 3600),
                         transport=MockTransport(), clock=clock)
    for _ in range(10):
        master.run(NoopConfig())
    clock.advance(3600)
    with pytest.raises(ResourceExhaustedError):
        master.run(NoopConfig())


def test_purge_follows_finish_order(make_master):
    master = make_master(MasterConfig(job_capacity=2, finished_job_retention=0,
                                      finished_job_purge_count=1))
    k = key()
    slow = master.run(ScriptConfig(actions=["gate"], key=k))
    fast = master.run(NoopConfig())
    gate(k).set()
    master.wait(slow, WAIT)
    newest = master.run(NoopConfig())  # the earliest finished job goes first
    assert master.list() == [slow, newest]
    assert fast not in master.list()


# ------------------------------------------------------------ list filters


def test_list_filters_by_status_and_name_together(master: JobMaster):
    k = key()
    held = master.run(ScriptConfig(actions=["hold"], key=k))
    assert started(k).wait(WAIT)
    noop = master.run(NoopConfig())
    sleep = master.run(SleepConfig(time_ms=0))
    master.wait(sleep, WAIT)
    assert master.list(name="Script") == [held]
    assert master.list(statuses=[Status.COMPLETED]) == [noop, sleep]
    assert master.list(statuses=["COMPLETED"], name="Sleep") == [sleep]
    assert master.list(statuses=[Status.RUNNING], name="NoOp") == []
    with pytest.raises(JobConfigError, match="statuses"):
        master.list(statuses=["DONE"])
    master.cancel(held)


# --------------------------------------------------------------- workflows


def test_empty_composite_completes_at_once(inline_master: JobMaster):
    job_id = inline_master.run(CompositeConfig(jobs=[]))
    assert inline_master.get_status(job_id).status is Status.COMPLETED


def test_sequential_composite_runs_one_child_at_a_time(master: JobMaster):
    k1, k2 = key(), key()
    job_id = master.run(CompositeConfig(jobs=[ScriptConfig(actions=["gate"], key=k1),
                                              ScriptConfig(actions=["ok"], key=k2)]))
    assert started(k1).wait(WAIT)
    info = master.get_status(job_id)
    assert info.status is Status.RUNNING
    assert len(info.children) == 1
    assert not started(k2).is_set()
    gate(k1).set()
    info = master.wait(job_id, WAIT)
    assert info.status is Status.COMPLETED
    assert [c.status for c in info.children] == [Status.COMPLETED] * 2
    assert started(k2).is_set()


def test_parallel_composite_starts_every_child(master: JobMaster):
    keys = [key(), key()]
    job_id = master.run(CompositeConfig(
        jobs=[ScriptConfig(actions=["gate"], key=k) for k in keys], sequential=False))
    for k in keys:
        assert started(k).wait(WAIT)
    assert len(master.get_status(job_id).children) == 2
    for k in keys:
        gate(k).set()
    assert master.wait(job_id, WAIT).status is Status.COMPLETED


def test_nested_composite_builds_the_child_tree(inline_master: JobMaster):
    job_id = inline_master.run(CompositeConfig(jobs=[
        CompositeConfig(jobs=[NoopConfig(), SleepConfig(time_ms=0)], sequential=False),
        NoopConfig(),
    ]))
    info = inline_master.get_status(job_id)
    assert info.status is Status.COMPLETED
    assert [len(c.children) for c in info.children] == [2, 0]
    assert [c.name for c in info.children] == ["Composite", "NoOp"]


def test_failing_child_cancels_siblings_and_stops_later_steps(master: JobMaster):
    hold_key, later_key = key(), key()
    job_id = master.run(CompositeConfig(jobs=[
        CompositeConfig(jobs=[ScriptConfig(actions=["hold"], key=hold_key),
                              ScriptConfig(actions=["fail"], key=key())], sequential=False),
        ScriptConfig(actions=["ok"], key=later_key),
    ]))
    info = master.wait(job_id, WAIT)
    assert info.status is Status.FAILED
    assert info.error_message == "Task execution failed: boom"
    (step,) = info.children
    assert step.status is Status.FAILED
    assert sorted(c.status for c in step.children) == [Status.CANCELED, Status.FAILED]
    assert not started(later_key).is_set()


def test_cancel_parallel_composite_cancels_parent_and_children(master: JobMaster):
    # JobMasterIntegrationTest.cancel
    keys = [key() for _ in range(3)]
    job_id = master.run(CompositeConfig(
        jobs=[ScriptConfig(actions=["hold"], key=k) for k in keys], sequential=False))
    for k in keys:
        assert started(k).wait(WAIT)
    master.cancel(job_id)
    info = master.wait(job_id, WAIT)
    assert info.status is Status.CANCELED
    assert [c.status for c in info.children] == [Status.CANCELED] * 3


def test_child_over_capacity_fails_the_workflow(make_master):
    master = make_master(MasterConfig(job_capacity=2, finished_job_retention=3600),
                         transport=MockTransport())
    job_id = master.run(CompositeConfig(jobs=[NoopConfig(), NoopConfig(), NoopConfig()]))
    info = master.get_status(job_id)
    assert info.status is Status.FAILED
    assert info.error_type == "ResourceExhaustedError"
    assert info.error_message == "Job master is at full capacity of 2 jobs"
    assert len(info.children) == 1


def test_a_workflow_is_purged_with_its_children(make_master, clock: ManualClock):
    master = make_master(MasterConfig(job_capacity=3, finished_job_retention=0),
                         transport=MockTransport(), clock=clock)
    workflow = master.run(CompositeConfig(jobs=[NoopConfig(), NoopConfig()]))
    assert len(master.list()) == 3
    new = master.run(NoopConfig())
    assert master.list() == [new]
    with pytest.raises(JobNotFoundError):
        master.get_status(workflow)


# ------------------------------------------------------------ lost workers


def test_lost_worker_task_is_rescheduled_on_another_worker(make_master):
    release = threading.Event()
    faulty = FaultyTransport(LocalTransport(num_workers=2),
                             lambda worker_id, request: Hold(release) if worker_id == 0 else None)
    master = make_master(transport=faulty)
    job_id = master.run(ScriptConfig(actions=["ok"], key=key(), placement=[0]))
    faulty.kill_worker(0)
    info = master.wait(job_id, WAIT)
    assert info.status is Status.COMPLETED
    (task,) = master.get_status(job_id, verbose=True).tasks
    assert task.worker_host == "local-worker-1"
    release.set()


def test_lost_worker_fails_the_task_when_attempts_run_out(make_master):
    release = threading.Event()
    faulty = FaultyTransport(LocalTransport(num_workers=2), lambda w, r: Hold(release))
    master = make_master(MasterConfig(max_task_attempts=1), transport=faulty)
    job_id = master.run(ScriptConfig(actions=["ok"], key=key(), placement=[0]))
    faulty.kill_worker(0)
    info = master.wait(job_id, WAIT)
    assert info.status is Status.FAILED
    assert info.error_type == "JobWorkerLost"
    expected = "Job worker(local-worker-0) was lost before the task(0) could complete"
    assert info.error_message == f"Task execution failed: {expected}"
    (task,) = master.get_status(job_id, verbose=True).tasks
    assert task.error_message == expected
    release.set()


def test_losing_the_only_worker_fails_every_unfinished_task(make_master):
    transport = LocalTransport(num_workers=1)
    master = make_master(transport=transport)
    k = key()
    job_id = master.run(ScriptConfig(actions=["hold", "hold"], key=k, placement=[0, 0]))
    assert started(k, 0).wait(WAIT)
    transport.remove_worker(0)
    info = master.wait(job_id, WAIT)
    assert info.status is Status.FAILED
    tasks = master.get_status(job_id, verbose=True).tasks
    assert {t.error_type for t in tasks} == {"JobWorkerLost"}
    assert master.run(SleepConfig(time_ms=0)) in master.list(statuses=["COMPLETED"])


def test_silent_worker_is_declared_lost_after_worker_timeout(make_master, clock: ManualClock):
    release = threading.Event()
    inner = LocalTransport(num_workers=2, clock=clock)
    frozen = inner.worker_health()[0]

    class SilentWorker0(FaultyTransport):
        def worker_health(self):
            return [frozen if h.worker_id == 0 else h for h in super().worker_health()]

    transport = SilentWorker0(inner, lambda w, r: Hold(release) if w == 0 else None)
    master = make_master(MasterConfig(worker_timeout=10, lost_worker_interval=3600),
                         transport=transport, clock=clock)
    job_id = master.run(ScriptConfig(actions=["ok"], key=key(), placement=[0]))
    assert master.check_lost_workers() == []
    clock.advance(9)
    assert master.check_lost_workers() == []
    clock.advance(2)
    assert [w.worker_id for w in master.check_lost_workers()] == [0]
    info = master.wait(job_id, WAIT)
    assert info.status is Status.COMPLETED
    assert master.get_status(job_id, verbose=True).tasks[0].worker_host == "local-worker-1"
    release.set()


# ---------------------------------------------------------------- workers


def test_worker_health_lists_every_worker(master: JobMaster):
    health = master.worker_health()
    assert [h.worker_id for h in health] == [0, 1]
    assert [h.host for h in health] == ["local-worker-0", "local-worker-1"]
    for h in health:
        assert len(h.load_average) == 3
        assert h.task_pool_size == 4
        assert h.num_active_tasks == 0
        assert h.unfinished_tasks == 0


def test_pool_size_zero_pauses_a_worker(make_master):
    transport = LocalTransport(num_workers=1, threadpool_size=2)
    master = make_master(transport=transport)
    k = key()
    running = master.run(ScriptConfig(actions=["gate"], key=k))
    assert started(k).wait(WAIT)
    transport.set_task_pool_size(0, 0)
    queued_key = key()
    queued = master.run(ScriptConfig(actions=["ok"], key=queued_key))
    (health,) = master.worker_health()
    assert (health.task_pool_size, health.num_active_tasks, health.unfinished_tasks) == (0, 1, 2)
    assert master.get_status(queued).status is Status.CREATED
    gate(k).set()
    assert master.wait(running, WAIT).status is Status.COMPLETED
    assert master.get_status(queued).status is Status.CREATED
    transport.set_task_pool_size(0, 3)
    assert master.wait(queued, WAIT).status is Status.COMPLETED


def test_pool_of_one_runs_jobs_one_at_a_time(make_master):
    # JobMasterIntegrationTest.throttleJobWorkerTasks
    master = make_master(transport=LocalTransport(num_workers=1, threadpool_size=1))
    k = key()
    first = master.run(ScriptConfig(actions=["hold"], key=k))
    assert started(k).wait(WAIT)
    later = [master.run(SleepConfig(time_ms=0)) for _ in range(3)]
    assert {master.get_status(j).status for j in later} == {Status.CREATED}
    master.cancel(first)
    for job_id in later:
        assert master.wait(job_id, WAIT).status is Status.COMPLETED


def test_bad_pool_size_is_rejected(make_master):
    transport = LocalTransport(num_workers=1)
    make_master(transport=transport)
    with pytest.raises(JobConfigError, match="threadpool_size"):
        transport.set_task_pool_size(0, -1)
    with pytest.raises(JobConfigError, match="threadpool_size"):
        LocalTransport(threadpool_size=10_001)


# ------------------------------------------------------------------- close


def test_close_cancels_unfinished_jobs_and_is_idempotent():
    master = JobMaster(transport=LocalTransport(num_workers=1), plans=conformance_plans())
    job_id = master.run(HoldConfig(seconds=WAIT))
    master.close()
    master.close()
    assert master.get_status(job_id).status is Status.CANCELED
    with pytest.raises(ClosedError):
        master.run(NoopConfig())


def test_master_is_a_context_manager():
    with JobMaster() as master:
        job_id = master.run(SleepConfig(time_ms=0))
        assert master.wait(job_id, WAIT).status is Status.COMPLETED
    with pytest.raises(ClosedError):
        master.run(NoopConfig())


def test_master_config_must_be_a_master_config():
    with pytest.raises(JobConfigError, match="config"):
        JobMaster({"job_capacity": 1}, MockTransport())  # type: ignore[arg-type]


def test_master_clock_ahead_of_the_workers_loses_no_worker(make_master, clock: ManualClock):
    class Heartbeats(MockTransport):
        """Workers whose heartbeats advance on their own clock, far behind the master's."""

        beats = 0

        def worker_health(self):
            self.beats += 1
            return [JobWorkerHealth(worker_id=w.worker_id, host=w.host, last_updated=self.beats)
                    for w in self.workers()]

    master = make_master(MasterConfig(worker_timeout=10, lost_worker_interval=3600),
                         transport=Heartbeats(workers=2), clock=clock)
    for _ in range(3):
        clock.advance(3600)
        assert master.check_lost_workers() == []
    job_id = master.run(SleepConfig(time_ms=0))
    assert len(master.get_status(job_id, verbose=True).tasks) == 2


def test_unexpected_submit_error_fails_the_task(make_master):
    transport = FaultyTransport(LocalTransport(num_workers=1),
                                lambda w, r: RejectSubmit(RuntimeError("no route")))
    master = make_master(transport=transport)
    job_id = master.run(SleepConfig(time_ms=0))
    info = master.wait(job_id, WAIT)
    assert info.status is Status.FAILED
    assert info.error_message == "Task execution failed: no route"
    assert info.error_type == "RuntimeError"


# ----------------------------------------------------- callbacks and ids


def test_done_callback_runs_at_once_for_a_finished_job(inline_master: JobMaster):
    job_id = inline_master.run(NoopConfig())
    seen: list[JobInfo] = []
    inline_master.add_done_callback(job_id, seen.append)
    assert [i.status for i in seen] == [Status.COMPLETED]


def test_done_callbacks_run_when_the_job_finishes(master: JobMaster,
                                                  caplog: pytest.LogCaptureFixture):
    k = key()
    job_id = master.run(ScriptConfig(actions=["hold"], key=k))
    done = threading.Event()
    seen: list[JobInfo] = []

    def broken(info: JobInfo) -> None:
        raise RuntimeError("callback bug")

    def record(info: JobInfo) -> None:
        seen.append(info)
        done.set()

    master.add_done_callback(job_id, broken)
    master.add_done_callback(job_id, record)
    assert not done.is_set()
    master.cancel(job_id)
    assert done.wait(WAIT)
    assert [(i.job_id, i.status) for i in seen] == [(job_id, Status.CANCELED)]
    assert "callback bug" in caplog.text
    with pytest.raises(JobNotFoundError):
        master.add_done_callback(12345, seen.append)


def test_new_ids_never_collide_with_job_ids(inline_master: JobMaster):
    first = inline_master.run(NoopConfig())
    command_id = inline_master.new_id()
    second = inline_master.run(NoopConfig())
    assert first < command_id < second


def test_tasks_record_when_they_ran(make_master):
    master = make_master(transport=LocalTransport(num_workers=1, threadpool_size=1))
    k = key()
    job_id = master.run(ScriptConfig(actions=["gate", "ok"], key=k, placement=[0, 0]))
    assert started(k, 0).wait(WAIT)
    tasks = master.get_status(job_id, verbose=True).tasks
    assert tasks[0].start_time > 0
    assert tasks[0].end_time == 0
    assert (tasks[1].start_time, tasks[1].end_time) == (0, 0)  # still queued
    gate(k, 0).set()
    info = master.wait(job_id, WAIT)
    first, second = master.get_status(job_id, verbose=True).tasks
    assert 0 < first.start_time <= first.end_time <= second.start_time <= second.end_time
    assert second.end_time <= info.last_updated
