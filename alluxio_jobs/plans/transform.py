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

The job's parts live beside this module: the table formats (``_table_format``), where
paths live (``_table_sides``), which files make which jobs (``_table_layout``), and a
task's reading (``_table_input``, ``_table_read``) and writing (``_table_write``). This
module holds the configs, the task data, the plans and :func:`transform`.
"""

import functools
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import fsspec

from alluxio_jobs import _validate as v
from alluxio_jobs.errors import JobConfigError
from alluxio_jobs.model import JobInfo, Status, WorkerInfo
from alluxio_jobs.plans._table_format import (
    PARQUET_EXTRA,
    TableFormat,
    _arrow,
    _compression,
    _extension,
    _input_format,
    _output_compression,
    _output_format,
    compression_ratio,
)
from alluxio_jobs.plans._table_input import _Source, _task_filesystem
from alluxio_jobs.plans._table_layout import (
    DEFAULT_MAX_NUM_FILES,
    DEFAULT_MIN_FILE_SIZE,
    _is_input,
    _partitions,
    group_files,
    parse_definition,
)
from alluxio_jobs.plans._table_read import Schema, _group_batches, _group_schema, _merge
from alluxio_jobs.plans._table_sides import (
    _AlluxioSide,
    _check_output,
    _Entry,
    _is_url,
    _location,
    _optional_location,
    _overlaps,
    _remove_tree,
    _Side,
    _Staged,
    _UrlSide,
)
from alluxio_jobs.plans._table_write import _write_table
from alluxio_jobs.plans.base import JobConfig, JobPlan, PlanRegistry, RunTaskContext, SelectContext
from alluxio_jobs.plans.cache import BlockSource, partition
from alluxio_jobs.plans.workflow import CompositeConfig
from alluxio_jobs.ufs import UfsLocation, UfsWriter, ufs_call, ufs_remove_quietly

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

#: Alluxio's ``CompactDefinition.TASKS_PER_WORKER``: a worker's groups are spread
#: round-robin over at most this many tasks.
TASKS_PER_WORKER = 10

_MANIFEST = "_alluxio_compact.json"


def _max_num_files(_inst: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
    v.instance_of(int)(_inst, attribute, value)
    if value < 1:
        raise JobConfigError(attribute.name, value,
                             "Write action must have positive number of files")


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


# ---------------------------------------------------------------------- plans


def _needs_arrow(config: CompactConfig) -> tuple[Any, Any, Any] | None:
    if config.input_format is TableFormat.PARQUET:
        return _arrow("input_format")
    if config.output_format is TableFormat.PARQUET:
        return _arrow("output_format")
    return None


def _part_name(config: CompactConfig, index: int) -> str:
    compression = _output_compression(config.output_format, config.compression)
    return f"part-{index}.{_extension(config.output_format, compression)}"


def _compact_group(config: CompactConfig, args: CompactTaskArgs, group: CompactGroup,
                   ufs: fsspec.AbstractFileSystem, ctx: RunTaskContext) -> CompactPart:
    """Stream a group's files into one staged output file."""
    arrow = _needs_arrow(config)
    sources = [_Source(item, ctx.resources) for item in group.inputs]
    schema = _group_schema(sources, config.input_format, config.output_format, arrow,
                           ctx.check_canceled)
    name = _part_name(config, group.index)
    written = _write_table(UfsWriter(ufs, f"{args.staging.path}/{name}"), args.block_size,
                           config.output_format,
                           _output_compression(config.output_format, config.compression),
                           schema, arrow,
                           _group_batches(sources, schema, arrow, ctx.check_canceled))
    return CompactPart(index=group.index, name=name, temp_path=written.temp,
                       length=written.length, block_size=args.block_size,
                       checksums=written.checksums, rows=written.rows, inputs=len(sources),
                       schema=schema.columns, first_input=schema.first)


def _input(side: _Side, entry: _Entry) -> CompactInput:
    """The task data of input file ``entry``."""
    ufs, blocks = side.locate(entry)
    return CompactInput(path=entry.path, length=entry.length, ufs=ufs, blocks=blocks)


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
        inputs = [_input(in_side, e) for e in entries]
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
