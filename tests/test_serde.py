"""serde: configs and records to tagged, JSON-ready dicts and back; errors name the field."""

import json
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from alluxio_jobs import (
    CompositeConfig,
    JobConfig,
    JobConfigError,
    JobInfo,
    JobServiceSummary,
    JobWorkerHealth,
    MasterConfig,
    NoopConfig,
    SleepConfig,
    Status,
    TaskInfo,
    TaskRequest,
    TaskResult,
    WorkerInfo,
)
from alluxio_jobs.reports import JobServiceReport
from alluxio_jobs.serde import (
    RECORD_TAG,
    _loose_cache,
    config_tag,
    from_dict,
    from_plain,
    record_class,
    to_dict,
    to_plain,
)
from alluxio_jobs.testing import EchoConfig


@attrs.frozen(kw_only=True)
class UnnamedConfig(JobConfig):
    """A config without a class-level ``name``: tagged ``module:QualName``."""

    size: int = 0


def through_json(obj: Any) -> Any:
    """to_dict, then a real JSON text, then from_dict."""
    return from_dict(json.loads(json.dumps(to_dict(obj))))


# ---------------------------------------------------------------------- configs

NESTED = CompositeConfig(jobs=[
    SleepConfig(time_ms=5, tasks_per_worker=2),
    CompositeConfig(jobs=[NoopConfig(), SleepConfig(time_ms=0)], sequential=False),
    CompositeConfig(jobs=[]),
])


@pytest.mark.parametrize("config", [
    NoopConfig(),
    SleepConfig(time_ms=1500),
    SleepConfig(time_ms=0, tasks_per_worker=7),
    CompositeConfig(jobs=[]),
    CompositeConfig(jobs=[NoopConfig()], sequential=False),
    NESTED,
    EchoConfig(value={"a": [1, 2]}),
    UnnamedConfig(size=3),
], ids=repr)
def test_config_round_trips_through_json(config):
    assert through_json(config) == config
    assert from_dict(to_dict(config)) == config


def test_config_dicts_carry_alluxio_job_names():
    assert to_dict(NoopConfig()) == {"type": "NoOp"}
    assert to_dict(SleepConfig(time_ms=5, tasks_per_worker=2)) == {
        "type": "Sleep", "time_ms": 5, "tasks_per_worker": 2}
    assert to_dict(NESTED) == {
        "type": "Composite",
        "jobs": [
            {"type": "Sleep", "time_ms": 5, "tasks_per_worker": 2},
            {"type": "Composite", "jobs": [{"type": "NoOp"},
                                           {"type": "Sleep", "time_ms": 0, "tasks_per_worker": 1}],
             "sequential": False},
            {"type": "Composite", "jobs": [], "sequential": True},
        ],
        "sequential": True,
    }


def test_config_without_a_name_is_tagged_by_module_and_qualname():
    tag = config_tag(UnnamedConfig)
    assert tag == f"{UnnamedConfig.__module__}:UnnamedConfig"
    assert to_dict(UnnamedConfig(size=2)) == {"type": tag, "size": 2}


def test_a_list_of_configs_round_trips():
    configs = [NoopConfig(), SleepConfig(time_ms=3)]
    data = to_dict(configs)
    assert isinstance(data, list)
    assert [d["type"] for d in data] == ["NoOp", "Sleep"]
    assert from_dict(json.loads(json.dumps(data))) == configs


sleeps = st.builds(SleepConfig, time_ms=st.integers(0, 2**40),
                   tasks_per_worker=st.integers(1, 10_000))
configs: st.SearchStrategy[JobConfig] = st.recursive(
    st.one_of(sleeps, st.just(NoopConfig())),
    lambda children: st.builds(CompositeConfig, jobs=st.lists(children, max_size=4),
                               sequential=st.booleans()),
    max_leaves=12,
)


@given(sleeps)
def test_generated_sleep_configs_round_trip(config):
    assert through_json(config) == config


@given(configs)
def test_generated_composite_trees_round_trip(config):
    data = to_dict(config)
    json.dumps(data)
    assert through_json(config) == config


# ---------------------------------------------------------------------- records

TASKS = [
    TaskInfo(job_id=11, task_id=0, worker_host="host-0", status=Status.COMPLETED,
             result="42", description="block 7"),
    TaskInfo(job_id=11, task_id=1, worker_host="host-1", status=Status.FAILED,
             error_type="ValueError", error_message="boom"),
]
PLAN_JOB = JobInfo(job_id=11, name="Sleep", description="SleepConfig(time_ms=1)",
                   status=Status.FAILED, error_type="ValueError",
                   error_message="Task execution failed: boom", last_updated=1_600_000_000_123,
                   tasks=TASKS)
WORKFLOW_JOB = JobInfo(job_id=10, name="Composite", description="CompositeConfig(...)",
                       status=Status.FAILED, last_updated=1_600_000_000_456,
                       children=[PLAN_JOB])
BRIEF_JOB = JobInfo(job_id=12, name="NoOp", description="", status=Status.COMPLETED,
                    last_updated=1_600_000_000_000)
SUMMARY = JobServiceSummary(
    status_counts={s: i for i, s in enumerate(Status)},
    recent_activities=[BRIEF_JOB],
    recent_failures=[],
    longest_running=[],
)
REPORT = JobServiceReport(
    workers=[JobWorkerHealth(worker_id=0, host="host-0", load_average=[1.2, 0.9, 0.7],
                             task_pool_size=10, num_active_tasks=2, unfinished_tasks=3,
                             last_updated=5)],
    summary=SUMMARY,
)

@pytest.mark.parametrize("record", [
    TaskResult.completed(),
    TaskResult.completed({"blocks": [1, 2]}),
    TaskResult.failed("ValueError", "boom"),
    TaskResult.canceled(),
    TaskRequest(job_id=1, task_id=2, attempt=3, config=SleepConfig(time_ms=4), args=[5, "six"]),
    TaskRequest(job_id=1, task_id=0, attempt=1, config=NESTED, args=None),
    TASKS[0],
    TASKS[1],
    WorkerInfo(worker_id=3, host="host-3"),
    REPORT.workers[0],
    MasterConfig(job_capacity=10, finished_job_retention=0.5),
    pytest.param(BRIEF_JOB, id="JobInfo-brief"),
    pytest.param(PLAN_JOB, id="JobInfo-tasks"),
    pytest.param(WORKFLOW_JOB, id="JobInfo-children"),
    pytest.param(SUMMARY, id="JobServiceSummary"),
    pytest.param(REPORT, id="JobServiceReport"),
], ids=lambda r: type(r).__name__)
def test_record_round_trips_through_json(record):
    data = to_dict(record)
    assert data["type"] == type(record).__name__
    assert through_json(record) == record


def test_workflow_info_to_dict_is_json_serialisable():
    # JobInfo.children refers to JobInfo itself: nested children must become dicts too.
    data = json.loads(json.dumps(to_dict(WORKFLOW_JOB)))
    child = data["children"][0]
    assert child["job_id"] == 11
    assert child["status"] == "FAILED"
    assert child["tasks"][1]["error_message"] == "boom"
    assert child["children"] == []


def test_record_dicts_are_plain_data():
    data = json.loads(json.dumps(to_dict(TaskResult.failed("ValueError", "boom"))))
    assert data == {"type": "TaskResult", "status": "FAILED", "result": None,
                    "error_type": "ValueError", "error_message": "boom"}
    request = to_dict(TaskRequest(job_id=1, task_id=0, attempt=1,
                                  config=SleepConfig(time_ms=2), args=None))
    assert request["config"] == {"type": "Sleep", "time_ms": 2, "tasks_per_worker": 1}


def test_report_to_dict_is_json_serialisable():
    data = json.loads(json.dumps(to_dict(REPORT)))
    assert data["type"] == "JobServiceReport"
    assert data["summary"]["status_counts"] == {
        "CREATED": 0, "CANCELED": 1, "FAILED": 2, "RUNNING": 3, "COMPLETED": 4}
    assert data["summary"]["recent_activities"][0]["job_id"] == 12
    assert data["workers"][0]["load_average"] == [1.2, 0.9, 0.7]


def test_a_list_of_records_round_trips():
    records = [TaskResult.completed(1), WorkerInfo(worker_id=0, host="h")]
    assert from_dict(json.loads(json.dumps(to_dict(records)))) == records


# ----------------------------------------------------------------------- errors


def _error(data: Any) -> JobConfigError:
    with pytest.raises(JobConfigError) as info:
        from_dict(data)
    return info.value



FIELD_ERRORS: list[Any] = [
    # unknown or missing tag
    pytest.param({"type": "Nope"}, "type", id="unknown-tag"),
    pytest.param({"time_ms": 1}, "type", id="missing-tag"),
    pytest.param({"type": 5}, "type", id="tag-not-a-string"),
    pytest.param({"type": "no_such_module:Config"}, "type", id="unknown-module"),
    pytest.param({"type": "builtins:int"}, "type", id="not-a-config-class"),
    pytest.param({"type": "Composite", "jobs": [{"type": "Nope"}]}, "type",
                 id="nested-unknown-tag"),
    # validator failures
    pytest.param({"type": "Sleep", "time_ms": -1}, "time_ms", id="validator"),
    pytest.param({"type": "Sleep", "time_ms": 1, "tasks_per_worker": 0}, "tasks_per_worker",
                 id="validator-second-field"),
    pytest.param({"type": "Composite", "jobs": [{"type": "Sleep", "time_ms": -1}]}, "time_ms",
                 id="nested-validator"),
    pytest.param({"type": "MasterConfig", "job_capacity": -1}, "job_capacity",
                 id="record-validator"),
    # missing fields
    pytest.param({"type": "Sleep"}, "time_ms", id="missing-field"),
    pytest.param({"type": "Composite"}, "jobs", id="missing-composite-jobs"),
    pytest.param({"type": "WorkerInfo", "worker_id": 1}, "host", id="missing-record-field"),
    # wrong types
    pytest.param({"type": "Sleep", "time_ms": "x"}, "time_ms", id="str-for-int"),
    pytest.param({"type": "Sleep", "time_ms": "5"}, "time_ms", id="numeric-str-for-int"),
    pytest.param({"type": "Sleep", "time_ms": 1.5}, "time_ms", id="float-for-int"),
    pytest.param({"type": "Sleep", "time_ms": True}, "time_ms", id="bool-for-int"),
    pytest.param({"type": "Composite", "jobs": [], "sequential": "yes"}, "sequential",
                 id="str-for-bool"),
    pytest.param({"type": "Composite", "jobs": "NoOp"}, "jobs", id="str-for-list"),
    pytest.param({"type": "TaskResult", "status": "BOGUS"}, "status", id="bad-enum-value"),
    pytest.param({"type": "WorkerInfo", "worker_id": "x", "host": "h"}, "worker_id",
                 id="record-wrong-type"),
    # unexpected keys (the converter is built with forbid_extra_keys=True)
    pytest.param({"type": "Sleep", "time_ms": 1, "tiem_ms": 2}, "tiem_ms", id="extra-key"),
]


@pytest.mark.parametrize(("data", "field"), FIELD_ERRORS)
def test_invalid_data_raises_job_config_error_naming_the_field(data, field):
    error = _error(data)
    assert error.field == field
    assert str(error).startswith(f"{field}: ")


@pytest.mark.parametrize("data", [
    {"type": "Sleep"},
    {"type": "Sleep", "time_ms": "x"},
    {"type": "TaskResult", "status": "BOGUS"},
    {"type": "WorkerInfo", "worker_id": 1},
])
def test_invalid_data_is_always_a_job_config_error(data):
    error = _error(data)
    assert isinstance(error, ValueError)


def test_validator_error_keeps_the_value():
    error = _error({"type": "Sleep", "time_ms": -1})
    assert error.value == -1
    assert str(error) == "time_ms: must be >= 0, got -1"


@pytest.mark.parametrize("data", [5, "Sleep", None, [1]])
def test_non_mapping_is_rejected(data):
    error = _error(data)
    assert error.field in {"data", "config"}




def test_task_request_missing_field_is_a_job_config_error():
    error = _error({"type": "TaskRequest", "job_id": 1, "config": {"type": "NoOp"}})
    assert error.field in {"task_id", "attempt", "args"}


def test_task_request_wrong_type_is_a_job_config_error():
    error = _error({"type": "TaskRequest", "job_id": "x", "task_id": 0, "attempt": 1,
                    "config": {"type": "NoOp"}, "args": None})
    assert error.field == "job_id"


def test_task_request_with_a_bad_config_names_the_config_field():
    error = _error({"type": "TaskRequest", "job_id": 1, "task_id": 0, "attempt": 1,
                    "config": {"type": "Sleep", "time_ms": -5}, "args": None})
    assert error.field == "time_ms"


# ------------------------------------------------- task data as plain data


@attrs.frozen(kw_only=True)
class Leaf:
    """A record with typed fields only."""

    n: int
    name: str = ""


@attrs.frozen(kw_only=True)
class Branch:
    """A record whose ``Any`` fields hold further records (as BatchedJob task args do)."""

    name: str
    leaves: list[Leaf] = attrs.field(factory=list)
    extra: Any = None
    table: dict[str, Any] = attrs.field(factory=dict)
    config: JobConfig | None = None


@attrs.frozen(kw_only=True)
class Node:
    """A record that holds itself."""

    value: Any = None
    next: "Node | None" = None


@attrs.frozen(kw_only=True)
class Holder:
    """A typed list of records that have loose fields (as BatchedTaskArgs' parts)."""

    branches: list[Branch]
    count: int = 0


int64s = st.integers(min_value=-(2**63), max_value=2**63 - 1)  # what msgpack carries
scalars = st.one_of(st.none(), st.booleans(), int64s, st.text(max_size=5),
                    st.binary(max_size=5), st.floats(allow_nan=False))
leaves = st.builds(Leaf, n=int64s, name=st.text(max_size=5))


def _nested(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    keys = st.text(max_size=4).filter(lambda k: k != RECORD_TAG)
    return st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(keys, children, max_size=3),
        st.builds(Branch, name=st.text(max_size=5), leaves=st.lists(leaves, max_size=2),
                  extra=children, table=st.dictionaries(keys, children, max_size=2),
                  config=st.one_of(st.none(), sleeps)),
        st.builds(Holder, branches=st.lists(st.builds(Branch, name=st.text(max_size=3),
                                                      extra=children), max_size=2),
                  count=int64s),
    )


task_values = st.recursive(st.one_of(scalars, leaves), _nested, max_leaves=15)


def _is_plain(value: Any) -> bool:
    if isinstance(value, list):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return value is None or type(value) in (bool, int, float, str, bytes)


@given(task_values)
def test_task_values_round_trip_as_plain_data(value):
    plain = to_plain(value)
    assert _is_plain(plain)
    assert from_plain(plain) == value


@given(task_values)
def test_task_values_round_trip_through_msgpack(value):
    msgpack = pytest.importorskip("msgpack")
    wire = msgpack.unpackb(msgpack.packb(to_plain(value), use_bin_type=True), raw=False,
                           strict_map_key=False)
    assert from_plain(wire) == value


def test_records_are_tagged_by_class_and_tuples_become_lists():
    value = (Leaf(n=1), Branch(name="b", extra=[Leaf(n=2)], config=SleepConfig(time_ms=3)))
    plain = to_plain(value)
    assert plain[0] == {RECORD_TAG: "tests.test_serde:Leaf", "data": {"n": 1, "name": ""}}
    extra = plain[1]["data"]["extra"]
    assert extra == [{RECORD_TAG: "tests.test_serde:Leaf", "data": {"n": 2, "name": ""}}]
    assert plain[1]["data"]["config"] == {"type": "Sleep", "time_ms": 3, "tasks_per_worker": 1}
    assert to_plain(SleepConfig(time_ms=3)) == {RECORD_TAG: "", "data": to_dict(
        SleepConfig(time_ms=3))}
    assert from_plain(plain) == list(value)


@pytest.mark.parametrize(("plain", "reason"), [
    pytest.param({RECORD_TAG: "no_such_module:Thing", "data": {}}, "no such class",
                 id="unknown-module"),
    pytest.param({RECORD_TAG: "tests.test_serde:Nope", "data": {}}, "no such class",
                 id="unknown-class"),
    pytest.param({RECORD_TAG: "builtins:dict", "data": {}}, "not an attrs class",
                 id="not-attrs"),
    pytest.param({RECORD_TAG: "Leaf", "data": {}}, "module:QualName", id="no-module"),
    pytest.param({RECORD_TAG: 7, "data": {}}, "module:QualName", id="not-a-string"),
    pytest.param({RECORD_TAG: "tests.test_serde:Leaf"}, "'data' mapping", id="no-data"),
    pytest.param({RECORD_TAG: "tests.test_serde:Leaf", "data": {"n": 1}, "x": 2},
                 "'data' mapping", id="extra-key"),
])
def test_a_bad_tag_is_a_job_config_error_naming_it(plain, reason):
    with pytest.raises(JobConfigError, match=reason) as info:
        from_plain([plain])
    assert info.value.field == RECORD_TAG
    assert info.value.value == plain[RECORD_TAG]


def test_record_data_that_does_not_fit_names_the_field():
    with pytest.raises(JobConfigError) as info:
        from_plain({RECORD_TAG: "tests.test_serde:Leaf", "data": {"n": "one"}})
    assert info.value.field == "n"
    with pytest.raises(JobConfigError) as info:
        from_plain({RECORD_TAG: "", "data": {"type": "Sleep", "time_ms": -1}})
    assert info.value.field == "time_ms"


def test_records_in_a_typed_list_keep_their_tagged_fields_and_errors_name_the_field():
    value = Holder(branches=[Branch(name="b", extra=Leaf(n=1))], count=2)
    plain = to_plain(value)
    branch = plain["data"]["branches"][0]
    assert branch[RECORD_TAG] == "tests.test_serde:Branch"
    assert branch["data"]["extra"][RECORD_TAG] == "tests.test_serde:Leaf"
    assert from_plain(plain) == value
    with pytest.raises(JobConfigError) as info:
        from_plain({RECORD_TAG: "tests.test_serde:Holder",
                    "data": {"branches": [], "count": "two"}})
    assert (info.value.field, info.value.value) == ("count", "two")
    with pytest.raises(JobConfigError) as info:
        from_plain({RECORD_TAG: "tests.test_serde:Holder", "data": {"branches": [], "x": 1}})
    assert info.value.field == "x"


def test_a_record_that_holds_itself_round_trips():
    value = Node(value=Leaf(n=1), next=Node(value=Leaf(n=2)))
    assert from_plain(to_plain(value)) == value


def test_loose_fields_are_cached_only_when_complete():
    _loose_cache.pop(Holder, None)
    _loose_cache.pop(Branch, None)
    seen: list[dict[type, frozenset[str]]] = []

    class Spy(dict):  # type: ignore[type-arg]
        def __setitem__(self, key: type, value: frozenset[str]) -> None:
            seen.append({key: value})
            super().__setitem__(key, value)

    spy = Spy(_loose_cache)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("alluxio_jobs.serde._loose_cache", spy)
        assert to_plain(Holder(branches=[Branch(name="b", extra=Leaf(n=1))]))
    # each class is put in the cache once, with its final answer (no placeholder that
    # another thread could read meanwhile)
    keys = [key for entry in seen for key in entry]
    assert len(keys) == len(set(keys))
    assert Branch in keys
    assert Holder in keys
    assert all(spy[key] == value for entry in seen for key, value in entry.items())
    assert spy[Holder] == frozenset({"branches"})


def test_record_class_finds_attrs_classes_only():
    assert record_class("tests.test_serde:Branch") is Branch
    with pytest.raises(JobConfigError, match="not an attrs class"):
        record_class("tests.test_serde:through_json")
