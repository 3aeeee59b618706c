"""The input files of a Compact task, opened where their bytes are.

A task reads an input file from the worker's local disk when its UFS is local, from its
UFS through fsspec, or block by block through the block caches (this worker's, else a
peer's, else the UFS) when the file is cached somewhere. Whatever the way, a read error
becomes a :class:`~alluxio_jobs.errors.StorageError` naming the file.
"""

import contextlib
import gzip
import io
import threading
from collections.abc import Iterator, Mapping
from typing import IO, TYPE_CHECKING, Any, cast

import fsspec
from fsspec.implementations.local import LocalFileSystem

from alluxio_jobs.blockcache import RESOURCE_KEY, WorkerStorage
from alluxio_jobs.errors import AlluxioJobsError, StorageError
from alluxio_jobs.plans.cache import fetch_block
from alluxio_jobs.ufs import ufs_call

if TYPE_CHECKING:
    from alluxio_jobs.plans.transform import CompactInput

_IO_BUFFER = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"

_filesystems: dict[str, fsspec.AbstractFileSystem] = {}
_filesystems_lock = threading.Lock()


def _task_filesystem(resources: Mapping[str, Any], spec: str) -> fsspec.AbstractFileSystem:
    """The UFS described by ``spec``, as the task's worker sees it."""
    storage = resources.get(RESOURCE_KEY)
    if isinstance(storage, WorkerStorage):
        return storage.filesystem(spec)
    with _filesystems_lock:
        fs = _filesystems.get(spec)
        if fs is None:
            try:
                fs = fsspec.AbstractFileSystem.from_json(spec)
            except Exception as exc:
                raise StorageError(spec, f"cannot open under file system: {exc}") from exc
            _filesystems[spec] = fs
        return fs


class _BlockStream(io.RawIOBase):
    """An Alluxio file read block by block: each block from this worker's cache, else a
    peer's, else the UFS (verified). Holds one block in memory at a time."""

    def __init__(self, storage: WorkerStorage, item: "CompactInput") -> None:
        self._storage = storage
        self._item = item
        self._pos = 0
        self._index = -1
        self._data = b""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._item.length}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._pos >= self._item.length or not view.nbytes:
            return 0
        blocks = self._item.blocks
        index = self._index
        if not (0 <= index < len(blocks)
                and blocks[index].offset <= self._pos < blocks[index].offset
                + blocks[index].length):
            found = next((i for i, b in enumerate(blocks)
                          if b.offset <= self._pos < b.offset + b.length), None)
            if found is None:
                raise StorageError(self._item.path, f"no block holds offset {self._pos}")
            index = found
            self._data = fetch_block(self._storage, blocks[index], self._item.ufs)[0]
            self._index = index
        start = self._pos - blocks[index].offset
        n = min(view.nbytes, len(self._data) - start)
        view[:n] = self._data[start:start + n]
        self._pos += n
        return n


class _Source:
    """An input file as a task reads it."""

    def __init__(self, item: "CompactInput", resources: Mapping[str, Any]) -> None:
        self.item = item
        self.path = item.path
        self._resources = resources
        self._gzip: bool | None = None
        self.local: str | None = None
        self._fs: fsspec.AbstractFileSystem | None = None
        if item.blocks and (item.ufs is None or any(b.peers for b in item.blocks)):
            return  # cached somewhere: read through the caches
        if item.ufs is None:
            return
        self._fs = _task_filesystem(resources, item.ufs.spec)
        if type(self._fs) is LocalFileSystem:
            self.local = self._fs._strip_protocol(item.ufs.path)

    def open(self) -> IO[bytes]:
        """A seekable binary stream of the file's bytes."""
        item = self.item
        if self.local is not None:
            return ufs_call(self.path, open, self.local, "rb", buffering=_IO_BUFFER)  # type: ignore[no-any-return]
        if self._fs is not None and item.ufs is not None:
            return ufs_call(self.path, self._fs.open, item.ufs.path, "rb")  # type: ignore[no-any-return]
        return io.BufferedReader(_BlockStream(WorkerStorage.of(self._resources), item),
                                 _IO_BUFFER)

    def is_gzip(self) -> bool:
        """Whether the file starts with gzip's magic bytes. (Call it with no other handle
        of the file open: some filesystems share one position between handles.)"""
        if self._gzip is None:
            with self.open() as f:
                self._gzip = f.read(2) == _GZIP_MAGIC
        return self._gzip

    @contextlib.contextmanager
    def text(self) -> Iterator[IO[str]]:
        """The file as text (UTF-8, a byte-order mark skipped), gunzipped if it is gzip."""
        zipped = self.is_gzip()
        with contextlib.ExitStack() as stack:
            raw: IO[bytes] = stack.enter_context(self.open())
            if zipped:
                raw = cast(IO[bytes], stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb")))
            yield stack.enter_context(io.TextIOWrapper(raw, encoding="utf-8-sig", newline=""))

    @contextlib.contextmanager
    def parquet(self, pq: Any) -> Iterator[Any]:
        """The file as a ``pyarrow.parquet.ParquetFile``; read natively when local."""
        if self.local is not None:
            with pq.ParquetFile(self.local) as parquet:
                yield parquet
            return
        with self.open() as f:
            yield pq.ParquetFile(f)

    def arrow_stream(self, pa: Any) -> Any:
        """The (gunzipped) bytes as an Arrow input stream; native for local files."""
        compression = "gzip" if self.is_gzip() else None
        if self.local is not None:
            return pa.input_stream(self.local, compression=compression)
        stream = pa.PythonFile(self.open(), mode="r")
        return pa.CompressedInputStream(stream, compression) if compression else stream


@contextlib.contextmanager
def _reading(path: str, what: str) -> Iterator[None]:
    """Errors while reading ``path`` become a StorageError naming it."""
    try:
        yield
    except AlluxioJobsError:
        raise
    except Exception as exc:
        raise StorageError(path, f"cannot be read as {what}: {type(exc).__name__}: {exc}"
                           ) from exc
