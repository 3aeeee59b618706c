"""The embedded storage: block caches, the namespace and the FileSystem client."""

import importlib
import inspect
import os
import pickle
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alluxio_jobs.blockcache import BlockCache, DirectoryBlockCache, MemoryBlockCache, checksum
from alluxio_jobs.errors import CacheFullError, JobConfigError, NotFoundError, StorageError
from alluxio_jobs.filesystem import FileSystem
from alluxio_jobs.model import WorkerInfo
from alluxio_jobs.storage import (
    BlockCommit,
    Namespace,
    PersistenceState,
    WriteType,
    normalize_path,
)
from tests.plans.support import (  # noqa: F401
    WAIT,
    FlakyFileSystem,
    FsFactory,
    cached_blocks,
    flaky_fixture,
    flaky_fs_fixture,
    fs_fixture,
    make_fs_fixture,
    put_ufs,
    ufs_bytes,
    ufs_names,
    ufs_of,
    ufs_url_fixture,
)

DATA = bytes(range(256)) * 10  # 2560 bytes: 3 blocks of 1 KiB


# ------------------------------------------------------------------ block caches


@pytest.fixture(params=["memory", "directory"])
def cache_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make_cache(kind: str, capacity: int, root: Path | None = None):
    if kind == "memory":
        return MemoryBlockCache(capacity)
    return DirectoryBlockCache(capacity, root)


def test_cache_put_get_remove(cache_kind: str) -> None:
    cache = make_cache(cache_kind, 100)
    try:
        cache.put(1, b"x" * 60)
        assert cache.get(1) == b"x" * 60
        assert 1 in cache
        assert cache.used == 60
        assert cache.checksum_of(1) == checksum(b"x" * 60)
        cache.put(1, b"ignored")  # a block already present is kept
        assert cache.get(1) == b"x" * 60
        assert cache.remove(1)
        assert not cache.remove(1)
        with pytest.raises(StorageError, match="not cached"):
            cache.get(1)
    finally:
        cache.close()


def test_full_cache_refuses_and_keeps_nothing(cache_kind: str) -> None:
    cache = make_cache(cache_kind, 100)
    try:
        cache.put(1, b"a" * 60)
        with pytest.raises(CacheFullError, match=r"is full: 50 bytes needed, 40 of 100 free"
                           ) as full:
            cache.put(2, b"b" * 50)
        assert (full.value.path, full.value.needed, full.value.free) == ("block 2", 50, 40)
        assert isinstance(full.value, StorageError)
        assert cache.block_ids() == [1]
        assert cache.used == 60
    finally:
        cache.close()


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_under_a_directory_cache_is_a_full_cache(tmp_path: Path) -> None:
    class FullDisk(DirectoryBlockCache):
        def _open(self, block_id: int) -> object:  # writes go to /dev/full: ENOSPC
            handle = super()._open(block_id)
            os.close(handle.fd)
            handle.fd = os.open("/dev/full", os.O_WRONLY)
            return handle

    cache = FullDisk(1000, tmp_path / "cache")
    try:
        with pytest.raises(CacheFullError, match="its disk has no room") as full:
            cache.put(1, b"x" * 10)
        assert full.value.needed == 10
        assert cache.block_ids() == []
        assert cache.used == 0
        assert os.listdir(tmp_path / "cache") == []  # the partial block is gone
    finally:
        cache.close()


def test_concurrent_puts_never_exceed_capacity(cache_kind: str) -> None:
    cache = make_cache(cache_kind, 1000)
    stored: list[int] = []
    lock = threading.Lock()

    def put_many(start: int) -> None:
        for block_id in range(start, start + 50):
            try:
                cache.put(block_id, b"z" * 37)
            except StorageError:
                continue
            with lock:
                stored.append(block_id)

    threads = [threading.Thread(target=put_many, args=(i * 100,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert len(stored) == 1000 // 37
        assert sorted(cache.block_ids()) == sorted(stored)
        assert cache.used == 37 * len(stored) <= 1000
    finally:
        cache.close()


@pytest.mark.parametrize("make", [lambda: MemoryBlockCache(100), lambda: DirectoryBlockCache(100)])
def test_two_writes_of_one_block_count_its_bytes_once(make: Callable[[], BlockCache]) -> None:
    cache = make()
    try:
        first, second = cache.writer(5, 3), cache.writer(5, 3)
        assert first is not None
        assert second is not None
        assert cache.used == 6
        for writer in (first, second):
            writer.write(b"abc")
            writer.commit(checksum(b"abc"))
        assert cache.used == 3
        assert cache.block_ids() == [5]
        assert cache.get(5) == b"abc"
        assert cache.remove(5)
        assert cache.used == 0
    finally:
        cache.close()


def test_cache_capacity_is_validated() -> None:
    with pytest.raises(JobConfigError, match="capacity"):
        MemoryBlockCache(-1)


def test_directory_cache_is_private_by_default_and_removed_on_close() -> None:
    cache = DirectoryBlockCache(100)
    cache.put(7, b"abc")
    root = cache.root
    assert os.listdir(root) == ["7"]
    cache.close()
    assert not os.path.exists(root)


def test_directory_cache_adopts_its_blocks_and_drops_unfinished_writes(tmp_path: Path) -> None:
    cache = DirectoryBlockCache(100, tmp_path)
    cache.put(3, b"abc")
    cache.close()
    (tmp_path / ".tmp-4-deadbeef").write_bytes(b"partial")
    reopened = DirectoryBlockCache(100, tmp_path)
    assert reopened.block_ids() == [3]
    assert reopened.get(3) == b"abc"
    assert reopened.used == 3
    assert sorted(os.listdir(tmp_path)) == ["3"]
    with pytest.raises(StorageError, match="more bytes than the cache capacity"):
        DirectoryBlockCache(2, tmp_path)


# ---------------------------------------------------------------------- paths


@pytest.mark.parametrize("bad", ["relative", "", "/a/../b", "/a/./b", None, 3])
def test_bad_paths_are_refused_naming_the_value(bad: object) -> None:
    with pytest.raises(JobConfigError) as err:
        normalize_path(bad)
    assert err.value.value == bad


def _reference_normalize(path: str) -> str | None:
    """The rule, spelled out: absolute, no '.'/'..' components, no NUL or newline."""
    parts = [p for p in path.split("/") if p]
    if not path.startswith("/") or any(p in (".", "..") for p in parts) or (
            "\0" in path or "\n" in path):
        return None
    return "/" + "/".join(parts)


@given(st.text(alphabet="/.a\n\0", max_size=12))
def test_normalize_path_follows_the_rule(path: str) -> None:
    expected = _reference_normalize(path)
    if expected is None:
        with pytest.raises(JobConfigError):
            normalize_path(path)
    else:
        assert normalize_path(path) == expected


def test_paths_are_normalized() -> None:
    assert normalize_path("/a//b/") == "/a/b"
    assert normalize_path("/") == "/"


def test_block_size_is_validated(make_fs: FsFactory) -> None:
    with pytest.raises(JobConfigError, match="block_size"):
        Namespace(block_size=0)
    with pytest.raises(JobConfigError, match="block_size"):
        make_fs(block_size=-5)


# --------------------------------------------------------------------- mounts


def test_mounts_do_not_nest(make_fs: FsFactory, ufs_url: str) -> None:
    fs = make_fs()
    info = fs.mount("/data", ufs_url)
    assert info.alluxio_path == "/data"
    with pytest.raises(JobConfigError, match="already a mount point"):
        fs.mount("/data", ufs_url)
    with pytest.raises(JobConfigError, match="nest"):
        fs.mount("/data/inner", ufs_url + "/inner")
    with pytest.raises(JobConfigError, match="root"):
        fs.mount("/other", FlakyFileSystem())
    with pytest.raises(JobConfigError, match="ufs: cannot be opened"):
        fs.mount("/other", "nosuchprotocol://x")
    assert [m.alluxio_path for m in fs.namespace.mounts()] == ["/data"]


def test_ufs_files_appear_persisted_and_split_into_blocks(fs: FileSystem) -> None:
    put_ufs(fs, "/data/dir/a.bin", DATA)
    put_ufs(fs, "/data/b.bin", b"")
    listing = fs.list_status("/data")
    assert [(i.path, i.is_folder) for i in listing] == [("/data/b.bin", False),
                                                        ("/data/dir", True)]
    info = fs.get_status("/data/dir/a.bin")
    assert info.persistence_state is PersistenceState.PERSISTED
    assert info.length == 2560
    assert [b.length for b in info.blocks] == [1024, 1024, 512]
    assert [b.offset for b in info.blocks] == [0, 1024, 2048]
    assert info.in_alluxio_percentage == 0
    assert all(not b.locations for b in info.blocks)
    assert fs.get_status("/data/b.bin").in_alluxio_percentage == 100  # empty files
    assert [i.path for i in fs.list_status("/data", recursive=True)] == [
        "/data/b.bin", "/data/dir", "/data/dir/a.bin"]
    with pytest.raises(NotFoundError, match=r'Path "/data/missing" does not exist\.'):
        fs.get_status("/data/missing")


@settings(max_examples=100, deadline=None)
@given(copies=st.lists(st.sets(st.integers(0, 3)), min_size=3, max_size=3),
       live=st.one_of(st.none(), st.sets(st.integers(0, 3))))
def test_cached_replicas_is_the_status_count_without_the_status(
        copies: list[set[int]], live: set[int] | None) -> None:
    namespace = Namespace(block_size=1024)
    file_id, block_ids = namespace.allocate(2560)
    namespace.commit_file(
        "/f", file_id=file_id, length=2560, block_size=1024, overwrite=False,
        state=PersistenceState.NOT_PERSISTED,
        blocks=[BlockCommit(block_id=b, length=min(1024, 2560 - i * 1024), checksum=7,
                            locations=[WorkerInfo(worker_id=w, host=f"h{w}")
                                       for w in sorted(copies[i])])
                for i, b in enumerate(block_ids)])
    expected = namespace.get_status("/f", live).cached_replicas()
    assert namespace.cached_replicas("/f", live) == expected
    assert namespace.cached_replicas("/", live) == namespace.get_status("/").cached_replicas()
    with pytest.raises(NotFoundError):
        namespace.cached_replicas("/missing")


# ---------------------------------------------------------------- write / read


@pytest.mark.parametrize(("write_type", "state", "cached", "in_ufs"), [
    (WriteType.MUST_CACHE, PersistenceState.NOT_PERSISTED, 100, False),
    (WriteType.CACHE_THROUGH, PersistenceState.PERSISTED, 100, True),
    (WriteType.THROUGH, PersistenceState.PERSISTED, 0, True),
])
def test_write_types(fs: FileSystem, write_type: WriteType, state: PersistenceState,
                     cached: int, in_ufs: bool) -> None:
    info = fs.write("/data/out/f", DATA, write_type=write_type)
    assert info.persistence_state is state
    assert info.in_alluxio_percentage == cached
    assert (ufs_bytes(fs, "/data/out/f") == DATA) is in_ufs
    assert fs.read("/data/out/f") == DATA
    assert fs.read("/data/out/f", 1000, 100) == DATA[1000:1100]
    assert fs.read("/data/out/f", 2500) == DATA[2500:]
    assert not [n for n in ufs_names(fs, "/data") if ".alluxio-" in n]


def test_async_through_is_persisted_in_the_background(fs: FileSystem) -> None:
    info = fs.write("/data/async", DATA, write_type="ASYNC_THROUGH")
    assert info.persistence_state in (PersistenceState.TO_BE_PERSISTED,
                                      PersistenceState.PERSISTED)
    assert info.in_alluxio_percentage == 100
    assert fs.wait_persisted(WAIT)
    assert fs.get_status("/data/async").persistence_state is PersistenceState.PERSISTED
    assert ufs_bytes(fs, "/data/async") == DATA


def test_write_needs_a_mount_unless_must_cache(make_fs: FsFactory) -> None:
    fs = make_fs()
    fs.write("/mem/a", b"abc", write_type="MUST_CACHE")
    assert fs.read("/mem/a") == b"abc"
    with pytest.raises(JobConfigError, match="needs an under file system"):
        fs.write("/mem/b", b"abc", write_type="THROUGH")
    with pytest.raises(JobConfigError, match="write_type"):
        fs.write("/mem/c", b"abc", write_type="SOMETIMES")
    assert not fs.exists("/mem/b")


def test_write_refuses_existing_files_unless_overwrite(fs: FileSystem) -> None:
    fs.write("/data/f", DATA, write_type="CACHE_THROUGH")
    old_blocks = fs.get_status("/data/f").block_ids
    with pytest.raises(FileExistsError, match="/data/f"):
        fs.write("/data/f", b"new", write_type="CACHE_THROUGH")
    assert fs.read("/data/f") == DATA
    fs.write("/data/f", b"new", write_type="CACHE_THROUGH", overwrite=True)
    assert fs.read("/data/f") == b"new"
    assert ufs_bytes(fs, "/data/f") == b"new"
    held = {b for blocks in cached_blocks(fs).values() for b in blocks}
    assert not held & set(old_blocks)  # the replaced file's blocks left the caches


def test_write_to_a_file_only_in_the_ufs_needs_overwrite(fs: FileSystem) -> None:
    put_ufs(fs, "/data/f", b"ufs")
    with pytest.raises(FileExistsError):
        fs.write("/data/f", b"mine", write_type="MUST_CACHE")
    assert ufs_bytes(fs, "/data/f") == b"ufs"


def test_full_caches_refuse_a_write_and_keep_nothing(make_fs: FsFactory, ufs_url: str) -> None:
    fs = make_fs(2, cache_capacity=2048)
    fs.mount("/data", ufs_url)
    fs.write("/data/small", b"s" * 1500, write_type="MUST_CACHE")
    with pytest.raises(CacheFullError, match="no job worker can cache block") as full:
        fs.write("/data/big", b"b" * 3000, write_type="CACHE_THROUGH")
    assert (full.value.path, full.value.needed) == ("/data/big", 952)  # its 3rd block
    assert not fs.exists("/data/big")
    assert sum(len(b) for b in cached_blocks(fs).values()) == 2  # only /data/small's
    assert ufs_names(fs, "/data") == []


def test_a_failing_ufs_write_leaves_nothing(flaky_fs: FileSystem, flaky: FlakyFileSystem) -> None:
    flaky.fail("rename")
    with pytest.raises(StorageError, match="injected rename failure"):
        flaky_fs.write("/data/f", DATA, write_type="CACHE_THROUGH")
    assert not flaky_fs.exists("/data/f")
    assert all(not blocks for blocks in cached_blocks(flaky_fs).values())
    assert ufs_names(flaky_fs, "/data") == []


def test_reads_come_from_cache_and_fall_back_to_the_ufs(fs: FileSystem) -> None:
    fs.write("/data/f", DATA, write_type="CACHE_THROUGH")
    ufs = ufs_of(fs, "/data/f")
    ufs.rm(fs.get_status("/data/f").ufs_path)
    assert fs.read("/data/f") == DATA  # cached copies only
    fs.write("/data/g", DATA, write_type="CACHE_THROUGH")
    block = fs.get_status("/data/g").blocks[0]
    cache = fs.network.cache(block.locations[0].worker_id)  # type: ignore[attr-defined]
    cache.remove(block.block_id)
    cache.put(block.block_id, b"\0" * block.length)  # a corrupt copy never counts
    assert fs.read("/data/g") == DATA


def test_a_lost_block_of_a_file_not_persisted_fails_the_read(fs: FileSystem) -> None:
    fs.write("/data/f", DATA, write_type="MUST_CACHE")
    block = fs.get_status("/data/f").blocks[1]
    fs.network.remove_blocks(block.locations[0].worker_id, [block.block_id])
    with pytest.raises(StorageError, match=f"block {block.block_id} is not cached"):
        fs.read("/data/f")
    fs.namespace.forget_worker(block.locations[0].worker_id)
    assert fs.get_status("/data/f").persistence_state is PersistenceState.LOST


# ----------------------------------------------------- delete / rename / free


def test_delete_removes_the_ufs_copy_and_the_cached_blocks(fs: FileSystem) -> None:
    fs.write("/data/d/f", DATA, write_type="CACHE_THROUGH")
    fs.write("/data/d/g", DATA, write_type="MUST_CACHE")
    with pytest.raises(JobConfigError, match="non-empty directory"):
        fs.delete("/data/d")
    fs.delete("/data/d/f")
    assert ufs_bytes(fs, "/data/d/f") is None
    fs.delete("/data/d", recursive=True)
    assert not fs.exists("/data/d")
    assert all(not blocks for blocks in cached_blocks(fs).values())
    with pytest.raises(JobConfigError, match="mount point"):
        fs.delete("/data", recursive=True)


def test_rename_moves_the_ufs_copy(fs: FileSystem, make_fs: FsFactory) -> None:
    fs.write("/data/a/f", DATA, write_type="CACHE_THROUGH")
    fs.rename("/data/a", "/data/b")
    assert not fs.exists("/data/a/f")
    assert fs.read("/data/b/f") == DATA
    assert ufs_bytes(fs, "/data/b/f") == DATA
    assert fs.get_status("/data/b/f").ufs_path.endswith("/b/f")
    fs.write("/data/c", b"c", write_type="MUST_CACHE")
    with pytest.raises(FileExistsError):
        fs.rename("/data/b/f", "/data/c")
    fs.write("/elsewhere", b"x", write_type="MUST_CACHE")
    with pytest.raises(JobConfigError, match="across mount points"):
        fs.rename("/elsewhere", "/data/elsewhere")


def test_free_refuses_files_not_persisted(fs: FileSystem) -> None:
    fs.write("/data/p", DATA, write_type="CACHE_THROUGH")
    fs.write("/data/n", DATA, write_type="MUST_CACHE")
    with pytest.raises(JobConfigError, match="Cannot free file /data/n which is not persisted"):
        fs.free("/data", recursive=True)
    assert fs.get_status("/data/p").in_alluxio_percentage == 100  # nothing changed
    fs.free("/data/p")
    assert fs.get_status("/data/p").in_alluxio_percentage == 0
    assert fs.read("/data/p") == DATA  # from the UFS now


def test_set_replication_is_validated(fs: FileSystem) -> None:
    fs.write("/data/f", b"x", write_type="MUST_CACHE")
    (info,) = fs.set_replication("/data/f", replication_min=1, replication_max=2)
    assert (info.replication_min, info.replication_max) == (1, 2)
    with pytest.raises(JobConfigError, match="replication_min"):
        fs.set_replication("/data/f", replication_min=3)
    with pytest.raises(JobConfigError, match="replication_max"):
        fs.set_replication("/data/f", replication_max=-2)
    assert fs.get_status("/data/f").replication_min == 1


def test_concurrent_writes_and_listings(fs: FileSystem) -> None:
    errors: list[BaseException] = []

    def writer(t: int) -> None:
        try:
            for i in range(10):
                fs.write(f"/data/t{t}/f{i}", bytes([t, i]) * 700, write_type="CACHE_THROUGH")
                fs.list_status("/data", recursive=True)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    files = fs.namespace.files_under("/data")
    assert len(files) == 40
    for f in files:
        _, _, thread, name = f.path.split("/")
        assert fs.read(f.path) == bytes([int(thread[1:]), int(name[1:])]) * 700


# ------------------------------------------------------------ module contracts


@pytest.mark.parametrize("module_name", [
    "alluxio_jobs.storage", "alluxio_jobs.blockcache", "alluxio_jobs.filesystem",
    "alluxio_jobs.commands", "alluxio_jobs.plans.cache", "alluxio_jobs.plans.transfer",
    "alluxio_jobs.plans.batched",
    "alluxio_jobs.ufs", "alluxio_jobs.replication"])
def test_modules_list_what_they_define(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert len(module.__all__) == len(set(module.__all__))
    own = {name for name, obj in vars(module).items()
           if not name.startswith("_") and (inspect.isclass(obj) or inspect.isfunction(obj))
           and obj.__module__ == module_name}
    assert sorted(own - set(module.__all__)) == []
    assert all(hasattr(module, name) for name in module.__all__)


def test_task_data_is_plain_and_pickles() -> None:
    from alluxio_jobs.plans.batched import BatchedPart, BatchedTaskArgs
    from alluxio_jobs.plans.cache import BlockSource, CachedBlock, EvictTaskArgs, LoadTaskArgs
    from alluxio_jobs.plans.transfer import (
        MigrateResult,
        MigrateTaskArgs,
        MoveResult,
        MoveTaskArgs,
        PersistResult,
        PersistTaskArgs,
    )
    from alluxio_jobs.ufs import UfsLocation

    ufs = UfsLocation(spec='{"cls": "x"}', path="/root/f")
    block = BlockSource(block_id=1, offset=0, length=3, checksum=7, peers=[0, 2])
    cached = CachedBlock(block_id=1, length=3, checksum=7)
    records = [
        LoadTaskArgs(file_path="/f", ufs=ufs, blocks=[block]), EvictTaskArgs(block_id=1),
        [cached],
        MigrateTaskArgs(file_id=1, length=3, block_size=4, blocks=[block], source_ufs=None,
                        new_block_ids=[9], write_type=WriteType.THROUGH, destination_ufs=ufs),
        MigrateResult(destination="/g", file_id=1, blocks=[cached], cached=False,
                      temp_ufs_path="/root/g.tmp"),
        PersistTaskArgs(file_id=1, blocks=[block], source_ufs=None, ufs=ufs),
        PersistResult(file_id=1, temp_ufs_path="/root/f.tmp", blocks=[cached]),
        MoveTaskArgs(block=block, source_worker_id=0),
        MoveResult(block=cached, source_worker_id=0),
        BatchedTaskArgs(parts=[BatchedPart(index=0, args=EvictTaskArgs(block_id=1))]),
    ]
    for record in records:
        assert pickle.loads(pickle.dumps(record)) == record


def test_a_claimed_block_survives_its_writers_undo(cache_kind: str) -> None:
    cache = make_cache(cache_kind, 1000)
    try:
        cache.put(1, b"a" * 10)
        cache.put(2, b"b" * 10)
        assert cache.claim(1) == checksum(b"a" * 10)  # another task found it, reports it
        assert cache.claim(3) is None  # not cached: nothing to claim
        assert not cache.remove(1, unless_claimed=True)
        assert cache.remove(2, unless_claimed=True)
        assert cache.block_ids() == [1]
        assert cache.remove(1)  # a plain remove (an evict) drops it, claim and all
        cache.put(1, b"c" * 10)  # written again: a new, unclaimed copy
        assert cache.remove(1, unless_claimed=True)
        assert not cache.remove(3, unless_claimed=True)
        assert (cache.block_ids(), cache.used) == ([], 0)
    finally:
        cache.close()


def test_a_block_two_writers_committed_is_claimed(cache_kind: str) -> None:
    cache = make_cache(cache_kind, 1000)
    try:
        first, second = cache.writer(5, 4), cache.writer(5, 4)  # both before a commit
        assert first is not None
        assert second is not None
        for writer in (first, second):
            writer.write(b"data")
            writer.commit(checksum(b"data"))
        assert not cache.remove(5, unless_claimed=True)  # either writer's undo keeps it
        assert cache.get(5) == b"data"
        assert cache.used == 4
    finally:
        cache.close()
