"""Engine, session and the one-commit-per-request rule.

The same ``Base`` and session factory serve the web app, the CLI and ``exports/`` (which
open sessions without Flask through :func:`open_session`).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask, Response, g, request
from sqlalchemy import (
    MetaData,
    Select,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    literal_column,
    select,
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
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from the driver so that BEGIN is ours to emit.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL is durable across app crashes
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA cache_size=-16384")  # 16 MiB of pages per connection
        cur.close()

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


def is_sqlite(session: Session) -> bool:
    bind = session.get_bind()
    return bind.dialect.name == "sqlite"


def begin_write(session: Session) -> None:
    """Start the session's transaction as a writer, before its first read.

    On SQLite this takes the database write lock up front (waiting for it, up to the busy
    timeout); on PostgreSQL rows are locked where they are read, with ``FOR UPDATE``.
    """
    if session.in_transaction():
        return
    session.connection(execution_options={WRITE_INTENT: True})


def is_writer(session: Session) -> bool:
    """The session's transaction began as a writer (or, on SQLite, has already written)."""
    if not session.in_transaction():
        return False
    conn = session.connection()
    return bool(conn.get_execution_options().get(WRITE_INTENT) or conn.info.get(_WRITER))


def ensure_writer(session: Session) -> None:
    """Let a request that has only read so far write (an audit entry for what it showed).

    A SQLite transaction that has read cannot start writing once another connection has
    committed: it fails at once with "database is locked". So a transaction that has only
    read is ended (there is nothing in it to keep) and a writer begun, which waits for the
    lock. Objects loaded before stay usable. Nothing changes on PostgreSQL, or where the
    transaction can already write.
    """
    if not is_sqlite(session) or is_writer(session):
        return
    if session.new or session.dirty or session.deleted:
        return  # changes are pending: this transaction is a writer already in all but name
    session.commit()
    begin_write(session)


@contextmanager
def write_apart(session: Session) -> Iterator[None]:
    """A small write that stands on its own, committed at once: a sign-in counted, a token's
    use noted. Use it before the request has written anything (it commits what the session
    holds). A request that only reads then does not hold the write lock for the rest of its
    work, and a refused request keeps the record of its refusal. The session continues as
    it was: a writer again if it was one.
    """
    was_writer = is_writer(session)
    session.commit()
    begin_write(session)
    yield
    session.commit()
    if was_writer:
        begin_write(session)


TAKES_LOCK_ITSELF = "casework_takes_write_lock_itself"
F = TypeVar("F", bound=Callable[..., Any])


def takes_write_lock_itself(view: F) -> F:
    """Mark a view that calls :func:`begin_write` itself before its first write (and ends
    any read transaction first), instead of holding the write lock for the whole request."""
    setattr(view, TAKES_LOCK_ITSELF, True)
    return view


class Database:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessionmaker = sessionmaker(bind=engine, expire_on_commit=False)


def init_app(app: Flask) -> None:
    database = Database(make_engine(app.config["DATABASE_URL"]))
    app.extensions["casework.db"] = database

    @app.before_request
    def _writers_take_the_lock_first() -> None:
        # A request that may write starts as a writer, so that on SQLite it queues for the
        # lock instead of failing when it upgrades a read snapshot another process outdated.
        # Views marked with `takes_write_lock_itself` begin their writes themselves, so that
        # their parsing does not hold SQLite's one write lock.
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return
        view = app.view_functions.get(request.endpoint or "")
        if not getattr(view, TAKES_LOCK_ITSELF, False):
            begin_write(session())

    @app.after_request
    def _commit(response: Response) -> Response:
        session: Session | None = g.pop("_db_session", None)
        if session is None:
            return response
        try:
            # Errors roll back everything the request did, except where a handler asked to
            # keep it (a failed sign-in counts toward the lock-out).
            if response.status_code < 400 or g.get("commit_on_error"):
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
    from flask import current_app

    return get_database(current_app).engine


def session() -> Session:
    """The session of the current app context (one per request or CLI command)."""
    current: Session | None = g.get("_db_session")
    if current is None:
        from flask import current_app

        current = get_database(current_app).sessionmaker()
        g._db_session = current
    return current


@contextmanager
def open_session(engine: Engine) -> Iterator[Session]:
    """A session outside Flask (exports, scripts); the caller commits."""
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    s = factory()
    try:
        yield s
    finally:
        s.close()


# --- bulk writes and pages, for every package's queries -----------------------------------


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


# Counts stop here: past it a list says "10,000+" (its pages still work), so that counting
# never costs more than reading that many index entries.
COUNT_CAP = 10_000


@dataclass(frozen=True)
class Page:
    items: list[Any]
    total: int  # capped at COUNT_CAP (``total_capped`` says so)
    page: int
    per_page: int
    total_capped: bool = False


def count_capped(
    session: Session, stmt: Select[*tuple[Any, ...]], *, ordered: bool = False
) -> tuple[int, bool]:
    """(rows of ``stmt``, up to :data:`COUNT_CAP`; whether there are more). Only the
    statement's FROM and WHERE are read (no columns), so the count can come from an index.
    ``ordered``: count in the statement's order, so that the planner walks the same index
    as for the page (the case list's index holds every filter; without the order SQLite
    may pick another index and read each case's row)."""
    lean: Select[Any] = stmt if ordered else stmt.order_by(None)
    # keep the FROM: a statement with no WHERE would otherwise lose its table, and count 1
    lean = lean.with_only_columns(literal_column("1"), maintain_column_froms=True)
    lean = lean.limit(COUNT_CAP + 1)
    found = session.scalar(select(func.count()).select_from(lean.subquery())) or 0
    return min(found, COUNT_CAP), found > COUNT_CAP


def _page_bounds(page: int, per_page: int) -> tuple[int, int]:
    return max(page, 1), min(max(per_page, 1), 500)


def paginate(
    session: Session, stmt: Select[*tuple[Any, ...]], page: int = 1, per_page: int = 50
) -> Page:
    """Run ``stmt`` for one page (1-based) and count the result (up to COUNT_CAP)."""
    page, per_page = _page_bounds(page, per_page)
    total, capped = count_capped(session, stmt)
    rows = session.execute(stmt.limit(per_page).offset((page - 1) * per_page)).all()
    items = [r[0] if len(r) == 1 else r for r in rows]  # a Row: a tuple, with names
    return Page(items=items, total=total, page=page, per_page=per_page, total_capped=capped)


def paginate_by_id(
    session: Session, stmt: Select[*tuple[Any, ...]], key: Any, page: int = 1, per_page: int = 50
) -> Page:
    """:func:`paginate` for a statement whose rows are wide: the page's ``key`` values (a
    primary key) are picked first, ordered and filtered from the indexes alone; only those
    rows are then read, and put back in that order."""
    page, per_page = _page_bounds(page, per_page)
    total, capped = count_capped(session, stmt, ordered=True)
    ids_stmt = stmt.with_only_columns(key).limit(per_page).offset((page - 1) * per_page)
    ids = list(session.scalars(ids_stmt))
    rows = (
        session.execute(stmt.add_columns(key).order_by(None).where(key.in_(ids))).all()
        if ids
        else []
    )
    position = {k: n for n, k in enumerate(ids)}
    by_id = sorted(rows, key=lambda r: position[r[-1]])
    items = [r[0] if len(r) == 2 else tuple(r)[:-1] for r in by_id]  # less the key
    return Page(items=items, total=total, page=page, per_page=per_page, total_capped=capped)
