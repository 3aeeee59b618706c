"""The embedded storage as an ``fsspec`` filesystem: pandas, pyarrow and dask read
through the job workers' block caches.

:class:`AlluxioFileSystem` wraps a :class:`~alluxio_jobs.filesystem.FileSystem`. Reads
take each block from a cached copy on a live job worker when there is one, else from
the under file system (the file system's :meth:`~alluxio_jobs.filesystem.FileSystem.read`),
and every block is verified. Writes go through
:meth:`~alluxio_jobs.filesystem.FileSystem.write` with a write type::

    from alluxio_jobs.fsspec_fs import AlluxioFileSystem

    afs = AlluxioFileSystem(fs)
    afs.ls("/data/sales")
    with afs.open("/data/sales/part-0.csv") as f:
        frame = pandas.read_csv(f)

Importing this module registers the protocol ``alluxio`` with fsspec (unless another
implementation already has it), so URLs work too, given the file system as a storage
option: ``pandas.read_csv("alluxio:///data/sales/part-0.csv", storage_options={"fs": fs})``.
``alluxio:///data/x`` and ``alluxio://data/x`` both name the Alluxio path ``/data/x``.

An instance holds a live file system: it is not cached by fsspec, and it cannot be
pickled or sent to other processes.
"""

import contextlib
import datetime
import io
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import fsspec
from fsspec.spec import AbstractBufferedFile
from fsspec.utils import stringify_path

from alluxio_jobs.errors import NotFoundError
from alluxio_jobs.storage import FileInfo, WriteType

if TYPE_CHECKING:
    from alluxio_jobs.filesystem import FileSystem

__all__ = ["PROTOCOL", "AlluxioFileSystem"]

#: The URL scheme registered with fsspec.
PROTOCOL = "alluxio"


@contextlib.contextmanager
def _not_found(path: str) -> Iterator[None]:
    try:
        yield
    except NotFoundError as exc:
        raise FileNotFoundError(path) from exc


class AlluxioFileSystem(fsspec.AbstractFileSystem):  # type: ignore[misc]
    """An fsspec view of ``fs``: ``ls``, ``info``, ``open`` (``rb``, ``wb``, ``xb``),
    ``cat``, ``pipe``, ``rm``, ``mkdir``, ``mv`` and everything fsspec builds on them
    (``find``, ``glob``, ``walk``, ``du``, ``get`` …).

    ``write_type`` is the write type of files written here (default: the file
    system's); ``open(path, "wb", write_type=...)`` sets it for one file.
    """

    protocol = PROTOCOL
    root_marker = "/"
    cachable = False

    def __init__(self, fs: "FileSystem", *, write_type: WriteType | str | None = None,
                 **storage_options: Any) -> None:
        super().__init__(**storage_options)
        #: The wrapped file system.
        self.storage = fs
        self.write_type = write_type

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        text = str(stringify_path(path))
        for prefix in (f"{PROTOCOL}://", f"{PROTOCOL}:"):
            if text.startswith(prefix):
                text = text[len(prefix):]
                break
        parts = [p for p in text.split("/") if p]
        return "/" + "/".join(parts)

    # ------------------------------------------------------------------ reading

    @staticmethod
    def _entry(info: FileInfo) -> dict[str, Any]:
        return {
            "name": info.path,
            "size": 0 if info.is_folder else info.length,
            "type": "directory" if info.is_folder else "file",
            "persistence_state": info.persistence_state.value,
            "in_alluxio_percentage": info.in_alluxio_percentage,
            "block_size": info.block_size,
            "block_ids": info.block_ids,
            "ufs_path": info.ufs_path,
            "mtime": info.last_modified / 1000,
        }

    def info(self, path: Any, **kwargs: Any) -> dict[str, Any]:
        path = self._strip_protocol(path)
        with _not_found(path):
            return self._entry(self.storage.get_status(path))

    def ls(self, path: Any, detail: bool = True, **kwargs: Any) -> list[Any]:
        path = self._strip_protocol(path)
        with _not_found(path):
            entries = [self._entry(i) for i in self.storage.list_status(path)]
        return entries if detail else [e["name"] for e in entries]

    def cat_file(self, path: Any, start: int | None = None, end: int | None = None,
                 **kwargs: Any) -> bytes:
        """Bytes ``start`` to ``end`` of a file (negative values count from its end),
        each block from a cached copy when there is one, else from the UFS."""
        path = self._strip_protocol(path)
        with _not_found(path):
            if start is None and end is None:
                return self.storage.read(path)
            size = self.storage.get_status(path).length
        first = 0 if start is None else start if start >= 0 else max(0, size + start)
        last = size if end is None else end if end >= 0 else max(0, size + end)
        if last <= first:
            return b""
        return self.storage.read(path, first, last - first)

    def modified(self, path: Any) -> datetime.datetime:
        seconds = self.info(path)["mtime"]
        return datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)

    def _open(self, path: Any, mode: str = "rb", block_size: Any = None,
              autocommit: bool = True, cache_options: dict[str, Any] | None = None,
              **kwargs: Any) -> Any:
        path = self._strip_protocol(path)
        if mode == "rb":
            info = self.info(path)
            if info["type"] == "directory":
                raise IsADirectoryError(path)
            # whole blocks, aligned, so that each fetch reads one block of the file
            size = block_size or max(1, info["block_size"])
            return AlluxioFile(self, path, mode, block_size=size, cache_type="blockcache",
                               cache_options={"maxblocks": 2, **(cache_options or {})},
                               size=info["size"])
        if mode in ("wb", "xb"):
            if mode == "xb" and self.exists(path):
                raise FileExistsError(path)
            return AlluxioFile(self, path, mode, block_size=block_size or "default",
                               write_type=kwargs.get("write_type", self.write_type))
        raise NotImplementedError(f"mode {mode!r} is not supported (use rb, wb or xb)")

    # ------------------------------------------------------------------ writing

    def pipe_file(self, path: Any, value: bytes, mode: str = "overwrite",
                  **kwargs: Any) -> None:
        path = self._strip_protocol(path)
        self.storage.write(path, value, overwrite=mode == "overwrite",
                           write_type=kwargs.get("write_type", self.write_type))
        self.invalidate_cache(path)

    def mkdir(self, path: Any, create_parents: bool = True, **kwargs: Any) -> None:
        path = self._strip_protocol(path)
        if self.storage.exists(path):
            raise FileExistsError(path)
        if not create_parents and not self.storage.exists(self._parent(path)):
            raise FileNotFoundError(self._parent(path))
        self.storage.mkdir(path)

    def makedirs(self, path: Any, exist_ok: bool = False) -> None:
        path = self._strip_protocol(path)
        if self.storage.exists(path):
            if not exist_ok or not self.isdir(path):
                raise FileExistsError(path)
            return
        self.storage.mkdir(path)

    def rm_file(self, path: Any) -> None:
        """Delete a file (or an empty directory) from Alluxio, its caches and its UFS."""
        path = self._strip_protocol(path)
        with _not_found(path):
            self.storage.delete(path)
        self.invalidate_cache(path)

    def rmdir(self, path: Any) -> None:
        self.rm_file(path)

    def _rm(self, path: Any) -> None:
        self.rm_file(path)

    def mv(self, path1: Any, path2: Any, recursive: bool = False, maxdepth: Any = None,
           **kwargs: Any) -> None:
        """Rename within the namespace (and its UFS): no bytes are copied."""
        src, dst = self._strip_protocol(path1), self._strip_protocol(path2)
        with _not_found(src):
            self.storage.rename(src, dst)
        self.invalidate_cache(src)
        self.invalidate_cache(dst)


class AlluxioFile(AbstractBufferedFile):  # type: ignore[misc]
    """A file of :class:`AlluxioFileSystem`. Read: fetches whole blocks through
    :meth:`AlluxioFileSystem.cat_file`. Written: the bytes are kept in memory and the
    file appears, whole, when it is closed; leaving a ``with`` block on an exception
    discards them, so no partial file is ever created."""

    def __init__(self, fs: AlluxioFileSystem, path: str, mode: str = "rb", *,
                 write_type: WriteType | str | None = None, **kwargs: Any) -> None:
        super().__init__(fs, path, mode, **kwargs)
        self._parts: list[bytes] = []
        self._write_type = write_type

    def _upload_chunk(self, final: bool = False) -> bool:
        self._parts.append(self.buffer.getvalue())
        if final:
            data = b"".join(self._parts)
            self._parts = []
            self.fs.storage.write(self.path, data, write_type=self._write_type,
                                  overwrite=self.mode == "wb")
        return True

    def discard(self) -> None:
        """Drop what was written; nothing is created."""
        self._parts = []
        self.buffer = io.BytesIO()
        self.closed = True

    def __exit__(self, exc_type: Any, *exc_info: Any) -> None:
        if exc_type is not None and self.mode != "rb":
            self.discard()
        else:
            self.close()


# another implementation may have the name already: then use the class directly
with contextlib.suppress(ValueError):
    fsspec.register_implementation(PROTOCOL, AlluxioFileSystem)
