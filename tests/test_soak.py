"""A short soak in the normal test run: a few hundred jobs of mixed types, storage jobs
among them, under random faults; every invariant of ``benchmarks.soak`` must hold.

The full soak (``nox -s soak``) runs 10,000 jobs and then 1,000 on Dask.
"""

import pytest

from benchmarks.soak import dask_soak, local_soak


def test_a_short_soak_on_local_workers_keeps_every_invariant() -> None:
    report, errors = local_soak(400, seed=7)
    assert errors == []
    assert report["jobs"] == 400
    storage = report["storage"]
    assert sum(storage["storage jobs"].values()) > 50
    checked = storage["checked"]
    assert checked["files read"] > 0
    assert checked["ufs files"] > 0
    assert checked["cache directories"] > 0


@pytest.mark.dask
def test_a_short_soak_on_dask_with_a_worker_killed_keeps_every_invariant() -> None:
    pytest.importorskip("distributed")
    report, errors = dask_soak(150, seed=7)
    assert errors == []
    assert report["jobs"] == 150
    storage = report["storage"]
    assert sum(storage["storage jobs"].values()) > 10
    assert storage["checked"]["files read"] > 0
