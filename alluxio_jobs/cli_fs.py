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

This module runs a parsed command; the parsers are in ``_fs_parser``, the commands'
runs and output in ``_fs_session``, the embedded cluster in ``_fs_cluster`` and the
progress bar and Ctrl-C in ``_fs_terminal``.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TextIO

from alluxio_jobs._fs_parser import DEFAULT_BATCH_SIZE, UFS_ENV, add_parser
from alluxio_jobs._fs_session import FAILURE_DIR, _Session
from alluxio_jobs._fs_terminal import INTERRUPTED, _CommandError, _Interrupts, _message

__all__ = ["DEFAULT_BATCH_SIZE", "FAILURE_DIR", "UFS_ENV", "add_parser", "run"]


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
