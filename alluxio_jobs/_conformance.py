"""Conformance checks for transports and job stores, and the conformance job types
(Echo, Raise, Hold) they use (re-exported by :mod:`alluxio_jobs.testing`)."""

import functools
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any, ClassVar

import attrs

from alluxio_jobs.errors import (
    ClosedError,
    WorkerNotFoundError,
)
from alluxio_jobs.model import JobWorkerHealth, Status, TaskRequest, TaskResult, WorkerInfo
from alluxio_jobs.plans.base import JobConfig, JobPlan, PlanRegistry, RunTaskContext, SelectContext
from alluxio_jobs.stores.base import JobStore
from alluxio_jobs.transports.base import WorkerTransport

__all__ = [
    "EchoConfig",
    "HoldConfig",
    "RaiseConfig",
    "check_job_store",
    "check_transport",
    "conformance_plans",
]


@attrs.frozen(kw_only=True)
class EchoConfig(JobConfig):
    """Conformance job: each task returns ``value``."""

    name: ClassVar[str] = "Echo"
    value: Any = None


@attrs.frozen(kw_only=True)
class RaiseConfig(JobConfig):
    """Conformance job: each task raises ValueError(message)."""

    name: ClassVar[str] = "Raise"
    message: str = "boom"


@attrs.frozen(kw_only=True)
class HoldConfig(JobConfig):
    """Conformance job: each task waits until canceled (or ``seconds`` pass)."""

    name: ClassVar[str] = "Hold"
    seconds: float = 60.0


class _OneTaskPerWorker(JobPlan[Any, Any, Any]):
    def select_executors(self, config: Any, workers: Sequence[WorkerInfo],
                         ctx: SelectContext) -> list[tuple[WorkerInfo, Any]]:
        return [(w, None) for w in workers]


class _EchoPlan(_OneTaskPerWorker):
    def run_task(self, config: EchoConfig, args: Any, ctx: RunTaskContext) -> Any:
        return config.value


class _RaisePlan(_OneTaskPerWorker):
    def run_task(self, config: RaiseConfig, args: Any, ctx: RunTaskContext) -> Any:
        raise ValueError(config.message)


class _HoldPlan(_OneTaskPerWorker):
    def run_task(self, config: HoldConfig, args: Any, ctx: RunTaskContext) -> Any:
        ctx.wait_canceled(config.seconds)
        ctx.check_canceled()
        return None


def conformance_plans(base: PlanRegistry | None = None) -> PlanRegistry:
    """A registry with the built-in plans plus Echo, Raise and Hold."""
    plans = base or PlanRegistry.default()
    plans.register(EchoConfig, _EchoPlan())
    plans.register(RaiseConfig, _RaisePlan())
    plans.register(HoldConfig, _HoldPlan())
    return plans


def _request(job_id: int, config: JobConfig) -> TaskRequest:
    return TaskRequest(job_id=job_id, task_id=0, attempt=1, config=config, args=None)


def check_transport(make_transport: Callable[[], WorkerTransport], timeout: float = 30.0,
                    *, synchronous: bool = False) -> None:
    """Check that a transport keeps the WorkerTransport contract; AssertionError if not.

    ``make_transport`` returns a new, open transport with at least one worker.
    ``synchronous`` transports (tasks run inside ``submit``, like MockTransport) skip
    the check that a running task can be canceled.
    """
    transport = make_transport()
    transport.bind(conformance_plans())
    try:
        workers = transport.workers()
        assert workers, "workers() is empty: the transport needs at least one worker"
        snapshot = list(workers)
        if isinstance(workers, list):
            workers.clear()
        assert list(transport.workers()) == snapshot, "workers() must return a snapshot"
        worker = snapshot[0].worker_id

        result = transport.submit(worker, _request(1, EchoConfig(value=42))).result(timeout)
        assert result == TaskResult.completed(42), f"echo task gave {result!r}"

        result = transport.submit(worker, _request(2, RaiseConfig(message="boom"))).result(timeout)
        assert result.status is Status.FAILED, f"a raising task must resolve FAILED, got {result!r}"
        assert result.error_type == "ValueError", result
        assert result.error_message == "boom", result

        unknown = max(w.worker_id for w in snapshot) + 1000
        try:
            transport.submit(unknown, _request(3, EchoConfig()))
        except WorkerNotFoundError:
            pass
        except Exception as exc:
            raise AssertionError(
                f"submit to an unknown worker must raise WorkerNotFoundError, not {exc!r}"
            ) from exc
        else:
            raise AssertionError("submit to an unknown worker must raise WorkerNotFoundError")

        if not synchronous:
            held = transport.submit(worker, _request(4, HoldConfig(seconds=timeout)))
            transport.cancel(worker, 4, 0)
            transport.cancel(worker, 4, 0)
            result = held.result(timeout)
            assert result.status is Status.CANCELED, (
                f"a canceled task must resolve CANCELED: {result!r}")
        transport.cancel(worker, 1, 0)  # a finished task: nothing happens
        transport.cancel(worker, 999_999, 0)  # unknown tasks are ignored

        _check_concurrent_submits(transport, snapshot, timeout)
    finally:
        transport.close()
    transport.close()
    try:
        transport.submit(worker, _request(5, EchoConfig()))
    except ClosedError:
        pass
    else:
        raise AssertionError("submit after close() must raise ClosedError")


def _check_concurrent_submits(transport: WorkerTransport, workers: Sequence[WorkerInfo],
                              timeout: float, threads: int = 8, per_thread: int = 25) -> None:
    resolved: dict[int, int] = {}
    lock = threading.Lock()
    futures: list[Future[TaskResult]] = []
    errors: list[BaseException] = []

    def done(job_id: int, _future: "Future[TaskResult]") -> None:
        with lock:
            resolved[job_id] = resolved.get(job_id, 0) + 1

    def submit_many(t: int) -> None:
        try:
            for i in range(per_thread):
                job_id = 10_000 + t * per_thread + i
                worker = workers[i % len(workers)].worker_id
                f = transport.submit(worker, _request(job_id, EchoConfig(value=job_id)))
                f.add_done_callback(functools.partial(done, job_id))
                with lock:
                    futures.append(f)
        except BaseException as exc:  # noqa: BLE001 - isolated and recorded
            errors.append(exc)

    pool = [threading.Thread(target=submit_many, args=(t,)) for t in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    assert not errors, f"concurrent submits raised {errors[0]!r}"
    values = sorted(f.result(timeout).result for f in futures)
    expected = list(range(10_000, 10_000 + threads * per_thread))
    assert values == expected, "every concurrent submission must resolve with its own value"
    with lock:
        assert len(resolved) == len(expected), "every future must resolve"
        assert all(n == 1 for n in resolved.values()), "every future must resolve exactly once"



def check_job_store(make_store: Callable[[], JobStore]) -> None:
    """Check that a job store keeps the JobStore contract (jobs, distributed commands,
    worker health, cancel requests); AssertionError if not.

    ``make_store`` returns a new, empty store.
    """
    from alluxio_jobs.stores.base import JobRecord

    def record(job_id: int, status: Status, when: int, parent: int | None = None,
               name: str = "Echo", config: dict[str, Any] | None = None) -> JobRecord:
        info = {"type": "JobInfo", "job_id": job_id, "name": name, "description": "d",
                "status": status.value, "error_type": "", "error_message": "",
                "result": "", "last_updated": when, "tasks": [], "children": []}
        return JobRecord(job_id=job_id, parent=parent, name=name, status=status,
                         last_updated=when, config=config, info=info)

    store = make_store()
    try:
        empty = store.load()
        assert empty.records == [], "a new store must be empty"
        store.write([record(1, Status.RUNNING, 10, config={"type": "Echo", "value": 1}),
                     record(2, Status.FAILED, 30, name="Other", config={"type": "Echo"}),
                     record(3, Status.COMPLETED, 20, parent=1, config={"type": "NoOp"})],
                    [], next_job_id=4)
        loaded = store.load()
        assert [r.job_id for r in loaded.records] == [1, 2, 3], "load() must list every job"
        assert loaded.next_job_id == 4, "load() must return the next job id"
        store.write([record(1, Status.COMPLETED, 40)], [], next_job_id=2)
        first = store.get(1)
        assert first is not None, "write() must keep the job"
        assert first.status is Status.COMPLETED, "write() must update"
        assert first.config == {"type": "Echo", "value": 1}, "config=None keeps the config"
        assert store.load().next_job_id == 4, "the next job id never goes back"
        assert [r.job_id for r in store.records(statuses=[Status.COMPLETED])] == [1, 3]
        assert [r.job_id for r in store.records(name="Other")] == [2]
        assert [r.job_id for r in store.records(parent=1)] == [3]
        summary = store.summary()
        assert summary.status_counts[Status.COMPLETED] == 2, summary
        assert [i.job_id for i in summary.recent_activities] == [1, 2, 3], summary
        assert [i.job_id for i in summary.recent_failures] == [2], summary
        store.write([], [3], next_job_id=4)
        assert store.get(3) is None, "write() must delete"
        _check_rows(store)
        store.request_cancel(1)
        store.request_cancel(2)
        assert sorted(store.take_cancel_requests()) == [1, 2], "cancel requests are kept"
        assert store.take_cancel_requests() == [], "cancel requests are taken once"
        health = [JobWorkerHealth(worker_id=1, host="b", load_average=[0.5, 1.0, 1.5]),
                  JobWorkerHealth(worker_id=0, host="a")]
        store.put_worker_health(health)
        assert [h.host for h in store.worker_health()] == ["a", "b"], "health by worker id"
        _check_commands(store)
    finally:
        store.close()
    store.close()  # idempotent


def _check_rows(store: JobStore) -> None:
    """The :meth:`JobStore.write_rows` part of :func:`check_job_store`: rows read back as
    the records they stand for (jobs 1 and 2 stored, 3 deleted)."""
    from alluxio_jobs.stores.base import JobRow, record_of_row

    task = [0, "worker-a", Status.COMPLETED, "", "", 7, "EchoTask", 50, 60]
    rows: list[JobRow] = [(4, None, "Echo", Status.COMPLETED, 60, {"type": "Echo", "value": 4},
             ["echo 4", "", "", 7, [task]]),
            (5, 4, "NoOp", Status.FAILED, 70, {"type": "NoOp"},
             ["noop", "JobFailed", "it failed", None, []])]
    store.write_rows(iter(rows), [], next_job_id=6)
    for row in rows:
        assert store.get(row[0]) == record_of_row(row), "write_rows() must store the row"
    assert store.load().next_job_id == 6, "write_rows() must keep the next job id"
    assert [r.job_id for r in store.records(parent=4)] == [5]
    store.write_rows(iter([(4, None, "Echo", Status.COMPLETED, 80, None,
                            ["echo 4", "", "", 8, [task]])]), [5], next_job_id=6)
    kept = store.get(4)
    assert kept is not None, "write_rows() must keep the job"
    assert kept.config == {"type": "Echo", "value": 4}, "config=None in a row keeps the config"
    assert kept.last_updated == 80, "write_rows() must update"
    assert store.get(5) is None, "write_rows() must delete"
    store.write_rows(iter([]), [4], next_job_id=6)


def _check_commands(store: JobStore) -> None:
    """The distributed-command part of :func:`check_job_store` (jobs 1 and 2 stored)."""
    from alluxio_jobs.stores.base import CommandRecord

    assert store.get_command(7) is None, "an unknown command is None"
    assert store.command_ids() == [], "a new store has no commands"
    running = CommandRecord(cmd_id=7, operation="DIST_LOAD", description="distributedLoad /a",
                            status=Status.RUNNING, total=4, submitted=5, last_updated=6,
                            completed=["/a/1"], failed={"/a/2": "boom"}, job_ids=[1])
    other = CommandRecord(cmd_id=8, operation="FREE", description="free /b",
                          status=Status.COMPLETED, skipped=["/b/1"])
    store.write([], [], next_job_id=9, commands=[running, other])
    assert store.get_command(7) == running, "get_command() returns what was written"
    assert store.command_ids() == [7, 8], "command_ids() lists every command in id order"
    assert store.command_ids([Status.COMPLETED]) == [8], "command_ids() filters by status"
    header = store.get_command(7, files=False)
    assert header is not None, "files=False still finds the command"
    assert (header.status, header.total, header.completed, header.failed, header.job_ids) == (
        Status.RUNNING, 4, [], {}, []), "files=False leaves the lists out"
    tail = CommandRecord(cmd_id=7, operation="DIST_LOAD", description="distributedLoad /a",
                         status=Status.FAILED, total=4, error_message="", submitted=5,
                         last_updated=9, completed=["/a/3"], failed={"/a/4": "bang"},
                         skipped=["/a/5"], job_ids=[2, 3], offsets=(1, 1, 0, 1))
    store.write([], [], next_job_id=9, commands=[tail])
    store.write([], [], next_job_id=9, commands=[tail])  # a retried batch changes nothing
    whole = store.get_command(7)
    assert whole is not None
    assert whole.completed == ["/a/1", "/a/3"], f"lists grow from their offsets: {whole}"
    assert whole.failed == {"/a/2": "boom", "/a/4": "bang"}, whole
    assert (whole.skipped, whole.job_ids) == (["/a/5"], [1, 2, 3]), whole
    assert (whole.status, whole.last_updated, whole.offsets) == (Status.FAILED, 9,
                                                                 (0, 0, 0, 0)), whole
    assert store.load().next_job_id == 9, "a batch of commands only keeps the next job id"
    store.write([], [1], next_job_id=9)
    assert store.get_command(7) is not None, "deleting a job keeps the commands"
    store.write([], [], next_job_id=9, command_deletes=[7])
    assert store.get_command(7) is None, "command_deletes drops the command"
    assert store.command_ids() == [8]
    assert [r.job_id for r in store.records()] == [2], "command_deletes keeps the jobs"
