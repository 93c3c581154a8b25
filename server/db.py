"""Engine, session and the one-commit-per-request rule.

The same ``Base`` and session factory serve the web app, the CLI and ``exports/`` (which
open sessions without Flask through :func:`open_session`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from flask import Flask, Response, g, request
from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Engine
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


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        # Pooled connections: closing the last connection to a WAL database checkpoints it,
        # which would cost every request a disk sync.
        engine = create_engine(url, pool_size=8, max_overflow=8, connect_args={"timeout": 30})
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
        immediate = conn.get_execution_options().get(WRITE_INTENT)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
        conn.info[_WRITER] = bool(immediate)

    @event.listens_for(engine, "before_cursor_execute")
    def _note_writes(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not conn.info.get(_WRITER) and statement.lstrip()[:6].upper() not in _READS:
            conn.info[_WRITER] = True


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
