"""Load, Replicate, Evict and SetReplica on real bytes (memory:// and file:// UFS)."""

import threading

import pytest

from alluxio_jobs.errors import JobConfigError, StorageError
from alluxio_jobs.filesystem import FileSystem
from alluxio_jobs.model import Status
from alluxio_jobs.plans.cache import (
    JOBS_PER_WORKER,
    EvictConfig,
    LoadConfig,
    ReplicateConfig,
    SetReplicaConfig,
    partition,
)
from alluxio_jobs.serde import from_dict, to_dict
from tests.plans.support import (
    WAIT,
    FlakyFileSystem,
    FsFactory,
    assert_consistent,
    cached_blocks,
    completed,
    put_ufs,
    run,
)

DATA = bytes(range(256)) * 28  # 7168 bytes: 7 blocks of 1 KiB


def copies(fs: FileSystem, path: str) -> list[int]:
    return [len(b.locations) for b in fs.get_status(path).blocks]


def test_configs_validate_and_round_trip() -> None:
    config = LoadConfig(file_path="/a", replication=2, worker_set=("h1",))
    assert from_dict(to_dict(config)) == config
    assert to_dict(config)["type"] == "Load"
    for cls, tag in ((EvictConfig, "Evict"), (ReplicateConfig, "Replicate")):
        c = cls(path="/a", block_id=3, replicas=2)
        assert from_dict(to_dict(c)) == c
        assert to_dict(c)["type"] == tag
    s = SetReplicaConfig(path="/a", block_id=3, replicas=0)
    assert from_dict(to_dict(s)) == s
    with pytest.raises(JobConfigError, match="replication"):
        LoadConfig(file_path="/a", replication=0)
    with pytest.raises(JobConfigError, match="file_path"):
        LoadConfig(file_path="a")
    with pytest.raises(JobConfigError, match="file_path"):
        LoadConfig(file_path="/a//b")
    with pytest.raises(JobConfigError, match="replicas"):
        SetReplicaConfig(path="/a", block_id=1, replicas=-1)
    with pytest.raises(JobConfigError, match="replicas"):
        EvictConfig(path="/a", block_id=1, replicas=0)
    with pytest.raises(JobConfigError, match="worker_set"):
        LoadConfig(file_path="/a", worker_set=[""])


def test_partition_is_round_robin() -> None:
    assert partition([1, 2, 3, 4, 5], 2) == [[1, 3, 5], [2, 4]]
    assert partition([1], 10) == [[1]]


# ----------------------------------------------------------------------- Load


def test_load_caches_every_block_and_a_second_load_has_no_tasks(fs: FileSystem) -> None:
    put_ufs(fs, "/data/f", DATA)
    completed(fs, LoadConfig(file_path="/data/f", replication=2))
    info = fs.get_status("/data/f")
    assert info.in_alluxio_percentage == 100
    assert copies(fs, "/data/f") == [2] * 7
    again = completed(fs, LoadConfig(file_path="/data/f", replication=2))
    assert fs.master.get_status(again.job_id, verbose=True).tasks == []
    assert fs.read("/data/f") == DATA
    held = cached_blocks(fs)
    for block in info.blocks:  # metadata says what the caches really hold
        for worker in block.locations:
            assert block.block_id in held[worker.worker_id]


def test_load_needs_enough_workers(fs: FileSystem) -> None:
    put_ufs(fs, "/data/f", DATA)
    info = run(fs, LoadConfig(file_path="/data/f", replication=5))
    assert info.status is Status.FAILED
    assert info.error_message.startswith(
        "Failed to find enough block workers to replicate to. Needed 5 but only found 3. "
        "Available workers without the block: [local-worker-")
    assert fs.get_status("/data/f").in_alluxio_percentage == 0


def test_load_spreads_blocks_and_splits_tasks_per_worker(make_fs: FsFactory,
                                                        ufs_url: str) -> None:
    fs = make_fs(1)
    fs.mount("/data", ufs_url)
    put_ufs(fs, "/data/f", bytes(25 * 1024))
    info = completed(fs, LoadConfig(file_path="/data/f"))
    tasks = fs.master.get_status(info.job_id, verbose=True).tasks
    assert len(tasks) == JOBS_PER_WORKER  # 25 blocks round-robin into 10 tasks
    assert fs.get_status("/data/f").in_alluxio_percentage == 100


def test_load_spreads_bytes_not_just_block_counts(fs: FileSystem) -> None:
    """Files of two full blocks and a tiny third one: were blocks dealt round-robin,
    one worker would get every tiny block and the others every full one."""
    for i in range(6):
        put_ufs(fs, f"/data/f{i}", bytes(2 * 1024 + 8))
        completed(fs, LoadConfig(file_path=f"/data/f{i}"))
    held = sorted(u.used for u in fs.cache_usage())
    assert sum(held) == 6 * (2 * 1024 + 8)
    assert held[-1] - held[0] <= 1024 + 8


def test_a_copy_that_does_not_match_records_none_of_its_task(fs: FileSystem) -> None:
    put_ufs(fs, "/data/f", DATA)
    info = fs.get_status("/data/f")
    worker = fs.workers()[0]
    first, second = info.blocks[0], info.blocks[1]
    with pytest.raises(StorageError, match="bytes, expected"):
        fs.namespace.add_locations(worker, [(first.block_id, first.length, 1),
                                            (second.block_id, second.length + 1, 2)])
    assert copies(fs, "/data/f") == [0] * 7
    assert fs.namespace.add_locations(worker, [(first.block_id, first.length, 1),
                                               (12345678, 1, 1)]) == [12345678]
    assert copies(fs, "/data/f")[0] == 1


def test_load_respects_worker_filters(fs: FileSystem) -> None:
    put_ufs(fs, "/data/f", DATA)
    completed(fs, LoadConfig(file_path="/data/f", worker_set=["local-worker-1"]))
    assert {w.host for b in fs.get_status("/data/f").blocks for w in b.locations} == {
        "local-worker-1"}
    info = run(fs, LoadConfig(file_path="/data/f", replication=3,
                              excluded_worker_set=["local-worker-0"]))
    assert "Needed 2 but only found 1" in info.error_message


def test_load_of_a_missing_file_or_a_directory_fails(fs: FileSystem) -> None:
    info = run(fs, LoadConfig(file_path="/data/nope"))
    assert (info.status, info.error_type) == (Status.FAILED, "NotFoundError")
    put_ufs(fs, "/data/dir/f", b"x")
    info = run(fs, LoadConfig(file_path="/data/dir"))
    assert "is a directory" in info.error_message


def test_peer_load_copies_a_block_not_in_the_ufs(fs: FileSystem) -> None:
    fs.write("/data/f", DATA, write_type="MUST_CACHE")
    completed(fs, LoadConfig(file_path="/data/f", replication=3))
    assert copies(fs, "/data/f") == [3] * 7
    assert fs.read("/data/f") == DATA


def test_a_failing_ufs_fails_the_load_and_leaves_no_block(flaky_fs: FileSystem,
                                                          flaky: FlakyFileSystem) -> None:
    put_ufs(flaky_fs, "/data/f", DATA)
    flaky.fail("read")
    info = run(flaky_fs, LoadConfig(file_path="/data/f"))
    assert info.status is Status.FAILED
    assert "injected read failure" in info.error_message
    assert flaky_fs.get_status("/data/f").in_alluxio_percentage == 0
    assert all(not blocks for blocks in cached_blocks(flaky_fs).values())
    flaky.heal()
    completed(flaky_fs, LoadConfig(file_path="/data/f"))
    assert flaky_fs.read("/data/f") == DATA


def test_a_ufs_file_that_changed_is_never_cached(fs: FileSystem) -> None:
    put_ufs(fs, "/data/f", DATA)
    fs.get_status("/data/f")  # metadata loaded: 7168 bytes
    put_ufs(fs, "/data/f", DATA[:3000])
    info = run(fs, LoadConfig(file_path="/data/f"))
    assert info.status is Status.FAILED
    assert "expected 1024" in info.error_message


def test_a_full_cache_fails_the_load_with_a_clear_error(make_fs: FsFactory,
                                                         ufs_url: str) -> None:
    fs = make_fs(1, cache_capacity=4096)
    fs.mount("/data", ufs_url)
    put_ufs(fs, "/data/f", DATA)
    info = run(fs, LoadConfig(file_path="/data/f"))
    assert info.status is Status.FAILED
    assert "block cache of local-worker-0 is full" in info.error_message
    tasks = fs.master.get_status(info.job_id, verbose=True).tasks
    assert "CacheFullError" in {t.error_type for t in tasks}
    assert_consistent(fs)  # tasks that completed keep their copies; the failed one none
    assert fs.get_status("/data/f").in_alluxio_percentage < 100


def test_a_canceled_load_leaves_no_block(flaky_fs: FileSystem, flaky: FlakyFileSystem) -> None:
    put_ufs(flaky_fs, "/data/f", DATA)
    gate = flaky.hold("read", after=2)
    job_id = flaky_fs.master.run(LoadConfig(file_path="/data/f", worker_set=["local-worker-0"]))
    assert gate.entered.wait(WAIT)
    flaky_fs.master.cancel(job_id)
    gate.release.set()
    info = flaky_fs.master.wait(job_id, WAIT)
    assert info.status is Status.CANCELED
    assert_consistent(flaky_fs)  # the paused tasks dropped the blocks they had added
    assert flaky_fs.get_status("/data/f").in_alluxio_percentage < 100


def test_concurrent_loads_of_one_file(fs: FileSystem) -> None:
    put_ufs(fs, "/data/f", DATA)
    job_ids: list[int] = []
    barrier = threading.Barrier(4)

    def submit() -> None:
        barrier.wait()
        job_ids.append(fs.master.run(LoadConfig(file_path="/data/f", replication=2)))

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for job_id in job_ids:
        assert fs.master.wait(job_id, WAIT).status is Status.COMPLETED
    assert all(n >= 2 for n in copies(fs, "/data/f"))
    assert fs.read("/data/f") == DATA
    assert_consistent(fs)


def test_a_file_deleted_during_its_load_leaves_no_block(flaky_fs: FileSystem,
                                                        flaky: FlakyFileSystem) -> None:
    put_ufs(flaky_fs, "/data/f", DATA)
    gate = flaky.hold("read", after=6)
    job_id = flaky_fs.master.run(LoadConfig(file_path="/data/f", worker_set=["local-worker-0"]))
    assert gate.entered.wait(WAIT)
    flaky_fs.delete("/data/f")
    gate.release.set()
    flaky_fs.master.wait(job_id, WAIT)
    assert all(not blocks for blocks in cached_blocks(flaky_fs).values())
    assert_consistent(flaky_fs)


# ------------------------------------------------------ Evict / Replicate


def test_replicate_and_evict_copies(fs: FileSystem) -> None:
    put_ufs(fs, "/data/f", DATA)
    block = fs.get_status("/data/f").blocks[3].block_id
    completed(fs, ReplicateConfig(path="/data/f", block_id=block, replicas=2))
    assert copies(fs, "/data/f")[3] == 2
    completed(fs, ReplicateConfig(path="/data/f", block_id=block, replicas=5))  # fewer is fine
    assert copies(fs, "/data/f")[3] == 3
    completed(fs, EvictConfig(path="/data/f", block_id=block, replicas=2))
    assert copies(fs, "/data/f")[3] == 1
    completed(fs, EvictConfig(path="/data/f", block_id=block, replicas=4))  # persisted: all
    assert copies(fs, "/data/f") == [0] * 7
    assert all(not blocks for blocks in cached_blocks(fs).values())


def test_evict_never_drops_the_last_copy_of_a_file_not_persisted(fs: FileSystem) -> None:
    fs.write("/data/f", DATA, write_type="MUST_CACHE")
    block = fs.get_status("/data/f").blocks[0].block_id
    info = run(fs, EvictConfig(path="/data/f", block_id=block))
    assert info.status is Status.FAILED
    assert info.error_message == (f"Cannot evict the last cached copy of block {block} of "
                                  "/data/f: the file is not persisted")
    assert fs.read("/data/f") == DATA


def test_replica_jobs_name_a_bad_block(fs: FileSystem) -> None:
    put_ufs(fs, "/data/f", DATA)
    info = run(fs, ReplicateConfig(path="/data/f", block_id=12345))
    assert info.error_type == "JobConfigError"
    assert "block_id: is not a block of /data/f, got 12345" in info.error_message


def test_set_replica_reaches_its_target(fs: FileSystem) -> None:
    put_ufs(fs, "/data/f", DATA)
    block = fs.get_status("/data/f").blocks[0].block_id
    completed(fs, SetReplicaConfig(path="/data/f", block_id=block, replicas=3))
    assert copies(fs, "/data/f")[0] == 3
    same = completed(fs, SetReplicaConfig(path="/data/f", block_id=block, replicas=3))
    assert fs.master.get_status(same.job_id, verbose=True).tasks == []
    completed(fs, SetReplicaConfig(path="/data/f", block_id=block, replicas=1))
    assert copies(fs, "/data/f")[0] == 1


def test_set_replica_refuses_a_duplicate_only_while_the_first_runs(
        flaky_fs: FileSystem, flaky: FlakyFileSystem) -> None:
    put_ufs(flaky_fs, "/data/f", DATA)
    block = flaky_fs.get_status("/data/f").blocks[0].block_id
    gate = flaky.hold("read")
    first = flaky_fs.master.run(SetReplicaConfig(path="/data/f", block_id=block, replicas=1))
    assert gate.entered.wait(WAIT)
    second = run(flaky_fs, SetReplicaConfig(path="/data/f", block_id=block, replicas=2))
    assert second.status is Status.FAILED
    assert second.error_message == (f"There's SetReplica job running for path:/data/f "
                                    f"blockId:{block}, try later")
    gate.release.set()
    assert flaky_fs.master.wait(first, WAIT).status is Status.COMPLETED
    completed(flaky_fs, SetReplicaConfig(path="/data/f", block_id=block, replicas=2))
    assert copies(flaky_fs, "/data/f")[0] == 2
