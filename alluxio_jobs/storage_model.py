"""The storage records: what the namespace hands out and what writes commit.

These are the plain, serializable values of the embedded storage (file and block
snapshots, mount points, write types, persistence states), kept apart from
:class:`~alluxio_jobs.storage.Namespace` so that the namespace's internals, the file
system client and the plans can share them without importing each other.
:mod:`alluxio_jobs.storage` re-exports all of them.
"""

import enum

import attrs

from alluxio_jobs._validate import check_int
from alluxio_jobs.errors import JobConfigError
from alluxio_jobs.model import WorkerInfo

__all__ = [
    "DEFAULT_BLOCK_SIZE",
    "BlockCommit",
    "FileBlockInfo",
    "FileInfo",
    "MountInfo",
    "PersistenceState",
    "WriteType",
    "check_block_size",
    "write_type_of",
]

#: Alluxio's ``alluxio.user.block.size.bytes.default``.
DEFAULT_BLOCK_SIZE = 64 * 1024 * 1024


class WriteType(enum.StrEnum):
    """Where a write goes (Alluxio's ``WriteType``)."""

    MUST_CACHE = "MUST_CACHE"
    CACHE_THROUGH = "CACHE_THROUGH"
    THROUGH = "THROUGH"
    ASYNC_THROUGH = "ASYNC_THROUGH"

    @property
    def caches(self) -> bool:
        return self is not WriteType.THROUGH

    @property
    def writes_ufs(self) -> bool:
        """True when the write itself goes to the UFS (not later, in the background)."""
        return self in (WriteType.THROUGH, WriteType.CACHE_THROUGH)

    @property
    def needs_ufs(self) -> bool:
        return self is not WriteType.MUST_CACHE

    @property
    def state(self) -> "PersistenceState":
        """The persistence state a file has right after such a write."""
        if self.writes_ufs:
            return PersistenceState.PERSISTED
        if self is WriteType.ASYNC_THROUGH:
            return PersistenceState.TO_BE_PERSISTED
        return PersistenceState.NOT_PERSISTED


class PersistenceState(enum.StrEnum):
    """Whether a file's bytes are in its UFS (Alluxio's ``PersistenceState``).

    LOST is reported for a file that is not persisted and has a block that no live
    worker caches.
    """

    NOT_PERSISTED = "NOT_PERSISTED"
    TO_BE_PERSISTED = "TO_BE_PERSISTED"
    PERSISTED = "PERSISTED"
    LOST = "LOST"


@attrs.frozen(kw_only=True)
class MountInfo:
    """A mount point: ``alluxio_path`` shows ``ufs_root`` of the filesystem ``protocol``."""

    alluxio_path: str
    ufs_root: str
    protocol: str
    mount_id: int


@attrs.frozen(kw_only=True)
class FileBlockInfo:
    """One block of a file: where it sits in the file, its checksum once known, and
    the workers caching it."""

    block_id: int
    offset: int
    length: int
    checksum: int | None
    locations: list[WorkerInfo] = attrs.field(factory=list)


@attrs.frozen(kw_only=True)
class FileInfo:
    """A snapshot of a file or directory (Alluxio's ``URIStatus``)."""

    path: str
    is_folder: bool
    file_id: int = 0
    length: int = 0
    block_size: int = 0
    blocks: list[FileBlockInfo] = attrs.field(factory=list)
    persistence_state: PersistenceState = PersistenceState.NOT_PERSISTED
    ufs_path: str = ""
    replication_min: int = 0
    replication_max: int = -1
    in_alluxio_percentage: int = 0
    last_modified: int = 0
    mount_point: bool = False

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def block_ids(self) -> list[int]:
        return [b.block_id for b in self.blocks]

    @property
    def persisted(self) -> bool:
        return self.persistence_state is PersistenceState.PERSISTED

    @property
    def fully_cached(self) -> bool:
        return all(b.locations for b in self.blocks)

    def cached_replicas(self) -> int:
        """The fewest copies any block has (0 if one is not cached; files with no
        blocks count as fully cached at any replication)."""
        return min((len(b.locations) for b in self.blocks), default=1 << 30)


@attrs.frozen(kw_only=True)
class BlockCommit:
    """A block of a file being committed: its bytes are already on ``locations``."""

    block_id: int
    length: int
    checksum: int
    locations: list[WorkerInfo] = attrs.field(factory=list)


def check_block_size(block_size: object) -> None:
    check_int("block_size", block_size, 1)


def write_type_of(value: object) -> WriteType:
    """``value`` as a WriteType; JobConfigError naming it if it is not one."""
    try:
        return WriteType(value)  # type: ignore[arg-type]
    except ValueError:
        raise JobConfigError("write_type", value,
                             f"must be one of {[w.value for w in WriteType]}") from None
