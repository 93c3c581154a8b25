"""Engine, sessions, and the transaction rule.

**Services flush; edges commit.** The code that answers for a unit of work commits it:

- a request, once, after its view (:func:`init_app`): an answer under 400 commits, any
  other rolls back everything the request did;
- a CLI command (``server/commands/``);
- the submission pipeline (``server/intake.py``): the submission first, then its merge.

An edge that must commit in the middle of a request (a failed sign-in counted although the
answer is an error, an audit entry kept before an export streams) does so where it happens,
with a comment saying why.

**Writers.** On SQLite, :func:`write_transaction` is the one way to ask for the database's
write lock; a request that may write has it from its start. On PostgreSQL rows are locked
where they are read.

The same ``Base`` and session factory serve the web app, the CLI and ``exports/`` (which
open sessions without Flask through :func:`open_session`). The bulk writes every
package's queries use are here too; pages of a list are in ``server.paging``.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from flask import Flask, Response, current_app, g, has_request_context, request
from sqlalchemy import (
    MetaData,
    bindparam,
    create_engine,
    delete,
    event,
    insert,
    update,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# Execution option asking SQLite for a write transaction from the start (BEGIN IMMEDIATE):
# a deferred transaction that reads first and writes later fails at once with "database is
# locked" when another process committed in between, instead of waiting its turn.
WRITE_INTENT = "casework_write_intent"
# Connection info key: the SQLite transaction holds the write lock (it began IMMEDIATE or has
# written), so further writes in it cannot fail on a stale read.
_WRITER = "casework_writer"
_READS = ("SELECT", "PRAGMA")


# How long an SQLite statement waits for another connection's write lock.
SQLITE_BUSY_TIMEOUT_SECONDS = 30


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        database = make_url(url).database
        connect_args: dict[str, Any] = {"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}
        if database and database != ":memory:" and not database.startswith("file:"):
            connect_args["factory"] = GatedConnection
        # Pooled connections: closing the last connection to a WAL database checkpoints it,
        # which would cost every request a disk sync.
        engine = create_engine(url, pool_size=8, max_overflow=8, connect_args=connect_args)
        _configure_sqlite(engine)
        return engine
    # psycopg prepares a statement on the server after five runs, and PostgreSQL then may
    # plan it once for any values (a generic plan): a caseworker's plan items by due dates
    # went from 20 to 900 ms. Unprepared, every statement is planned for its own values.
    unprepared = {"prepare_threshold": None} if make_url(url).get_driver_name() == "psycopg" else {}
    return create_engine(
        url, pool_pre_ping=True, pool_size=10, max_overflow=10, connect_args=unprepared
    )


# The same, as PRAGMA busy_timeout takes it (ms).
BUSY_TIMEOUT_MS = SQLITE_BUSY_TIMEOUT_SECONDS * 1000
# How often each pooled SQLite connection runs PRAGMA optimize (seconds).
OPTIMIZE_EVERY = 3600.0
_OPTIMIZED_AT = "casework.optimized_at"


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, record: Any) -> None:
        # Take transaction control from the driver so that BEGIN is ours to emit.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL is durable across app crashes
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA cache_size=-16384")  # 16 MiB of pages per connection
        # PRAGMA optimize's ANALYZE samples each index instead of reading it whole
        cur.execute("PRAGMA analysis_limit=400")
        cur.close()
        record.info[_OPTIMIZED_AT] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _keep_statistics(dbapi_conn: Any, record: Any) -> None:
        # A database analyzed while empty (a fresh install's migrate) has no statistics
        # once it has grown, and the planner then guesses: SQLite's advice for long-lived
        # connections is PRAGMA optimize now and then, which analyzes only the tables the
        # connection's queries used that grew or shrank a lot since.
        if dbapi_conn is None or time.monotonic() - record.info.get(_OPTIMIZED_AT, 0) < (
            OPTIMIZE_EVERY
        ):
            return
        record.info[_OPTIMIZED_AT] = time.monotonic()
        try:
            dbapi_conn.execute("PRAGMA busy_timeout=200")  # a busy writer: next time
            dbapi_conn.execute("PRAGMA optimize")
        except sqlite3.Error:
            pass
        finally:
            dbapi_conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if not conn.get_execution_options().get(WRITE_INTENT):
            conn.exec_driver_sql("BEGIN")
            conn.info[_WRITER] = False
            return
        dbapi_conn = conn.connection.dbapi_connection
        gated = isinstance(dbapi_conn, GatedConnection)
        if gated:
            dbapi_conn.enter_write_gate()
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            if gated:
                dbapi_conn.leave_write_gate()
            raise
        conn.info[_WRITER] = True

    @event.listens_for(engine, "before_cursor_execute")
    def _note_writes(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not conn.info.get(_WRITER) and statement.lstrip()[:6].upper() not in _READS:
            conn.info[_WRITER] = True


class _WriteGate:
    """One process's side of the queue of SQLite writers for one database file.

    SQLite makes a writer that finds the database locked poll, sleeping 1, 2, 5, … up to
    100 ms between tries, so under load a waiting writer often sleeps on long after the lock
    was freed (the ingest benchmark's slowest answers). Writers therefore queue here first:
    threads of this process on a lock, processes on an ``flock`` of a file next to the
    database, polled finely. The kernel drops an ``flock`` when its process dies, so a killed
    worker never blocks the others. SQLite's own lock stays the real guard: this only
    decides who asks for it next.
    """

    POLL_SECONDS = 0.0005

    def __init__(self, path: str) -> None:
        self.path = path
        self.thread_lock = threading.Lock()
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)

    def acquire(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        if not self.thread_lock.acquire(timeout=timeout):
            return False
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() > deadline:
                    self.thread_lock.release()
                    return False
                time.sleep(self.POLL_SECONDS)

    def release(self) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        self.thread_lock.release()


_gates: dict[tuple[int, str], _WriteGate] = {}
_gates_lock = threading.Lock()


def _write_gate(database: str) -> _WriteGate:
    # Keyed by process id as well: a forked worker must open its own file description,
    # since an inherited one would share its flock with the parent.
    key = (os.getpid(), os.path.abspath(database))
    gate = _gates.get(key)
    if gate is None:
        with _gates_lock:
            gate = _gates.get(key)
            if gate is None:
                gate = _gates[key] = _WriteGate(key[1] + "-writers")
    return gate


class GatedConnection(sqlite3.Connection):
    """A SQLite connection whose write transactions pass the process-shared write gate
    (taken before ``BEGIN IMMEDIATE``, given back once the transaction has ended)."""

    def __init__(self, database: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        self._gate = _write_gate(database)
        self._in_gate = False

    def enter_write_gate(self) -> None:
        # Past the busy timeout, go on to BEGIN IMMEDIATE anyway: SQLite then waits or
        # fails with "database is locked" exactly as it would without the gate.
        self._in_gate = self._gate.acquire(SQLITE_BUSY_TIMEOUT_SECONDS)

    def leave_write_gate(self) -> None:
        if self._in_gate:
            self._in_gate = False
            self._gate.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.leave_write_gate()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.leave_write_gate()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.leave_write_gate()


def _is_writer(session: Session) -> bool:
    """The SQLite transaction began as a writer or has already written."""
    conn = session.connection()
    return bool(conn.get_execution_options().get(WRITE_INTENT) or conn.info.get(_WRITER))


def _become_writer(session: Session) -> None:
    if session.get_bind().dialect.name != "sqlite":
        return
    if not session.in_transaction():
        session.connection(execution_options={WRITE_INTENT: True})
        return
    if _is_writer(session) or session.new or session.dirty or session.deleted:
        return  # a writer already (or in all but name: committing would write its changes)
    # A transaction that has only read: nothing in it to keep, and loaded objects stay
    # usable (sessions do not expire them on commit).
    session.commit()
    session.connection(execution_options={WRITE_INTENT: True})


@contextmanager
def write_transaction(session: Session) -> Iterator[Session]:
    """Run the block in a transaction of ``session`` that may write: the one way code asks
    for SQLite's write lock. Leaving flushes the block's writes; it never commits, and the
    transaction stays open (and a writer) until the edge commits it.

    SQLite has one write lock for the whole database, and a transaction that has read
    cannot start writing once another connection has committed: it fails at once with
    "database is locked" instead of waiting its turn. So, on entering:

    - no transaction yet: one begins as a writer (``BEGIN IMMEDIATE``, after the
      process-shared write gate), waiting for the lock up to the busy timeout;
    - a transaction that has only read: it is ended (there is nothing in it to keep) and
      a writer begun;
    - a writer already, or a transaction holding unflushed changes: it is kept.

    Enter it before the first read that the writes depend on, and after slow work that
    needs no lock (parsing, mapping), which would otherwise hold the lock for everyone. In
    a request that may write it changes nothing: its transactions are writers from their
    start (:func:`init_app`).

    On PostgreSQL nothing happens: rows are locked where they are read (``FOR UPDATE``),
    reference numbers with advisory locks (``cases.queries.lock_case_ref``).
    """
    _become_writer(session)
    yield session
    session.flush()


COMMITS_IN_STEPS = "casework_commits_in_steps"
F = TypeVar("F", bound=Callable[..., Any])


def commits_in_steps(view: F) -> F:
    """Mark a view whose request is not one transaction: it runs the submission pipeline
    (``server.intake``), which commits the submission, then its merge, each in a
    :func:`write_transaction` entered once the upload is parsed. Its request does not
    begin as a writer, which would hold SQLite's lock while the body is read and parsed."""
    setattr(view, COMMITS_IN_STEPS, True)
    return view


# Requests of these methods only read, unless a view writes through `write_transaction`
# (an audit entry for what was shown, a sign-in noted).
READ_METHODS = ("GET", "HEAD", "OPTIONS")


class Database:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessionmaker = sessionmaker(bind=engine, expire_on_commit=False)
        # The session of a request that may write: each transaction it begins (again after
        # a commit in the middle of the request) is a writer from its start.
        self.writer_sessionmaker = sessionmaker(
            bind=engine.execution_options(**{WRITE_INTENT: True}), expire_on_commit=False
        )


def init_app(app: Flask) -> None:
    """The request wrapper: one transaction per request, committed once after the view
    if the answer is under 400, else rolled back.

    A request that may write (any method but GET, HEAD and OPTIONS; views marked
    :func:`commits_in_steps` excepted) gets a session whose transactions begin as writers,
    so that on SQLite it queues for the lock instead of failing when it writes after
    reading a snapshot another process has outdated.
    """
    database = Database(make_engine(app.config["DATABASE_URL"]))
    app.extensions["casework.db"] = database

    @app.after_request
    def _commit(response: Response) -> Response:
        session: Session | None = g.pop("_db_session", None)
        if session is None:
            return response
        try:
            if response.status_code < 400:
                session.commit()
            else:
                session.rollback()
        finally:
            session.close()
        return response

    @app.teardown_appcontext
    def _remove(_exc: BaseException | None) -> None:
        session: Session | None = g.pop("_db_session", None)
        if session is not None:
            session.rollback()
            session.close()


def get_database(app: Flask) -> Database:
    database: Database = app.extensions["casework.db"]
    return database


def get_database_engine() -> Engine:
    return get_database(current_app).engine


def session() -> Session:
    """The session of the current app context (one per request or CLI command)."""
    current: Session | None = g.get("_db_session")
    if current is None:
        database = get_database(current_app)
        writes = has_request_context() and _request_may_write()
        current = (database.writer_sessionmaker if writes else database.sessionmaker)()
        g._db_session = current
    return current


def _request_may_write() -> bool:
    if request.method in READ_METHODS:
        return False
    view = current_app.view_functions.get(request.endpoint or "")
    return not getattr(view, COMMITS_IN_STEPS, False)


@contextmanager
def open_session(engine: Engine) -> Iterator[Session]:
    """A session outside Flask (exports, scripts); the caller commits."""
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    s = factory()
    try:
        yield s
    finally:
        s.close()


# --- bulk writes, for every package's queries ----------------------------------------------


def insert_rows(session: Session, model: type[Any], rows: list[dict[str, Any]]) -> None:
    """One executemany insert (every row with the same keys)."""
    if rows:
        session.connection().execute(insert(model.__table__), rows)


def update_rows(session: Session, model: type[Any], rows: list[dict[str, Any]]) -> None:
    """Update rows by id: each dict holds ``id`` and the same other keys (the SET clause)."""
    if not rows:
        return
    table = model.__table__
    stmt = update(table).where(table.c.id == bindparam("_id"))
    params = [{**{k: v for k, v in r.items() if k != "id"}, "_id": r["id"]} for r in rows]
    session.connection().execute(stmt, params)


def delete_rows(session: Session, model: type[Any], ids: list[int]) -> None:
    if ids:
        table = model.__table__
        session.connection().execute(delete(table).where(table.c.id.in_(ids)))
