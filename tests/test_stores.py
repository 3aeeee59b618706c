"""Job stores: the shared contract, SQLite durability and safety, master restarts."""

import contextlib
import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
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
from alluxio_jobs._journal import HEALTH_INTERVAL, BatchRows, StoreWriter
from alluxio_jobs.model import JobWorkerHealth
from alluxio_jobs.stores import JobStore, MemoryJobStore, SQLiteJobStore, StoreView
from alluxio_jobs.stores import sqlite as sqlite_store
from alluxio_jobs.stores.base import CommandRecord, JobRow, record_of_row
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


# ------------------------------------------------------------ rows (write_rows)


def _row(job_id: int, *, status: Status = Status.COMPLETED, result: object = None,
         config: dict[str, object] | None = None, parent: int | None = None) -> JobRow:
    tasks = [[0, "h\u00e9te", status, "", "", result, "task 0", 5, 6],
             [1, "b", Status.FAILED, "E", "m\u2603", 2, "", 0, 0]]
    return (job_id, parent, "Echo", status, 6, config, ["Echo \"d\"\n", "", "", "", tasks])


def _sqlite_row_stores(tmp_path: Path) -> list[JobStore]:
    """SQLite stores taking rows as JSON batches and, as without SQLite's JSON
    functions, one statement per row."""
    batched = SQLiteJobStore(tmp_path / "batched.db")
    per_row = SQLiteJobStore(tmp_path / "per-row.db")
    per_row._json_batches = False
    assert batched._json_batches
    return [batched, per_row]


def test_rows_read_back_as_the_records_they_stand_for(make_store):
    store = make_store()
    results = [None, True, 0.5, 2**70, "t\u00e9xt", {"k": [1, False, None, {"n": "\U0001f600"}]}]
    rows = [_row(100 + i, result=r, config={"type": "Echo", "value": r}, parent=99 if i else None)
            for i, r in enumerate(results)]
    try:
        store.write_rows(rows, [], next_job_id=200)
        for job_row in rows:
            assert store.get(job_row[0]) == record_of_row(job_row)
        assert [r.job_id for r in store.records(parent=99)] == [101, 102, 103, 104, 105]
        # an update keeps the stored config, and the verbose info reads back whole
        store.write_rows([_row(100, status=Status.FAILED, result="again")], [], 200)
        record = store.get(100)
        assert record is not None
        assert record.config == {"type": "Echo", "value": None}
        assert record.status is Status.FAILED
        info = StoreView(store).get_status(100, verbose=True)
        assert [t.result for t in info.tasks] == ["again", 2]
        assert [t.status for t in info.tasks] == [Status.FAILED, Status.FAILED]
        assert info.description == 'Echo "d"\n'
        assert store.load().next_job_id == 200
    finally:
        store.close()


def test_sqlite_rows_in_json_batches_and_row_by_row_read_back_alike(tmp_path: Path,
                                                                   monkeypatch):
    # tiny chunks and batches: many statements in one transaction
    monkeypatch.setattr(sqlite_store, "_ROWS_PER_CHUNK", 2)
    monkeypatch.setattr(sqlite_store, "_BATCH_CHARS", 600)
    rows = [_row(i, result={"i": i, "s": "x" * i}, config={"type": "Echo", "value": i})
            for i in range(1, 40)]
    rows.insert(7, _row(1000, result=math.nan, config={"type": "Echo"}))  # not JSON proper
    for store in _sqlite_row_stores(tmp_path):
        with store:
            store.write_rows(iter(rows), [], next_job_id=2000)  # read once
            for job_row in rows:
                record = store.get(job_row[0])
                assert record is not None
                if job_row[0] == 1000:
                    assert math.isnan(record.info["tasks"][0]["result"])
                else:
                    assert record == record_of_row(job_row)


def test_a_reader_sees_the_jobs_a_master_wrote_as_the_master_shows_them(tmp_path: Path):
    path = tmp_path / "jobs.db"
    with JobMaster(transport=LocalTransport(num_workers=2), plans=conformance_plans(),
                   store=SQLiteJobStore(path)) as master:
        ids = [master.run(EchoConfig(value={"k": [1, "\u00e9"]})),
               master.run(CompositeConfig(jobs=[NoopConfig(), EchoConfig(value=2)]))]
        for job_id in ids:
            master.wait(job_id, WAIT)
        expected = {job_id: master.get_status(job_id, verbose=True) for job_id in ids}
    with SQLiteJobStore(path, create=False) as store:
        view = StoreView(store)
        for job_id, info in expected.items():
            assert view.get_status(job_id, verbose=True) == info
        record = store.get(ids[0])
        assert record is not None
        assert record.config == {"type": "Echo", "value": {"k": [1, "\u00e9"]}}


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


def _version_2_store(path: Path, job_id: int) -> dict[str, object]:
    """A store as alluxio_jobs wrote it before rows were kept in their compact form:
    the verbose info is a JSON object. Returns that info."""
    _version_1_store(path, job_id)
    db = sqlite3.connect(path)
    with db:
        for statement in _MIGRATIONS[2].split(";"):
            if statement.strip():
                db.execute(statement)
        db.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
        info: dict[str, object] = json.loads(db.execute("SELECT info FROM jobs").fetchone()[0])
        info["tasks"] = [{"job_id": job_id, "task_id": 0, "worker_host": "w", "status":
                          "COMPLETED", "error_type": "", "error_message": "", "result": 7,
                          "description": "d", "start_time": 1, "end_time": 2}]
        db.execute("UPDATE jobs SET info = ?", (json.dumps(info),))
    db.close()
    return info


def test_a_version_2_store_is_migrated_and_reads_old_and_new_jobs(tmp_path: Path):
    path = tmp_path / "jobs.db"
    old = 1_700_000_010_000
    info = _version_2_store(path, old)
    with JobMaster(transport=MockTransport(), store=SQLiteJobStore(path)) as master:
        new = master.run(NoopConfig())
        master.wait(new, WAIT)
        assert master.get_status(old, verbose=True).tasks[0].result == 7
    with SQLiteJobStore(path, create=False) as store:
        record = store.get(old)
        assert record is not None
        assert record.info == info
        view = StoreView(store)
        assert [i.job_id for i in view.list_info()] == [old, new]
        assert view.get_status(new).status is Status.COMPLETED
        assert store.summary().status_counts[Status.COMPLETED] == 2
    with sqlite3.connect(path) as db:
        version = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        kinds = [r[0] for r in db.execute("SELECT json_type(info) FROM jobs ORDER BY job_id")]
    db.close()
    assert version == (str(SCHEMA_VERSION),)
    assert kinds == ["object", "array"]  # the old job as it was, the new one compact


@pytest.mark.parametrize("version", [1, 2])
def test_a_reader_reads_an_older_store_as_it_is(tmp_path: Path, version: int):
    path = tmp_path / "jobs.db"
    job_id = 1_700_000_010_000
    (_version_1_store if version == 1 else _version_2_store)(path, job_id)
    with SQLiteJobStore(path, create=False) as store:  # e.g. a newer CLI
        record = store.get(job_id)
        assert record is not None
        assert record.status is Status.COMPLETED
        assert [i.job_id for i in StoreView(store).list_info()] == [job_id]
        assert store.command_ids() == []
        assert store.get_command(job_id + 1) is None
        with pytest.raises(StoreError, match="opened by a reader"):
            store.write([], [job_id], job_id + 1)
    with sqlite3.connect(path) as db:
        left = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        jobs = db.execute("SELECT count(*) FROM jobs").fetchone()
    db.close()
    assert (left, jobs) == ((str(version),), (1,))  # not migrated, nothing deleted


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


def test_wait_never_reports_a_job_finished_after_its_row_was_built(tmp_path: Path):
    """Rows are built outside the master lock: a job that finishes after its row was
    built (still unfinished) is not durably finished when that batch is written."""
    release = threading.Event()
    registered = threading.Event()
    seen: list[Status | None] = []
    done = threading.Event()

    class Racing(MemoryJobStore):
        raced = False

        def write_rows(self, rows, deletes, next_job_id, **commands):
            rows = list(rows)
            echo = [r[0] for r in rows if r[2] == "Echo" and not Status(r[3]).is_finished]
            if echo and not Racing.raced:
                Racing.raced = True
                assert registered.wait(WAIT)
                release.set()  # the job now finishes, after its row was built
                deadline = time.monotonic() + WAIT
                while not master.get_status(echo[0]).status.is_finished:
                    assert time.monotonic() < deadline
                    time.sleep(0.001)
            super().write_rows(rows, deletes, next_job_id, **commands)

    store = Racing()
    master = JobMaster(MasterConfig(store_flush_interval=0.01),
                       FaultyTransport(LocalTransport(num_workers=1), lambda w, r: Hold(release)),
                       conformance_plans(), store=store)
    try:
        job_id = master.run(EchoConfig(value=1))

        def check(info) -> None:
            record = store.get(info.job_id)
            seen.append(None if record is None else record.status)
            done.set()

        master.add_done_callback(job_id, check)
        registered.set()
        assert done.wait(WAIT)
        assert Racing.raced
        assert seen == [Status.COMPLETED]
        assert master.wait(job_id, WAIT).status is Status.COMPLETED
    finally:
        release.set()
        master.close()


def test_worker_health_is_written_at_most_once_a_second():
    now = [0.0]
    written: list[list[str]] = []

    class Counting(MemoryJobStore):
        def put_worker_health(self, health):
            written.append([h.host for h in health])
            super().put_worker_health(health)

    store = Counting()
    writer = StoreWriter(store, 3600.0, lambda: (BatchRows([], set()), [], 0),
                         lambda ok: None, lambda job_id: None,
                         lambda: [JobWorkerHealth(worker_id=0, host="a")],
                         clock=lambda: now[0])
    writer.flush()
    assert written == [["a"]]
    now[0] = HEALTH_INTERVAL / 2
    writer.flush()
    assert len(written) == 1
    now[0] = HEALTH_INTERVAL
    writer.flush()
    assert len(written) == 2
    writer.close()  # the last flush writes it whenever it was written last
    assert len(written) == 3
