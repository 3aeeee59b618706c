"""The job-history extension point: where a master keeps the jobs it tracks."""

import abc
from collections.abc import Iterable, Sequence
from typing import Any, Self

import attrs

from alluxio_jobs.model import JobInfo, JobServiceSummary, JobWorkerHealth, Status

__all__ = ["JobRecord", "JobStore", "StoredJobs"]

RECENT_LENGTH = 10


@attrs.frozen(kw_only=True)
class JobRecord:
    """One job as stored: its index columns plus plain-data config and verbose info.

    ``info`` is the job's verbose :class:`JobInfo` without children (children are
    records of their own, pointing at their ``parent``), as plain data; ``config`` is
    the job's config as :func:`alluxio_jobs.serde.to_dict` gives it. In a write,
    ``config=None`` keeps the config already stored.
    """

    job_id: int
    parent: int | None
    name: str
    status: Status
    last_updated: int
    config: dict[str, Any] | None
    info: dict[str, Any]


@attrs.frozen(kw_only=True)
class StoredJobs:
    """What a store holds when a master opens it."""

    records: list[JobRecord]
    next_job_id: int


class JobStore(abc.ABC):
    """Keeps job history for a master, and serves it to readers such as the CLI.

    The owning master calls :meth:`load` once, then :meth:`write` from one writer
    thread with batches of changes. Readers (any thread, or another process for
    durable stores) use the query methods. Implementations are thread-safe.
    """

    @abc.abstractmethod
    def load(self) -> StoredJobs:
        """Every stored job and the next job id to hand out.

        :raises StoreError: the store is unreadable, corrupt or of a newer schema
        """

    @abc.abstractmethod
    def write(self, upserts: Sequence[JobRecord], deletes: Iterable[int],
              next_job_id: int) -> None:
        """Apply one batch atomically: insert or replace ``upserts``, drop ``deletes``."""

    @abc.abstractmethod
    def get(self, job_id: int) -> JobRecord | None:
        """One job, or None."""

    @abc.abstractmethod
    def records(self, statuses: Iterable[Status] | None = None, name: str | None = None,
                parent: int | None = None) -> list[JobRecord]:
        """Jobs by ascending id, filtered by status, name and parent id."""

    @abc.abstractmethod
    def summary(self) -> JobServiceSummary:
        """Counts per status and the report's three top-10 lists (brief infos)."""

    @abc.abstractmethod
    def put_worker_health(self, health: Sequence[JobWorkerHealth]) -> None:
        """Replace the stored worker health."""

    @abc.abstractmethod
    def worker_health(self) -> list[JobWorkerHealth]:
        """The last stored worker health, by ascending worker id."""

    @abc.abstractmethod
    def request_cancel(self, job_id: int) -> None:
        """Ask the master that owns this store to cancel ``job_id`` (e.g. from a CLI)."""

    @abc.abstractmethod
    def take_cancel_requests(self) -> list[int]:
        """Pop the pending cancel requests (called by the owning master)."""

    def close(self) -> None:
        """Release resources. Idempotent."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def brief(record: JobRecord) -> JobInfo:
    """A record as ``job ls`` shows it (no description, tasks or children)."""
    info = record.info
    return JobInfo(job_id=record.job_id, name=record.name, description="",
                   status=record.status, error_type=info.get("error_type", ""),
                   error_message=info.get("error_message", ""),
                   result=info.get("result", ""), last_updated=record.last_updated)


def summary_of(records: Sequence[JobRecord]) -> JobServiceSummary:
    """The report summary computed from records (Alluxio's JobServiceSummary order)."""
    counts = dict.fromkeys(Status, 0)
    for r in records:
        counts[r.status] += 1
    newest = sorted(records, key=lambda r: (-r.last_updated, r.job_id))
    failed = [r for r in newest if r.status is Status.FAILED]
    running = sorted((r for r in records if r.status is Status.RUNNING),
                     key=lambda r: (r.last_updated, -r.job_id))
    return JobServiceSummary(
        status_counts=counts,
        recent_activities=[brief(r) for r in newest[:RECENT_LENGTH]],
        recent_failures=[brief(r) for r in failed[:RECENT_LENGTH]],
        longest_running=[brief(r) for r in running[:RECENT_LENGTH]],
    )
