"""Job stores: where a master keeps job history (memory, or a durable SQLite file)."""

from alluxio_jobs.stores.base import (
    CommandRecord,
    JobRecord,
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
    "JobStore",
    "MemoryJobStore",
    "SQLiteJobStore",
    "StoreSource",
    "StoreView",
    "StoredJobs",
]
