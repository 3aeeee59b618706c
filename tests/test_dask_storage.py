"""Storage on a real local Dask cluster: block caches in each worker's own directory,
blocks moving between workers through Dask (never a shared disk), client reads and
writes, and a worker process killed under the storage.

Skipped as a whole when ``distributed`` is not installed (the ``dask`` extra).
"""

import inspect
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

distributed = pytest.importorskip("distributed")

from alluxio_jobs.blockcache import MemoryBlockCache, checksum  # noqa: E402
from alluxio_jobs.commands import distributed_cp  # noqa: E402
from alluxio_jobs.errors import JobConfigError, StorageError  # noqa: E402
from alluxio_jobs.filesystem import FileSystem  # noqa: E402
from alluxio_jobs.model import Status  # noqa: E402
from alluxio_jobs.plans.cache import EvictConfig, LoadConfig, ReplicateConfig  # noqa: E402
from alluxio_jobs.plans.transfer import MigrateConfig, MoveConfig  # noqa: E402
from alluxio_jobs.replication import ReplicationChecker  # noqa: E402
from alluxio_jobs.storage import PersistenceState  # noqa: E402
from alluxio_jobs.testing import EchoConfig, conformance_plans  # noqa: E402
from alluxio_jobs.transports.dask_storage import DaskBlockNetwork  # noqa: E402
from tests.dask_cluster import cluster_fixtures, wait_until  # noqa: E402
from tests.plans.support import settle  # noqa: E402

pytestmark = pytest.mark.dask

WAIT = 60.0
WORKERS = 3
DATA = bytes(range(256)) * 12  # 3072 bytes: 3 blocks of 1 KiB


def memory_cache(dask_worker: Any) -> MemoryBlockCache:
    """A cache factory (module level, so the workers unpickle it by reference)."""
    return MemoryBlockCache(4096, name=f"memory cache of {dask_worker.address}")


cluster, module_client, client = cluster_fixtures(WORKERS)


@pytest.fixture
def make_fs(client: Any) -> Iterator[Callable[..., FileSystem]]:
    made: list[FileSystem] = []

    def make(**kwargs: Any) -> FileSystem:
        kwargs.setdefault("block_size", 1024)
        kwargs.setdefault("cache_capacity", 1 << 20)
        kwargs.setdefault("persist_backoff", (0.01, 0.05))
        kwargs.setdefault("poll_interval", 0.1)
        fs = FileSystem.dask(client, **kwargs)
        made.append(fs)
        return fs

    yield make
    for fs in made:
        fs.close()


@pytest.fixture
def fs(make_fs: Callable[..., FileSystem], tmp_path: Path) -> FileSystem:
    """Storage on the cluster with ``/data`` mounted on a file:// directory (memory://
    would be a different filesystem in each worker process)."""
    fs = make_fs()
    (tmp_path / "ufs").mkdir()
    fs.mount("/data", f"file://{tmp_path / 'ufs'}")
    return fs


def network(fs: FileSystem) -> DaskBlockNetwork:
    assert isinstance(fs.network, DaskBlockNetwork)
    return fs.network


def completed(fs: FileSystem, config: Any) -> None:
    info = fs.master.wait(fs.master.run(config), WAIT)
    assert info.status is Status.COMPLETED, info.error_message


def holders(fs: FileSystem, path: str) -> list[list[int]]:
    return [[w.worker_id for w in b.locations] for b in fs.get_status(path).blocks]


def held(fs: FileSystem) -> set[tuple[int, int]]:
    """(worker id, block id) of every block the live workers' caches hold."""
    net = network(fs)
    return {(w.worker_id, b) for w in fs.workers() for b in net.block_ids(w.worker_id)}


def recorded(fs: FileSystem) -> set[tuple[int, int]]:
    return {(w.worker_id, b.block_id) for f in fs.namespace.all_files(fs._live_ids())
            for b in f.blocks for w in b.locations}


def assert_consistent(fs: FileSystem) -> None:
    """Every cached block is recorded, every recorded copy is cached and verifies."""
    assert held(fs) == recorded(fs)
    net = network(fs)
    for info in fs.namespace.all_files(fs._live_ids()):
        for block in info.blocks:
            for worker in block.locations:
                data = net.read_block(worker.worker_id, block.block_id)
                assert len(data) == block.length
                assert checksum(data) == block.checksum


def put_ufs(tmp_path: Path, name: str, data: bytes) -> None:
    (tmp_path / "ufs" / name).write_bytes(data)


def kill_worker_process(client: Any, address: str) -> None:
    """SIGKILL the Dask worker process at ``address`` (its nanny starts a new one)."""
    pid = client.run(os.getpid, workers=[address])[address]
    os.kill(pid, signal.SIGKILL)


# --------------------------------------------------------------------- tests


def test_each_worker_caches_in_its_own_local_directory(fs: FileSystem, client: Any,
                                                       tmp_path: Path) -> None:
    put_ufs(tmp_path, "f", DATA)
    completed(fs, LoadConfig(file_path="/data/f", replication=WORKERS))
    assert holders(fs, "/data/f") == [[0, 1, 2]] * 3
    local = client.run(lambda dask_worker: dask_worker.local_directory)
    by_id = {w.worker_id: w.host for w in fs.workers()}
    roots = {w: network(fs).cache_root(w) for w in by_id}
    assert len(set(local.values())) == WORKERS
    assert len(set(roots.values())) == WORKERS
    block_ids = sorted(b.block_id for b in fs.get_status("/data/f").blocks)
    for worker_id, root in roots.items():
        assert root is not None
        assert Path(root).parent == Path(local[by_id[worker_id]])
        assert sorted(int(n) for n in os.listdir(root)) == block_ids
    assert fs.read("/data/f") == DATA
    assert fs.read("/data/f", 1000, 1100) == DATA[1000:2100]
    assert [u.blocks for u in fs.cache_usage()] == [3, 3, 3]
    assert_consistent(fs)


def test_the_caches_are_removed_when_the_file_system_closes(
        make_fs: Callable[..., FileSystem]) -> None:
    fs = make_fs()
    fs.write("/x", DATA, write_type="MUST_CACHE")
    roots = [network(fs).cache_root(w.worker_id) for w in fs.workers()]
    assert all(root is not None and os.path.isdir(root) for root in roots)
    fs.close()
    assert not any(os.path.exists(root) for root in roots if root is not None)


def test_client_writes_and_reads_go_to_the_workers(fs: FileSystem, tmp_path: Path) -> None:
    info = fs.write("/data/out", DATA, write_type="MUST_CACHE")
    assert info.persistence_state is PersistenceState.NOT_PERSISTED
    assert sorted(w for ids in holders(fs, "/data/out") for w in ids) == [0, 1, 2]
    assert not (tmp_path / "ufs" / "out").exists()
    assert fs.read("/data/out") == DATA
    assert_consistent(fs)
    fs.delete("/data/out")
    assert held(fs) == set()


def test_a_block_is_replicated_from_a_peer_through_dask(fs: FileSystem) -> None:
    fs.write("/data/m", DATA[:1024], write_type="MUST_CACHE")  # no UFS copy to read from
    (first,) = holders(fs, "/data/m")
    block_id = fs.get_status("/data/m").blocks[0].block_id
    completed(fs, ReplicateConfig(path="/data/m", block_id=block_id, replicas=2))
    (after,) = holders(fs, "/data/m")
    assert len(after) == 3
    assert set(first) < set(after)
    for worker_id in after:
        assert network(fs).read_block(worker_id, block_id) == DATA[:1024]
    assert_consistent(fs)


def test_move_drops_the_source_only_after_the_destination_holds_it(fs: FileSystem) -> None:
    fs.write("/data/m", DATA[:1024], write_type="MUST_CACHE")
    block = fs.get_status("/data/m").blocks[0]
    (source,) = block.locations
    destination = next(w for w in fs.workers() if w.worker_id != source.worker_id)
    completed(fs, MoveConfig(path="/data/m", block_id=block.block_id, source_worker=source.host,
                             destination_worker=destination.host))
    assert holders(fs, "/data/m") == [[destination.worker_id]]
    assert block.block_id not in network(fs).block_ids(source.worker_id)
    assert network(fs).read_block(destination.worker_id, block.block_id) == DATA[:1024]
    assert fs.read("/data/m") == DATA[:1024]
    assert_consistent(fs)


def test_evict_and_free_drop_cached_copies(fs: FileSystem, tmp_path: Path) -> None:
    put_ufs(tmp_path, "f", DATA)
    completed(fs, LoadConfig(file_path="/data/f", replication=2))
    block_id = fs.get_status("/data/f").blocks[1].block_id
    completed(fs, EvictConfig(path="/data/f", block_id=block_id, replicas=1))
    assert [len(ids) for ids in holders(fs, "/data/f")] == [2, 1, 2]
    assert_consistent(fs)
    fs.free("/data/f")
    assert holders(fs, "/data/f") == [[], [], []]
    assert held(fs) == set()
    assert fs.read("/data/f") == DATA  # from the UFS again


def test_migrate_and_distributed_cp_copy_between_workers(fs: FileSystem,
                                                         tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        fs.write(f"/data/src/{name}", DATA + name.encode(), write_type="MUST_CACHE")
    completed(fs, MigrateConfig(source="/data/src/a", destination="/data/one",
                                write_type="CACHE_THROUGH"))
    assert (tmp_path / "ufs" / "one").read_bytes() == DATA + b"a"
    assert fs.read("/data/one") == DATA + b"a"
    # batch_size=2: BatchedJob tasks carry each child's typed arguments over the wire
    cmd = distributed_cp(fs, "/data/src", "/data/dst", write_type="MUST_CACHE",
                         batch_size=2).wait(WAIT)
    assert cmd.status is Status.COMPLETED, cmd.failed
    for name in ("a", "b", "c"):
        assert fs.read(f"/data/dst/{name}") == DATA + name.encode()
    assert not (tmp_path / "ufs" / "dst").exists()
    assert not [n for n in os.listdir(tmp_path / "ufs") if ".alluxio-" in n]
    assert_consistent(fs)


def test_persist_writes_cached_files_to_the_ufs(fs: FileSystem, tmp_path: Path) -> None:
    fs.write("/data/must", DATA, write_type="MUST_CACHE")
    fs.write("/data/later", DATA[::-1], write_type="ASYNC_THROUGH")
    fs.persist("/data/must", timeout=WAIT)
    assert fs.wait_persisted(WAIT)
    assert (tmp_path / "ufs" / "must").read_bytes() == DATA
    assert (tmp_path / "ufs" / "later").read_bytes() == DATA[::-1]
    for path in ("/data/must", "/data/later"):
        assert fs.get_status(path).persistence_state is PersistenceState.PERSISTED
    assert sorted(os.listdir(tmp_path / "ufs")) == ["later", "must"]


def test_unknown_workers_fail_reads_and_writes_and_are_ignored_by_removes(
        fs: FileSystem) -> None:
    net = network(fs)
    with pytest.raises(StorageError, match="job worker 999 is not reachable"):
        net.read_block(999, 1)
    with pytest.raises(StorageError, match="job worker 999 is not reachable"):
        net.write_block(999, 1, b"x")
    net.remove_blocks(999, [1])
    with pytest.raises(StorageError, match="not cached"):
        net.read_block(0, 12345)


def test_a_user_cache_factory_and_a_full_cache(make_fs: Callable[..., FileSystem]) -> None:
    fs = make_fs(cache_factory=memory_cache)
    assert [u.capacity for u in fs.cache_usage()] == [4096] * WORKERS
    assert network(fs).cache_root(0) is None
    fs.write("/x", DATA, write_type="MUST_CACHE")
    assert fs.read("/x") == DATA
    net = network(fs)
    with pytest.raises(StorageError, match="is full") as full:
        net.write_block(0, 777, bytes(5000))
    assert full.value.needed == 5000  # type: ignore[attr-defined]


def test_bad_arguments_are_refused(client: Any) -> None:
    with pytest.raises(JobConfigError, match="capacity"):
        DaskBlockNetwork(client, capacity=-1)
    with pytest.raises(JobConfigError, match="timeout"):
        DaskBlockNetwork(client, timeout=0)
    with pytest.raises(JobConfigError, match="client"):
        DaskBlockNetwork("tcp://127.0.0.1:1")  # type: ignore[arg-type]
    with pytest.raises(JobConfigError, match="client"):
        FileSystem.dask("tcp://127.0.0.1:1")
    with pytest.raises(JobConfigError, match="block_size"):
        FileSystem.dask(client, block_size=0)


def test_further_job_types_run_beside_the_storage_plans(make_fs: Callable[..., FileSystem],
                                                        tmp_path: Path) -> None:
    fs = make_fs(plans=conformance_plans())
    (tmp_path / "ufs").mkdir()
    fs.mount("/data", f"file://{tmp_path / 'ufs'}")
    put_ufs(tmp_path, "f", DATA)
    completed(fs, EchoConfig(value={"n": 1}))
    completed(fs, LoadConfig(file_path="/data/f"))
    assert fs.read("/data/f") == DATA


def test_a_killed_worker_loses_its_copies_and_they_are_re_replicated(
        fs: FileSystem, client: Any, tmp_path: Path) -> None:
    put_ufs(tmp_path, "f", DATA)
    fs.write("/data/m", DATA[:1500], write_type="MUST_CACHE", replication_min=2)
    completed(fs, LoadConfig(file_path="/data/m", replication=2))
    completed(fs, LoadConfig(file_path="/data/f", replication=1))
    fs.set_replication("/data/f", replication_min=1)
    victim = next(w for w in fs.workers() if any(w.worker_id in ids
                                                 for ids in holders(fs, "/data/f")))
    kill_worker_process(client, victim.host)
    wait_until(lambda: victim.worker_id not in {w.worker_id for w in fs.workers()})
    assert all(victim.worker_id not in ids for ids in holders(fs, "/data/m"))
    assert min(len(ids) for ids in holders(fs, "/data/m")) >= 1
    settle(fs, ReplicationChecker(fs))
    assert [len(ids) for ids in holders(fs, "/data/m")] == [2, 2]
    assert all(len(ids) >= 1 for ids in holders(fs, "/data/f"))
    assert fs.read("/data/m") == DATA[:1500]
    assert fs.read("/data/f") == DATA
    assert fs.master.list(statuses=[Status.RUNNING, Status.CREATED]) == []
    assert_consistent(fs)


def test_the_module_exports_what_it_defines() -> None:
    import alluxio_jobs.transports.dask_storage as module

    own = {name for name, obj in vars(module).items()
           if not name.startswith("_") and (inspect.isclass(obj) or inspect.isfunction(obj))
           and obj.__module__ == module.__name__}
    assert sorted(own) == sorted(module.__all__)
    assert module.__all__ == sorted(module.__all__)
