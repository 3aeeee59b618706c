"""Data transformation: the Compact job (Alluxio's ``transform table``).

A Compact job coalesces the many small files of a table directory into at most
``max_num_files`` files, converting them between CSV (optionally gzipped), JSON lines and
Parquet on the way. The master lists the input and groups the files (metadata only); each
task streams its groups of files, batch by batch, into one output file ``part-<n>.<ext>``
each, written under a temporary staging directory; the master commits (renames into
place) every output file only once every task completed. A failed, canceled or
corrupt-input job leaves the output location as it was, and the input is never changed.

Paths are Alluxio paths (``/tables/sales``) of a :class:`~alluxio_jobs.filesystem.FileSystem`
whose plans were registered with :func:`~alluxio_jobs.filesystem.register_storage_plans`,
or fsspec URLs (``file:///srv/sales``, ``memory://bucket/sales``) read and written by the
workers directly. :func:`transform` accepts Alluxio's definition syntax and runs one
Compact per Hive-style partition (``key=value/`` folders) as a composite job.

Parquet goes through ``pyarrow``, the optional extra ``alluxio_jobs[parquet]``, imported
only when a job reads or writes Parquet.
"""

import contextlib
import csv
import enum
import functools
import gzip
import importlib
import io
import json
import logging
import re
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any, ClassVar, Protocol, cast

import attrs
import fsspec
from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem

from alluxio_jobs import _validate as v
from alluxio_jobs.blockcache import RESOURCE_KEY, WorkerStorage
from alluxio_jobs.checksums import crc32
from alluxio_jobs.errors import AlluxioJobsError, JobConfigError, NotFoundError, StorageError
from alluxio_jobs.model import JobInfo, Status, WorkerInfo
from alluxio_jobs.plans.base import (
    JobConfig,
    JobPlan,
    PlanRegistry,
    RunTaskContext,
    SelectContext,
)
from alluxio_jobs.plans.cache import BlockSource, block_source, fetch_block, partition
from alluxio_jobs.plans.workflow import CompositeConfig
from alluxio_jobs.storage import BlockCommit, PersistenceState, normalize_path
from alluxio_jobs.ufs import (
    UfsLocation,
    UfsWriter,
    is_temp_name,
    temp_ufs_path,
    ufs_call,
    ufs_remove_quietly,
)

if TYPE_CHECKING:
    from alluxio_jobs.filesystem import FileSystem
    from alluxio_jobs.master import JobMaster

__all__ = [
    "DEFAULT_MAX_NUM_FILES",
    "DEFAULT_MIN_FILE_SIZE",
    "PARQUET_EXTRA",
    "TASKS_PER_WORKER",
    "CompactCommitConfig",
    "CompactCommitPlan",
    "CompactConfig",
    "CompactGroup",
    "CompactInput",
    "CompactPart",
    "CompactPlan",
    "CompactResult",
    "CompactTaskArgs",
    "TableFormat",
    "compression_ratio",
    "group_files",
    "parse_definition",
    "register_transform_plans",
    "transform",
]

logger = logging.getLogger(__name__)

#: Alluxio's ``CompactDefinition.TASKS_PER_WORKER``: a worker's groups are spread
#: round-robin over at most this many tasks.
TASKS_PER_WORKER = 10
#: Defaults of Alluxio's ``CompactAction``: ``file.count.max`` and ``file.size.min``.
DEFAULT_MAX_NUM_FILES = 100
DEFAULT_MIN_FILE_SIZE = 2 * 1024**3
#: How to install what Parquet needs.
PARQUET_EXTRA = "pip install 'alluxio_jobs[parquet]'"

_SUCCESS_FILE = "_SUCCESS"
_CRC_SUFFIX = ".crc"
_MANIFEST = "_alluxio_compact.json"
#: Rows per batch on the pure-Python (CSV and JSON lines) path.
_BATCH_ROWS = 4096
#: Bytes of CSV text per batch on the Arrow path.
_ARROW_BLOCK = 1 << 20
#: Rows per batch read from a Parquet file.
_PARQUET_BATCH_ROWS = 65536
#: A Parquet row group is written once this many bytes of batches are pending.
_ROW_GROUP_BYTES = 32 << 20
_IO_BUFFER = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"


class TableFormat(enum.StrEnum):
    """The file formats a Compact job reads and writes."""

    #: Comma-separated values with a header row; every column is text. Gzipped input
    #: files are recognised by their content.
    CSV = "csv"
    #: Parquet, through ``pyarrow`` (``alluxio_jobs[parquet]``).
    PARQUET = "parquet"
    #: JSON lines: one object per line, the same keys on every line.
    JSON = "json"

    @classmethod
    def of(cls, value: object, field: str) -> "TableFormat":
        if isinstance(value, TableFormat):
            return value
        text = value.lower() if isinstance(value, str) else ""
        if text == "jsonl":
            return cls.JSON
        try:
            return cls(text)
        except ValueError:
            raise JobConfigError(field, value,
                                 f"must be one of {[f.value for f in cls]}") from None


_TEXT_COMPRESSIONS = ("none", "gzip")
_PARQUET_COMPRESSIONS = ("none", "snappy", "gzip", "zstd", "brotli", "lz4")


def _output_compression(fmt: TableFormat, compression: str) -> str:
    if not compression:
        return "snappy" if fmt is TableFormat.PARQUET else "none"
    return compression


def _extension(fmt: TableFormat, compression: str) -> str:
    if fmt is TableFormat.PARQUET:
        return "parquet"
    return fmt.value + (".gz" if compression == "gzip" else "")


def compression_ratio(fmt: TableFormat, file_name: str) -> float:
    """Alluxio's ``COMPRESSION_RATIO``: how many bytes of this input make one byte of
    Parquet (PARQUET 1.0, CSV 5.0, GZIP_CSV 2.5; JSON lines count as CSV)."""
    if fmt is TableFormat.PARQUET:
        return 1.0
    return 2.5 if file_name.endswith(".gz") else 5.0


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


def _max_num_files(_inst: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
    v.instance_of(int)(_inst, attribute, value)
    if value < 1:
        raise JobConfigError(attribute.name, value,
                             "Write action must have positive number of files")


def _compression(inst: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
    v.instance_of(str)(inst, attribute, value)
    if value == "":
        return
    allowed = (_PARQUET_COMPRESSIONS if inst.output_format is TableFormat.PARQUET
               else _TEXT_COMPRESSIONS)
    if value not in allowed:
        raise JobConfigError(attribute.name, value,
                             f"must be one of {list(allowed)} for {inst.output_format.value} "
                             "output")


def _input_format(value: object) -> TableFormat:
    return TableFormat.of(value, "input_format")


def _output_format(value: object) -> TableFormat:
    return TableFormat.of(value, "output_format")


def _as_list(value: object) -> object:
    return list(value) if isinstance(value, list | tuple) else value


# -------------------------------------------------------------------- configs


@attrs.frozen(kw_only=True)
class CompactConfig(JobConfig):
    """Coalesce the files of directory ``input`` into at most ``max_num_files`` files
    ``part-<n>.<ext>`` in directory ``output`` (Alluxio's ``Compact``).

    ``min_file_size`` is the wished size of an output file in bytes of Parquet; the
    input bytes per output file are that times the input's compression ratio.
    ``compression``: for CSV and JSON output ``"none"`` or ``"gzip"``; for Parquet
    ``"snappy"`` (the default), ``"gzip"``, ``"zstd"``, ``"brotli"``, ``"lz4"`` or
    ``"none"``. An ``output`` that holds files is replaced only with ``overwrite``.

    ``staging`` is set by :func:`transform` for the partitions of a table: the job then
    stages its files there and leaves the commit to a :class:`CompactCommitConfig`.
    """

    name: ClassVar[str] = "Compact"

    input: str = attrs.field(validator=_location)
    output: str = attrs.field(validator=_location)
    input_format: TableFormat = attrs.field(default=TableFormat.CSV,
                                            converter=_input_format)
    output_format: TableFormat = attrs.field(default=TableFormat.PARQUET,
                                             converter=_output_format)
    max_num_files: int = attrs.field(default=DEFAULT_MAX_NUM_FILES, validator=_max_num_files)
    min_file_size: int = attrs.field(default=DEFAULT_MIN_FILE_SIZE,
                                     validator=[v.instance_of(int), v.at_least(0)])
    compression: str = attrs.field(default="", validator=_compression)
    overwrite: bool = attrs.field(default=False, validator=v.instance_of(bool))
    staging: str = attrs.field(default="", validator=_optional_location)

    def __attrs_post_init__(self) -> None:
        if _is_url(self.input) != _is_url(self.output):
            raise JobConfigError("output", self.output,
                                 "must be a URL when input is one, and an Alluxio path "
                                 "when input is one")
        if _overlaps(self.input, self.output):
            raise JobConfigError("output", self.output,
                                 f"must not be {self.input} or inside it, nor contain it")


@attrs.frozen(kw_only=True)
class CompactCommitConfig(JobConfig):
    """Commit what the Compact jobs of a partitioned table staged under ``staging``:
    every partition's files move to ``output/<partition>/`` together, or none does. Run
    by :func:`transform` after the partitions' Compact jobs; it has no task."""

    name: ClassVar[str] = "CompactCommit"

    output: str = attrs.field(validator=_location)
    staging: str = attrs.field(validator=_location)
    partitions: list[str] = attrs.field(factory=list, converter=_as_list,
                                        validator=v.instance_of(list))
    overwrite: bool = attrs.field(default=False, validator=v.instance_of(bool))


def _overlaps(a: str, b: str) -> bool:
    return a == b or a.startswith(b.rstrip("/") + "/") or b.startswith(a.rstrip("/") + "/")


# ----------------------------------------------------------------- task data


@attrs.frozen(kw_only=True)
class CompactInput:
    """One input file: ``path`` as the user named it, its ``length``, and where its bytes
    are: the blocks of an Alluxio file (read from caches first) and/or a UFS file."""

    path: str
    length: int
    ufs: UfsLocation | None = None
    blocks: list[BlockSource] = attrs.field(factory=list)


@attrs.frozen(kw_only=True)
class CompactGroup:
    """Input files compacted into output file number ``index``."""

    index: int
    inputs: list[CompactInput]


@attrs.frozen(kw_only=True)
class CompactTaskArgs:
    """Groups to compact, each into one file in the ``staging`` directory; output files
    get a CRC-32 per ``block_size`` bytes (0: none)."""

    groups: list[CompactGroup]
    staging: UfsLocation
    block_size: int


@attrs.frozen(kw_only=True)
class CompactPart:
    """A staged output file: ``name`` (``part-<n>.<ext>``), its temporary UFS path,
    length, per-block checksums, rows, schema (``[name, type]`` pairs) and the first
    input file it was read from."""

    index: int
    name: str
    temp_path: str
    length: int
    block_size: int
    checksums: list[int]
    rows: int
    inputs: int
    schema: list[list[str]]
    first_input: str


@attrs.frozen(kw_only=True)
class CompactResult:
    """A task's staged files."""

    parts: list[CompactPart]


# ------------------------------------------------------------------ grouping


def group_files(sizes: Sequence[int], max_num_files: int, min_group_size: int
                ) -> list[list[int]]:
    """Alluxio's greedy grouping (``CompactDefinition.selectExecutors``): indexes of
    ``sizes`` in at most ``max_num_files`` groups of consecutive files.

    The group size aimed at is ``min_group_size``, raised to ``total / max_num_files``
    when that many groups would not hold everything. A file joins the current group if
    the group is empty, is the last one allowed, stays within half the aim with it, or
    gets closer to the aim with it; otherwise it starts a new group.
    """
    if not sizes:
        return []
    total = float(sum(sizes))
    aim = min_group_size
    if aim <= 0 and total == 0:
        aim = 0
    elif aim <= 0 or total / aim > max_num_files:
        aim = int(total / max_num_files + 0.5)  # Java's Math.round
    half = aim // 2
    groups: list[list[int]] = []
    group: list[int] = []
    current = 0
    for i, size in enumerate(sizes):
        if (not group or len(groups) == max_num_files - 1 or current + size <= half
                or abs(current + size - aim) <= abs(current - aim)):
            group.append(i)
            current += size
        else:
            groups.append(group)
            group = [i]
            current = size
    if group:
        groups.append(group)
    return groups


def _is_input(name: str, is_dir: bool) -> bool:
    return not (is_dir or name == _SUCCESS_FILE or name.endswith(_CRC_SUFFIX)
                or is_temp_name(name))


# ---------------------------------------------------------- where paths live


@attrs.frozen
class _Entry:
    name: str
    path: str
    length: int
    is_dir: bool
    source: Any = None  # the FileInfo of an Alluxio file


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

    def input_of(self, entry: _Entry) -> CompactInput: ...

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

    def input_of(self, entry: _Entry) -> CompactInput:
        return CompactInput(path=entry.path, length=entry.length, ufs=self.ufs(entry.path)[1])

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

    def input_of(self, entry: _Entry) -> CompactInput:
        info = entry.source
        if not info.persisted and any(not b.locations for b in info.blocks):
            raise StorageError(info.path, "a block is not cached on any live worker and the "
                                          "file is not persisted")
        ufs = self.fs.namespace.ufs_location(info.path) if info.persisted else None
        blocks = [block_source(b) for b in info.blocks] if info.in_alluxio_percentage else []
        return CompactInput(path=info.path, length=info.length, ufs=ufs, blocks=blocks)

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


# ------------------------------------------------------------- pyarrow, lazily


def _arrow(field: str) -> tuple[Any, Any, Any]:
    """``(pyarrow, pyarrow.csv, pyarrow.parquet)``, or a JobConfigError naming the extra."""
    try:
        pa = importlib.import_module("pyarrow")
        pacsv = importlib.import_module("pyarrow.csv")
        pq = importlib.import_module("pyarrow.parquet")
    except ImportError as exc:
        raise JobConfigError(field, "parquet", "needs pyarrow, which is not installed; "
                                               f"install it with: {PARQUET_EXTRA}") from exc
    return pa, pacsv, pq


def _needs_arrow(config: CompactConfig) -> tuple[Any, Any, Any] | None:
    if config.input_format is TableFormat.PARQUET:
        return _arrow("input_format")
    if config.output_format is TableFormat.PARQUET:
        return _arrow("output_format")
    return None


# ------------------------------------------------------------ reading inputs

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

    def __init__(self, storage: WorkerStorage, item: CompactInput) -> None:
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

    def __init__(self, item: CompactInput, resources: Mapping[str, Any]) -> None:
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


Schema = list[list[str]]  # [[column name, type name], ...]


def _check_names(path: str, names: list[str]) -> None:
    seen = set()
    for name in names:
        if name in seen:
            raise StorageError(path, f"column {name!r} appears twice")
        seen.add(name)


def _csv_header(source: _Source) -> list[str] | None:
    with _reading(source.path, "CSV"), source.text() as text:
        for row in csv.reader(text, strict=True):
            if row:
                _check_names(source.path, row)
                return row
    return None


_JSON_TYPES: tuple[tuple[type, str], ...] = ((bool, "bool"), (int, "int64"), (float, "double"),
                                             (str, "string"))


def _json_type(path: str, line: int, name: str, value: object) -> str | None:
    if value is None:
        return None
    for kind, type_name in _JSON_TYPES:
        if isinstance(value, kind):
            return type_name
    raise StorageError(path, f"line {line}: column {name!r} holds a nested value "
                             f"({type(value).__name__}); only scalar values are supported")


def _unify(a: str, b: str) -> str | None:
    """The type holding both ``a`` and ``b`` (JSON lines), or None."""
    if a == b or b == "null":
        return a
    if a == "null":
        return b
    if {a, b} == {"int64", "double"}:
        return "double"
    return None


def _json_lines(text: IO[str], path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(text, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise StorageError(path, f"line {number}: not valid JSON: {exc}") from exc
        if not isinstance(obj, dict):
            raise StorageError(path, f"line {number}: not a JSON object")
        yield number, obj


def _json_schema(source: _Source, exact: bool) -> Schema | None:
    """Column names (from the first line) and types, reading until every column has
    shown a value (or to the end of the file). ``exact``: read on while a column holds
    integers only, as a later float makes it a float column."""
    names: list[str] | None = None
    types: dict[str, str] = {}
    with _reading(source.path, "JSON lines"), source.text() as text:
        for number, obj in _json_lines(text, source.path):
            if names is None:
                names = list(obj)
            _check_keys(source.path, number, names, obj)
            for name in names:
                found = _json_type(source.path, number, name, obj[name])
                if found is None:
                    continue
                known = types.get(name)
                merged = found if known is None else _unify(known, found)
                if merged is None:
                    raise StorageError(source.path, f"line {number}: column {name!r} holds "
                                                    f"{found} after {known}")
                types[name] = merged
            if len(types) == len(names) and not (exact and "int64" in types.values()):
                break
    if names is None:
        return None
    return [[name, types.get(name, "null")] for name in names]


def _check_keys(path: str, number: int, names: list[str], obj: dict[str, Any]) -> None:
    if len(obj) != len(names) or any(name not in obj for name in names):
        raise StorageError(path, f"line {number}: keys {sorted(obj)} differ from the first "
                                 f"line's {sorted(names)}")


def _schema_of(source: _Source, fmt: TableFormat, arrow: tuple[Any, Any, Any] | None,
               exact: bool) -> Schema | None:
    """The file's schema, or None for a file with no data and no header at all."""
    if source.item.length == 0:
        return None
    if fmt is TableFormat.CSV:
        header = _csv_header(source)
        return None if header is None else [[name, "string"] for name in header]
    if fmt is TableFormat.JSON:
        return _json_schema(source, exact)
    assert arrow is not None
    with _reading(source.path, "Parquet"), source.parquet(arrow[2]) as parquet:
        schema = parquet.schema_arrow
        return [[field.name, str(field.type)] for field in schema]


def _format_schema(schema: Schema) -> str:
    return "(" + ", ".join(f"{n}: {t}" for n, t in schema) + ")"


def _merge(merged: Schema, schema: Schema, first: str, path: str, fmt: TableFormat) -> Schema:
    """``merged`` (read from ``first``) and ``schema`` (from ``path``) as one schema, in
    ``merged``'s column order; a JobConfigError naming both files if they differ."""
    other = {pair[0]: pair[1] for pair in schema}
    out = []
    ok = len(other) == len(schema) == len(merged)
    for name, type_name in merged:
        if not ok or name not in other:
            ok = False
            break
        unified = (_unify(type_name, other[name]) if fmt is TableFormat.JSON
                   else type_name if type_name == other[name] else None)
        if unified is None:
            ok = False
            break
        out.append([name, unified])
    if not ok:
        raise JobConfigError("input", path.rsplit("/", 1)[0],
                             f"{first} and {path} have different schemas: "
                             f"{_format_schema(merged)} vs {_format_schema(schema)}")
    return out


def _arrow_type(pa: Any, type_name: str) -> Any:
    simple = {"string": pa.string(), "int64": pa.int64(), "double": pa.float64(),
              "bool": pa.bool_(), "null": pa.null()}
    return simple[type_name]


# ---------------------------------------------------------- batches of rows

Rows = list[tuple[Any, ...]]


def _csv_rows(source: _Source, names: list[str]) -> Iterator[Rows]:
    """The rows of a CSV file in batches, columns in ``names`` order, '' read as None."""
    with _reading(source.path, "CSV"), source.text() as text:
        reader = csv.reader(text, strict=True)
        header = next((row for row in reader if row), None)
        if header is None:
            return
        order = None if header == names else [header.index(n) for n in names]
        width = len(header)
        batch: Rows = []
        for row in reader:
            if not row:
                continue
            if len(row) != width:
                raise StorageError(source.path, f"line {reader.line_num}: expected {width} "
                                                f"fields, got {len(row)}")
            if order is not None:
                row = [row[i] for i in order]
            batch.append(tuple([x or None for x in row]))
            if len(batch) >= _BATCH_ROWS:
                yield batch
                batch = []
        if batch:
            yield batch


def _json_rows(source: _Source, names: list[str]) -> Iterator[Rows]:
    with _reading(source.path, "JSON lines"), source.text() as text:
        batch: Rows = []
        for number, obj in _json_lines(text, source.path):
            _check_keys(source.path, number, names, obj)
            batch.append(tuple([obj[name] for name in names]))
            if len(batch) >= _BATCH_ROWS:
                yield batch
                batch = []
        if batch:
            yield batch


def _rows_of(batch: Any) -> Rows:
    """An Arrow record batch as rows."""
    columns = [column.to_pylist() for column in batch.columns]
    return list(zip(*columns, strict=True)) if columns else [()] * batch.num_rows


def _arrow_batch(pa: Any, rows: Rows, schema: Any) -> Any:
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in schema]
    arrays = [pa.array(list(col), type=field.type)
              for col, field in zip(columns, schema, strict=True)]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _batches(source: _Source, fmt: TableFormat, schema: Schema, file_names: list[str],
             arrow_schema: Any, arrow: tuple[Any, Any, Any] | None) -> Iterator[Any]:
    """The rows of one input in the group's column order: Arrow record batches when
    ``arrow_schema`` is given (Parquet output), else lists of row tuples."""
    names = [n for n, _ in schema]
    if arrow_schema is not None:
        assert arrow is not None
        pa, pacsv, pq = arrow
        if fmt is TableFormat.CSV:
            with _reading(source.path, "CSV"), contextlib.closing(
                    source.arrow_stream(pa)) as stream:
                reader = pacsv.open_csv(
                    stream,
                    read_options=pacsv.ReadOptions(block_size=_ARROW_BLOCK),
                    parse_options=pacsv.ParseOptions(newlines_in_values=True),
                    convert_options=pacsv.ConvertOptions(
                        column_types={n: pa.string() for n in file_names},
                        strings_can_be_null=True, quoted_strings_can_be_null=True,
                        null_values=[""]))
                for batch in reader:
                    yield batch.select(names)
            return
        if fmt is TableFormat.PARQUET:
            with _reading(source.path, "Parquet"), source.parquet(pq) as parquet:
                for batch in parquet.iter_batches(batch_size=_PARQUET_BATCH_ROWS):
                    yield pa.RecordBatch.from_arrays(batch.select(names).columns,
                                                     schema=arrow_schema)
            return
        for rows in _json_rows(source, names):
            with _reading(source.path, f"Parquet columns {_format_schema(schema)}"):
                converted = _arrow_batch(pa, rows, arrow_schema)
            yield converted
        return
    if fmt is TableFormat.CSV:
        yield from _csv_rows(source, names)
    elif fmt is TableFormat.JSON:
        yield from _json_rows(source, names)
    else:
        assert arrow is not None
        with _reading(source.path, "Parquet"), source.parquet(arrow[2]) as parquet:
            for batch in parquet.iter_batches(batch_size=_PARQUET_BATCH_ROWS):
                yield _rows_of(batch.select(names))


# ----------------------------------------------------------- writing outputs


class _Sink(io.RawIOBase):
    """Bytes into a UFS writer, with a CRC-32 per ``block_size`` bytes."""

    def __init__(self, writer: UfsWriter, block_size: int) -> None:
        self._writer = writer
        self._block_size = block_size
        self._crc = 0
        self._in_block = 0
        self.checksums: list[int] = []
        self.length = 0

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.length

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        n = view.nbytes
        self._writer.write(view)
        size = self._block_size
        if size:
            offset = 0
            while offset < n:
                take = min(n - offset, size - self._in_block)
                self._crc = crc32(view[offset:offset + take], self._crc)
                self._in_block += take
                offset += take
                if self._in_block == size:
                    self.checksums.append(self._crc)
                    self._crc, self._in_block = 0, 0
        self.length += n
        return n

    def final_checksums(self) -> list[int]:
        if self._in_block:
            self.checksums.append(self._crc)
            self._crc, self._in_block = 0, 0
        return self.checksums


def _cell(value: Any) -> Any:
    """A value as CSV text (None stays None: an empty field)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bytes):
        return value.hex()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


class _TableWriter:
    """One output file in one format; rows or Arrow batches in, bytes to ``out``."""

    def __init__(self, out: IO[bytes], fmt: TableFormat, compression: str, schema: Schema,
                 arrow_schema: Any, arrow: tuple[Any, Any, Any] | None,
                 cells_are_text: bool) -> None:
        self.fmt = fmt
        self.names = [n for n, _ in schema]
        self._cells_are_text = cells_are_text
        self._gzip: gzip.GzipFile | None = None
        self._text: io.TextIOWrapper | None = None
        self._parquet: Any = None
        self._pending: list[Any] = []
        self._pending_bytes = 0
        self._arrow_schema = arrow_schema
        if fmt is TableFormat.PARQUET:
            assert arrow is not None
            self._table = arrow[0].Table
            self._parquet = arrow[2].ParquetWriter(out, arrow_schema, compression=compression)
            return
        sink: IO[bytes] = out
        if compression == "gzip":
            self._gzip = gzip.GzipFile(fileobj=out, mode="wb", mtime=0)
            sink = cast(IO[bytes], self._gzip)
        self._text = io.TextIOWrapper(sink, encoding="utf-8", newline="")
        if fmt is TableFormat.CSV:
            self._csv = csv.writer(self._text)  # RFC 4180: "\r\n", quotes any "\r" or "\n"
            if self.names:
                self._csv.writerow(self.names)

    def write(self, batch: Any) -> int:
        """Write rows (a list of tuples) or an Arrow batch; returns the row count."""
        if self._parquet is not None:
            self._pending.append(batch)
            self._pending_bytes += batch.nbytes
            if self._pending_bytes >= _ROW_GROUP_BYTES:
                self._flush_row_group()
            return int(batch.num_rows)
        rows = batch if isinstance(batch, list) else _rows_of(batch)
        assert self._text is not None
        if self.fmt is TableFormat.CSV:
            if self._cells_are_text:
                self._csv.writerows(rows)
            else:
                self._csv.writerows([[_cell(x) for x in row] for row in rows])
        else:
            names, write = self.names, self._text.write
            for row in rows:
                write(json.dumps(dict(zip(names, row, strict=True)), ensure_ascii=False,
                                 default=_json_default))
                write("\n")
        return len(rows)

    def _flush_row_group(self) -> None:
        if self._pending:
            table = self._table.from_batches(self._pending, schema=self._arrow_schema)
            self._parquet.write_table(table, row_group_size=max(1, table.num_rows))
        self._pending, self._pending_bytes = [], 0

    def close(self) -> None:
        """Finish the file (its footer, its gzip trailer); leaves ``out`` open."""
        if self._parquet is not None:
            self._flush_row_group()
            self._parquet.close()
            return
        assert self._text is not None
        self._text.flush()
        self._text.detach()
        if self._gzip is not None:
            self._gzip.close()


# ---------------------------------------------------------------------- plans


def _part_name(config: CompactConfig, index: int) -> str:
    compression = _output_compression(config.output_format, config.compression)
    return f"part-{index}.{_extension(config.output_format, compression)}"


def _compact_group(config: CompactConfig, args: CompactTaskArgs, group: CompactGroup,
                   ufs: fsspec.AbstractFileSystem, ctx: RunTaskContext) -> CompactPart:
    """Stream a group's files into one staged output file."""
    arrow = _needs_arrow(config)
    fmt = config.input_format
    sources = [_Source(item, ctx.resources) for item in group.inputs]
    merged: Schema | None = None
    first = ""
    file_schemas: list[Schema | None] = []
    for source in sources:
        ctx.check_canceled()
        schema = _schema_of(source, fmt, arrow,
                            exact=config.output_format is TableFormat.PARQUET)
        file_schemas.append(schema)
        if schema is None:
            continue
        if merged is None:
            merged, first = schema, source.path
        else:
            merged = _merge(merged, schema, first, source.path, fmt)
    merged = merged or []
    arrow_schema = None
    if config.output_format is TableFormat.PARQUET:
        assert arrow is not None
        pa = arrow[0]
        if fmt is TableFormat.PARQUET:
            first_with = next(i for i, s in enumerate(file_schemas) if s is not None) \
                if any(s is not None for s in file_schemas) else None
            if first_with is None:
                arrow_schema = pa.schema([])
            else:
                with _reading(sources[first_with].path, "Parquet"), \
                        sources[first_with].parquet(arrow[2]) as parquet:
                    schema_arrow = parquet.schema_arrow
                arrow_schema = pa.schema([pa.field(f.name, f.type) for f in schema_arrow])
        else:
            arrow_schema = pa.schema([(n, _arrow_type(pa, t)) for n, t in merged])
    name = _part_name(config, group.index)
    writer = UfsWriter(ufs, f"{args.staging.path}/{name}")
    sink = _Sink(writer, args.block_size)
    out = io.BufferedWriter(sink, _IO_BUFFER)
    rows = 0
    try:
        table = _TableWriter(out, config.output_format,
                             _output_compression(config.output_format, config.compression),
                             merged, arrow_schema, arrow,
                             cells_are_text=fmt is TableFormat.CSV)
        for source, schema in zip(sources, file_schemas, strict=True):
            if schema is None:
                continue
            file_names = [n for n, _ in schema]
            for batch in _batches(source, fmt, merged, file_names, arrow_schema, arrow):
                ctx.check_canceled()
                rows += table.write(batch)
        table.close()
        out.flush()
        temp = writer.finish()
    except BaseException:
        writer.abort()
        raise
    return CompactPart(index=group.index, name=name, temp_path=temp, length=sink.length,
                       block_size=args.block_size, checksums=sink.final_checksums(),
                       rows=rows, inputs=len(sources), schema=merged, first_input=first)


def _check_parts(parts: Sequence[CompactPart], fmt: TableFormat) -> None:
    """Output files of different tasks must have compatible schemas."""
    merged: Schema | None = None
    first = ""
    for part in parts:
        if not part.first_input:
            continue
        if merged is None:
            merged, first = part.schema, part.first_input
        else:
            merged = _merge(merged, part.schema, first, part.first_input, fmt)


class CompactPlan(JobPlan[CompactConfig, CompactTaskArgs, CompactResult]):
    """Alluxio's ``CompactDefinition``, with an all-or-nothing commit.

    ``fs`` resolves Alluxio paths (without it, only URLs are accepted). ``master`` (by
    default the file system's) is told to remove a job's staging directory when the job
    does not complete.
    """

    def __init__(self, fs: "FileSystem | None" = None, master: "JobMaster | None" = None
                 ) -> None:
        self.fs = fs
        self._master = master
        self._url = _UrlSide()

    def attach(self, master: "JobMaster") -> None:
        """Use ``master`` to clean up after jobs that do not complete."""
        self._master = master

    def side(self, path: str) -> _Side:
        """Where ``path`` lives (master side)."""
        if _is_url(path):
            return self._url
        if self.fs is None:
            raise JobConfigError("input", path,
                                 "is an Alluxio path, but this Compact plan has no FileSystem; "
                                 "use a URL (file://, memory://, ...) or a FileSystem whose "
                                 "plans were registered with register_storage_plans")
        return _AlluxioSide(self.fs)

    def _cleanup_master(self) -> "JobMaster":
        if self._master is not None:
            return self._master
        if self.fs is not None:
            return self.fs.master
        raise JobConfigError("plan", "Compact", "has no job master to clean up after failed "
                                                "jobs; register it with "
                                                "register_transform_plans(plans, master=...)")

    def select_executors(self, config: CompactConfig, workers: Sequence[WorkerInfo],
                         ctx: SelectContext) -> list[tuple[WorkerInfo, CompactTaskArgs]]:
        if not workers:
            raise RuntimeError("No job worker")
        _needs_arrow(config)
        in_side, out_side = self.side(config.input), self.side(config.output)
        entries = [e for e in in_side.list(config.input) if _is_input(e.name, e.is_dir)]
        entries.sort(key=lambda e: e.path)
        if not config.staging:
            _check_output(out_side, config.output, config.overwrite)
        if not entries:
            return []
        inputs = [in_side.input_of(e) for e in entries]
        aim = int(config.min_file_size * compression_ratio(config.input_format, entries[0].name))
        groups = group_files([e.length for e in entries], config.max_num_files, aim)
        staging = config.staging or out_side.staging_for(config.output)
        ufs, location = out_side.ufs(staging)
        self._cleanup_master().add_done_callback(
            ctx.job_id, functools.partial(_remove_unless_completed, ufs, location.path))
        ordered = sorted(workers, key=lambda w: w.worker_id)
        assigned: dict[int, list[CompactGroup]] = {w.worker_id: [] for w in ordered}
        for index, members in enumerate(groups):
            worker = ordered[index % len(ordered)]
            assigned[worker.worker_id].append(
                CompactGroup(index=index, inputs=[inputs[i] for i in members]))
        out = []
        for worker in ordered:
            for chunk in partition(assigned[worker.worker_id], TASKS_PER_WORKER):
                out.append((worker, CompactTaskArgs(groups=chunk, staging=location,
                                                    block_size=out_side.block_size)))
        return out

    def run_task(self, config: CompactConfig, args: CompactTaskArgs,
                 ctx: RunTaskContext) -> CompactResult:
        ufs = _task_filesystem(ctx.resources, args.staging.spec)
        parts: list[CompactPart] = []
        try:
            for group in args.groups:
                ctx.check_canceled()
                parts.append(_compact_group(config, args, group, ufs, ctx))
        except BaseException:
            for part in parts:
                ufs_remove_quietly(ufs, part.temp_path)
            raise
        return CompactResult(parts=parts)

    def join(self, config: CompactConfig, results: Mapping[int, CompactResult]) -> str:
        """Check the outputs agree, then commit them all (or, for a partition of a
        table, record them for the commit step)."""
        parts = sorted((p for r in results.values() for p in r.parts), key=lambda p: p.index)
        _check_parts(parts, config.input_format)
        side = self.side(config.output)
        rows = sum(p.rows for p in parts)
        inputs = sum(p.inputs for p in parts)
        if config.staging:
            ufs, location = side.ufs(config.staging)
            manifest = json.dumps([attrs.asdict(p) for p in parts])
            ufs_call(location.path, ufs.pipe_file, f"{location.path}/{_MANIFEST}",
                     manifest.encode())
            return (f"Staged {_count(len(parts), 'file')} from {_count(inputs, 'file')} "
                    f"({_count(rows, 'row')})")
        staging = parts[0].temp_path.rsplit("/", 1)[0] if parts else ""
        ufs = side.ufs(config.output)[0]
        try:
            side.commit(config.output, [_staged(p, p.name) for p in parts], config.overwrite)
        finally:
            if staging:
                _remove_tree(ufs, staging)
        return (f"Compacted {_count(inputs, 'file')} ({_count(rows, 'row')}) into "
                f"{_count(len(parts), 'file')} in {config.output}")

    def describe_task(self, config: CompactConfig, args: CompactTaskArgs) -> str:
        groups = ", ".join(f"{_part_name(config, g.index)} <- {len(g.inputs)} files"
                           for g in args.groups)
        return f"CompactTask{{{groups}}}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _staged(part: CompactPart, rel: str) -> _Staged:
    return _Staged(rel=rel, temp=part.temp_path, length=part.length,
                   block_size=part.block_size, checksums=list(part.checksums))


def _remove_unless_completed(ufs: fsspec.AbstractFileSystem, path: str, info: JobInfo) -> None:
    if info.status is not Status.COMPLETED:
        _remove_tree(ufs, path)


class CompactCommitPlan(JobPlan[CompactCommitConfig, None, None]):
    """Commits the staged partitions of a table on the master; no task."""

    def __init__(self, compact: CompactPlan) -> None:
        self.compact = compact

    def select_executors(self, config: CompactCommitConfig, workers: Sequence[WorkerInfo],
                         ctx: SelectContext) -> list[tuple[WorkerInfo, None]]:
        side = self.compact.side(config.output)
        ufs, location = side.ufs(config.staging)
        try:
            staged = []
            for name in config.partitions:
                manifest = f"{location.path}/{name}/{_MANIFEST}"
                if not ufs_call(manifest, ufs.exists, manifest):
                    continue  # a partition with no input file
                for data in json.loads(ufs_call(manifest, ufs.cat_file, manifest)):
                    part = CompactPart(**data)
                    staged.append(_staged(part, f"{name}/{part.name}"))
            side.commit(config.output, staged, config.overwrite)
        finally:
            _remove_tree(ufs, location.path)
        return []

    def run_task(self, config: CompactCommitConfig, args: None, ctx: RunTaskContext) -> None:
        raise RuntimeError("CompactCommit has no task")


def register_transform_plans(plans: PlanRegistry, fs: "FileSystem | None" = None, *,
                             master: "JobMaster | None" = None) -> PlanRegistry:
    """Add the Compact job types to ``plans``; returns ``plans``.

    With ``fs``, Compact jobs accept Alluxio paths of that file system (and use its
    master); without it, only URLs, and ``master`` (or :meth:`CompactPlan.attach`) is the
    master that runs them.
    """
    compact = CompactPlan(fs, master)
    plans.register(CompactConfig, compact)
    plans.register(CompactCommitConfig, CompactCommitPlan(compact))
    return plans


# ------------------------------------------------------------ transform()

_DEFINITION_KEYS = ("file.count.max", "file.size.min")
_SIZE_RE = re.compile(r"^\s*(\d+)\s*([kmgtp]?)(i?b?)\s*$", re.IGNORECASE)


def _size(key: str, text: str) -> int:
    match = _SIZE_RE.match(text)
    if match is None:
        raise JobConfigError(key, text, "must be a size in bytes (e.g. 1073741824 or 1GB)")
    shift = 10 * " kmgtp".index(match.group(2).lower() or " ")
    return int(match.group(1)) << shift


def parse_definition(definition: str) -> tuple[int, int]:
    """``(max_num_files, min_file_size)`` from Alluxio's transform definition syntax:
    ``key=value`` pairs separated by ``;`` or new lines (``#`` starts a comment line),
    keys ``file.count.max`` (default 100) and ``file.size.min`` (bytes, default 2 GiB;
    ``KB``/``MB``/``GB`` suffixes count in 1024s). Unknown keys are refused."""
    if not isinstance(definition, str):
        raise JobConfigError("definition", definition, "must be a string")
    values: dict[str, str] = {}
    for raw in definition.replace(";", "\n").splitlines():
        entry = raw.strip()
        if not entry or entry.startswith(("#", "!")):
            continue
        key, sep, value = entry.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise JobConfigError("definition", entry, "must be key=value")
        if key not in _DEFINITION_KEYS:
            raise JobConfigError("definition", key,
                                 f"unknown key; the known keys are {list(_DEFINITION_KEYS)}")
        values[key] = value
    max_num_files = DEFAULT_MAX_NUM_FILES
    if "file.count.max" in values:
        text = values["file.count.max"]
        try:
            max_num_files = int(text)
        except ValueError:
            raise JobConfigError("file.count.max", text, "must be an integer") from None
        if max_num_files < 1:
            raise JobConfigError("file.count.max", max_num_files,
                                 "Write action must have positive number of files")
    min_file_size = DEFAULT_MIN_FILE_SIZE
    if "file.size.min" in values:
        min_file_size = _size("file.size.min", values["file.size.min"])
    return max_num_files, min_file_size


_PARTITION_RE = re.compile(r"^[^=/]+=[^/]*$")


def _partitions(side: _Side, path: str, prefix: str = "") -> list[str]:
    """Hive-style partitions below ``path`` (``key=value`` folders, nested), relative;
    empty when ``path`` is not partitioned."""
    entries = side.list(path)
    dirs = [e for e in entries if e.is_dir and _PARTITION_RE.match(e.name)]
    if not dirs:
        return [prefix] if prefix else []
    stray = [e.path for e in entries if _is_input(e.name, e.is_dir)]
    if stray:
        raise JobConfigError("input", path, f"holds both partition folders and data files "
                                            f"({stray[0]})")
    out = []
    for entry in dirs:
        out.extend(_partitions(side, entry.path, f"{prefix}{entry.name}/"))
    return out


def transform(master_or_fs: "JobMaster | FileSystem", input: str, output: str,
              definition: str = "", *, input_format: TableFormat | str = TableFormat.CSV,
              output_format: TableFormat | str = TableFormat.PARQUET, compression: str = "",
              overwrite: bool = False) -> int:
    """Compact (and convert) the table at ``input`` into ``output``; returns the job id.

    ``definition`` is Alluxio's transform definition (:func:`parse_definition`), e.g.
    ``"file.count.max=100;file.size.min=1073741824"``. A table partitioned Hive-style
    (``input/key=value/...``) is compacted partition by partition: one Compact job per
    partition, all at once, then one commit of every partition, as a composite job. The
    output location changes only if the whole job completes.

    ``master_or_fs``: a :class:`~alluxio_jobs.filesystem.FileSystem` (Alluxio paths or
    URLs) or a :class:`~alluxio_jobs.master.JobMaster` (URLs only); a master without the
    Compact plan gets it registered.

    :raises JobConfigError: a bad definition, format or path; an output that is not empty
        without ``overwrite``; Parquet without pyarrow (the error names the extra)
    """
    from alluxio_jobs.filesystem import FileSystem

    fs = master_or_fs if isinstance(master_or_fs, FileSystem) else None
    master = master_or_fs.master if isinstance(master_or_fs, FileSystem) else master_or_fs
    max_num_files, min_file_size = parse_definition(definition)
    settings: dict[str, Any] = {
        "input_format": input_format, "output_format": output_format,
        "max_num_files": max_num_files, "min_file_size": min_file_size,
        "compression": compression, "overwrite": overwrite}
    config = CompactConfig(input=input, output=output, **settings)
    plan = _compact_plan(master, fs)
    _needs_arrow(config)
    in_side, out_side = plan.side(input), plan.side(output)
    _check_output(out_side, output, overwrite)
    partitions = _partitions(in_side, input)
    if not partitions:
        return master.run(config)
    names = [p.rstrip("/") for p in partitions]
    staging = out_side.staging_for(output)
    children: list[JobConfig] = [
        CompactConfig(input=f"{input}/{name}", output=f"{output}/{name}",
                      staging=f"{staging}/{name}", **settings)
        for name in names]
    job = CompositeConfig(jobs=[CompositeConfig(jobs=children, sequential=False),
                                CompactCommitConfig(output=output, staging=staging,
                                                    partitions=names, overwrite=overwrite)],
                          sequential=True)
    ufs, location = out_side.ufs(staging)
    job_id = master.run(job)
    master.add_done_callback(job_id,
                             functools.partial(_remove_unless_completed, ufs, location.path))
    return job_id


def _compact_plan(master: "JobMaster", fs: "FileSystem | None") -> CompactPlan:
    """The master's Compact plan, registered (or attached to the master) if need be."""
    plans = master.plans
    if CompactConfig not in plans:
        register_transform_plans(plans, fs, master=master)
    plan = plans.get(CompactConfig(input="/in", output="/out"))
    if not isinstance(plan, CompactPlan):
        raise JobConfigError("master", master, "runs Compact jobs with a plan that is not a "
                                               "CompactPlan")
    if plan._master is None and plan.fs is None:
        plan.attach(master)
    return plan
