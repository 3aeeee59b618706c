"""Migrate, Persist, Move and BatchedJob on real bytes, with failures and cancels."""

import itertools
import os
import re
import threading
import time
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alluxio_jobs.errors import JobConfigError
from alluxio_jobs.filesystem import FileSystem
from alluxio_jobs.model import Status, WorkerInfo
from alluxio_jobs.plans.base import JobPlan, RunTaskContext, SelectContext
from alluxio_jobs.plans.batched import (
    BATCH_TASK_BYTES,
    BATCH_TASK_PARTS,
    BatchedJobConfig,
    BatchedJobPlan,
    BatchedPart,
    BatchedTaskArgs,
)
from alluxio_jobs.plans.cache import LoadConfig
from alluxio_jobs.plans.transfer import (
    MigrateConfig,
    MoveConfig,
    PersistConfig,
)
from alluxio_jobs.serde import from_dict, to_dict
from alluxio_jobs.storage import PersistenceState, WriteType
from tests.plans.support import (
    WAIT,
    FlakyFileSystem,
    FsFactory,
    assert_consistent,
    cached_blocks,
    completed,
    put_ufs,
    run,
    ufs_bytes,
    ufs_names,
)

DATA = bytes(range(251)) * 20  # 5020 bytes: 5 blocks of 1 KiB


def test_configs_validate_and_round_trip() -> None:
    migrate = MigrateConfig(source="/a", destination="/b", write_type="THROUGH", overwrite=True)
    assert migrate.write_type is WriteType.THROUGH
    assert from_dict(to_dict(migrate)) == migrate
    for config in (PersistConfig(file_path="/a", overwrite=True),
                   MoveConfig(path="/a", block_id=1, source_worker="h0", destination_worker="h1"),
                   BatchedJobConfig(job_type="Load", configs=[LoadConfig(file_path="/a")])):
        assert from_dict(to_dict(config)) == config
    with pytest.raises(JobConfigError, match="write_type"):
        MigrateConfig(source="/a", destination="/b", write_type="SOMETIMES")
    with pytest.raises(JobConfigError, match="Batched Job currently doesn't support this "
                                             "jobType: Move"):
        BatchedJobConfig(job_type="Move", configs=[])
    with pytest.raises(JobConfigError, match=r"configs\[0\]"):
        BatchedJobConfig(job_type="Persist", configs=[LoadConfig(file_path="/a")])


# -------------------------------------------------------------------- Migrate


@pytest.mark.parametrize("write_type", list(WriteType))
def test_migrate_copies_with_each_write_type(fs: FileSystem, write_type: WriteType) -> None:
    put_ufs(fs, "/data/src", DATA)
    info = completed(fs, MigrateConfig(source="/data/src", destination="/data/out/dst",
                                       write_type=write_type))
    assert len(fs.master.get_status(info.job_id, verbose=True).tasks) == 1
    assert fs.read("/data/out/dst") == DATA
    assert fs.read("/data/src") == DATA  # the source is kept
    dst = fs.get_status("/data/out/dst")
    assert dst.in_alluxio_percentage == (0 if write_type is WriteType.THROUGH else 100)
    if write_type is WriteType.ASYNC_THROUGH:
        assert fs.wait_persisted(WAIT)
    if write_type is not WriteType.MUST_CACHE:
        assert ufs_bytes(fs, "/data/out/dst") == DATA
        assert fs.get_status("/data/out/dst").persistence_state is PersistenceState.PERSISTED
    else:
        assert ufs_bytes(fs, "/data/out/dst") is None
    assert_consistent(fs)


def test_migrate_runs_on_the_worker_with_most_blocks(fs: FileSystem) -> None:
    put_ufs(fs, "/data/src", DATA)
    completed(fs, LoadConfig(file_path="/data/src", worker_set=["local-worker-2"]))
    info = completed(fs, MigrateConfig(source="/data/src", destination="/data/dst"))
    (task,) = fs.master.get_status(info.job_id, verbose=True).tasks
    assert task.worker_host == "local-worker-2"


def test_migrate_selection_rules(fs: FileSystem) -> None:
    put_ufs(fs, "/data/src", DATA)
    same = completed(fs, MigrateConfig(source="/data/src", destination="/data/src"))
    assert fs.master.get_status(same.job_id, verbose=True).tasks == []
    info = run(fs, MigrateConfig(source="/data", destination="/data/sub"))
    assert info.error_message == "Cannot migrate because /data is a prefix of /data/sub"
    info = run(fs, MigrateConfig(source="/data/missing", destination="/data/x"))
    assert info.error_message == 'Path "/data/missing" does not exist.'
    put_ufs(fs, "/data/dir/f", b"x")
    info = run(fs, MigrateConfig(source="/data/dir", destination="/data/x"))
    assert info.error_message == "Cannot migrate directory"


def test_migrate_overwrites_only_when_asked(fs: FileSystem) -> None:
    put_ufs(fs, "/data/src", DATA)
    fs.write("/data/dst", b"old", write_type="CACHE_THROUGH")
    info = run(fs, MigrateConfig(source="/data/src", destination="/data/dst",
                                 write_type="CACHE_THROUGH"))
    assert info.status is Status.FAILED
    assert info.error_message == "/data/dst already exists"
    assert fs.read("/data/dst") == b"old"
    completed(fs, MigrateConfig(source="/data/src", destination="/data/dst",
                                write_type="CACHE_THROUGH", overwrite=True))
    assert fs.read("/data/dst") == DATA
    assert ufs_bytes(fs, "/data/dst") == DATA
    assert_consistent(fs)


def test_a_failed_migrate_leaves_no_partial_destination(flaky_fs: FileSystem,
                                                        flaky: FlakyFileSystem) -> None:
    put_ufs(flaky_fs, "/data/src", DATA)
    flaky.fail("read", match="src", after=2)  # some blocks are copied before the failure
    info = run(flaky_fs, MigrateConfig(source="/data/src", destination="/data/dst",
                                       write_type="CACHE_THROUGH"))
    assert info.status is Status.FAILED
    assert "injected read failure" in info.error_message
    assert not flaky_fs.exists("/data/dst")
    assert ufs_names(flaky_fs, "/data") == ["src"]  # no temporary file left
    assert_consistent(flaky_fs)
    assert all(not blocks for blocks in cached_blocks(flaky_fs).values())


def test_a_ufs_write_failure_leaves_no_partial_destination(flaky_fs: FileSystem,
                                                          flaky: FlakyFileSystem) -> None:
    put_ufs(flaky_fs, "/data/src", DATA)
    flaky.fail("rename")
    info = run(flaky_fs, MigrateConfig(source="/data/src", destination="/data/dst",
                                       write_type="CACHE_THROUGH"))
    assert info.status is Status.FAILED
    assert not flaky_fs.exists("/data/dst")
    assert ufs_names(flaky_fs, "/data") == ["src"]
    assert all(not blocks for blocks in cached_blocks(flaky_fs).values())


def test_a_canceled_migrate_leaves_no_partial_destination(flaky_fs: FileSystem,
                                                          flaky: FlakyFileSystem) -> None:
    put_ufs(flaky_fs, "/data/src", DATA)
    gate = flaky.hold("read", after=3)
    job_id = flaky_fs.master.run(MigrateConfig(source="/data/src", destination="/data/dst",
                                               write_type="CACHE_THROUGH"))
    assert gate.entered.wait(WAIT)
    flaky_fs.master.cancel(job_id)
    gate.release.set()
    assert flaky_fs.master.wait(job_id, WAIT).status is Status.CANCELED
    assert not flaky_fs.exists("/data/dst")
    assert ufs_names(flaky_fs, "/data") == ["src"]
    assert all(not blocks for blocks in cached_blocks(flaky_fs).values())


def test_migrate_of_a_file_not_persisted_copies_from_the_caches(fs: FileSystem) -> None:
    fs.write("/data/src", DATA, write_type="MUST_CACHE")
    completed(fs, MigrateConfig(source="/data/src", destination="/data/dst",
                                write_type="THROUGH"))
    assert ufs_bytes(fs, "/data/dst") == DATA


# -------------------------------------------------------------------- Persist


def test_persist_and_overwrite(fs: FileSystem) -> None:
    fs.write("/data/f", DATA, write_type="MUST_CACHE")
    completed(fs, PersistConfig(file_path="/data/f"))
    assert fs.get_status("/data/f").persistence_state is PersistenceState.PERSISTED
    assert ufs_bytes(fs, "/data/f") == DATA
    info = run(fs, PersistConfig(file_path="/data/f"))
    assert info.status is Status.FAILED
    assert info.error_message == (
        "Task execution failed: File /data/f is already persisted in UFS, to overwrite the "
        "file, please set the overwrite flag in the config.")
    completed(fs, PersistConfig(file_path="/data/f", overwrite=True))
    assert ufs_bytes(fs, "/data/f") == DATA
    assert ufs_names(fs, "/data") == ["f"]


def test_persist_needs_workers_a_file_and_a_mount(make_fs, ufs_url: str) -> None:
    fs = make_fs()
    fs.write("/mem/f", b"x", write_type="MUST_CACHE")
    info = run(fs, PersistConfig(file_path="/mem/f"))
    assert "has no under file system mounted" in info.error_message
    none = make_fs(0)
    none.mount("/data", ufs_url)
    assert run(none, PersistConfig(file_path="/data/f")).error_message == "No worker is available"


def test_a_persist_canceled_as_its_copy_completes_leaves_nothing(
        flaky_fs: FileSystem, flaky: FlakyFileSystem) -> None:
    flaky_fs.write("/data/f", DATA, write_type="MUST_CACHE")
    gate = flaky.hold("info", match=".alluxio-")  # the size check of the finished copy
    job_id = flaky_fs.master.run(PersistConfig(file_path="/data/f"))
    assert gate.entered.wait(WAIT)
    flaky_fs.master.cancel(job_id)
    gate.release.set()
    assert flaky_fs.master.wait(job_id, WAIT).status is Status.CANCELED
    assert ufs_names(flaky_fs, "/data") == []
    assert flaky_fs.get_status("/data/f").persistence_state is PersistenceState.NOT_PERSISTED


def test_a_file_deleted_during_its_persist_does_not_come_back(flaky_fs: FileSystem,
                                                              flaky: FlakyFileSystem) -> None:
    flaky_fs.write("/data/f", DATA, write_type="MUST_CACHE")
    gate = flaky.hold("write")
    job_id = flaky_fs.master.run(PersistConfig(file_path="/data/f"))
    assert gate.entered.wait(WAIT)
    flaky_fs.delete("/data/f")
    gate.release.set()
    flaky_fs.master.wait(job_id, WAIT)
    assert ufs_names(flaky_fs, "/data") == []
    assert not flaky_fs.exists("/data/f")


def test_a_file_renamed_during_its_persist_lands_at_its_new_path(
        flaky_fs: FileSystem, flaky: FlakyFileSystem) -> None:
    flaky_fs.write("/data/a/f", DATA, write_type="MUST_CACHE")
    gate = flaky.hold("write")
    job_id = flaky_fs.master.run(PersistConfig(file_path="/data/a/f"))
    assert gate.entered.wait(WAIT)
    flaky_fs.rename("/data/a", "/data/b")
    gate.release.set()
    assert flaky_fs.master.wait(job_id, WAIT).status is Status.COMPLETED
    assert ufs_names(flaky_fs, "/data") == ["b/f"]
    assert ufs_bytes(flaky_fs, "/data/b/f") == DATA
    assert flaky_fs.get_status("/data/b/f").persistence_state is PersistenceState.PERSISTED


def test_async_through_retries_until_the_ufs_works(flaky_fs: FileSystem,
                                                   flaky: FlakyFileSystem) -> None:
    flaky.fail("write")
    flaky_fs.write("/data/f", DATA, write_type="ASYNC_THROUGH")
    assert flaky.tripped.wait(WAIT)  # the first Persist job failed
    flaky.tripped.clear()
    assert flaky.tripped.wait(WAIT)  # and was retried after a back-off
    flaky.heal()
    assert flaky_fs.wait_persisted(WAIT)
    assert flaky_fs.get_status("/data/f").persistence_state is PersistenceState.PERSISTED
    assert ufs_bytes(flaky_fs, "/data/f") == DATA
    assert len(flaky_fs.master.list(statuses=["FAILED"], name="Persist")) >= 2
    assert ufs_names(flaky_fs, "/data") == ["f"]


def test_async_through_of_a_deleted_file_is_dropped(flaky_fs: FileSystem,
                                                    flaky: FlakyFileSystem) -> None:
    gate = flaky.hold("write")
    flaky_fs.write("/data/f", DATA, write_type="ASYNC_THROUGH")
    assert gate.entered.wait(WAIT)
    flaky_fs.delete("/data/f")
    gate.release.set()
    assert flaky_fs.wait_persisted(WAIT)
    assert ufs_names(flaky_fs, "/data") == []
    assert not flaky_fs.exists("/data/f")


# ----------------------------------------------------------------------- Move


def test_move_keeps_the_source_until_the_destination_holds_the_block(fs: FileSystem) -> None:
    fs.write("/data/f", DATA, write_type="MUST_CACHE")
    block = fs.get_status("/data/f").blocks[0]
    source = block.locations[0]
    target = next(w for w in fs.workers() if w.worker_id != source.worker_id)
    completed(fs, MoveConfig(path="/data/f", block_id=block.block_id, source_worker=source.host,
                             destination_worker=target.host))
    assert [w.host for w in fs.get_status("/data/f").blocks[0].locations] == [target.host]
    assert block.block_id not in cached_blocks(fs)[source.worker_id]
    assert fs.read("/data/f") == DATA
    assert_consistent(fs)


def test_move_to_a_full_cache_fails_and_keeps_the_source(make_fs, ufs_url: str) -> None:
    fs = make_fs(2, cache_capacity=2048)
    fs.mount("/data", ufs_url)
    fs.write("/data/f", b"f" * 1024, write_type="MUST_CACHE")
    fs.write("/data/g", b"g" * 2048, write_type="MUST_CACHE")
    fs.write("/data/h", b"h" * 1024, write_type="MUST_CACHE")
    assert [u.free for u in fs.cache_usage()] == [0, 0]
    block = fs.get_status("/data/f").blocks[0]
    source = block.locations[0]
    target = next(w for w in fs.workers() if w.worker_id != source.worker_id)
    info = run(fs, MoveConfig(path="/data/f", block_id=block.block_id, source_worker=source.host,
                              destination_worker=target.host))
    assert info.status is Status.FAILED
    assert "is full" in info.error_message
    assert fs.get_status("/data/f").blocks[0].locations == [source]
    assert fs.read("/data/f") == b"f" * 1024
    assert_consistent(fs)


def test_move_names_bad_workers(fs: FileSystem) -> None:
    fs.write("/data/f", DATA, write_type="MUST_CACHE")
    block = fs.get_status("/data/f").blocks[0]
    holder = block.locations[0].host
    info = run(fs, MoveConfig(path="/data/f", block_id=block.block_id, source_worker="nohost",
                              destination_worker=holder))
    assert "source_worker: is not a live job worker, got 'nohost'" in info.error_message
    other = next(w.host for w in fs.workers() if w.host != holder)
    info = run(fs, MoveConfig(path="/data/f", block_id=block.block_id, source_worker=other,
                              destination_worker=holder))
    assert info.error_message == f"Block {block.block_id} is not cached on {other}"


# ----------------------------------------------------------------- BatchedJob


def test_batched_load_and_persist(fs: FileSystem) -> None:
    for i in range(4):
        put_ufs(fs, f"/data/f{i}", DATA[:1000 + i])
    completed(fs, BatchedJobConfig(job_type="Load", configs=[
        LoadConfig(file_path=f"/data/f{i}") for i in range(4)]))
    assert all(fs.get_status(f"/data/f{i}").in_alluxio_percentage == 100 for i in range(4))
    for i in range(3):
        fs.write(f"/data/m{i}", DATA, write_type="MUST_CACHE")
    info = completed(fs, BatchedJobConfig(job_type="Persist", configs=[
        PersistConfig(file_path=f"/data/m{i}") for i in range(3)]))
    tasks = fs.master.get_status(info.job_id, verbose=True).tasks
    # small tasks of one worker run as one; each part keeps its own description
    described = sorted(d for t in tasks for d in t.description.split("; "))
    assert described == [
        f"PersistTask{{FilePath=/data/m{i}, UfsPath={fs.get_status(f'/data/m{i}').ufs_path}}}"
        for i in range(3)]
    assert all(ufs_bytes(fs, f"/data/m{i}") == DATA for i in range(3))


def test_a_failing_child_fails_the_batch(fs: FileSystem) -> None:
    put_ufs(fs, "/data/ok", DATA)
    info = run(fs, BatchedJobConfig(job_type="Migrate", configs=[
        MigrateConfig(source="/data/ok", destination="/data/ok2"),
        MigrateConfig(source="/data/missing", destination="/data/x")]))
    assert info.status is Status.FAILED
    assert 'Path "/data/missing" does not exist.' in info.error_message


def test_async_through_is_told_when_its_job_ends_and_never_polls(
        flaky_fs: FileSystem, flaky: FlakyFileSystem, monkeypatch: pytest.MonkeyPatch) -> None:
    master = flaky_fs.master
    polled: list[str] = []

    def no_polling(name: str) -> object:
        real = getattr(master, name)

        def call(*args: object, **kwargs: object) -> object:
            if threading.current_thread().name == "alluxio-async-persist":
                polled.append(name)
            return real(*args, **kwargs)

        return call

    for name in ("wait", "get_status"):
        monkeypatch.setattr(master, name, no_polling(name))
    flaky.fail("write")
    flaky_fs.write("/data/f", DATA, write_type="ASYNC_THROUGH")
    assert flaky.tripped.wait(WAIT)  # the first Persist job failed; a retry follows
    flaky.heal()
    assert flaky_fs.wait_persisted(WAIT)
    assert flaky_fs.get_status("/data/f").persistence_state is PersistenceState.PERSISTED
    assert polled == []


# ------------------------------------------------------- temporary UFS files


def test_stale_temporary_files_are_removed_and_nothing_else(fs: FileSystem) -> None:
    put_ufs(fs, "/data/a/f", DATA)
    put_ufs(fs, "/data/a/f" + ".alluxio-" + "0" * 32 + ".tmp", DATA[:10])
    put_ufs(fs, "/data/b/g" + ".alluxio-" + "1" * 32 + ".tmp", DATA[:10])
    assert fs.remove_temp_files(older_than=3600) == []  # too fresh: maybe being written
    assert ufs_names(fs, "/data") == sorted([
        "a/f", "a/f.alluxio-" + "0" * 32 + ".tmp", "b/g.alluxio-" + "1" * 32 + ".tmp"])
    removed = fs.remove_temp_files("/data/a", older_than=0)
    assert [p.rsplit("/", 2)[-2:] for p in removed] == [["a", "f.alluxio-" + "0" * 32 + ".tmp"]]
    assert ufs_names(fs, "/data") == ["a/f", "b/g.alluxio-" + "1" * 32 + ".tmp"]
    assert len(fs.remove_temp_files(older_than=0)) == 1
    assert ufs_names(fs, "/data") == ["a/f"]
    assert ufs_bytes(fs, "/data/a/f") == DATA


def test_temporary_files_count_as_stale_by_their_age(make_fs, tmp_path) -> None:
    fs = make_fs()
    fs.mount("/data", f"file://{tmp_path}")
    old, fresh = (tmp_path / (n + ".alluxio-" + "2" * 32 + ".tmp") for n in ("old", "new"))
    for temp in (old, fresh):
        temp.write_bytes(b"partial")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    assert fs.remove_temp_files(older_than=3600) == [str(old)]
    assert sorted(p.name for p in tmp_path.iterdir()) == [fresh.name]


@pytest.mark.parametrize("bad", [-1, "1", None, True, float("nan")])
def test_remove_temp_files_refuses_a_bad_age(fs: FileSystem, bad: object) -> None:
    with pytest.raises(JobConfigError) as err:
        fs.remove_temp_files(older_than=bad)  # type: ignore[arg-type]
    assert err.value.field == "older_than"


# ------------------------------------------- BatchedJob: small tasks run together


class _Sized(JobPlan[LoadConfig, tuple[int, int], int]):
    """A child plan with given tasks: ``(task number, size)`` args on given workers."""

    def __init__(self, tasks: list[tuple[int, int]], workers: list[WorkerInfo],
                 accepts: dict[int, set[int]] | None = None) -> None:
        self.tasks = tasks
        self.workers = workers
        self.accepts = accepts or {}  # task number -> worker ids it may move to

    def select_executors(self, config: LoadConfig, workers: Sequence[WorkerInfo],
                         ctx: SelectContext) -> list[tuple[WorkerInfo, tuple[int, int]]]:
        index = int(config.file_path.rsplit("/", 1)[1])
        return [(self.workers[w], (index, size)) for w, size in [self.tasks[index]]]

    def run_task(self, config: LoadConfig, args: tuple[int, int], ctx: RunTaskContext) -> int:
        return args[0]

    def task_size(self, config: LoadConfig, args: tuple[int, int]) -> int:
        return args[1]

    def undo_task(self, config: LoadConfig, args: tuple[int, int], result: int,
                  ctx: RunTaskContext) -> None:
        pass

    def reschedule(self, config: LoadConfig, args: tuple[int, int], lost: WorkerInfo,
                   workers: Sequence[WorkerInfo]) -> WorkerInfo | None:
        ok = [w for w in workers if w.worker_id in self.accepts.get(args[0], set())]
        return ok[0] if ok else None


def _workers(n: int) -> list[WorkerInfo]:
    return [WorkerInfo(worker_id=i, host=f"h{i}") for i in range(n)]


@settings(max_examples=200, deadline=None)
@given(tasks=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 3 * BATCH_TASK_BYTES)),
                      max_size=80))
def test_batched_tasks_group_small_tasks_of_one_worker(tasks: list[tuple[int, int]]) -> None:
    workers = _workers(3)
    plan = BatchedJobPlan({"Load": _Sized(tasks, workers)})
    config = BatchedJobConfig(job_type="Load",
                              configs=[LoadConfig(file_path=f"/f/{i}") for i in range(len(tasks))])
    selected = plan.select_executors(config, workers, SelectContext(job_id=1))
    # every child task exactly once, on its own worker; a group keeps child order
    flat = [(w.worker_id, part.index) for w, args in selected for part in args.parts]
    assert sorted(index for _w, index in flat) == list(range(len(tasks)))
    assert all(tasks[index][0] == w for w, index in flat)
    for _worker, args in selected:
        assert [p.index for p in args.parts] == sorted(p.index for p in args.parts)
        sizes = [part.args[1] for part in args.parts]
        if len(sizes) > 1:  # a group: small tasks, within both limits
            assert sum(sizes) <= BATCH_TASK_BYTES
            assert len(sizes) <= BATCH_TASK_PARTS
    # no two groups of one worker could have been one
    small = [(w.worker_id, sum(p.args[1] for p in a.parts), len(a.parts)) for w, a in selected
             if all(p.args[1] <= BATCH_TASK_BYTES for p in a.parts)]
    for worker in range(3):
        groups = [(size, n) for w, size, n in small if w == worker]
        for (size1, n1), (size2, n2) in itertools.pairwise(groups):
            assert size1 + size2 > BATCH_TASK_BYTES or n1 + n2 > BATCH_TASK_PARTS


class _NoUndo(_Sized):
    undo_task = JobPlan.undo_task


def test_plans_that_cannot_undo_keep_one_task_per_child() -> None:
    workers = _workers(1)
    plan = BatchedJobPlan({"Load": _NoUndo([(0, 1)] * 6, workers)})
    config = BatchedJobConfig(job_type="Load",
                              configs=[LoadConfig(file_path=f"/f/{i}") for i in range(6)])
    selected = plan.select_executors(config, workers, SelectContext(job_id=1))
    assert [len(args.parts) for _w, args in selected] == [1] * 6


def _one_worker(make_fs: FsFactory, flaky: FlakyFileSystem) -> FileSystem:
    """A file system with one worker, so that a batch's small tasks form one group."""
    fs = make_fs(num_workers=1)
    fs.mount("/data", flaky, root="/root")
    return fs


def test_a_failing_migrate_part_undoes_the_copies_before_it(make_fs: FsFactory,
                                                             flaky: FlakyFileSystem) -> None:
    fs = _one_worker(make_fs, flaky)
    for i in range(4):
        put_ufs(fs, f"/data/src/f{i}", DATA[:600])
    flaky.fail("read", "src/f3")
    info = run(fs, BatchedJobConfig(job_type="Migrate", configs=[
        MigrateConfig(source=f"/data/src/f{i}", destination=f"/data/dst/f{i}",
                      write_type="CACHE_THROUGH") for i in range(4)]))
    assert info.status is Status.FAILED
    assert "injected read failure" in info.error_message
    (task,) = fs.master.get_status(info.job_id, verbose=True).tasks
    assert task.description.count("MigrateTask") == 4
    assert not any(fs.exists(f"/data/dst/f{i}") for i in range(4))
    assert [n for n in ufs_names(fs, "/data") if not n.startswith("src/")] == []
    assert cached_blocks(fs)[0] == []  # the new blocks of f0..f2 are gone again
    assert_consistent(fs)


def test_a_failing_persist_part_undoes_the_copies_before_it(make_fs: FsFactory,
                                                             flaky: FlakyFileSystem) -> None:
    fs = _one_worker(make_fs, flaky)
    for i in range(4):
        fs.write(f"/data/m{i}", DATA[:600], write_type="MUST_CACHE")
    flaky.fail("write", "m3")
    info = run(fs, BatchedJobConfig(job_type="Persist", configs=[
        PersistConfig(file_path=f"/data/m{i}") for i in range(4)]))
    assert info.status is Status.FAILED
    (task,) = fs.master.get_status(info.job_id, verbose=True).tasks
    assert task.description.count("PersistTask") == 4
    assert ufs_names(fs, "/data") == []  # no copy and no temporary file is left
    assert all(fs.get_status(f"/data/m{i}").persistence_state
               is PersistenceState.NOT_PERSISTED for i in range(4))
    assert_consistent(fs)


def test_a_batched_load_of_small_files_runs_a_task_per_worker(fs: FileSystem) -> None:
    for i in range(12):
        put_ufs(fs, f"/data/f{i:02d}", DATA[:500 + i])
    info = completed(fs, BatchedJobConfig(job_type="Load", configs=[
        LoadConfig(file_path=f"/data/f{i:02d}") for i in range(12)]))
    tasks = fs.master.get_status(info.job_id, verbose=True).tasks
    assert len(tasks) == 3
    described = "; ".join(t.description for t in tasks)
    assert sorted(re.findall(r"FilePath=(/data/f\d+)", described)) == [
        f"/data/f{i:02d}" for i in range(12)]
    assert all(fs.get_status(f"/data/f{i:02d}").in_alluxio_percentage == 100
               for i in range(12))
    assert all(fs.read(f"/data/f{i:02d}") == DATA[:500 + i] for i in range(12))
    assert_consistent(fs)


def _one_worker_batch(n: int) -> BatchedJobConfig:
    return BatchedJobConfig(job_type="Load", configs=[
        LoadConfig(file_path=f"/data/f{i}", worker_set=["local-worker-0"]) for i in range(n)])


def test_a_failing_part_undoes_the_parts_before_it(flaky_fs: FileSystem,
                                                   flaky: FlakyFileSystem) -> None:
    for i in range(5):
        put_ufs(flaky_fs, f"/data/f{i}", DATA[:700])
    flaky.fail("read", "f3")
    info = run(flaky_fs, _one_worker_batch(5))
    assert info.status is Status.FAILED
    assert "injected read failure" in info.error_message
    (task,) = flaky_fs.master.get_status(info.job_id, verbose=True).tasks
    assert task.description.count("LoadTask") == 5
    assert cached_blocks(flaky_fs)[0] == []  # f0..f2 were copied, then taken back
    assert all(flaky_fs.get_status(f"/data/f{i}").in_alluxio_percentage == 0
               for i in range(5))
    assert_consistent(flaky_fs)


def test_a_cancel_between_parts_undoes_the_parts_before_it(flaky_fs: FileSystem,
                                                           flaky: FlakyFileSystem) -> None:
    for i in range(5):
        put_ufs(flaky_fs, f"/data/f{i}", DATA[:700])
    gate = flaky.hold("read", "f2")
    job_id = flaky_fs.master.run(_one_worker_batch(5))
    assert gate.entered.wait(WAIT)
    flaky_fs.master.cancel(job_id)
    gate.release.set()
    info = flaky_fs.master.wait(job_id, timeout=WAIT)
    assert info.status is Status.CANCELED
    assert cached_blocks(flaky_fs)[0] == []
    assert_consistent(flaky_fs)


def test_a_batched_task_moves_where_every_part_accepts() -> None:
    workers = _workers(4)
    lost = workers[0]
    config = BatchedJobConfig(job_type="Load",
                              configs=[LoadConfig(file_path=f"/f/{i}") for i in range(3)])
    args = BatchedTaskArgs(parts=[BatchedPart(index=i, args=(i, 1)) for i in range(3)])

    def moved(accepts: dict[int, set[int]]) -> int | None:
        plan = BatchedJobPlan({"Load": _Sized([(0, 1)] * 3, workers, accepts)})
        choice = plan.reschedule(config, args, lost, workers[1:])
        return None if choice is None else choice.worker_id

    assert moved({0: {1, 2, 3}, 1: {1, 2, 3}, 2: {1, 2, 3}}) == 1
    assert moved({0: {1, 3}, 1: {2, 3}, 2: {3}}) == 3  # the parts' first choices differ
    assert moved({0: {1}, 1: {2}, 2: {1, 2}}) is None  # no worker suits them all
    assert moved({0: {1}, 1: set(), 2: {1}}) is None  # one part cannot move at all


def test_the_children_of_a_batched_load_share_one_look_at_free_space(
        fs: FileSystem, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(6):
        put_ufs(fs, f"/data/f{i}", DATA[:900])
    real = fs.network.usage
    asked: list[int] = []

    def usage() -> object:
        asked.append(1)
        return real()

    monkeypatch.setattr(fs.network, "usage", usage)
    completed(fs, BatchedJobConfig(job_type="Load", configs=[
        LoadConfig(file_path=f"/data/f{i}") for i in range(4)]))
    assert len(asked) == 1
    completed(fs, LoadConfig(file_path="/data/f4"))
    completed(fs, LoadConfig(file_path="/data/f5"))
    assert len(asked) == 3
    # the shared snapshot counted each child's copies: every worker got some
    assert sum(1 for blocks in cached_blocks(fs).values() if blocks) == 3


def test_undoing_a_group_keeps_a_copy_another_job_has_reported_meanwhile(
        flaky_fs: FileSystem, flaky: FlakyFileSystem) -> None:
    for i in range(2):
        put_ufs(flaky_fs, f"/data/f{i}", DATA[:700])
    gate = flaky.hold("read", "f1")
    grouped = flaky_fs.master.run(_one_worker_batch(2))  # copies f0, then waits on f1
    assert gate.entered.wait(WAIT)
    # another job finds f0's copy in the cache and reports it: it is recorded
    completed(flaky_fs, LoadConfig(file_path="/data/f0", worker_set=["local-worker-0"]))
    assert flaky_fs.get_status("/data/f0").in_alluxio_percentage == 100
    flaky_fs.master.cancel(grouped)  # the group is undone...
    gate.release.set()
    assert flaky_fs.master.wait(grouped, timeout=WAIT).status is Status.CANCELED
    # ...but not the copy the other job reported
    (block,) = flaky_fs.get_status("/data/f0").blocks
    assert cached_blocks(flaky_fs)[0] == [block.block_id]
    assert flaky_fs.read("/data/f0") == DATA[:700]
    assert_consistent(flaky_fs)
