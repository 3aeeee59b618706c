"""Block bytes on job workers: each worker's cache, and the network between caches.

Every job worker owns a :class:`BlockCache` (a local directory by default, memory as an
option) with a capacity in bytes. Bytes never live on a disk assumed to be shared:
anything that needs another worker's block (a peer copy, a client read, the master
freeing space) goes through a :class:`BlockNetwork`, which the transport provides.
:class:`LocalBlockNetwork` is the in-process one: it builds each local worker's cache
and hands it to tasks as ``ctx.resources["storage"]`` (a :class:`WorkerStorage`).
"""

import abc
import contextlib
import errno
import itertools
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs
import fsspec

from alluxio_jobs._validate import check_int
from alluxio_jobs.checksums import crc32
from alluxio_jobs.errors import CacheFullError, StorageError, WorkerNotFoundError
from alluxio_jobs.model import WorkerInfo

__all__ = [
    "RESOURCE_KEY",
    "BlockCache",
    "BlockNetwork",
    "BlockWriter",
    "CacheUsage",
    "DirectoryBlockCache",
    "LocalBlockNetwork",
    "MemoryBlockCache",
    "WorkerStorage",
    "checksum",
    "verify_block",
]

#: The resource key under which tasks find their worker's :class:`WorkerStorage`.
RESOURCE_KEY = "storage"


def checksum(data: bytes | memoryview) -> int:
    """The checksum every copy of a block is verified with (CRC-32: fast, catches
    truncation and corruption; copies are not adversarial). See
    :mod:`alluxio_jobs.checksums`."""
    return crc32(data)


def verify_block(block_id: int, data: bytes, length: int, expected: int | None,
                 where: str) -> int:
    """Check ``data`` is block ``block_id`` (its length, and its checksum when known);
    return its checksum. A copy that fails this never counts."""
    if len(data) != length:
        raise StorageError(where, f"block {block_id} has {len(data)} bytes, expected {length}")
    actual = checksum(data)
    if expected is not None and actual != expected:
        raise StorageError(where, f"block {block_id} checksum {actual:08x} does not match "
                                  f"{expected:08x}")
    return actual


@attrs.frozen(kw_only=True)
class CacheUsage:
    """How full a worker's block cache is, in bytes."""

    worker: WorkerInfo
    capacity: int
    used: int
    blocks: int

    @property
    def free(self) -> int:
        return self.capacity - self.used


class BlockCache(abc.ABC):
    """One worker's block cache: block id -> bytes, at most ``capacity`` bytes in all.

    Thread-safe. Writes are atomic (a block is either wholly present or absent) and
    reserve their length first, so concurrent writes never overshoot the capacity; a
    write that does not fit raises :class:`CacheFullError` (a :class:`StorageError`).
    Large blocks are written in chunks through :meth:`writer`, so a block never has to
    be held in memory whole.
    """

    def __init__(self, capacity: int, name: str = "block cache") -> None:
        self.capacity = check_int("capacity", capacity, 0)
        self.name = name
        self._lock = threading.Lock()
        self._sizes: dict[int, int] = {}
        self._checksums: dict[int, int] = {}
        self._used = 0  # bytes of stored blocks plus reservations of writes under way
        self._claimed: set[int] = set()  # blocks reported by more than their writer

    # ------------------------------------------------------------- public API

    def writer(self, block_id: int, length: int) -> "BlockWriter | None":
        """Start writing ``block_id`` (``length`` bytes); None if it is already cached.

        :raises CacheFullError: the cache has no room for ``length`` more bytes
        """
        with self._lock:
            if block_id in self._sizes:
                return None
            free = self.capacity - self._used
            if length > free:
                raise CacheFullError(
                    f"block {block_id}",
                    f"{self.name} is full: {length} bytes needed, {free} of {self.capacity} free",
                    length, free)
            self._used += length
        try:
            handle = self._open(block_id)
        except BaseException:
            self._release(length)
            raise
        return BlockWriter(self, block_id, length, handle)

    def put(self, block_id: int, data: bytes | memoryview,
            block_checksum: int | None = None) -> None:
        """Store ``data`` as ``block_id``; a block already present is kept as it is."""
        writer = self.writer(block_id, len(data))
        if writer is None:
            return
        try:
            writer.write(data)
        except BaseException:
            writer.abort()
            raise
        writer.commit(block_checksum if block_checksum is not None else checksum(data))

    def get(self, block_id: int) -> bytes:
        """The block's bytes; :class:`StorageError` if it is not cached here."""
        with self._lock:
            size = self._sizes.get(block_id)
        if size is None:
            raise StorageError(f"block {block_id}", f"not cached in {self.name}")
        return self._read(block_id)

    def checksum_of(self, block_id: int) -> int | None:
        with self._lock:
            return self._checksums.get(block_id)

    def claim(self, block_id: int) -> int | None:
        """Note that a task other than the block's writer reports this copy (it found
        the block here, or wrote it too), and return its checksum; None if the block is
        not here. Undoing the writer's task must then leave the block (:meth:`remove`
        with ``unless_claimed``): the other task's report may be recorded already."""
        with self._lock:
            if block_id not in self._sizes:
                return None
            self._claimed.add(block_id)
            return self._checksums.get(block_id)

    def remove(self, block_id: int, *, unless_claimed: bool = False) -> bool:
        """Drop the block; False if it was not cached here (or, with ``unless_claimed``,
        if another task has claimed it)."""
        with self._lock:
            if unless_claimed and block_id in self._claimed:
                return False
            size = self._sizes.pop(block_id, None)
            if size is None:
                return False
            self._used -= size
            self._checksums.pop(block_id, None)
            self._claimed.discard(block_id)
            self._delete(block_id)
        return True

    def __contains__(self, block_id: object) -> bool:
        return block_id in self._sizes

    def block_ids(self) -> list[int]:
        with self._lock:
            return list(self._sizes)

    @property
    def used(self) -> int:
        """Bytes held or reserved by writes under way."""
        with self._lock:
            return self._used

    def usage(self, worker: WorkerInfo) -> CacheUsage:
        with self._lock:
            return CacheUsage(worker=worker, capacity=self.capacity, used=self._used,
                              blocks=len(self._sizes))

    def close(self) -> None:
        """Release the cache's storage. Idempotent."""

    def _release(self, length: int) -> None:
        with self._lock:
            self._used -= length

    def _committed(self, block_id: int, length: int, block_checksum: int) -> None:
        with self._lock:
            old = self._sizes.get(block_id)
            if old is not None:  # a concurrent write of the same block replaced it
                self._used -= old
                self._claimed.add(block_id)  # both writers report it
            self._sizes[block_id] = length
            self._checksums[block_id] = block_checksum

    def _adopt(self, block_id: int, size: int) -> None:
        """Count a block found already present (e.g. a directory cache reopened)."""
        self._sizes[block_id] = size
        self._used += size

    # ------------------------------------------------------- for implementers

    @abc.abstractmethod
    def _open(self, block_id: int) -> Any:
        """Start a write of ``block_id``; returns a handle for the calls below."""

    @abc.abstractmethod
    def _write(self, handle: Any, data: bytes | memoryview) -> None: ...

    @abc.abstractmethod
    def _commit(self, handle: Any, block_id: int) -> None:
        """Make the written block visible, atomically."""

    @abc.abstractmethod
    def _abort(self, handle: Any) -> None:
        """Throw away a write; must not raise."""

    @abc.abstractmethod
    def _read(self, block_id: int) -> bytes: ...

    @abc.abstractmethod
    def _delete(self, block_id: int) -> None:
        """Called with the cache lock held; must not block for long."""


class BlockWriter:
    """A block being written to a cache; :meth:`commit` it once every byte is written
    and verified, or :meth:`abort` it. Its space is reserved until then."""

    def __init__(self, cache: BlockCache, block_id: int, length: int, handle: Any) -> None:
        self._cache = cache
        self.block_id = block_id
        self.length = length
        self.written = 0
        self._handle = handle
        self._done = False

    def write(self, data: bytes | memoryview) -> None:
        if self.written + len(data) > self.length:
            raise StorageError(f"block {self.block_id}",
                               f"more than the {self.length} bytes reserved were written")
        self._cache._write(self._handle, data)
        self.written += len(data)

    def commit(self, block_checksum: int) -> None:
        if self.written != self.length:
            self.abort()
            raise StorageError(f"block {self.block_id}",
                               f"{self.written} bytes written, expected {self.length}")
        self._done = True
        try:
            self._cache._commit(self._handle, self.block_id)
        except BaseException:
            self._cache._abort(self._handle)
            self._cache._release(self.length)
            raise
        self._cache._committed(self.block_id, self.length, block_checksum)

    def abort(self) -> None:
        """Throw the write away. Idempotent; a no-op after :meth:`commit`."""
        if self._done:
            return
        self._done = True
        self._cache._abort(self._handle)
        self._cache._release(self.length)


class MemoryBlockCache(BlockCache):
    """Blocks held in this process's memory."""

    def __init__(self, capacity: int, name: str = "memory block cache") -> None:
        super().__init__(capacity, name)
        self._data: dict[int, bytes] = {}

    def _open(self, block_id: int) -> Any:
        return bytearray()

    def _write(self, handle: Any, data: bytes | memoryview) -> None:
        handle += data

    def _commit(self, handle: Any, block_id: int) -> None:
        self._data[block_id] = bytes(handle)

    def _abort(self, handle: Any) -> None:
        handle.clear()

    def _read(self, block_id: int) -> bytes:
        try:
            return self._data[block_id]
        except KeyError:
            raise StorageError(f"block {block_id}", f"not cached in {self.name}") from None

    def _delete(self, block_id: int) -> None:
        self._data.pop(block_id, None)

    def close(self) -> None:
        with self._lock:
            self._data.clear()
            self._sizes.clear()
            self._checksums.clear()
            self._used = 0


#: a block's temporary file: new (never another writer's), closed on exec, and binary
#: (``os.open`` on Windows would otherwise translate line ends)
_WRITE_FLAGS = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
                | getattr(os, "O_BINARY", 0))


class _TempFile:
    """A block's temporary file as a raw descriptor (no file object, no buffering, no
    ``fstat``), closed at most once: a descriptor closed twice could close another
    thread's file that reused its number."""

    __slots__ = ("fd", "path")

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = os.open(path, _WRITE_FLAGS, 0o644)

    def close(self) -> None:
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)


#: errnos that mean the disk under a directory cache is full
_DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


class DirectoryBlockCache(BlockCache):
    """Blocks as files in a local directory (the default).

    ``root=None`` creates a private temporary directory, removed again by
    :meth:`close`; a given ``root`` is kept, and blocks already in it are adopted.
    Each block is written to a temporary name and renamed into place.
    """

    def __init__(self, capacity: int, root: str | os.PathLike[str] | None = None,
                 name: str = "block cache") -> None:
        super().__init__(capacity, name)
        self._owned = root is None
        self._writes = itertools.count()  # unique temporary names, cheaper than uuids
        self.root = (tempfile.mkdtemp(prefix="alluxio-blocks-") if root is None
                     else os.fspath(root))
        try:
            os.makedirs(self.root, exist_ok=True)
            for entry in os.scandir(self.root):
                if entry.name.isdigit() and entry.is_file():
                    self._adopt(int(entry.name), entry.stat().st_size)
                elif entry.name.startswith(".tmp-"):
                    os.unlink(entry.path)  # a write that never finished
        except OSError as exc:
            raise StorageError(self.root, f"cannot open block cache: {exc}") from exc
        if self.capacity < self._used:
            raise StorageError(self.root, "holds more bytes than the cache capacity")

    def _path(self, block_id: int) -> str:
        return os.path.join(self.root, str(block_id))

    def _open(self, block_id: int) -> Any:
        tmp = os.path.join(self.root, f".tmp-{block_id}-{os.getpid()}-{next(self._writes)}")
        try:
            return _TempFile(tmp)  # closed by _commit or _abort
        except OSError as exc:
            raise StorageError(self._path(block_id), f"cannot write block: {exc}") from exc

    def _write(self, handle: Any, data: bytes | memoryview) -> None:
        tmp, fd = handle.path, handle.fd
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(fd, view):]
        except OSError as exc:
            if exc.errno in _DISK_FULL:
                raise CacheFullError(tmp, f"{self.name} is full: its disk has no room ({exc})",
                                     len(view), 0) from exc
            raise StorageError(tmp, f"cannot write block: {exc}") from exc

    def _commit(self, handle: Any, block_id: int) -> None:
        try:
            handle.close()
            os.replace(handle.path, self._path(block_id))
        except OSError as exc:
            raise StorageError(self._path(block_id), f"cannot write block: {exc}") from exc

    def _abort(self, handle: Any) -> None:
        with contextlib.suppress(OSError):
            handle.close()
        with contextlib.suppress(OSError):
            os.unlink(handle.path)

    def _read(self, block_id: int) -> bytes:
        try:
            with open(self._path(block_id), "rb") as f:
                return f.read()
        except OSError as exc:
            raise StorageError(self._path(block_id), f"cannot read block: {exc}") from exc

    def _delete(self, block_id: int) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path(block_id))

    def close(self) -> None:
        if self._owned:
            shutil.rmtree(self.root, ignore_errors=True)


class BlockNetwork(abc.ABC):
    """Reaches any worker's block cache from outside that worker.

    Used by tasks to copy a block from a peer (Replicate, Move, Load from a cached
    copy), by clients to read and write cached blocks, and by the master side to drop
    blocks (free, delete, evictions after a failed commit). A transport that runs
    workers elsewhere supplies its own implementation.
    """

    @abc.abstractmethod
    def read_block(self, worker_id: int, block_id: int) -> bytes:
        """The bytes of ``block_id`` from ``worker_id``'s cache.

        :raises StorageError: the block is not there or cannot be read
        """

    @abc.abstractmethod
    def write_block(self, worker_id: int, block_id: int, data: bytes,
                    block_checksum: int | None = None) -> None:
        """Store a block in ``worker_id``'s cache.

        :raises CacheFullError: the cache is full
        :raises StorageError: the cache cannot be written
        """

    @abc.abstractmethod
    def remove_blocks(self, worker_id: int, block_ids: Iterable[int]) -> None:
        """Drop blocks from ``worker_id``'s cache; missing ones and unknown workers are
        ignored (a lost worker's cache is gone anyway)."""

    @abc.abstractmethod
    def usage(self) -> list[CacheUsage]:
        """Every reachable cache's usage, by ascending worker id."""

    def share_filesystem(self, fs: fsspec.AbstractFileSystem) -> None:
        """Make ``fs`` (a mounted UFS) available to workers. Default: nothing, workers
        rebuild filesystems from their JSON description."""

    def close(self) -> None:
        """Release every cache this network created. Idempotent."""


class WorkerStorage:
    """What a storage task finds in ``ctx.resources["storage"]``: its worker's cache,
    the network to its peers, and the under file systems."""

    def __init__(self, worker: WorkerInfo, cache: BlockCache, network: BlockNetwork,
                 filesystems: Mapping[str, fsspec.AbstractFileSystem] | None = None) -> None:
        self.worker = worker
        self.cache = cache
        self.network = network
        self._filesystems = filesystems if filesystems is not None else {}
        self._built: dict[str, fsspec.AbstractFileSystem] = {}

    def filesystem(self, spec: str) -> fsspec.AbstractFileSystem:
        """The UFS described by ``spec`` (``AbstractFileSystem.to_json()``)."""
        fs = self._filesystems.get(spec) or self._built.get(spec)
        if fs is None:
            try:
                fs = fsspec.AbstractFileSystem.from_json(spec)
            except Exception as exc:
                raise StorageError(spec, f"cannot open under file system: {exc}") from exc
            self._built[spec] = fs
        return fs

    @staticmethod
    def of(resources: Mapping[str, Any]) -> "WorkerStorage":
        storage = resources.get(RESOURCE_KEY)
        if not isinstance(storage, WorkerStorage):
            raise StorageError("worker", "this job worker has no block storage "
                                         f"(ctx.resources[{RESOURCE_KEY!r}] is missing)")
        return storage


CacheFactory = Callable[[WorkerInfo], BlockCache]


class LocalBlockNetwork(BlockNetwork):
    """Block caches of in-process workers, reached directly.

    Pass :meth:`resources` as ``LocalTransport(resources=...)``: each new worker gets a
    cache from ``cache_factory`` (default: a private temporary directory of
    ``capacity`` bytes) and its tasks find it as ``ctx.resources["storage"]``.
    """

    def __init__(self, cache_factory: CacheFactory | None = None, *,
                 capacity: int = 1 << 30) -> None:
        self._factory = cache_factory or (
            lambda w: DirectoryBlockCache(capacity, name=f"block cache of {w.host}"))
        self._lock = threading.Lock()
        self._caches: dict[int, BlockCache] = {}
        self._workers: dict[int, WorkerInfo] = {}
        self._filesystems: dict[str, fsspec.AbstractFileSystem] = {}

    def resources(self, worker: WorkerInfo) -> dict[str, Any]:
        """Create ``worker``'s cache and the resources its tasks see."""
        cache = self._factory(worker)
        with self._lock:
            old = self._caches.get(worker.worker_id)
            self._caches[worker.worker_id] = cache
            self._workers[worker.worker_id] = worker
        if old is not None:
            old.close()
        return {RESOURCE_KEY: WorkerStorage(worker, cache, self, self._filesystems)}

    def cache(self, worker_id: int) -> BlockCache:
        """The cache of ``worker_id``; :class:`WorkerNotFoundError` if there is none."""
        cache = self._caches.get(worker_id)
        if cache is None:
            raise WorkerNotFoundError(worker_id)
        return cache

    def share_filesystem(self, fs: fsspec.AbstractFileSystem) -> None:
        with self._lock:
            self._filesystems[fs.to_json()] = fs

    def read_block(self, worker_id: int, block_id: int) -> bytes:
        cache = self._caches.get(worker_id)
        if cache is None:
            raise StorageError(f"block {block_id}", f"job worker {worker_id} is not reachable")
        return cache.get(block_id)

    def write_block(self, worker_id: int, block_id: int, data: bytes,
                    block_checksum: int | None = None) -> None:
        cache = self._caches.get(worker_id)
        if cache is None:
            raise StorageError(f"block {block_id}", f"job worker {worker_id} is not reachable")
        cache.put(block_id, data, block_checksum)

    def remove_blocks(self, worker_id: int, block_ids: Iterable[int]) -> None:
        cache = self._caches.get(worker_id)
        if cache is not None:
            for block_id in block_ids:
                cache.remove(block_id)

    def usage(self) -> list[CacheUsage]:
        with self._lock:
            caches = [(self._workers[w], c) for w, c in sorted(self._caches.items())]
        return [cache.usage(worker) for worker, cache in caches]

    def drop_worker(self, worker_id: int) -> None:
        """Close and forget ``worker_id``'s cache, as if its machine were gone."""
        with self._lock:
            cache = self._caches.pop(worker_id, None)
            self._workers.pop(worker_id, None)
        if cache is not None:
            cache.close()

    def close(self) -> None:
        with self._lock:
            caches = list(self._caches.values())
            self._caches.clear()
            self._workers.clear()
        for cache in caches:
            cache.close()
