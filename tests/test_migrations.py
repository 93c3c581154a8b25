"""The migrations build exactly the schema the models describe, on the engine under test."""

from __future__ import annotations

import os
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text

import server.models  # noqa: F401
from server.db import Base, make_engine
from server.migrations import current_revision, head_revision, is_up_to_date, upgrade
from tests.conftest import TEST_DATABASE, is_postgres


def _fresh_url(tmp_path: Path) -> str:
    if not is_postgres():
        return f"sqlite:///{tmp_path / 'migrated.sqlite3'}"
    schema = f"cw_migrate_{os.getpid()}"
    admin = create_engine(TEST_DATABASE)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    sep = "&" if "?" in TEST_DATABASE else "?"
    return f"{TEST_DATABASE}{sep}options=-csearch_path%3D{schema}"


def test_migrations_reach_head_and_match_the_models(tmp_path: Path):
    engine = make_engine(_fresh_url(tmp_path))
    assert not is_up_to_date(engine)
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    upgrade(engine)  # running it again changes nothing
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                Base.metadata)
    assert diff == []
    engine.dispose()
