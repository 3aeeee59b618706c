"""Distributed commands and the job store: ids from the master, records written in the
store writer's batches, purged with retention, found again after a restart."""

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from alluxio_jobs import JobMaster, NoopConfig
from alluxio_jobs.commands import cmd_info, distributed_load, free
from alluxio_jobs.errors import JobConfigError, JobNotFoundError
from alluxio_jobs.filesystem import FileSystem
from alluxio_jobs.model import MasterConfig, Status
from alluxio_jobs.serde import from_dict, to_dict
from alluxio_jobs.stores import JobStore, MemoryJobStore, SQLiteJobStore
from alluxio_jobs.testing import ManualClock, MockTransport
from tests.plans.support import WAIT, FlakyFileSystem, FsFactory, put_ufs

StoreFactory = Callable[[], JobStore]


@pytest.fixture(params=["memory", "sqlite"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """Opens the same store each time: one MemoryJobStore, or one SQLite file."""
    if request.param == "memory":
        shared = MemoryJobStore()
        return lambda: shared
    return lambda: SQLiteJobStore(tmp_path / "jobs.db")


def reader(store: JobStore) -> JobStore:
    """A second handle on ``store``, as another process would open it."""
    if isinstance(store, SQLiteJobStore):
        return SQLiteJobStore(store.path, create=False)
    return store


def files(fs: FileSystem, n: int, prefix: str = "/data/in", size: int = 500) -> list[str]:
    paths = [f"{prefix}/f{i:03d}" for i in range(n)]
    for i, path in enumerate(paths):
        put_ufs(fs, path, bytes([i % 256]) * size)
    return paths


def written(fs: FileSystem) -> None:
    """Return once the store holds everything that changed before this call: the
    second of two jobs waited for in turn is written by a batch taken after the call."""
    for _ in range(2):
        fs.master.wait(fs.master.run(NoopConfig()), WAIT)


def test_command_ids_come_from_the_job_id_generator(fs: FileSystem) -> None:
    files(fs, 3)
    before = fs.master.new_id()
    handle = distributed_load(fs, "/data/in")
    info = handle.wait(WAIT)
    after = fs.master.new_id()
    assert before < handle.cmd_id < after
    assert len(info.job_ids) == 3
    assert all(handle.cmd_id < job_id < after for job_id in info.job_ids)
    assert handle.cmd_id not in fs.master.list()


def test_a_command_is_in_the_store_once_wait_returns(make_fs: FsFactory,
                                                     make_store: StoreFactory,
                                                     flaky: FlakyFileSystem) -> None:
    store = make_store()
    # a long flush interval: only a command finishing asks for the write
    fs = make_fs(store=store, master_config=MasterConfig(store_flush_interval=600))
    fs.mount("/data", flaky, root="/root")
    paths = files(fs, 7)
    flaky.fail("read", match="f006")  # the last batch, alone
    info = distributed_load(fs, "/data/in", batch_size=3).wait(WAIT)
    assert info.status is Status.FAILED
    assert list(info.failed) == ["/data/in/f006"]
    other = reader(store)
    try:
        record = other.get_command(info.cmd_id)
        assert record is not None
        assert cmd_info(record) == info
        assert sorted(record.completed) == sorted(set(paths) - {"/data/in/f006"})
        assert record.description == "distributedLoad /data/in --replication 1"
        assert other.command_ids() == [info.cmd_id]
        assert from_dict(json.loads(json.dumps(to_dict(info)))) == info  # --json's data
    finally:
        if other is not store:
            other.close()


def test_the_store_follows_a_running_command(make_fs: FsFactory, tmp_path: Path,
                                             flaky: FlakyFileSystem) -> None:
    path = tmp_path / "jobs.db"
    fs = make_fs(store=SQLiteJobStore(path))
    fs.mount("/data", flaky, root="/root")
    paths = files(fs, 6)
    gate = flaky.hold("read", match="f003")
    handle = distributed_load(fs, "/data/in", active_jobs=1)
    assert gate.entered.wait(WAIT)  # f000..f002 are loaded and counted, f003 is held
    written(fs)
    with SQLiteJobStore(path, create=False) as other:
        record = other.get_command(handle.cmd_id)
        assert record is not None
        assert record.status is Status.RUNNING
        assert (record.total, record.completed) == (6, paths[:3])
        assert len(record.job_ids) >= 3
        gate.release.set()
        info = handle.wait(WAIT)
        assert info.status is Status.COMPLETED
        record = other.get_command(handle.cmd_id)
        assert record is not None
        assert cmd_info(record) == info  # the lists were written in parts, none twice
        assert record.completed == paths
        assert len(record.job_ids) == 6


def test_purged_commands_leave_the_store(make_fs: FsFactory, ufs_url: str,
                                         make_store: StoreFactory) -> None:
    clock = ManualClock()
    store = make_store()
    fs = make_fs(master_config=MasterConfig(job_capacity=2, finished_job_retention=10),
                 clock=clock, store=store)
    fs.mount("/data", ufs_url)
    files(fs, 1)
    first = distributed_load(fs, "/data/in")
    first.wait(WAIT)
    second = distributed_load(fs, "/data/in")
    second.wait(WAIT)
    other = reader(store)
    try:
        assert other.command_ids() == [first.cmd_id, second.cmd_id]
        clock.advance(10)
        third = distributed_load(fs, "/data/in")
        third.wait(WAIT)  # written in a batch with (or after) the deletes of the purge
        assert other.command_ids() == [third.cmd_id]
        assert other.get_command(first.cmd_id) is None
        with pytest.raises(JobNotFoundError):
            first.info()
    finally:
        if other is not store:
            other.close()


def test_a_new_file_system_on_the_store_finds_the_commands(make_fs: FsFactory, ufs_url: str,
                                                           make_store: StoreFactory) -> None:
    first = make_fs(store=make_store())
    first.mount("/data", ufs_url)
    paths = files(first, 4)
    loaded = distributed_load(first, "/data/in").wait(WAIT)
    freed = free(first, "/data/in").wait(WAIT)
    first.close()

    config = MasterConfig(job_capacity=2, finished_job_retention=0, finished_job_purge_count=1)
    again = make_fs(store=make_store(), master_config=config)
    assert again.commands.list() == [loaded.cmd_id, freed.cmd_id]
    assert again.commands.get(loaded.cmd_id) == loaded
    assert again.commands.wait(freed.cmd_id, WAIT) == freed
    assert sorted(again.commands.get(freed.cmd_id).completed) == paths
    # the restored commands count against the capacity and are purged in their turn
    again.mount("/data", ufs_url)
    newer = distributed_load(again, "/data/in").wait(WAIT)
    assert newer.cmd_id > freed.cmd_id
    assert again.commands.list() == [freed.cmd_id, newer.cmd_id]
    with pytest.raises(JobNotFoundError):
        again.commands.get(loaded.cmd_id)
    assert again.master.store is not None
    assert again.master.store.command_ids() == [freed.cmd_id, newer.cmd_id]


def test_a_command_running_when_its_process_stopped_fails_on_restart(
        make_fs: FsFactory, tmp_path: Path, flaky: FlakyFileSystem) -> None:
    path = tmp_path / "jobs.db"
    first = make_fs(store=SQLiteJobStore(path))
    first.mount("/data", flaky, root="/root")
    paths = files(first, 4)
    gate = flaky.hold("read", match="f002")
    handle = distributed_load(first, "/data/in", active_jobs=1)
    assert gate.entered.wait(WAIT)
    written(first)
    # a second file system opens the store while the first still runs: as after a crash
    second = make_fs(store=SQLiteJobStore(path))
    try:
        info = second.commands.get(handle.cmd_id)
        assert info.status is Status.FAILED
        assert info.error_message == "Job master shut down during execution"
        assert info.completed == paths[:2]  # what it did is kept
        assert second.commands.wait(handle.cmd_id, WAIT) == info
        written(second)
        with SQLiteJobStore(path, create=False) as other:
            record = other.get_command(handle.cmd_id)
            assert record is not None
            assert cmd_info(record) == info
    finally:
        second.close()
        gate.release.set()


def test_commands_are_written_to_one_master_store_only(make_fs: FsFactory) -> None:
    fs = make_fs(store=MemoryJobStore())
    other = JobMaster(transport=MockTransport(), store=MemoryJobStore())
    try:
        with pytest.raises(JobConfigError, match="another master's job store"):
            fs.commands.bind(other)
        fs.commands.bind(fs.master)  # the same master again: nothing to do
    finally:
        other.close()
