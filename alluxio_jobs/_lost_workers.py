"""Lost-worker detection for the job master (Alluxio's ``LostWorkerDetectionHeartbeatExecutor``)."""

import logging
import threading
from collections.abc import Callable, Sequence

from alluxio_jobs.model import JobWorkerHealth, WorkerInfo

__all__ = ["LostWorkerDetector"]

logger = logging.getLogger(__name__)


class LostWorkerDetector:
    """Declares a worker lost when its heartbeat has not changed for ``timeout`` seconds,
    checking every ``interval`` seconds on a thread of its own, and hands each newly lost
    worker to ``on_lost``.

    Silence is measured on the master's clock (``now``, in ms), whatever clock the workers
    use; a lost worker that is heard again counts as live again.
    """

    def __init__(self, *, timeout: float, interval: float,
                 health: Callable[[], Sequence[JobWorkerHealth]], now: Callable[[], int],
                 on_lost: Callable[[WorkerInfo], None]) -> None:
        self._timeout_ms = int(timeout * 1000)
        self._interval = interval
        self._health = health
        self._now = now
        self._on_lost = on_lost
        self._lock = threading.Lock()
        # worker id -> (its last reported heartbeat, the master's time when that changed)
        self._heard: dict[int, tuple[int, int]] = {}
        #: ids of the workers lost now; replaced, never changed, so it is read without a lock
        self.lost: frozenset[int] = frozenset()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alluxio-job-master-lost-workers",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def check(self) -> list[WorkerInfo]:
        """One check now; returns the workers it found lost (and handed to ``on_lost``)."""
        health = self._health()
        now = self._now()
        newly = []
        with self._lock:
            lost = set(self.lost)
            for h in health:
                last = self._heard.get(h.worker_id)
                if last is None or last[0] != h.last_updated:
                    self._heard[h.worker_id] = last = (h.last_updated, now)
                if now - last[1] <= self._timeout_ms:
                    lost.discard(h.worker_id)
                elif h.worker_id not in lost:
                    lost.add(h.worker_id)
                    newly.append(WorkerInfo(worker_id=h.worker_id, host=h.host))
            self.lost = frozenset(lost)
        for worker in newly:
            self._on_lost(worker)
        return newly

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.check()
            except Exception:
                logger.exception("lost-worker check failed")

    def close(self) -> None:
        """Stop checking; waits for a check under way (unless called from one)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()
