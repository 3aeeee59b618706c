"""The command line, driven as a subprocess against a store a master in this process writes."""

import json
import os
import subprocess
import sys
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
