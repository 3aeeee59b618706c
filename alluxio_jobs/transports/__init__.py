"""Transports: how task requests reach job workers."""

from alluxio_jobs.transports.base import WorkerTransport
from alluxio_jobs.transports.local import LocalTransport

__all__ = ["LocalTransport", "WorkerTransport"]
