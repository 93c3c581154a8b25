"""worker safety: the latest contact or attempt at which the caseworker did not feel safe

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 02:00:00.000000

- case_record.worker_unsafe_at, worker_unsafe_by: when, and by whom, the latest contact log
  of the case said the caseworker did not feel safe (the role ``worker_safe``), derived by
  every rebuild from the case's contributions; the supervisor's dashboard lists the recent
  ones (ix_case_record_worker_unsafe).

Nothing to fill: no form asked the question before this version, so no stored contribution
says it (``casework reprocess --all`` derives the columns from the contributions anyway).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import server.types

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('case_record', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('worker_unsafe_at', server.types.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column('worker_unsafe_by', sa.String(length=80), nullable=True))
        batch_op.create_index('ix_case_record_worker_unsafe', ['worker_unsafe_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_case_record_worker_unsafe', table_name='case_record')
    # ALTER TABLE … DROP COLUMN (SQLite 3.35 and later) rather than a batch copy of the
    # table, which would lose the case list's expression index on SQLite
    for name in ('worker_unsafe_by', 'worker_unsafe_at'):
        op.execute(f'ALTER TABLE case_record DROP COLUMN {name}')
