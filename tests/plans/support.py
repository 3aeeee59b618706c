"""Helpers for the storage and data-job tests: fixtures (imported by the test modules
that use them), a UFS that fails or pauses on demand, and short ways to put bytes in a
UFS and look at caches."""

import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import fsspec
import pytest
from fsspec.implementations.memory import MemoryFileSystem

from alluxio_jobs.filesystem import FileSystem
from alluxio_jobs.model import Status
from alluxio_jobs.replication import ReplicationChecker

#: Safety net for waits; tests never rely on it for ordering.
WAIT = 60.0


class Gate:
    """Pauses a UFS operation: ``entered`` is set when one arrives (after the first
    ``after`` matching calls went through), and it goes on once ``release`` is set."""

    def __init__(self, match: str, after: int = 0) -> None:
        self.match = match
        self.after = after
        self.entered = threading.Event()
        self.release = threading.Event()


class FlakyFileSystem(MemoryFileSystem):  # type: ignore[misc]
    """An in-memory UFS whose operations fail (``fail``) or pause (``hold``) on demand.

    Operations: ``read``, ``write``, ``rename``, ``info``, ``list``, ``delete``. A
    failure or gate applies to paths containing its ``match`` text.
    """

    protocol = "flaky"
    cachable = False  # every test gets its own instance, failures and files

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(global_store=False, **kwargs)
        self.failures: dict[str, list[Any]] = {}
        self.gates: dict[str, Gate] = {}
        self.calls: list[tuple[str, str]] = []
        #: Set each time an injected failure is raised (tests clear it to see the next).
        self.tripped = threading.Event()

    def fail(self, op: str, match: str = "", after: int = 0) -> None:
        """Fail ``op`` on paths containing ``match``, after ``after`` calls went through."""
        self.failures[op] = [match, after]

    def heal(self) -> None:
        self.failures.clear()

    def hold(self, op: str, match: str = "", after: int = 0) -> Gate:
        gate = self.gates[op] = Gate(match, after)
        return gate

    def _trip(self, op: str, path: Any) -> None:
        path = str(path)
        self.calls.append((op, path))
        failure = self.failures.get(op)
        if failure is not None and failure[0] in path:
            if failure[1] > 0:
                failure[1] -= 1
            else:
                self.tripped.set()
                raise OSError(f"injected {op} failure on {path}")
        gate = self.gates.get(op)
        if gate is not None and gate.match in path:
            if gate.after > 0:
                gate.after -= 1
                return
            gate.entered.set()
            gate.release.wait(WAIT)

    def cat_file(self, path: Any, start: Any = None, end: Any = None, **kwargs: Any) -> Any:
        self._trip("read", path)
        return super().cat_file(path, start=start, end=end, **kwargs)

    def _open(self, path: Any, mode: str = "rb", *args: Any, **kwargs: Any) -> Any:
        self._trip("write" if "w" in mode else "read", path)
        return super()._open(path, mode, *args, **kwargs)

    def mv(self, path1: Any, path2: Any, *args: Any, **kwargs: Any) -> Any:
        self._trip("rename", path1)
        return super().mv(path1, path2, *args, **kwargs)

    def info(self, path: Any, **kwargs: Any) -> Any:
        self._trip("info", path)
        return super().info(path, **kwargs)

    def ls(self, path: Any, detail: bool = True, **kwargs: Any) -> Any:
        self._trip("list", path)
        return super().ls(path, detail=detail, **kwargs)

    def rm(self, path: Any, *args: Any, **kwargs: Any) -> Any:
        self._trip("delete", path)
        return super().rm(path, *args, **kwargs)


def ufs_of(fs: FileSystem, path: str) -> Any:
    ufs = fs.namespace.filesystem(path)
    assert ufs is not None
    return ufs


def ufs_path(fs: FileSystem, path: str) -> str:
    location = fs.namespace.ufs_location(path)
    assert location is not None
    return str(location.path)


def put_ufs(fs: FileSystem, path: str, data: bytes) -> None:
    """Write ``data`` straight into the UFS under ``path`` (as another program would)."""
    ufs = ufs_of(fs, path)
    target = ufs_path(fs, path)
    ufs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
    ufs.pipe_file(target, data)


def ufs_bytes(fs: FileSystem, path: str) -> bytes | None:
    ufs = ufs_of(fs, path)
    target = ufs_path(fs, path)
    return bytes(ufs.cat_file(target)) if ufs.exists(target) else None


def ufs_names(fs: FileSystem, directory: str) -> list[str]:
    """Every name in the UFS below ``directory`` (temporary files included)."""
    ufs = ufs_of(fs, directory)
    root = ufs_path(fs, directory)
    return sorted(str(p)[len(root.rstrip("/")) + 1:] for p in ufs.find(root))


def cached_blocks(fs: FileSystem) -> dict[int, list[int]]:
    """Worker id -> block ids actually in its cache (bytes, not metadata)."""
    network = fs.network
    return {u.worker.worker_id: sorted(network.cache(u.worker.worker_id).block_ids())  # type: ignore[attr-defined]
            for u in network.usage()}


def assert_consistent(fs: FileSystem) -> None:
    """Every block in a cache is recorded in the namespace, and every recorded copy is
    in its cache: nothing orphaned, nothing claimed that is not there."""
    recorded = {(w.worker_id, b.block_id) for f in fs.namespace.all_files()
                for b in f.blocks for w in b.locations}
    held = {(w, b) for w, blocks in cached_blocks(fs).items() for b in blocks}
    assert recorded == held


def run(fs: FileSystem, config: Any) -> Any:
    """Run a job to its end and return its info."""
    job_id = fs.master.run(config)
    info = fs.master.wait(job_id, timeout=WAIT)
    assert info.status.is_finished
    return info


def completed(fs: FileSystem, config: Any) -> Any:
    info = run(fs, config)
    assert info.status is Status.COMPLETED, info.error_message
    return info


def settle(fs: FileSystem, checker: ReplicationChecker) -> None:
    """Run rounds until the checker has nothing left to do."""
    for _ in range(10):
        job_ids = checker.check()
        if not job_ids:
            return
        for job_id in job_ids:
            assert fs.master.wait(job_id, WAIT).status is Status.COMPLETED
    raise AssertionError("the checker kept finding work")


# ------------------------------------------------------------------ fixtures

FsFactory = Callable[..., FileSystem]


@pytest.fixture(name="make_fs")
def make_fs_fixture() -> Iterator[FsFactory]:
    """Build local file systems (3 workers, 1 KiB blocks, 1 MiB memory caches by
    default), closed at the end of the test."""
    made: list[FileSystem] = []

    def make(num_workers: int = 3, **kwargs: Any) -> FileSystem:
        kwargs.setdefault("block_size", 1024)
        kwargs.setdefault("cache", "memory")
        kwargs.setdefault("cache_capacity", 1 << 20)
        kwargs.setdefault("threadpool_size", 4)
        kwargs.setdefault("persist_backoff", (0.01, 0.05))
        fs = FileSystem.local(num_workers, **kwargs)
        made.append(fs)
        return fs

    yield make
    for fs in made:
        fs.close()


@pytest.fixture(name="ufs_url", params=["memory", "file"])
def ufs_url_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty UFS root: a memory:// bucket or a file:// temporary directory."""
    if request.param == "memory":
        root = f"/alluxio-test-{uuid.uuid4().hex}"
        yield f"memory://{root}"
        memory = fsspec.filesystem("memory")
        if memory.exists(root):
            memory.rm(root, recursive=True)
    else:
        yield f"file://{tmp_path / 'ufs'}"


@pytest.fixture(name="fs")
def fs_fixture(make_fs: FsFactory, ufs_url: str) -> FileSystem:
    """A file system with ``/data`` mounted on ``ufs_url``."""
    fs = make_fs()
    fs.mount("/data", ufs_url)
    return fs


@pytest.fixture(name="flaky")
def flaky_fixture() -> Iterator[FlakyFileSystem]:
    ufs = FlakyFileSystem()
    yield ufs
    for gate in ufs.gates.values():  # never leave a task paused behind a failed test
        gate.release.set()


@pytest.fixture(name="flaky_fs")
def flaky_fs_fixture(make_fs: FsFactory, flaky: FlakyFileSystem) -> FileSystem:
    """A file system with ``/data`` mounted on the flaky UFS."""
    fs = make_fs()
    fs.mount("/data", flaky, root="/root")
    return fs
