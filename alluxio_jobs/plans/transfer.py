"""Job types that write files or move blocks: Migrate, Persist and Move (BatchedJob, in
:mod:`alluxio_jobs.plans.batched`, is re-exported here).

New files are written under temporary names (UFS) or new block ids (caches) and only
become visible when the master commits them in ``on_task_completed``; a task that
fails or is canceled removes what it wrote, so no partial destination is ever left.
Sources are never deleted by these jobs, except the old copy of a block after a Move
has recorded the new one.
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

import attrs

from alluxio_jobs import _validate as v
from alluxio_jobs.blockcache import WorkerStorage, verify_block
from alluxio_jobs.errors import JobConfigError, StorageError
from alluxio_jobs.model import WorkerInfo
from alluxio_jobs.plans.base import JobConfig, JobPlan, RunTaskContext, SelectContext

# BatchedJob lives in its own module; its names stay importable from here
from alluxio_jobs.plans.batched import (
    BATCH_TASK_BYTES,
    BATCH_TASK_PARTS,
    BatchedJobConfig,
    BatchedJobPlan,
    BatchedPart,
    BatchedTaskArgs,
)
from alluxio_jobs.plans.cache import (
    BlockSource,
    CachedBlock,
    _file,
    _find_block,
    _ufs_of,
    alluxio_path,
    block_source,
    copy_block,
    fetch_block,
)
from alluxio_jobs.storage import BlockCommit, FileInfo, WriteType, is_under
from alluxio_jobs.ufs import UfsLocation, UfsWriter, ufs_exists, ufs_remove_quietly

if TYPE_CHECKING:
    from alluxio_jobs.filesystem import FileSystem


__all__ = [
    "BATCH_TASK_BYTES",
    "BATCH_TASK_PARTS",
    "BatchedJobConfig",
    "BatchedJobPlan",
    "BatchedPart",
    "BatchedTaskArgs",
    "MigrateConfig",
    "MigratePlan",
    "MigrateResult",
    "MigrateTaskArgs",
    "MoveConfig",
    "MovePlan",
    "MoveResult",
    "MoveTaskArgs",
    "PersistConfig",
    "PersistPlan",
    "PersistResult",
    "PersistTaskArgs",
]


def _write_type_or_none(value: object) -> object:
    if value is None or isinstance(value, WriteType):
        return value
    try:
        return WriteType(value)  # type: ignore[arg-type]
    except ValueError:
        raise JobConfigError("write_type", value,
                             f"must be one of {[w.value for w in WriteType]}") from None


def _most_blocks(info: FileInfo, workers: Sequence[WorkerInfo], job_id: int) -> WorkerInfo:
    """Alluxio's ``getWorkerWithMostBlocks``; with no cached block, a worker chosen by
    job id so that many files spread over the workers."""
    live = {w.worker_id: w for w in workers}
    counts: dict[int, int] = {}
    for block in info.blocks:
        for location in block.locations:
            if location.worker_id in live:
                counts[location.worker_id] = counts.get(location.worker_id, 0) + 1
    if counts:
        best = max(sorted(counts), key=lambda w: counts[w])
        return live[best]
    ordered = sorted(workers, key=lambda w: w.worker_id)
    return ordered[job_id % len(ordered)]


# ------------------------------------------------------------------- Migrate


@attrs.frozen(kw_only=True)
class MigrateConfig(JobConfig):
    """Copy file ``source`` to ``destination`` with ``write_type`` (None: the file
    system's default), replacing an existing destination only with ``overwrite``
    (Alluxio's ``Migrate``, the job behind ``distributedCp``). The source is kept."""

    name: ClassVar[str] = "Migrate"

    source: str = attrs.field(validator=alluxio_path)
    destination: str = attrs.field(validator=alluxio_path)
    write_type: WriteType | None = attrs.field(default=None, converter=_write_type_or_none)
    overwrite: bool = attrs.field(default=False, validator=v.instance_of(bool))


@attrs.frozen(kw_only=True)
class MigrateTaskArgs:
    """Copy ``blocks`` (of the source) to new blocks ``new_block_ids`` of file
    ``file_id``, cached here if ``write_type`` caches and written to ``destination_ufs``
    under a temporary name if it writes the UFS."""

    file_id: int
    length: int
    block_size: int
    blocks: list[BlockSource]
    source_ufs: UfsLocation | None
    new_block_ids: list[int]
    write_type: WriteType
    destination_ufs: UfsLocation | None


@attrs.frozen(kw_only=True)
class MigrateResult:
    destination: str
    file_id: int
    blocks: list[CachedBlock]
    cached: bool
    temp_ufs_path: str | None


class MigratePlan(JobPlan[MigrateConfig, MigrateTaskArgs, MigrateResult]):
    """One task per file, on the worker caching most of the source's blocks."""

    def __init__(self, fs: "FileSystem") -> None:
        self.fs = fs

    def select_executors(self, config: MigrateConfig, workers: Sequence[WorkerInfo],
                         ctx: SelectContext) -> list[tuple[WorkerInfo, MigrateTaskArgs]]:
        src, dst = config.source, config.destination
        if src == dst:
            return []
        if is_under(dst, src):
            raise RuntimeError(f"Cannot migrate because {src} is a prefix of {dst}")
        if not workers:
            raise RuntimeError("No workers are available")
        namespace = self.fs.namespace
        info = namespace.get_status(src, {w.worker_id for w in workers})
        if info.is_folder:
            raise RuntimeError("Cannot migrate directory")
        write_type = config.write_type or self.fs.write_type
        if namespace.exists(dst):
            if namespace.get_status(dst).is_folder:
                raise JobConfigError("destination", dst, "is a directory")
            if not config.overwrite:
                raise FileExistsError(f"{dst} already exists")
        dst_ufs = namespace.ufs_location(dst)
        if write_type.needs_ufs and dst_ufs is None:
            raise JobConfigError("write_type", write_type.value,
                                 f"needs an under file system mounted at {dst}")
        for block in info.blocks:
            if not block.locations and not info.persisted:
                raise StorageError(src, f"block {block.block_id} is not cached on any live "
                                        "worker and the file is not persisted")
        file_id, new_ids = namespace.allocate(info.length, info.block_size)
        args = MigrateTaskArgs(
            file_id=file_id, length=info.length, block_size=info.block_size,
            blocks=[block_source(b) for b in info.blocks], source_ufs=_ufs_of(self.fs, info),
            new_block_ids=new_ids, write_type=write_type,
            destination_ufs=dst_ufs if write_type.writes_ufs else None)
        return [(_most_blocks(info, workers, ctx.job_id), args)]

    def run_task(self, config: MigrateConfig, args: MigrateTaskArgs,
                 ctx: RunTaskContext) -> MigrateResult:
        storage = WorkerStorage.of(ctx.resources)
        caches = args.write_type.caches
        writer = None
        added: list[int] = []
        out = []
        try:
            if args.destination_ufs is not None:
                writer = UfsWriter(storage.filesystem(args.destination_ufs.spec),
                                   args.destination_ufs.path)
            for block, new_id in zip(args.blocks, args.new_block_ids, strict=True):
                ctx.check_canceled()
                cached = storage.cache.writer(new_id, block.length) if caches else None
                sinks = [w.write for w in (cached, writer) if w is not None]
                try:
                    block_checksum = copy_block(storage, block, args.source_ufs, sinks)
                    if cached is not None:
                        cached.commit(block_checksum)
                except BaseException:
                    if cached is not None:
                        cached.abort()
                    raise
                if cached is not None:
                    added.append(new_id)
                out.append(CachedBlock(block_id=new_id, length=block.length,
                                       checksum=block_checksum))
            temp = writer.finish() if writer is not None else None
            ctx.check_canceled()
        except BaseException:
            for block_id in added:
                storage.cache.remove(block_id)
            if writer is not None:
                writer.abort()
            raise
        return MigrateResult(destination=config.destination, file_id=args.file_id, blocks=out,
                             cached=caches, temp_ufs_path=temp)

    def on_task_completed(self, config: MigrateConfig, args: MigrateTaskArgs,
                          result: MigrateResult, *, worker: WorkerInfo) -> None:
        """Commit the destination: it appears whole, or not at all."""
        fs = self.fs
        commits = [BlockCommit(block_id=b.block_id, length=b.length, checksum=b.checksum,
                               locations=[worker] if result.cached else [])
                   for b in result.blocks]
        try:
            removed = fs.namespace.commit_file(
                config.destination, file_id=args.file_id, length=args.length,
                block_size=args.block_size, blocks=commits, state=args.write_type.state,
                overwrite=config.overwrite, temp_ufs_path=result.temp_ufs_path)
        except BaseException:
            if result.cached:
                fs.network.remove_blocks(worker.worker_id, [b.block_id for b in result.blocks])
            if result.temp_ufs_path is not None and args.destination_ufs is not None:
                ufs_remove_quietly(fs.namespace.filesystem(config.destination),
                                   result.temp_ufs_path)
            raise
        fs._drop(removed)
        if args.write_type is WriteType.ASYNC_THROUGH:
            fs.schedule_persist(args.file_id)

    def describe_task(self, config: MigrateConfig, args: MigrateTaskArgs) -> str:
        return f"MigrateTask{{source={config.source}, destination={config.destination}}}"

    def task_size(self, config: MigrateConfig, args: MigrateTaskArgs) -> int:
        return args.length

    def undo_task(self, config: MigrateConfig, args: MigrateTaskArgs, result: MigrateResult,
                  ctx: RunTaskContext) -> None:
        """Drop the uncommitted copy: its new blocks and its temporary UFS file."""
        storage = WorkerStorage.of(ctx.resources)
        if result.cached:
            for block in result.blocks:
                storage.cache.remove(block.block_id)
        if result.temp_ufs_path is not None and args.destination_ufs is not None:
            ufs_remove_quietly(storage.filesystem(args.destination_ufs.spec),
                               result.temp_ufs_path)


# ------------------------------------------------------------------- Persist


@attrs.frozen(kw_only=True)
class PersistConfig(JobConfig):
    """Write file ``file_path`` to its UFS (at ``ufs_path`` if given, else the path its
    mount gives it), replacing a UFS file already there only with ``overwrite``
    (Alluxio's ``Persist``)."""

    name: ClassVar[str] = "Persist"

    file_path: str = attrs.field(validator=alluxio_path)
    ufs_path: str = attrs.field(default="", validator=v.instance_of(str))
    overwrite: bool = attrs.field(default=False, validator=v.instance_of(bool))


@attrs.frozen(kw_only=True)
class PersistTaskArgs:
    """Write ``blocks`` of file ``file_id`` to a temporary name beside ``ufs``."""

    file_id: int
    blocks: list[BlockSource]
    source_ufs: UfsLocation | None
    ufs: UfsLocation


@attrs.frozen(kw_only=True)
class PersistResult:
    file_id: int
    temp_ufs_path: str
    blocks: list[CachedBlock]


class PersistPlan(JobPlan[PersistConfig, PersistTaskArgs, PersistResult]):
    """One task, on the worker caching most of the file's blocks. The copy is written
    under a temporary name; the master renames it to wherever the file is by then (or
    removes it if the file was deleted meanwhile)."""

    def __init__(self, fs: "FileSystem") -> None:
        self.fs = fs

    def select_executors(self, config: PersistConfig, workers: Sequence[WorkerInfo],
                         ctx: SelectContext) -> list[tuple[WorkerInfo, PersistTaskArgs]]:
        if not workers:
            raise RuntimeError("No worker is available")
        info = _file(self.fs, config.file_path, workers)
        location = self.fs.namespace.ufs_location(info.path)
        if location is None:
            raise JobConfigError("file_path", info.path, "has no under file system mounted")
        ufs = UfsLocation(spec=location.spec, path=config.ufs_path or location.path)
        args = PersistTaskArgs(file_id=info.file_id, blocks=[block_source(b) for b in info.blocks],
                               source_ufs=_ufs_of(self.fs, info), ufs=ufs)
        return [(_most_blocks(info, workers, ctx.job_id), args)]

    def run_task(self, config: PersistConfig, args: PersistTaskArgs,
                 ctx: RunTaskContext) -> PersistResult:
        storage = WorkerStorage.of(ctx.resources)
        fs = storage.filesystem(args.ufs.spec)
        if not config.overwrite and ufs_exists(fs, args.ufs.path):
            raise FileExistsError(
                f"File {config.file_path} is already persisted in UFS, to overwrite the file, "
                "please set the overwrite flag in the config.")
        writer = UfsWriter(fs, args.ufs.path)
        out = []
        try:
            for block in args.blocks:
                ctx.check_canceled()
                block_checksum = copy_block(storage, block, args.source_ufs, [writer.write])
                out.append(CachedBlock(block_id=block.block_id, length=block.length,
                                       checksum=block_checksum))
            temp = writer.finish()
            ctx.check_canceled()  # a canceled task must not leave its copy behind
        except BaseException:
            writer.abort()
            raise
        return PersistResult(file_id=args.file_id, temp_ufs_path=temp, blocks=out)

    def on_task_completed(self, config: PersistConfig, args: PersistTaskArgs,
                          result: PersistResult, *, worker: WorkerInfo) -> None:
        namespace = self.fs.namespace
        for block in result.blocks:
            namespace.record_checksum(block.block_id, block.checksum)
        temp = UfsLocation(spec=args.ufs.spec, path=result.temp_ufs_path)
        namespace.finish_persist(args.file_id, temp, config.overwrite, config.ufs_path or None)

    def describe_task(self, config: PersistConfig, args: PersistTaskArgs) -> str:
        return f"PersistTask{{FilePath={config.file_path}, UfsPath={args.ufs.path}}}"

    def task_size(self, config: PersistConfig, args: PersistTaskArgs) -> int:
        return sum(block.length for block in args.blocks)

    def undo_task(self, config: PersistConfig, args: PersistTaskArgs, result: PersistResult,
                  ctx: RunTaskContext) -> None:
        """Drop the uncommitted copy (its temporary UFS file)."""
        storage = WorkerStorage.of(ctx.resources)
        ufs_remove_quietly(storage.filesystem(args.ufs.spec), result.temp_ufs_path)


# ---------------------------------------------------------------------- Move


@attrs.frozen(kw_only=True)
class MoveConfig(JobConfig):
    """Move the cached copy of block ``block_id`` of ``path`` from the worker on host
    ``source_worker`` to the one on ``destination_worker``. The source copy is removed
    only once the destination's copy is verified and recorded."""

    name: ClassVar[str] = "Move"

    path: str = attrs.field(validator=alluxio_path)
    block_id: int = attrs.field(validator=[v.instance_of(int), v.at_least(0)])
    source_worker: str = attrs.field(validator=[v.instance_of(str), v.non_empty])
    destination_worker: str = attrs.field(validator=[v.instance_of(str), v.non_empty])


@attrs.frozen(kw_only=True)
class MoveTaskArgs:
    block: BlockSource
    source_worker_id: int


@attrs.frozen(kw_only=True)
class MoveResult:
    block: CachedBlock
    source_worker_id: int


class MovePlan(JobPlan[MoveConfig, MoveTaskArgs, MoveResult]):
    """One task, on the destination worker: copy from the source worker, verify, keep."""

    def __init__(self, fs: "FileSystem") -> None:
        self.fs = fs

    def select_executors(self, config: MoveConfig, workers: Sequence[WorkerInfo],
                         ctx: SelectContext) -> list[tuple[WorkerInfo, MoveTaskArgs]]:
        by_host = {}
        for w in sorted(workers, key=lambda w: -w.worker_id):
            by_host[w.host] = w
        source = by_host.get(config.source_worker)
        destination = by_host.get(config.destination_worker)
        if source is None:
            raise JobConfigError("source_worker", config.source_worker, "is not a live job worker")
        if destination is None:
            raise JobConfigError("destination_worker", config.destination_worker,
                                 "is not a live job worker")
        if source.worker_id == destination.worker_id:
            raise JobConfigError("destination_worker", config.destination_worker,
                                 "is the source worker")
        info = _file(self.fs, config.path, workers, "path")
        block = _find_block(info, config.block_id)
        if source.worker_id not in {w.worker_id for w in block.locations}:
            raise RuntimeError(f"Block {config.block_id} is not cached on {config.source_worker}")
        src = attrs.evolve(block_source(block), peers=[source.worker_id])
        return [(destination, MoveTaskArgs(block=src, source_worker_id=source.worker_id))]

    def run_task(self, config: MoveConfig, args: MoveTaskArgs, ctx: RunTaskContext) -> MoveResult:
        storage = WorkerStorage.of(ctx.resources)
        block = args.block
        ctx.check_canceled()
        if block.block_id in storage.cache:
            data = storage.cache.get(block.block_id)
            block_checksum = verify_block(block.block_id, data, block.length, block.checksum,
                                          storage.worker.host)
        else:
            data, block_checksum = fetch_block(storage, block, None)
            storage.cache.put(block.block_id, data, block_checksum)
        return MoveResult(block=CachedBlock(block_id=block.block_id, length=len(data),
                                            checksum=block_checksum),
                          source_worker_id=args.source_worker_id)

    def on_task_completed(self, config: MoveConfig, args: MoveTaskArgs, result: MoveResult, *,
                          worker: WorkerInfo) -> None:
        fs = self.fs
        block = result.block
        if not fs.namespace.add_location(block.block_id, worker, block.length, block.checksum):
            fs.network.remove_blocks(worker.worker_id, [block.block_id])
            return
        fs.namespace.remove_location(block.block_id, result.source_worker_id)
        fs.network.remove_blocks(result.source_worker_id, [block.block_id])

    def describe_task(self, config: MoveConfig, args: MoveTaskArgs) -> str:
        return (f"MoveTask{{BlockId={config.block_id}, From={config.source_worker}, "
                f"To={config.destination_worker}}}")

    def reschedule(self, config: MoveConfig, args: MoveTaskArgs, lost: WorkerInfo,
                   workers: Sequence[WorkerInfo]) -> WorkerInfo | None:
        return None  # the destination was chosen by the user
