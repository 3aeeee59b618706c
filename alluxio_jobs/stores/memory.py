"""A job store in memory: for tests, and for restarting a master within one process."""

import threading
from collections.abc import Iterable, Sequence

import attrs

from alluxio_jobs.model import JobServiceSummary, JobWorkerHealth, Status
from alluxio_jobs.stores.base import CommandRecord, JobRecord, JobStore, StoredJobs, summary_of

__all__ = ["MemoryJobStore"]


class MemoryJobStore(JobStore):
    """Holds records in a dict; a new master given the same instance finds them again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[int, JobRecord] = {}
        self._next_job_id = 0
        self._health: list[JobWorkerHealth] = []
        self._cancels: list[int] = []
        self._commands: dict[int, CommandRecord] = {}

    def load(self) -> StoredJobs:
        with self._lock:
            return StoredJobs(records=[self._records[k] for k in sorted(self._records)],
                              next_job_id=self._next_job_id)

    def write(self, upserts: Sequence[JobRecord], deletes: Iterable[int],
              next_job_id: int, *, commands: Sequence[CommandRecord] = (),
              command_deletes: Iterable[int] = ()) -> None:
        with self._lock:
            for record in upserts:
                old = self._records.get(record.job_id)
                if record.config is None:
                    record = attrs.evolve(record, config=old.config if old else {})
                self._records[record.job_id] = record
            for job_id in deletes:
                self._records.pop(job_id, None)
            for command in commands:
                self._commands[command.cmd_id] = _merged(self._commands.get(command.cmd_id),
                                                         command)
            for cmd_id in command_deletes:
                self._commands.pop(cmd_id, None)
            self._next_job_id = max(self._next_job_id, next_job_id)

    def get(self, job_id: int) -> JobRecord | None:
        with self._lock:
            return self._records.get(job_id)

    def records(self, statuses: Iterable[Status] | None = None, name: str | None = None,
                parent: int | None = None) -> list[JobRecord]:
        wanted = None if statuses is None else set(statuses)
        with self._lock:
            found = [r for r in self._records.values()
                     if (wanted is None or r.status in wanted)
                     and (name is None or r.name == name)
                     and (parent is None or r.parent == parent)]
        return sorted(found, key=lambda r: r.job_id)

    def summary(self) -> JobServiceSummary:
        with self._lock:
            records = list(self._records.values())
        return summary_of(records)

    def get_command(self, cmd_id: int, *, files: bool = True) -> CommandRecord | None:
        with self._lock:
            record = self._commands.get(cmd_id)
            if record is None:
                return None
            if not files:
                return attrs.evolve(record, completed=[], failed={}, skipped=[], job_ids=[])
            return attrs.evolve(record, completed=list(record.completed),
                                failed=dict(record.failed), skipped=list(record.skipped),
                                job_ids=list(record.job_ids))

    def command_ids(self, statuses: Iterable[Status] | None = None) -> list[int]:
        wanted = None if statuses is None else set(statuses)
        with self._lock:
            return sorted(i for i, c in self._commands.items()
                          if wanted is None or c.status in wanted)

    def put_worker_health(self, health: Sequence[JobWorkerHealth]) -> None:
        with self._lock:
            self._health = sorted(health, key=lambda h: h.worker_id)

    def worker_health(self) -> list[JobWorkerHealth]:
        with self._lock:
            return list(self._health)

    def request_cancel(self, job_id: int) -> None:
        with self._lock:
            self._cancels.append(job_id)

    def take_cancel_requests(self) -> list[int]:
        with self._lock:
            taken, self._cancels = self._cancels, []
        return taken


def _merged(old: CommandRecord | None, new: CommandRecord) -> CommandRecord:
    """``new`` with the elements ``old`` holds before ``new.offsets`` in front. The
    lists of ``old`` are extended in place (readers get copies), so a write costs what
    it adds, not the whole command."""
    oc, of, os_, oj = new.offsets
    if old is None:
        completed, skipped, job_ids = [], [], []
        failed: dict[str, str] = {}
    else:
        completed, failed, skipped, job_ids = old.completed, old.failed, old.skipped, old.job_ids
    del completed[oc:]
    completed.extend(new.completed)
    if len(failed) > of:  # only when a batch is written again
        failed = dict(list(failed.items())[:of])
    failed.update(new.failed)
    del skipped[os_:]
    skipped.extend(new.skipped)
    del job_ids[oj:]
    job_ids.extend(new.job_ids)
    return attrs.evolve(new, completed=completed, failed=failed, skipped=skipped,
                        job_ids=job_ids, offsets=(0, 0, 0, 0))
