"""DaskTransport on real local Dask clusters (processes on 127.0.0.1).

Skipped as a whole when ``distributed`` is not installed (the ``dask`` extra).
"""

import importlib
import inspect
import os
import pkgutil
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

import attrs
import pytest

distributed = pytest.importorskip("distributed")

from alluxio_jobs import (  # noqa: E402
    CompositeConfig,
    JobConfig,
    JobConfigError,
    JobMaster,
    JobPlan,
    MasterConfig,
    NoopConfig,
    PlanRegistry,
    RunTaskContext,
    SelectContext,
    SleepConfig,
    Status,
    TaskRequest,
    TaskResult,
    TransportError,
    WorkerInfo,
    WorkerLostError,
    WorkerNotFoundError,
)
from alluxio_jobs.testing import (  # noqa: E402
    EchoConfig,
    HoldConfig,
    RaiseConfig,
    check_transport,
    conformance_plans,
)
from alluxio_jobs.transports.dask import (  # noqa: E402
    DASK_ERRORS,
    DaskTransport,
    dask_error_kind,
    decode_request,
    decode_result,
    encode_request,
    encode_result,
    translate_dask_error,
)
from tests.dask_cluster import cluster_fixtures, wait_until  # noqa: E402

pytestmark = pytest.mark.dask

WAIT = 60.0

# --------------------------------------------------------------- test plans
# Module-level, so Dask workers unpickle them by reference (tests/ is on their path).


@attrs.frozen(kw_only=True)
class Chunk:
    """Typed task arguments."""

    index: int
    names: list[str]


@attrs.frozen(kw_only=True)
class ChunkDone:
    """A typed task result."""

    index: int
    pid: int
    worker: str


@attrs.frozen(kw_only=True)
class ChunksConfig(JobConfig):
    """One task per worker with typed arguments and results."""

    name: ClassVar[str] = "Chunks"


class ChunksPlan(JobPlan[ChunksConfig, Chunk, ChunkDone]):
    def __init__(self) -> None:
        self.seen: list[tuple[Chunk, ChunkDone]] = []

    def select_executors(self, config: ChunksConfig, workers: Sequence[WorkerInfo],
                         ctx: SelectContext) -> list[tuple[WorkerInfo, Chunk]]:
        return [(w, Chunk(index=i, names=[w.host])) for i, w in enumerate(workers)]

    def run_task(self, config: ChunksConfig, args: Chunk, ctx: RunTaskContext) -> ChunkDone:
        assert isinstance(args, Chunk), args
        return ChunkDone(index=args.index, pid=os.getpid(), worker=ctx.worker.host)

    def on_task_completed(self, config: ChunksConfig, args: Chunk, result: ChunkDone, *,
                          worker: WorkerInfo) -> None:
        self.seen.append((args, result))

    def __getstate__(self) -> dict[str, Any]:
        return {"seen": []}  # what the master saw stays on the master


@attrs.frozen(kw_only=True)
class StallConfig(JobConfig):
    """One task on the lowest-id worker; its first attempt waits until canceled (or
    its worker dies), later attempts return at once."""

    name: ClassVar[str] = "Stall"


class StallPlan(JobPlan[StallConfig, None, str]):
    def select_executors(self, config: StallConfig, workers: Sequence[WorkerInfo],
                         ctx: SelectContext) -> list[tuple[WorkerInfo, None]]:
        return [(min(workers, key=lambda w: w.worker_id), None)]

    def run_task(self, config: StallConfig, args: None, ctx: RunTaskContext) -> str:
        if ctx.attempt == 1:
            ctx.wait_canceled(WAIT)
            ctx.check_canceled()
        return f"attempt {ctx.attempt} on {ctx.worker.host}"


@attrs.frozen(kw_only=True)
class WhereConfig(JobConfig):
    """One task per worker reporting its resources."""

    name: ClassVar[str] = "Where"


class WherePlan(JobPlan[WhereConfig, None, dict[str, Any]]):
    def select_executors(self, config: WhereConfig, workers: Sequence[WorkerInfo],
                         ctx: SelectContext) -> list[tuple[WorkerInfo, None]]:
        return [(w, None) for w in workers]

    def run_task(self, config: WhereConfig, args: None, ctx: RunTaskContext) -> dict[str, Any]:
        scratch = ctx.resources["scratch"]
        return {"pid": os.getpid(), "dir": scratch.path, "exists": os.path.isdir(scratch.path)}


class Scratch:
    """A per-worker directory, made on the worker and removed by close()."""

    def __init__(self, path: str) -> None:
        self.path = path

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def make_scratch(root: str, worker: WorkerInfo) -> Mapping[str, Any]:
    path = os.path.join(root, f"worker-{worker.worker_id}-{os.getpid()}")
    os.makedirs(path)
    return {"scratch": Scratch(path)}


@attrs.frozen(kw_only=True)
class LockedConfig(JobConfig):
    """One task per worker, run by a plan that holds master-side state."""

    name: ClassVar[str] = "Locked"


class LockedPlan(JobPlan[LockedConfig, None, int]):
    """Holds a lock, so it cannot be pickled: workers build their own (``worker_plans``)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def select_executors(self, config: LockedConfig, workers: Sequence[WorkerInfo],
                         ctx: SelectContext) -> list[tuple[WorkerInfo, None]]:
        return [(w, None) for w in workers]

    def run_task(self, config: LockedConfig, args: None, ctx: RunTaskContext) -> int:
        with self.lock:
            return os.getpid()


def plans_built_on_workers() -> PlanRegistry:
    registry = plans()
    registry.register(LockedConfig, LockedPlan())
    return registry


def plans() -> PlanRegistry:
    registry = conformance_plans()
    registry.register(ChunksConfig, ChunksPlan())
    registry.register(StallConfig, StallPlan())
    registry.register(WhereConfig, WherePlan())
    return registry


# ------------------------------------------------------------------ fixtures


cluster, module_client, client = cluster_fixtures(2)


@pytest.fixture
def make_transport(client: Any) -> Iterator[Callable[..., DaskTransport]]:
    transports: list[DaskTransport] = []

    def make(**kwargs: Any) -> DaskTransport:
        transport = DaskTransport(client, poll_interval=0.1, **kwargs)
        transports.append(transport)
        return transport

    yield make
    for transport in transports:
        transport.close()


@pytest.fixture
def make_master(make_transport: Callable[..., DaskTransport]) -> Iterator[Callable[..., JobMaster]]:
    masters: list[JobMaster] = []

    def make(config: MasterConfig | None = None, **kwargs: Any) -> JobMaster:
        master = JobMaster(config, make_transport(**kwargs), plans())
        masters.append(master)
        return master

    yield make
    for master in masters:
        master.close()


def kill_worker_process(client: Any, address: str) -> None:
    """SIGKILL the Dask worker process at ``address`` (its nanny starts a new one)."""
    pid = client.run(os.getpid, workers=[address])[address]
    os.kill(pid, signal.SIGKILL)


def task_running(master: JobMaster, job_id: int) -> Callable[[], bool]:
    def check() -> bool:
        tasks = master.get_status(job_id, verbose=True).tasks
        return bool(tasks) and tasks[0].status is Status.RUNNING
    return check


# --------------------------------------------------------------------- tests


def test_dask_transport_conformance(client: Any) -> None:
    check_transport(lambda: DaskTransport(client), timeout=WAIT)


def test_jobs_complete_on_the_cluster(make_master: Callable[..., JobMaster], client: Any):
    master = make_master()
    addresses = set(client.scheduler_info(n_workers=-1)["workers"])
    jobs = {
        "sleep": master.run(SleepConfig(time_ms=5, tasks_per_worker=2)),
        "echo": master.run(EchoConfig(value={"a": [1, 2.5, "x"], "b": None})),
        "noop": master.run(NoopConfig()),
        "composite": master.run(CompositeConfig(jobs=[
            NoopConfig(), SleepConfig(time_ms=1), EchoConfig(value=3),
            CompositeConfig(jobs=[EchoConfig(value=4), SleepConfig(time_ms=1)],
                            sequential=False)])),
    }
    for name, job_id in jobs.items():
        info = master.wait(job_id, WAIT)
        assert info.status is Status.COMPLETED, (name, info)
    echo = master.get_status(jobs["echo"], verbose=True)
    assert {t.worker_host for t in echo.tasks} == addresses
    assert all(t.result == {"a": [1, 2.5, "x"], "b": None} for t in echo.tasks)
    assert len(master.get_status(jobs["sleep"], verbose=True).tasks) == 4


def test_a_failing_task_fails_its_job(make_master: Callable[..., JobMaster]):
    master = make_master()
    info = master.wait(master.run(RaiseConfig(message="bad block")), WAIT)
    assert info.status is Status.FAILED
    assert info.error_message == "Task execution failed: bad block"


def test_typed_arguments_and_results_cross_the_wire(make_master: Callable[..., JobMaster]):
    master = make_master()
    plan = master.plans.get(ChunksConfig())
    assert isinstance(plan, ChunksPlan)
    info = master.wait(master.run(ChunksConfig()), WAIT)
    assert info.status is Status.COMPLETED
    assert sorted(args.index for args, _ in plan.seen) == [0, 1]
    for args, result in plan.seen:
        assert isinstance(result, ChunkDone)
        assert result.index == args.index
        assert result.worker == args.names[0]
        assert result.pid != os.getpid()  # it ran in a Dask worker process


def test_cancel_a_running_job(make_master: Callable[..., JobMaster]):
    master = make_master()
    job_id = master.run(HoldConfig(seconds=WAIT))
    wait_until(lambda: master.get_status(job_id).status is Status.RUNNING)
    master.cancel(job_id)
    info = master.wait(job_id, WAIT)
    assert info.status is Status.CANCELED
    tasks = master.get_status(job_id, verbose=True).tasks
    assert {t.status for t in tasks} == {Status.CANCELED}
    assert all(h.unfinished_tasks == 0 for h in master.worker_health())


def test_a_queued_task_is_dropped_and_a_paused_worker_resumes(make_transport):
    transport = make_transport()
    transport.bind(plans())
    worker = transport.workers()[0].worker_id
    transport.set_task_pool_size(worker, 0)  # paused: tasks wait in the queue
    queued = transport.submit(worker, TaskRequest(job_id=1, task_id=0, attempt=1,
                                                  config=EchoConfig(value=1), args=None))
    transport.cancel(worker, 1, 0)
    assert queued.result(WAIT) == TaskResult.canceled()
    waiting = transport.submit(worker, TaskRequest(job_id=2, task_id=0, attempt=1,
                                                   config=EchoConfig(value=2), args=None))
    transport.set_task_pool_size(worker, 1)
    assert waiting.result(WAIT) == TaskResult.completed(2)


def test_health_comes_from_the_dask_workers(make_transport):
    transport = make_transport(threadpool_size=3)
    transport.bind(plans())
    wait_until(lambda: all(h.load_average for h in transport.worker_health()))
    health = transport.worker_health()
    assert [h.worker_id for h in health] == [w.worker_id for w in transport.workers()]
    assert [h.host for h in health] == [w.host for w in transport.workers()]
    assert all(h.task_pool_size == 3 for h in health)
    first = health[0].last_updated
    wait_until(lambda: transport.worker_health()[0].last_updated > first)


def test_a_pool_larger_than_the_dask_threads_runs_more_tasks(make_transport):
    transport = make_transport(threadpool_size=4)  # the Dask workers have 2 threads
    transport.bind(plans())
    worker = transport.workers()[0].worker_id
    held = [transport.submit(worker, TaskRequest(job_id=j, task_id=0, attempt=1,
                                                 config=HoldConfig(seconds=WAIT), args=None))
            for j in range(4)]
    wait_until(lambda: transport.worker_health()[0].num_active_tasks == 4)
    for j in range(4):
        transport.cancel(worker, j, 0)
    assert [f.result(WAIT).status for f in held] == [Status.CANCELED] * 4


def test_pool_size_follows_the_dask_threads(make_transport):
    transport = make_transport()
    transport.bind(plans())
    wait_until(lambda: all(h.load_average for h in transport.worker_health()))
    assert [h.task_pool_size for h in transport.worker_health()] == [2, 2]


def test_resources_are_made_on_the_worker_and_closed(make_transport, client: Any):
    with tempfile.TemporaryDirectory() as root:
        import functools

        transport = make_transport(resources=functools.partial(make_scratch, root))
        with JobMaster(None, transport, plans()) as master:
            job_id = master.run(WhereConfig())
            assert master.wait(job_id, WAIT).status is Status.COMPLETED
            results = [t.result for t in master.get_status(job_id, verbose=True).tasks]
        assert len({r["pid"] for r in results}) == 2
        assert os.getpid() not in {r["pid"] for r in results}
        assert all(r["exists"] for r in results)
        assert not any(os.path.exists(r["dir"]) for r in results)  # closed with the transport


def test_a_killed_worker_fails_its_tasks_with_worker_lost(make_transport, client: Any):
    transport = make_transport()
    transport.bind(plans())
    worker = transport.workers()[0]
    future = transport.submit(worker.worker_id, TaskRequest(
        job_id=1, task_id=0, attempt=1, config=HoldConfig(seconds=WAIT), args=None))
    wait_until(lambda: transport.worker_health()[0].num_active_tasks == 1)
    kill_worker_process(client, worker.host)
    with pytest.raises(WorkerLostError) as lost:
        future.result(WAIT)
    assert lost.value.worker_id == worker.worker_id
    assert worker.worker_id not in {w.worker_id for w in transport.workers()}
    with pytest.raises(WorkerNotFoundError):
        transport.submit(worker.worker_id, TaskRequest(
            job_id=2, task_id=0, attempt=1, config=EchoConfig(), args=None))


def test_a_task_canceled_on_the_dask_side_fails_with_transport_error(make_transport,
                                                                     client: Any):
    transport = make_transport()
    transport.bind(plans())
    worker = transport.workers()[0]
    future = transport.submit(worker.worker_id, TaskRequest(
        job_id=1, task_id=0, attempt=1, config=HoldConfig(seconds=WAIT), args=None))
    wait_until(lambda: any(k.startswith("alluxio-job-1-task-0-")
                           for k in client.processing()[worker.host]))
    (key,) = [k for k in client.processing()[worker.host] if k.startswith("alluxio-job-1-")]
    client.cancel([distributed.Future(key, client)])
    with pytest.raises(TransportError) as failed:
        future.result(WAIT)
    assert not isinstance(failed.value, WorkerLostError)
    assert "cancelled" in str(failed.value)
    # the task was stopped on its worker too
    wait_until(lambda: transport.worker_health()[0].num_active_tasks == 0)


def test_a_task_of_a_killed_worker_is_rescheduled(make_master, client: Any):
    master = make_master()
    job_id = master.run(StallConfig())
    wait_until(task_running(master, job_id))
    killed = master.get_status(job_id, verbose=True).tasks[0].worker_host
    kill_worker_process(client, killed)
    info = master.wait(job_id, WAIT)
    assert info.status is Status.COMPLETED
    task = master.get_status(job_id, verbose=True).tasks[0]
    assert task.worker_host != killed
    assert task.result == f"attempt 2 on {task.worker_host}"


def test_with_one_attempt_a_killed_worker_fails_the_job(make_master, client: Any):
    master = make_master(MasterConfig(max_task_attempts=1))
    job_id = master.run(StallConfig())
    wait_until(task_running(master, job_id))
    killed = master.get_status(job_id, verbose=True).tasks[0].worker_host
    kill_worker_process(client, killed)
    info = master.wait(job_id, WAIT)
    assert info.status is Status.FAILED
    assert info.error_type == "JobWorkerLost"
    assert killed in info.error_message
    assert master.list(statuses=[Status.RUNNING]) == []


def test_a_worker_joining_later_takes_new_tasks(make_master, cluster: Any, client: Any):
    master = make_master()
    before = {w.worker_id for w in master.transport.workers()}
    cluster.scale(3)
    try:
        client.wait_for_workers(3, timeout=WAIT)
        wait_until(lambda: len(master.transport.workers()) == 3)
        (joined,) = [w for w in master.transport.workers() if w.worker_id not in before]
        assert joined.worker_id > max(before)
        job_id = master.run(EchoConfig(value="hello"))
        assert master.wait(job_id, WAIT).status is Status.COMPLETED
        hosts = {t.worker_host for t in master.get_status(job_id, verbose=True).tasks}
        assert joined.host in hosts
    finally:
        cluster.scale(2)
        wait_until(lambda: len(client.scheduler_info(n_workers=-1)["workers"]) == 2)
    # the retired worker's id is gone; the rest keep theirs
    wait_until(lambda: len(master.transport.workers()) == 2)


def test_worker_plans_are_built_on_the_workers(make_transport) -> None:
    transport = make_transport(worker_plans=plans_built_on_workers)
    with JobMaster(None, transport, plans_built_on_workers()) as master:
        job_id = master.run(LockedConfig())
        assert master.wait(job_id, WAIT).status is Status.COMPLETED
        pids = {t.result for t in master.get_status(job_id, verbose=True).tasks}
    assert len(pids) == 2
    assert os.getpid() not in pids


def test_worker_listeners_hear_of_a_joining_worker_before_the_master(
        make_transport, cluster: Any, client: Any) -> None:
    transport = make_transport()
    heard: list[tuple[dict[int, str], set[int]]] = []
    transport.add_worker_listener(
        lambda addresses: heard.append((dict(addresses),
                                        {w.worker_id for w in transport.workers()})))
    assert heard == [({w.worker_id: w.host for w in transport.workers()},
                      {w.worker_id for w in transport.workers()})]
    cluster.scale(3)
    try:
        client.wait_for_workers(3, timeout=WAIT)
        wait_until(lambda: len(transport.workers()) == 3)
        (joined,) = {w.worker_id for w in transport.workers()} - heard[0][1]
        addresses, offered = next(h for h in heard if joined in h[0])
        assert joined not in offered
        assert addresses[joined] == next(w.host for w in transport.workers()
                                         if w.worker_id == joined)
    finally:
        cluster.scale(2)
        wait_until(lambda: len(client.scheduler_info(n_workers=-1)["workers"]) == 2)
    wait_until(lambda: len(heard[-1][0]) == 2)  # and of the retired one leaving


# ------------------------------------------------------------ no cluster needed


def _distributed_errors() -> list[type[BaseException]]:
    """Every exception class defined by distributed's importable modules."""
    found: dict[str, type[BaseException]] = {}
    for module_info in pkgutil.walk_packages(distributed.__path__, "distributed."):
        name = module_info.name
        if any(part in name for part in (".tests", ".dashboard", ".http", ".bokeh",
                                         "pytest", ".cli.", "utils_test")):
            continue
        try:
            module = importlib.import_module(name)
        except BaseException:  # optional dependencies missing
            continue
        for obj in vars(module).values():
            if (inspect.isclass(obj) and issubclass(obj, BaseException)
                    and not issubclass(obj, Warning)
                    and obj.__module__.startswith("distributed")):
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return [found[k] for k in sorted(found)]


def test_every_distributed_error_is_mapped():
    errors = _distributed_errors()
    assert len(errors) > 10
    unmapped = [f"{e.__module__}.{e.__qualname__}" for e in errors if dask_error_kind(e) is None]
    assert unmapped == [], f"add these to DASK_ERRORS: {unmapped}"


def test_every_listed_error_translates_to_a_transport_error():
    for name, kind in DASK_ERRORS.items():
        module, _, qualname = name.partition(":")
        try:
            cls = getattr(importlib.import_module(module), qualname)
        except (ImportError, AttributeError):
            continue
        try:
            exc = cls.__new__(cls)
            BaseException.__init__(exc, "x")
        except TypeError:
            continue
        error = translate_dask_error(exc, 3, "tcp://127.0.0.1:1")
        assert isinstance(error, TransportError), name
        assert isinstance(error, WorkerLostError) == (kind == "lost"), name


def test_killed_worker_becomes_worker_lost():
    from distributed.scheduler import KilledWorker

    last_worker: Any = None
    error = translate_dask_error(KilledWorker("k", last_worker, 3), 7, "tcp://127.0.0.1:9")
    assert isinstance(error, WorkerLostError)
    assert (error.worker_id, error.host) == (7, "tcp://127.0.0.1:9")
    comm = translate_dask_error(distributed.comm.CommClosedError("gone"), 7)
    assert type(comm) is TransportError
    assert "CommClosedError: gone" in str(comm)


def test_requests_and_results_round_trip_as_plain_data():
    request = TaskRequest(job_id=5, task_id=1, attempt=2,
                          config=CompositeConfig(jobs=[SleepConfig(time_ms=3)]),
                          args=Chunk(index=4, names=["a", "b"]))
    data = encode_request(request)
    assert data["args"]["data"] == {"index": 4, "names": ["a", "b"]}
    assert decode_request(data) == request
    result = TaskResult.completed([ChunkDone(index=1, pid=2, worker="w"), (1, 2), {"k": None}])
    data = encode_result(result)
    assert data["status"] == "COMPLETED"
    assert type(data["status"]) is str
    back = decode_result(data)
    assert back.result == [ChunkDone(index=1, pid=2, worker="w"), [1, 2], {"k": None}]
    failed = TaskResult.failed("ValueError", "boom")
    assert decode_result(encode_result(failed)) == failed


def test_bad_arguments_are_rejected():
    not_a_client: Any = "tcp://127.0.0.1:8786"
    with pytest.raises(JobConfigError, match="client"):
        DaskTransport(not_a_client)


def test_importing_the_package_does_not_import_distributed():
    code = ("import sys, alluxio_jobs, alluxio_jobs.transports\n"
            "from alluxio_jobs import *\n"
            "from alluxio_jobs.transports import *\n"
            "assert 'distributed' not in sys.modules, 'distributed was imported'\n"
            "assert 'DaskTransport' in dir(alluxio_jobs)\n"
            "assert 'DaskTransport' not in alluxio_jobs.__all__\n"
            "cls = alluxio_jobs.DaskTransport\n"
            "assert cls is alluxio_jobs.transports.DaskTransport\n"
            "assert cls.__module__ == 'alluxio_jobs.transports.dask'\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_lazy_names_fail_cleanly():
    import alluxio_jobs
    import alluxio_jobs.transports

    assert alluxio_jobs.DaskTransport is DaskTransport
    with pytest.raises(AttributeError, match="NoSuchTransport"):
        _ = alluxio_jobs.transports.NoSuchTransport
    with pytest.raises(AttributeError, match="NoSuchTransport"):
        _ = alluxio_jobs.NoSuchTransport


def test_no_transport_thread_is_left(make_transport) -> None:
    transport = make_transport()
    transport.close()
    transport.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("alluxio-dask")]


def test_the_dask_module_exports_what_it_defines():
    import alluxio_jobs.transports.dask as module

    homes = {module.__name__, "alluxio_jobs.transports._dask_codec"}  # its private half
    own = {name for name, obj in vars(module).items()
           if not name.startswith("_") and (inspect.isclass(obj) or inspect.isfunction(obj))
           and obj.__module__ in homes}
    assert sorted(own | {"DASK_ERRORS"}) == sorted(module.__all__)
    assert module.__all__ == sorted(module.__all__)
