"""Job stores: where a master keeps job history (memory, or a durable SQLite file)."""

from alluxio_jobs.stores.base import JobRecord, JobStore, StoredJobs, StoreView
from alluxio_jobs.stores.memory import MemoryJobStore
from alluxio_jobs.stores.sqlite import SQLiteJobStore

__all__ = ["JobRecord", "JobStore", "MemoryJobStore", "SQLiteJobStore", "StoreView", "StoredJobs"]
