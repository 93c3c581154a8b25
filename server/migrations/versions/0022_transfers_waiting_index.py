"""the dashboard's transfers waiting read a partial index of the pending ones

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 06:35:00.000000

- ix_case_record_transfer_waiting (updated_at, transfer_team) WHERE transfer = 'pending', on
  SQLite. Almost every case has no transfer, so SQLite's statistics make
  ix_case_record_transfer look useless, and the dashboard's list of transfers waiting (oldest
  first) walked every case through ix_case_record_updated: 150 ms at 65 000 cases built
  through the merge. PostgreSQL's statistics know the column is nearly all NULL.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

PENDING = sa.text("transfer = 'pending'")


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    if not _sqlite():
        return
    op.create_index(
        "ix_case_record_transfer_waiting",
        "case_record",
        ["updated_at", "transfer_team"],
        unique=False,
        sqlite_where=PENDING,
    )
    op.execute("ANALYZE case_record")


def downgrade() -> None:
    if _sqlite():
        op.drop_index("ix_case_record_transfer_waiting", table_name="case_record")
