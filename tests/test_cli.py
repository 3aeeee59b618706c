"""The command line, driven as a subprocess against a store a master in this process writes."""

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from alluxio_jobs import (
    CompositeConfig,
    JobMaster,
    LocalTransport,
    MasterConfig,
    NoopConfig,
    SleepConfig,
    Status,
    render,
    reports,
)
from alluxio_jobs.stores import SQLiteJobStore
from alluxio_jobs.testing import HoldConfig, RaiseConfig, conformance_plans

WAIT = 60.0


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("ALLUXIO_JOBS_STORE", None)
    return subprocess.run([sys.executable, "-m", "alluxio_jobs", *args], capture_output=True,
                          text=True, env=env, timeout=WAIT, check=False)


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "jobs.db"


@pytest.fixture
def master(store_path: Path) -> Iterator[JobMaster]:
    master = JobMaster(MasterConfig(store_flush_interval=0.01),
                       LocalTransport(num_workers=2), conformance_plans(),
                       store=SQLiteJobStore(store_path))
    yield master
    master.close()


@pytest.fixture
def finished_jobs(master: JobMaster) -> list[int]:
    ids = [master.run(SleepConfig(time_ms=0, tasks_per_worker=2)),
           master.run(RaiseConfig(message="boom")),
           master.run(CompositeConfig(jobs=[NoopConfig(), SleepConfig(time_ms=0)]))]
    for job_id in ids:
        master.wait(job_id, WAIT)
    return ids


def test_job_ls_prints_alluxio_lines(master: JobMaster, finished_jobs, store_path: Path):
    result = cli("--store", str(store_path), "job", "ls")
    assert result.returncode == 0, result.stderr
    assert result.stdout == render.format_job_ls(reports.job_ls(master))
    assert f"{finished_jobs[1]:<15} {'Raise':<10} {'FAILED':<10}\n" in result.stdout


def test_job_stat_verbose_matches_the_master(master: JobMaster, finished_jobs,
                                             store_path: Path):
    for job_id in finished_jobs:
        result = cli("--store", str(store_path), "job", "stat", "-v", str(job_id))
        assert result.returncode == 0, result.stderr
        expected = render.format_job_stat(master.get_status(job_id, verbose=True), verbose=True)
        assert result.stdout == expected
    failed = cli("--store", str(store_path), "job", "stat", str(finished_jobs[1])).stdout
    assert "Status: FAILED\nError: Task execution failed: boom\n" in failed


def test_jobservice_report(master: JobMaster, finished_jobs, store_path: Path):
    result = cli("--store", str(store_path), "fsadmin", "report", "jobservice")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Worker: local-worker-0  Task Pool Size: 10     ")
    assert lines[1].startswith("Worker: local-worker-1  ")
    assert "Status: FAILED    Count: 1" in lines
    assert "Status: COMPLETED Count: 4" in lines
    assert "10 Most Recently Failed Jobs:" in lines


def test_json_output_is_plain_data(master: JobMaster, finished_jobs, store_path: Path):
    result = cli("--store", str(store_path), "--json", "job", "ls")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["job_id"] for r in rows] == master.list()
    assert {r["type"] for r in rows} == {"JobInfo"}
    stat = json.loads(cli("--store", str(store_path), "--json", "job", "stat", "-v",
                          str(finished_jobs[0])).stdout)
    assert len(stat["tasks"]) == 4


def test_job_cancel_reaches_the_master_in_another_process(master: JobMaster, store_path: Path):
    held = master.run(HoldConfig(seconds=WAIT))
    master.wait(master.run(NoopConfig()), WAIT)  # the held job is in the store now
    result = cli("--store", str(store_path), "job", "cancel", str(held))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert master.wait(held, WAIT).status is Status.CANCELED


def test_bad_arguments_exit_2_with_usage(store_path: Path):
    result = cli("--store", str(store_path), "job", "stat", "abc")
    assert result.returncode == 2
    assert "usage:" in result.stderr
    assert "Arg abc is not type long" in result.stderr
    assert cli("job", "ls").returncode == 2  # no store
    assert cli("job", "frobnicate").returncode == 2


def test_errors_print_one_line_without_traceback(tmp_path: Path, master: JobMaster,
                                                 store_path: Path):
    missing = cli("--store", str(tmp_path / "missing.db"), "job", "ls")
    assert missing.returncode == 1
    assert missing.stderr.count("\n") == 1
    assert "no job store" in missing.stderr
    master.wait(master.run(NoopConfig()), WAIT)
    unknown = cli("--store", str(store_path), "job", "stat", "5")
    assert unknown.returncode == 1
    assert unknown.stderr == ("Failed to get status of the job 5: "
                              "The job of id 5 does not exist\n")
    assert "Traceback" not in missing.stderr + unknown.stderr


# ------------------------------------------------------------ distributed commands


LOAD_WORKLOAD = textwrap.dedent("""
    import json
    import sys
    from pathlib import Path

    from alluxio_jobs import FileSystem, distributed_load
    from alluxio_jobs.commands import format_cmd_status
    from alluxio_jobs.stores import SQLiteJobStore

    store, ufs = sys.argv[1], Path(sys.argv[2])
    (ufs / "in").mkdir(parents=True)
    for i in range(5):
        (ufs / "in" / f"f{i}").write_bytes(bytes([i]) * 500)
    (ufs / "in" / "zbig").write_bytes(b"z" * 8192)  # more than the cache holds
    with FileSystem.local(1, block_size=1024, cache="memory", cache_capacity=4096,
                          store=SQLiteJobStore(store)) as fs:
        fs.mount("/data", ufs.as_uri())
        info = distributed_load(fs, "/data/in", active_jobs=1).wait(60)
        print(json.dumps({"cmd_id": info.cmd_id, "text": format_cmd_status(info)}),
              flush=True)
        sys.stdin.read()  # the master keeps running (and writing its store) until told
""")


def test_get_cmd_status_of_a_command_run_by_another_process(tmp_path: Path):
    store = tmp_path / "jobs.db"
    script = tmp_path / "load.py"
    script.write_text(LOAD_WORKLOAD)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, str(script), str(store), str(tmp_path / "ufs")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdin is not None
    assert proc.stdout is not None
    try:
        ran = json.loads(proc.stdout.readline())
        cmd_id = str(ran["cmd_id"])
        result = cli("--store", str(store), "job", "getCmdStatus", cmd_id)
        assert result.returncode == 0, result.stderr
        assert result.stdout == ran["text"]
        assert result.stdout == "".join([
            "Get command status information below:\n",
            *(f"Successfully loaded path /data/in/f{i}\n" for i in range(5)),
            "Total completed file count is 5, failed file count is 1\n",
            "Failed files are:\n",
            "/data/in/zbig\n",
        ])
        data = json.loads(cli("--store", str(store), "--json", "job", "getCmdStatus",
                              cmd_id).stdout)
        assert (data["type"], data["cmd_id"], data["operation"], data["status"]) == (
            "CmdInfo", ran["cmd_id"], "DIST_LOAD", "FAILED")
        assert data["completed"] == [f"/data/in/f{i}" for i in range(5)]
        assert list(data["failed"]) == ["/data/in/zbig"]
        assert "is full" in data["failed"]["/data/in/zbig"]
        assert len(data["job_ids"]) == 6
        jobs = cli("--store", str(store), "job", "ls").stdout
        assert cmd_id not in jobs  # as Alluxio: job ls lists jobs, not commands
        assert all(str(job_id) in jobs for job_id in data["job_ids"])
    finally:
        proc.stdin.close()
        proc.wait(WAIT)
        proc.stdout.close()
    assert proc.returncode == 0


def test_get_cmd_status_of_an_unknown_id_fails_in_one_line(master: JobMaster, finished_jobs,
                                                           store_path: Path):
    result = cli("--store", str(store_path), "job", "getCmdStatus", str(finished_jobs[0]))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (f"Failed to get status of the command {finished_jobs[0]}: "
                             f"The job of id {finished_jobs[0]} does not exist\n")
    bad = cli("--store", str(store_path), "job", "getCmdStatus", "x")
    assert bad.returncode == 2
    assert "Arg x is not type long" in bad.stderr
