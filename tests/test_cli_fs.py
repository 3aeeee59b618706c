"""``alluxio-jobs fs …``: the distributed file commands, driven as a subprocess on
``tmp_path`` data (the expectations of Alluxio's DistributedLoadCommandTest and friends).

Runs that need a UFS that fails or pauses start the CLI through :data:`BOOT`, which
registers :class:`ScriptedUfs` (a local directory whose reads fail, or wait for a line on
standard input, as environment variables say) under the protocol ``scripted``.
"""

import io
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import fsspec
import pytest
from fsspec.implementations.local import LocalFileSystem

from alluxio_jobs.commands import CmdInfo
from alluxio_jobs.model import Status

ROOT = Path(__file__).resolve().parent.parent
#: Safety net for a hung child process; no assertion depends on time.
WAIT = 60.0
#: Starts the CLI with the ``scripted`` UFS registered.
BOOT = ("import sys, tests.test_cli_fs as t; t.register_scripted_ufs(); "
        "from alluxio_jobs.cli import main; sys.exit(main(sys.argv[1:]))")
TEMP_NAME = re.compile(r"\.alluxio-[0-9a-f]{32}\.tmp$")


# --------------------------------------------------------- a UFS that misbehaves

_held = threading.Event()


class ScriptedUfs(LocalFileSystem):  # type: ignore[misc]
    """A local directory (``scripted:///path``) whose reads of paths containing
    ``$SCRIPTED_UFS_FAIL`` fail, and whose first read of a path containing
    ``$SCRIPTED_UFS_HOLD`` says so on standard error and waits for a line on standard
    input."""

    protocol = ("scripted",)

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        text = str(path)
        if text.startswith("scripted://"):
            text = text[len("scripted://"):]
        return super()._strip_protocol(text)

    def _open(self, path: Any, mode: str = "rb", block_size: Any = None, **kwargs: Any) -> Any:
        if "r" in mode:
            _on_read(str(path))
        return super()._open(path, mode, block_size=block_size, **kwargs)


def _on_read(path: str) -> None:
    fail = os.environ.get("SCRIPTED_UFS_FAIL")
    if fail and fail in path:
        raise OSError(f"injected read failure on {path}")
    hold = os.environ.get("SCRIPTED_UFS_HOLD")
    if hold and hold in path and not _held.is_set():
        _held.set()
        sys.stderr.write(f"scripted-ufs: holding a read of {path}\n")
        sys.stderr.flush()
        sys.stdin.readline()


def register_scripted_ufs() -> None:
    fsspec.register_implementation("scripted", ScriptedUfs, clobber=True)


# ---------------------------------------------------------------------- helpers


def environment(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}
    for name in ("ALLUXIO_JOBS_STORE", "ALLUXIO_JOBS_UFS", "ALLUXIO_JOBS_DEBUG"):
        env.pop(name, None)
    return {**env, **extra}


def command(args: list[str], boot: bool) -> list[str]:
    return [sys.executable, "-c", BOOT, *args] if boot else [
        sys.executable, "-m", "alluxio_jobs", *args]


def cli(*args: str, cwd: Path, stdin: str | None = None, boot: bool = False,
        **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command(list(args), boot), cwd=cwd, env=environment(**env),
                          input=stdin, capture_output=True, text=True, timeout=WAIT,
                          check=False)


class Running:
    """A CLI process whose output is read line by line while it runs."""

    def __init__(self, args: list[str], cwd: Path, boot: bool = False, **env: str) -> None:
        self.proc = subprocess.Popen(command(args, boot), cwd=cwd, env=environment(**env),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, bufsize=1)
        self.lines: dict[str, queue.Queue[str | None]] = {"out": queue.Queue(),
                                                          "err": queue.Queue()}
        self.seen: dict[str, list[str]] = {"out": [], "err": []}
        self.readers = [threading.Thread(target=self._read, args=(name, stream), daemon=True)
                        for name, stream in (("out", self.proc.stdout),
                                             ("err", self.proc.stderr))]
        for reader in self.readers:
            reader.start()

    def _read(self, name: str, stream: Any) -> None:
        for line in stream:
            self.lines[name].put(line.rstrip("\n"))
        self.lines[name].put(None)

    def expect(self, name: str, text: str) -> str:
        """The next line of ``name`` ("out" or "err") containing ``text``."""
        while True:
            try:
                line = self.lines[name].get(timeout=WAIT)
            except queue.Empty:
                line = None
            if line is None:
                self.kill()
                raise AssertionError(f"no line with {text!r} on std{name}: {self.seen}")
            self.seen[name].append(line)
            if text in line:
                return line

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def finish(self) -> tuple[int, str, str]:
        """Close standard input and wait: (exit code, stdout, stderr) of the whole run."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        code = self.proc.wait(timeout=WAIT)
        self._close()
        for name in ("out", "err"):
            while (line := self.lines[name].get_nowait()) is not None:
                self.seen[name].append(line)
        return code, "\n".join(self.seen["out"]), "\n".join(self.seen["err"])

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(WAIT)
        self._close()

    def _close(self) -> None:
        for reader in self.readers:
            reader.join(WAIT)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def make_files(root: Path, names: list[str], size: int = 10) -> dict[str, bytes]:
    """Files under ``root``: relative name -> content (each file its own bytes)."""
    made = {}
    for i, name in enumerate(names):
        data = (f"{name}:{i}:".encode() * size)[:size]
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        made[name] = data
    return made


def files_under(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def ufs(tmp_path: Path) -> Path:
    path = tmp_path / "ufs"
    path.mkdir()
    return path


def fs_args(ufs: Path, *args: str, scheme: str = "file") -> list[str]:
    return ["fs", "--ufs", f"{scheme}://{ufs}", "--block-size", "1KB", *args]


# ------------------------------------------------------------------ distributedLoad


def test_distributed_load_of_66_files_in_batches_of_3(tmp_path: Path, ufs: Path) -> None:
    names = [f"testCount/testBatchFile{i}" for i in range(66)]
    make_files(ufs, names)
    store = tmp_path / "jobs.db"
    result = cli("--store", str(store), *fs_args(ufs, "distributedLoad", "--batch-size", "3",
                                                 "/testCount"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    cmd_id = lines[1].removeprefix("Submitted successfully, jobControlId = ")
    assert lines[:4] == ["Please wait for command submission to finish..",
                         f"Submitted successfully, jobControlId = {cmd_id}",
                         "Waiting for the command to finish ...",
                         "Get command status information below:"]
    assert sorted(lines[4:70]) == sorted(f"Successfully loaded path /{n}" for n in names)
    assert lines[-2] == "Total completed file count is 66, failed file count is 0"
    assert lines[-1] == f"Finished running the command, jobControlId = {cmd_id}"
    assert not (tmp_path / "logs").exists()
    # the store holds the command's jobs: 22 batches of 3 files
    ls = cli("--store", str(store), "job", "ls", cwd=tmp_path).stdout.splitlines()
    assert len(ls) == 22
    assert all(line.split()[1:] == ["BatchedJob", "COMPLETED"] for line in ls)


def test_files_missing_in_the_ufs_are_counted_and_listed(tmp_path: Path, ufs: Path) -> None:
    names = [f"testFailure/testBatchFile{i}" for i in range(20)]
    make_files(ufs, names)
    shell = Running(fs_args(ufs, "shell"), cwd=tmp_path)
    shell.send("ls -R /testFailure")  # Alluxio knows every file ...
    listed = [shell.expect("out", "/testFailure/").split()[-1] for _ in names]
    assert sorted(listed) == sorted(f"/{name}" for name in names)
    missing = sorted(f"/{name}" for i, name in enumerate(names) if i % 2 == 0)
    for path in missing:  # ... then half of them disappear from the UFS
        (ufs / path.lstrip("/")).unlink()
    shell.send("distributedLoad /testFailure")
    code, out, err = shell.finish()
    assert code == 1, err
    assert err == ""
    assert "Total completed file count is 10, failed file count is 10" in out.splitlines()
    csv = "./logs/user/distributedLoad_testFailure_failures.csv"
    tail = out.split("Here are failed files: \n")[1].splitlines()
    assert tail == [f"{path}," for path in missing] + [
        f"Check out {csv} for full list of failed files."]
    assert (tmp_path / csv).read_text().splitlines() == missing
    loaded = [line.removeprefix("Successfully loaded path ") for line in out.splitlines()
              if line.startswith("Successfully loaded path ")]
    assert sorted(loaded) == sorted({f"/{n}" for n in names} - set(missing))


def test_async_load_prints_the_id_and_the_store_shows_the_jobs(tmp_path: Path,
                                                               ufs: Path) -> None:
    make_files(ufs, ["d/a", "d/b", "d/c"])
    store = tmp_path / "jobs.db"
    result = cli("--store", str(store), *fs_args(ufs, "distributedLoad", "--async", "/d"),
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:2] == ["Entering async submission mode. ",
                         "Please wait for command submission to finish.."]
    assert re.fullmatch(r"Submitted distLoad job successfully, jobControlId = \d+", lines[2])
    assert len(lines) == 3
    ls = cli("--store", str(store), "job", "ls", cwd=tmp_path).stdout.splitlines()
    assert [line.split()[1:] for line in ls] == [["Load", "COMPLETED"]] * 3


def test_load_options_index_hosts_and_json(tmp_path: Path, ufs: Path) -> None:
    make_files(ufs, ["a/x", "a/y", "b/z"])
    index = tmp_path / "index.txt"
    index.write_text("/a\n\n/b/z\n")
    result = cli("--json", *fs_args(ufs, "distributedLoad", "--index", str(index),
                                    "--hosts", "LOCAL-WORKER-1", "--replication", "1"),
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    infos = json.loads(result.stdout)
    assert [sorted(i["completed"]) for i in infos] == [["/a/x", "/a/y"], ["/b/z"]]
    assert {i["status"] for i in infos} == {"COMPLETED"}
    nowhere = cli("--json", *fs_args(ufs, "distributedLoad", "--hosts", "nosuchhost", "/a"),
                  cwd=tmp_path)
    assert nowhere.returncode == 1
    failed = json.loads(nowhere.stdout)["failed"]
    assert sorted(failed) == ["/a/x", "/a/y"]
    assert all("Needed 1 but only found 0" in reason for reason in failed.values())
    assert (tmp_path / "logs/user/distributedLoad_a_failures.csv").read_text() == (
        "/a/x\n/a/y\n")


# --------------------------------------------------------------- distributedCp / Mv


def test_distributed_cp_copies_a_tree(tmp_path: Path, ufs: Path) -> None:
    made = make_files(ufs, ["src/a", "src/sub/b", "src/sub/deeper/c"], size=3000)
    result = cli(*fs_args(ufs, "distributedCp", "--batch-size", "2", "/src", "/dst"),
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert sorted(line for line in lines if line.startswith("Successfully copied path")) == [
        "Successfully copied path /src/a", "Successfully copied path /src/sub/b",
        "Successfully copied path /src/sub/deeper/c"]
    assert lines[-2] == "Total completed file count is 3, failed file count is 0"
    assert files_under(ufs / "dst") == {k.removeprefix("src/"): v for k, v in made.items()}
    # existing destinations are kept with --overwrite false: every file fails
    again = cli(*fs_args(ufs, "distributedCp", "--overwrite", "false", "/src", "/dst"),
                cwd=tmp_path)
    assert again.returncode == 1
    assert "Total completed file count is 0, failed file count is 3" in again.stdout
    csv = tmp_path / "logs/user/distributedCp_src_failures.csv"
    assert csv.read_text().splitlines() == ["/src/a", "/src/sub/b", "/src/sub/deeper/c"]
    assert files_under(ufs / "dst") == {k.removeprefix("src/"): v for k, v in made.items()}


def test_distributed_mv_deletes_the_source_only_after_every_copy(tmp_path: Path,
                                                                 ufs: Path) -> None:
    made = make_files(ufs, [f"src/f{i:03d}" for i in range(6)], size=2500)
    failed = cli(*fs_args(ufs, "distributedMv", "/src", "/dst", scheme="scripted"),
                 cwd=tmp_path, boot=True, SCRIPTED_UFS_FAIL="src/f004")
    assert failed.returncode == 1
    assert "Total completed file count is 5, failed file count is 1" in failed.stdout
    assert "Copy operation portion of Move failed." in failed.stdout
    assert "Deleting /src" not in failed.stdout
    assert (tmp_path / "logs/user/distributedCp_src_failures.csv").read_text() == (
        "/src/f004\n")
    assert files_under(ufs / "src") == {k.removeprefix("src/"): v for k, v in made.items()}
    assert "f004" not in files_under(ufs / "dst")  # no partial copy of the failed file

    moved = cli(*fs_args(ufs, "distributedMv", "/src", "/dst"), cwd=tmp_path)
    assert moved.returncode == 0, moved.stderr
    assert moved.stdout.splitlines()[-1] == "Deleting /src"
    assert not (ufs / "src").exists()
    assert files_under(ufs / "dst") == {k.removeprefix("src/"): v for k, v in made.items()}


# ------------------------------------------------------------------ persist / free


def test_persist_and_free_in_one_shell(tmp_path: Path, ufs: Path) -> None:
    made = make_files(ufs, ["src/a", "src/b"], size=1500)
    result = cli(*fs_args(ufs, "shell"), cwd=tmp_path, stdin="\n".join([
        "# copies kept in the caches only, then persisted",
        "distributedCp --write-type MUST_CACHE /src /mem",
        "ls -R /mem",
        "free /mem",
        "persist /mem",
        "free /mem",
        "ls -R /mem",
        "persist /src",
    ]) + "\n")
    assert result.returncode == 1  # the first free was refused
    assert result.stderr.splitlines() == [
        "alluxio-jobs: Cannot free file /mem/a which is not persisted",
        "alluxio-jobs: Cannot free file /mem/b which is not persisted"]
    lines = result.stdout.splitlines()
    ls = [line.split() for line in lines if line.split()[-1:] in (["/mem/a"], ["/mem/b"])]
    assert ls == [["1500", "NOT_PERSISTED", "100%", "/mem/a"],
                  ["1500", "NOT_PERSISTED", "100%", "/mem/b"],
                  ["1500", "PERSISTED", "0%", "/mem/a"],
                  ["1500", "PERSISTED", "0%", "/mem/b"]]
    assert "persisted file /mem/a with size 1500" in lines
    assert "persisted file /mem/b with size 1500" in lines
    assert lines.count("/mem was successfully freed from Alluxio space.") == 1
    assert lines[-2:] == ["/src/a is already persisted", "/src/b is already persisted"]
    assert files_under(ufs / "mem") == {k.removeprefix("src/"): v for k, v in made.items()}


def test_one_shot_persist_and_free(tmp_path: Path, ufs: Path) -> None:
    make_files(ufs, ["d/a", "d/b"])
    persisted = cli(*fs_args(ufs, "persist", "/d/a", "/d/b"), cwd=tmp_path)
    assert persisted.returncode == 0, persisted.stderr
    assert persisted.stdout == "/d/a is already persisted\n/d/b is already persisted\n"
    freed = cli(*fs_args(ufs, "free", "/d"), cwd=tmp_path)
    assert freed.returncode == 0, freed.stderr
    assert freed.stdout == "/d was successfully freed from Alluxio space.\n"


# ------------------------------------------------------------------------ Ctrl-C


def test_ctrl_c_cancels_the_jobs_and_leaves_nothing_half_written(tmp_path: Path,
                                                                  ufs: Path) -> None:
    made = make_files(ufs, ["src/big"], size=8000)
    store = tmp_path / "jobs.db"
    run = Running(["--store", str(store),
                   *fs_args(ufs, "distributedCp", "/src", "/dst", scheme="scripted")],
                  cwd=tmp_path, boot=True, SCRIPTED_UFS_HOLD="src/big")
    run.expect("err", "scripted-ufs: holding a read of")
    (partial,) = list((ufs / "dst").iterdir())  # the copy in flight
    assert TEMP_NAME.search(partial.name)
    run.proc.send_signal(signal.SIGINT)
    run.expect("err", "interrupted: canceled the running command and its jobs")
    run.send("")  # let the held read go on: the canceled copy stops at the next block
    code, out, err = run.finish()
    assert code == 130, err
    assert "Finished running the command" not in out
    assert "Traceback" not in err
    assert files_under(ufs / "dst") == {}
    assert files_under(ufs / "src") == {"big": made["src/big"]}
    ls = cli("--store", str(store), "job", "ls", cwd=tmp_path).stdout.split()
    assert ls[1:] == ["Migrate", "CANCELED"]


# ------------------------------------------------------------- bad input, errors


@pytest.mark.parametrize("args", [
    ["distributedLoad"],
    ["distributedLoad", "--replication", "0", "/d"],
    ["distributedLoad", "--batch-size", "many", "/d"],
    ["distributedCp", "relative/path", "/dst"],
    ["distributedCp", "--overwrite", "maybe", "/a", "/b"],
    ["distributedMv", "/only-one"],
    ["persist"],
    ["free", "/a", "/b"],
    ["--block-size", "12XB", "ls", "/"],
    ["--workers", "0", "ls", "/"],
    ["frobnicate", "/"],
    ["getCmdStatus", "1"],  # only in fs shell
])
def test_bad_arguments_print_usage_and_exit_2(tmp_path: Path, ufs: Path,
                                              args: list[str]) -> None:
    result = cli("fs", "--ufs", str(ufs), *args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("usage: ")
    assert result.stdout == ""


def test_a_missing_ufs_option_is_a_usage_error(tmp_path: Path) -> None:
    result = cli("fs", "distributedLoad", "/d", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("usage: alluxio-jobs fs distributedLoad")
    assert result.stderr.endswith("error: pass --ufs URL (or set $ALLUXIO_JOBS_UFS)\n")
    with_env = cli("fs", "ls", "/", cwd=tmp_path, ALLUXIO_JOBS_UFS=str(tmp_path))
    assert with_env.returncode == 0, with_env.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["distributedLoad", "/missing"], 'Path "/missing" does not exist.'),
    (["distributedCp", "/d", "/d/sub"], "Cannot migrate because /d is a prefix of /d/sub"),
    (["--ufs", "/no/such/dir", "ls", "/"],
     "the under file system /no/such/dir is not an existing directory"),
])
def test_errors_print_one_line_and_exit_1(tmp_path: Path, ufs: Path, args: list[str],
                                          message: str) -> None:
    (ufs / "d").mkdir()
    result = cli("fs", "--ufs", str(ufs), *args, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("alluxio-jobs: ")
    assert message in result.stderr


def test_a_bad_line_in_the_shell_gives_2_and_the_others_run(tmp_path: Path,
                                                            ufs: Path) -> None:
    make_files(ufs, ["d/a"])
    result = cli(*fs_args(ufs, "shell"), cwd=tmp_path,
                 stdin="distributedLoad --replication x /d\nls /d\ngetCmdStatus 12\n")
    assert result.returncode == 2
    assert "usage: fs distributedLoad" in result.stderr
    assert "Failed to get status of the command 12" in result.stderr
    assert result.stdout.split() == ["10", "PERSISTED", "0%", "/d/a"]


def test_get_cmd_status_in_the_shell(tmp_path: Path, ufs: Path) -> None:
    make_files(ufs, ["d/a", "d/b"])
    shell = Running(fs_args(ufs, "shell"), cwd=tmp_path)
    shell.send("distributedLoad --async /d")
    line = shell.expect("out", "Submitted distLoad job successfully, jobControlId = ")
    cmd_id = line.rsplit(" ", 1)[1]
    shell.send(f"getCmdStatus {cmd_id}")
    shell.expect("out", "Get command status information below:")
    code, out, err = shell.finish()
    assert code == 0, err
    assert out.splitlines()[-1].startswith("Total completed file count is ")


# ------------------------------------------------------------------ progress bar


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _info(done: int, total: int) -> CmdInfo:
    return CmdInfo(cmd_id=1, operation="DIST_LOAD", description="", status=Status.RUNNING,
                   total=total, completed=[f"/f{i}" for i in range(done)], failed={"/x": "no"},
                   skipped=[], job_ids=[])


def test_the_progress_bar_goes_to_a_terminal_only() -> None:
    pytest.importorskip("tqdm")
    from alluxio_jobs._fs_terminal import _Progress

    terminal = _Terminal()
    bar = _Progress(terminal, "distributedLoad")
    bar.update(_info(3, 10))
    bar.update(_info(9, 10))
    bar.close()
    shown = terminal.getvalue()
    assert "distributedLoad" in shown
    assert "10/10" in shown  # 9 completed and 1 failed
    assert "failed=1" in shown
    pipe = io.StringIO()
    quiet = _Progress(pipe, "distributedLoad")
    quiet.update(_info(3, 10))
    quiet.close()
    assert pipe.getvalue() == ""


def test_without_tqdm_there_is_no_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    from alluxio_jobs import _fs_terminal

    real = importlib.import_module

    def no_tqdm(name: str, package: str | None = None) -> Any:
        if name == "tqdm":
            raise ImportError("no tqdm")
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", no_tqdm)
    terminal = _Terminal()
    bar = _fs_terminal._Progress(terminal, "distributedLoad")
    bar.update(_info(3, 10))
    bar.close()
    assert terminal.getvalue() == ""
