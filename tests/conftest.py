"""Shared fixtures: masters on local, mock and faulty transports; hypothesis profiles."""

import os
import threading
from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, settings

from alluxio_jobs import JobMaster, LocalTransport, MasterConfig, PlanRegistry
from alluxio_jobs.testing import ManualClock, MockTransport, conformance_plans
from tests.scripted import BadSelectConfig, BadSelectPlan, ScriptConfig, ScriptPlan

settings.register_profile(
    "ci", derandomize=True, deadline=None, max_examples=50,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=50)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

#: Generous safety net for waits; tests never rely on it for ordering.
WAIT = 60.0

MasterFactory = Callable[..., JobMaster]


@pytest.fixture
def plans() -> PlanRegistry:
    """The built-in plans, the conformance plans (Echo, Raise, Hold) and Script."""
    registry = conformance_plans()
    registry.register(ScriptConfig, ScriptPlan())
    registry.register(BadSelectConfig, BadSelectPlan())
    return registry


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def make_master(plans: PlanRegistry) -> Iterator[MasterFactory]:
    """Build masters that are closed at the end of the test (default: 2 local workers)."""
    masters: list[JobMaster] = []

    def make(config: MasterConfig | None = None, transport=None, **kwargs) -> JobMaster:
        if transport is None:
            transport = LocalTransport(num_workers=2, threadpool_size=4)
        master = JobMaster(config, transport, kwargs.pop("plans", plans), **kwargs)
        masters.append(master)
        return master

    yield make
    for master in masters:
        master.close()


@pytest.fixture
def master(make_master: MasterFactory) -> JobMaster:
    return make_master()


@pytest.fixture
def inline_master(make_master: MasterFactory, clock: ManualClock) -> JobMaster:
    """A master whose tasks run synchronously (MockTransport) on a manual clock."""
    return make_master(transport=MockTransport(workers=2), clock=clock)


@pytest.fixture(autouse=True)
def no_thread_leaks() -> Iterator[None]:
    """Every test must leave no alluxio_jobs thread running."""
    yield
    leaked = [t.name for t in threading.enumerate()
              if t.name.startswith("alluxio-") and t.is_alive()]
    assert not leaked, f"threads left running: {leaked}"
