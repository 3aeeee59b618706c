"""Where a Compact job's paths live, seen from the master: metadata only.

A path is either an Alluxio path of a :class:`~alluxio_jobs.filesystem.FileSystem`
(:class:`_AlluxioSide`: inputs read through the workers' caches or their UFS, outputs
committed in the namespace) or an fsspec URL (:class:`_UrlSide`: read and written by the
workers directly). Both list a directory, say where an input file's bytes are, pick a
staging directory and commit the staged output files all at once, or not at all.
"""

import logging
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import attrs
import fsspec
from fsspec.core import url_to_fs

from alluxio_jobs.errors import JobConfigError, NotFoundError, StorageError
from alluxio_jobs.plans.cache import BlockSource, block_source
from alluxio_jobs.storage import BlockCommit, PersistenceState, normalize_path
from alluxio_jobs.ufs import UfsLocation, is_temp_name, temp_ufs_path, ufs_call

if TYPE_CHECKING:
    from alluxio_jobs.filesystem import FileSystem

#: The Compact job's logger (its messages keep the name they had before this module
#: was split out of :mod:`alluxio_jobs.plans.transform`).
logger = logging.getLogger("alluxio_jobs.plans.transform")


# --------------------------------------------------------- paths in configs


def _is_url(path: str) -> bool:
    return "://" in path


def _location(_inst: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
    """Validator: a normalized absolute Alluxio path, or a URL."""
    if not isinstance(value, str) or not value:
        raise JobConfigError(attribute.name, value, "must be an Alluxio path or a URL")
    if _is_url(value):
        if value.endswith("/") and not value.endswith("://"):
            raise JobConfigError(attribute.name, value, "must not end with '/'")
        return
    if normalize_path(value, attribute.name) != value:
        raise JobConfigError(attribute.name, value, "must be normalized (no '//' or trailing '/')")


def _optional_location(inst: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
    if value != "":
        _location(inst, attribute, value)


def _overlaps(a: str, b: str) -> bool:
    return a == b or a.startswith(b.rstrip("/") + "/") or b.startswith(a.rstrip("/") + "/")


# ------------------------------------------------------------ listing, staging


@attrs.frozen
class _Entry:
    name: str
    path: str
    length: int
    is_dir: bool
    source: Any = None  # the FileInfo of an Alluxio file


#: Where the bytes of an input file are: its UFS file and/or the blocks cached of it.
_Where = tuple[UfsLocation | None, list[BlockSource]]


@attrs.frozen
class _Staged:
    rel: str
    temp: str
    length: int
    block_size: int
    checksums: list[int]


class _Side(Protocol):
    """Where a job's paths live, seen from the master: metadata only."""

    block_size: int

    def list(self, path: str) -> list[_Entry]: ...

    def locate(self, entry: _Entry) -> _Where:
        """Where the bytes of input file ``entry`` are."""

    def ufs(self, path: str) -> tuple[fsspec.AbstractFileSystem, UfsLocation]: ...

    def output_state(self, path: str) -> str: ...

    def staging_for(self, output: str) -> str: ...

    def commit(self, output: str, staged: Sequence[_Staged], overwrite: bool) -> None: ...


def _check_output(side: _Side, output: str, overwrite: bool) -> None:
    state = side.output_state(output)
    if state == "file":
        raise JobConfigError("output", output, "is a file")
    if state == "full" and not overwrite:
        raise JobConfigError("output", output, "is not empty; set overwrite to replace it")
    if state == "full-mount":
        raise JobConfigError("output", output, "is a mount point that is not empty; it "
                                               "cannot be replaced")


def _remove_tree(fs: fsspec.AbstractFileSystem, path: str) -> None:
    """Best-effort removal of a staging directory (and everything in it)."""
    try:
        if fs.exists(path):
            fs.rm(path, recursive=True)
    except Exception:
        logger.warning("could not remove staging directory %s", path, exc_info=True)


class _UrlSide:
    """Paths that are fsspec URLs, read and written by the workers directly."""

    block_size = 0

    def ufs(self, path: str) -> tuple[fsspec.AbstractFileSystem, UfsLocation]:
        try:
            fs, root = url_to_fs(path)
        except Exception as exc:
            raise JobConfigError("path", path, f"cannot be opened ({exc})") from exc
        return fs, UfsLocation(spec=fs.to_json(), path=str(root))

    def list(self, path: str) -> list[_Entry]:
        fs, location = self.ufs(path)
        root = location.path
        if not ufs_call(path, fs.exists, root):
            raise NotFoundError(f'Path "{path}" does not exist.')
        out = []
        for info in ufs_call(path, fs.ls, root, detail=True):
            name = str(info["name"]).rstrip("/").rsplit("/", 1)[-1]
            if info["name"].rstrip("/") == root.rstrip("/") and info.get("type") != "directory":
                return [_Entry(name=name, path=path, length=int(info.get("size") or 0),
                               is_dir=False)]
            out.append(_Entry(name=name, path=f"{path}/{name}",
                              length=int(info.get("size") or 0),
                              is_dir=info.get("type") == "directory"))
        return sorted(out, key=lambda e: e.name)

    def locate(self, entry: _Entry) -> _Where:
        return self.ufs(entry.path)[1], []

    def output_state(self, path: str) -> str:
        fs, location = self.ufs(path)
        root = location.path
        if not ufs_call(path, fs.exists, root):
            return "absent"
        if not ufs_call(path, fs.isdir, root):
            return "file"
        names = [str(n).rstrip("/").rsplit("/", 1)[-1]
                 for n in ufs_call(path, fs.ls, root, detail=False)]
        return "full" if any(not is_temp_name(n) for n in names) else "empty"

    def staging_for(self, output: str) -> str:
        return f"{output}.alluxio-{uuid.uuid4().hex}.tmp"

    def commit(self, output: str, staged: Sequence[_Staged], overwrite: bool) -> None:
        state = self.output_state(output)
        _check_output(self, output, overwrite)
        fs, location = self.ufs(output)
        out = location.path
        backup = None
        if state == "full":
            backup = temp_ufs_path(out)
            ufs_call(out, fs.mv, out, backup, recursive=True)
        try:
            for item in staged:
                final = f"{out}/{item.rel}"
                ufs_call(final, fs.makedirs, final.rsplit("/", 1)[0], exist_ok=True)
                ufs_call(final, fs.mv, item.temp, final)
        except BaseException:
            try:
                if fs.exists(out):
                    fs.rm(out, recursive=True)
                if backup is not None:
                    fs.mv(backup, out, recursive=True)
                elif state == "empty":
                    fs.makedirs(out, exist_ok=True)
            except Exception:
                logger.exception("could not restore %s after a failed commit (the old "
                                 "output is in %s)", output, backup)
            raise
        if backup is not None:
            _remove_tree(fs, backup)


class _AlluxioSide:
    """Alluxio paths of a FileSystem: inputs are read through the workers' caches (or
    their UFS), outputs are written to the output's UFS and committed in the namespace."""

    def __init__(self, fs: "FileSystem") -> None:
        self.fs = fs
        self.block_size = fs.namespace.block_size

    def ufs(self, path: str) -> tuple[fsspec.AbstractFileSystem, UfsLocation]:
        namespace = self.fs.namespace
        location = namespace.ufs_location(path)
        ufs = namespace.filesystem(path)
        if location is None or ufs is None:
            raise JobConfigError("output", path, "has no under file system mounted")
        return ufs, location

    def list(self, path: str) -> list[_Entry]:
        return [_Entry(name=i.name, path=i.path, length=i.length, is_dir=i.is_folder, source=i)
                for i in self.fs.list_status(path)]

    def locate(self, entry: _Entry) -> _Where:
        info = entry.source
        if not info.persisted and any(not b.locations for b in info.blocks):
            raise StorageError(info.path, "a block is not cached on any live worker and the "
                                          "file is not persisted")
        ufs = self.fs.namespace.ufs_location(info.path) if info.persisted else None
        blocks = [block_source(b) for b in info.blocks] if info.in_alluxio_percentage else []
        return ufs, blocks

    def _is_mount(self, path: str) -> bool:
        return any(m.alluxio_path == path for m in self.fs.namespace.mounts())

    def output_state(self, path: str) -> str:
        fs = self.fs
        if not fs.exists(path):
            return "absent"
        if not fs.get_status(path).is_folder:
            return "file"
        if not fs.list_status(path):
            return "empty"
        return "full-mount" if self._is_mount(path) else "full"

    def staging_for(self, output: str) -> str:
        name = f".alluxio-{uuid.uuid4().hex}.tmp"
        if output == "/" or self._is_mount(output):
            return f"{output.rstrip('/')}/{name}"
        return output + name

    def commit(self, output: str, staged: Sequence[_Staged], overwrite: bool) -> None:
        fs = self.fs
        namespace = fs.namespace
        state = self.output_state(output)
        _check_output(self, output, overwrite)
        mount = self._is_mount(output)
        backup = None
        if state == "full":
            backup = f"{output}.alluxio-{uuid.uuid4().hex}.tmp"
            namespace.rename(output, backup)
        try:
            for item in staged:
                block_size = item.block_size or namespace.block_size
                file_id, block_ids = namespace.allocate(item.length, block_size)
                blocks = [BlockCommit(block_id=b, length=min(block_size,
                                                             item.length - i * block_size),
                                      checksum=c)
                          for i, (b, c) in enumerate(zip(block_ids, item.checksums, strict=True))]
                fs._drop(namespace.commit_file(
                    f"{output.rstrip('/')}/{item.rel}", file_id=file_id, length=item.length,
                    block_size=block_size, blocks=blocks, state=PersistenceState.PERSISTED,
                    overwrite=False, temp_ufs_path=item.temp))
        except BaseException:
            try:
                if mount:
                    for child in fs.list_status(output):
                        fs.delete(child.path, recursive=True)
                elif fs.exists(output):
                    fs.delete(output, recursive=True)
                if backup is not None:
                    namespace.rename(backup, output)
                elif state == "empty" and not mount:
                    fs.mkdir(output)
            except Exception:
                logger.exception("could not restore %s after a failed commit (the old "
                                 "output is in %s)", output, backup)
            raise
        if backup is not None:
            try:
                fs.delete(backup, recursive=True)
            except Exception:
                logger.warning("could not remove the replaced output %s", backup, exc_info=True)
