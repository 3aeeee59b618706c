"""Transports: how task requests reach job workers.

:class:`DaskTransport` (the ``alluxio_jobs[dask]`` extra) is imported on first use, so
importing this package never imports ``distributed``; it is left out of ``__all__`` so
that ``from alluxio_jobs.transports import *`` works without the extra.
"""

from typing import Any

from alluxio_jobs.transports.base import WorkerTransport
from alluxio_jobs.transports.local import LocalTransport

__all__ = ["LocalTransport", "WorkerTransport"]

_LAZY = {"DaskTransport": "alluxio_jobs.transports.dask"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
