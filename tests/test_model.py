"""The status enum and one rejection test per validator of the configs."""

from typing import Any

import attrs
import pytest

from alluxio_jobs import (
    CompositeConfig,
    JobConfigError,
    MasterConfig,
    NoopConfig,
    SleepConfig,
    Status,
)

# ------------------------------------------------------------------------ Status


def test_status_declaration_order_is_alluxios():
    assert list(Status) == [Status.CREATED, Status.CANCELED, Status.FAILED, Status.RUNNING,
                            Status.COMPLETED]
    assert [s.value for s in Status] == ["CREATED", "CANCELED", "FAILED", "RUNNING",
                                         "COMPLETED"]


@pytest.mark.parametrize(("status", "finished"), [
    (Status.CREATED, False),
    (Status.CANCELED, True),
    (Status.FAILED, True),
    (Status.RUNNING, False),
    (Status.COMPLETED, True),
])
def test_is_finished(status, finished):
    assert status.is_finished is finished


def test_status_is_a_string_with_alluxios_spelling():
    assert Status("CANCELED") is Status.CANCELED
    assert f"{Status.RUNNING}" == "RUNNING"
    with pytest.raises(ValueError, match="CANCELLED"):
        Status("CANCELLED")


# ------------------------------------------------------------------ validators

REJECTED: list[Any] = [
    # MasterConfig
    (MasterConfig, "job_capacity", "100"),
    (MasterConfig, "job_capacity", 1.5),
    (MasterConfig, "job_capacity", True),
    (MasterConfig, "job_capacity", -1),
    (MasterConfig, "finished_job_retention", "60"),
    (MasterConfig, "finished_job_retention", None),
    (MasterConfig, "finished_job_retention", True),
    (MasterConfig, "finished_job_retention", -0.5),
    (MasterConfig, "finished_job_purge_count", 5.0),
    (MasterConfig, "finished_job_purge_count", "all"),
    (MasterConfig, "finished_job_purge_count", False),
    (MasterConfig, "worker_timeout", "60"),
    (MasterConfig, "worker_timeout", True),
    (MasterConfig, "worker_timeout", 0),
    (MasterConfig, "worker_timeout", -1.0),
    (MasterConfig, "lost_worker_interval", None),
    (MasterConfig, "lost_worker_interval", True),
    (MasterConfig, "lost_worker_interval", 0.0),
    (MasterConfig, "store_flush_interval", "0.05"),
    (MasterConfig, "store_flush_interval", True),
    (MasterConfig, "store_flush_interval", 0),
    (MasterConfig, "on_restart", "restart"),
    (MasterConfig, "on_restart", None),
    (MasterConfig, "on_restart", "FAIL"),
    (MasterConfig, "max_task_attempts", 3.0),
    (MasterConfig, "max_task_attempts", True),
    (MasterConfig, "max_task_attempts", 0),
    # SleepConfig
    (SleepConfig, "time_ms", "10"),
    (SleepConfig, "time_ms", 1.5),
    (SleepConfig, "time_ms", True),
    (SleepConfig, "time_ms", -1),
    (SleepConfig, "tasks_per_worker", 2.0),
    (SleepConfig, "tasks_per_worker", True),
    (SleepConfig, "tasks_per_worker", 0),
    # CompositeConfig
    (CompositeConfig, "jobs", "NoOp"),
    (CompositeConfig, "jobs", None),
    (CompositeConfig, "jobs", {NoopConfig()}),
    (CompositeConfig, "sequential", "yes"),
    (CompositeConfig, "sequential", 1),
    (CompositeConfig, "sequential", None),
]

REQUIRED: dict[type, dict[str, Any]] = {
    SleepConfig: {"time_ms": 1},
    CompositeConfig: {"jobs": []},
    MasterConfig: {},
}


def _case_id(case: tuple[type, str, object]) -> str:
    cls, field, value = case
    return f"{cls.__name__}.{field}={value!r}"


@pytest.mark.parametrize(("cls", "field", "value"), REJECTED,
                         ids=[_case_id(c) for c in REJECTED])
def test_validator_rejects(cls, field, value):
    kwargs = {**REQUIRED[cls], field: value}
    with pytest.raises(JobConfigError) as info:
        cls(**kwargs)
    error = info.value
    assert error.field == field
    assert error.value == value
    assert type(error.value) is type(value)
    assert str(error).startswith(f"{field}: ")
    assert str(error).endswith(f", got {value!r}")


@pytest.mark.parametrize("cls", [MasterConfig, SleepConfig, CompositeConfig])
def test_every_field_has_a_rejection_case(cls):
    covered = {field for c, field, _ in REJECTED if c is cls}
    assert covered == {a.name for a in attrs.fields(cls)}


@pytest.mark.parametrize(("jobs", "field", "bad"), [
    ([NoopConfig(), "NoOp"], "jobs[1]", "NoOp"),
    ([{"type": "NoOp"}], "jobs[0]", {"type": "NoOp"}),
    ((SleepConfig(time_ms=1), 3), "jobs[1]", 3),
])
def test_composite_rejects_non_config_children_naming_the_index(jobs, field, bad):
    with pytest.raises(JobConfigError) as info:
        CompositeConfig(jobs=jobs)
    assert info.value.field == field
    assert info.value.value == bad


@pytest.mark.parametrize(("cls", "kwargs"), [
    (MasterConfig, {}),
    (MasterConfig, {"job_capacity": 0, "finished_job_retention": 0, "worker_timeout": 1,
                    "lost_worker_interval": 0.01, "max_task_attempts": 1,
                    "finished_job_purge_count": -1}),
    (MasterConfig, {"on_restart": "rerun", "store_flush_interval": 0.001}),
    (SleepConfig, {"time_ms": 0}),
    (SleepConfig, {"time_ms": 5, "tasks_per_worker": 1}),
    (CompositeConfig, {"jobs": []}),
    (CompositeConfig, {"jobs": [NoopConfig()], "sequential": False}),
])
def test_boundary_values_are_accepted(cls, kwargs):
    config = cls(**kwargs)
    for name, value in kwargs.items():
        assert getattr(config, name) == value


def test_master_config_defaults_are_alluxios():
    config = MasterConfig()
    assert config.job_capacity == 100_000
    assert config.finished_job_retention == 60.0
    assert config.finished_job_purge_count == -1
    assert config.worker_timeout == 60.0
    assert config.lost_worker_interval == 1.0


def test_composite_keeps_a_tuple_of_jobs_as_a_list():
    config = CompositeConfig(jobs=(NoopConfig(), SleepConfig(time_ms=1)))
    assert config.jobs == [NoopConfig(), SleepConfig(time_ms=1)]
    assert config.sequential is True
    assert config.steps() == [[NoopConfig()], [SleepConfig(time_ms=1)]]


def test_parallel_composite_is_one_step():
    jobs = [NoopConfig(), SleepConfig(time_ms=1)]
    assert CompositeConfig(jobs=jobs, sequential=False).steps() == [jobs]
    assert CompositeConfig(jobs=[], sequential=False).steps() == []


def test_master_config_rejects_nan_retention():
    with pytest.raises(JobConfigError) as info:
        MasterConfig(finished_job_retention=float("nan"))
    assert info.value.field == "finished_job_retention"


def test_configs_are_frozen():
    config = SleepConfig(time_ms=1)
    with pytest.raises(AttributeError):
        config.time_ms = 2  # type: ignore[misc]
