"""Background upkeep of cached copies: the replication checker and worker decommission.

:class:`ReplicationChecker` (Alluxio's ``ReplicationChecker``) keeps every block's
number of live cached copies between its file's ``replication_min`` and
``replication_max`` with Replicate and Evict jobs; blocks that a lost worker held
count as fewer copies, so they are re-replicated. It never has more than
``max_active_jobs`` of its jobs unfinished, and it stops a round when the master is
full ("The job service is busy, will retry later").

:func:`decommission` empties a worker's cache onto the other live workers with Move
jobs, as a tracked command.
"""

import logging
import threading
from typing import TYPE_CHECKING

from alluxio_jobs._command_run import _Item, _Run
from alluxio_jobs._validate import check_number
from alluxio_jobs.commands import DEFAULT_ACTIVE_JOBS, CommandHandle
from alluxio_jobs.errors import (
    AlluxioJobsError,
    ClosedError,
    JobConfigError,
    JobNotFoundError,
    ResourceExhaustedError,
)
from alluxio_jobs.model import JobInfo, WorkerInfo
from alluxio_jobs.plans.base import JobConfig
from alluxio_jobs.plans.cache import EvictConfig, ReplicateConfig
from alluxio_jobs.plans.transfer import MoveConfig

if TYPE_CHECKING:
    from alluxio_jobs.filesystem import FileSystem

__all__ = ["ReplicationChecker", "decommission"]

logger = logging.getLogger(__name__)


class ReplicationChecker:
    """Keeps cached copies within each file's replication limits.

    Call :meth:`check` for one round, or :meth:`start` to run a round every
    ``interval`` seconds on a background thread (stopped by :meth:`close`).
    ``max_active_jobs`` defaults to Alluxio's ``max(1, capacity * 0.1)``.
    """

    def __init__(self, fs: "FileSystem", *, interval: float = 60.0,
                 max_active_jobs: int | None = None) -> None:
        self.fs = fs
        self.interval = check_number("interval", interval, above=0)
        capacity = fs.master.config.job_capacity
        self.max_active_jobs = (max(1, int(capacity * 0.1)) if max_active_jobs is None
                                else max_active_jobs)
        self._lock = threading.Lock()
        self._active: dict[tuple[int, str], int] = {}  # (block id, kind) -> job id
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self) -> list[int]:
        """One round: submit the jobs needed now; returns their ids."""
        with self._lock:
            return self._check_locked()

    def _check_locked(self) -> list[int]:
        master = self.fs.master
        for key, job_id in list(self._active.items()):
            try:
                finished = master.get_status(job_id).status.is_finished
            except JobNotFoundError:
                finished = True
            if finished:
                del self._active[key]
        submitted: list[int] = []
        for info in self.fs.namespace.all_files(self.fs._live_ids()):
            lo, hi = info.replication_min, info.replication_max
            for block in info.blocks:
                copies = len(block.locations)
                config: JobConfig | None = None
                if copies < lo and (copies or info.persisted):
                    config = ReplicateConfig(path=info.path, block_id=block.block_id,
                                             replicas=lo - copies)
                elif hi != -1 and copies > hi:
                    config = EvictConfig(path=info.path, block_id=block.block_id,
                                         replicas=copies - hi)
                if config is None or (block.block_id, config.name) in self._active:
                    continue
                if len(self._active) >= self.max_active_jobs:
                    return submitted
                try:
                    job_id = master.run(config)
                except ResourceExhaustedError as exc:
                    logger.info("The job service is busy, will retry later. %s", exc)
                    return submitted
                except ClosedError:
                    return submitted
                self._active[(block.block_id, config.name)] = job_id
                submitted.append(job_id)
        return submitted

    def start(self) -> None:
        """Run :meth:`check` every ``interval`` seconds until :meth:`close`."""
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._loop, daemon=True,
                                            name="alluxio-replication-checker")
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check()
            except Exception:
                logger.exception("replication check failed")

    def close(self) -> None:
        """Stop the background thread. Idempotent."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()


def decommission(fs: "FileSystem", worker_host: str, *,
                 active_jobs: int = DEFAULT_ACTIVE_JOBS) -> CommandHandle:
    """Move every block cached on the live worker ``worker_host`` to the other live
    workers with Move jobs (each to the worker with the most room that lacks it); a
    block every other worker already holds is just dropped from it. The worker stays
    registered: take it out of the transport once the command COMPLETED.

    :raises JobConfigError: no such live worker, or no other worker to move to
    """
    workers = fs.workers()
    source = next((w for w in workers if w.host == worker_host), None)
    if source is None:
        raise JobConfigError("worker_host", worker_host, "is not a live job worker")
    others = [w for w in workers if w.worker_id != source.worker_id]
    if not others:
        raise JobConfigError("worker_host", worker_host, "is the only job worker")

    def config(item: _Item) -> JobConfig:
        return MoveConfig(path=item.path, block_id=item.block_id,
                          source_worker=source.host, destination_worker=item.destination)

    def judge(item: _Item, info: JobInfo) -> str | None:
        try:
            status = fs.get_status(item.path)
        except AlluxioJobsError:
            return None  # the file was deleted: nothing is left to move
        for block in status.blocks:
            if block.block_id == item.block_id:
                hosts = {w.worker_id for w in block.locations}
                if source.worker_id not in hosts:
                    return None
        return info.error_message or f"job {info.job_id} {info.status.value}"

    def body(run: _Run) -> None:
        live = {w.worker_id for w in others} | {source.worker_id}
        free = {u.worker.worker_id: u.free for u in fs.cache_usage()}
        items = []
        block_ids = fs.namespace.worker_blocks(source.worker_id)
        run.set_total(len(block_ids))
        for block_id in block_ids:
            info = fs.namespace.block_owner(block_id)
            if info is None:
                continue
            block = next(b for b in info.blocks if b.block_id == block_id)
            holders = {w.worker_id for w in block.locations if w.worker_id in live}
            target = _most_room([w for w in others if w.worker_id not in holders], free)
            label = f"{info.path}#{block_id}"
            if target is None:  # every other worker has it already
                fs.namespace.remove_location(block_id, source.worker_id)
                fs.network.remove_blocks(source.worker_id, [block_id])
                run.skip(label)
                continue
            free[target.worker_id] = free.get(target.worker_id, 0) - block.length
            items.append(_Item(info.path, target.host, block_id))
        run.run_jobs(items, config, "Move", 1, active_jobs, judge)

    return fs.commands.start("DECOMMISSION", f"decommission {worker_host}", body)


def _most_room(candidates: list[WorkerInfo], free: dict[int, int]) -> WorkerInfo | None:
    if not candidates:
        return None
    return max(sorted(candidates, key=lambda w: w.worker_id),
               key=lambda w: free.get(w.worker_id, 0))
