"""Text renderers: Alluxio's exact ``job ls``, ``job stat [-v]``, ``report jobservice``."""

import datetime

import pytest

from alluxio_jobs import (
    CompositeConfig,
    JobInfo,
    JobMaster,
    JobServiceSummary,
    JobWorkerHealth,
    NoopConfig,
    Status,
    TaskInfo,
)
from alluxio_jobs.render import (
    abbreviate,
    format_job_ls,
    format_job_stat,
    format_jobservice_report,
    format_timestamp,
)
from alluxio_jobs.reports import JobServiceReport, job_ls, job_stat, jobservice_report
from alluxio_jobs.testing import EchoConfig, ManualClock, RaiseConfig

UTC = datetime.UTC
PST = datetime.timezone(datetime.timedelta(hours=-8))


def ms(tz: datetime.tzinfo, year: int, month: int, day: int, hour: int, minute: int,
       second: int) -> int:
    """Milliseconds since the epoch of a wall-clock time in ``tz``."""
    when = datetime.datetime(year, month, day, hour, minute, second, tzinfo=tz)
    return int(when.timestamp() * 1000)


def job(job_id: int, name: str, status: Status, **kwargs) -> JobInfo:
    kwargs.setdefault("description", "")
    return JobInfo(job_id=job_id, name=name, status=status, **kwargs)


def summary(jobs: list[JobInfo], recent=None, failures=None, running=None) -> JobServiceSummary:
    counts = dict.fromkeys(Status, 0)
    for j in jobs:
        counts[j.status] += 1
    return JobServiceSummary(
        status_counts=counts,
        recent_activities=jobs if recent is None else recent,
        recent_failures=failures if failures is not None else
        [j for j in jobs if j.status is Status.FAILED],
        longest_running=running if running is not None else
        [j for j in jobs if j.status is Status.RUNNING],
    )


# ------------------------------------------------------------------------ job ls


def test_job_ls_line_from_alluxio_docs():
    rows = [job(1613673433925, "Persist", Status.COMPLETED)]
    assert format_job_ls(rows) == "1613673433925   Persist    COMPLETED \n"


def test_job_ls_pads_every_column_and_keeps_row_order():
    rows = [job(1, "Load", Status.RUNNING), job(22, "Sleep", Status.CREATED),
            job(3, "Composite", Status.CANCELED)]
    assert format_job_ls(rows) == (
        "1               Load       RUNNING   \n"
        "22              Sleep      CREATED   \n"
        "3               Composite  CANCELED  \n"
    )


def test_job_ls_never_truncates_long_values():
    rows = [job(1234567890123456789, "AVeryLongJobName", Status.FAILED)]
    assert format_job_ls(rows) == "1234567890123456789 AVeryLongJobName FAILED    \n"


def test_job_ls_of_nothing_is_empty():
    assert format_job_ls([]) == ""


def test_job_ls_of_a_real_master(inline_master: JobMaster, clock: ManualClock):
    echo = inline_master.run(EchoConfig(value=1))
    clock.advance(1)
    boom = inline_master.run(RaiseConfig(message="boom"))
    noop = inline_master.run(NoopConfig())
    text = format_job_ls(job_ls(inline_master))
    assert text == "".join(
        f"{job_id:<15} {name:<10} {status:<10}\n"
        for job_id, name, status in [(echo, "Echo", "COMPLETED"), (boom, "Raise", "FAILED"),
                                     (noop, "NoOp", "COMPLETED")])


# ---------------------------------------------------------------------- job stat


def test_abbreviate_like_commons_lang():
    assert abbreviate("x" * 200) == "x" * 200
    assert abbreviate("x" * 201) == "x" * 197 + "..."
    assert len(abbreviate("y" * 5000)) == 200
    assert abbreviate("abcdefghij", 6) == "abc..."
    assert abbreviate("") == ""


def test_job_stat_minimal():
    info = job(5, "Sleep", Status.CREATED, description="SleepConfig(time_ms=5)")
    assert format_job_stat(info) == (
        "ID: 5\n"
        "Name: Sleep\n"
        "Description: SleepConfig(time_ms=5)\n"
        "Status: CREATED\n"
    )


def test_job_stat_error_and_result_only_when_not_empty():
    failed = job(6, "Load", Status.FAILED, description="d", error_type="IOError",
                 error_message="Task execution failed: disk full")
    assert format_job_stat(failed) == (
        "ID: 6\nName: Load\nDescription: d\nStatus: FAILED\n"
        "Error: Task execution failed: disk full\n"
    )
    done = job(7, "Load", Status.COMPLETED, description="d", result="loaded 3 blocks")
    assert format_job_stat(done) == (
        "ID: 7\nName: Load\nDescription: d\nStatus: COMPLETED\nResult: loaded 3 blocks\n"
    )
    both = job(8, "Load", Status.FAILED, description="d", error_message="e", result="r")
    assert format_job_stat(both).endswith("Status: FAILED\nError: e\nResult: r\n")


def test_job_stat_description_is_cut_to_200_unless_verbose():
    long = "LoadConfig{FilePath=/" + "a" * 300 + "}"
    info = job(9, "Load", Status.RUNNING, description=long)
    assert format_job_stat(info).splitlines()[2] == "Description: " + long[:197] + "..."
    assert format_job_stat(info, verbose=True).splitlines()[2] == "Description: " + long


def test_job_stat_description_of_exactly_200_is_kept():
    text = "d" * 200
    assert format_job_stat(job(1, "X", Status.RUNNING, description=text)).splitlines()[2] == (
        "Description: " + text)


def test_job_stat_tasks_only_when_verbose():
    tasks = [TaskInfo(job_id=10, task_id=0, worker_host="worker-a", status=Status.COMPLETED)]
    info = job(10, "Persist", Status.COMPLETED, description="PersistConfig", tasks=tasks)
    assert "Task" not in format_job_stat(info)
    assert format_job_stat(info, verbose=True) == (
        "ID: 10\n"
        "Name: Persist\n"
        "Description: PersistConfig\n"
        "Status: COMPLETED\n"
        "Task 0\n"
        "\tWorker: worker-a\n"
        "\tStatus: COMPLETED\n"
    )


def test_job_stat_verbose_task_lines():
    tasks = [
        TaskInfo(job_id=11, task_id=0, worker_host="worker-a", status=Status.COMPLETED,
                 description="block 7", result="cached"),
        TaskInfo(job_id=11, task_id=1, worker_host="worker-b", status=Status.FAILED,
                 error_type="IOError", error_message="disk full"),
        TaskInfo(job_id=11, task_id=2, worker_host="", status=Status.CANCELED),
        TaskInfo(job_id=11, task_id=3, worker_host="worker-a", status=Status.COMPLETED,
                 result=0),
        TaskInfo(job_id=11, task_id=4, worker_host="worker-b", status=Status.RUNNING,
                 description="z" * 250),
    ]
    info = job(11, "Load", Status.FAILED, description="LoadConfig",
               error_message="Task execution failed: disk full", tasks=tasks)
    assert format_job_stat(info, verbose=True) == (
        "ID: 11\n"
        "Name: Load\n"
        "Description: LoadConfig\n"
        "Status: FAILED\n"
        "Error: Task execution failed: disk full\n"
        "Task 0\n"
        "\tWorker: worker-a\n"
        "\tDescription: block 7\n"
        "\tStatus: COMPLETED\n"
        "\tResult: cached\n"
        "Task 1\n"
        "\tWorker: worker-b\n"
        "\tStatus: FAILED\n"
        "\tError: disk full\n"
        "Task 2\n"
        "\tStatus: CANCELED\n"
        "Task 3\n"
        "\tWorker: worker-a\n"
        "\tStatus: COMPLETED\n"
        "\tResult: 0\n"
        "Task 4\n"
        "\tWorker: worker-b\n"
        f"\tDescription: {'z' * 197}...\n"
        "\tStatus: RUNNING\n"
    )


def test_job_stat_verbose_workflow_children_are_task_blocks():
    children = [
        job(101, "Load", Status.COMPLETED, description="LoadConfig{a}", result="ok"),
        job(102, "Persist", Status.FAILED, description="PersistConfig{b}",
            error_message="Task execution failed: nope"),
        job(103, "Sleep", Status.CANCELED),
        job(104, "Sleep", Status.RUNNING, description="s" * 201),
    ]
    info = job(100, "Composite", Status.FAILED, description="CompositeConfig",
               error_message="Task execution failed: nope", children=children)
    assert format_job_stat(info, verbose=True) == (
        "ID: 100\n"
        "Name: Composite\n"
        "Description: CompositeConfig\n"
        "Status: FAILED\n"
        "Error: Task execution failed: nope\n"
        "Task 101\n"
        "\tDescription: LoadConfig{a}\n"
        "\tStatus: COMPLETED\n"
        "\tResult: ok\n"
        "Task 102\n"
        "\tDescription: PersistConfig{b}\n"
        "\tStatus: FAILED\n"
        "\tError: Task execution failed: nope\n"
        "Task 103\n"
        "\tStatus: CANCELED\n"
        "Task 104\n"
        f"\tDescription: {'s' * 197}...\n"
        "\tStatus: RUNNING\n"
    )
    assert "Task 101" not in format_job_stat(info)


def test_job_stat_of_a_real_plan_job(inline_master: JobMaster):
    job_id = inline_master.run(EchoConfig(value=7))
    text = format_job_stat(job_stat(inline_master, job_id, verbose=True), verbose=True)
    assert text == (
        f"ID: {job_id}\n"
        "Name: Echo\n"
        "Description: EchoConfig(value=7)\n"
        "Status: COMPLETED\n"
        "Task 0\n"
        "\tWorker: mock-worker-0\n"
        "\tStatus: COMPLETED\n"
        "\tResult: 7\n"
        "Task 1\n"
        "\tWorker: mock-worker-1\n"
        "\tStatus: COMPLETED\n"
        "\tResult: 7\n"
    )
    brief = format_job_stat(job_stat(inline_master, job_id))
    assert brief == (
        f"ID: {job_id}\nName: Echo\nDescription: EchoConfig(value=7)\nStatus: COMPLETED\n")


def test_job_stat_of_a_real_failed_job(inline_master: JobMaster):
    job_id = inline_master.run(RaiseConfig(message="boom"))
    text = format_job_stat(job_stat(inline_master, job_id, verbose=True), verbose=True)
    assert text.startswith(
        f"ID: {job_id}\n"
        "Name: Raise\n"
        "Description: RaiseConfig(message='boom')\n"
        "Status: FAILED\n"
        "Error: Task execution failed: boom\n"
        "Task 0\n"
        "\tWorker: mock-worker-0\n"
        "\tStatus: FAILED\n"
        "\tError: boom\n"
        "Task 1\n"
    )


def test_job_stat_of_a_real_workflow(inline_master: JobMaster):
    job_id = inline_master.run(CompositeConfig(jobs=[NoopConfig(), EchoConfig(value=1)]))
    info = job_stat(inline_master, job_id, verbose=True)
    first, second = (child.job_id for child in info.children)
    assert format_job_stat(info, verbose=True) == (
        f"ID: {job_id}\n"
        "Name: Composite\n"
        "Description: CompositeConfig(jobs=[NoopConfig(), EchoConfig(value=1)], "
        "sequential=True)\n"
        "Status: COMPLETED\n"
        f"Task {first}\n"
        "\tDescription: NoopConfig()\n"
        "\tStatus: COMPLETED\n"
        f"Task {second}\n"
        "\tDescription: EchoConfig(value=1)\n"
        "\tStatus: COMPLETED\n"
    )


# ------------------------------------------------------- fsadmin report jobservice


def test_timestamp_uses_alluxios_default_pattern():
    when = ms(UTC, 2019, 1, 17, 12, 30, 15) + 7
    assert format_timestamp(when, UTC) == "01-17-2019 12:30:15:007"
    assert format_timestamp(when + 993, UTC) == "01-17-2019 12:30:16:000"
    assert format_timestamp(when, PST) == "01-17-2019 04:30:15:007"
    assert format_timestamp(0, UTC) == "01-01-1970 00:00:00:000"


@pytest.mark.parametrize("tz", [UTC, PST], ids=["UTC", "PST"])
def test_report_matches_alluxio_job_service_metrics_command_test(tz):
    # JobServiceMetricsCommandTest.testBasic (2.5-2.8 format), times in the given zone.
    test1 = job(1, "Test1", Status.RUNNING, last_updated=ms(tz, 2019, 1, 17, 12, 0, 0))
    test2 = job(2, "Test2", Status.FAILED, last_updated=ms(tz, 2019, 1, 17, 12, 30, 15))
    report = JobServiceReport(
        workers=[JobWorkerHealth(worker_id=1, host="testHost", load_average=[1.2, 0.9, 0.7],
                                 task_pool_size=10, unfinished_tasks=2, num_active_tasks=2)],
        summary=summary([test2, test1]),
    )
    text = format_jobservice_report(report, tz=tz)
    assert text.split("\n") == [
        "Worker: testHost    Task Pool Size: 10     Unfinished Tasks: 2      "
        "Active Tasks: 2      Load Avg: 1.2, 0.9, 0.7",
        "",
        "Status: CREATED   Count: 0",
        "Status: CANCELED  Count: 0",
        "Status: FAILED    Count: 1",
        "Status: RUNNING   Count: 1",
        "Status: COMPLETED Count: 0",
        "",
        "10 Most Recently Modified Jobs:",
        "Timestamp: 01-17-2019 12:30:15:000       Id: 2                   Name: Test2"
        "               Status: FAILED",
        "Timestamp: 01-17-2019 12:00:00:000       Id: 1                   Name: Test1"
        "               Status: RUNNING",
        "",
        "10 Most Recently Failed Jobs:",
        "Timestamp: 01-17-2019 12:30:15:000       Id: 2                   Name: Test2"
        "               Status: FAILED",
        "",
        "10 Longest Running Jobs:",
        "Timestamp: 01-17-2019 12:00:00:000       Id: 1                   Name: Test1"
        "               Status: RUNNING",
        "",
        "",
    ]


def test_report_worker_line_from_alluxio_docs():
    health = JobWorkerHealth(worker_id=2, host="MigrationTest-workers-2",
                             load_average=[1.08, 0.64, 0.27], task_pool_size=10,
                             unfinished_tasks=1303, num_active_tasks=10)
    report = JobServiceReport(workers=[health], summary=summary([]))
    first = format_jobservice_report(report, tz=UTC).split("\n")[0]
    assert first == (
        "Worker: MigrationTest-workers-2  Task Pool Size: 10     Unfinished Tasks: 1303   "
        "Active Tasks: 10     Load Avg: 1.08, 0.64, 0.27")


def test_report_load_average_prints_like_java_doubles():
    health = JobWorkerHealth(worker_id=0, host="h", load_average=[1.0, 0.5, 2.25])
    report = JobServiceReport(workers=[health], summary=summary([]))
    assert format_jobservice_report(report, tz=UTC).split("\n")[0].endswith(
        "Load Avg: 1.0, 0.5, 2.25")


def test_report_with_no_workers_and_no_jobs():
    report = JobServiceReport(workers=[], summary=summary([]))
    assert format_jobservice_report(report, tz=UTC) == (
        "\n"
        "Status: CREATED   Count: 0\n"
        "Status: CANCELED  Count: 0\n"
        "Status: FAILED    Count: 0\n"
        "Status: RUNNING   Count: 0\n"
        "Status: COMPLETED Count: 0\n"
        "\n"
        "10 Most Recently Modified Jobs:\n"
        "\n"
        "10 Most Recently Failed Jobs:\n"
        "\n"
        "10 Longest Running Jobs:\n"
        "\n"
    )


def test_report_prints_every_status_in_enum_order_even_if_missing():
    partial = JobServiceSummary(status_counts={Status.COMPLETED: 3}, recent_activities=[],
                                recent_failures=[], longest_running=[])
    lines = format_jobservice_report(JobServiceReport(workers=[], summary=partial),
                                     tz=UTC).split("\n")
    assert lines[1:6] == ["Status: CREATED   Count: 0", "Status: CANCELED  Count: 0",
                          "Status: FAILED    Count: 0", "Status: RUNNING   Count: 0",
                          "Status: COMPLETED Count: 3"]


def test_report_prints_lists_in_the_given_order():
    t = ms(UTC, 2021, 6, 1, 8, 0, 0)
    jobs = [job(3, "Load", Status.COMPLETED, last_updated=t + 2),
            job(1, "Load", Status.COMPLETED, last_updated=t + 1),
            job(2, "Persist", Status.CANCELED, last_updated=t)]
    text = format_jobservice_report(JobServiceReport(workers=[], summary=summary(jobs)), tz=UTC)
    lines = text.split("\n")
    start = lines.index("10 Most Recently Modified Jobs:")
    assert lines[start + 1:start + 5] == [
        "Timestamp: 06-01-2021 08:00:00:002       Id: 3                   Name: Load"
        "                Status: COMPLETED",
        "Timestamp: 06-01-2021 08:00:00:001       Id: 1                   Name: Load"
        "                Status: COMPLETED",
        "Timestamp: 06-01-2021 08:00:00:000       Id: 2                   Name: Persist"
        "             Status: CANCELED",
        "",
    ]


def test_report_of_a_real_master(inline_master: JobMaster, clock: ManualClock):
    start = int(clock() * 1000)
    echo = inline_master.run(EchoConfig(value=1))
    clock.advance(1.5)
    boom = inline_master.run(RaiseConfig(message="boom"))
    text = format_jobservice_report(jobservice_report(inline_master), tz=UTC)
    first = format_timestamp(start, UTC)
    second = format_timestamp(start + 1500, UTC)
    assert second == "09-13-2020 12:26:41:500"
    assert text == (
        "Worker: mock-worker-0  Task Pool Size: 0      Unfinished Tasks: 0      "
        "Active Tasks: 0      Load Avg: \n"
        "Worker: mock-worker-1  Task Pool Size: 0      Unfinished Tasks: 0      "
        "Active Tasks: 0      Load Avg: \n"
        "\n"
        "Status: CREATED   Count: 0\n"
        "Status: CANCELED  Count: 0\n"
        "Status: FAILED    Count: 1\n"
        "Status: RUNNING   Count: 0\n"
        "Status: COMPLETED Count: 1\n"
        "\n"
        "10 Most Recently Modified Jobs:\n"
        f"Timestamp: {second}       Id: {boom:<20}Name: Raise               Status: FAILED\n"
        f"Timestamp: {first}       Id: {echo:<20}Name: Echo                Status: COMPLETED\n"
        "\n"
        "10 Most Recently Failed Jobs:\n"
        f"Timestamp: {second}       Id: {boom:<20}Name: Raise               Status: FAILED\n"
        "\n"
        "10 Longest Running Jobs:\n"
        "\n"
    )


def test_report_of_a_local_master_lists_each_worker(master: JobMaster):
    job_id = master.run(NoopConfig())
    master.wait(job_id, timeout=60)
    lines = format_jobservice_report(jobservice_report(master), tz=UTC).split("\n")
    assert lines[0].startswith("Worker: local-worker-0  Task Pool Size: 4      ")
    assert lines[1].startswith("Worker: local-worker-1  Task Pool Size: 4      ")
    assert "Load Avg: " in lines[0]
    assert lines[2] == ""
    assert lines[7] == "Status: COMPLETED Count: 1"
