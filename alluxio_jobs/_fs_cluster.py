"""The embedded cluster of one ``fs`` run: storage, job workers and a job master.

Local job workers (each with a block cache, in memory or in a directory) and a job
master over one under file system mounted at ``/``; with ``--store`` the master writes
its jobs to that SQLite job store. Everything stops with the run.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

from alluxio_jobs._fs_terminal import _CommandError, _message

if TYPE_CHECKING:
    from alluxio_jobs.blockcache import LocalBlockNetwork
    from alluxio_jobs.filesystem import FileSystem
    from alluxio_jobs.master import JobMaster


class _Cluster:
    """The embedded storage, job workers and master of one ``fs`` run."""

    def __init__(self, args: argparse.Namespace) -> None:
        from fsspec.core import url_to_fs

        from alluxio_jobs.blockcache import DirectoryBlockCache, LocalBlockNetwork, MemoryBlockCache
        from alluxio_jobs.filesystem import FileSystem, register_storage_plans
        from alluxio_jobs.master import JobMaster
        from alluxio_jobs.model import WorkerInfo
        from alluxio_jobs.plans import PlanRegistry
        from alluxio_jobs.storage import Namespace
        from alluxio_jobs.stores import SQLiteJobStore
        from alluxio_jobs.transports import LocalTransport

        try:
            ufs, root = url_to_fs(args.ufs)
            is_dir = ufs.isdir(root)
        except Exception as exc:
            raise _CommandError(f"cannot open the under file system {args.ufs}: {_message(exc)}"
                          ) from exc
        if not is_dir:
            raise _CommandError(f"the under file system {args.ufs} is not an existing directory")
        capacity, cache_dir = args.cache_capacity, args.cache_dir

        def cache(worker: WorkerInfo) -> Any:
            name = f"block cache of {worker.host}"
            if args.cache == "memory":
                return MemoryBlockCache(capacity, name=name)
            root = None if cache_dir is None else os.path.join(cache_dir, worker.host)
            return DirectoryBlockCache(capacity, root, name=name)

        self.network: LocalBlockNetwork = LocalBlockNetwork(cache)
        self._fs: FileSystem | None = None
        self.master: JobMaster | None = None
        try:
            self._fs = FileSystem(Namespace(block_size=args.block_size), self.network)
            self.fs: FileSystem = self._fs
            plans = register_storage_plans(PlanRegistry.default(), self.fs)
            store = SQLiteJobStore(args.store) if args.store else None
            try:
                transport = LocalTransport(args.workers, args.threads,
                                           resources=self.network.resources)
                try:
                    self.master = JobMaster(transport=transport, plans=plans, store=store)
                except BaseException:
                    transport.close()
                    raise
            except BaseException:
                if store is not None:
                    store.close()
                raise
            self.fs.attach(self.master)
            self.fs.mount("/", ufs, root)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._fs is not None:
            self._fs.close()
        if self.master is not None:
            self.master.close()
        self.network.close()
