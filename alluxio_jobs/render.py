"""Text renderers that print the inspection reports exactly as Alluxio's CLI does."""

import datetime
from collections.abc import Iterable

from alluxio_jobs.model import JobInfo, Status, TaskInfo
from alluxio_jobs.reports import JobServiceReport

__all__ = ["abbreviate", "format_job_ls", "format_job_stat", "format_jobservice_report",
           "format_timestamp"]

DESCRIPTION_LIMIT = 200


def abbreviate(text: str, width: int = DESCRIPTION_LIMIT) -> str:
    """Apache Commons ``StringUtils.abbreviate``: cut to ``width`` chars ending in "..."."""
    return text if len(text) <= width else text[: width - 3] + "..."


def format_job_ls(rows: Iterable[JobInfo]) -> str:
    """``job ls``: ``%-15s %-10s %-10s`` (id, name, status), one line per job."""
    return "".join(f"{r.job_id:<15} {r.name:<10} {r.status.value:<10}\n" for r in rows)


def format_job_stat(info: JobInfo, verbose: bool = False) -> str:
    """``job stat [-v]``; the description is cut to 200 characters unless ``verbose``."""
    desc = info.description if verbose else abbreviate(info.description)
    lines = [f"ID: {info.job_id}", f"Name: {info.name}", f"Description: {desc}",
             f"Status: {info.status.value}"]
    if info.error_message:
        lines.append(f"Error: {info.error_message}")
    if info.result:
        lines.append(f"Result: {info.result}")
    if verbose:
        for task in info.tasks:
            lines.extend(_task_lines(task))
        for child in info.children:
            lines.append(f"Task {child.job_id}")
            if child.description:
                lines.append(f"\tDescription: {abbreviate(child.description)}")
            lines.append(f"\tStatus: {child.status.value}")
            if child.error_message:
                lines.append(f"\tError: {child.error_message}")
            if child.result:
                lines.append(f"\tResult: {child.result}")
    return "".join(line + "\n" for line in lines)


def _task_lines(task: TaskInfo) -> list[str]:
    lines = [f"Task {task.task_id}"]
    if task.worker_host:
        lines.append(f"\tWorker: {task.worker_host}")
    if task.description:
        lines.append(f"\tDescription: {abbreviate(task.description)}")
    lines.append(f"\tStatus: {task.status.value}")
    if task.error_message:
        lines.append(f"\tError: {task.error_message}")
    if task.result is not None:
        lines.append(f"\tResult: {task.result}")
    return lines


def format_timestamp(ms: int, tz: datetime.tzinfo | None = None) -> str:
    """Alluxio's default ``alluxio.user.date.format.pattern``: ``MM-dd-yyyy HH:mm:ss:SSS``.

    Local time unless ``tz`` is given.
    """
    when = datetime.datetime.fromtimestamp(ms / 1000, tz)
    return f"{when:%m-%d-%Y %H:%M:%S}:{ms % 1000:03d}"


def format_jobservice_report(report: JobServiceReport,
                             tz: datetime.tzinfo | None = None) -> str:
    """``fsadmin report jobservice`` in the Alluxio 2.5-2.8 format."""
    out = []
    for w in report.workers:
        load = ", ".join(_java_double(x) for x in w.load_average)
        out.append(f"Worker: {w.host:<10}  Task Pool Size: {w.task_pool_size:<7}"
                   f"Unfinished Tasks: {w.unfinished_tasks:<7}"
                   f"Active Tasks: {w.num_active_tasks:<7}Load Avg: {load}\n")
    out.append("\n")
    summary = report.summary
    for status in Status:
        out.append(f"Status: {status.value:<10}Count: {summary.status_counts.get(status, 0)}\n")
    out.append("\n")
    for title, jobs in (("10 Most Recently Modified Jobs:", summary.recent_activities),
                        ("10 Most Recently Failed Jobs:", summary.recent_failures),
                        ("10 Longest Running Jobs:", summary.longest_running)):
        out.append(title + "\n")
        for job in jobs:
            out.append(f"Timestamp: {format_timestamp(job.last_updated, tz):<30}"
                       f"Id: {job.job_id:<20}Name: {job.name:<20}Status: {job.status.value}\n")
        out.append("\n")
    return "".join(out)


def _java_double(x: float) -> str:
    """Java's ``Double.toString`` for the values a load average takes (0.5, 1.0, 1.08)."""
    return repr(float(x))
