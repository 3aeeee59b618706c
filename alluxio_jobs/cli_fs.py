"""``alluxio-jobs fs …``: Alluxio's distributed file commands on an embedded cluster.

Each invocation starts an embedded job master with local job workers (``--workers``,
each with a block cache) over one under file system (UFS) mounted at ``/``: ``--ufs URL``
(any fsspec URL such as ``file:///srv/data`` or ``s3://bucket/prefix``, or a local
directory; default ``$ALLUXIO_JOBS_UFS``). Path arguments are Alluxio paths inside that
mount: with ``--ufs file:///srv/data``, ``/logs/day1`` is ``/srv/data/logs/day1``. The
command runs, prints what Alluxio prints, and the cluster stops with the process, so its
block caches are temporary: ``fs shell`` keeps one cluster for many commands read from
standard input (load, then free, then persist…).

With the global ``--store PATH`` the master writes its jobs to that SQLite job store, so
``alluxio-jobs --store PATH job ls`` shows them, from another terminal while the command
runs or afterwards. A progress bar goes to standard error while a command runs when it
is a terminal and ``tqdm`` is installed (the ``alluxio_jobs[cli]`` extra).

Ctrl-C cancels the running command and its jobs (a copy in flight removes what it wrote)
and exits with 130; a second Ctrl-C exits at once.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import re
import shlex
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

if TYPE_CHECKING:
    from alluxio_jobs.blockcache import LocalBlockNetwork
    from alluxio_jobs.commands import CmdInfo, CommandHandle
    from alluxio_jobs.filesystem import FileSystem
    from alluxio_jobs.master import JobMaster

__all__ = ["DEFAULT_BATCH_SIZE", "FAILURE_DIR", "UFS_ENV", "add_parser", "run"]

#: Environment variable giving the default ``--ufs``.
UFS_ENV = "ALLUXIO_JOBS_UFS"
#: Where the failure lists of distributedLoad and distributedCp go (Alluxio's).
FAILURE_DIR = "./logs/user"
#: ``alluxio.job.request.batch.size``: the code default (the docs say 20).
DEFAULT_BATCH_SIZE = 1
#: Alluxio's ``DEFAULT_FAILURE_LIMIT``: failed files printed (the file lists them all).
FAILURE_LIMIT = 20
#: Exit code after Ctrl-C (128 + SIGINT).
INTERRUPTED = 130
#: How often a waiting command refreshes its progress and looks for Ctrl-C, in seconds.
POLL = 0.1

_WRITE_TYPES = ("MUST_CACHE", "CACHE_THROUGH", "THROUGH", "ASYNC_THROUGH")
_UNITS = {"": 1, "b": 1}
for _i, _p in enumerate("kmgtp", start=1):
    for _suffix in (_p, _p + "b", _p + "ib"):
        _UNITS[_suffix] = 1 << (10 * _i)


class _CommandError(Exception):
    """An error to print as one line (exit code 1)."""


class _UsageError(Exception):
    """Bad arguments on a line of ``fs shell`` (usage, exit code 2)."""

    def __init__(self, usage: str, message: str) -> None:
        super().__init__(message)
        self.usage = usage


# ----------------------------------------------------------------- argument types


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _size(text: str) -> int:
    """A size in bytes: ``4096``, ``64MB``, ``1GiB`` (units are powers of 1024, as in
    Alluxio)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", text)
    if match is None or match.group(2).lower() not in _UNITS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (such as 4096, 64MB, 1GiB)")
    value = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1 byte")
    return value


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "yes", "1"):
        return True
    if value in ("false", "no", "0"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not true or false")


def _alluxio_path(text: str) -> str:
    from alluxio_jobs.errors import JobConfigError
    from alluxio_jobs.storage import normalize_path

    try:
        return normalize_path(text)
    except JobConfigError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an absolute Alluxio path (such as /data/logs)") from None


def _write_type(text: str) -> str:
    value = text.strip().upper()
    if value not in _WRITE_TYPES:
        raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(_WRITE_TYPES)}")
    return value


def _job_id(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"Arg {text} is not type long") from None


# ------------------------------------------------------------------------ parsers


class _LineParser(argparse.ArgumentParser):
    """A parser for one line of ``fs shell``: errors raise instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(self.format_usage(), f"{self.prog}: error: {message}")


def _cluster_options(parser: argparse.ArgumentParser, *, repeated: bool) -> None:
    """The embedded cluster's options; ``repeated`` ones (on a subcommand) override the
    same option given before the subcommand."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if repeated else value

    group = parser.add_argument_group("embedded cluster")
    group.add_argument("--ufs", metavar="URL", default=default(os.environ.get(UFS_ENV)),
                       help=f"the under file system mounted at / (an fsspec URL or a local "
                            f"directory; default: ${UFS_ENV})")
    group.add_argument("--workers", type=_positive_int, metavar="N", default=default(3),
                       help="local job workers (default: 3)")
    group.add_argument("--threads", type=_positive_int, metavar="N", default=default(10),
                       help="task threads per job worker (default: 10)")
    group.add_argument("--block-size", type=_size, metavar="SIZE", default=default(64 << 20),
                       help="block size of the files (default: 64MB)")
    group.add_argument("--cache", choices=["directory", "memory"],
                       default=default("directory"),
                       help="where each worker caches blocks (default: a temporary directory)")
    group.add_argument("--cache-dir", metavar="DIR", default=default(None),
                       help="put the workers' block caches in DIR/<worker host> (kept)")
    group.add_argument("--cache-capacity", type=_size, metavar="SIZE",
                       default=default(1 << 30),
                       help="block cache capacity of each worker (default: 1GB)")
    group.add_argument("--no-progress", dest="progress", action="store_false",
                       default=default(True), help="no progress bar on standard error")


def _add_commands(sub: Any, *, shell: bool) -> None:
    """The fs subcommands; ``shell``: those of a line in ``fs shell``."""

    def command(name: str, help_text: str, description: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = sub.add_parser(name, help=help_text,
                                                         description=description)
        if not shell:
            _cluster_options(parser, repeated=True)
        parser.set_defaults(fs_command=name, fs_parser=parser)
        return parser

    load = command("distributedLoad", "cache files in the job workers with Load jobs",
                   "Loads a file or all files in a directory into Alluxio space (the job "
                   "workers' block caches) with Load jobs.")
    load.add_argument("--replication", type=_positive_int, default=1, metavar="N",
                      help="block copies of each file (default: 1)")
    _batch_options(load)
    load.add_argument("--hosts", metavar="H1,H2,…", help="load on these worker hosts only")
    load.add_argument("--host-file", metavar="PATH",
                      help="a file of worker hosts to load on, one a line")
    load.add_argument("--excluded-hosts", metavar="H1,H2,…",
                      help="do not load on these worker hosts")
    load.add_argument("--excluded-host-file", metavar="PATH",
                      help="a file of worker hosts not to load on, one a line")
    load.add_argument("--index", action="store_true",
                      help="PATH is a local file listing Alluxio paths to load, one a line")
    load.add_argument("--async", dest="async_", action="store_true",
                      help="do not print the per-file status (see the module docs)")
    load.add_argument("path", metavar="PATH")

    cp = command("distributedCp", "copy files with Migrate jobs",
                 "Copies a file or a directory in parallel at file level (Migrate jobs).")
    _batch_options(cp)
    _write_type_option(cp)
    cp.add_argument("--overwrite", type=_bool, default=True, metavar="BOOL",
                    help="replace existing destination files (default: true)")
    cp.add_argument("--async", dest="async_", action="store_true",
                    help="do not print the per-file status")
    cp.add_argument("src", type=_alluxio_path, metavar="SRC")
    cp.add_argument("dst", type=_alluxio_path, metavar="DST")

    mv = command("distributedMv", "move files: copy with Migrate jobs, then delete",
                 "Moves a file or a directory: copies it with Migrate jobs and deletes the "
                 "source once every copy completed (a failed copy leaves the source).")
    _batch_options(mv)
    _write_type_option(mv)
    mv.add_argument("src", type=_alluxio_path, metavar="SRC")
    mv.add_argument("dst", type=_alluxio_path, metavar="DST")

    persist = command("persist", "write files that are only cached to the UFS",
                      "Persists files or directories currently stored only in Alluxio to "
                      "the under file system (Persist jobs).")
    persist.add_argument("-p", "--parallelism", type=_positive_int, default=4, metavar="N",
                         help="Persist jobs at a time (default: 4)")
    persist.add_argument("paths", nargs="+", type=_alluxio_path, metavar="PATH")

    free = command("free", "drop the cached copies of persisted files",
                   "Frees the space occupied by a file or a directory in Alluxio; files "
                   "that are not persisted are refused.")
    free.add_argument("path", type=_alluxio_path, metavar="PATH")

    ls = command("ls", "list files: size, persistence state, share cached",
                 "Lists a directory (or a file): size, persistence state, the share "
                 "cached in the job workers, and the path.")
    ls.add_argument("-R", dest="recursive", action="store_true", help="list subdirectories")
    ls.add_argument("path", type=_alluxio_path, metavar="PATH")

    if shell:
        status = command("getCmdStatus", "the status of a command run in this shell",
                         "Prints the status of a distributed command by its jobControlId.")
        status.add_argument("cmd_id", type=_job_id, metavar="jobControlId")
    else:
        command("shell", "run fs commands read from standard input on one cluster",
                "Reads fs commands (one a line, without the cluster options) from "
                "standard input and runs them on one embedded cluster, so that caches and "
                "files that are only cached last from one command to the next.")


def _batch_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--active-jobs", type=_positive_int, default=3000, metavar="N",
                        help="most jobs of the command at a time (default: 3000)")
    parser.add_argument("--batch-size", type=_positive_int, default=DEFAULT_BATCH_SIZE,
                        metavar="N", help=f"files per job (default: {DEFAULT_BATCH_SIZE})")


def _write_type_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--write-type", type=_write_type, default="THROUGH", metavar="TYPE",
                        help="where the copies go: THROUGH (the UFS; default), CACHE_THROUGH, "
                             "ASYNC_THROUGH or MUST_CACHE (the caches only)")


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Add ``fs`` and its subcommands to the subparsers ``commands`` of the CLI."""
    fs = commands.add_parser(
        "fs", help="distributed file commands on an embedded cluster over a UFS",
        description="Alluxio's distributed file commands, run by an embedded job master "
                    "with local job workers over the under file system --ufs, mounted "
                    "at /. Cluster options go before or after the command.")
    _cluster_options(fs, repeated=False)
    fs.set_defaults(fs_parser=fs)
    sub = fs.add_subparsers(dest="fs_command", metavar="command", required=True)
    _add_commands(sub, shell=False)
    parser: argparse.ArgumentParser = fs
    return parser


def _line_parser() -> _LineParser:
    parser = _LineParser(prog="fs", add_help=False)
    sub = parser.add_subparsers(dest="fs_command", metavar="command", required=True,
                                parser_class=_LineParser)
    _add_commands(sub, shell=True)
    return parser


# --------------------------------------------------------------------------- run


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run a parsed ``fs`` command; returns the exit code."""
    parser: argparse.ArgumentParser = args.fs_parser
    if not args.ufs:
        parser.print_usage(err)
        err.write(f"{parser.prog}: error: pass --ufs URL (or set ${UFS_ENV})\n")
        return 2
    interrupts = _Interrupts()
    session: _Session | None = None
    try:
        with interrupts:
            try:
                session = _Session(args, out, err, interrupts)
                if args.fs_command == "shell":
                    code = session.shell(sys.stdin)
                else:
                    code = session.dispatch(args)
                    if code != INTERRUPTED:
                        code = max(code, session.finish())
            finally:
                interrupts.busy = True  # Ctrl-C while closing: only flagged
                if session is not None:
                    session.close()
            if interrupts.event.is_set():
                return INTERRUPTED
            return code
    except KeyboardInterrupt:
        return INTERRUPTED
    except _CommandError as exc:
        err.write(f"alluxio-jobs: {exc}\n")
        return 1
    except Exception as exc:
        err.write(f"alluxio-jobs: {_message(exc)}\n")
        if os.environ.get("ALLUXIO_JOBS_DEBUG"):
            raise
        return 1


def _message(exc: BaseException) -> str:
    from alluxio_jobs.errors import AlluxioJobsError

    if isinstance(exc, AlluxioJobsError | OSError | ValueError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class _Interrupts:
    """SIGINT while ``busy`` sets :attr:`event` (the running command is canceled);
    otherwise it raises KeyboardInterrupt; a second one while busy exits at once."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.busy = True
        self._old: Any = None

    def __enter__(self) -> _Interrupts:
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if not self.busy:
            raise KeyboardInterrupt
        if self.event.is_set():
            os.write(2, b"alluxio-jobs: interrupted again: exiting now\n")
            os._exit(INTERRUPTED)
        self.event.set()


class _Progress:
    """A tqdm bar on ``stream`` (a terminal), or nothing."""

    def __init__(self, stream: TextIO | None, desc: str) -> None:
        self._bar: Any = None
        if stream is None:
            return
        try:
            tqdm = importlib.import_module("tqdm").tqdm
        except ImportError:
            return
        bar = tqdm(total=None, desc=desc, unit="file", file=stream, disable=None,
                   leave=False, dynamic_ncols=True, mininterval=POLL)
        if not bar.disable:
            self._bar = bar

    def update(self, info: CmdInfo) -> None:
        bar = self._bar
        if bar is None:
            return
        if info.total and bar.total != info.total:
            bar.total = info.total
        done = len(info.completed) + len(info.failed) + len(info.skipped)
        if info.failed:
            bar.set_postfix(failed=len(info.failed), refresh=False)
        bar.update(done - bar.n)
        bar.refresh()  # called every POLL seconds: show each step

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


class _Cluster:
    """The embedded storage, job workers and master of one ``fs`` run."""

    def __init__(self, args: argparse.Namespace) -> None:
        from fsspec.core import url_to_fs

        from alluxio_jobs.blockcache import DirectoryBlockCache, LocalBlockNetwork, MemoryBlockCache
        from alluxio_jobs.filesystem import FileSystem, register_storage_plans
        from alluxio_jobs.master import JobMaster
        from alluxio_jobs.model import WorkerInfo
        from alluxio_jobs.plans import PlanRegistry
        from alluxio_jobs.storage import Namespace
        from alluxio_jobs.stores import SQLiteJobStore
        from alluxio_jobs.transports import LocalTransport

        try:
            ufs, root = url_to_fs(args.ufs)
            is_dir = ufs.isdir(root)
        except Exception as exc:
            raise _CommandError(f"cannot open the under file system {args.ufs}: {_message(exc)}"
                          ) from exc
        if not is_dir:
            raise _CommandError(f"the under file system {args.ufs} is not an existing directory")
        capacity, cache_dir = args.cache_capacity, args.cache_dir

        def cache(worker: WorkerInfo) -> Any:
            name = f"block cache of {worker.host}"
            if args.cache == "memory":
                return MemoryBlockCache(capacity, name=name)
            root = None if cache_dir is None else os.path.join(cache_dir, worker.host)
            return DirectoryBlockCache(capacity, root, name=name)

        self.network: LocalBlockNetwork = LocalBlockNetwork(cache)
        self._fs: FileSystem | None = None
        self.master: JobMaster | None = None
        try:
            self._fs = FileSystem(Namespace(block_size=args.block_size), self.network)
            self.fs: FileSystem = self._fs
            plans = register_storage_plans(PlanRegistry.default(), self.fs)
            store = SQLiteJobStore(args.store) if args.store else None
            try:
                transport = LocalTransport(args.workers, args.threads,
                                           resources=self.network.resources)
                try:
                    self.master = JobMaster(transport=transport, plans=plans, store=store)
                except BaseException:
                    transport.close()
                    raise
            except BaseException:
                if store is not None:
                    store.close()
                raise
            self.fs.attach(self.master)
            self.fs.mount("/", ufs, root)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._fs is not None:
            self._fs.close()
        if self.master is not None:
            self.master.close()
        self.network.close()


class _Session:
    """Runs fs commands on one cluster and prints their results."""

    def __init__(self, args: argparse.Namespace, out: TextIO, err: TextIO,
                 interrupts: _Interrupts) -> None:
        self.out = out
        self.err = err
        self.json = bool(args.json)
        self.progress = bool(args.progress)
        self.interrupts = interrupts
        self.cluster = _Cluster(args)
        self.fs = self.cluster.fs
        #: commands started with --async and not yet waited for
        self.background: list[CommandHandle] = []
        self._handlers: dict[str, Callable[[argparse.Namespace], int]] = {
            "distributedLoad": self._load,
            "distributedCp": self._cp,
            "distributedMv": self._mv,
            "persist": self._persist,
            "free": self._free,
            "ls": self._ls,
            "getCmdStatus": self._cmd_status,
        }

    # ---------------------------------------------------------------- plumbing

    def say(self, line: str = "") -> None:
        if not self.json:
            self.out.write(line + "\n")
            self.out.flush()

    def warn(self, line: str) -> None:
        self.err.write(f"alluxio-jobs: {line}\n")
        self.err.flush()

    def emit(self, data: Any) -> None:
        if self.json:
            from alluxio_jobs.serde import to_dict

            json.dump(to_dict(data), self.out, indent=2)
            self.out.write("\n")
            self.out.flush()

    def dispatch(self, args: argparse.Namespace) -> int:
        """Run one parsed command; returns its exit code."""
        from alluxio_jobs.errors import AlluxioJobsError

        try:
            return self._handlers[args.fs_command](args)
        except (AlluxioJobsError, OSError, _CommandError) as exc:
            self.warn(_message(exc))
            return 1

    def wait(self, handle: CommandHandle, desc: str) -> CmdInfo | None:
        """Wait for a command, showing progress; None if Ctrl-C canceled it."""
        from alluxio_jobs.errors import JobTimeoutError

        bar = _Progress(self.err if self.progress else None, desc)
        try:
            while not self.interrupts.event.is_set():
                try:
                    info = handle.wait(POLL)
                except JobTimeoutError:
                    bar.update(handle.info())
                    continue
                bar.update(info)
                return info
        finally:
            bar.close()
        self.cancel_everything()
        while True:  # until the canceled jobs stopped (Ctrl-C again exits at once)
            try:
                handle.wait(POLL)
            except JobTimeoutError:
                continue
            return None

    def cancel_everything(self) -> None:
        """Ctrl-C: cancel every running command and every unfinished job (all of this
        cluster's jobs are this run's)."""
        from alluxio_jobs.errors import JobNotFoundError
        from alluxio_jobs.model import Status

        commands = self.fs.commands
        for cmd_id in commands.list([Status.RUNNING]):
            with contextlib.suppress(JobNotFoundError):
                commands.cancel(cmd_id)
        master = self.fs.master
        for job_id in master.list([Status.CREATED, Status.RUNNING]):
            with contextlib.suppress(JobNotFoundError):
                master.cancel(job_id, "interrupted")
        self.warn("interrupted: canceled the running command and its jobs")

    def finish(self) -> int:
        """Wait for commands started with --async and for background persists; 1 if
        one of those commands failed."""
        from alluxio_jobs.model import Status

        code = 0
        for handle in self.background:
            info = self.wait(handle, "background")
            if info is None:
                return INTERRUPTED
            if info.status is Status.FAILED:
                code = 1
        self.background.clear()
        while not self.fs.wait_persisted(POLL):
            if self.interrupts.event.is_set():
                self.cancel_everything()
                return INTERRUPTED
        return code

    def close(self) -> None:
        self.cluster.close()

    # ------------------------------------------------------------------ shell

    def shell(self, stdin: TextIO) -> int:
        """Run the commands read from ``stdin``; the highest exit code wins."""
        parser = _line_parser()
        prompt = stdin.isatty()
        code = 0
        while True:
            if prompt:
                self.err.write("alluxio-jobs> ")
                self.err.flush()
            self.interrupts.busy = False  # Ctrl-C while waiting for a line: stop
            line = stdin.readline()
            self.interrupts.busy = True
            if not line:
                break
            try:
                words = shlex.split(line, comments=True)
            except ValueError as exc:
                self.warn(f"cannot read the line: {exc}")
                code = max(code, 2)
                continue
            if not words:
                continue
            if words[0] in ("exit", "quit"):
                break
            try:
                args = parser.parse_args(words)
            except _UsageError as exc:
                self.err.write(exc.usage + str(exc) + "\n")
                self.err.flush()
                code = max(code, 2)
                continue
            except SystemExit as exc:  # -h
                code = max(code, exc.code if isinstance(exc.code, int) else 2)
                continue
            result = self.dispatch(args)
            if result == INTERRUPTED or self.interrupts.event.is_set():
                return INTERRUPTED
            code = max(code, result)
        return max(code, self.finish())

    # --------------------------------------------------------------- commands

    def _load(self, args: argparse.Namespace) -> int:
        from alluxio_jobs.commands import distributed_load

        paths = self._index(args.path) if args.index else [_check_path(args.path)]
        hosts = self._hosts(args.hosts, args.host_file)
        excluded = self._hosts(args.excluded_hosts, args.excluded_host_file)
        if args.async_:
            self.say("Entering async submission mode. ")
        self.say("Please wait for command submission to finish..")
        failed: dict[str, str] = {}
        infos: list[CmdInfo] = []
        code = 0
        for path in paths:
            handle = distributed_load(self.fs, path, args.replication,
                                      batch_size=args.batch_size,
                                      active_jobs=args.active_jobs, worker_set=hosts,
                                      excluded_worker_set=excluded)
            if args.async_:
                self.say(f"Submitted distLoad job successfully, jobControlId = {handle.cmd_id}")
                self.background.append(handle)
                continue
            info = self._run(handle, "distributedLoad", "{} is already fully loaded in Alluxio")
            if info is None:
                return INTERRUPTED
            infos.append(info)
            failed.update(info.failed)
            code = max(code, self._command_error(info))
        if infos:
            self.emit(infos if args.index else infos[0])
        if failed:
            self._failures("distributedLoad", args.path, failed)
            return 1
        return code

    def _cp(self, args: argparse.Namespace) -> int:
        from alluxio_jobs.commands import distributed_cp

        if args.async_:
            self.say("Entering async submission mode. ")
        self.say("Please wait for command submission to finish..")
        handle = distributed_cp(self.fs, args.src, args.dst, overwrite=args.overwrite,
                                write_type=args.write_type, batch_size=args.batch_size,
                                active_jobs=args.active_jobs)
        if args.async_:
            self.say(f"Submitted migrate job successfully, jobControlId = {handle.cmd_id}")
            self.background.append(handle)
            return 0
        info = self._run(handle, "distributedCp")
        if info is None:
            return INTERRUPTED
        self.emit(info)
        if info.failed:
            self._failures("distributedCp", args.src, info.failed)
            return 1
        return self._command_error(info)

    def _mv(self, args: argparse.Namespace) -> int:
        from alluxio_jobs.commands import distributed_mv
        from alluxio_jobs.model import Status

        self.say("Please wait for command submission to finish..")
        handle = distributed_mv(self.fs, args.src, args.dst, write_type=args.write_type,
                                batch_size=args.batch_size, active_jobs=args.active_jobs)
        info = self._run(handle, "distributedMv")
        if info is None:
            return INTERRUPTED
        self.emit(info)
        if info.failed:
            self.say("Copy operation portion of Move failed. If the error below is "
                     "intermittent, you can rerun this by deleting the destination first.")
            self._failures("distributedCp", args.src, info.failed)
            return 1
        if info.status is Status.COMPLETED:
            self.say(f"Deleting {args.src}")
        return self._command_error(info)

    def _persist(self, args: argparse.Namespace) -> int:
        from alluxio_jobs.commands import persist

        code = 0
        infos = []
        for path in args.paths:
            info = self.wait(persist(self.fs, path, active_jobs=args.parallelism), "persist")
            if info is None:
                return INTERRUPTED
            infos.append(info)
            for skipped in info.skipped:
                self.say(f"{skipped} is already persisted")
            for done in info.completed:
                self.say(f"persisted file {done} with size {self.fs.get_status(done).length}")
            for failed, reason in info.failed.items():
                self.warn(f"Failed to persist {failed}: {reason}")
                code = 1
            code = max(code, self._command_error(info))
        self.emit(infos)
        return code

    def _free(self, args: argparse.Namespace) -> int:
        from alluxio_jobs.commands import free

        info = self.wait(free(self.fs, args.path), "free")
        if info is None:
            return INTERRUPTED
        self.emit(info)
        for reason in info.failed.values():
            self.warn(reason)
        if info.failed:
            return 1
        if info.error_message:
            return self._command_error(info)
        self.say(f"{args.path} was successfully freed from Alluxio space.")
        return 0

    def _ls(self, args: argparse.Namespace) -> int:
        infos = self.fs.list_status(args.path, recursive=args.recursive)
        self.emit(infos)
        for info in infos:
            size = "DIR" if info.is_folder else str(info.length)
            state = info.persistence_state.value
            self.say(f"{size:>12}  {state:<15} {info.in_alluxio_percentage:>3}%  {info.path}")
        return 0

    def _cmd_status(self, args: argparse.Namespace) -> int:
        from alluxio_jobs.commands import format_cmd_status
        from alluxio_jobs.errors import JobNotFoundError

        try:
            info = self.fs.commands.get(args.cmd_id)
        except JobNotFoundError as exc:
            self.warn(f"Failed to get status of the command {args.cmd_id}: {exc}")
            return 1
        self.emit(info)
        if not self.json:
            self.out.write(format_cmd_status(info))
            self.out.flush()
        return 0

    # ---------------------------------------------------------------- helpers

    def _run(self, handle: CommandHandle, name: str, skipped: str | None = None
             ) -> CmdInfo | None:
        """Alluxio's synchronous output around waiting for ``handle``."""
        from alluxio_jobs.commands import format_cmd_status

        self.say(f"Submitted successfully, jobControlId = {handle.cmd_id}")
        self.say("Waiting for the command to finish ...")
        info = self.wait(handle, name)
        if info is None:
            return None
        if skipped is not None:
            for path in info.skipped:
                self.say(skipped.format(path))
        for line in format_cmd_status(info).splitlines():
            self.say(line)
            if line.startswith("Total completed file count is "):
                break  # "Failed files are:" is getCmdStatus's; the fs command lists them below
        self.say(f"Finished running the command, jobControlId = {handle.cmd_id}")
        return info

    def _command_error(self, info: CmdInfo) -> int:
        if info.error_message:
            self.warn(info.error_message)
            return 1
        return 0

    def _failures(self, command: str, arg: str, failed: dict[str, str]) -> None:
        """Alluxio's ``processFailures``: list the first failed files and write them all
        to ``./logs/user/<command>_<arg>_failures.csv``."""
        name = "_".join(part for part in arg.split("/") if part)
        path = f"{FAILURE_DIR}/{command}_{name}_failures.csv"
        paths = sorted(failed)
        self.say("Here are failed files: ")
        for failure in paths[:FAILURE_LIMIT]:
            self.say(f"{failure},")
        self.say(f"Check out {path} for full list of failed files.")
        try:
            os.makedirs(FAILURE_DIR, exist_ok=True)
            temp = f"{path}.tmp-{os.getpid()}"
            with open(temp, "w", encoding="utf-8") as f:
                f.writelines(f"{failure}\n" for failure in paths)
            os.replace(temp, path)
        except OSError as exc:
            self.warn(f"cannot write {path}: {exc}")

    def _index(self, index_file: str) -> list[str]:
        try:
            with open(index_file, encoding="utf-8") as f:
                lines = [line.strip() for line in f]
        except OSError as exc:
            raise _CommandError(f"cannot read the index file {index_file}: {exc.strerror}") from exc
        return [_check_path(line) for line in lines if line]

    def _hosts(self, hosts: str | None, host_file: str | None) -> list[str]:
        """Worker hosts named by an option or a file, spelled as the workers spell them
        (Alluxio upper-cases them and compares without case)."""
        names: list[str] = []
        if host_file:
            try:
                with open(host_file, encoding="utf-8") as f:
                    names = [line.strip() for line in f]
            except OSError as exc:
                raise _CommandError(f"cannot read the host file {host_file}: {exc.strerror}"
                              ) from exc
        elif hosts:
            names = [h.strip() for h in hosts.split(",")]
        known = {w.host.lower(): w.host for w in self.fs.workers()}
        return sorted({known.get(name.lower(), name) for name in names if name})


def _check_path(text: str) -> str:
    from alluxio_jobs.errors import JobConfigError
    from alluxio_jobs.storage import normalize_path

    try:
        return normalize_path(text)
    except JobConfigError:
        raise _CommandError(f"{text!r} is not an absolute Alluxio path (such as /data/logs)"
                      ) from None

