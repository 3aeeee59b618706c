"""The ``alluxio-jobs`` command line (also ``python -m alluxio_jobs``).

Inspection commands read a job store that a master (in this or another process)
writes: ``alluxio-jobs --store jobs.db job ls``. Their text is Alluxio's; ``--json``
prints the same data as JSON; ``job getCmdStatus`` shows a distributed command from
the store. ``job cancel`` leaves a cancel request in the store
that the running master picks up. ``demo`` runs the built-in demo. ``fs …`` runs
Alluxio's distributed file commands on an embedded cluster (:mod:`alluxio_jobs.cli_fs`).
"""

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from alluxio_jobs import cli_fs, render, reports
from alluxio_jobs.errors import AlluxioJobsError, JobNotFoundError
from alluxio_jobs.serde import to_dict
from alluxio_jobs.stores import SQLiteJobStore, StoreView

__all__ = ["build_parser", "main"]

STORE_ENV = "ALLUXIO_JOBS_STORE"


class UsageError(Exception):
    """Bad arguments: print the usage and exit with 2."""


def _job_id(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"Arg {text} is not type long") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alluxio-jobs",
        description="The Alluxio Job Service as an embeddable Python library.",
    )
    parser.add_argument("--store", metavar="PATH", default=os.environ.get(STORE_ENV),
                        help=f"the SQLite job store to read (default: ${STORE_ENV})")
    parser.add_argument("--json", action="store_true", help="print plain data as JSON")
    commands = parser.add_subparsers(dest="command", metavar="command", required=True)

    job = commands.add_parser("job", help="inspect and cancel jobs").add_subparsers(
        dest="action", metavar="action", required=True)
    job.add_parser("ls", help="list the jobs, running and finished, in id order")
    stat = job.add_parser("stat", help="show the status of one job")
    stat.add_argument("-v", dest="verbose", action="store_true",
                      help="show the status of every task")
    stat.add_argument("job_id", type=_job_id, metavar="id")
    cancel = job.add_parser("cancel", help="cancel a job (asynchronously)")
    cancel.add_argument("job_id", type=_job_id, metavar="id")
    cmd_status = job.add_parser("getCmdStatus",
                                help="show the status of a distributed command")
    cmd_status.add_argument("job_id", type=_job_id, metavar="jobControlId")

    fsadmin = commands.add_parser("fsadmin", help="administration reports").add_subparsers(
        dest="action", metavar="action", required=True)
    report = fsadmin.add_parser("report", help="print a report")
    report.add_argument("report", choices=["jobservice"])

    cli_fs.add_parser(commands)

    commands.add_parser("demo", help="run jobs on an embedded job master and inspect them",
                        description="Run a mix of jobs on an embedded JobMaster with local "
                                    "job workers and print job ls, job stat -v and "
                                    "fsadmin report jobservice.")
    return parser


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None,
         err: TextIO | None = None) -> int:
    """Run one command; returns the exit code (2 for bad arguments)."""
    try:
        return _main(argv, out, err)
    except BrokenPipeError:  # e.g. `alluxio-jobs job ls | head`: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _main(argv: Sequence[str] | None, out: TextIO | None, err: TextIO | None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        from alluxio_jobs import demo

        return demo.main()
    if args.command == "fs":
        return cli_fs.run(args, out, err)
    if not args.store:
        parser.print_usage(err)
        print(f"alluxio-jobs: error: pass --store PATH (or set ${STORE_ENV})", file=err)
        return 2
    handler = _HANDLERS[(args.command, args.action)]
    try:
        with SQLiteJobStore(args.store, create=False) as store:
            return handler(StoreView(store), args, out, err)
    except AlluxioJobsError as exc:
        print(f"alluxio-jobs: {exc}", file=err)
        return 1


def _emit(args: argparse.Namespace, out: TextIO, data: Any, text: str) -> None:
    if args.json:
        json.dump(to_dict(data), out, indent=2)
        out.write("\n")
    else:
        out.write(text)


def _job_ls(view: StoreView, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    rows = reports.job_ls(view)
    _emit(args, out, rows, render.format_job_ls(rows))
    return 0


def _job_stat(view: StoreView, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        info = reports.job_stat(view, args.job_id, args.verbose)
    except JobNotFoundError as exc:
        print(f"Failed to get status of the job {args.job_id}: {exc}", file=err)
        return 1
    _emit(args, out, info, render.format_job_stat(info, args.verbose))
    return 0


def _job_cancel(view: StoreView, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    record = view.store.get(args.job_id)
    if record is None:
        print(f"Failed to cancel the job {args.job_id}: "
              f"{JobNotFoundError(args.job_id)}", file=err)
        return 1
    if not record.status.is_finished:
        view.store.request_cancel(args.job_id)
    return 0


def _job_get_cmd_status(view: StoreView, args: argparse.Namespace, out: TextIO,
                        err: TextIO) -> int:
    from alluxio_jobs.commands import format_cmd_status

    try:
        info = view.get_cmd_status(args.job_id)
    except JobNotFoundError as exc:
        print(f"Failed to get status of the command {args.job_id}: {exc}", file=err)
        return 1
    _emit(args, out, info, format_cmd_status(info))
    return 0


def _report(view: StoreView, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    data = reports.jobservice_report(view)
    _emit(args, out, data, render.format_jobservice_report(data))
    return 0


_HANDLERS: dict[tuple[str, str], Callable[[StoreView, argparse.Namespace, TextIO, TextIO], int]]
_HANDLERS = {
    ("job", "ls"): _job_ls,
    ("job", "stat"): _job_stat,
    ("job", "cancel"): _job_cancel,
    ("job", "getCmdStatus"): _job_get_cmd_status,
    ("fsadmin", "report"): _report,
}


if __name__ == "__main__":
    raise SystemExit(main())
