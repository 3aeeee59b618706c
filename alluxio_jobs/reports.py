"""The inspection commands as plain data: ``job ls``, ``job stat``, ``fsadmin report jobservice``.

Each function returns attrs records (``serde.to_dict`` turns them into dicts);
:mod:`alluxio_jobs.render` prints them exactly as Alluxio does.
"""

from collections.abc import Iterable
from typing import Protocol

import attrs

from alluxio_jobs.model import JobInfo, JobServiceSummary, JobWorkerHealth, Status
from alluxio_jobs.serde import register_record

__all__ = ["JobServiceReport", "JobSource", "job_ls", "job_stat", "jobservice_report"]


class JobSource(Protocol):
    """What the reports read: a :class:`~alluxio_jobs.JobMaster`, or a
    :class:`~alluxio_jobs.stores.StoreView` over a store another process writes."""

    def list_info(self, statuses: Iterable[Status | str] | None = None,
                  name: str | None = None) -> list[JobInfo]: ...

    def get_status(self, job_id: int, verbose: bool = False) -> JobInfo: ...

    def summary(self) -> JobServiceSummary: ...

    def worker_health(self) -> list[JobWorkerHealth]: ...


@register_record
@attrs.frozen(kw_only=True)
class JobServiceReport:
    """``fsadmin report jobservice``: worker health, then the job summary."""

    workers: list[JobWorkerHealth]
    summary: JobServiceSummary


def job_ls(master: JobSource, statuses: Iterable[Status | str] | None = None,
           name: str | None = None) -> list[JobInfo]:
    """``job ls``: every tracked job (id, name, status) in ascending id order."""
    return master.list_info(statuses, name)


def job_stat(master: JobSource, job_id: int, verbose: bool = False) -> JobInfo:
    """``job stat [-v]``: one job, with its tasks or child jobs when ``verbose``."""
    return master.get_status(job_id, verbose)


def jobservice_report(master: JobSource) -> JobServiceReport:
    """``fsadmin report jobservice``: worker health and the job-service summary."""
    return JobServiceReport(workers=master.worker_health(), summary=master.summary())
