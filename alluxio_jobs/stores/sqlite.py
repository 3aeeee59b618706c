"""A durable job store in one SQLite file (stdlib ``sqlite3``, WAL mode).

The owning master writes batches from one thread; other processes (the CLI) may
read the same file at the same time. Corrupt files, and files written by a newer
version of this library, are refused with :class:`StoreError` and never changed.

A job's ``info`` column holds either the verbose ``JobInfo`` as a JSON object (what
:meth:`SQLiteJobStore.write` stores) or, since schema version 3, the compact JSON array
of a :data:`~alluxio_jobs.stores.base.JobRow` (what a master's store writer stores,
through :meth:`SQLiteJobStore.write_rows`); readers expand either into a record.
"""

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import islice
from typing import Any, TypeVar

from alluxio_jobs.errors import StoreError
from alluxio_jobs.model import JobServiceSummary, JobWorkerHealth, Status
from alluxio_jobs.serde import from_dict, to_dict
from alluxio_jobs.stores.base import (
    RECENT_LENGTH,
    CommandRecord,
    JobRecord,
    JobRow,
    JobStore,
    StoredJobs,
    brief,
    info_of,
)

__all__ = ["SCHEMA_VERSION", "SQLiteJobStore"]

T = TypeVar("T")

#: The schema this library writes. Older stores are migrated on open.
SCHEMA_VERSION = 3

_MIGRATIONS: dict[int, str] = {
    # version -> SQL that brings a store from version - 1 to version
    1: """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE jobs (
            job_id INTEGER PRIMARY KEY,
            parent INTEGER,
            name TEXT NOT NULL,
            status TEXT NOT NULL,
            last_updated INTEGER NOT NULL,
            config TEXT,
            info TEXT NOT NULL
        );
        CREATE INDEX jobs_by_parent ON jobs (parent) WHERE parent IS NOT NULL;
        CREATE INDEX jobs_failed_by_time ON jobs (last_updated, job_id)
            WHERE status = 'FAILED';
        CREATE INDEX jobs_running_by_time ON jobs (last_updated, job_id)
            WHERE status = 'RUNNING';
        CREATE INDEX jobs_by_time ON jobs (last_updated, job_id);
        CREATE TABLE workers (worker_id INTEGER PRIMARY KEY, health TEXT NOT NULL);
        CREATE TABLE cancel_requests (job_id INTEGER PRIMARY KEY);
    """,
    # distributed commands: one row each, and one row per file dealt with or job run
    2: """
        CREATE TABLE commands (
            cmd_id INTEGER PRIMARY KEY,
            operation TEXT NOT NULL,
            description TEXT NOT NULL,
            status TEXT NOT NULL,
            total INTEGER NOT NULL,
            error_message TEXT NOT NULL,
            submitted INTEGER NOT NULL,
            last_updated INTEGER NOT NULL
        );
        CREATE TABLE command_items (
            cmd_id INTEGER NOT NULL,
            kind TEXT NOT NULL,
            seq INTEGER NOT NULL,
            item TEXT NOT NULL,
            reason TEXT,
            PRIMARY KEY (cmd_id, kind, seq)
        ) WITHOUT ROWID;
    """,
    # jobs.info may hold a JobRow's compact info (a JSON array): no table changes, but
    # a library that only knows the JSON object must not read such a store
    3: "",
}

#: command_items.kind of each of a CommandRecord's lists, in ``offsets`` order
_KINDS = ("completed", "failed", "skipped", "job")
_CMD_COLUMNS = ("cmd_id, operation, description, status, total, error_message, submitted, "
                "last_updated")

_COLUMNS = "job_id, parent, name, status, last_updated, config, info"
_ENCODER = json.JSONEncoder(separators=(",", ":"), check_circular=False)
#: for a batch SQLite parses: JSON proper (no NaN)
_STRICT_ENCODER = json.JSONEncoder(separators=(",", ":"), check_circular=False,
                                   allow_nan=False)
_UPSERT_SET = ("ON CONFLICT(job_id) DO UPDATE SET parent = excluded.parent, "
               "name = excluded.name, status = excluded.status, "
               "last_updated = excluded.last_updated, info = excluded.info, "
               "config = coalesce(excluded.config, jobs.config)")
_UPSERT = f"INSERT INTO jobs ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) {_UPSERT_SET}"
#: Upserts a JSON array of JobRows in one statement: SQLite takes the batch apart without
#: the interpreter lock, where one statement per row would take it back for every row
#: and compete with the master's threads each time. (``WHERE true`` tells SQLite's parser
#: that ON CONFLICT is the upsert clause.)
_UPSERT_BATCH = (f"INSERT INTO jobs ({_COLUMNS}) SELECT "
                 + ", ".join(f"json_extract(value, '$[{i}]')" for i in range(7))
                 + f" FROM json_each(?) WHERE true {_UPSERT_SET}")
#: JobRows encoded at once, and the characters of JSON per batch statement (which
#: bounds the memory SQLite needs to parse one)
_ROWS_PER_CHUNK = 64
_BATCH_CHARS = 4 << 20


class SQLiteJobStore(JobStore):
    """Job history in the SQLite file at ``path`` (created if missing, unless ``create``
    is false, as for a reader that must find an existing store).

    An older store is migrated to this library's schema when it is opened, except by a
    reader (``create=False``): a reader reads it as it is, so a newer CLI never changes
    the schema of a store that an older master is still writing.

    :raises StoreError: the file is not a job store, is corrupt, or has a newer schema
    """

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True,
                 timeout: float = 30.0) -> None:
        self.path = os.fspath(path)
        self._lock = threading.Lock()
        self._closed = False
        self._json_batches = False  # whether this SQLite has json_each (see _UPSERT_BATCH)
        self._version = SCHEMA_VERSION  # the store's schema (older for a reader's old store)
        if not create and not os.path.exists(self.path):
            raise StoreError(f"no job store at {self.path}")
        try:
            self._db = sqlite3.connect(self.path, timeout=timeout, check_same_thread=False,
                                       isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open job store {self.path}: {exc}") from exc
        try:
            self._prepare(migrate=create)
        except BaseException:
            self._db.close()
            raise

    # ---------------------------------------------------------------- schema

    def _prepare(self, *, migrate: bool) -> None:
        with self._translate("open"):
            self._db.execute("PRAGMA busy_timeout = 30000")
            tables = {row[0] for row in self._db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            if tables and "meta" not in tables:
                raise StoreError(f"{self.path} is not an alluxio_jobs job store "
                                 f"(it has tables {sorted(tables)})")
            version = 0
            if tables:
                row = self._db.execute(
                    "SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} has job store schema version {version}, newer than the "
                    f"version {SCHEMA_VERSION} this alluxio_jobs understands; upgrade "
                    "alluxio_jobs to use it")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            if version and not migrate:
                self._version = version  # a reader reads an older store as it is
            else:
                self._migrate_from(version)
        try:  # built into SQLite since 3.38, and into most builds before
            self._db.execute("SELECT json_extract(value, '$[0]') FROM json_each('[[1]]')")
            self._json_batches = True
        except sqlite3.OperationalError:
            self._json_batches = False

    def _migrate_from(self, version: int) -> None:
        for target in range(version + 1, SCHEMA_VERSION + 1):
            with self._transaction():
                # another process may have migrated it since we looked
                if target <= self._schema_version():
                    continue
                for statement in _MIGRATIONS[target].split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)",
                                 (str(target),))

    def _schema_version(self) -> int:
        if self._db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                            "AND name = 'meta'").fetchone() is None:
            return 0
        row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else 0

    @contextmanager
    def _translate(self, action: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise StoreError(f"job store {self.path}: {action} failed: {exc}") from exc

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _run(self, action: str, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock, self._translate(action):
            if self._closed:
                raise StoreError(f"job store {self.path} is closed")
            return fn(self._db)

    # --------------------------------------------------------------- writing

    def load(self) -> StoredJobs:
        def load(db: sqlite3.Connection) -> StoredJobs:
            rows = db.execute(f"SELECT {_COLUMNS} FROM jobs ORDER BY job_id").fetchall()
            row = db.execute("SELECT value FROM meta WHERE key = 'next_job_id'").fetchone()
            return StoredJobs(records=[_record(r) for r in rows],
                              next_job_id=int(row[0]) if row else 0)

        return self._run("load", load)

    def write(self, upserts: Sequence[JobRecord], deletes: Iterable[int],
              next_job_id: int, *, commands: Sequence[CommandRecord] = (),
              command_deletes: Iterable[int] = ()) -> None:
        dumps = _ENCODER.encode
        rows = [(r.job_id, r.parent, r.name, r.status.value, r.last_updated,
                 None if r.config is None else dumps(r.config), dumps(r.info))
                for r in upserts]
        self._write(rows, [], deletes, next_job_id, commands, command_deletes)

    def write_rows(self, rows: Iterable[JobRow], deletes: Iterable[int], next_job_id: int,
                   *, commands: Sequence[CommandRecord] = (),
                   command_deletes: Iterable[int] = ()) -> None:
        """Stores each row's compact info as it is. Rows are encoded a few dozen at a
        time as they come (so a batch's rows never all exist at once, for the garbage
        collector to trace), then sent as JSON arrays of up to a few MiB, one statement
        each (see ``_UPSERT_BATCH``); row by row where this SQLite has no JSON functions
        or a value is not JSON proper (NaN)."""
        batches: list[str] = []
        params: list[tuple[Any, ...]] = []
        parts: list[str] = []  # encoded chunks without their brackets
        size = 0
        strict = _STRICT_ENCODER.encode if self._json_batches else None
        dumps = _ENCODER.encode
        it = iter(rows)
        while chunk := list(islice(it, _ROWS_PER_CHUNK)):
            if strict is not None:
                try:
                    text = strict(chunk)
                except ValueError:
                    pass
                else:
                    parts.append(text[1:-1])
                    size += len(text)
                    if size >= _BATCH_CHARS:
                        batches.append(f"[{','.join(parts)}]")
                        parts, size = [], 0
                    continue
            params += [(job_id, parent, name, str(status), last_updated,
                        None if config is None else dumps(config), dumps(info))
                       for job_id, parent, name, status, last_updated, config, info in chunk]
        if parts:
            batches.append(f"[{','.join(parts)}]")
        self._write(params, batches, deletes, next_job_id, commands, command_deletes)

    def _write(self, rows: list[tuple[Any, ...]], batches: list[str], deletes: Iterable[int],
               next_job_id: int, commands: Sequence[CommandRecord],
               command_deletes: Iterable[int]) -> None:
        """One transaction: job upserts as parameter tuples (``rows``) or JSON arrays
        (``batches``), deletes, commands and the next job id."""
        if self._version < SCHEMA_VERSION:
            raise StoreError(f"job store {self.path} has schema version {self._version} and "
                             "was opened by a reader (create=False): it is not written")
        gone = [(job_id,) for job_id in deletes]
        cmd_rows = [(c.cmd_id, c.operation, c.description, c.status.value, c.total,
                     c.error_message, c.submitted, c.last_updated) for c in commands]
        item_rows = [row for c in commands for row in _item_rows(c)]
        cmds_gone = [(cmd_id,) for cmd_id in command_deletes]

        def write(db: sqlite3.Connection) -> None:
            with self._transaction():
                if rows:
                    db.executemany(_UPSERT, rows)
                for batch in batches:
                    db.execute(_UPSERT_BATCH, (batch,))
                if gone:
                    db.executemany("DELETE FROM jobs WHERE job_id = ?", gone)
                    db.executemany("DELETE FROM cancel_requests WHERE job_id = ?", gone)
                if cmd_rows:
                    db.executemany(
                        f"INSERT INTO commands ({_CMD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                        "ON CONFLICT(cmd_id) DO UPDATE SET operation = excluded.operation, "
                        "description = excluded.description, status = excluded.status, "
                        "total = excluded.total, error_message = excluded.error_message, "
                        "submitted = excluded.submitted, last_updated = excluded.last_updated",
                        cmd_rows)
                if item_rows:
                    db.executemany("INSERT OR REPLACE INTO command_items VALUES (?, ?, ?, ?, ?)",
                                   item_rows)
                if cmds_gone:
                    db.executemany("DELETE FROM commands WHERE cmd_id = ?", cmds_gone)
                    db.executemany("DELETE FROM command_items WHERE cmd_id = ?", cmds_gone)
                db.execute("INSERT INTO meta VALUES ('next_job_id', ?) ON CONFLICT(key) "
                           "DO UPDATE SET value = max(CAST(value AS INTEGER), "
                           "CAST(excluded.value AS INTEGER))",
                           (next_job_id,))

        self._run("write", write)

    # --------------------------------------------------------------- reading

    def get(self, job_id: int) -> JobRecord | None:
        row = self._run("read", lambda db: db.execute(
            f"SELECT {_COLUMNS} FROM jobs WHERE job_id = ?", (job_id,)).fetchone())
        return None if row is None else _record(row)

    def records(self, statuses: Iterable[Status] | None = None, name: str | None = None,
                parent: int | None = None) -> list[JobRecord]:
        where: list[str] = []
        params: list[object] = []
        if statuses is not None:
            wanted = [Status(s).value for s in statuses]
            if not wanted:
                return []
            where.append(f"status IN ({', '.join('?' * len(wanted))})")
            params.extend(wanted)
        if name is not None:
            where.append("name = ?")
            params.append(name)
        if parent is not None:
            where.append("parent = ?")
            params.append(parent)
        sql = f"SELECT {_COLUMNS} FROM jobs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self._run("read", lambda db: db.execute(sql + " ORDER BY job_id",
                                                        params).fetchall())
        return [_record(r) for r in rows]

    def summary(self) -> JobServiceSummary:
        def query(db: sqlite3.Connection) -> JobServiceSummary:
            counts = dict.fromkeys(Status, 0)
            for status, count in db.execute("SELECT status, count(*) FROM jobs GROUP BY status"):
                counts[Status(status)] = count
            select = f"SELECT {_COLUMNS} FROM jobs"
            limit = f" LIMIT {RECENT_LENGTH}"
            recent = db.execute(select + " ORDER BY last_updated DESC, job_id" + limit)
            failed = db.execute(select + " WHERE status = 'FAILED' "
                                "ORDER BY last_updated DESC, job_id" + limit)
            running = db.execute(select + " WHERE status = 'RUNNING' "
                                 "ORDER BY last_updated, job_id DESC" + limit)
            return JobServiceSummary(
                status_counts=counts,
                recent_activities=[brief(_record(r)) for r in recent.fetchall()],
                recent_failures=[brief(_record(r)) for r in failed.fetchall()],
                longest_running=[brief(_record(r)) for r in running.fetchall()],
            )

        return self._run("read", query)

    # -------------------------------------------------------------- commands

    def get_command(self, cmd_id: int, *, files: bool = True) -> CommandRecord | None:
        if self._version < 2:  # a reader's store from before commands were stored
            return None

        def read(db: sqlite3.Connection) -> CommandRecord | None:
            row = db.execute(f"SELECT {_CMD_COLUMNS} FROM commands WHERE cmd_id = ?",
                             (cmd_id,)).fetchone()
            if row is None:
                return None
            lists: dict[str, list[tuple[str, str | None]]] = {kind: [] for kind in _KINDS}
            if files:
                for kind, item, reason in db.execute(
                        "SELECT kind, item, reason FROM command_items WHERE cmd_id = ? "
                        "ORDER BY kind, seq", (cmd_id,)):
                    lists[kind].append((item, reason))
            _, operation, description, status, total, error, submitted, updated = row
            return CommandRecord(
                cmd_id=cmd_id, operation=operation, description=description,
                status=Status(status), total=total, error_message=error,
                submitted=submitted, last_updated=updated,
                completed=[item for item, _ in lists["completed"]],
                failed={item: reason or "" for item, reason in lists["failed"]},
                skipped=[item for item, _ in lists["skipped"]],
                job_ids=[int(item) for item, _ in lists["job"]])

        with self._lock, self._translate("read"):
            if self._closed:
                raise StoreError(f"job store {self.path} is closed")
            # one snapshot for the command and its items, even while a master writes
            self._db.execute("BEGIN")
            try:
                return read(self._db)
            finally:
                self._db.execute("COMMIT")

    def command_ids(self, statuses: Iterable[Status] | None = None) -> list[int]:
        if self._version < 2:  # a reader's store from before commands were stored
            return []
        sql = "SELECT cmd_id FROM commands"
        params: list[str] = []
        if statuses is not None:
            params = [Status(s).value for s in statuses]
            if not params:
                return []
            sql += f" WHERE status IN ({', '.join('?' * len(params))})"
        rows = self._run("read", lambda db: db.execute(sql + " ORDER BY cmd_id",
                                                        params).fetchall())
        return [r[0] for r in rows]

    # ------------------------------------------------------ workers, cancels

    def put_worker_health(self, health: Sequence[JobWorkerHealth]) -> None:
        rows = [(h.worker_id, json.dumps(to_dict(h))) for h in health]

        def put(db: sqlite3.Connection) -> None:
            with self._transaction():
                db.execute("DELETE FROM workers")
                db.executemany("INSERT INTO workers VALUES (?, ?)", rows)

        self._run("write", put)

    def worker_health(self) -> list[JobWorkerHealth]:
        rows = self._run("read", lambda db: db.execute(
            "SELECT health FROM workers ORDER BY worker_id").fetchall())
        return [from_dict(json.loads(r[0])) for r in rows]

    def request_cancel(self, job_id: int) -> None:
        self._run("write", lambda db: db.execute(
            "INSERT OR IGNORE INTO cancel_requests VALUES (?)", (job_id,)))

    def take_cancel_requests(self) -> list[int]:
        def take(db: sqlite3.Connection) -> list[int]:
            # a plain read first: the writer asks every flush, and usually there is
            # nothing, so it should not take the database's write lock for that
            if db.execute("SELECT 1 FROM cancel_requests LIMIT 1").fetchone() is None:
                return []
            with self._transaction():
                ids = [r[0] for r in db.execute("SELECT job_id FROM cancel_requests")]
                db.execute("DELETE FROM cancel_requests")
            return ids

        return self._run("write", take)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._db.close()


def _record(row: tuple[Any, ...]) -> JobRecord:
    job_id, parent, name, status, last_updated, config, info = row
    data = json.loads(info)
    if isinstance(data, list):  # a JobRow's compact info
        data = info_of(job_id, name, status, last_updated, data)
    return JobRecord(job_id=job_id, parent=parent, name=name, status=Status(status),
                     last_updated=last_updated, config=json.loads(config or "{}"),
                     info=data)


def _item_rows(command: CommandRecord) -> Iterator[tuple[int, str, int, str, str | None]]:
    """command_items rows for the lists of ``command``, placed at its offsets."""
    cmd_id = command.cmd_id
    oc, of, os_, oj = command.offsets
    for seq, path in enumerate(command.completed, oc):
        yield cmd_id, "completed", seq, path, None
    for seq, (path, reason) in enumerate(command.failed.items(), of):
        yield cmd_id, "failed", seq, path, reason
    for seq, path in enumerate(command.skipped, os_):
        yield cmd_id, "skipped", seq, path, None
    for seq, job_id in enumerate(command.job_ids, oj):
        yield cmd_id, "job", seq, str(job_id), None
