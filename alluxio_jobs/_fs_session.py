"""The ``fs`` commands as a run (or a line of ``fs shell``) executes them.

A session runs each command on one embedded cluster, waits for it with a progress bar,
prints what Alluxio prints (or, with ``--json``, the command's records) and returns the
exit code; Ctrl-C cancels the running command and its jobs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from alluxio_jobs._fs_cluster import _Cluster
from alluxio_jobs._fs_parser import _alluxio_path, _line_parser, _UsageError
from alluxio_jobs._fs_terminal import (
    INTERRUPTED,
    POLL,
    _CommandError,
    _Interrupts,
    _message,
    _Progress,
)

if TYPE_CHECKING:
    from alluxio_jobs.commands import CmdInfo, CommandHandle

#: Where the failure lists of distributedLoad and distributedCp go (Alluxio's).
FAILURE_DIR = "./logs/user"
#: Alluxio's ``DEFAULT_FAILURE_LIMIT``: failed files printed (the file lists them all).
FAILURE_LIMIT = 20


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
    try:
        return _alluxio_path(text)
    except argparse.ArgumentTypeError as exc:
        raise _CommandError(str(exc)) from None
