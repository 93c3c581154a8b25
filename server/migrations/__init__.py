"""Alembic migrations. `casework migrate` runs them; every schema change ships one."""

from __future__ import annotations

import logging
from pathlib import Path

# Every command checks the schema revision; only `casework migrate` reports Alembic's steps.
# Set before Alembic is imported: it announces its plugins while importing.
logging.getLogger("alembic").setLevel(logging.WARNING)

from alembic import command  # noqa: E402
from alembic.config import Config  # noqa: E402
from alembic.runtime.migration import MigrationContext  # noqa: E402
from alembic.script import ScriptDirectory  # noqa: E402
from sqlalchemy import inspect  # noqa: E402
from sqlalchemy.engine import Connection, Engine  # noqa: E402

HERE = Path(__file__).parent


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, *, analyze: bool = False) -> None:
    """Bring the schema to the head revision. The planner's statistics are refreshed when a
    migration ran (new indexes need them) or when ``analyze`` asks (``casework migrate``)."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    logging.getLogger("alembic.runtime.migration").setLevel(logging.INFO)
    try:
        with engine.begin() as connection:
            before = MigrationContext.configure(connection).get_current_revision()
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")
            after = MigrationContext.configure(connection).get_current_revision()
            if analyze or (before is not None and before != after):
                refresh_statistics(connection)
    finally:
        logging.getLogger("alembic.runtime.migration").setLevel(logging.NOTSET)


def refresh_statistics(connection: Connection) -> None:
    """ANALYZE the product's tables, so the planner knows their sizes and picks the indexes
    the lists were built for. SQLite reads every index in full (a sample would see only
    one end of an index on ``status``, and mislead); a few seconds at 100 000 cases.
    PostgreSQL samples by itself. Only this schema's tables (a shared server may hold
    others)."""
    tables = [t for t in inspect(connection).get_table_names() if t != "alembic_version"]
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("PRAGMA analysis_limit = 0")
        for table in tables:
            connection.exec_driver_sql(f'ANALYZE "{table}"')
    elif tables:
        connection.exec_driver_sql("ANALYZE " + ", ".join(f'"{t}"' for t in tables))


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def is_up_to_date(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()
