"""Job types that change where blocks are cached: Load, Replicate, Evict, SetReplica.

Each task runs on the worker whose cache changes, copies or drops bytes there, and
returns plain data saying what it changed; the plan applies that to the namespace in
``on_task_completed``. A copy counts only once its length and checksum are verified.
"""

import itertools
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from alluxio_jobs import _validate as v
from alluxio_jobs.blockcache import BlockCache, WorkerStorage, verify_block
from alluxio_jobs.checksums import crc32
from alluxio_jobs.errors import JobConfigError, JobNotFoundError, StorageError
from alluxio_jobs.model import WorkerInfo
from alluxio_jobs.plans.base import JobConfig, JobPlan, RunTaskContext, SelectContext
from alluxio_jobs.storage import FileBlockInfo, FileInfo, normalize_path
from alluxio_jobs.ufs import UfsLocation, read_ufs_block, read_ufs_chunks

if TYPE_CHECKING:
    from alluxio_jobs.filesystem import FileSystem

__all__ = [
    "JOBS_PER_WORKER",
    "BlockSource",
    "CachedBlock",
    "EvictConfig",
    "EvictPlan",
    "EvictTaskArgs",
    "LoadConfig",
    "LoadPlan",
    "LoadTaskArgs",
    "ReplicateConfig",
    "ReplicatePlan",
    "SetReplicaConfig",
    "SetReplicaPlan",
    "alluxio_path",
    "block_source",
    "cache_blocks",
    "copy_block",
    "drop_written",
    "fetch_block",
    "host_list",
    "partition",
    "record_cached",
]

#: Alluxio's ``JOBS_PER_WORKER``: a Load job gives each worker at most this many tasks.
JOBS_PER_WORKER = 10


def alluxio_path(_inst: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
    """Validator: a normalized absolute Alluxio path."""
    if normalize_path(value, attribute.name) != value:
        raise JobConfigError(attribute.name, value, "must be normalized (no '//' or trailing '/')")


def host_list(_inst: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
    """Validator: a list of worker host names."""
    if not isinstance(value, list) or not all(isinstance(h, str) and h for h in value):
        raise JobConfigError(attribute.name, value, "must be a list of host names")


def _as_list(value: object) -> object:
    return list(value) if isinstance(value, list | tuple | set | frozenset) else value


# ----------------------------------------------------------------- task data


@attrs.frozen(kw_only=True)
class BlockSource:
    """A block to copy: where it sits in its file, its checksum if known, and the
    workers (ids) that cache a copy to read from."""

    block_id: int
    offset: int
    length: int
    checksum: int | None = None
    peers: list[int] = attrs.field(factory=list)


@attrs.frozen(kw_only=True)
class LoadTaskArgs:
    """Blocks of ``file_path`` to cache on the task's worker; ``ufs`` is where the
    file's bytes are when no peer has them (None for a file not persisted)."""

    file_path: str
    ufs: UfsLocation | None
    blocks: list[BlockSource]


@attrs.frozen(kw_only=True)
class EvictTaskArgs:
    """Drop ``block_id`` from the task's worker."""

    block_id: int


@attrs.frozen(kw_only=True)
class CachedBlock:
    """A task's report: its worker now holds a verified copy of this block (``added``:
    the task wrote it; otherwise it was there already)."""

    block_id: int
    length: int
    checksum: int
    added: bool = False


def block_source(block: FileBlockInfo) -> BlockSource:
    return BlockSource(block_id=block.block_id, offset=block.offset, length=block.length,
                       checksum=block.checksum, peers=[w.worker_id for w in block.locations])


def fetch_block(storage: WorkerStorage, block: BlockSource,
                ufs: UfsLocation | None) -> tuple[bytes, int]:
    """A verified copy of ``block`` and its checksum: from this worker's cache, else a
    peer's, else the UFS."""
    errors = []
    if block.block_id in storage.cache:
        try:
            data = storage.cache.get(block.block_id)
            return data, verify_block(block.block_id, data, block.length, block.checksum,
                                      storage.worker.host)
        except StorageError as exc:
            errors.append(str(exc))
    for peer in block.peers:
        if peer == storage.worker.worker_id:
            continue
        try:
            data = storage.network.read_block(peer, block.block_id)
            return data, verify_block(block.block_id, data, block.length, block.checksum,
                                      f"job worker {peer}")
        except StorageError as exc:
            errors.append(str(exc))
    if ufs is not None:
        data = read_ufs_block(storage.filesystem(ufs.spec), ufs.path, block.offset, block.length)
        return data, verify_block(block.block_id, data, block.length, block.checksum, ufs.path)
    raise StorageError(f"block {block.block_id}", "no readable copy: "
                       + ("; ".join(errors) or "it is not cached and its file is not persisted"))


def copy_block(storage: WorkerStorage, block: BlockSource, ufs: UfsLocation | None,
               sinks: Sequence[Callable[[bytes | memoryview], None]]) -> int:
    """Feed a copy of ``block`` to ``sinks`` and return its verified checksum.

    A cached copy (this worker's, else a peer's) is verified before any sink sees it;
    the UFS range is streamed in chunks and verified at its end, so on an error the
    caller throws away what the sinks received.
    """
    try:
        data, block_checksum = fetch_block(storage, block, None)
    except StorageError:
        if ufs is None:
            raise
    else:
        for sink in sinks:
            sink(data)
        return block_checksum
    crc = 0
    length = 0
    for chunk in read_ufs_chunks(storage.filesystem(ufs.spec), ufs.path, block.offset,
                                 block.length):
        crc = crc32(chunk, crc)
        length += len(chunk)
        for sink in sinks:
            sink(chunk)
    if length != block.length:
        raise StorageError(ufs.path, f"block {block.block_id} has {length} bytes, "
                                     f"expected {block.length}")
    if block.checksum is not None and crc != block.checksum:
        raise StorageError(ufs.path, f"block {block.block_id} checksum {crc:08x} does not "
                                     f"match {block.checksum:08x}")
    return crc


def cache_blocks(args: LoadTaskArgs, ctx: RunTaskContext) -> list[CachedBlock]:
    """Make the task's worker hold every block of ``args``; on failure or cancel, drop
    the copies this task added."""
    storage = WorkerStorage.of(ctx.resources)
    cache = storage.cache
    added: list[int] = []
    out = []
    try:
        for block in args.blocks:
            ctx.check_canceled()
            if block.block_id in cache:
                held = cache.claim(block.block_id)  # found and claimed in one step
                if held is not None and block.checksum in (None, held):
                    out.append(CachedBlock(block_id=block.block_id, length=block.length,
                                           checksum=held))
                    continue
                cache.remove(block.block_id)  # a copy that does not match: replace it
            writer = cache.writer(block.block_id, block.length)
            if writer is None:  # another task cached it meanwhile
                held = cache.claim(block.block_id)
                if held is None:
                    raise StorageError(f"block {block.block_id}", "vanished while caching")
                out.append(CachedBlock(block_id=block.block_id, length=block.length,
                                       checksum=held))
                continue
            try:
                block_checksum = copy_block(storage, block, args.ufs, [writer.write])
                writer.commit(block_checksum)
            except BaseException:
                writer.abort()
                raise
            added.append(block.block_id)
            out.append(CachedBlock(block_id=block.block_id, length=block.length,
                                   checksum=block_checksum, added=True))
        ctx.check_canceled()
    except BaseException:
        drop_written(cache, added)
        raise
    return out


def drop_written(cache: BlockCache, block_ids: Iterable[int]) -> None:
    """Take back copies a task wrote: each one another task has not claimed since (that
    task's report of it may be recorded already)."""
    for block_id in block_ids:
        cache.remove(block_id, unless_claimed=True)


def record_cached(fs: "FileSystem", blocks: Sequence[CachedBlock], worker: WorkerInfo) -> None:
    """Apply a task's copies to the namespace, all or none; copies of blocks that no
    longer exist are dropped from the worker, and so is every copy if one does not
    match."""
    try:
        stale = fs.namespace.add_locations(
            worker, [(b.block_id, b.length, b.checksum) for b in blocks])
    except StorageError:  # drop what the task wrote; what it found may be recorded
        fs.network.remove_blocks(worker.worker_id, [b.block_id for b in blocks if b.added])
        raise
    if stale:
        fs.network.remove_blocks(worker.worker_id, stale)


def partition(items: list[Any], n: int) -> list[list[Any]]:
    """Alluxio's ``CommonUtils.partition``: ``n`` round-robin sub-lists, empty ones dropped."""
    if len(items) <= n:  # one item each (the common case: a small file's one block)
        return [[item] for item in items]
    parts: list[list[Any]] = [[] for _ in range(n)]
    for i, item in enumerate(items):
        parts[i % n].append(item)
    return [p for p in parts if p]


#: What setting up one block copy (opening, creating, renaming, bookkeeping) costs a
#: worker, in bytes copied in the same time: many small blocks are more work than their
#: bytes say.
BLOCK_SETUP_COST = 1 << 20


class _Chooser:
    """Picks workers for new copies: those with room first, then the fewest copies
    given to them by this job, then the least work given to them by any job so far
    (bytes plus :data:`BLOCK_SETUP_COST` a block, so that big blocks and many small
    ones both spread evenly), then in a rotating order."""

    def __init__(self) -> None:
        self._rotor = itertools.count()
        self._lock = threading.Lock()
        self._work: dict[int, int] = {}  # worker id -> cost of the copies given to it

    def start(self, fs: "FileSystem", ctx: SelectContext | None = None) -> dict[int, int]:
        """Free bytes per worker, to be drawn down as copies are chosen. The children
        of one batched job share one snapshot (in ``ctx.memo``): asking every cache for
        each of them would cost more than choosing, and the snapshot already counts
        what the earlier children were given."""
        if ctx is not None and self in ctx.memo:
            free: dict[int, int] = ctx.memo[self]
            return free
        try:
            free = {u.worker.worker_id: u.free for u in fs.network.usage()}
        except Exception:  # noqa: BLE001 - placement is only a preference
            free = {}
        if ctx is not None:
            ctx.memo[self] = free
        return free

    def choose(self, candidates: Sequence[WorkerInfo], n: int, length: int,
               free: dict[int, int], given: dict[int, int]) -> list[WorkerInfo]:
        size = len(candidates)
        with self._lock:
            rotor = next(self._rotor)
            order = sorted(range(size), key=lambda i: (
                free.get(candidates[i].worker_id, length) < length,
                given.get(candidates[i].worker_id, 0),
                self._work.get(candidates[i].worker_id, 0),
                (i - rotor) % size))
            chosen = [candidates[i] for i in order[:n]]
            for w in chosen:
                self._work[w.worker_id] = (self._work.get(w.worker_id, 0) + length
                                           + BLOCK_SETUP_COST)
        for w in chosen:
            free[w.worker_id] = free.get(w.worker_id, length) - length
            given[w.worker_id] = given.get(w.worker_id, 0) + 1
        return chosen


def _live(workers: Sequence[WorkerInfo]) -> set[int]:
    return {w.worker_id for w in workers}


def _find_block(info: FileInfo, block_id: int) -> FileBlockInfo:
    for block in info.blocks:
        if block.block_id == block_id:
            return block
    raise JobConfigError("block_id", block_id, f"is not a block of {info.path}")


def _file(fs: "FileSystem", path: str, workers: Sequence[WorkerInfo],
          field: str = "file_path") -> FileInfo:
    info = fs.namespace.get_status(path, _live(workers))
    if info.is_folder:
        raise JobConfigError(field, path, "is a directory")
    return info


def _ufs_of(fs: "FileSystem", info: FileInfo) -> UfsLocation | None:
    return fs.namespace.ufs_location(info.path) if info.persisted else None


def _lost_block(info: FileInfo, block: FileBlockInfo) -> StorageError:
    return StorageError(info.path, f"block {block.block_id} is not cached on any live worker "
                                   "and the file is not persisted")


# ---------------------------------------------------------------------- Load


@attrs.frozen(kw_only=True)
class LoadConfig(JobConfig):
    """Cache every block of ``file_path`` on ``replication`` workers (Alluxio's ``Load``).

    ``worker_set`` limits the workers used (by host); ``excluded_worker_set`` leaves
    some out. Blocks already cached often enough are left alone; a file already fully
    loaded gives a job with no tasks.
    """

    name: ClassVar[str] = "Load"

    file_path: str = attrs.field(validator=alluxio_path)
    replication: int = attrs.field(default=1, validator=[v.instance_of(int), v.at_least(1)])
    worker_set: list[str] = attrs.field(factory=list, converter=_as_list, validator=host_list)
    excluded_worker_set: list[str] = attrs.field(factory=list, converter=_as_list,
                                                 validator=host_list)


class LoadPlan(JobPlan[LoadConfig, LoadTaskArgs, list[CachedBlock]]):
    """Per block, the workers still needed to reach the replication; each worker's
    blocks are split round-robin into at most :data:`JOBS_PER_WORKER` tasks."""

    def __init__(self, fs: "FileSystem") -> None:
        self.fs = fs
        self._chooser = _Chooser()

    def select_executors(self, config: LoadConfig, workers: Sequence[WorkerInfo],
                         ctx: SelectContext) -> list[tuple[WorkerInfo, LoadTaskArgs]]:
        info = _file(self.fs, config.file_path, workers)
        candidates = sorted(
            (w for w in workers
             if (not config.worker_set or w.host in config.worker_set)
             and w.host not in config.excluded_worker_set),
            key=lambda w: w.worker_id)
        ufs = _ufs_of(self.fs, info)
        free = self._chooser.start(self.fs, ctx) if any(
            config.replication > len(b.locations) for b in info.blocks) else {}
        given: dict[int, int] = {}
        assigned: dict[int, list[BlockSource]] = {}
        by_id = {w.worker_id: w for w in candidates}
        for block in info.blocks:
            holders = {w.worker_id for w in block.locations}
            needed = config.replication - len(holders)
            if needed <= 0:
                continue
            without = [w for w in candidates if w.worker_id not in holders]
            if len(without) < needed:
                raise RuntimeError(
                    "Failed to find enough block workers to replicate to. Needed "
                    f"{needed} but only found {len(without)}. Available workers without the "
                    f"block: [{', '.join(w.host for w in without)}]")
            if not holders and ufs is None:
                raise _lost_block(info, block)
            for worker in self._chooser.choose(without, needed, block.length, free, given):
                assigned.setdefault(worker.worker_id, []).append(block_source(block))
        return [(by_id[worker_id], LoadTaskArgs(file_path=info.path, ufs=ufs, blocks=part))
                for worker_id, blocks in sorted(assigned.items())
                for part in partition(blocks, JOBS_PER_WORKER)]

    def run_task(self, config: LoadConfig, args: LoadTaskArgs,
                 ctx: RunTaskContext) -> list[CachedBlock]:
        return cache_blocks(args, ctx)

    def on_task_completed(self, config: LoadConfig, args: LoadTaskArgs,
                          result: list[CachedBlock], *, worker: WorkerInfo) -> None:
        record_cached(self.fs, result, worker)

    def task_size(self, config: LoadConfig, args: LoadTaskArgs) -> int:
        return sum(block.length for block in args.blocks)

    def undo_task(self, config: LoadConfig, args: LoadTaskArgs, result: list[CachedBlock],
                  ctx: RunTaskContext) -> None:
        """Drop the copies the task wrote (not those it found, nor those another task
        has reported since)."""
        drop_written(WorkerStorage.of(ctx.resources).cache,
                     [block.block_id for block in result if block.added])

    def describe_task(self, config: LoadConfig, args: LoadTaskArgs) -> str:
        return (f"LoadTask{{FilePath={args.file_path}, "
                f"BlockIds={[b.block_id for b in args.blocks]}}}")

    def reschedule(self, config: LoadConfig, args: LoadTaskArgs, lost: WorkerInfo,
                   workers: Sequence[WorkerInfo]) -> WorkerInfo | None:
        """A block may go to any live worker that does not hold it yet."""
        holders = set().union(*(set(b.peers) for b in args.blocks)) if args.blocks else set()
        for worker in sorted(workers, key=lambda w: w.worker_id):
            if worker.worker_id not in holders and worker.worker_id != lost.worker_id:
                return worker
        return None


# -------------------------------------------------------- Evict / Replicate


@attrs.frozen(kw_only=True)
class EvictConfig(JobConfig):
    """Remove ``replicas`` cached copies of block ``block_id`` of ``path`` (Alluxio 2.5's
    ``Evict``). The last copy of a file that is not persisted is never removed."""

    name: ClassVar[str] = "Evict"

    path: str = attrs.field(validator=alluxio_path)
    block_id: int = attrs.field(validator=[v.instance_of(int), v.at_least(0)])
    replicas: int = attrs.field(default=1, validator=[v.instance_of(int), v.at_least(1)])


@attrs.frozen(kw_only=True)
class ReplicateConfig(JobConfig):
    """Add ``replicas`` cached copies of block ``block_id`` of ``path`` (Alluxio 2.5's
    ``Replicate``); fewer are made when fewer workers lack the block."""

    name: ClassVar[str] = "Replicate"

    path: str = attrs.field(validator=alluxio_path)
    block_id: int = attrs.field(validator=[v.instance_of(int), v.at_least(0)])
    replicas: int = attrs.field(default=1, validator=[v.instance_of(int), v.at_least(1)])


@attrs.frozen(kw_only=True)
class SetReplicaConfig(JobConfig):
    """Bring block ``block_id`` of ``path`` to ``replicas`` cached copies, adding or
    removing copies (Alluxio 2.8's ``SetReplica``). Refused while another unfinished
    SetReplica job acts on the same block."""

    name: ClassVar[str] = "SetReplica"

    path: str = attrs.field(validator=alluxio_path)
    block_id: int = attrs.field(validator=[v.instance_of(int), v.at_least(0)])
    replicas: int = attrs.field(validator=[v.instance_of(int), v.at_least(0)])


class _ReplicaPlan(JobPlan[Any, Any, Any]):
    """Shared selection and effects of the evict and replicate job types."""

    def __init__(self, fs: "FileSystem") -> None:
        self.fs = fs
        self._chooser = _Chooser()

    def _evict(self, info: FileInfo, block: FileBlockInfo, n: int
               ) -> list[tuple[WorkerInfo, EvictTaskArgs]]:
        holders = sorted(block.locations, key=lambda w: -w.worker_id)
        n = min(n, len(holders))
        if n and n >= len(holders) and not info.persisted:
            raise RuntimeError(f"Cannot evict the last cached copy of block {block.block_id} of "
                               f"{info.path}: the file is not persisted")
        return [(w, EvictTaskArgs(block_id=block.block_id)) for w in holders[:n]]

    def _replicate(self, info: FileInfo, block: FileBlockInfo, n: int,
                   workers: Sequence[WorkerInfo]) -> list[tuple[WorkerInfo, LoadTaskArgs]]:
        holders = {w.worker_id for w in block.locations}
        without = sorted((w for w in workers if w.worker_id not in holders),
                         key=lambda w: w.worker_id)
        n = min(n, len(without))
        if n == 0:
            return []
        ufs = _ufs_of(self.fs, info)
        if not holders and ufs is None:
            raise _lost_block(info, block)
        args = LoadTaskArgs(file_path=info.path, ufs=ufs, blocks=[block_source(block)])
        chosen = self._chooser.choose(without, n, block.length, self._chooser.start(self.fs), {})
        return [(w, args) for w in chosen]

    def _block(self, path: str, block_id: int, workers: Sequence[WorkerInfo]
               ) -> tuple[FileInfo, FileBlockInfo]:
        if not workers:
            raise RuntimeError("No worker is available")
        info = _file(self.fs, path, workers, "path")
        return info, _find_block(info, block_id)

    def run_task(self, config: Any, args: Any, ctx: RunTaskContext) -> Any:
        if isinstance(args, EvictTaskArgs):
            return WorkerStorage.of(ctx.resources).cache.remove(args.block_id)
        return cache_blocks(args, ctx)

    def on_task_completed(self, config: Any, args: Any, result: Any, *,
                          worker: WorkerInfo) -> None:
        if isinstance(args, EvictTaskArgs):
            self.fs.namespace.remove_location(args.block_id, worker.worker_id)
        else:
            record_cached(self.fs, result, worker)

    def describe_task(self, config: Any, args: Any) -> str:
        if isinstance(args, EvictTaskArgs):
            return f"EvictTask{{BlockId={args.block_id}}}"
        return f"ReplicateTask{{FilePath={args.file_path}, BlockId={args.blocks[0].block_id}}}"

    def reschedule(self, config: Any, args: Any, lost: WorkerInfo,
                   workers: Sequence[WorkerInfo]) -> WorkerInfo | None:
        return None  # the copy to add or drop belongs to that worker


class EvictPlan(_ReplicaPlan):
    def select_executors(self, config: EvictConfig, workers: Sequence[WorkerInfo],
                         ctx: SelectContext) -> list[tuple[WorkerInfo, Any]]:
        info, block = self._block(config.path, config.block_id, workers)
        return list(self._evict(info, block, config.replicas))


class ReplicatePlan(_ReplicaPlan):
    def select_executors(self, config: ReplicateConfig, workers: Sequence[WorkerInfo],
                         ctx: SelectContext) -> list[tuple[WorkerInfo, Any]]:
        info, block = self._block(config.path, config.block_id, workers)
        return list(self._replicate(info, block, config.replicas, workers))


class SetReplicaPlan(_ReplicaPlan):
    """Evicts or replicates to reach the target; a second job on the same block is
    refused only while the first is unfinished (Alluxio also counts finished ones)."""

    def __init__(self, fs: "FileSystem") -> None:
        super().__init__(fs)
        self._active: dict[tuple[str, int], int] = {}
        self._active_lock = threading.Lock()

    def select_executors(self, config: SetReplicaConfig, workers: Sequence[WorkerInfo],
                         ctx: SelectContext) -> list[tuple[WorkerInfo, Any]]:
        self._claim(config, ctx.job_id)
        info, block = self._block(config.path, config.block_id, workers)
        diff = len(block.locations) - config.replicas
        if diff > 0:
            return list(self._evict(info, block, diff))
        if diff < 0:
            return list(self._replicate(info, block, -diff, workers))
        return []

    def _claim(self, config: SetReplicaConfig, job_id: int) -> None:
        key = (config.path, config.block_id)
        master = self.fs._master
        with self._active_lock:
            other = self._active.get(key)
            if other is not None and other != job_id and master is not None:
                try:
                    busy = not master.get_status(other).status.is_finished
                except JobNotFoundError:
                    busy = False
                if busy:
                    raise RuntimeError(f"There's SetReplica job running for path:{config.path} "
                                       f"blockId:{config.block_id}, try later")
            self._active[key] = job_id
            if len(self._active) > 1024:  # forget claims of finished jobs
                for k, job in list(self._active.items()):
                    if master is None or _finished(master, job):
                        del self._active[k]


def _finished(master: Any, job_id: int) -> bool:
    try:
        return bool(master.get_status(job_id).status.is_finished)
    except JobNotFoundError:
        return True
