"""Block caches on Dask workers, and the block network between them (the dask extra).

Each Dask worker gets a block cache of its own in its local directory
(``dask_worker.local_directory``), set up by a worker plugin that also registers a
comm handler on the worker. Blocks move only through Dask's own connections: a task
reads a peer's block with ``worker.rpc(peer).<handler>(...)``, and the master side
(client reads and writes, free, delete, evictions, usage) calls the same handler over
the client's connection pool. Nothing is assumed to be on a shared disk.

Job worker ids come from the :class:`~alluxio_jobs.transports.dask.DaskTransport`: the
network follows its map of worker ids to Dask addresses and publishes it in the
scheduler's metadata before a new worker is offered to the master, so that a task can
resolve any peer id it finds in its arguments.
"""

import abc
import asyncio
import logging
import os
import shutil
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

try:
    import distributed
    from distributed.diagnostics.plugin import WorkerPlugin
    from distributed.protocol.serialize import to_serialize as _dask_serialize
    from distributed.utils import sync
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "Storage on Dask needs Dask distributed: pip install 'alluxio_jobs[dask]'"
    ) from exc

from alluxio_jobs._validate import check_int, check_number
from alluxio_jobs.blockcache import (
    RESOURCE_KEY,
    BlockCache,
    BlockNetwork,
    CacheUsage,
    DirectoryBlockCache,
    WorkerStorage,
    checksum,
)
from alluxio_jobs.errors import CacheFullError, JobConfigError, StorageError
from alluxio_jobs.model import WorkerInfo
from alluxio_jobs.plans.base import PlanRegistry

if TYPE_CHECKING:
    from alluxio_jobs.filesystem import FileSystem
    from alluxio_jobs.model import MasterConfig
    from alluxio_jobs.storage import WriteType
    from alluxio_jobs.stores.base import JobStore
    from alluxio_jobs.transports.dask import DaskTransport

__all__ = ["DaskBlockNetwork", "StorageResources", "WorkerStoragePlans", "dask_file_system"]

logger = logging.getLogger(__name__)

#: Builds a Dask worker's block cache, given the ``distributed.Worker``.
CacheFactory = Callable[[Any], BlockCache]

#: Wraps bytes so Dask sends them as frames of their own, not inside a message.
_to_serialize: Callable[[Any], Any] = _dask_serialize


# -------------------------------------------------------------- worker side


class _BlockServer(WorkerPlugin):
    """On every Dask worker of a network: its block cache, served by a comm handler
    named after the network."""

    def __init__(self, name: str, capacity: int, cache_factory: CacheFactory | None) -> None:
        self.name = name
        self.capacity = capacity
        self.cache_factory = cache_factory
        self.cache: BlockCache | None = None
        self.root: str | None = None  # the directory this plugin made, removed at teardown

    def __reduce__(self) -> tuple[Any, ...]:
        return (_BlockServer, (self.name, self.capacity, self.cache_factory))

    def setup(self, worker: Any) -> None:
        if self.cache_factory is not None:
            self.cache = self.cache_factory(worker)
        else:
            self.root = os.path.join(worker.local_directory, self.name)
            self.cache = DirectoryBlockCache(self.capacity, self.root,
                                             name=f"block cache of {worker.address}")
        worker.handlers[self.name] = self.handle

    def teardown(self, worker: Any) -> None:
        worker.handlers.pop(self.name, None)
        if self.cache is not None:
            self.cache.close()
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)

    async def handle(self, comm: Any = None, **msg: Any) -> dict[str, Any]:
        """The comm handler: disk work goes to a thread, off the worker's event loop."""
        return await asyncio.to_thread(self.serve, msg)

    def serve(self, msg: Mapping[str, Any]) -> dict[str, Any]:
        """One request as a reply dict; errors are replies too (never raised into
        Dask's handler, which would log them as crashes)."""
        cache = self.cache
        action = msg.get("action")
        try:
            if cache is None:
                raise StorageError("block cache", "not set up on this Dask worker")
            if action == "read":
                return {"ok": True, "data": _to_serialize(cache.get(msg["block_id"]))}
            if action == "write":
                _put(cache, msg["block_id"], msg["data"], msg.get("checksum"))
                return {"ok": True}
            if action == "remove":
                for block_id in msg["block_ids"]:
                    cache.remove(block_id)
                return {"ok": True}
            if action == "usage":
                return {"ok": True, "capacity": cache.capacity, "used": cache.used,
                        "blocks": len(cache.block_ids())}
            if action == "list":
                return {"ok": True, "blocks": sorted(cache.block_ids()),
                        "root": getattr(cache, "root", None)}
            raise StorageError("block cache", f"unknown request {action!r}")
        except CacheFullError as exc:
            return {"ok": False, "path": exc.path, "reason": exc.reason,
                    "needed": exc.needed, "free": exc.free}
        except StorageError as exc:
            return {"ok": False, "path": exc.path, "reason": exc.reason}
        except Exception as exc:  # noqa: BLE001 - reported to the caller, not lost
            return {"ok": False, "path": f"block cache of {self.name}",
                    "reason": f"{type(exc).__name__}: {exc}"}


def _put(cache: BlockCache, block_id: int, data: Any, block_checksum: int | None) -> None:
    """Store a block that came over the wire, checking it arrived whole."""
    data = bytes(data)
    if block_checksum is not None and checksum(data) != block_checksum:
        raise StorageError(f"block {block_id}", "arrived with a different checksum")
    cache.put(block_id, data, block_checksum)


def _server(name: str) -> _BlockServer:
    plugin = distributed.get_worker().plugins.get(name)
    if not isinstance(plugin, _BlockServer) or plugin.cache is None:
        raise StorageError("block cache", f"block network {name} is not set up on this "
                                          "Dask worker")
    return plugin


# ------------------------------------------------------------ both sides


#: While a call to a worker is pending, how often (seconds) the caller checks that the
#: worker is still in the map; Dask would otherwise retry connecting to a dead one for
#: its whole connect timeout.
WATCH_INTERVAL = 0.25


class _Blocks(BlockNetwork):
    """Calls to the block handlers of a network's workers; subclasses say how to reach
    them (from a task thread on a worker, or from the client) and where the map of
    worker ids to addresses is."""

    def __init__(self, name: str, timeout: float) -> None:
        self.name = name
        self.timeout = timeout

    @abc.abstractmethod
    async def _map_now(self) -> Mapping[int, str]:
        """The current map of job worker ids to Dask addresses (on the event loop)."""

    def _local(self, worker_id: int) -> BlockCache | None:
        """The cache itself when ``worker_id`` is this process's worker."""
        return None

    @abc.abstractmethod
    def _run(self, make: Callable[[], Awaitable[Any]]) -> Any:
        """Run a coroutine on the event loop from this thread and wait for it."""

    @abc.abstractmethod
    def _rpc(self, address: str) -> Any:
        """The connection pool's caller for ``address``."""

    async def _ask(self, worker_id: int, address: str, msg: Mapping[str, Any]) -> Any:
        """Send ``msg`` to the worker's handler; give up once the worker left the map."""
        call = asyncio.ensure_future(getattr(self._rpc(address), self.name)(**msg))
        try:
            while True:
                done, _ = await asyncio.wait([call], timeout=WATCH_INTERVAL)
                if done:
                    return call.result()
                if (await self._map_now()).get(worker_id) != address:
                    raise StorageError("block cache", f"job worker {worker_id} ({address}) "
                                                      "left the cluster")
        finally:
            call.cancel()

    def _call(self, worker_id: int, what: str, **msg: Any) -> dict[str, Any]:
        where = f"job worker {worker_id}"

        async def go() -> Any:
            nonlocal where
            address = (await self._map_now()).get(worker_id)
            if address is None:
                raise StorageError(what, f"{where} is not reachable (not a worker of this "
                                         "cluster)")
            where = f"{where} ({address})"
            return await self._ask(worker_id, address, msg)

        try:
            reply = self._run(go)
        except StorageError as exc:
            raise StorageError(what, exc.reason) from exc
        except Exception as exc:
            raise StorageError(what, f"{where} is not reachable: "
                                     f"{type(exc).__name__}: {exc}") from exc
        return _checked(reply, what, where)

    def read_block(self, worker_id: int, block_id: int) -> bytes:
        cache = self._local(worker_id)
        if cache is not None:
            return cache.get(block_id)
        reply = self._call(worker_id, f"block {block_id}", action="read", block_id=block_id)
        return bytes(reply["data"])

    def write_block(self, worker_id: int, block_id: int, data: bytes,
                    block_checksum: int | None = None) -> None:
        cache = self._local(worker_id)
        if cache is not None:
            cache.put(block_id, data, block_checksum)
            return
        self._call(worker_id, f"block {block_id}", action="write", block_id=block_id,
                   data=_to_serialize(bytes(data)), checksum=block_checksum)

    def remove_blocks(self, worker_id: int, block_ids: Iterable[int]) -> None:
        ids = list(block_ids)
        if not ids:
            return
        cache = self._local(worker_id)
        if cache is not None:
            for block_id in ids:
                cache.remove(block_id)
            return
        try:
            self._call(worker_id, "blocks", action="remove", block_ids=ids)
        except StorageError as exc:  # a lost worker's cache is gone anyway
            logger.info("could not drop blocks %s: %s", ids, exc)

    def usage(self) -> list[CacheUsage]:
        async def one(worker_id: int, address: str) -> CacheUsage | None:
            try:
                reply = await self._ask(worker_id, address, {"action": "usage"})
            except Exception:  # noqa: BLE001 - an unreachable cache is left out
                return None
            if not (isinstance(reply, dict) and reply.get("ok")):
                return None
            return CacheUsage(worker=WorkerInfo(worker_id=worker_id, host=address),
                              capacity=reply["capacity"], used=reply["used"],
                              blocks=reply["blocks"])

        async def ask_all() -> list[CacheUsage | None]:
            addresses = await self._map_now()
            return list(await asyncio.gather(*(one(w, a) for w, a in addresses.items())))

        try:
            found = self._run(ask_all)
        except Exception as exc:  # noqa: BLE001 - no cache is reachable
            logger.info("cannot reach the block caches: %s", exc)
            return []
        return sorted((u for u in found if u is not None), key=lambda u: u.worker.worker_id)


def _checked(reply: Any, what: str, where: str) -> dict[str, Any]:
    if not isinstance(reply, dict):  # no handler there: the worker is still starting
        raise StorageError(what, f"{where} has no block cache yet")
    if reply.get("ok"):
        return reply
    if "needed" in reply:
        raise CacheFullError(reply["path"], reply["reason"], reply["needed"], reply["free"])
    raise StorageError(reply["path"], reply["reason"])


class _PeerBlocks(_Blocks):
    """A task's way to its peers: ``worker.rpc`` from the task's thread; its own
    worker's cache directly. The map is read from the scheduler's metadata (where the
    master side publishes the transport's map) at each call, so a peer the cluster
    lost is refused at once."""

    def __init__(self, name: str, timeout: float, worker: Any, own: WorkerInfo,
                 cache: BlockCache) -> None:
        super().__init__(name, timeout)
        self._worker = worker
        self._own = own
        self._cache = cache

    async def _map_now(self) -> Mapping[int, str]:
        published = await self._worker.scheduler.get_metadata(keys=[self.name, "workers"],
                                                              default=None)
        return {int(k): v for k, v in (published or {}).items()}

    def _local(self, worker_id: int) -> BlockCache | None:
        return self._cache if worker_id == self._own.worker_id else None

    def _run(self, make: Callable[[], Awaitable[Any]]) -> Any:
        return sync(self._worker.loop, make, callback_timeout=self.timeout)

    def _rpc(self, address: str) -> Any:
        return self._worker.rpc(address)


class StorageResources:
    """The ``resources`` factory of a :class:`DaskTransport` whose tasks use the block
    network ``name``: on the Dask worker, ``ctx.resources["storage"]`` is a
    :class:`~alluxio_jobs.blockcache.WorkerStorage` over that worker's cache."""

    def __init__(self, name: str, timeout: float) -> None:
        self.name = name
        self.timeout = timeout

    def __call__(self, worker: WorkerInfo) -> dict[str, Any]:
        server = _server(self.name)
        assert server.cache is not None
        dask_worker = distributed.get_worker()
        network = _PeerBlocks(self.name, self.timeout, dask_worker, worker, server.cache)
        return {RESOURCE_KEY: WorkerStorage(worker, server.cache, network)}


# -------------------------------------------------------------- master side


class DaskBlockNetwork(_Blocks):
    """The block caches of the Dask workers behind ``client``, reached from the client.

    Each worker's cache holds ``capacity`` bytes in a directory of its own under
    ``dask_worker.local_directory`` (removed by :meth:`close`), or is whatever
    ``cache_factory(dask_worker)`` builds (picklable; closed by :meth:`close`).
    ``timeout`` bounds each call to a worker, in seconds.

    Give :attr:`resources` to the :class:`DaskTransport` and call :meth:`attach` with
    it (``FileSystem.dask`` does both).
    """

    def __init__(self, client: "distributed.Client", *, capacity: int = 1 << 30,
                 cache_factory: CacheFactory | None = None, timeout: float = 60.0) -> None:
        if not isinstance(client, distributed.Client):
            raise JobConfigError("client", client, "must be a distributed.Client")
        check_int("capacity", capacity, 0)
        if cache_factory is not None and not callable(cache_factory):
            raise JobConfigError("cache_factory", cache_factory, "must be callable")
        timeout = check_number("timeout", timeout, above=0)
        super().__init__(f"alluxio-blocks-{uuid.uuid4().hex[:8]}", timeout)
        self.client: Any = client  # partly unannotated
        self.capacity = capacity
        self._factory = cache_factory
        self._lock = threading.Lock()
        self._map: dict[int, str] = {}
        self._installed = False
        self._closed = False

    @property
    def resources(self) -> StorageResources:
        """The ``resources`` factory for the transport (picklable)."""
        return StorageResources(self.name, self.timeout)

    def attach(self, transport: "DaskTransport") -> None:
        """Set up the caches on every Dask worker (and on workers that join later) and
        follow ``transport``'s worker ids."""
        with self._lock:
            if self._installed:
                raise JobConfigError("transport", transport, "this network is attached already")
            self._installed = True
        try:
            self.client.register_plugin(_BlockServer(self.name, self.capacity, self._factory),
                                        name=self.name)
        except Exception as exc:
            raise StorageError("block caches", f"cannot set up the Dask workers: {exc}") from exc
        transport.add_worker_listener(self._publish)

    def _publish(self, addresses: Mapping[int, str]) -> None:
        with self._lock:
            if self._closed:
                return
            self._map = dict(addresses)
        self.client.set_metadata([self.name, "workers"],
                                 {str(k): v for k, v in addresses.items()})

    async def _map_now(self) -> Mapping[int, str]:
        return self._map

    def _run(self, make: Callable[[], Awaitable[Any]]) -> Any:
        return self.client.sync(make, callback_timeout=self.timeout)

    def _rpc(self, address: str) -> Any:
        return self.client.rpc(address)

    def block_ids(self, worker_id: int) -> list[int]:
        """The blocks ``worker_id``'s cache holds (bytes, not the namespace's view)."""
        return list(self._call(worker_id, "block cache", action="list")["blocks"])

    def cache_root(self, worker_id: int) -> str | None:
        """The directory of ``worker_id``'s cache on its machine (None for a cache that
        is not a directory)."""
        root = self._call(worker_id, "block cache", action="list")["root"]
        return None if root is None else str(root)

    def close(self) -> None:
        """Remove the caches from every worker (their directories too). Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            installed = self._installed
            self._map = {}
        if not installed:
            return
        try:
            self.client.unregister_worker_plugin(self.name)
            self.client.set_metadata([self.name], None)
        except Exception as exc:  # noqa: BLE001 - the cluster may be gone already
            logger.info("cannot remove the block caches: %s", exc)


# ------------------------------------------------------------------- wiring


class _MasterOnly:
    """Stands in for the FileSystem in the storage plans built on a Dask worker: tasks
    reach storage through ``ctx.resources``, never through the master's objects."""

    def __getattr__(self, name: str) -> Any:
        raise StorageError("FileSystem", f"lives on the master; a task cannot use .{name}")


class WorkerStoragePlans:
    """``DaskTransport(worker_plans=...)`` for storage: on each worker, ``base`` (a copy
    of the registry without the storage plans) plus the storage plans, built there
    (they hold master-side state that does not travel)."""

    def __init__(self, base: PlanRegistry | None = None) -> None:
        self.base = PlanRegistry(base.__getstate__()["plans"]) if base is not None else None

    def __call__(self) -> PlanRegistry:
        from alluxio_jobs.filesystem import register_storage_plans

        registry = (PlanRegistry(self.base.__getstate__()["plans"]) if self.base is not None
                    else PlanRegistry.default())
        return register_storage_plans(registry, cast("FileSystem", _MasterOnly()))


def dask_file_system(
    client: "distributed.Client",
    fs_class: "type[FileSystem]",
    *,
    block_size: int,
    cache_capacity: int,
    cache_factory: CacheFactory | None,
    threadpool_size: int | None,
    master_config: "MasterConfig | None",
    plans: PlanRegistry | None,
    store: "JobStore | None",
    write_type: "WriteType | str",
    persist_backoff: tuple[float, float],
    poll_interval: float,
    clock: Callable[[], float],
) -> "FileSystem":
    """What ``FileSystem.dask`` builds (see there): a namespace, a
    :class:`DaskBlockNetwork`, a :class:`DaskTransport` whose workers build the storage
    plans, and a job master running them."""
    from alluxio_jobs.filesystem import register_storage_plans
    from alluxio_jobs.storage import Namespace, check_block_size
    from alluxio_jobs.transports.dask import DaskTransport

    check_block_size(block_size)
    network = DaskBlockNetwork(client, capacity=cache_capacity, cache_factory=cache_factory)
    fs = fs_class(Namespace(block_size=block_size, clock=clock), network,
                  write_type=write_type, persist_backoff=persist_backoff, clock=clock)
    base = plans if plans is not None else PlanRegistry.default()
    on_workers = WorkerStoragePlans(base)  # taken before the storage plans join `base`
    registry = register_storage_plans(base, fs)
    transport = DaskTransport(client, threadpool_size=threadpool_size,
                              resources=network.resources, worker_plans=on_workers,
                              poll_interval=poll_interval)
    try:
        network.attach(transport)
    except BaseException:
        transport.close()
        network.close()
        raise
    fs._start_master(transport, registry, master_config, store, clock)
    return fs
