"""The error tree: builtin bases, messages naming field and value, pickling with fields."""

import concurrent.futures
import pickle
from typing import Any

import pytest

from alluxio_jobs import JobMaster, MasterConfig, NoopConfig, errors
from alluxio_jobs.errors import (
    AlluxioJobsError,
    CacheFullError,
    ClosedError,
    FailedPreconditionError,
    JobCanceledError,
    JobConfigError,
    JobFailedError,
    JobNotFoundError,
    JobTimeoutError,
    NotFoundError,
    ResourceExhaustedError,
    StorageError,
    StoreError,
    TransportError,
    UnknownJobTypeError,
    WorkerLostError,
    WorkerNotFoundError,
)
from alluxio_jobs.testing import MockTransport

# (instance, the attributes it must keep, the exact str())
SAMPLES: list[Any] = [
    pytest.param(AlluxioJobsError("something broke"), {"message": "something broke"},
                 "something broke", id="AlluxioJobsError"),
    pytest.param(JobConfigError("replication", 0, "must be >= 1"),
                 {"field": "replication", "value": 0, "reason": "must be >= 1"},
                 "replication: must be >= 1, got 0", id="JobConfigError"),
    pytest.param(UnknownJobTypeError("dummy"),
                 {"field": "type", "value": "dummy"},
                 "The job definition for config dummy does not exist", id="UnknownJobTypeError"),
    pytest.param(NotFoundError("no such thing"), {"message": "no such thing"},
                 "no such thing", id="NotFoundError"),
    pytest.param(JobNotFoundError(5), {"job_id": 5},
                 "The job of id 5 does not exist", id="JobNotFoundError"),
    pytest.param(WorkerNotFoundError(3), {"worker_id": 3},
                 "The job worker of id 3 does not exist", id="WorkerNotFoundError"),
    pytest.param(ResourceExhaustedError(100_000), {"capacity": 100_000},
                 "Job master is at full capacity of 100,000 jobs", id="ResourceExhaustedError"),
    pytest.param(ClosedError("JobMaster"), {"what": "JobMaster"},
                 "JobMaster is closed", id="ClosedError"),
    pytest.param(TransportError("task (1, 0) was dropped"),
                 {"message": "task (1, 0) was dropped"},
                 "task (1, 0) was dropped", id="TransportError"),
    pytest.param(WorkerLostError(2, "host-a"), {"worker_id": 2, "host": "host-a"},
                 "Job worker 2 (host-a) was lost", id="WorkerLostError"),
    pytest.param(JobFailedError(7, "Task execution failed: boom"),
                 {"job_id": 7, "error_message": "Task execution failed: boom"},
                 "Job 7 failed: Task execution failed: boom", id="JobFailedError"),
    pytest.param(JobCanceledError(8, "user asked"), {"job_id": 8, "reason": "user asked"},
                 "Job 8 was canceled: user asked", id="JobCanceledError"),
    pytest.param(JobTimeoutError(9, 2.5), {"job_id": 9, "timeout": 2.5},
                 "Job 9 did not finish within 2.5 seconds", id="JobTimeoutError"),
    pytest.param(StoreError("database is locked"), {"message": "database is locked"},
                 "database is locked", id="StoreError"),
    pytest.param(StorageError("/data/a.bin", "no such file"),
                 {"path": "/data/a.bin", "reason": "no such file"},
                 "/data/a.bin: no such file", id="StorageError"),
    pytest.param(FailedPreconditionError("path", "/a", "Cannot free file /a which is not "
                                         "persisted"),
                 {"field": "path", "value": "/a",
                  "reason": "Cannot free file /a which is not persisted"},
                 "Cannot free file /a which is not persisted", id="FailedPreconditionError"),
    pytest.param(CacheFullError("block 7", "cache is full: 50 bytes needed, 40 of 100 free",
                                50, 40),
                 {"path": "block 7", "reason": "cache is full: 50 bytes needed, 40 of 100 free",
                  "needed": 50, "free": 40},
                 "block 7: cache is full: 50 bytes needed, 40 of 100 free", id="CacheFullError"),
]


def _sample_classes() -> set[str]:
    return {p.id for p in SAMPLES}


def test_every_public_error_has_a_sample():
    assert set(errors.__all__) == _sample_classes()


@pytest.mark.parametrize(("error", "fields", "text"), SAMPLES)
def test_error_pickles_with_its_fields(error, fields, text):
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == text
    assert copy.args == error.args
    for name, value in fields.items():
        assert getattr(copy, name) == value, name


@pytest.mark.parametrize(("error", "fields", "text"),
                         [pytest.param(*p.values, id=p.id) for p in SAMPLES])
def test_error_str_names_its_context(error, fields, text):
    assert str(error) == text
    for name, value in fields.items():
        assert getattr(error, name) == value, name


def test_every_public_error_derives_from_the_common_base():
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, AlluxioJobsError), name
        assert issubclass(cls, Exception), name


@pytest.mark.parametrize(("cls", "builtin"), [
    (JobConfigError, ValueError),
    (UnknownJobTypeError, ValueError),
    (NotFoundError, LookupError),
    (JobNotFoundError, LookupError),
    (WorkerNotFoundError, LookupError),
    (ResourceExhaustedError, RuntimeError),
    (ClosedError, RuntimeError),
    (TransportError, RuntimeError),
    (WorkerLostError, RuntimeError),
    (JobFailedError, RuntimeError),
    (JobCanceledError, concurrent.futures.CancelledError),
    (JobTimeoutError, TimeoutError),
    (StoreError, RuntimeError),
    (StorageError, OSError),
    (CacheFullError, OSError),
])
def test_builtin_category(cls, builtin):
    assert issubclass(cls, builtin)


def test_hierarchy_within_the_tree():
    assert issubclass(UnknownJobTypeError, JobConfigError)
    assert issubclass(JobNotFoundError, NotFoundError)
    assert issubclass(WorkerNotFoundError, NotFoundError)
    assert issubclass(WorkerLostError, TransportError)
    assert issubclass(CacheFullError, StorageError)


def test_job_config_error_value_is_shown_as_repr():
    error = JobConfigError("time_ms", "10", "must be int")
    assert str(error) == "time_ms: must be int, got '10'"


def test_job_not_found_does_not_group_digits():
    # Alluxio passes String.valueOf(id): no thousands separators, unlike the capacity message.
    assert str(JobNotFoundError(1613673433925)) == "The job of id 1613673433925 does not exist"


def test_capacity_zero_message():
    assert str(ResourceExhaustedError(0)) == "Job master is at full capacity of 0 jobs"


def test_job_canceled_without_reason():
    error = JobCanceledError(4)
    assert error.reason is None
    assert str(error) == "Job 4 was canceled"
    assert pickle.loads(pickle.dumps(error)).reason is None


def test_worker_lost_without_host():
    error = WorkerLostError(6)
    assert error.host == ""
    assert "6" in str(error)
    assert pickle.loads(pickle.dumps(error)).worker_id == 6


def test_storage_error_stays_an_os_error_after_pickling():
    copy = pickle.loads(pickle.dumps(StorageError("/x", "denied")))
    assert isinstance(copy, OSError)
    with pytest.raises(OSError, match="/x: denied"):
        raise copy


def test_cache_full_error_stays_a_storage_error_after_pickling():
    copy = pickle.loads(pickle.dumps(CacheFullError("block 1", "full", 10, 0)))
    assert isinstance(copy, OSError)
    assert isinstance(copy, CacheFullError)
    assert (copy.needed, copy.free) == (10, 0)


def test_canceled_error_is_caught_as_a_future_cancellation():
    with pytest.raises(concurrent.futures.CancelledError):
        raise JobCanceledError(1, "stop")


def test_errors_raised_by_a_master_pickle(make_master):
    master: JobMaster = make_master(MasterConfig(job_capacity=0), transport=MockTransport())
    with pytest.raises(ResourceExhaustedError) as full:
        master.run(NoopConfig())
    with pytest.raises(JobNotFoundError) as missing:
        master.get_status(5)
    for raised in (full.value, missing.value):
        copy = pickle.loads(pickle.dumps(raised))
        assert str(copy) == str(raised)
    assert str(full.value) == "Job master is at full capacity of 0 jobs"
    assert pickle.loads(pickle.dumps(full.value)).capacity == 0
    assert str(missing.value) == "The job of id 5 does not exist"
    assert pickle.loads(pickle.dumps(missing.value)).job_id == 5
