"""The argument parsers of ``alluxio-jobs fs …`` and of a line of ``fs shell``.

The subcommands and their options follow Alluxio's (``distributedLoad --replication``,
``distributedCp --batch-size``, …); the embedded cluster's options (``--ufs``,
``--workers``, …) go before or after the subcommand. A line of ``fs shell`` is parsed
without them, and a bad one raises :class:`_UsageError` instead of exiting.
"""

from __future__ import annotations

import argparse
import os
import re
from typing import Any, NoReturn

#: Environment variable giving the default ``--ufs``.
UFS_ENV = "ALLUXIO_JOBS_UFS"
#: ``alluxio.job.request.batch.size``: the code default (the docs say 20).
DEFAULT_BATCH_SIZE = 1

_WRITE_TYPES = ("MUST_CACHE", "CACHE_THROUGH", "THROUGH", "ASYNC_THROUGH")
_UNITS = {"": 1, "b": 1}
for _i, _p in enumerate("kmgtp", start=1):
    for _suffix in (_p, _p + "b", _p + "ib"):
        _UNITS[_suffix] = 1 << (10 * _i)


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
