"""Soak: many jobs of mixed types under random faults, then check every invariant.

Not part of the test run (``nox -s soak``, or ``python -m benchmarks.soak``). By default
10,000 jobs go through a ``JobMaster`` on a ``LocalTransport`` of 4 workers wrapped in a
``FaultyTransport`` that loses workers (each replaced by a new one), fails, drops, rejects
and delays tasks at random; some jobs are canceled while they run. Seven in ten are Noop,
Sleep, Echo, Raise, Hold and Composite workflows of them; three in ten (``--storage``)
are storage jobs (Load, Replicate, Evict, Move, Migrate, Persist) on an embedded storage
whose UFS is a temporary directory and whose workers cache blocks in directories of their
own, while clients free files and read them back. ``--dask N`` then runs N more jobs the
same way on a local Dask cluster of 3 workers (``FaultyTransport`` over ``DaskTransport``,
blocks moving between the workers through Dask), killing a Dask worker process halfway.

At the end, for each run:

* every job is finished, and nothing is CREATED or RUNNING;
* the report's counts (``master.summary()``) equal a recount of ``master.list_info()``;
* no job worker has an unfinished or active task;
* outcomes are consistent: Noop jobs COMPLETED, Raise jobs never COMPLETED, only jobs
  that were canceled are CANCELED;
* no data file is partial: every file the namespace holds reads back as one of the
  contents it may have (the source of a copy, what a client wrote), and so does every
  file in the UFS; every cached copy the namespace records on a live worker is in that
  worker's cache and verifies (length and checksum); no cache holds an unfinished
  ``.tmp-`` block; every ASYNC_THROUGH file is persisted (or was lost with its worker);
* no ``.alluxio-*.tmp`` file is left in the UFS, except beside the destination of a task
  a lost worker was running (its result never reached the master); those are counted,
  and ``FileSystem.remove_temp_files`` must remove exactly them;
* after ``close()`` no ``alluxio-*`` thread is left.

Exits with status 1 (and says which) if an invariant does not hold.
"""

import argparse
import collections
import functools
import itertools
import os
import queue
import random
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from typing import Any

from alluxio_jobs import (
    CompositeConfig,
    JobConfig,
    JobMaster,
    LocalTransport,
    MasterConfig,
    NoopConfig,
    SleepConfig,
    Status,
    TaskRequest,
    TaskResult,
    WorkerInfo,
    WorkerTransport,
)
from alluxio_jobs.blockcache import LocalBlockNetwork, verify_block
from alluxio_jobs.errors import AlluxioJobsError
from alluxio_jobs.filesystem import FileSystem, register_storage_plans
from alluxio_jobs.model import JobWorkerHealth
from alluxio_jobs.plans.base import PlanRegistry
from alluxio_jobs.plans.cache import EvictConfig, LoadConfig, ReplicateConfig
from alluxio_jobs.plans.transfer import (
    BatchedJobConfig,
    MigrateConfig,
    MoveConfig,
    PersistConfig,
)
from alluxio_jobs.storage import Namespace, PersistenceState, WriteType
from alluxio_jobs.testing import (
    EchoConfig,
    FaultyTransport,
    HoldConfig,
    RaiseConfig,
    RandomFaults,
    conformance_plans,
)
from alluxio_jobs.ufs import is_temp_name

WAIT = 120.0


def mixed_config(rng: random.Random, depth: int = 0) -> JobConfig:
    """A random job: mostly plain jobs, one in five a workflow of 1-3 of them."""
    draw = rng.random()
    if draw < 0.18:
        return NoopConfig()
    if draw < 0.36:
        return SleepConfig(time_ms=rng.randint(0, 2), tasks_per_worker=rng.randint(1, 2))
    if draw < 0.56:
        return EchoConfig(value={"n": rng.randint(0, 1000), "tags": ["soak"]})
    if draw < 0.66:
        return RaiseConfig(message="soak failure")
    if draw < 0.80 or depth > 0:
        return HoldConfig(seconds=rng.uniform(0.0005, 0.005))
    children = [mixed_config(rng, depth + 1) for _ in range(rng.randint(1, 3))]
    return CompositeConfig(jobs=children, sequential=rng.random() < 0.5)


class Soak:
    """One soak run against one master: submit, wait, check.

    ``make_config(rng)`` draws each job; ``during()`` is called once, halfway through
    the submissions; ``settle()`` runs once every job is finished and before the job
    invariants are checked, and returns the errors it found (e.g. the storage checks).
    """

    def __init__(self, master: JobMaster, jobs: int, seed: int, *,
                 make_config: Callable[[random.Random], JobConfig] = mixed_config,
                 submitters: int = 4, cancel_rate: float = 0.03,
                 during: Callable[[], None] | None = None,
                 settle: Callable[[], list[str]] | None = None) -> None:
        self.master = master
        self.jobs = jobs
        self.seed = seed
        self.make_config = make_config
        self.submitters = submitters
        self.cancel_rate = cancel_rate
        self.during = during
        self.settle = settle
        self.configs: dict[int, JobConfig] = {}
        self.canceled: set[int] = set()
        self.lock = threading.Lock()
        self.submitted = 0
        self.errors: list[str] = []

    def submit(self, index: int) -> None:
        rng = random.Random(self.seed * 1000 + index)
        mine: list[int] = []
        for _ in range(index, self.jobs, self.submitters):
            config = self.make_config(rng)
            job_id = self.master.run(config)
            mine.append(job_id)
            with self.lock:
                self.configs[job_id] = config
                self.submitted += 1
                halfway = self.submitted == self.jobs // 2
            if halfway and self.during is not None:
                self.during()
            if rng.random() < self.cancel_rate:
                victim = rng.choice(mine[-20:])
                with self.lock:
                    self.canceled.add(victim)
                self.master.cancel(victim, "soak")

    def run(self) -> dict[str, Any]:
        start = time.perf_counter()
        threads = [threading.Thread(target=self.submit, args=(i,), name=f"soak-submit-{i}")
                   for i in range(self.submitters)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        infos = {job_id: self.master.wait(job_id, WAIT) for job_id in sorted(self.configs)}
        elapsed = time.perf_counter() - start
        if self.settle is not None:
            self.errors.extend(self.settle())
        self.check(infos)
        statuses = collections.Counter(i.status.value for i in infos.values())
        return {"jobs": len(infos), "seconds": elapsed, "statuses": dict(sorted(statuses.items())),
                "tracked": len(self.master.list())}

    def fail(self, message: str) -> None:
        self.errors.append(message)

    def check(self, infos: dict[int, Any]) -> None:
        master = self.master
        if len(infos) != self.jobs:
            self.fail(f"{len(infos)} jobs finished, {self.jobs} submitted")
        unfinished = [j for j, i in infos.items() if not i.status.is_finished]
        if unfinished:
            self.fail(f"jobs not finished: {unfinished[:10]}")
        left = master.list(statuses=[Status.CREATED, Status.RUNNING])
        if left:
            self.fail(f"jobs still CREATED or RUNNING: {left[:10]}")
        recount = collections.Counter(i.status for i in master.list_info())
        counts = {s: n for s, n in master.summary().status_counts.items() if n}
        if counts != dict(recount):
            self.fail(f"summary counts {counts} != recount {dict(recount)}")
        deadline = time.monotonic() + 10
        busy = self.busy_workers()
        while busy and time.monotonic() < deadline:  # a lost worker's last callbacks
            time.sleep(0.05)
            busy = self.busy_workers()
        if busy:
            self.fail(f"workers with unfinished tasks at the end: {busy}")
        for job_id, info in infos.items():
            config = self.configs[job_id]
            if isinstance(config, NoopConfig) and info.status is not Status.COMPLETED:
                self.fail(f"Noop job {job_id} is {info.status}")
            if isinstance(config, RaiseConfig) and info.status is Status.COMPLETED:
                self.fail(f"Raise job {job_id} COMPLETED")
            if info.status is Status.CANCELED and job_id not in self.canceled:
                self.fail(f"job {job_id} is CANCELED but nobody canceled it")

    def busy_workers(self) -> list[Any]:
        return [h for h in self.master.worker_health()
                if h.unfinished_tasks or h.num_active_tasks]

    def close(self) -> None:
        self.master.close()


# ------------------------------------------------------------------- storage

BLOCK_SIZE = 1024
CACHE_CAPACITY = 4 << 20
UFS_FILES = 12  # written straight into the UFS, never changed
CLIENT_FILES = 12  # written through the client, one write type after the other
SHARED_DESTINATIONS = 6  # copy destinations many Migrate jobs overwrite


class Recorder(WorkerTransport):
    """Passes tasks through to ``inner`` and keeps the ones in flight on each worker, so
    that the tasks a lost worker was running are known: their results never reach the
    master, so whatever they wrote stays where they wrote it."""

    def __init__(self, inner: WorkerTransport) -> None:
        self.inner = inner
        self._lock = threading.Lock()
        self._flight: dict[int, dict[tuple[int, int, int], TaskRequest]] = {}
        self._lost: set[int] = set()
        #: every task that was in flight on a worker when it was lost
        self.lost_requests: list[TaskRequest] = []

    def bind(self, plans: PlanRegistry) -> None:
        super().bind(plans)
        self.inner.bind(plans)

    def workers(self) -> Sequence[WorkerInfo]:
        return self.inner.workers()

    def worker_health(self) -> list[JobWorkerHealth]:
        return self.inner.worker_health()

    def set_task_pool_size(self, worker_id: int, size: int) -> None:
        self.inner.set_task_pool_size(worker_id, size)

    def cancel(self, worker_id: int, job_id: int, task_id: int,
               reason: str | None = None) -> None:
        self.inner.cancel(worker_id, job_id, task_id, reason)

    def submit(self, worker_id: int, request: TaskRequest,
               on_running: Callable[[], None] | None = None) -> "Future[TaskResult]":
        key = (request.job_id, request.task_id, request.attempt)
        with self._lock:
            self._flight.setdefault(worker_id, {})[key] = request
            if worker_id in self._lost:
                self.lost_requests.append(request)
        try:
            future = self.inner.submit(worker_id, request, on_running)
        except BaseException:
            self._landed(worker_id, key)
            raise
        future.add_done_callback(lambda _f: self._landed(worker_id, key))
        return future

    def _landed(self, worker_id: int, key: tuple[int, int, int]) -> None:
        with self._lock:
            self._flight.get(worker_id, {}).pop(key, None)

    def worker_lost(self, worker_id: int) -> None:
        with self._lock:
            self._lost.add(worker_id)
            self.lost_requests.extend(self._flight.get(worker_id, {}).values())

    def close(self) -> None:
        self.inner.close()


def _targets(config: JobConfig) -> Iterator[str]:
    """The Alluxio paths a job writes to its UFS."""
    if isinstance(config, MigrateConfig):
        yield config.destination
    elif isinstance(config, PersistConfig):
        yield config.file_path
    elif isinstance(config, BatchedJobConfig):
        for child in config.configs:
            yield from _targets(child)


class StorageMix:
    """Storage jobs on ``fs`` (``/data`` mounted on the directory ``root``), and the
    checks that no data is partial once they are all finished.

    ``held(worker_id)`` lists the blocks a worker's cache holds; ``cache_root(worker_id)``
    is its directory.
    """

    def __init__(self, fs: FileSystem, root: str, seed: int, *,
                 held: Callable[[int], list[int]],
                 cache_root: Callable[[int], str | None],
                 recorder: Recorder) -> None:
        self.fs = fs
        self.root = root
        self.held = held
        self.cache_root = cache_root
        self.recorder = recorder
        self.lock = threading.Lock()
        self.expected: dict[str, set[bytes]] = {}
        self.sources: list[str] = []
        self.serial = itertools.count()
        self.errors: list[str] = []
        self.kinds: collections.Counter[str] = collections.Counter()
        self.lost_files = 0  # files lost with their workers (deleted by settle())
        self.orphaned_temps = 0  # temporary UFS files of tasks lost with their workers
        self.orphaned_blocks = 0  # cached blocks no file records
        self.checked: collections.Counter[str] = collections.Counter()
        rng = random.Random(seed)
        os.makedirs(os.path.join(root, "src"))
        for i in range(UFS_FILES):
            data = rng.randbytes(rng.randint(0, 5 * BLOCK_SIZE))
            with open(os.path.join(root, "src", f"f{i}"), "wb") as f:
                f.write(data)
            self.expected[f"/data/src/f{i}"] = {data}
            self.sources.append(f"/data/src/f{i}")
        fs.mount("/data", f"file://{root}")
        kinds = [WriteType.MUST_CACHE, WriteType.CACHE_THROUGH, WriteType.ASYNC_THROUGH,
                 WriteType.THROUGH]
        for i in range(CLIENT_FILES):
            data = rng.randbytes(rng.randint(1, 5 * BLOCK_SIZE))
            fs.write(f"/data/w/f{i}", data, write_type=kinds[i % len(kinds)])
            self.expected[f"/data/w/f{i}"] = {data}
            self.sources.append(f"/data/w/f{i}")

    # -- while the soak runs (submitter threads)

    def config(self, rng: random.Random) -> JobConfig:
        """A storage job; now and then a client frees or reads a file first."""
        draw = rng.random()
        if draw < 0.03:
            self._client_free(rng)
        elif draw < 0.08:
            self._client_read(rng)
        kind = rng.choices(["Load", "Replicate", "Evict", "Move", "Migrate", "Persist"],
                           [25, 15, 10, 15, 20, 15])[0]
        config = self._make(kind, rng) or LoadConfig(file_path=rng.choice(self.sources),
                                                      replication=rng.randint(1, 3))
        with self.lock:
            self.kinds[config.name] += 1
        return config

    def _make(self, kind: str, rng: random.Random) -> JobConfig | None:
        if kind == "Load":
            return LoadConfig(file_path=self._any_path(rng), replication=rng.randint(1, 3))
        if kind == "Migrate":
            return self._migrate(rng)
        if kind == "Persist":
            todo = [f.path for f in self.fs.namespace.all_files()
                    if f.persistence_state is not PersistenceState.PERSISTED]
            return PersistConfig(file_path=rng.choice(todo)) if todo else None
        picked = self._block(rng)
        if picked is None:
            return None
        path, block = picked
        if kind == "Replicate":
            return ReplicateConfig(path=path, block_id=block.block_id, replicas=1)
        if kind == "Evict":
            return EvictConfig(path=path, block_id=block.block_id, replicas=1)
        holders = {w.worker_id for w in block.locations}
        others = [w for w in self.fs.workers() if w.worker_id not in holders]
        if not block.locations or not others:
            return None
        return MoveConfig(path=path, block_id=block.block_id,
                          source_worker=rng.choice(block.locations).host,
                          destination_worker=rng.choice(others).host)

    def _migrate(self, rng: random.Random) -> JobConfig:
        source = rng.choice(self.sources)
        shared = rng.random() < 0.5
        n = rng.randrange(SHARED_DESTINATIONS) if shared else next(self.serial)
        destination = f"/data/dst/{'s' if shared else 'u'}{n}"
        with self.lock:
            self.expected.setdefault(destination, set()).update(self.expected[source])
        write_type = rng.choice(list(WriteType))
        return MigrateConfig(source=source, destination=destination, write_type=write_type,
                             overwrite=shared)

    def _any_path(self, rng: random.Random) -> str:
        with self.lock:
            paths = list(self.expected)
        return rng.choice(paths)

    def _block(self, rng: random.Random) -> tuple[str, Any] | None:
        path = self._any_path(rng)
        try:
            info = self.fs.get_status(path)
        except AlluxioJobsError:  # a copy not made yet, or deleted
            return None
        if info.is_folder or not info.blocks:
            return None
        return path, rng.choice(info.blocks)

    def _client_free(self, rng: random.Random) -> None:
        try:
            self.fs.free(rng.choice(self.sources[:UFS_FILES]))
        except AlluxioJobsError as exc:
            self._error(f"free failed: {exc}")

    def _client_read(self, rng: random.Random) -> None:
        path = rng.choice(self.sources[:UFS_FILES])
        try:
            data = self.fs.read(path)
        except AlluxioJobsError as exc:
            self._error(f"a client read of {path} failed: {exc}")
            return
        if data not in self.expected[path]:
            self._error(f"a client read of {path} gave {len(data)} wrong bytes")

    def _error(self, message: str) -> None:
        with self.lock:
            self.errors.append(message)

    # -- at the end

    def settle(self) -> list[str]:
        """Check the data, then let every ASYNC_THROUGH file be persisted (files lost
        with their worker are deleted: they can never be), then check the UFS."""
        lost = self._check_namespace()
        for path in lost:
            try:
                self.fs.delete(path)
            except AlluxioJobsError as exc:
                self._error(f"cannot delete the lost file {path}: {exc}")
        if not self.fs.wait_persisted(WAIT):
            self._error("ASYNC_THROUGH files are still not persisted")
        self._check_ufs()
        self._check_caches()
        self.lost_files = len(lost)
        return self.errors

    def _check_namespace(self) -> list[str]:
        """Every file reads back whole; every recorded copy on a live worker is in its
        cache and verifies. Returns the files lost with their workers."""
        live = self.fs._live_ids()
        lost = []
        for info in self.fs.namespace.all_files(live):
            allowed = self.expected.get(info.path)
            if allowed is None:
                self._error(f"{info.path} is in the namespace but no job made it")
                continue
            if info.persistence_state is PersistenceState.LOST:
                lost.append(info.path)
                continue
            try:
                data = self.fs.read(info.path)
            except AlluxioJobsError as exc:
                self._error(f"{info.path} cannot be read: {exc}")
                continue
            self.checked["files read"] += 1
            if data not in allowed:
                self._error(f"{info.path} holds {len(data)} bytes that are no copy of its "
                            "source")
            for block in info.blocks:
                for worker in block.locations:
                    try:
                        copy = self.fs.network.read_block(worker.worker_id, block.block_id)
                        verify_block(block.block_id, copy, block.length, block.checksum,
                                     worker.host)
                        self.checked["cached copies"] += 1
                    except AlluxioJobsError as exc:
                        self._error(f"the cached copy of block {block.block_id} of "
                                    f"{info.path} on {worker.host} is bad: {exc}")
        return lost

    def _check_ufs(self) -> None:
        lost_targets = {t for r in self.recorder.lost_requests for t in _targets(r.config)}
        self.orphaned_temps = 0
        for directory, _dirs, names in os.walk(self.root):
            for name in names:
                full = os.path.join(directory, name)
                path = "/data/" + os.path.relpath(full, self.root).replace(os.sep, "/")
                if is_temp_name(name):
                    final = path[:path.rindex(".alluxio-")]
                    if final in lost_targets:
                        self.orphaned_temps += 1
                    else:
                        self._error(f"temporary file left in the UFS: {path}")
                    continue
                with open(full, "rb") as f:
                    data = f.read()
                self.checked["ufs files"] += 1
                if data not in self.expected.get(path, set()):
                    self._error(f"the UFS file {path} ({len(data)} bytes) is no copy of "
                                "its source")
        removed = self.fs.remove_temp_files(older_than=0)  # no job is running any more
        if len(removed) != self.orphaned_temps:
            self._error(f"remove_temp_files removed {len(removed)} temporary files, "
                        f"expected the {self.orphaned_temps} of lost tasks")

    def _check_caches(self) -> None:
        recorded = {(w.worker_id, b.block_id)
                    for f in self.fs.namespace.all_files(self.fs._live_ids())
                    for b in f.blocks for w in b.locations}
        self.orphaned_blocks = 0
        for worker in self.fs.workers():
            held = self.held(worker.worker_id)
            self.orphaned_blocks += sum((worker.worker_id, b) not in recorded for b in held)
            root = self.cache_root(worker.worker_id)
            if root is not None and os.path.isdir(root):
                self.checked["cache directories"] += 1
                partial = [n for n in os.listdir(root) if n.startswith(".tmp-")]
                if partial:
                    self._error(f"unfinished blocks in the cache of {worker.host}: {partial}")

    def report(self) -> dict[str, Any]:
        return {"storage jobs": dict(sorted(self.kinds.items())),
                "files": len(self.fs.namespace.all_files()),
                "lost with a worker": self.lost_files,
                "temp files of lost tasks (removed)": self.orphaned_temps,
                "cached blocks no file records": self.orphaned_blocks,
                "checked": dict(sorted(self.checked.items()))}


def _mixed_with(storage: StorageMix | None, share: float
                ) -> Callable[[random.Random], JobConfig]:
    def make(rng: random.Random) -> JobConfig:
        if storage is not None and rng.random() < share:
            return storage.config(rng)
        return mixed_config(rng)
    return make


def _storage_fs(network: Any, plans: PlanRegistry) -> tuple[FileSystem, PlanRegistry]:
    namespace = Namespace(block_size=BLOCK_SIZE)
    fs = FileSystem(namespace, network, persist_backoff=(0.01, 0.1))
    return fs, register_storage_plans(plans, fs)


# ------------------------------------------------------------------- the runs


def _replace_lost_workers(inner: LocalTransport, lost: "queue.SimpleQueue[int | None]",
                          gone: Callable[[int], None]) -> None:
    """Maintenance thread: each lost worker is replaced by a new one at once, then taken
    away in a thread of its own (that waits for the tasks still running on it)."""
    removals: list[threading.Thread] = []
    while True:
        worker_id = lost.get()
        if worker_id is None:
            break
        try:
            inner.add_worker()
        except Exception as exc:  # noqa: BLE001 - closing meanwhile
            print(f"  (could not replace worker {worker_id}: {exc})")
        removal = threading.Thread(target=_remove, args=(inner, worker_id, gone),
                                   name=f"soak-remove-{worker_id}")
        removal.start()
        removals.append(removal)
    for removal in removals:
        removal.join()


def _remove(inner: LocalTransport, worker_id: int, gone: Callable[[int], None]) -> None:
    try:
        inner.remove_worker(worker_id)
    except Exception as exc:  # noqa: BLE001 - closing meanwhile
        print(f"  (could not remove worker {worker_id}: {exc})")
    gone(worker_id)


def local_soak(jobs: int, seed: int, storage: float = 0.3) -> tuple[dict[str, Any], list[str]]:
    with tempfile.TemporaryDirectory(prefix="alluxio-soak-") as tmp:
        network = LocalBlockNetwork(capacity=CACHE_CAPACITY)
        fs, plans = _storage_fs(network, conformance_plans())
        inner = LocalTransport(num_workers=4, threadpool_size=4, resources=network.resources)
        recorder = Recorder(inner)
        faults = RandomFaults(seed, lose=0.0005, fail=0.004, drop=0.004, reject=0.004,
                              delay=0.02, delay_seconds=0.002)
        lost: queue.SimpleQueue[int | None] = queue.SimpleQueue()

        def on_lost(worker_id: int) -> None:
            recorder.worker_lost(worker_id)
            lost.put(worker_id)

        maintenance = threading.Thread(target=_replace_lost_workers,
                                       args=(inner, lost, network.drop_worker),
                                       name="soak-maintenance")
        maintenance.start()
        master = JobMaster(MasterConfig(job_capacity=max(100_000, 8 * jobs),
                                        max_task_attempts=3),
                           FaultyTransport(recorder, faults, on_worker_lost=on_lost), plans)
        fs.attach(master)
        try:
            mix = StorageMix(fs, os.path.join(tmp, "ufs"), seed, recorder=recorder,
                             held=lambda w: network.cache(w).block_ids(),
                             cache_root=lambda w: getattr(network.cache(w), "root", None))
            soak = Soak(master, jobs, seed, make_config=_mixed_with(mix, storage),
                        settle=mix.settle)
            report = soak.run()
        finally:
            fs.close()
            lost.put(None)
            maintenance.join()
            master.close()
            network.close()
    report["faults"] = dict(faults.counts)
    report["workers ever"] = 4 + faults.counts["lose"]
    report["storage"] = mix.report()
    return report, soak.errors


def dask_soak(jobs: int, seed: int, storage: float = 0.3) -> tuple[dict[str, Any], list[str]]:
    import signal

    from distributed import Client, LocalCluster

    from alluxio_jobs.transports.dask import DaskTransport
    from alluxio_jobs.transports.dask_storage import DaskBlockNetwork, WorkerStoragePlans

    faults = RandomFaults(seed, fail=0.004, drop=0.004, reject=0.004, delay=0.02,
                          delay_seconds=0.002)
    with (tempfile.TemporaryDirectory(prefix="alluxio-soak-") as tmp,
          LocalCluster(processes=True, n_workers=3, threads_per_worker=2, host="127.0.0.1",
                       dashboard_address="127.0.0.1:0") as cluster,
          Client(cluster) as client):
        network = DaskBlockNetwork(client, capacity=CACHE_CAPACITY)
        fs, plans = _storage_fs(network, conformance_plans())
        transport = DaskTransport(client, poll_interval=0.2, resources=network.resources,
                                  worker_plans=WorkerStoragePlans(conformance_plans()))
        network.attach(transport)
        recorder = Recorder(transport)

        def kill_one() -> None:
            victim = transport.workers()[0]
            pid = client.run(os.getpid, workers=[victim.host])[victim.host]
            os.kill(pid, signal.SIGKILL)
            recorder.worker_lost(victim.worker_id)
            print(f"  killed Dask worker {victim.host} (pid {pid})")

        master = JobMaster(MasterConfig(job_capacity=max(100_000, 8 * jobs),
                                        max_task_attempts=3),
                           FaultyTransport(recorder, faults), plans)
        fs.attach(master)
        try:
            mix = StorageMix(fs, os.path.join(tmp, "ufs"), seed, recorder=recorder,
                             held=network.block_ids, cache_root=network.cache_root)
            soak = Soak(master, jobs, seed, make_config=_mixed_with(mix, storage),
                        submitters=2, during=kill_one, settle=mix.settle)
            report = soak.run()
        finally:
            fs.close()
            master.close()
            network.close()
    report["faults"] = dict(faults.counts)
    report["storage"] = mix.report()
    return report, soak.errors


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=10_000, help="jobs on LocalTransport")
    parser.add_argument("--dask", type=int, default=0, metavar="N",
                        help="then N jobs on a local Dask cluster (needs the dask extra)")
    parser.add_argument("--storage", type=float, default=0.3, metavar="SHARE",
                        help="the share of storage jobs among them (default 0.3)")
    parser.add_argument("--seed", type=int, default=20_240_601)
    args = parser.parse_args(argv)
    runs: list[tuple[str, Callable[[], tuple[dict[str, Any], list[str]]]]] = []
    if args.jobs:
        runs.append(("LocalTransport",
                     functools.partial(local_soak, args.jobs, args.seed, args.storage)))
    if args.dask:
        runs.append(("DaskTransport",
                     functools.partial(dask_soak, args.dask, args.seed, args.storage)))
    failed = False
    for name, run in runs:
        print(f"soak on {name} ...")
        report, errors = run()
        leaked = [t.name for t in threading.enumerate() if t.name.startswith("alluxio-")]
        if leaked:
            errors.append(f"threads left after close(): {leaked}")
        print(f"  {report['jobs']:,} jobs in {report['seconds']:.1f} s "
              f"({report['jobs'] / report['seconds']:,.0f} jobs/s), "
              f"{report['tracked']:,} tracked with workflow children")
        print(f"  statuses: {report['statuses']}")
        print(f"  faults injected: {report['faults']}")
        print(f"  storage: {report['storage']}")
        for error in errors[:20]:
            print(f"  FAILED: {error}")
        if len(errors) > 20:
            print(f"  ... and {len(errors) - 20} more")
        if not errors:
            print("  every invariant holds")
        failed = failed or bool(errors)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
