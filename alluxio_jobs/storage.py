"""The namespace the data jobs act on: files, their blocks, where each block is cached.

A :class:`Namespace` lives on the master side: Alluxio-style paths, mounted on
under file systems (any ``fsspec`` filesystem), each file split into blocks, each
block with the workers that cache it, plus persistence state and replication limits.
It is thread-safe, and it never touches block bytes: those live in the job workers'
caches (:mod:`alluxio_jobs.blockcache`). Tasks report what they changed and plans
apply it here.

Files that exist only in a UFS are loaded into the namespace the first time they are
looked at (Alluxio's metadata sync), as PERSISTED files with no cached block.

This module holds the namespace's operations; its tables and their bookkeeping are in
:mod:`alluxio_jobs._namespace_tables`, the records it hands out in
:mod:`alluxio_jobs.storage_model` and the path helpers in :mod:`alluxio_jobs._paths`
(all re-exported here).
"""

from collections.abc import Iterable, Sequence

import fsspec
from fsspec.core import url_to_fs

from alluxio_jobs._namespace_tables import NamespaceTables, _File, _Mount, _mount_info
from alluxio_jobs._paths import ancestors, is_under, normalize_path, parent_path
from alluxio_jobs.errors import FailedPreconditionError, JobConfigError, NotFoundError, StorageError
from alluxio_jobs.model import WorkerInfo
from alluxio_jobs.storage_model import (
    DEFAULT_BLOCK_SIZE,
    BlockCommit,
    FileBlockInfo,
    FileInfo,
    MountInfo,
    PersistenceState,
    WriteType,
    check_block_size,
)
from alluxio_jobs.ufs import UfsLocation, ufs_call, ufs_exists, ufs_remove_quietly, ufs_replace

__all__ = [
    "DEFAULT_BLOCK_SIZE",
    "BlockCommit",
    "FileBlockInfo",
    "FileInfo",
    "MountInfo",
    "Namespace",
    "PersistenceState",
    "WriteType",
    "check_block_size",
    "is_under",
    "normalize_path",
    "parent_path",
]


class Namespace(NamespaceTables):
    """Master-side metadata of the embedded storage; thread-safe.

    ``block_size`` is the default for new files. All paths are absolute Alluxio paths;
    bad ones raise :class:`JobConfigError`, missing ones :class:`NotFoundError`.
    """

    # ----------------------------------------------------------------- mounts

    def mount(self, alluxio_path: str, ufs: "str | fsspec.AbstractFileSystem",
              root: str | None = None) -> MountInfo:
        """Show the UFS ``ufs`` (a URL such as ``file:///data`` or ``memory://b``, or a
        filesystem with ``root``) at ``alluxio_path``. Mounts do not nest, except
        under a mount at ``/``."""
        path = normalize_path(alluxio_path, "alluxio_path")
        if isinstance(ufs, str):
            try:
                fs, url_root = url_to_fs(ufs)
            except Exception as exc:
                raise JobConfigError("ufs", ufs, f"cannot be opened ({exc})") from exc
            root = url_root if root is None else root
        elif isinstance(ufs, fsspec.AbstractFileSystem):
            fs = ufs
            if root is None:
                raise JobConfigError("root", root, "is required when mounting a filesystem object")
        else:
            raise JobConfigError("ufs", ufs, "must be a URL or an fsspec filesystem")
        assert root is not None
        ufs_call(root, fs.makedirs, root, exist_ok=True)
        if not ufs_call(root, fs.isdir, root):
            raise JobConfigError("ufs", ufs, "is not a directory")
        with self._lock:
            if path in self._mounts:
                raise JobConfigError("alluxio_path", path, "is already a mount point")
            for other in self._mounts:
                if other != "/" and (is_under(path, other) or is_under(other, path)):
                    raise JobConfigError("alluxio_path", path,
                                         f"would nest with the mount point {other}")
            if path in self._files or (path != "/" and self._has_children(path)):
                raise JobConfigError("alluxio_path", path, "already exists in the namespace")
            mount = _Mount(path=path, fs=fs, root=root, spec=fs.to_json(),
                           mount_id=self._next_mount_id)
            self._next_mount_id += 1
            self._mounts[path] = mount
            self._add_dir(path, in_ufs=True)
            return _mount_info(mount)

    def mounts(self) -> list[MountInfo]:
        with self._lock:
            return [_mount_info(m) for _, m in sorted(self._mounts.items())]

    def filesystem(self, path: str) -> fsspec.AbstractFileSystem | None:
        """The UFS under ``path``, if it is mounted."""
        mount = self._mount_of(normalize_path(path))
        return mount.fs if mount else None

    def ufs_location(self, path: str) -> UfsLocation | None:
        """Where ``path`` maps to in its UFS (None if nothing is mounted there)."""
        path = normalize_path(path)
        with self._lock:
            mount = self._mount_of(path)
            if mount is None:
                return None
            file = self._files.get(path)
            ufs_path = file.ufs_path if file is not None and file.ufs_path else mount.ufs_path(path)
            return UfsLocation(spec=mount.spec, path=ufs_path)

    # ----------------------------------------------------------------- lookups

    def cached_replicas(self, path: str, live: set[int] | None = None) -> int:
        """``get_status(path, live).cached_replicas()`` without building the status (a
        distributed load asks it of every file it loaded).

        :raises NotFoundError: no such path
        """
        path = normalize_path(path)
        with self._lock:
            file = self._files.get(path)
            if file is not None:
                blocks = self._blocks
                return min((sum(1 for w in blocks[b].locations if live is None or w in live)
                            for b in file.block_ids), default=1 << 30)
        return self.get_status(path, live).cached_replicas()

    def get_status(self, path: str, live: set[int] | None = None) -> FileInfo:
        """The file or directory at ``path``, loading it from its UFS if needed.

        ``live``: worker ids whose caches count (None: every recorded location).
        """
        path = normalize_path(path)
        with self._lock:
            info = self._info_locked(path, live)
        if info is not None:
            return info
        self._sync(path)
        with self._lock:
            info = self._info_locked(path, live)
        if info is None:
            raise NotFoundError(f'Path "{path}" does not exist.')
        return info

    def exists(self, path: str) -> bool:
        try:
            self.get_status(path)
        except NotFoundError:
            return False
        return True

    def list_status(self, path: str, *, recursive: bool = False,
                    live: set[int] | None = None) -> list[FileInfo]:
        """The entries in directory ``path`` (or the file itself), by path; with
        ``recursive``, every file and directory below it."""
        info = self.get_status(path, live)
        if not info.is_folder:
            return [info]
        out: list[FileInfo] = []
        todo = [info.path]
        while todo:
            directory = todo.pop()
            self._sync_children(directory)
            with self._lock:
                children = self._children_locked(directory)
                infos = [self._info_locked(c, live) for c in children]
            for child in infos:
                if child is None:
                    continue
                out.append(child)
                if recursive and child.is_folder:
                    todo.append(child.path)
        out.sort(key=lambda i: i.path)
        return out

    def files_under(self, path: str, live: set[int] | None = None) -> list[FileInfo]:
        """Every file at or below ``path``, by path (a file gives itself)."""
        return [i for i in self.list_status(path, recursive=True, live=live) if not i.is_folder]

    def file_by_id(self, file_id: int, live: set[int] | None = None) -> FileInfo | None:
        with self._lock:
            file = self._by_id.get(file_id)
            return None if file is None else self._file_info(file, live)

    def block_owner(self, block_id: int) -> FileInfo | None:
        with self._lock:
            block = self._blocks.get(block_id)
            if block is None:
                return None
            return self._file_info(self._by_id[block.file_id], None)

    def worker_blocks(self, worker_id: int) -> list[int]:
        """Ids of blocks recorded as cached on ``worker_id``."""
        with self._lock:
            return [b.block_id for b in self._blocks.values() if worker_id in b.locations]

    def all_files(self, live: set[int] | None = None) -> list[FileInfo]:
        """Every file the namespace knows (no UFS listing)."""
        with self._lock:
            return [self._file_info(f, live) for f in self._files.values()]

    # ---------------------------------------------------------------- changes

    def allocate(self, length: int, block_size: int | None = None) -> tuple[int, list[int]]:
        """A new file id and the ids of its blocks (nothing is added to the namespace)."""
        block_size = self.block_size if block_size is None else block_size
        check_block_size(block_size)
        with self._lock:
            return self._allocate_locked(length, block_size)

    def commit_file(
        self, path: str, *, file_id: int, length: int, block_size: int,
        blocks: Sequence[BlockCommit], state: PersistenceState, overwrite: bool,
        temp_ufs_path: str | None = None, replication_min: int = 0, replication_max: int = -1,
    ) -> dict[int, list[int]]:
        """Add a complete file whose bytes are already in place: cached blocks on their
        workers and, with ``temp_ufs_path``, the UFS copy under a temporary name, which
        is renamed to the file's UFS path here. Returns the blocks of a file it replaced
        (worker id -> block ids) for the caller to drop. Nothing changes on error."""
        path = normalize_path(path)
        with self._lock:
            if path in self._dirs or path in self._mounts:
                raise JobConfigError("path", path, "is a directory")
            for ancestor in ancestors(path):
                if ancestor in self._files:
                    raise JobConfigError("path", path, f"has a file as its parent ({ancestor})")
            old = self._files.get(path)
            if old is not None and not overwrite:
                raise FileExistsError(f"{path} already exists")
            mount = self._mount_of(path)
            ufs_path = mount.ufs_path(path) if mount else None
            if temp_ufs_path is not None:
                if mount is None or ufs_path is None:
                    raise JobConfigError("path", path, "has no under file system mounted")
                ufs_replace(mount.fs, temp_ufs_path, ufs_path, overwrite,
                            f"{path} already exists")
            elif (old is None and not overwrite and mount is not None and ufs_path is not None
                  and ufs_exists(mount.fs, ufs_path)):
                raise FileExistsError(f"{path} already exists")
            replaced_in_ufs = old is not None and old.state is PersistenceState.PERSISTED
            if replaced_in_ufs and temp_ufs_path is None and mount is not None and ufs_path:
                # the replaced file's UFS copy no longer matches the namespace
                ufs_call(ufs_path, mount.fs.rm, ufs_path)
            removed = self._remove_file(old) if old is not None else {}
            file = _File(file_id=file_id, path=path, length=length, block_size=block_size,
                         block_ids=[b.block_id for b in blocks], state=state, ufs_path=ufs_path,
                         replication_min=replication_min, replication_max=replication_max,
                         last_modified=self._now())
            self._insert_file(file, [b.checksum for b in blocks],
                              {b.block_id: {w.worker_id: w.host for w in b.locations}
                               for b in blocks})
            for ancestor in ancestors(path):
                if ancestor not in self._dirs:
                    self._add_dir(ancestor, in_ufs=temp_ufs_path is not None)
            return removed

    def add_location(self, block_id: int, worker: WorkerInfo, length: int,
                     block_checksum: int) -> bool:
        """Record that ``worker`` caches a verified copy of ``block_id``. False if the
        block no longer exists (its file was deleted or replaced): the caller drops
        the copy. A copy whose length or checksum differs is refused."""
        return not self.add_locations(worker, [(block_id, length, block_checksum)])

    def add_locations(self, worker: WorkerInfo,
                      copies: Iterable[tuple[int, int, int]]) -> list[int]:
        """Record that ``worker`` caches verified copies, each ``(block_id, length,
        checksum)``, all at once; returns the ids of blocks that no longer exist (the
        caller drops those copies). If any copy's length or checksum differs, none is
        recorded and :class:`StorageError` is raised."""
        with self._lock:
            found = []
            gone = []
            for block_id, length, block_checksum in copies:
                block = self._blocks.get(block_id)
                if block is None:
                    gone.append(block_id)
                    continue
                if length != block.length:
                    raise StorageError(f"block {block_id}", f"copy on {worker.host} has "
                                                            f"{length} bytes, expected "
                                                            f"{block.length}")
                if block.checksum is not None and block.checksum != block_checksum:
                    raise StorageError(f"block {block_id}", f"copy on {worker.host} has "
                                                            f"checksum {block_checksum:08x}, "
                                                            f"expected {block.checksum:08x}")
                found.append((block, block_checksum))
            for block, block_checksum in found:
                if block.checksum is None:
                    block.checksum = block_checksum
                block.locations[worker.worker_id] = worker.host
            return gone

    def record_checksum(self, block_id: int, block_checksum: int) -> None:
        """Remember a block's checksum, learned from its first verified read."""
        with self._lock:
            block = self._blocks.get(block_id)
            if block is not None and block.checksum is None:
                block.checksum = block_checksum

    def remove_location(self, block_id: int, worker_id: int) -> None:
        with self._lock:
            block = self._blocks.get(block_id)
            if block is not None:
                block.locations.pop(worker_id, None)

    def forget_worker(self, worker_id: int) -> list[int]:
        """Drop every location on ``worker_id`` (a lost worker); returns the block ids."""
        with self._lock:
            dropped = []
            for block in self._blocks.values():
                if block.locations.pop(worker_id, None) is not None:
                    dropped.append(block.block_id)
            return dropped

    def set_state(self, file_id: int, state: PersistenceState) -> None:
        with self._lock:
            file = self._by_id.get(file_id)
            if file is not None:
                file.state = state

    def finish_persist(self, file_id: int, temp: UfsLocation, overwrite: bool,
                       ufs_path: str | None = None) -> bool:
        """Rename a persisted copy from its temporary UFS name to the file's UFS path
        (wherever the file is now) and mark it PERSISTED. A file deleted meanwhile gets
        its copy removed instead, so it never comes back; returns False then."""
        with self._lock:
            file = self._by_id.get(file_id)
            mount = self._mount_of(file.path) if file is not None else None
            if file is None or mount is None:
                for other in self._mounts.values():
                    if other.spec == temp.spec:
                        ufs_remove_quietly(other.fs, temp.path)
                        break
                return False
            final = ufs_path or mount.ufs_path(file.path)
            try:
                ufs_replace(mount.fs, temp.path, final, overwrite,
                            f"File {file.path} is already persisted in UFS, to overwrite the "
                            "file, please set the overwrite flag in the config.")
            except BaseException:
                ufs_remove_quietly(mount.fs, temp.path)
                raise
            file.ufs_path = final
            file.state = PersistenceState.PERSISTED
            for ancestor in ancestors(file.path):
                self._dirs[ancestor] = True
            return True

    def delete(self, path: str, *, recursive: bool = False) -> dict[int, list[int]]:
        """Remove a file or directory from the namespace and its UFS; returns the cached
        blocks to drop (worker id -> block ids). The UFS goes first: if it fails, the
        namespace is unchanged."""
        path = normalize_path(path)
        self.get_status(path)
        if recursive:
            self.list_status(path, recursive=True)  # load UFS-only children
        with self._lock:
            if path == "/" or path in self._mounts:
                raise JobConfigError("path", path, "is a mount point and cannot be deleted")
            is_dir = path in self._dirs
            if is_dir and self._has_children(path) and not recursive:
                raise JobConfigError("path", path, "is a non-empty directory; set recursive")
            if is_dir and any(is_under(m, path) for m in self._mounts):
                raise JobConfigError("path", path, "contains a mount point")
            mount = self._mount_of(path)
            if mount is not None:
                ufs_path = (self._files[path].ufs_path if path in self._files else None
                            ) or mount.ufs_path(path)
                if ufs_exists(mount.fs, ufs_path):
                    ufs_call(ufs_path, mount.fs.rm, ufs_path, recursive=is_dir)
            self._generation += 1
            removed: dict[int, list[int]] = {}
            victims = [f for p, f in self._files.items() if p == path or is_under(p, path)]
            for file in victims:
                for worker_id, blocks in self._remove_file(file).items():
                    removed.setdefault(worker_id, []).extend(blocks)
            for d in [d for d in self._dirs if d == path or is_under(d, path)]:
                del self._dirs[d]
            return removed

    def rename(self, src: str, dst: str) -> None:
        """Move a file or directory (and its UFS copy) to ``dst``, which must not exist
        and must be in the same mount."""
        src = normalize_path(src, "src")
        dst = normalize_path(dst, "dst")
        self.get_status(src)
        if self.exists(dst):
            raise FileExistsError(f"{dst} already exists")
        if src == "/" or is_under(dst, src):
            raise JobConfigError("dst", dst, f"is inside {src}")
        self.list_status(src, recursive=True)
        with self._lock:
            if src in self._mounts:
                raise JobConfigError("src", src, "is a mount point")
            if dst in self._files or dst in self._dirs:
                raise FileExistsError(f"{dst} already exists")
            for ancestor in ancestors(dst):
                if ancestor in self._files:
                    raise JobConfigError("dst", dst, f"has a file as its parent ({ancestor})")
            smount, dmount = self._mount_of(src), self._mount_of(dst)
            if smount is not dmount:
                raise JobConfigError("dst", dst, "is in another mount: renaming across "
                                                 "mount points is not supported")
            if smount is not None:
                s_ufs, d_ufs = smount.ufs_path(src), smount.ufs_path(dst)
                if ufs_exists(smount.fs, s_ufs):
                    ufs_call(d_ufs, smount.fs.makedirs, d_ufs.rsplit("/", 1)[0], exist_ok=True)
                    ufs_call(s_ufs, smount.fs.mv, s_ufs, d_ufs, recursive=src in self._dirs)
            self._generation += 1
            moved = [f for p, f in self._files.items() if p == src or is_under(p, src)]
            for file in moved:
                del self._files[file.path]
            for file in moved:
                file.path = dst + file.path[len(src):]
                if smount is not None and file.ufs_path is not None:
                    file.ufs_path = smount.ufs_path(file.path)
                self._files[file.path] = file
            dirs = [(d, v) for d, v in self._dirs.items() if d == src or is_under(d, src)]
            for d, _ in dirs:
                del self._dirs[d]
            for d, v in dirs:
                self._dirs[dst + d[len(src):]] = v
            for ancestor in ancestors(dst):
                if ancestor not in self._dirs:
                    self._dirs[ancestor] = False

    def free(self, path: str, *, recursive: bool = False) -> dict[int, list[int]]:
        """Forget every cached copy of the files at or below ``path``; returns the
        blocks to drop. Refuses (changing nothing) if any file is not persisted."""
        info = self.get_status(path)
        if info.is_folder:
            children = self.list_status(info.path)
            if children and not recursive:
                raise JobConfigError(
                    "path", info.path, f"Cannot free directory {info.path} which is not empty. "
                    'Please set the "recursive" flag of free operation to true')
        files = self.files_under(info.path)
        with self._lock:
            targets = [self._files.get(f.path) for f in files]
            for file in targets:
                if file is not None and file.state is not PersistenceState.PERSISTED:
                    raise FailedPreconditionError(
                        "path", file.path, f"Cannot free file {file.path} which is not persisted")
            removed: dict[int, list[int]] = {}
            for file in targets:
                if file is None:
                    continue
                for block_id in file.block_ids:
                    block = self._blocks[block_id]
                    for worker_id in block.locations:
                        removed.setdefault(worker_id, []).append(block_id)
                    block.locations.clear()
            return removed

    def set_replication(self, path: str, *, replication_min: int | None = None,
                        replication_max: int | None = None) -> list[FileInfo]:
        """Set the replication limits of a file, or of every file below a directory.
        ``replication_max`` -1 means no limit."""
        for name, value in (("replication_min", replication_min),
                            ("replication_max", replication_max)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise JobConfigError(name, value, "must be int")
        if replication_min is not None and replication_min < 0:
            raise JobConfigError("replication_min", replication_min, "must be >= 0")
        if replication_max is not None and replication_max < -1:
            raise JobConfigError("replication_max", replication_max, "must be >= -1")
        files = self.files_under(path)
        with self._lock:
            targets = [self._files[f.path] for f in files if f.path in self._files]
            for file in targets:
                lo = file.replication_min if replication_min is None else replication_min
                hi = file.replication_max if replication_max is None else replication_max
                if hi != -1 and lo > hi:
                    raise JobConfigError("replication_min", lo,
                                         f"must be <= replication_max ({hi}) for {file.path}")
            for file in targets:
                if replication_min is not None:
                    file.replication_min = replication_min
                if replication_max is not None:
                    file.replication_max = replication_max
            return [self._file_info(f, None) for f in targets]

    def mkdir(self, path: str) -> None:
        """Create a directory (and its parents) in the namespace and, if mounted, the UFS."""
        path = normalize_path(path)
        with self._lock:
            for p in (path, *ancestors(path)):
                if p in self._files:
                    raise FileExistsError(f"{p} is a file")
            mount = self._mount_of(path)
            if mount is not None:
                ufs_call(path, mount.fs.makedirs, mount.ufs_path(path), exist_ok=True)
            self._add_dir(path, in_ufs=mount is not None)
