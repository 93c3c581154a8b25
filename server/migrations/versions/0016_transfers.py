"""transfers: where a case's transfer to another caseworker, team or agency stands

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 03:00:00.000000

- case_record.transfer, transfer_team, transfer_to, transfer_requested_by: the latest
  transfer of the case (pending / accepted / declined / out), the receiving team, the
  caseworker or agency asked for and the supervisor who asked, derived by every rebuild from
  the case's supervisor actions (``cases.transfers``); the receiving supervisor's dashboard
  lists the pending ones (ix_case_record_transfer).

Nothing to fill: no transfer could be asked before this version, so no stored action is
one (``casework reprocess --all`` derives the columns from the actions anyway).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

COLUMNS = ("transfer_requested_by", "transfer_to", "transfer_team", "transfer")


def upgrade() -> None:
    with op.batch_alter_table("case_record", schema=None) as batch_op:
        batch_op.add_column(sa.Column("transfer", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("transfer_team", sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column("transfer_to", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("transfer_requested_by", sa.String(length=80), nullable=True))
        batch_op.create_index(
            "ix_case_record_transfer", ["transfer", "transfer_team"], unique=False
        )


def downgrade() -> None:
    op.drop_index("ix_case_record_transfer", table_name="case_record")
    # ALTER TABLE … DROP COLUMN (SQLite 3.35 and later) rather than a batch copy of the
    # table, which would lose the case list's expression index on SQLite
    for name in COLUMNS:
        op.execute(f"ALTER TABLE case_record DROP COLUMN {name}")
