"""Under file systems: any ``fsspec`` filesystem, with errors translated and writes
made atomic (a temporary name, renamed into place once complete and checked)."""

import contextlib
import datetime
import os
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import fsspec
from fsspec.implementations.local import LocalFileSystem

from alluxio_jobs.errors import AlluxioJobsError, StorageError

__all__ = [
    "CHUNK_SIZE",
    "UfsLocation",
    "UfsWriter",
    "is_temp_name",
    "read_ufs_block",
    "read_ufs_chunks",
    "remove_temp_files",
    "temp_ufs_path",
    "ufs_call",
    "ufs_call_if_exists",
    "ufs_exists",
    "ufs_remove_quietly",
    "ufs_replace",
]


@attrs.frozen(kw_only=True)
class UfsLocation:
    """Where a file is (or goes) in a UFS, as plain data a remote task can use: the
    filesystem's ``to_json()`` and the path inside it."""

    spec: str
    path: str


_TEMP_RE = re.compile(r"\.alluxio-[0-9a-f]{32}\.tmp$")


def is_temp_name(path: str) -> bool:
    """True for the temporary names :func:`temp_ufs_path` makes."""
    return _TEMP_RE.search(path) is not None


def temp_ufs_path(path: str) -> str:
    """A temporary name beside ``path``: writes go there and are renamed into place."""
    return f"{path}.alluxio-{uuid.uuid4().hex}.tmp"


def ufs_call(path: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a UFS operation, turning its errors into :class:`StorageError` for ``path``."""
    try:
        return fn(*args, **kwargs)
    except AlluxioJobsError:
        raise
    except Exception as exc:
        raise StorageError(path, f"{type(exc).__name__}: {exc}") from exc


def ufs_call_if_exists(path: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """:func:`ufs_call`, but None when ``path`` does not exist (FileNotFoundError)."""
    try:
        return fn(*args, **kwargs)
    except FileNotFoundError:
        return None
    except AlluxioJobsError:
        raise
    except Exception as exc:
        raise StorageError(path, f"{type(exc).__name__}: {exc}") from exc


def ufs_exists(fs: fsspec.AbstractFileSystem, path: str) -> bool:
    return bool(ufs_call(path, fs.exists, path))


def ufs_remove_quietly(fs: fsspec.AbstractFileSystem, path: str) -> None:
    """Best-effort cleanup of a temporary UFS file."""
    try:
        if fs.exists(path):
            fs.rm(path)
    except Exception:  # noqa: BLE001 - cleanup must not hide the error that caused it
        pass


def ufs_replace(fs: fsspec.AbstractFileSystem, temp: str, final: str, overwrite: bool,
                message: str | None = None) -> None:
    """Rename ``temp`` to ``final``; an existing ``final`` is replaced only if
    ``overwrite``, else ``temp`` is removed and FileExistsError raised."""
    if ufs_exists(fs, final):
        if not overwrite:
            ufs_remove_quietly(fs, temp)
            raise FileExistsError(message or f"{final} already exists in the under file system")
        ufs_call(final, fs.rm, final)
    parent = final.rsplit("/", 1)[0]
    if parent:
        ufs_call(final, fs.makedirs, parent, exist_ok=True)
    ufs_call(final, fs.mv, temp, final)


def _modified(entry: dict[str, Any]) -> float | None:
    """When a listed UFS file last changed, in seconds since the epoch, if the
    filesystem says (local: ``mtime``; memory: ``created``; object stores:
    ``LastModified``)."""
    for key in ("mtime", "LastModified", "last_modified", "updated", "created"):
        value = entry.get(key)
        if isinstance(value, datetime.datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=datetime.UTC)
            return value.timestamp()
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def remove_temp_files(fs: fsspec.AbstractFileSystem, root: str, older_than: float,
                      now: float) -> list[str]:
    """Remove the temporary files (:func:`temp_ufs_path`) below ``root`` that last
    changed at least ``older_than`` seconds before ``now``; returns their paths. A
    file whose age the filesystem does not tell is removed only if ``older_than`` is
    0. Files that vanish meanwhile are skipped."""
    found = ufs_call_if_exists(root, fs.find, root, detail=True) or {}
    removed = []
    for path, entry in sorted(found.items()):
        if not is_temp_name(path):
            continue
        if older_than > 0:
            changed = _modified(entry)
            if changed is None or now - changed < older_than:
                continue
        try:
            fs.rm(path)
        except FileNotFoundError:
            continue
        except Exception as exc:
            raise StorageError(path, f"cannot remove temporary file: {exc}") from exc
        removed.append(str(path))
    return removed


class UfsWriter:
    """Writes a file to a temporary name beside ``final`` in a UFS.

    :meth:`finish` checks the written length and returns the temporary path (the
    caller renames it into place when the write counts); :meth:`abort` removes it.
    """

    def __init__(self, fs: fsspec.AbstractFileSystem, final: str) -> None:
        self.fs = fs
        self.final = final
        self.temp = temp_ufs_path(final)
        self.length = 0
        parent = final.rsplit("/", 1)[0]
        if parent:
            ufs_call(final, fs.makedirs, parent, exist_ok=True)
        self._file = ufs_call(self.temp, fs.open, self.temp, "wb")

    def write(self, data: bytes | memoryview) -> None:
        try:
            ufs_call(self.temp, self._file.write, data)
        except BaseException:
            self.abort()
            raise
        self.length += len(data)

    def finish(self) -> str:
        try:
            ufs_call(self.temp, self._file.close)
            size = ufs_call(self.temp, self.fs.size, self.temp)
            if size != self.length:
                raise StorageError(self.temp, f"wrote {self.length} bytes but the under file "
                                              f"system holds {size}")
        except BaseException:
            self.abort()
            raise
        return str(self.temp)

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self._file.close()
        ufs_remove_quietly(self.fs, self.temp)


#: Bytes read from a UFS at a time when a block is streamed: small enough to stay in
#: the CPU cache between the read, the checksum and the write.
CHUNK_SIZE = 1024 * 1024


def read_ufs_chunks(fs: fsspec.AbstractFileSystem, path: str, offset: int, length: int,
                    chunk_size: int = CHUNK_SIZE) -> Iterator[memoryview]:
    """Up to ``length`` bytes at ``offset`` of a UFS file, in chunks (fewer at the end
    of the file). Each chunk is a view of one reused buffer: use it before asking for
    the next. Errors are :class:`StorageError`."""
    if length == 0:
        return
    if type(fs) is LocalFileSystem and hasattr(os, "preadv"):
        yield from _read_local_chunks(fs, path, offset, length, chunk_size)
        return
    f = ufs_call(path, fs.open, path, "rb")
    try:
        if offset:
            ufs_call(path, f.seek, offset)
        view = memoryview(bytearray(min(chunk_size, length)))
        left = length
        while left:
            n = ufs_call(path, f.readinto, view[:min(left, len(view))])
            if not n:
                return
            left -= n
            yield view[:n]
    finally:
        with contextlib.suppress(Exception):
            f.close()


def _read_local_chunks(fs: LocalFileSystem, path: str, offset: int, length: int,
                       chunk_size: int) -> Iterator[memoryview]:
    """:func:`read_ufs_chunks` of a local file through a raw descriptor: fsspec's file
    object and Python's own cost a few system calls and objects per file, which is as
    much as a small file's copy."""
    local = path if path.startswith("/") else fs._strip_protocol(path)
    fd = ufs_call(path, os.open, local, _READ_FLAGS)
    try:
        view = memoryview(bytearray(min(chunk_size, length)))
        end = offset + length
        while offset < end:
            n = ufs_call(path, os.preadv, fd, [view[:min(end - offset, len(view))]], offset)
            if not n:
                return
            offset += n
            yield view[:n]
    finally:
        os.close(fd)


_READ_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def read_ufs_block(fs: fsspec.AbstractFileSystem, path: str, offset: int, length: int) -> bytes:
    """``length`` bytes at ``offset`` of a UFS file (StorageError on any failure)."""
    if length == 0:
        return b""
    data = ufs_call(path, fs.cat_file, path, start=offset, end=offset + length)
    return bytes(data)
