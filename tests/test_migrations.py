"""The migrations build exactly the schema the models describe, on the engine under test."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import server.models  # noqa: F401
from server.db import Base, make_engine
from server.migrations import current_revision, head_revision, is_up_to_date, upgrade


def test_migrations_reach_head_and_match_the_models(empty_database_url: str):
    engine = make_engine(empty_database_url)
    assert not is_up_to_date(engine)
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    upgrade(engine)  # running it again changes nothing
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    assert diff == []
    engine.dispose()
