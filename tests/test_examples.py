"""Every ``examples/*.py``, ``python -m alluxio_jobs demo`` and the Python code of the docs
run in a fresh process and exit 0."""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
#: Markdown pages whose ```python blocks form one program each.
DOCS = sorted(p for p in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]
              if "```python" in p.read_text(encoding="utf-8"))
#: A safety net against a hung child process; no assertion depends on time.
LIMIT = 240

#: Lines each example must print; "..." stands for any text.
EXPECTED: dict[str, list[str]] = {
    "quickstart.py": ["Name: Sleep", "Status: COMPLETED", "Task 3", "\tWorker: local-worker-1"],
    "custom_plan.py": ["join result: 48 words, 27 distinct; top: ...", "Name: WordCount",
                       "\tDescription: 2 lines", "\tDescription: 1 line"],
    "workflow.py": [
        "pipeline ...: COMPLETED, 3 steps",
        "broken pipeline ...: FAILED: Task execution failed: row count must not be negative, ...",
        "Error: Task execution failed: row count must not be negative, got -1",
        "inner step: Validate FAILED, Sleep CANCELED",
        "canceled workflow ...: CANCELED; children: CANCELED, CANCELED",
        "pipeline ... after cancel: COMPLETED",
        "cancel(12345): The job of id 12345 does not exist",
    ],
    "testing_harness.py": ["ok  test_a_lost_worker_task_runs_elsewhere", "6 passed"],
    "distributed_load.py": ["distributedLoad COMPLETED: 12 files loaded",
                            "a second load skips 12 files already cached",
                            "Total completed file count is 12, failed file count is 0",
                            "distributedMv COMPLETED: source gone: True"],
    "dask_cluster.py": ["2 job workers on Dask: ...", "job ...: COMPLETED", "Name: Sleep",
                        "\tWorker: tcp://127.0.0.1:..."],
    "durable_store.py": ["$ alluxio-jobs --store jobs.db job ls",
                         "the master canceled job ...: CANCELED", "Name: Sleep",
                         "\tWorker: local-worker-1",
                         "a new master on the same file lists 3 jobs; the next id is ..."],
}


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    # Import the package from this checkout whether or not it is installed.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=LIMIT, check=False)


def assert_lines(stdout: str, expected: list[str]) -> None:
    lines = stdout.splitlines()
    for want in expected:
        pattern = re.compile(".*".join(re.escape(part) for part in want.split("...")))
        assert any(pattern.fullmatch(line) for line in lines), (want, stdout)


def test_every_example_is_checked() -> None:
    assert sorted(p.name for p in EXAMPLES) == sorted(EXPECTED)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(path: Path, tmp_path: Path) -> None:
    proc = run([str(path)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert_lines(proc.stdout, EXPECTED[path.name])


@pytest.mark.parametrize("page", DOCS, ids=lambda p: p.name)
def test_docs_code_runs(page: Path, tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), re.DOTALL)
    proc = run(["-c", "\n".join(blocks)], tmp_path)
    assert proc.returncode == 0, proc.stderr


def test_demo(tmp_path: Path) -> None:
    proc = run(["-m", "alluxio_jobs", "demo"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert_lines(proc.stdout, [
        "$ alluxio job ls",
        "$ alluxio job stat -v ...",
        "$ alluxio fsadmin report jobservice",
        "Task 5",
        "Worker: local-worker-0  Task Pool Size: 10     Unfinished Tasks: 0      ...",
        "Status: CREATED   Count: 0",
        "Status: CANCELED  Count: 1",
        "Status: FAILED    Count: 1",
        "Status: RUNNING   Count: 0",
        "Status: COMPLETED Count: 8",
        "10 Most Recently Modified Jobs:",
        "10 Most Recently Failed Jobs:",
        "10 Longest Running Jobs:",
    ])
    ls = proc.stdout.split("$ alluxio job ls\n")[1].split("\n\n")[0].splitlines()
    assert len(ls) == 10  # 6 submitted jobs + 4 workflow children
    assert sorted(ls) == ls  # ascending ids
    failed = [line for line in proc.stdout.splitlines() if "Name: Crash" in line]
    assert len(failed) == 2  # in the recently modified and the recently failed lists
    assert all(line.endswith("Status: FAILED") for line in failed)
    # the data-jobs section: every data job type, COMPLETED, and a distributed load's status
    data_ls = proc.stdout.split("$ alluxio job ls\n")[2].split("\n\n")[0].splitlines()
    names = {line.split()[1] for line in data_ls}
    assert names - {"Compact"} == {"Evict", "Load", "Migrate", "Move", "Persist", "Replicate"}
    if importlib.util.find_spec("alluxio_jobs.plans.transform") is not None:
        assert "Compact" in names
    assert {line.split()[2] for line in data_ls} == {"COMPLETED"}
    assert_lines(proc.stdout, [
        "distributedLoad /data/sales: COMPLETED, 3 files cached, 3 Load jobs",
        "Move      block ... of /data/sales/part-1.csv: COMPLETED, copies on local-worker-...",
        "$ alluxio job getCmdStatus ...",
        "Get command status information below:",
        "Successfully loaded path /data/sales/part-0.csv",
        "Total completed file count is 3, failed file count is 0",
    ])


@pytest.mark.parametrize("argv", [[], ["bogus"], ["demo", "--unknown"]])
def test_bad_arguments_print_usage_and_exit_2(argv: list[str], tmp_path: Path) -> None:
    proc = run(["-m", "alluxio_jobs", *argv], tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith("usage: ")
