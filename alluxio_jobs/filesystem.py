"""The client API of the embedded storage, and the wiring of storage to a job master.

:class:`FileSystem` is what users call (Alluxio's ``FileSystem`` client): list, status,
read, write with a write type, delete, rename, free, persist, set replication. It
holds the master-side :class:`~alluxio_jobs.storage.Namespace`, the
:class:`~alluxio_jobs.blockcache.BlockNetwork` that reaches the workers' caches, and
the :class:`~alluxio_jobs.JobMaster` that runs the data jobs. The quickest start::

    with FileSystem.local(num_workers=3, block_size=1 << 20) as fs:
        fs.mount("/data", "file:///srv/data")
        job_id = fs.master.run(LoadConfig(file_path="/data/part-0"))
        fs.master.wait(job_id, timeout=60)
        print(fs.get_status("/data/part-0").in_alluxio_percentage)

To wire the parts yourself: build a ``Namespace`` and a ``LocalBlockNetwork``, make
``fs = FileSystem(namespace, network)``, register the data plans with
:func:`register_storage_plans` (``plans, fs``), build the transport with
``resources=network.resources`` and the master with those plans, then
``fs.attach(master)``. :meth:`FileSystem.dask` does the same on a Dask cluster.

ASYNC_THROUGH files are persisted in the background by
:mod:`alluxio_jobs._async_persist`.
"""

import logging
import os
import time
from collections.abc import Callable
from typing import Any, Literal, Self

import fsspec

from alluxio_jobs._async_persist import AsyncPersister
from alluxio_jobs._validate import check_int, check_number
from alluxio_jobs.blockcache import (
    BlockCache,
    BlockNetwork,
    CacheUsage,
    DirectoryBlockCache,
    LocalBlockNetwork,
    MemoryBlockCache,
    checksum,
    verify_block,
)
from alluxio_jobs.commands import CommandTracker
from alluxio_jobs.errors import (
    CacheFullError,
    ClosedError,
    JobConfigError,
    JobFailedError,
    StorageError,
)
from alluxio_jobs.master import JobMaster
from alluxio_jobs.model import JobInfo, MasterConfig, Status, WorkerInfo
from alluxio_jobs.plans.base import PlanRegistry
from alluxio_jobs.storage import (
    DEFAULT_BLOCK_SIZE,
    BlockCommit,
    FileBlockInfo,
    FileInfo,
    MountInfo,
    Namespace,
    PersistenceState,
    WriteType,
    check_block_size,
    is_under,
    normalize_path,
)
from alluxio_jobs.storage_model import write_type_of
from alluxio_jobs.stores.base import JobStore
from alluxio_jobs.transports.base import WorkerTransport
from alluxio_jobs.transports.local import LocalTransport
from alluxio_jobs.ufs import UfsWriter, read_ufs_block, remove_temp_files

__all__ = ["FileSystem", "register_storage_plans", "write_type_of"]

logger = logging.getLogger(__name__)


def register_storage_plans(plans: PlanRegistry, fs: "FileSystem") -> PlanRegistry:
    """Add the data job types (Load, Migrate, Persist, Evict, Replicate, SetReplica,
    Move, BatchedJob, Compact) acting on ``fs`` to ``plans``; returns ``plans``."""
    from alluxio_jobs.plans.batched import BatchedJobConfig, BatchedJobPlan
    from alluxio_jobs.plans.cache import (
        EvictConfig,
        EvictPlan,
        LoadConfig,
        LoadPlan,
        ReplicateConfig,
        ReplicatePlan,
        SetReplicaConfig,
        SetReplicaPlan,
    )
    from alluxio_jobs.plans.transfer import (
        MigrateConfig,
        MigratePlan,
        MoveConfig,
        MovePlan,
        PersistConfig,
        PersistPlan,
    )

    load, migrate, persist = LoadPlan(fs), MigratePlan(fs), PersistPlan(fs)
    plans.register(LoadConfig, load)
    plans.register(MigrateConfig, migrate)
    plans.register(PersistConfig, persist)
    plans.register(EvictConfig, EvictPlan(fs))
    plans.register(ReplicateConfig, ReplicatePlan(fs))
    plans.register(SetReplicaConfig, SetReplicaPlan(fs))
    plans.register(MoveConfig, MovePlan(fs))
    plans.register(BatchedJobConfig,
                   BatchedJobPlan({"Load": load, "Migrate": migrate, "Persist": persist}))
    from alluxio_jobs.plans.transform import register_transform_plans

    register_transform_plans(plans, fs)
    return plans


class FileSystem:
    """Client of the embedded storage. Thread-safe; a context manager.

    ``write_type`` is the default for :meth:`write` (Alluxio's default is
    ASYNC_THROUGH: cached now, persisted by a background Persist job). ``persist_backoff``
    is the first and the largest wait, in seconds, between attempts to persist an
    ASYNC_THROUGH file whose Persist job failed.
    """

    def __init__(self, namespace: Namespace, network: BlockNetwork,
                 master: JobMaster | None = None, *,
                 write_type: WriteType | str = WriteType.ASYNC_THROUGH,
                 persist_backoff: tuple[float, float] = (1.0, 3600.0),
                 clock: Callable[[], float] = time.time) -> None:
        self.namespace = namespace
        self.network = network
        self.write_type = write_type_of(write_type)
        self._master = master
        self._clock = clock
        self._owned: list[Any] = []
        self._closed = False
        self.commands = CommandTracker(self, clock=clock)
        self._persister = AsyncPersister(self, *persist_backoff)
        if master is not None:
            self.attach(master)

    @classmethod
    def local(
        cls,
        num_workers: int = 1,
        *,
        block_size: int = DEFAULT_BLOCK_SIZE,
        cache_capacity: int = 1 << 30,
        cache: Literal["directory", "memory"] = "directory",
        cache_dir: str | os.PathLike[str] | None = None,
        threadpool_size: int = 10,
        master_config: MasterConfig | None = None,
        plans: PlanRegistry | None = None,
        store: JobStore | None = None,
        write_type: WriteType | str = WriteType.ASYNC_THROUGH,
        persist_backoff: tuple[float, float] = (1.0, 3600.0),
        clock: Callable[[], float] = time.time,
    ) -> "FileSystem":
        """Storage, ``num_workers`` in-process job workers each with a block cache of
        ``cache_capacity`` bytes (a directory under ``cache_dir``, a private temporary
        one by default, or memory), and a job master running the data jobs, keeping its
        jobs and the distributed commands in ``store`` if given; all closed by
        :meth:`close`."""
        check_block_size(block_size)
        if cache == "memory":
            def factory(w: WorkerInfo) -> Any:
                return MemoryBlockCache(cache_capacity, name=f"block cache of {w.host}")
        elif cache == "directory":
            def factory(w: WorkerInfo) -> Any:
                root = None if cache_dir is None else os.path.join(os.fspath(cache_dir), w.host)
                return DirectoryBlockCache(cache_capacity, root, name=f"block cache of {w.host}")
        else:
            raise JobConfigError("cache", cache, "must be 'directory' or 'memory'")
        namespace = Namespace(block_size=block_size, clock=clock)
        network = LocalBlockNetwork(factory)
        fs = cls(namespace, network, write_type=write_type, persist_backoff=persist_backoff,
                 clock=clock)
        registry = register_storage_plans(plans if plans is not None else PlanRegistry.default(),
                                          fs)
        try:
            transport = LocalTransport(num_workers, threadpool_size, resources=network.resources)
        except BaseException:
            network.close()
            raise
        fs._start_master(transport, registry, master_config, store, clock)
        return fs

    def _start_master(self, transport: WorkerTransport, registry: PlanRegistry,
                      master_config: MasterConfig | None, store: JobStore | None,
                      clock: Callable[[], float]) -> None:
        """Run the data jobs on a master of their own over ``transport``; the master
        and this file system's network are closed by :meth:`close` (or now, if
        starting fails)."""
        try:
            master = JobMaster(master_config, transport, registry, store=store, clock=clock)
        except BaseException:
            transport.close()
            self.network.close()
            raise
        self._owned.extend([master, self.network])
        try:
            self.attach(master)
        except BaseException:
            self.close()
            raise

    @classmethod
    def dask(
        cls,
        client: Any,
        *,
        block_size: int = DEFAULT_BLOCK_SIZE,
        cache_capacity: int = 1 << 30,
        cache_factory: Callable[[Any], BlockCache] | None = None,
        threadpool_size: int | None = None,
        master_config: MasterConfig | None = None,
        plans: PlanRegistry | None = None,
        store: JobStore | None = None,
        write_type: WriteType | str = WriteType.ASYNC_THROUGH,
        persist_backoff: tuple[float, float] = (1.0, 3600.0),
        poll_interval: float = 0.5,
        clock: Callable[[], float] = time.time,
    ) -> "FileSystem":
        """Storage on the Dask workers of ``client`` (a ``distributed.Client``; the
        ``dask`` extra): each worker is a job worker with a block cache of
        ``cache_capacity`` bytes in its own local directory (or what
        ``cache_factory(dask_worker)`` builds), blocks move between workers through
        Dask, and a job master runs the data jobs there. Closed by :meth:`close`,
        which leaves the client and its cluster running. ``plans`` holds further job
        types; they are pickled to the workers."""
        from alluxio_jobs.transports.dask_storage import dask_file_system

        return dask_file_system(
            client, cls, block_size=block_size, cache_capacity=cache_capacity,
            cache_factory=cache_factory, threadpool_size=threadpool_size,
            master_config=master_config, plans=plans, store=store, write_type=write_type,
            persist_backoff=persist_backoff, poll_interval=poll_interval, clock=clock)

    def attach(self, master: JobMaster) -> None:
        """Use ``master`` to run this storage's jobs (its plans must be registered with
        :func:`register_storage_plans` for this file system). With a job store, the
        distributed commands are kept in it too (see :class:`CommandTracker`)."""
        self._master = master
        self.commands.bind(master)

    @property
    def master(self) -> JobMaster:
        """The job master that runs this storage's jobs.

        :raises ClosedError: no master is attached
        """
        if self._master is None:
            raise ClosedError("the job master of this FileSystem (none is attached)")
        return self._master

    # ------------------------------------------------------------ namespace

    def mount(self, alluxio_path: str, ufs: "str | fsspec.AbstractFileSystem",
              root: str | None = None) -> MountInfo:
        """Mount a UFS (a URL, or an fsspec filesystem with ``root``) at ``alluxio_path``."""
        info = self.namespace.mount(alluxio_path, ufs, root)
        self.network.share_filesystem(self.namespace.filesystem(info.alluxio_path))
        return info

    def get_status(self, path: str) -> FileInfo:
        """Status of a file or directory; block locations and the cached percentage
        count live workers only.

        :raises NotFoundError: no such path
        """
        return self.namespace.get_status(path, self._live_ids())

    def list_status(self, path: str, *, recursive: bool = False) -> list[FileInfo]:
        """The files and directories in ``path`` (all below it when ``recursive``)."""
        return self.namespace.list_status(path, recursive=recursive, live=self._live_ids())

    def exists(self, path: str) -> bool:
        """Whether ``path`` exists (in the namespace or in its UFS)."""
        return self.namespace.exists(path)

    def mkdir(self, path: str) -> None:
        """Create the directory ``path`` and its missing parents."""
        self.namespace.mkdir(path)

    def delete(self, path: str, *, recursive: bool = False) -> None:
        """Delete from the namespace, the UFS and every cache."""
        self._drop(self.namespace.delete(path, recursive=recursive))

    def rename(self, src: str, dst: str) -> None:
        """Rename a file or directory within one mount."""
        self.namespace.rename(src, dst)

    def free(self, path: str, *, recursive: bool = False) -> None:
        """Drop every cached copy below ``path``; refuses files not persisted."""
        self._drop(self.namespace.free(path, recursive=recursive))

    def set_replication(self, path: str, *, replication_min: int | None = None,
                        replication_max: int | None = None) -> list[FileInfo]:
        """Set the replication limits of a file (or every file below a directory); the
        replication checker keeps cached copies within them. Returns the files changed."""
        return self.namespace.set_replication(path, replication_min=replication_min,
                                              replication_max=replication_max)

    # ----------------------------------------------------------------- bytes

    def read(self, path: str, offset: int = 0, length: int | None = None) -> bytes:
        """Bytes of a file, each block from a cached copy when a live worker has one,
        else from the UFS; every block is verified.

        :raises StorageError: a block is neither cached nor persisted (the file is LOST)
        """
        info = self.get_status(path)
        if info.is_folder:
            raise JobConfigError("path", info.path, "is a directory")
        check_int("offset", offset, 0)
        if length is not None:
            check_int("length", length, 0)
        end = info.length if length is None else min(info.length, offset + length)
        out = bytearray()
        for block in info.blocks:
            if block.offset + block.length <= offset or block.offset >= end:
                continue
            data = self._block_bytes(info, block)
            out += data[max(0, offset - block.offset):end - block.offset]
        return bytes(out)

    def _block_bytes(self, info: FileInfo, block: FileBlockInfo) -> bytes:
        errors = []
        for worker in block.locations:
            try:
                data = self.network.read_block(worker.worker_id, block.block_id)
                verify_block(block.block_id, data, block.length, block.checksum, worker.host)
                return data
            except StorageError as exc:
                errors.append(str(exc))
        if info.persisted:
            fs = self.namespace.filesystem(info.path)
            data = read_ufs_block(fs, info.ufs_path, block.offset, block.length)
            self.namespace.record_checksum(
                block.block_id,
                verify_block(block.block_id, data, block.length, block.checksum, info.ufs_path))
            return data
        raise StorageError(info.path, f"block {block.block_id} is not cached on any live worker "
                                      f"and the file is not persisted ({'; '.join(errors)})")

    def write(self, path: str, data: bytes | bytearray | memoryview, *,
              write_type: WriteType | str | None = None, overwrite: bool = False,
              block_size: int | None = None, replication_min: int = 0,
              replication_max: int = -1) -> FileInfo:
        """Create (or with ``overwrite`` replace) a file holding ``data``.

        MUST_CACHE caches it only; CACHE_THROUGH caches it and writes the UFS;
        THROUGH writes the UFS only; ASYNC_THROUGH caches it and persists it later
        with a Persist job. The file appears only once every copy is complete; on any
        error nothing is left behind.

        :raises FileExistsError: the path exists and ``overwrite`` is false
        :raises CacheFullError: no live job worker's cache has room for a block
        :raises StorageError: a cache or the UFS failed
        """
        path = normalize_path(path)
        wt = write_type_of(self.write_type if write_type is None else write_type)
        if not isinstance(data, bytes | bytearray | memoryview):
            raise JobConfigError("data", type(data).__name__, "must be bytes-like")
        payload = bytes(data)
        block_size = self.namespace.block_size if block_size is None else block_size
        check_block_size(block_size)
        if self.namespace.exists(path):
            existing = self.namespace.get_status(path)
            if existing.is_folder:
                raise JobConfigError("path", path, "is a directory")
            if not overwrite:
                raise FileExistsError(f"{path} already exists")
        location = self.namespace.ufs_location(path)
        if wt.needs_ufs and location is None:
            raise JobConfigError("write_type", wt.value,
                                 f"needs an under file system mounted at {path}")
        file_id, block_ids = self.namespace.allocate(len(payload), block_size)
        written: list[tuple[int, int]] = []
        writer = None
        try:
            commits = []
            for i, block_id in enumerate(block_ids):
                chunk = payload[i * block_size:(i + 1) * block_size]
                block_checksum = checksum(chunk)
                locations = []
                if wt.caches:
                    worker = self._store_block(path, block_id, chunk, block_checksum)
                    written.append((worker.worker_id, block_id))
                    locations.append(worker)
                commits.append(BlockCommit(block_id=block_id, length=len(chunk),
                                           checksum=block_checksum, locations=locations))
            temp = None
            if wt.writes_ufs:
                assert location is not None
                writer = UfsWriter(self.namespace.filesystem(path), location.path)
                writer.write(payload)
                temp = writer.finish()
            removed = self.namespace.commit_file(
                path, file_id=file_id, length=len(payload), block_size=block_size,
                blocks=commits, state=wt.state, overwrite=overwrite, temp_ufs_path=temp,
                replication_min=replication_min, replication_max=replication_max)
        except BaseException:
            for worker_id, block_id in written:
                self.network.remove_blocks(worker_id, [block_id])
            if writer is not None:
                writer.abort()
            raise
        self._drop(removed)
        if wt is WriteType.ASYNC_THROUGH:
            self.schedule_persist(file_id)
        return self.get_status(path)

    def _store_block(self, path: str, block_id: int, data: bytes, block_checksum: int
                     ) -> WorkerInfo:
        """Cache a new block on the live worker with the most free space."""
        live = self._live_ids()
        usages = sorted(
            (u for u in self.network.usage() if live is None or u.worker.worker_id in live),
            key=lambda u: (-u.free, u.worker.worker_id))
        errors = []
        full = 0  # workers without room
        for usage in usages:
            if usage.free < len(data):
                errors.append(f"{usage.worker.host}: {usage.free} bytes free")
                full += 1
                continue
            try:
                self.network.write_block(usage.worker.worker_id, block_id, data, block_checksum)
                return usage.worker
            except CacheFullError as exc:
                errors.append(str(exc))
                full += 1
            except StorageError as exc:
                errors.append(str(exc))
        reason = (f"no job worker can cache block {block_id} ({len(data)} bytes): "
                  + ("; ".join(errors) or "there are no job workers"))
        if usages and full == len(usages):
            raise CacheFullError(path, reason, len(data), max(u.free for u in usages))
        raise StorageError(path, reason)

    def _drop(self, removed: dict[int, list[int]]) -> None:
        for worker_id, block_ids in removed.items():
            try:
                self.network.remove_blocks(worker_id, block_ids)
            except Exception:
                logger.exception("could not drop blocks from worker %s", worker_id)

    # ------------------------------------------------------------------ jobs

    def persist(self, path: str, *, overwrite: bool = False,
                timeout: float | None = None) -> list[JobInfo]:
        """Persist every file at or below ``path`` that is not persisted yet, one
        Persist job each, and wait for them.

        :raises JobFailedError: a Persist job failed
        """
        from alluxio_jobs.plans.transfer import PersistConfig

        todo = [f for f in self.namespace.files_under(path)
                if f.persistence_state is not PersistenceState.PERSISTED or overwrite]
        job_ids = [self.master.run(PersistConfig(file_path=f.path, overwrite=overwrite))
                   for f in todo]
        infos = [self.master.wait(job_id, timeout) for job_id in job_ids]
        for info in infos:
            if info.status is not Status.COMPLETED:
                raise JobFailedError(info.job_id, info.error_message or info.status.value)
        return infos

    def schedule_persist(self, file_id: int) -> None:
        """Persist an ASYNC_THROUGH file in the background (retried with back-off)."""
        if self._master is not None and not self._closed:
            self._persister.schedule(file_id)

    def wait_persisted(self, timeout: float | None = None) -> bool:
        """Block until every ASYNC_THROUGH file written so far is persisted (or given up
        on because it was deleted); False if ``timeout`` passed first."""
        return self._persister.wait_idle(timeout)

    def remove_temp_files(self, path: str = "/", *, older_than: float = 3600.0) -> list[str]:
        """Remove the temporary files that writes leave in the UFS mounted at or below
        ``path`` when their writer dies (a lost worker, a killed process), if they last
        changed at least ``older_than`` seconds ago: a write under way keeps its file
        fresh. Returns the UFS paths removed. (Alluxio's ``UfsCleaner`` does this
        periodically; call it on a schedule, or with ``older_than=0`` when no job
        writes to the UFS.)

        :raises JobConfigError: ``older_than`` is negative
        """
        path = normalize_path(path)
        check_number("older_than", older_than, at_least=0)
        # each UFS directory once: a path inside a mount under "/" is also inside "/"
        sweeps: dict[tuple[str, str], fsspec.AbstractFileSystem] = {}
        for mount in self.namespace.mounts():
            if is_under(path, mount.alluxio_path):
                root = path
            elif mount.alluxio_path == path or is_under(mount.alluxio_path, path):
                root = mount.alluxio_path
            else:
                continue
            ufs = self.namespace.filesystem(root)
            location = self.namespace.ufs_location(root)
            if ufs is not None and location is not None:
                sweeps[(location.spec, location.path)] = ufs
        now = time.time()
        removed = []
        for (_spec, ufs_root), ufs in sweeps.items():
            removed += remove_temp_files(ufs, ufs_root, older_than, now)
        return removed

    def workers(self) -> list[WorkerInfo]:
        """The live job workers."""
        if self._master is not None:
            return list(self._master.transport.workers())
        return [u.worker for u in self.network.usage()]

    def _live_ids(self) -> set[int] | None:
        if self._master is None:
            return None
        return {w.worker_id for w in self._master.transport.workers()}

    def cache_usage(self) -> list[CacheUsage]:
        """Usage of every live worker's cache."""
        live = self._live_ids()
        return [u for u in self.network.usage() if live is None or u.worker.worker_id in live]

    def close(self) -> None:
        """Stop background work and close what :meth:`local` created. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.commands.close()
        self._persister.close()
        for part in self._owned:
            part.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
