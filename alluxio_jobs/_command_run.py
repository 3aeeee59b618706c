"""What a running distributed command works with: its items and its jobs.

A command's body gets a :class:`_Run`: it records the command's progress (its total,
each file that succeeded, failed or was skipped) in the command's record, and runs the
jobs of the command's items, at most ``active_jobs`` at a time and ``batch_size`` items
each, backing off while the master is full. Nothing polls: each job's done callback
wakes the command's thread, as does a cancel.
"""

import collections
import contextlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

import attrs

from alluxio_jobs.errors import JobConfigError, JobNotFoundError, ResourceExhaustedError
from alluxio_jobs.model import JobInfo, Status
from alluxio_jobs.plans.base import JobConfig

T = TypeVar("T")

if TYPE_CHECKING:
    from alluxio_jobs.commands import CommandTracker, _Cmd


@attrs.frozen
class _Item:
    path: str
    destination: str = ""
    block_id: int = -1

    @property
    def label(self) -> str:
        """How the command's record names this item."""
        return self.path if self.block_id < 0 else f"{self.path}#{self.block_id}"


#: first and largest wait, in seconds, before submitting again to a full master when
#: none of the command's jobs runs (nothing of ours will free a place)
_FULL_BACKOFF = (0.01, 1.0)


class _Run:
    """What a command body uses to record its progress and run jobs."""

    def __init__(self, tracker: "CommandTracker", cmd: "_Cmd") -> None:
        self.tracker = tracker
        self.cmd = cmd
        self.fs = tracker._fs

    @property
    def canceled(self) -> bool:
        return self.cmd.canceled.is_set()

    def _update(self, fn: Callable[["_Cmd"], None]) -> None:
        with self.tracker._lock:
            fn(self.cmd)
            self.tracker._changed(self.cmd)

    def set_total(self, total: int) -> None:
        self._update(lambda c: setattr(c, "total", total))

    def succeed(self, path: str) -> None:
        self._update(lambda c: c.completed.append(path))

    def fail(self, path: str, reason: str) -> None:
        def fail(c: "_Cmd") -> None:
            if path not in c.failed:  # the first reason is kept
                c.failed[path] = reason
                c.failed_order.append(path)

        self._update(fail)

    def skip(self, path: str) -> None:
        self._update(lambda c: c.skipped.append(path))

    def _add_job(self, job_id: int) -> None:
        self._update(lambda c: c.job_ids.append(job_id))

    def fail_command(self, reason: str) -> None:
        self._update(lambda c: setattr(c, "error", reason))

    def run_jobs(self, items: Sequence[_Item], make_config: Callable[[_Item], JobConfig],
                 job_type: str, batch_size: int, active_jobs: int,
                 judge: Callable[[_Item, JobInfo], str | None]) -> None:
        """Run the items' jobs, at most ``active_jobs`` at once, ``batch_size`` items per
        job; ``judge`` returns None for an item that succeeded, else why it failed.
        Items of a canceled job that did not succeed are left uncounted.

        Nothing polls: each job's done callback wakes this thread, as does a cancel."""
        from alluxio_jobs.plans.batched import BatchedJobConfig

        master = self.fs.master
        wake = self.cmd.wake
        batches = collections.deque(
            list(items[i:i + batch_size]) for i in range(0, len(items), batch_size))
        active: dict[int, list[_Item]] = {}
        finished: collections.deque[JobInfo] = collections.deque()

        def on_done(info: JobInfo) -> None:  # in the master's thread that finished the job
            with wake:
                finished.append(info)
                wake.notify_all()

        backoff = _FULL_BACKOFF[0]
        cancel_sent = False
        while batches or active:
            if self.canceled and not cancel_sent:
                cancel_sent = True
                batches.clear()
                for job_id in list(active):
                    with contextlib.suppress(JobNotFoundError):
                        master.cancel(job_id, "distributed command canceled")
            while batches and len(active) < active_jobs and not self.canceled:
                batch = batches[0]
                try:
                    configs = [make_config(item) for item in batch]
                    config = configs[0] if len(configs) == 1 else BatchedJobConfig(
                        job_type=job_type, configs=configs)
                    job_id = master.run(config)
                except ResourceExhaustedError:
                    if not active:  # a back-off, cut short by a cancel
                        with wake:
                            wake.wait_for(lambda: self.canceled, backoff)
                        backoff = min(_FULL_BACKOFF[1], backoff * 2)
                    break
                except JobConfigError as exc:
                    batches.popleft()
                    for item in batch:
                        self.fail(item.label, str(exc))
                    continue
                backoff = _FULL_BACKOFF[0]
                batches.popleft()
                active[job_id] = batch
                self._add_job(job_id)
                try:
                    master.add_done_callback(job_id, on_done)
                except JobNotFoundError:  # finished and purged already
                    on_done(JobInfo(job_id=job_id, name="", description="",
                                    status=Status.FAILED,
                                    error_message="the job was purged before it was seen done"))
            if not active:
                continue
            with wake:
                while not finished and not (self.canceled and not cancel_sent):
                    wake.wait()
                done = list(finished)
                finished.clear()
            for info in done:
                if info.job_id not in active:
                    continue
                batch = active.pop(info.job_id)
                with contextlib.suppress(JobNotFoundError):  # else the callback's info
                    info = master.get_status(info.job_id, verbose=True)
                for item in batch:
                    reason = judge(item, info)
                    if reason is None:
                        self.succeed(item.label)
                    elif info.status is not Status.CANCELED:
                        self.fail(item.label, reason)


def spread_large(items: Sequence[T], size: Callable[[T], int]) -> list[T]:
    """``items`` with those of more than :data:`BATCH_TASK_BYTES` spread evenly through
    the list (the others keep their order around them). Workers then copy the large
    files' blocks while they work through small files, instead of copying every large
    block first and every small file after: the two use the machine differently
    (memory bandwidth against per-file work) and overlap well."""
    from alluxio_jobs.plans.batched import BATCH_TASK_BYTES

    large = [item for item in items if size(item) > BATCH_TASK_BYTES]
    if not large or len(large) == len(items):
        return list(items)
    small = iter(item for item in items if size(item) <= BATCH_TASK_BYTES)
    slots = {len(items) * k // len(large): item for k, item in enumerate(large)}
    return [slots[i] if i in slots else next(small) for i in range(len(items))]
