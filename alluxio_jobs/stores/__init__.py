"""Job stores: where a master keeps job history (memory, or a durable SQLite file)."""

from alluxio_jobs.stores.base import (
    CommandRecord,
    JobRecord,
    JobRow,
    JobStore,
    StoredJobs,
    StoreSource,
    StoreView,
)
from alluxio_jobs.stores.memory import MemoryJobStore
from alluxio_jobs.stores.sqlite import SQLiteJobStore

__all__ = [
    "CommandRecord",
    "JobRecord",
    "JobRow",
    "JobStore",
    "MemoryJobStore",
    "SQLiteJobStore",
    "StoreSource",
    "StoreView",
    "StoredJobs",
]
