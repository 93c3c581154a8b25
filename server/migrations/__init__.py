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
        limit = connection.exec_driver_sql("PRAGMA analysis_limit").scalar()
        connection.exec_driver_sql("PRAGMA analysis_limit = 0")
        for table in tables:
            connection.exec_driver_sql(f'ANALYZE "{table}"')
            _note_empty_indexes(connection, table)
        # the connection goes back to a pool whose PRAGMA optimize samples (``server.db``)
        connection.exec_driver_sql(f"PRAGMA analysis_limit = {int(limit or 0)}")
    elif tables:
        connection.exec_driver_sql("ANALYZE " + ", ".join(f'"{t}"' for t in tables))


def _note_empty_indexes(connection: Connection, table: str) -> None:
    """Give an index that ANALYZE found empty, on a table it found rows in (the partial
    index of the pending transfers while there are none), a statistics row of one entry.
    With no row, the pool's hourly PRAGMA optimize (``server.db``) takes the table for one
    never analyzed and analyzes it again by a sample, replacing the full statistics; with
    one, it leaves the table until it has grown 25 times."""
    stat = "SELECT idx FROM sqlite_stat1 WHERE tbl = ?"
    analyzed = {idx for (idx,) in connection.exec_driver_sql(stat, (table,))}
    if not analyzed:
        return  # an empty table: PRAGMA optimize analyzes it once it is used
    for index in connection.exec_driver_sql(f'PRAGMA index_list("{table}")').mappings():
        if index["name"] in analyzed:
            continue
        columns = len(connection.exec_driver_sql(f'PRAGMA index_info("{index["name"]}")').all())
        connection.exec_driver_sql(
            "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES (?, ?, ?)",
            (table, index["name"], " ".join(["1"] * (columns + 1))),
        )


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def is_up_to_date(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()
