"""The job and task state machine: pure bookkeeping, no threads, no I/O, no clock reads.

The master calls these methods under its lock with the current time in milliseconds;
each returns an :class:`Outcome` listing what the master must do next (submit or
cancel tasks, call a plan's ``join``, start workflow children, wake waiters).
Status counts and the report's three top-10 lists are kept as indexes here, so
``fsadmin report jobservice`` never scans every job: each index is an insertion-ordered
dict of job ids in the order of their last status change, which is also time order
because the master never passes a time earlier than one it passed before.
"""

from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from alluxio_jobs.errors import JobNotFoundError, ResourceExhaustedError
from alluxio_jobs.model import JobInfo, JobServiceSummary, Status, TaskInfo, TaskResult, WorkerInfo
from alluxio_jobs.stores.base import JobRow

CREATED = Status.CREATED
RUNNING = Status.RUNNING
COMPLETED = Status.COMPLETED
FAILED = Status.FAILED
CANCELED = Status.CANCELED

RECENT_LENGTH = 10  # Alluxio's JobServiceSummary.RECENT_LENGTH
WORKER_LOST = "JobWorkerLost"


class Outcome:
    """What the master must do after a state change."""

    __slots__ = ("cancel", "finished", "join", "start", "submit")

    def __init__(self) -> None:
        #: (job_id, task_id, attempt, worker, config, args, plan) to hand to the transport.
        self.submit: list[tuple[int, int, int, WorkerInfo, Any, Any, Any]] = []
        #: (worker_id, job_id, task_id) to cancel on the transport.
        self.cancel: list[tuple[int, int, int]] = []
        #: plan job ids whose tasks all completed: call ``join``, then :meth:`JobTracker.joined`.
        self.join: list[int] = []
        #: (workflow id, child config) to start as new jobs.
        self.start: list[tuple[int, Any]] = []
        #: job ids that just finished.
        self.finished: list[int] = []


class _Task:
    __slots__ = ("args", "attempt", "end_time", "error_message", "error_type", "result",
                 "start_time", "status", "task_id", "worker")

    def __init__(self, task_id: int, worker: WorkerInfo, args: Any) -> None:
        self.task_id = task_id
        self.worker = worker
        self.args = args
        self.status = CREATED
        self.attempt = 1
        self.error_type = ""
        self.error_message = ""
        self.result: Any = None
        self.start_time = 0  # ms; 0 until the task runs (or ends without running)
        self.end_time = 0


class _Job:
    __slots__ = ("any_canceled", "cancel_requested", "children", "config", "error_message",
                 "error_type", "failure", "job_id", "last_updated", "name", "parent", "pending",
                 "plan", "result", "status", "step", "steps", "stop", "tasks", "unfinished")

    def __init__(self, job_id: int, config: Any, name: str, parent: int | None, plan: Any,
                 status: Status, now: int) -> None:
        self.job_id = job_id
        self.config = config
        self.name = name
        self.parent = parent
        self.plan = plan  # None for a workflow
        self.status = status
        self.last_updated = now
        self.error_type = ""
        self.error_message = ""
        self.result = ""
        self.cancel_requested = False
        self.unfinished = 0  # plan: unfinished tasks; workflow: unfinished children
        self.tasks: list[_Task] | None = None  # None while select_executors runs
        self.failure: tuple[str, str] | None = None
        self.any_canceled = False
        # workflow only
        self.children: list[int] | None = None
        self.steps: list[list[Any]] | None = None
        self.step = 0
        self.pending = 0  # children announced in Outcome.start but not yet added
        self.stop: tuple[Status, str, str] | None = None


class JobTracker:
    """All tracked jobs, their tasks, and the indexes behind the report."""

    def __init__(self, *, capacity: int, retention_ms: int, purge_count: int) -> None:
        self.capacity = capacity
        self.retention_ms = retention_ms
        self.purge_count = purge_count if purge_count > 0 else None
        self._jobs: dict[int, _Job] = {}
        self._counts: dict[Status, int] = dict.fromkeys(Status, 0)
        # job ids by time of last status change, oldest first
        self._by_update: OrderedDict[int, None] = OrderedDict()
        self._failed: OrderedDict[int, None] = OrderedDict()
        self._running: OrderedDict[int, None] = OrderedDict()
        self._finished_roots: deque[tuple[int, int]] = deque()  # (finished at, root id)
        self._active: set[int] = set()  # plan jobs with unfinished tasks
        self._in_id_order = True  # dict order is id order unless a job was re-added
        self._last_id = 0
        #: With a job store: ids changed (and created) since the store last took them,
        #: and purged ids.
        self.dirty: set[int] | None = None
        self.created: set[int] | None = None
        self.purged: list[int] | None = None

    # ----------------------------------------------------------------- admission

    def __contains__(self, job_id: int) -> bool:
        return job_id in self._jobs

    def admit(self, now: int, count: int = 1) -> list[int]:
        """Make room for ``count`` new jobs, purging old finished ones (Alluxio's rule).

        Returns the purged job ids. Raises :class:`ResourceExhaustedError` (with nothing
        purged beyond what the rule allows) when there is still no room.
        """
        if len(self._jobs) + count <= self.capacity:
            return []
        purged: list[int] = []
        limit = self.purge_count
        roots = self._finished_roots
        removed = 0
        while roots and (limit is None or removed < limit):
            finished_at, root_id = roots[0]
            if now - finished_at < self.retention_ms:
                break
            roots.popleft()
            self._remove_tree(root_id, purged)
            removed += 1
        if len(self._jobs) + count > self.capacity:
            raise ResourceExhaustedError(self.capacity)
        return purged

    def _remove_tree(self, job_id: int, purged: list[int]) -> None:
        job = self._jobs.pop(job_id)
        purged.append(job_id)
        if self.dirty is not None:
            self.dirty.discard(job_id)
            assert self.purged is not None
            self.purged.append(job_id)
        self._counts[job.status] -= 1
        del self._by_update[job_id]
        self._failed.pop(job_id, None)
        for child in job.children or ():
            self._remove_tree(child, purged)

    # ------------------------------------------------------------------- creation

    def add_job(self, job_id: int, config: Any, name: str, plan: Any, now: int,
                parent: int | None = None, steps: list[list[Any]] | None = None
                ) -> tuple[bool, Outcome]:
        """Track a new job: a plan job (``plan`` set) or a workflow (``steps`` set).

        A workflow child is not added (``False`` is returned) when its workflow has
        already stopped.
        """
        out = Outcome()
        if parent is not None:
            wf = self._jobs[parent]
            wf.pending -= 1
            if wf.stop is not None:
                self._maybe_finish_workflow(wf, now, out)
                return False, out
            assert wf.children is not None
            wf.children.append(job_id)
            wf.unfinished += 1
        status = CREATED if steps is None else RUNNING
        if job_id < self._last_id:
            self._in_id_order = False
        self._last_id = max(self._last_id, job_id)
        job = _Job(job_id, config, name, parent, plan, status, now)
        self._jobs[job_id] = job
        if self.dirty is not None:
            self.dirty.add(job_id)
            assert self.created is not None
            self.created.add(job_id)
        self._counts[status] += 1
        self._by_update[job_id] = None
        if steps is not None:
            self._running[job_id] = None
            job.children = []
            job.steps = [step for step in steps if step]
            self._start_step(job, now, out)
        return True, out

    def set_tasks(self, job_id: int, pairs: list[tuple[WorkerInfo, Any]], now: int) -> Outcome:
        """The plan chose its tasks; hand them out (or finish a job canceled meanwhile)."""
        out = Outcome()
        job = self._jobs[job_id]
        if job.cancel_requested:
            job.tasks = []
            self._finish(job, CANCELED, "", "", "", now, out)
            return out
        tasks = [_Task(i, worker, args) for i, (worker, args) in enumerate(pairs)]
        job.tasks = tasks
        if self.dirty is not None:
            self.dirty.add(job_id)
        job.unfinished = len(tasks)
        if not tasks:
            self._settle(job, now, out)
            return out
        self._active.add(job_id)
        config = job.config
        plan = job.plan
        out.submit = [(job_id, t.task_id, 1, t.worker, config, t.args, plan) for t in tasks]
        return out

    def fail_job(self, job_id: int, error_type: str, message: str, now: int) -> Outcome:
        """``select_executors`` (or ``join``) raised: the job is FAILED with that error."""
        out = Outcome()
        job = self._jobs[job_id]
        if job.tasks is None:
            job.tasks = []
        self._finish(job, FAILED, error_type, message, "", now, out)
        return out

    def child_start_failed(self, workflow_id: int, error_type: str, message: str,
                           now: int) -> Outcome:
        """A workflow child could not be submitted: the workflow fails."""
        out = Outcome()
        wf = self._jobs[workflow_id]
        wf.pending -= 1
        self._stop_workflow(wf, FAILED, error_type, message, now, out)
        return out

    # ---------------------------------------------------------------- task events

    def task_running(self, job_id: int, task_id: int, attempt: int, now: int) -> None:
        job = self._jobs.get(job_id)
        if job is None or job.tasks is None or job.status.is_finished:
            return
        task = job.tasks[task_id]
        if task.attempt != attempt or task.status is not CREATED:
            return
        task.status = RUNNING
        task.start_time = now
        if self.dirty is not None:
            self.dirty.add(job_id)
        if job.status is CREATED and job.failure is None and not job.any_canceled:
            self._set_status(job, RUNNING, now)

    def task_done(self, job_id: int, task_id: int, attempt: int, result: TaskResult,
                  now: int) -> Outcome:
        out = Outcome()
        job = self._jobs.get(job_id)
        if job is None or job.tasks is None or job.status.is_finished:
            return out
        task = job.tasks[task_id]
        if task.attempt != attempt or task.status.is_finished:
            return out
        status = result.status
        task.status = status
        task.end_time = now
        if not task.start_time:
            task.start_time = now
        if self.dirty is not None:
            self.dirty.add(job_id)
        task.result = result.result
        task.error_type = result.error_type
        task.error_message = result.error_message
        job.unfinished -= 1
        if status is FAILED:
            if job.failure is None:
                job.failure = (result.error_type, result.error_message)
                self._cancel_tasks(job, out)
        elif status is CANCELED:
            job.any_canceled = True
        if job.unfinished == 0:
            self._settle(job, now, out)
        return out

    def task_lost(self, job_id: int, task_id: int, attempt: int,
                  replacement: WorkerInfo | None, max_attempts: int, now: int) -> Outcome:
        """The worker of this task attempt was lost: run it elsewhere or fail it."""
        job = self._jobs.get(job_id)
        if job is None or job.tasks is None or job.status.is_finished:
            return Outcome()
        task = job.tasks[task_id]
        if task.attempt != attempt or task.status.is_finished:
            return Outcome()
        if (replacement is not None and attempt < max_attempts and job.failure is None
                and not job.cancel_requested):
            out = Outcome()
            task.attempt += 1
            task.worker = replacement
            task.status = CREATED
            task.start_time = 0
            out.submit.append((job_id, task_id, task.attempt, replacement, job.config, task.args,
                               job.plan))
            return out
        message = (f"Job worker({task.worker.host}) was lost before the task({task_id}) "
                   "could complete")
        return self.task_done(job_id, task_id, attempt,
                              TaskResult.failed(WORKER_LOST, message), now)

    def joined(self, job_id: int, result: str | None, error: tuple[str, str] | None,
               now: int) -> Outcome:
        """``join`` returned ``result`` or raised ``error`` (type, message)."""
        out = Outcome()
        job = self._jobs[job_id]
        if error is not None:
            self._finish(job, FAILED, error[0], error[1], "", now, out)
        else:
            self._finish(job, COMPLETED, "", "", result or "", now, out)
        return out

    # ---------------------------------------------------------------- cancelation

    def cancel(self, job_id: int, now: int) -> Outcome:
        """Cancel a job: queued tasks are dropped, running ones asked to stop."""
        job = self._jobs.get(job_id)
        if job is None:
            raise JobNotFoundError(job_id)
        out = Outcome()
        self._cancel_job(job, now, out)
        return out

    def _cancel_job(self, job: _Job, now: int, out: Outcome) -> None:
        if job.status.is_finished:
            return
        if job.steps is not None:
            self._stop_workflow(job, CANCELED, "", "", now, out)
            return
        job.cancel_requested = True
        self._cancel_tasks(job, out)

    def _cancel_tasks(self, job: _Job, out: Outcome) -> None:
        job.cancel_requested = True
        for task in job.tasks or ():
            if not task.status.is_finished:
                out.cancel.append((task.worker.worker_id, job.job_id, task.task_id))

    # ----------------------------------------------------------------- finishing

    def _settle(self, job: _Job, now: int, out: Outcome) -> None:
        """No task of ``job`` runs any more: decide its status (order-independent)."""
        self._active.discard(job.job_id)
        if job.failure is not None:
            error_type, message = job.failure
            self._finish(job, FAILED, error_type, f"Task execution failed: {message}", "",
                         now, out)
        elif job.any_canceled:
            self._finish(job, CANCELED, "", "", "", now, out)
        elif job.plan.needs_join:
            out.join.append(job.job_id)
        else:
            self._finish(job, COMPLETED, "", "", "", now, out)

    def _finish(self, job: _Job, status: Status, error_type: str, message: str, result: str,
                now: int, out: Outcome) -> None:
        if job.status.is_finished:
            return
        job.error_type = error_type
        job.error_message = message
        job.result = result
        self._set_status(job, status, now)
        self._active.discard(job.job_id)
        job.steps = None
        out.finished.append(job.job_id)
        if job.parent is None:
            self._finished_roots.append((now, job.job_id))
        else:
            self._child_finished(self._jobs[job.parent], job, now, out)

    def _set_status(self, job: _Job, status: Status, now: int) -> None:
        old = job.status
        job_id = job.job_id
        if old is RUNNING:
            del self._running[job_id]
        counts = self._counts
        counts[old] -= 1
        counts[status] += 1
        job.status = status
        job.last_updated = now
        self._by_update.move_to_end(job_id)
        if self.dirty is not None:
            self.dirty.add(job_id)
        if status is RUNNING:
            self._running[job_id] = None
        elif status is FAILED:
            self._failed[job_id] = None

    # ------------------------------------------------------------------ workflows

    def _start_step(self, wf: _Job, now: int, out: Outcome) -> None:
        assert wf.steps is not None
        if wf.step >= len(wf.steps):
            self._finish(wf, COMPLETED, "", "", "", now, out)
            return
        configs = wf.steps[wf.step]
        wf.pending += len(configs)
        out.start.extend((wf.job_id, config) for config in configs)

    def _child_finished(self, wf: _Job, child: _Job, now: int, out: Outcome) -> None:
        wf.unfinished -= 1
        if child.status is COMPLETED:
            if wf.stop is None and wf.unfinished == 0 and wf.pending == 0:
                wf.step += 1
                self._touch(wf, now)
                self._start_step(wf, now, out)
                return
        else:
            self._stop_workflow(wf, child.status, child.error_type, child.error_message, now,
                                out)
        self._maybe_finish_workflow(wf, now, out)

    def _touch(self, job: _Job, now: int) -> None:
        """A workflow moved to its next step: its last-updated time changes (Alluxio)."""
        if job.last_updated != now and job.status is RUNNING:
            self._set_status_time(job, now)

    def _set_status_time(self, job: _Job, now: int) -> None:
        job.last_updated = now
        if self.dirty is not None:
            self.dirty.add(job.job_id)
        self._by_update.move_to_end(job.job_id)
        self._running.move_to_end(job.job_id)

    def _stop_workflow(self, wf: _Job, status: Status, error_type: str, message: str,
                       now: int, out: Outcome) -> None:
        if wf.stop is None:
            wf.stop = (status, error_type, message)
            for child_id in list(wf.children or ()):
                self._cancel_job(self._jobs[child_id], now, out)
        self._maybe_finish_workflow(wf, now, out)

    def _maybe_finish_workflow(self, wf: _Job, now: int, out: Outcome) -> None:
        if wf.stop is not None and wf.unfinished == 0 and wf.pending == 0:
            status, error_type, message = wf.stop
            self._finish(wf, status, error_type, message, "", now, out)

    # ------------------------------------------------------------------- queries

    def status(self, job_id: int) -> Status:
        job = self._jobs.get(job_id)
        if job is None:
            raise JobNotFoundError(job_id)
        return job.status

    def cancel_requested(self, job_id: int) -> bool:
        """Whether the job was asked to stop (safe to read without the master lock: a
        single attribute read, checked again by the master after each submit)."""
        job = self._jobs.get(job_id)
        return job is None or job.cancel_requested or job.status.is_finished

    def plan_of(self, job_id: int) -> Any:
        return self._jobs[job_id].plan

    def task_args(self, job_id: int, task_id: int) -> tuple[Any, Any, WorkerInfo]:
        job = self._jobs[job_id]
        assert job.tasks is not None
        task = job.tasks[task_id]
        return job.config, task.args, task.worker

    def join_inputs(self, job_id: int) -> tuple[Any, Any, dict[int, Any]]:
        job = self._jobs[job_id]
        return job.plan, job.config, {t.task_id: t.result for t in job.tasks or ()}

    def ids(self, statuses: frozenset[Status] | None = None, name: str | None = None
            ) -> list[int]:
        """Job ids in ascending order, optionally filtered (both filters apply)."""
        return [job.job_id for job in self._select(statuses, name)]

    def _select(self, statuses: frozenset[Status] | None, name: str | None) -> Iterator[_Job]:
        jobs = self._jobs
        ordered = jobs.values() if self._in_id_order else [jobs[i] for i in sorted(jobs)]
        for job in ordered:
            if (statuses is None or job.status in statuses) and (name is None or job.name == name):
                yield job

    def infos(self, statuses: frozenset[Status] | None = None, name: str | None = None
              ) -> list[JobInfo]:
        return [self._brief(job) for job in self._select(statuses, name)]

    def tasks_on_worker(self, worker_id: int) -> list[tuple[int, int, int]]:
        """Unfinished (job_id, task_id, attempt) placed on ``worker_id``."""
        found = []
        for job_id in self._active:
            for task in self._jobs[job_id].tasks or ():
                if task.worker.worker_id == worker_id and not task.status.is_finished:
                    found.append((job_id, task.task_id, task.attempt))
        return found

    def unfinished_ids(self) -> list[int]:
        return [job.job_id for job in self._jobs.values() if not job.status.is_finished]

    def info(self, job_id: int, verbose: bool) -> JobInfo:
        job = self._jobs.get(job_id)
        if job is None:
            raise JobNotFoundError(job_id)
        return self._info(job, verbose)

    def _brief(self, job: _Job) -> JobInfo:
        return JobInfo(job_id=job.job_id, name=job.name, description="", status=job.status,
                       error_type=job.error_type, error_message=job.error_message,
                       result=job.result, last_updated=job.last_updated)

    def _info(self, job: _Job, verbose: bool, children: bool = True) -> JobInfo:
        tasks: list[TaskInfo] = []
        if verbose and job.tasks:
            describe: Callable[[Any, Any], str] = job.plan.describe_task
            tasks = [
                TaskInfo(job_id=job.job_id, task_id=t.task_id, worker_host=t.worker.host,
                         status=t.status, error_type=t.error_type,
                         error_message=t.error_message, result=t.result,
                         description=describe(job.config, t.args),
                         start_time=t.start_time, end_time=t.end_time)
                for t in job.tasks
            ]
        kids = [self._info(self._jobs[c], verbose) for c in job.children or ()] if children else []
        return JobInfo(job_id=job.job_id, name=job.name, description=job.config.describe(),
                       status=job.status, error_type=job.error_type,
                       error_message=job.error_message, result=job.result,
                       last_updated=job.last_updated, tasks=tasks, children=kids)

    def refs(self, job_ids: Iterable[int]) -> list[Any]:
        """The jobs of ``job_ids`` still tracked, to read with :func:`row`. Safe without
        the master lock (single dict reads); a job changed meanwhile is marked dirty
        again and rewritten. The jobs themselves, not new (id, job) pairs: a batch of
        new containers would only give the garbage collector more to trace."""
        get = self._jobs.get
        return [job for job in map(get, job_ids) if job is not None]

    def restore(self, info: JobInfo, parent: int | None, config: Any) -> None:
        """Track a finished job read back from a store (call in ascending id order, then
        :meth:`restored`)."""
        job = _Job(info.job_id, config, info.name, parent, _RESTORED_PLAN, info.status,
                   info.last_updated)
        job.error_type = info.error_type
        job.error_message = info.error_message
        job.result = info.result
        job.tasks = []
        for t in info.tasks:
            task = _Task(t.task_id, WorkerInfo(worker_id=-1, host=t.worker_host), t.description)
            task.status = t.status
            task.error_type = t.error_type
            task.error_message = t.error_message
            task.result = t.result
            task.start_time = t.start_time
            task.end_time = t.end_time
            job.tasks.append(task)
        self._jobs[info.job_id] = job
        self._last_id = max(self._last_id, info.job_id)
        self._counts[info.status] += 1

    def restored(self) -> None:
        """Link restored children to their workflows and rebuild the indexes."""
        jobs = self._jobs
        for job in jobs.values():
            if job.parent is not None and job.parent in jobs:
                parent = jobs[job.parent]
                if parent.children is None:
                    parent.children = []
                parent.children.append(job.job_id)
        by_time = sorted(jobs.values(), key=lambda j: (j.last_updated, j.job_id))
        for job in by_time:
            self._by_update[job.job_id] = None
            if job.status is FAILED:
                self._failed[job.job_id] = None
            if job.parent is None:
                self._finished_roots.append((job.last_updated, job.job_id))

    def summary(self) -> JobServiceSummary:
        return JobServiceSummary(
            status_counts=dict(self._counts),
            recent_activities=self._briefs(self._newest(self._by_update)),
            recent_failures=self._briefs(self._newest(self._failed)),
            longest_running=self._briefs(self._oldest(self._running)),
        )

    def _newest(self, index: "OrderedDict[int, None]") -> list[int]:
        """Up to 10 ids, newest status change first, ties by lower id first."""
        jobs = self._jobs
        picked = _take(reversed(index), jobs)
        picked.sort(key=lambda j: (-jobs[j].last_updated, j))
        return picked[:RECENT_LENGTH]

    def _oldest(self, index: "OrderedDict[int, None]") -> list[int]:
        """Up to 10 ids, oldest status change first, ties by higher id first (Alluxio's
        reversed order)."""
        jobs = self._jobs
        picked = _take(iter(index), jobs)
        picked.sort(key=lambda j: (jobs[j].last_updated, -j))
        return picked[:RECENT_LENGTH]

    def _briefs(self, ids: Iterable[int]) -> list[JobInfo]:
        return [self._brief(self._jobs[jid]) for jid in ids]

class _RestoredPlan:
    """Stands in for the plan of a job read back from a store: tasks keep their
    stored descriptions as args."""

    needs_join = False
    has_task_hook = False

    def describe_task(self, config: Any, args: Any) -> str:
        return str(args)


_RESTORED_PLAN = _RestoredPlan()


def _take(ids: Iterator[int], jobs: dict[int, _Job]) -> list[int]:
    """The first 10 ids in time order, plus any that share the 10th one's time."""
    picked: list[int] = []
    boundary = None
    for job_id in ids:
        when = jobs[job_id].last_updated
        if boundary is not None and when != boundary:
            break
        picked.append(job_id)
        if len(picked) == RECENT_LENGTH:
            boundary = when
    return picked


def row(job: Any, plain: Callable[[Any], Any], description: str,
        config: dict[str, Any] | None) -> JobRow:
    """A job's store row (:data:`~alluxio_jobs.stores.base.JobRow`): ``description`` is
    its config's, ``config`` its config as plain data for a job the store has not seen
    yet, else None. Read outside the master lock from :meth:`JobTracker.refs`; ``plain``
    turns a task result into plain data. Tuples and lists without keys: this runs for
    every job the store writes, on the writer thread, which competes with the master
    for the interpreter."""
    tasks = []
    if job.tasks:
        describe: Callable[[Any, Any], str] = job.plan.describe_task
        job_config = job.config
        tasks = [[t.task_id, t.worker.host, t.status, t.error_type, t.error_message,
                  plain(t.result), describe(job_config, t.args), t.start_time, t.end_time]
                 for t in job.tasks]
    return (job.job_id, job.parent, job.name, job.status, job.last_updated, config,
            [description, job.error_type, job.error_message, job.result, tasks])
