"""case contribution: the column "error" holds the hold reason; name it so

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 13:30:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The column never held anything but why a contribution waits for a supervisor. A plain
    # RENAME COLUMN on both engines (SQLite 3.25+): no copy of the table.
    op.alter_column('case_contribution', 'error', new_column_name='hold_reason',
                    existing_type=sa.Text(), existing_nullable=True)


def downgrade() -> None:
    op.alter_column('case_contribution', 'hold_reason', new_column_name='error',
                    existing_type=sa.Text(), existing_nullable=True)
