"""The services tests share the cases tests' database fixtures (SQLite and PostgreSQL)."""

from tests.cases.conftest import engine, pg_engine, session

__all__ = ["engine", "pg_engine", "session"]
