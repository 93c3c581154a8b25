"""the duplicates queue reads a partial index of its own, in its order

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 11:25:00.000000

- ix_case_contribution_duplicates (case_ref, event_at, id, submission_id, state) WHERE
  state = 'duplicate', on both engines. The duplicates queue is listed by reference number;
  SQLite's statistics give each state a third of the contributions (an average: all but a
  few hundred are applied), so it walked every contribution's entry in
  ix_case_contribution_ref_state instead of seeking the few duplicates and sorting them:
  53 ms at a million submissions, and growing with them. The index holds the duplicates
  alone, in the queue's order.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

DUPLICATE = sa.text("state = 'duplicate'")


def upgrade() -> None:
    op.create_index(
        "ix_case_contribution_duplicates",
        "case_contribution",
        ["case_ref", "event_at", "id", "submission_id", "state"],
        unique=False,
        sqlite_where=DUPLICATE,
        postgresql_where=DUPLICATE,
    )
    if op.get_bind().dialect.name == "sqlite":
        # SQLite plans from these figures alone (a deployment's `casework migrate`
        # refreshes both engines' statistics after a migration ran)
        op.execute("ANALYZE case_contribution")


def downgrade() -> None:
    op.drop_index("ix_case_contribution_duplicates", table_name="case_contribution")
