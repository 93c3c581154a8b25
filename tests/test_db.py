"""SQLite writers pass a write gate: one at a time, and the gate always opens again."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from server.db import WRITE_INTENT, GatedConnection, make_engine, write_transaction


@pytest.fixture
def engine(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'gate.sqlite3'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
    yield engine
    engine.dispose()


def _writer(engine):
    return engine.connect().execution_options(**{WRITE_INTENT: True})


def test_file_databases_use_gated_connections(engine):
    with engine.connect() as conn:
        assert isinstance(conn.connection.dbapi_connection, GatedConnection)


def test_a_second_writer_waits_for_the_first_to_commit(engine):
    first = _writer(engine)
    first.begin()
    first.execute(text("INSERT INTO t VALUES (1)"))
    entered = threading.Event()

    def second_writer() -> None:
        with _writer(engine) as conn, conn.begin():
            entered.set()
            conn.execute(text("INSERT INTO t VALUES (2)"))

    thread = threading.Thread(target=second_writer)
    thread.start()
    assert not entered.wait(0.3), "two writers were inside at once"
    first.commit()
    assert entered.wait(10), "the gate did not open after a commit"
    thread.join(10)
    first.close()
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM t")) == 2


@pytest.mark.parametrize("ending", ["rollback", "close", "failed statement"])
def test_every_way_a_write_transaction_ends_opens_the_gate(engine, ending):
    conn = _writer(engine)
    transaction = conn.begin()
    if ending == "rollback":
        transaction.rollback()
    elif ending == "close":
        conn.close()
    else:
        with pytest.raises(Exception, match="no such table"):
            conn.execute(text("INSERT INTO missing VALUES (1)"))
        transaction.rollback()
    started = time.monotonic()
    with Session(engine) as session:
        with write_transaction(session):
            session.execute(text("INSERT INTO t VALUES (3)"))
        session.commit()
    assert time.monotonic() - started < 5
    conn.close()


def test_a_long_lived_connection_keeps_the_planners_statistics(tmp_path: Path, monkeypatch):
    """A database first analyzed empty (a fresh install's `casework migrate`) has no
    statistics when it has grown: the pool's connections run PRAGMA optimize now and then,
    which analyzes the tables that grew since, so the planner keeps choosing by them."""
    import server.db

    engine = make_engine(f"sqlite:///{tmp_path / 'grown.sqlite3'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (a INTEGER, b INTEGER)"))
        conn.execute(text("CREATE INDEX ix_t_a ON t (a)"))
        conn.execute(text("ANALYZE"))
    with engine.begin() as conn:
        conn.execute(
            text(
                "WITH RECURSIVE n(v) AS (SELECT 1 UNION ALL SELECT v + 1 FROM n WHERE v < 20000) "
                "INSERT INTO t SELECT v % 5, v FROM n"
            )
        )
    monkeypatch.setattr(server.db, "OPTIMIZE_EVERY", 0.0)
    with engine.connect() as conn:
        conn.execute(text("SELECT * FROM t WHERE a = 1")).all()  # the planner uses the index
    with engine.connect() as conn:
        stats = conn.execute(text("SELECT tbl, stat FROM sqlite_stat1")).all()
    engine.dispose()
    assert [tbl for tbl, _ in stats] == ["t"], stats


@pytest.mark.sqlite_only
def test_the_hourly_optimize_keeps_the_full_statistics_of_a_grown_database(
    database_url: str, monkeypatch
):
    """`casework migrate` analyzes every index in full (``migrations.refresh_statistics``:
    a sample sees one end of an index on status, and misleads). The pool's PRAGMA optimize
    is for tables that grew since; it must not replace those statistics with a sample of
    the cases because one partial index (the pending transfers, none yet) has no row."""
    import server.db
    from server.migrations import refresh_statistics

    engine = make_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "WITH RECURSIVE n(v) AS (SELECT 1 UNION ALL SELECT v + 1 FROM n WHERE v < 30000) "
                "INSERT INTO case_record (case_ref, entity_id, status, properties, provenance, "
                "version, open_conflicts, opened_at, updated_at) "
                "SELECT 'C-' || v, 'e-' || v, CASE WHEN v <= 15000 THEN 'closed' ELSE 'open' END, "
                "'{}', '{}', 1, 0, '2026-01-01 00:00:00', '2026-01-01 00:00:00' FROM n"
            )
        )
        refresh_statistics(conn)
    engine.dispose()  # `casework migrate` is a process of its own; the server's pool:
    engine = make_engine(database_url)
    stat = text("SELECT idx, stat FROM sqlite_stat1 WHERE tbl = 'case_record' ORDER BY idx")
    with engine.connect() as conn:
        full = conn.execute(stat).all()
    monkeypatch.setattr(server.db, "OPTIMIZE_EVERY", 0.0)
    with engine.connect() as conn:
        conn.execute(text("SELECT id FROM case_record WHERE status = 'open'")).all()
    with engine.connect() as conn:
        after = conn.execute(stat).all()
    engine.dispose()
    assert ("ix_case_record_status", "30000 15000 1 1") in full
    assert after == full


@pytest.mark.postgresql_only
def test_postgresql_plans_every_statement_for_its_own_values(database_url: str):
    """psycopg prepares a statement on the server once it has run five times, and PostgreSQL
    may then plan it once for any values: a caseworker's plan items by due dates went from
    20 ms to 900 ms at the eleventh request (a plan made for no caseworker in particular).
    The engine sends every statement unprepared, so each is planned for its own values."""
    engine = make_engine(database_url)
    with engine.connect() as conn:
        for n in range(12):
            conn.execute(text("SELECT count(*) FROM user_account WHERE id > :n"), {"n": n})
        prepared = conn.execute(text("SELECT count(*) FROM pg_prepared_statements")).scalar()
    engine.dispose()
    assert prepared == 0
