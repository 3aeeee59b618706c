"""The replication checker and worker decommission."""

import pytest

from alluxio_jobs.errors import JobConfigError
from alluxio_jobs.filesystem import FileSystem
from alluxio_jobs.model import MasterConfig, Status
from alluxio_jobs.plans.cache import LoadConfig
from alluxio_jobs.replication import ReplicationChecker, decommission
from tests.plans.support import (
    WAIT,
    FsFactory,
    assert_consistent,
    cached_blocks,
    completed,
    put_ufs,
    settle,
)

DATA = bytes(range(200)) * 15  # 3000 bytes: 3 blocks of 1 KiB


def copies(fs: FileSystem, path: str) -> list[int]:
    return [len(b.locations) for b in fs.get_status(path).blocks]


def test_checker_keeps_copies_within_the_limits(fs: FileSystem) -> None:
    put_ufs(fs, "/data/f", DATA)
    checker = ReplicationChecker(fs)
    fs.set_replication("/data/f", replication_min=2)
    settle(fs, checker)
    assert copies(fs, "/data/f") == [2, 2, 2]
    completed(fs, LoadConfig(file_path="/data/f", replication=3))
    fs.set_replication("/data/f", replication_min=0, replication_max=1)
    settle(fs, checker)
    assert copies(fs, "/data/f") == [1, 1, 1]
    assert_consistent(fs)


def test_checker_re_replicates_what_a_lost_worker_held(fs: FileSystem) -> None:
    fs.write("/data/f", DATA, write_type="MUST_CACHE", replication_min=1)
    completed(fs, LoadConfig(file_path="/data/f", replication=2))
    fs.set_replication("/data/f", replication_min=2)
    checker = ReplicationChecker(fs)
    assert checker.check() == []
    lost = fs.get_status("/data/f").blocks[0].locations[0].worker_id
    fs.master.transport.remove_worker(lost)  # type: ignore[attr-defined]
    assert min(copies(fs, "/data/f")) == 1
    settle(fs, checker)
    assert copies(fs, "/data/f") == [2, 2, 2]
    assert all(lost not in {w.worker_id for w in b.locations}
               for b in fs.get_status("/data/f").blocks)
    assert fs.read("/data/f") == DATA


def test_checker_backs_off_when_the_master_is_full(make_fs: FsFactory, ufs_url: str) -> None:
    fs = make_fs(master_config=MasterConfig(job_capacity=0))
    fs.mount("/data", ufs_url)
    put_ufs(fs, "/data/f", DATA)
    fs.set_replication("/data/f", replication_min=1)
    checker = ReplicationChecker(fs)
    assert checker.max_active_jobs == 1
    assert checker.check() == []  # busy: retried in a later round, nothing raised


def test_checker_bounds_its_active_jobs(fs: FileSystem) -> None:
    put_ufs(fs, "/data/f", DATA)
    fs.set_replication("/data/f", replication_min=1)
    checker = ReplicationChecker(fs, max_active_jobs=2)
    first = checker.check()
    assert len(first) == 2  # three blocks need a copy; two jobs at most
    for job_id in first:
        fs.master.wait(job_id, WAIT)
    settle(fs, checker)
    assert copies(fs, "/data/f") == [1, 1, 1]


def test_checker_runs_in_the_background(fs: FileSystem) -> None:
    with pytest.raises(JobConfigError, match="interval"):
        ReplicationChecker(fs, interval=0)
    checker = ReplicationChecker(fs, interval=0.01)
    checker.start()
    checker.close()
    checker.close()


def test_decommission_moves_every_block_away(fs: FileSystem) -> None:
    fs.write("/data/n", DATA, write_type="MUST_CACHE")  # only copies: must not be lost
    put_ufs(fs, "/data/p", DATA)
    completed(fs, LoadConfig(file_path="/data/p", replication=2))
    leaving = fs.workers()[0]
    held = set(cached_blocks(fs)[leaving.worker_id])
    assert held
    info = decommission(fs, leaving.host).wait(WAIT)
    assert info.status is Status.COMPLETED, info.failed
    assert len(info.completed) + len(info.skipped) == len(held)
    assert cached_blocks(fs)[leaving.worker_id] == []
    assert fs.read("/data/n") == DATA
    assert copies(fs, "/data/n") == [1, 1, 1]
    assert_consistent(fs)
    with pytest.raises(JobConfigError, match="worker_host"):
        decommission(fs, "no-such-host")
