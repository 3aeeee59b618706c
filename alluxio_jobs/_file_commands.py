"""The distributed file commands themselves: load, copy, move, persist and free.

Alluxio's ``distributedLoad``, ``distributedCp``, ``distributedMv``, ``persist`` and
``free``. Each checks its arguments (nothing starts when they are bad), then starts a command on
the file system's :class:`~alluxio_jobs.commands.CommandTracker` whose body lists the
files, skips those with nothing to do, runs the jobs of the others and judges each file
by what its job did. They are re-exported by :mod:`alluxio_jobs.commands`.
"""

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from alluxio_jobs._command_run import _Item, _Run, spread_large
from alluxio_jobs._validate import check_int
from alluxio_jobs.errors import AlluxioJobsError, JobConfigError
from alluxio_jobs.model import JobInfo, Status
from alluxio_jobs.plans.base import JobConfig
from alluxio_jobs.storage import FileInfo, PersistenceState, WriteType, is_under, normalize_path
from alluxio_jobs.storage_model import write_type_of

if TYPE_CHECKING:
    from alluxio_jobs.commands import CommandHandle
    from alluxio_jobs.filesystem import FileSystem

#: Alluxio's ``DEFAULT_ACTIVE_JOBS``.
DEFAULT_ACTIVE_JOBS = 3000


def _job_error(info: JobInfo) -> str:
    return info.error_message or f"job {info.job_id} {info.status.value}"


# ------------------------------------------------------------------ commands


def distributed_load(fs: "FileSystem", path: str, replication: int = 1, *,
                     batch_size: int = 1, active_jobs: int = DEFAULT_ACTIVE_JOBS,
                     worker_set: Sequence[str] = (),
                     excluded_worker_set: Sequence[str] = ()) -> "CommandHandle":
    """Cache every file at or below ``path`` on ``replication`` workers with Load jobs
    (Alluxio's ``distributedLoad``). Files already cached that often are skipped.

    :raises NotFoundError: ``path`` does not exist (nothing is started)
    """
    from alluxio_jobs.plans.cache import LoadConfig

    path = normalize_path(path)
    check_int("replication", replication, 1)
    check_int("batch_size", batch_size, 1)
    check_int("active_jobs", active_jobs, 1)
    fs.get_status(path)

    def config(item: _Item) -> JobConfig:
        return LoadConfig(file_path=item.path, replication=replication,
                          worker_set=list(worker_set),
                          excluded_worker_set=list(excluded_worker_set))

    def judge(item: _Item, info: JobInfo) -> str | None:
        try:
            replicas = fs.namespace.cached_replicas(item.path, fs._live_ids())
        except AlluxioJobsError as exc:
            return str(exc)
        if replicas >= replication:
            return None
        return _job_error(info) if info.status is not Status.COMPLETED else "not fully loaded"

    def body(run: _Run) -> None:
        files = fs.namespace.files_under(path, fs._live_ids())
        run.set_total(len(files))
        todo = []
        for f in files:
            if f.cached_replicas() >= replication:
                run.skip(f.path)
            else:
                todo.append(f)
        items = [_Item(f.path) for f in spread_large(todo, lambda f: f.length)]
        run.run_jobs(items, config, "Load", batch_size, active_jobs, judge)

    return fs.commands.start("DIST_LOAD", f"distributedLoad {path} --replication {replication}",
                             body)


def _copy_items(fs: "FileSystem", src: str, dst: str) -> list[_Item]:
    info = fs.get_status(src)
    if not info.is_folder:
        return [_Item(info.path, dst)]
    return [_Item(f.path, dst + f.path[len(src):] if src != "/" else dst + f.path)
            for f in fs.namespace.files_under(src)]


def _check_copy(fs: "FileSystem", src: str, dst: str) -> tuple[str, str]:
    src = normalize_path(src, "source")
    dst = normalize_path(dst, "destination")
    if is_under(dst, src):
        raise JobConfigError("destination", dst,
                             f"Cannot migrate because {src} is a prefix of {dst}")
    fs.get_status(src)
    return src, dst


def _copy_command(fs: "FileSystem", source: str, destination: str, overwrite: bool,
                  write_type: WriteType | str | None, batch_size: int, active_jobs: int
                  ) -> tuple[str, str, Callable[[_Run], None]]:
    """Check a copy's arguments (nothing starts when they are bad) and build the body
    that copies every file with Migrate jobs; returns (source, destination, body)."""
    from alluxio_jobs.plans.transfer import MigrateConfig, MigrateResult

    src, dst = _check_copy(fs, source, destination)
    check_int("batch_size", batch_size, 1)
    check_int("active_jobs", active_jobs, 1)
    wt = None if write_type is None else write_type_of(write_type)

    def config(item: _Item) -> JobConfig:
        return MigrateConfig(source=item.path, destination=item.destination,
                             write_type=wt, overwrite=overwrite)

    def judge(item: _Item, info: JobInfo) -> str | None:
        if info.status is Status.COMPLETED:
            return None
        for task in info.tasks:
            if (task.status is Status.COMPLETED and isinstance(task.result, MigrateResult)
                    and task.result.destination == item.destination):
                return None
        return _job_error(info)

    def copy(run: _Run) -> None:
        items = _copy_items(fs, src, dst)
        run.set_total(len(items))
        run.run_jobs(items, config, "Migrate", batch_size, active_jobs, judge)

    return src, dst, copy


def distributed_cp(fs: "FileSystem", source: str, destination: str, *,
                   overwrite: bool = True, write_type: WriteType | str | None = None,
                   batch_size: int = 1, active_jobs: int = DEFAULT_ACTIVE_JOBS) -> "CommandHandle":
    """Copy a file, or every file below a directory, with Migrate jobs (Alluxio's
    ``distributedCp``; ``overwrite`` defaults to true as there).

    :raises JobConfigError: ``destination`` is inside ``source``
    """
    src, dst, copy = _copy_command(fs, source, destination, overwrite, write_type,
                                   batch_size, active_jobs)
    return fs.commands.start("DIST_CP", f"distributedCp {src} {dst}", copy)


def distributed_mv(fs: "FileSystem", source: str, destination: str, *,
                   overwrite: bool = True, write_type: WriteType | str | None = None,
                   batch_size: int = 1, active_jobs: int = DEFAULT_ACTIVE_JOBS) -> "CommandHandle":
    """Copy like :func:`distributed_cp`, then delete the source, but only if every
    copy completed; otherwise the source is left as it was."""
    src, dst, copy = _copy_command(fs, source, destination, overwrite, write_type,
                                   batch_size, active_jobs)

    def body(run: _Run) -> None:
        copy(run)
        if run.cmd.failed or run.canceled:
            return
        if src != dst:
            fs.delete(src, recursive=True)

    return fs.commands.start("DIST_MV", f"distributedMv {src} {dst}", body)


def persist(fs: "FileSystem", path: str, *, overwrite: bool = False, batch_size: int = 1,
            active_jobs: int = DEFAULT_ACTIVE_JOBS) -> "CommandHandle":
    """Persist every file at or below ``path`` with Persist jobs; files already
    persisted are skipped (unless ``overwrite``)."""
    from alluxio_jobs.plans.transfer import PersistConfig

    path = normalize_path(path)
    check_int("batch_size", batch_size, 1)
    check_int("active_jobs", active_jobs, 1)
    fs.get_status(path)

    def config(item: _Item) -> JobConfig:
        return PersistConfig(file_path=item.path, overwrite=overwrite)

    def judge(item: _Item, info: JobInfo) -> str | None:
        try:
            status = fs.get_status(item.path)
        except AlluxioJobsError as exc:
            return str(exc)
        if status.persistence_state is PersistenceState.PERSISTED and (
                info.status is Status.COMPLETED or not overwrite):
            return None
        return _job_error(info)

    def body(run: _Run) -> None:
        files = fs.namespace.files_under(path)
        run.set_total(len(files))
        todo = []
        for f in files:
            if f.persisted and not overwrite:
                run.skip(f.path)
            else:
                todo.append(_Item(f.path))
        run.run_jobs(todo, config, "Persist", batch_size, active_jobs, judge)

    return fs.commands.start("PERSIST", f"persist {path}", body)


def free(fs: "FileSystem", path: str) -> "CommandHandle":
    """Drop the cached copies of every file at or below ``path``; a file that is not
    persisted is refused (and counted as failed), the others are freed."""
    path = normalize_path(path)
    fs.get_status(path)

    def body(run: _Run) -> None:
        files: list[FileInfo] = fs.namespace.files_under(path)
        run.set_total(len(files))
        for f in files:
            if run.canceled:
                return
            try:
                fs.free(f.path)
            except AlluxioJobsError as exc:
                run.fail(f.path, exc.message if not isinstance(exc, JobConfigError)
                         else exc.reason)
                continue
            run.succeed(f.path)

    return fs.commands.start("FREE", f"free {path}", body)
