"""Distributed commands: load, cp, mv, persist and free over many files."""

import itertools
import re
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alluxio_jobs._command_run import spread_large
from alluxio_jobs.commands import (
    distributed_cp,
    distributed_load,
    distributed_mv,
    format_cmd_status,
    free,
    persist,
)
from alluxio_jobs.errors import (
    JobConfigError,
    JobNotFoundError,
    JobTimeoutError,
    NotFoundError,
    ResourceExhaustedError,
)
from alluxio_jobs.filesystem import FileSystem
from alluxio_jobs.model import MasterConfig, Status
from alluxio_jobs.plans import batched
from alluxio_jobs.plans.batched import BATCH_TASK_BYTES
from alluxio_jobs.storage import PersistenceState
from alluxio_jobs.testing import HoldConfig, ManualClock, conformance_plans
from tests.plans.support import (
    WAIT,
    FlakyFileSystem,
    FsFactory,
    assert_consistent,
    put_ufs,
    ufs_bytes,
)


def files(fs: FileSystem, n: int, prefix: str = "/data/in", size: int = 1500) -> list[str]:
    paths = [f"{prefix}/f{i:03d}" for i in range(n)]
    for i, path in enumerate(paths):
        put_ufs(fs, path, bytes([i % 256]) * size)
    return paths


@pytest.mark.parametrize("batch_size", [1, 3])
def test_distributed_load_of_66_files(fs: FileSystem, batch_size: int) -> None:
    paths = files(fs, 66)
    handle = distributed_load(fs, "/data/in", batch_size=batch_size)
    info = handle.wait(WAIT)
    assert info.status is Status.COMPLETED
    assert sorted(info.completed) == paths
    assert info.failed == {}
    assert info.progress == 1.0
    assert len(info.job_ids) == -(-66 // batch_size)
    assert all(fs.get_status(p).in_alluxio_percentage == 100 for p in paths)
    text = format_cmd_status(info)
    assert text.splitlines()[-1] == "Total completed file count is 66, failed file count is 0"
    assert text.splitlines()[0] == "Get command status information below:"
    assert f"Successfully loaded path {paths[0]}" in text
    assert_consistent(fs)


def test_fully_loaded_files_are_skipped(fs: FileSystem) -> None:
    paths = files(fs, 4)
    assert distributed_load(fs, paths[0]).wait(WAIT).completed == [paths[0]]
    info = distributed_load(fs, "/data/in").wait(WAIT)
    assert info.skipped == [paths[0]]
    assert sorted(info.completed) == paths[1:]
    again = distributed_load(fs, "/data/in").wait(WAIT)
    assert (again.status, again.job_ids, again.total) == (Status.COMPLETED, [], 4)
    assert sorted(again.skipped) == paths
    info = distributed_load(fs, "/data/in", replication=2).wait(WAIT)
    assert sorted(info.completed) == paths


def test_failed_files_are_counted_and_named(flaky_fs: FileSystem, flaky: FlakyFileSystem) -> None:
    paths = files(flaky_fs, 20)
    flaky.fail("read", match="f01")  # f010..f019 cannot be read
    info = distributed_load(flaky_fs, "/data/in").wait(WAIT)
    assert info.status is Status.FAILED
    assert sorted(info.completed) == paths[:10]
    assert sorted(info.failed) == paths[10:]
    assert all("injected read failure" in reason for reason in info.failed.values())
    text = format_cmd_status(info)
    assert "Total completed file count is 10, failed file count is 10" in text
    assert text.endswith("Failed files are:\n" + "\n".join(info.failed) + "\n")


def test_commands_refuse_bad_input_at_once(fs: FileSystem) -> None:
    with pytest.raises(NotFoundError):
        distributed_load(fs, "/data/missing")
    with pytest.raises(JobConfigError, match="replication"):
        distributed_load(fs, "/data", replication=0)
    with pytest.raises(JobConfigError, match="batch_size"):
        distributed_load(fs, "/data", batch_size=0)
    with pytest.raises(JobConfigError, match="Cannot migrate because /data is a prefix of "
                                             "/data/sub"):
        distributed_cp(fs, "/data", "/data/sub")
    with pytest.raises(JobConfigError, match="write_type"):
        distributed_cp(fs, "/data", "/other", write_type="SOMETIMES")
    assert fs.commands.list() == []


def test_distributed_cp_copies_a_tree(fs: FileSystem) -> None:
    paths = files(fs, 7, "/data/src/sub")
    info = distributed_cp(fs, "/data/src", "/data/dst", batch_size=2).wait(WAIT)
    assert info.status is Status.COMPLETED
    assert sorted(info.completed) == paths
    for path in paths:
        copy = path.replace("/data/src", "/data/dst")
        assert fs.read(copy) == fs.read(path)
    assert "Successfully copied path" in format_cmd_status(info)


def test_distributed_mv_deletes_the_source_only_when_every_copy_completed(
        flaky_fs: FileSystem, flaky: FlakyFileSystem) -> None:
    paths = files(flaky_fs, 6, "/data/src")
    flaky.fail("read", match="f004")
    info = distributed_mv(flaky_fs, "/data/src", "/data/dst").wait(WAIT)
    assert info.status is Status.FAILED
    assert list(info.failed) == ["/data/src/f004"]
    assert all(flaky_fs.exists(p) for p in paths)  # nothing of the source was deleted
    flaky.heal()
    info = distributed_mv(flaky_fs, "/data/src", "/data/dst").wait(WAIT)
    assert info.status is Status.COMPLETED
    assert not flaky_fs.exists("/data/src")
    assert [f.path for f in flaky_fs.namespace.files_under("/data/dst")] == [
        p.replace("/data/src", "/data/dst") for p in paths]


def test_persist_command(fs: FileSystem) -> None:
    for i in range(5):
        fs.write(f"/data/m/f{i}", bytes([i]) * 900, write_type="MUST_CACHE")
    fs.write("/data/m/done", b"d", write_type="CACHE_THROUGH")
    info = persist(fs, "/data/m", batch_size=2).wait(WAIT)
    assert info.status is Status.COMPLETED
    assert info.skipped == ["/data/m/done"]
    assert len(info.completed) == 5
    assert all(ufs_bytes(fs, f"/data/m/f{i}") == bytes([i]) * 900 for i in range(5))
    assert all(fs.get_status(f"/data/m/f{i}").persistence_state is PersistenceState.PERSISTED
               for i in range(5))


def test_free_command_refuses_files_not_persisted(fs: FileSystem) -> None:
    paths = files(fs, 3)
    distributed_load(fs, "/data/in").wait(WAIT)
    fs.write("/data/in/mem", b"m" * 10, write_type="MUST_CACHE")
    info = free(fs, "/data/in").wait(WAIT)
    assert info.status is Status.FAILED
    assert info.failed == {"/data/in/mem": "Cannot free file /data/in/mem which is not persisted"}
    assert sorted(info.completed) == paths
    assert all(fs.get_status(p).in_alluxio_percentage == 0 for p in paths)
    assert fs.read("/data/in/mem") == b"m" * 10
    assert_consistent(fs)


def test_active_jobs_are_bounded(flaky_fs: FileSystem, flaky: FlakyFileSystem) -> None:
    paths = files(flaky_fs, 8)
    gate = flaky.hold("read")
    handle = distributed_load(flaky_fs, "/data/in", active_jobs=2)
    assert gate.entered.wait(WAIT)
    assert len(handle.info().job_ids) <= 2  # no job finishes while reads are held
    gate.release.set()
    info = handle.wait(WAIT)
    assert sorted(info.completed) == paths
    assert len(info.job_ids) == 8


def test_a_full_master_makes_a_command_wait_not_fail(make_fs: FsFactory, ufs_url: str) -> None:
    fs = make_fs(master_config=MasterConfig(job_capacity=3, finished_job_retention=0))
    fs.mount("/data", ufs_url)
    paths = files(fs, 10)
    info = distributed_load(fs, "/data/in").wait(WAIT)
    assert info.status is Status.COMPLETED
    assert sorted(info.completed) == paths


def test_cancel_stops_a_command(flaky_fs: FileSystem, flaky: FlakyFileSystem) -> None:
    files(flaky_fs, 8)
    gate = flaky.hold("read")
    handle = distributed_load(flaky_fs, "/data/in", active_jobs=2)
    assert gate.entered.wait(WAIT)
    with pytest.raises(JobTimeoutError):
        handle.wait(0)
    assert handle.status is Status.RUNNING
    handle.cancel()
    gate.release.set()
    info = handle.wait(WAIT)
    assert info.status is Status.CANCELED
    assert info.failed == {}
    assert len(info.job_ids) <= 2
    assert all(fs_job.status.is_finished for fs_job in
               (flaky_fs.master.get_status(j) for j in info.job_ids))
    assert_consistent(flaky_fs)


def test_finished_commands_are_purged_like_jobs(make_fs: FsFactory, ufs_url: str) -> None:
    clock = ManualClock()
    fs = make_fs(master_config=MasterConfig(job_capacity=2, finished_job_retention=10),
                 clock=clock)
    fs.mount("/data", ufs_url)
    files(fs, 1)
    first = distributed_load(fs, "/data/in")
    first.wait(WAIT)
    second = distributed_load(fs, "/data/in")
    second.wait(WAIT)
    with pytest.raises(ResourceExhaustedError, match="full capacity of 2 jobs"):
        distributed_load(fs, "/data/in")
    clock.advance(10)
    third = distributed_load(fs, "/data/in")
    third.wait(WAIT)
    for purged in (first, second):  # both were old enough; purge count -1 takes all
        with pytest.raises(JobNotFoundError):
            purged.info()
    assert fs.commands.list() == [third.cmd_id]
    assert fs.commands.list(["RUNNING"]) == []


def test_a_command_is_told_when_its_jobs_end_and_never_polls(
        fs: FileSystem, monkeypatch: pytest.MonkeyPatch) -> None:
    master = fs.master
    waited: list[object] = []
    real_wait = master.wait

    def wait(*args: object, **kwargs: object) -> object:
        if threading.current_thread().name.startswith("alluxio-cmd-"):
            waited.append(args)
        return real_wait(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(master, "wait", wait)
    paths = files(fs, 12)
    info = distributed_load(fs, "/data/in", active_jobs=4).wait(WAIT)
    assert sorted(info.completed) == paths
    assert waited == []


def test_canceling_a_command_waiting_for_a_full_master_ends_it(
        make_fs: FsFactory, ufs_url: str) -> None:
    fs = make_fs(master_config=MasterConfig(job_capacity=1), plans=conformance_plans())
    fs.mount("/data", ufs_url)
    files(fs, 2)
    held = fs.master.run(HoldConfig(seconds=WAIT))  # the master is full, and stays full
    handle = distributed_load(fs, "/data/in")
    handle.cancel()
    info = handle.wait(WAIT)
    assert info.status is Status.CANCELED
    assert info.job_ids == []
    fs.master.cancel(held)


@settings(max_examples=300, deadline=None)
@given(sizes=st.lists(st.sampled_from([1, BATCH_TASK_BYTES, BATCH_TASK_BYTES + 1]),
                      max_size=60))
def test_spread_large_spreads_the_large_and_keeps_the_rest_in_order(sizes: list[int]) -> None:
    items = list(enumerate(sizes))
    out = spread_large(items, lambda item: item[1])
    assert sorted(out) == items  # a permutation
    large = [i for i, (_n, size) in enumerate(out) if size > BATCH_TASK_BYTES]
    small = [item for item in out if item[1] <= BATCH_TASK_BYTES]
    assert small == [item for item in items if item[1] <= BATCH_TASK_BYTES]
    assert [out[i] for i in large] == [item for item in items if item[1] > BATCH_TASK_BYTES]
    if large and small:  # evenly spaced: gaps differ by at most one, from the start
        assert large[0] == 0
        gaps = [b - a for a, b in itertools.pairwise([*large, len(out)])]
        assert max(gaps) - min(gaps) <= 1


def test_a_load_of_large_and_small_files_spreads_the_large_through_its_batches(
        fs: FileSystem, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batched, "BATCH_TASK_BYTES", 2000)
    small = files(fs, 12, "/data/in/a-small", size=300)
    large = files(fs, 3, "/data/in/b-large", size=3000)
    info = distributed_load(fs, "/data/in", batch_size=5).wait(WAIT)
    assert info.status is Status.COMPLETED
    assert sorted(info.completed) == sorted(small + large)
    batches = [{p for t in fs.master.get_status(job_id, verbose=True).tasks
                for p in re.findall(r"FilePath=([^,]+)", t.description)}
               for job_id in info.job_ids]
    assert [len(batch & set(large)) for batch in batches] == [1, 1, 1]  # one per batch
    assert all(fs.get_status(p).in_alluxio_percentage == 100 for p in small + large)
    assert_consistent(fs)
