"""What crosses the boundary with ``distributed``: task data as plain data, and errors.

:class:`~alluxio_jobs.transports.dask.DaskTransport` sends each task request as plain
data and gets plain data back; whatever ``distributed`` raises at that boundary is
translated into this package's transport errors. Both directions are used by the
master side and by the worker plugin (:mod:`alluxio_jobs.transports._dask_worker`), so
they live here, below both. Their public home is :mod:`alluxio_jobs.transports.dask`,
which re-exports them; this module does not import ``distributed``.
"""

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import attrs

from alluxio_jobs.errors import (
    ClosedError,
    JobConfigError,
    TransportError,
    WorkerLostError,
    WorkerNotFoundError,
)
from alluxio_jobs.model import TaskRequest, TaskResult
from alluxio_jobs.serde import from_dict, from_plain, import_qualified, to_dict, to_plain

__all__ = [
    "DASK_ERRORS",
    "dask_error_kind",
    "decode_request",
    "decode_result",
    "encode_request",
    "encode_result",
    "mapped_errors",
    "translate_dask_error",
]

# ------------------------------------------------------------------- errors

#: Every error ``distributed`` raises at a transport's boundary, and what it becomes:
#: ``"lost"`` → :class:`WorkerLostError`, ``"transport"`` → :class:`TransportError`.
#: Names are ``module:qualname`` so that classes missing from an older ``distributed``
#: are skipped; :func:`translate_dask_error` looks a raised error up along its MRO.
DASK_ERRORS: dict[str, str] = {
    # a worker died while running the task (too often, or allowed-failures is 0)
    "distributed.scheduler:KilledWorker": "lost",
    # connections: the worker or the scheduler went away
    "distributed.comm.core:CommClosedError": "transport",
    "distributed.comm.core:FatalCommClosedError": "transport",
    "distributed.core:RPCClosed": "transport",
    "distributed.comm.inproc:QueueEmpty": "transport",
    "distributed.client:ClosedClientError": "transport",
    "distributed.client:AllExit": "transport",
    "distributed._async_taskgroup:AsyncTaskGroupClosedError": "transport",
    # the task was canceled on the Dask side (not by this transport)
    "distributed.client:FutureCancelledError": "transport",
    "distributed.client:FuturesCancelledError": "transport",
    "asyncio.exceptions:CancelledError": "transport",
    "concurrent.futures._base:CancelledError": "transport",
    # time-outs and scheduling
    "builtins:TimeoutError": "transport",
    "distributed.exceptions:WorkerStartTimeoutError": "transport",
    "distributed.exceptions:Reschedule": "transport",
    "distributed.scheduler:NoValidWorkerError": "transport",
    "distributed.scheduler:NoWorkerError": "transport",
    # worker internals: its state machine, spilling, shuffles
    "distributed.worker_state_machine:InvalidTaskState": "transport",
    "distributed.worker_state_machine:InvalidTransition": "transport",
    "distributed.worker_state_machine:RecommendationsConflict": "transport",
    "distributed.worker_state_machine:TransitionCounterMaxExceeded": "transport",
    "distributed.spill:HandledError": "transport",
    "distributed.spill:MaxSpillExceeded": "transport",
    "distributed.spill:PickleError": "transport",
    "distributed.shuffle._exceptions:DataUnavailable": "transport",
    "distributed.shuffle._exceptions:P2PConsistencyError": "transport",
    "distributed.shuffle._exceptions:P2PIllegalStateError": "transport",
    "distributed.shuffle._exceptions:P2POutOfDiskError": "transport",
    "distributed.shuffle._exceptions:ShuffleClosedError": "transport",
    # anything else at the socket level
    "builtins:OSError": "transport",
}

_error_table: dict[type[BaseException], str] | None = None


def _errors() -> dict[type[BaseException], str]:
    global _error_table
    if _error_table is None:
        table = {}
        for name, kind in DASK_ERRORS.items():
            try:
                cls = import_qualified(name)
            except JobConfigError:  # not in this version of distributed
                continue
            table[cls] = kind
        _error_table = table
    return _error_table


def dask_error_kind(cls: type[BaseException]) -> str | None:
    """``"lost"`` or ``"transport"`` for an error class listed in :data:`DASK_ERRORS`
    (directly or through a base class), ``None`` if it is not listed."""
    table = _errors()
    for klass in cls.__mro__:
        kind = table.get(klass)
        if kind is not None:
            return kind
    return None


def translate_dask_error(exc: BaseException, worker_id: int | None = None,
                         host: str = "") -> TransportError:
    """The :class:`TransportError` (or :class:`WorkerLostError`) for an error raised by
    ``distributed`` while reaching ``worker_id``; errors of this package pass through.
    Unlisted errors become a plain :class:`TransportError`: nothing leaks."""
    if isinstance(exc, TransportError):
        return exc
    if dask_error_kind(type(exc)) == "lost" and worker_id is not None:
        return WorkerLostError(worker_id, host)
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - an error that cannot describe itself
        text = ""
    return TransportError(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


@contextlib.contextmanager
def mapped_errors(worker_id: int | None = None, host: str = "") -> Iterator[None]:
    """Translate whatever ``distributed`` raises inside the block (``raise ... from``)."""
    try:
        yield
    except TransportError:
        raise
    except (ClosedError, WorkerNotFoundError):
        raise
    except Exception as exc:
        raise translate_dask_error(exc, worker_id, host) from exc


# ---------------------------------------------------------------- plain data


def encode_request(request: TaskRequest) -> dict[str, Any]:
    """A task request as plain data (what :class:`DaskTransport` sends)."""
    data: dict[str, Any] = to_dict(attrs.evolve(request, args=None))
    data["args"] = to_plain(request.args)
    return data


def decode_request(data: Mapping[str, Any]) -> TaskRequest:
    request: TaskRequest = from_dict({**data, "args": None})
    return attrs.evolve(request, args=from_plain(data["args"]))


def encode_result(result: TaskResult) -> dict[str, Any]:
    """A task result as plain data (what a Dask worker sends back)."""
    data: dict[str, Any] = to_dict(attrs.evolve(result, result=None))
    data["status"] = result.status.value  # a plain str, as the event broker needs
    data["result"] = to_plain(result.result)
    return data


def decode_result(data: Mapping[str, Any]) -> TaskResult:
    result: TaskResult = from_dict({**data, "result": None})
    value = data["result"]
    return result if value is None else attrs.evolve(result, result=from_plain(value))

