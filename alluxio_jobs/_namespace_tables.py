"""The tables behind :class:`~alluxio_jobs.storage.Namespace`.

The namespace's state (files, directories, blocks and mounts, under one lock), the
bookkeeping that keeps those tables consistent, the snapshots built from them and
the loading of UFS-only entries (Alluxio's metadata sync). The public operations on
that state live in :mod:`alluxio_jobs.storage`; this module keeps them short.
"""

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import fsspec
from sortedcontainers import SortedDict

from alluxio_jobs._paths import ancestors, is_under, parent_path
from alluxio_jobs.errors import JobConfigError
from alluxio_jobs.model import WorkerInfo
from alluxio_jobs.storage_model import (
    DEFAULT_BLOCK_SIZE,
    FileBlockInfo,
    FileInfo,
    MountInfo,
    PersistenceState,
    check_block_size,
)
from alluxio_jobs.ufs import is_temp_name, ufs_call_if_exists

__all__ = ["NamespaceTables"]

#: Block ids are ``file_id << 24 | index`` (Alluxio's container id and sequence number).
_BLOCKS_PER_FILE = 1 << 24


@attrs.define
class _Mount:
    path: str
    fs: fsspec.AbstractFileSystem
    root: str
    spec: str
    mount_id: int

    def ufs_path(self, path: str) -> str:
        rel = path[len(self.path):].lstrip("/") if self.path != "/" else path.lstrip("/")
        if not rel:
            return self.root
        return f"{self.root.rstrip('/')}/{rel}"


@attrs.define
class _Block:
    block_id: int
    file_id: int
    offset: int
    length: int
    checksum: int | None
    locations: dict[int, str] = attrs.field(factory=dict)  # worker id -> host


@attrs.define
class _File:
    file_id: int
    path: str
    length: int
    block_size: int
    block_ids: list[int]
    state: PersistenceState
    ufs_path: str | None  # where its bytes are (or go) in its mount's UFS
    replication_min: int = 0
    replication_max: int = -1
    last_modified: int = 0


class NamespaceTables:
    """The state of a namespace and the helpers that read and update it. The sync
    methods take ``_lock`` themselves; for the others the caller holds it."""

    def __init__(self, *, block_size: int = DEFAULT_BLOCK_SIZE,
                 clock: Callable[[], float] = time.time) -> None:
        check_block_size(block_size)
        self.block_size = block_size
        self._clock = clock
        self._lock = threading.RLock()
        self._files: SortedDict = SortedDict()  # path -> _File
        self._by_id: dict[int, _File] = {}
        self._dirs: SortedDict = SortedDict({"/": False})  # path -> exists in UFS
        self._blocks: dict[int, _Block] = {}
        self._mounts: dict[str, _Mount] = {}
        self._next_file_id = 1
        self._next_mount_id = 1
        self._generation = 0  # bumped by deletes and renames: stale UFS syncs are dropped

    # ----------------------------------------------------------------- tables

    def _mount_of(self, path: str) -> _Mount | None:
        best = None
        for mpath, mount in self._mounts.items():
            if (mpath == path or is_under(path, mpath)) and (
                    best is None or len(mpath) > len(best.path)):
                best = mount
        return best

    def _info_locked(self, path: str, live: set[int] | None) -> FileInfo | None:
        file = self._files.get(path)
        if file is not None:
            return self._file_info(file, live)
        if path in self._dirs:
            in_ufs = self._dirs[path]
            mount = self._mount_of(path)
            return FileInfo(
                path=path, is_folder=True, mount_point=path in self._mounts,
                persistence_state=(PersistenceState.PERSISTED if in_ufs
                                   else PersistenceState.NOT_PERSISTED),
                ufs_path=mount.ufs_path(path) if mount else "", in_alluxio_percentage=100)
        return None

    def _file_info(self, file: _File, live: set[int] | None) -> FileInfo:
        blocks = []
        cached = 0
        for block_id in file.block_ids:
            block = self._blocks[block_id]
            locations = [WorkerInfo(worker_id=w, host=h) for w, h in sorted(block.locations.items())
                         if live is None or w in live]
            if locations:
                cached += block.length
            blocks.append(FileBlockInfo(block_id=block_id, offset=block.offset,
                                        length=block.length, checksum=block.checksum,
                                        locations=locations))
        state = file.state
        if state is not PersistenceState.PERSISTED and any(not b.locations for b in blocks):
            state = PersistenceState.LOST
        percentage = 100 if file.length == 0 else cached * 100 // file.length
        return FileInfo(
            path=file.path, is_folder=False, file_id=file.file_id, length=file.length,
            block_size=file.block_size, blocks=blocks, persistence_state=state,
            ufs_path=file.ufs_path or "", replication_min=file.replication_min,
            replication_max=file.replication_max, in_alluxio_percentage=percentage,
            last_modified=file.last_modified, mount_point=False)

    def _children_locked(self, directory: str) -> list[str]:
        prefix = "/" if directory == "/" else directory + "/"
        found: set[str] = set()
        for table in (self._files, self._dirs):
            for key in table.irange(minimum=prefix):
                if not key.startswith(prefix):
                    break
                if key == directory:
                    continue
                found.add(prefix + key[len(prefix):].split("/", 1)[0])
        return sorted(found)

    def _has_children(self, directory: str) -> bool:
        return bool(self._children_locked(directory))

    # --------------------------------------------------------------- UFS sync

    def _sync(self, path: str) -> None:
        """Load ``path`` from its UFS, if it is there and not known yet."""
        with self._lock:
            mount = self._mount_of(path)
            generation = self._generation
        if mount is None:
            return
        ufs_path = mount.ufs_path(path)
        info = ufs_call_if_exists(ufs_path, mount.fs.info, ufs_path)
        if info is None:
            return
        with self._lock:
            if generation == self._generation:
                self._adopt_ufs_entry(path, ufs_path, info)

    def _sync_children(self, directory: str) -> None:
        with self._lock:
            mount = self._mount_of(directory)
            generation = self._generation
        if mount is None:
            return
        ufs_dir = mount.ufs_path(directory)
        entries = ufs_call_if_exists(ufs_dir, mount.fs.ls, ufs_dir, detail=True)
        if entries is None:
            return
        with self._lock:
            if generation != self._generation:
                return
            if directory in self._dirs:
                self._dirs[directory] = True
            for entry in entries:
                name = str(entry["name"]).rstrip("/").rsplit("/", 1)[-1]
                if not name or is_temp_name(name):
                    continue
                child = ("" if directory == "/" else directory) + "/" + name
                self._adopt_ufs_entry(child, mount.ufs_path(child), entry)

    def _adopt_ufs_entry(self, path: str, ufs_path: str, entry: dict[str, Any]) -> None:
        if path in self._files or path in self._mounts:
            return
        if entry.get("type") == "directory":
            self._add_dir(path, in_ufs=True)
            return
        if is_temp_name(path) or path in self._dirs:
            return
        length = int(entry.get("size") or 0)
        file_id, block_ids = self._allocate_locked(length, self.block_size)
        file = _File(file_id=file_id, path=path, length=length, block_size=self.block_size,
                     block_ids=block_ids, state=PersistenceState.PERSISTED, ufs_path=ufs_path,
                     last_modified=self._now())
        self._insert_file(file, [None] * len(block_ids), {})

    # ---------------------------------------------------------------- changes

    def _allocate_locked(self, length: int, block_size: int) -> tuple[int, list[int]]:
        count = -(-length // block_size)
        if count >= _BLOCKS_PER_FILE:
            raise JobConfigError("block_size", block_size, "gives too many blocks for the file")
        file_id = self._next_file_id
        self._next_file_id += 1
        return file_id, [(file_id << 24) | i for i in range(count)]

    def _insert_file(self, file: _File, checksums: Sequence[int | None],
                     locations: dict[int, dict[int, str]]) -> None:
        offset = 0
        for i, block_id in enumerate(file.block_ids):
            length = min(file.block_size, file.length - offset)
            self._blocks[block_id] = _Block(block_id=block_id, file_id=file.file_id,
                                            offset=offset, length=length,
                                            checksum=checksums[i],
                                            locations=dict(locations.get(block_id, {})))
            offset += length
        self._files[file.path] = file
        self._by_id[file.file_id] = file
        parent = parent_path(file.path)
        if parent not in self._dirs:  # a known directory's ancestors are known too
            self._add_dir(parent, in_ufs=file.state is PersistenceState.PERSISTED)

    def _add_dir(self, path: str, in_ufs: bool) -> None:
        self._dirs[path] = self._dirs.get(path, False) or in_ufs
        for ancestor in ancestors(path):
            if ancestor not in self._dirs:
                self._dirs[ancestor] = in_ufs

    def _remove_file(self, file: _File) -> dict[int, list[int]]:
        removed: dict[int, list[int]] = {}
        for block_id in file.block_ids:
            block = self._blocks.pop(block_id, None)
            if block is not None:
                for worker_id in block.locations:
                    removed.setdefault(worker_id, []).append(block_id)
        del self._files[file.path]
        del self._by_id[file.file_id]
        return removed

    def _now(self) -> int:
        return int(self._clock() * 1000)


def _mount_info(mount: _Mount) -> MountInfo:
    protocol = mount.fs.protocol
    return MountInfo(alluxio_path=mount.path, ufs_root=mount.root,
                     protocol=protocol if isinstance(protocol, str) else protocol[0],
                     mount_id=mount.mount_id)
