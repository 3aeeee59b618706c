"""Fixtures of a real local Dask cluster, shared by the Dask test modules: import
``cluster_fixtures`` only after ``pytest.importorskip("distributed")``."""

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

distributed = pytest.importorskip("distributed")

WAIT = 60.0


def wait_until(predicate: Callable[[], bool], timeout: float = WAIT) -> None:
    """Wait for a condition another process makes true (a safety timeout only)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


def cluster_fixtures(workers: int) -> tuple[Any, Any, Any]:
    """The fixtures ``cluster`` and ``module_client`` (one cluster of ``workers``
    processes per test module) and ``client`` (the shared client, once the cluster has
    all its workers again: a test may have killed one, and its nanny starts a new one).
    Assign them at module level under those names."""

    @pytest.fixture(scope="module", name="cluster")
    def cluster() -> Iterator[Any]:
        # The scheduler's HTTP server gets a free port: with dashboard_address=None it
        # would try 8787 and warn (an error here) when another cluster holds it.
        with distributed.LocalCluster(processes=True, n_workers=workers, threads_per_worker=2,
                                      host="127.0.0.1",
                                      dashboard_address="127.0.0.1:0") as local:
            yield local

    @pytest.fixture(scope="module", name="module_client")
    def module_client(cluster: Any) -> Iterator[Any]:
        with distributed.Client(cluster) as shared:
            yield shared

    @pytest.fixture(name="client")
    def client(module_client: Any, cluster: Any) -> Any:
        if len(cluster.workers) != workers:
            cluster.scale(workers)
        module_client.wait_for_workers(workers, timeout=WAIT)
        wait_until(lambda: len(module_client.scheduler_info(n_workers=-1)["workers"])
                   == workers)
        return module_client

    return cluster, module_client, client
