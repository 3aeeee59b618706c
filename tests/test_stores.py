"""Job stores: the shared contract, SQLite durability and safety, master restarts."""

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import attrs
import pytest

from alluxio_jobs import (
    CompositeConfig,
    JobMaster,
    LocalTransport,
    MasterConfig,
    NoopConfig,
    SleepConfig,
    Status,
    StoreError,
)
from alluxio_jobs.stores import JobStore, MemoryJobStore, SQLiteJobStore
from alluxio_jobs.stores.base import CommandRecord
from alluxio_jobs.stores.sqlite import _MIGRATIONS, SCHEMA_VERSION
from alluxio_jobs.testing import (
    EchoConfig,
    FaultyTransport,
    Hold,
    HoldConfig,
    MockTransport,
    check_job_store,
    conformance_plans,
)

WAIT = 60.0


@pytest.fixture(params=["memory", "sqlite"])
def make_store(request, tmp_path: Path):
    if request.param == "memory":
        return MemoryJobStore
    counter = iter(range(1000))
    return lambda: SQLiteJobStore(tmp_path / f"jobs-{next(counter)}.db")


def test_store_conformance(make_store):
    check_job_store(make_store)


def test_check_job_store_catches_a_store_that_forgets():
    class Forgetful(MemoryJobStore):
        def write(self, upserts, deletes, next_job_id, **commands):
            super().write(upserts[:1], deletes, next_job_id, **commands)

    with pytest.raises(AssertionError, match="every job"):
        check_job_store(Forgetful)


def test_check_job_store_catches_a_store_that_ignores_command_offsets():
    class Rewriting(MemoryJobStore):
        def write(self, upserts, deletes, next_job_id, *, commands=(), command_deletes=()):
            commands = [attrs.evolve(c, offsets=(0, 0, 0, 0)) for c in commands]
            super().write(upserts, deletes, next_job_id, commands=commands,
                          command_deletes=command_deletes)

    with pytest.raises(AssertionError, match="lists grow from their offsets"):
        check_job_store(Rewriting)


# ------------------------------------------------------------------- SQLite


def test_sqlite_store_survives_reopening(tmp_path: Path):
    path = tmp_path / "jobs.db"
    with JobMaster(transport=LocalTransport(num_workers=2), store=SQLiteJobStore(path)) as master:
        job_id = master.run(SleepConfig(time_ms=0, tasks_per_worker=2))
        master.wait(job_id, WAIT)
    with SQLiteJobStore(path, create=False) as store:
        record = store.get(job_id)
        assert record is not None
        assert record.status is Status.COMPLETED
        assert record.config == {"type": "Sleep", "time_ms": 0, "tasks_per_worker": 2}
        assert len(record.info["tasks"]) == 4


def test_wait_returns_only_once_the_job_is_durable(tmp_path: Path):
    path = tmp_path / "jobs.db"
    reader = None
    with JobMaster(transport=LocalTransport(num_workers=1), store=SQLiteJobStore(path),
                   config=MasterConfig(store_flush_interval=0.2)) as master:
        reader = SQLiteJobStore(path, create=False)
        for _ in range(3):
            job_id = master.run(SleepConfig(time_ms=0))
            assert master.wait(job_id, WAIT).status is Status.COMPLETED
            record = reader.get(job_id)  # read by another connection, as another process would
            assert record is not None
            assert record.status is Status.COMPLETED
    reader.close()


def test_corrupt_store_is_refused_and_left_alone(tmp_path: Path):
    path = tmp_path / "jobs.db"
    path.write_bytes(b"this is not a database" * 100)
    before = path.read_bytes()
    with pytest.raises(StoreError, match=r"jobs\.db"):
        SQLiteJobStore(path)
    assert path.read_bytes() == before


def test_store_from_a_newer_version_is_refused_and_left_alone(tmp_path: Path):
    path = tmp_path / "jobs.db"
    SQLiteJobStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'",
                   (str(SCHEMA_VERSION + 1),))
    db.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="newer"):
        SQLiteJobStore(path)
    assert path.read_bytes() == before


def _version_1_store(path: Path, job_id: int) -> None:
    """A store as alluxio_jobs wrote it before distributed commands were stored."""
    db = sqlite3.connect(path)
    with db:
        for statement in _MIGRATIONS[1].split(";"):
            if statement.strip():
                db.execute(statement)
        info = {"type": "JobInfo", "job_id": job_id, "name": "NoOp", "description": "NoOp",
                "status": "COMPLETED", "error_type": "", "error_message": "", "result": "",
                "last_updated": 1_700_000_000_000, "tasks": [], "children": []}
        db.execute("INSERT INTO jobs VALUES (?, NULL, 'NoOp', 'COMPLETED', ?, ?, ?)",
                   (job_id, info["last_updated"], '{"type": "NoOp"}', json.dumps(info)))
        db.executemany("INSERT INTO meta VALUES (?, ?)",
                       [("schema_version", "1"), ("next_job_id", str(job_id + 1))])
    db.close()


def test_a_version_1_store_is_migrated_and_keeps_its_jobs(tmp_path: Path):
    path = tmp_path / "jobs.db"
    job_id = 1_700_000_010_000
    _version_1_store(path, job_id)
    with SQLiteJobStore(path) as store:
        assert store.command_ids() == []
        record = store.get(job_id)
        assert record is not None
        assert (record.name, record.status, record.config) == ("NoOp", Status.COMPLETED,
                                                               {"type": "NoOp"})
        command = CommandRecord(cmd_id=job_id + 1, operation="FREE", description="free /x",
                                status=Status.COMPLETED, completed=["/x/a"])
        store.write([], [], job_id + 2, commands=[command])
    with sqlite3.connect(path) as db:
        version = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    db.close()
    assert version == (str(SCHEMA_VERSION),)
    # a master opened on the migrated store lists the old job and goes on after its ids
    with JobMaster(transport=MockTransport(), store=SQLiteJobStore(path)) as master:
        assert master.list() == [job_id]
        assert master.get_status(job_id).status is Status.COMPLETED
        assert master.run(NoopConfig()) > job_id + 1
    with SQLiteJobStore(path, create=False) as store:
        assert store.get_command(job_id + 1) == command


def test_a_store_migrated_by_another_opener_meanwhile_is_not_migrated_twice(tmp_path: Path):
    path = tmp_path / "jobs.db"
    _version_1_store(path, 5)

    class Racing(SQLiteJobStore):
        raced = False

        @contextlib.contextmanager
        def _transaction(self):
            if not Racing.raced:  # another process migrates it after this one looked
                Racing.raced = True
                SQLiteJobStore(self.path).close()
            with super()._transaction():
                yield

    with Racing(path) as store:
        assert Racing.raced
        assert store.get(5) is not None
        assert store.command_ids() == []


def test_other_sqlite_databases_are_refused(tmp_path: Path):
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE users (name TEXT)")
    db.close()
    with pytest.raises(StoreError, match="not an alluxio_jobs job store"):
        SQLiteJobStore(path)


def test_a_reader_does_not_create_a_missing_store(tmp_path: Path):
    with pytest.raises(StoreError, match="no job store"):
        SQLiteJobStore(tmp_path / "missing.db", create=False)
    assert not (tmp_path / "missing.db").exists()


# ------------------------------------------------------------------ restart


def open_master(store: JobStore, **config) -> JobMaster:
    return JobMaster(MasterConfig(**config), LocalTransport(num_workers=2), conformance_plans(),
                     store=store)


def test_restart_keeps_finished_jobs_and_ids_keep_increasing(make_store):
    store = make_store()
    master = open_master(store)
    done = master.run(EchoConfig(value="hi"))
    workflow = master.run(CompositeConfig(jobs=[NoopConfig(), EchoConfig(value=2)]))
    master.wait(done, WAIT)
    master.wait(workflow, WAIT)
    before = {job_id: master.get_status(job_id, verbose=True) for job_id in master.list()}
    master.close()

    again = open_master(store if isinstance(store, MemoryJobStore)
                        else SQLiteJobStore(store.path))
    try:
        assert again.list() == sorted(before)
        for job_id, info in before.items():
            assert again.get_status(job_id, verbose=True) == info
        assert again.run(NoopConfig()) > max(before)
        assert again.summary().status_counts[Status.COMPLETED] == len(before) + 1
    finally:
        again.close()


def test_jobs_in_flight_fail_on_restart(tmp_path: Path):
    path = tmp_path / "jobs.db"
    first = open_master(SQLiteJobStore(path))
    held = first.run(HoldConfig(seconds=WAIT))
    first.wait(first.run(NoopConfig()), WAIT)  # a flush that includes the held job
    # a second master opens the store while the first still runs: as after a crash
    second = open_master(SQLiteJobStore(path))
    try:
        info = second.get_status(held, verbose=True)
        assert info.status is Status.FAILED
        assert info.error_type == "JobMasterShutdown"
        assert info.error_message == "Job master shut down during execution"
        assert {t.status for t in info.tasks} == {Status.FAILED}
    finally:
        second.close()
        first.close()


def test_jobs_in_flight_rerun_on_restart_under_the_same_id():
    store = MemoryJobStore()
    never = threading.Event()
    first = JobMaster(transport=FaultyTransport(LocalTransport(num_workers=1),
                                                lambda w, r: Hold(never)),
                      store=store, plans=conformance_plans())
    held = first.run(CompositeConfig(jobs=[EchoConfig(value=1), NoopConfig()]))
    first.wait(first.run(NoopConfig()), WAIT)  # a flush that includes the held workflow
    _abandon(first)

    second = JobMaster(MasterConfig(on_restart="rerun"), MockTransport(), conformance_plans(),
                       store=store)
    try:
        info = second.wait(held, WAIT)
        assert info.status is Status.COMPLETED
        assert [c.name for c in second.get_status(held).children] == ["Echo", "NoOp"]
        assert len(second.list()) == 4  # the finished NoOp, the workflow and its 2 children
    finally:
        second.close()


def _abandon(master: JobMaster) -> None:
    """Stop a master's threads without finishing its jobs in the store (a crash)."""
    master._writer.close()  # type: ignore[union-attr]
    master.store = None
    master._writer = None
    master.close()


def test_purged_jobs_leave_the_store(tmp_path: Path):
    path = tmp_path / "jobs.db"
    with JobMaster(MasterConfig(job_capacity=2, finished_job_retention=0),
                   MockTransport(), store=SQLiteJobStore(path)) as master:
        first = master.run(NoopConfig())
        master.wait(first, WAIT)
        for _ in range(3):
            master.wait(master.run(NoopConfig()), WAIT)
        kept = master.list()
    with SQLiteJobStore(path, create=False) as store:
        assert [r.job_id for r in store.records()] == kept
        assert store.get(first) is None


def test_cancel_requested_through_the_store_reaches_the_master(tmp_path: Path):
    path = tmp_path / "jobs.db"
    with open_master(SQLiteJobStore(path), store_flush_interval=0.01) as master:
        held = master.run(HoldConfig(seconds=WAIT))
        with SQLiteJobStore(path, create=False) as other_process:
            other_process.request_cancel(held)
        assert master.wait(held, WAIT).status is Status.CANCELED


# -------------------------------------------------------------------- crash


CRASH_WORKLOAD = textwrap.dedent("""
    import sys
    from alluxio_jobs import CompositeConfig, JobMaster, LocalTransport, NoopConfig, SleepConfig
    from alluxio_jobs.stores import SQLiteJobStore
    from alluxio_jobs.testing import HoldConfig, conformance_plans

    master = JobMaster(transport=LocalTransport(num_workers=2), plans=conformance_plans(),
                       store=SQLiteJobStore(sys.argv[1]))
    master.run(HoldConfig(seconds=600))  # in flight when the process dies
    configs = [SleepConfig(time_ms=1), NoopConfig(),
               CompositeConfig(jobs=[NoopConfig(), SleepConfig(time_ms=1)])]
    i = 0
    while True:
        job_id = master.run(configs[i % 3])
        info = master.wait(job_id, 60)
        print(job_id, info.status.value, flush=True)
        i += 1
""")


def test_sigkill_loses_no_finished_job_and_leaves_none_unfinished(tmp_path: Path):
    path = tmp_path / "jobs.db"
    script = tmp_path / "workload.py"
    script.write_text(CRASH_WORKLOAD)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, str(script), str(path)], stdout=subprocess.PIPE,
                            text=True, env=env)
    assert proc.stdout is not None
    reported: dict[int, str] = {}
    for line in proc.stdout:
        job_id, status = line.split()
        reported[int(job_id)] = status
        if len(reported) == 30:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()

    with JobMaster(transport=MockTransport(), store=SQLiteJobStore(path)) as master:
        for done, status in reported.items():
            assert master.get_status(done).status.value == status
        infos = master.list_info()
        assert infos, "the store kept the jobs"
        assert all(i.status.is_finished for i in infos)
        shut_down = [i for i in infos if i.error_type == "JobMasterShutdown"]
        assert shut_down, "the job in flight was failed on restart"
        assert master.run(NoopConfig()) > max(i.job_id for i in infos)


def test_rerun_jobs_keep_ids_in_ascending_order():
    store = MemoryJobStore()
    never = threading.Event()
    first = JobMaster(transport=FaultyTransport(LocalTransport(num_workers=1),
                                                lambda w, r: Hold(never)),
                      store=store, plans=conformance_plans())
    held = first.run(EchoConfig(value=1))
    later = first.run(NoopConfig())
    first.wait(later, WAIT)
    _abandon(first)
    second = JobMaster(MasterConfig(on_restart="rerun"), MockTransport(), conformance_plans(),
                       store=store)
    try:
        assert second.wait(held, WAIT).status is Status.COMPLETED
        assert second.list() == [held, later]
        assert [i.job_id for i in second.list_info()] == [held, later]
    finally:
        second.close()


def test_done_callback_runs_once_the_job_is_written(tmp_path: Path):
    path = tmp_path / "jobs.db"
    seen: list[Status | None] = []
    done = threading.Event()
    with open_master(SQLiteJobStore(path), store_flush_interval=0.5) as master:
        reader = SQLiteJobStore(path, create=False)

        def check(info) -> None:
            record = reader.get(info.job_id)
            seen.append(None if record is None else record.status)
            done.set()

        job_id = master.run(SleepConfig(time_ms=0))
        master.add_done_callback(job_id, check)
        assert done.wait(WAIT)
    reader.close()
    assert seen == [Status.COMPLETED]
