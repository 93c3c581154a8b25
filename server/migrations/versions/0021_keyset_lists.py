"""the reference-number search in byte order on PostgreSQL; a case's safety report read
from its alerts

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 05:00:00.000000

- ix_case_record_ref_bytes (PostgreSQL only): ``case_ref COLLATE "C"``. A search by the
  start of a reference number is a range of this index (``lists.ref_prefix_clause``
  compares in the same collation), exact whatever the database's own collation; the
  unique index, in the database's collation, serves equality and the sort by number.
  SQLite compares text in byte order already (its unique index serves both).
- case_record.worker_unsafe_at / worker_unsafe_by (0013) and their index go: they said
  again what worker_safety_alert (0017) holds. The case's latest report is its latest
  alert among the submissions applied to it. Going down, the columns are filled from
  the alerts that way.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import server.types

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

# The case's latest alert among its applied submissions (``queries.latest_worker_safety_alert``).
LATEST_ALERT = (
    "SELECT a.{column} FROM worker_safety_alert a"
    " JOIN case_contribution c ON c.submission_id = a.submission_id"
    " WHERE c.case_id = case_record.id AND c.state = 'applied'"
    " ORDER BY a.event_at DESC, a.id DESC LIMIT 1"
)


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('CREATE INDEX ix_case_record_ref_bytes ON case_record (case_ref COLLATE "C")')
    op.drop_index('ix_case_record_worker_unsafe', table_name='case_record')
    # ALTER TABLE … DROP COLUMN (SQLite 3.35 and later) rather than a batch copy of the
    # table, which would lose the case list's expression indexes on SQLite
    for name in ('worker_unsafe_by', 'worker_unsafe_at'):
        op.execute(f'ALTER TABLE case_record DROP COLUMN {name}')


def downgrade() -> None:
    op.add_column(
        'case_record',
        sa.Column('worker_unsafe_at', server.types.UtcDateTime(timezone=True), nullable=True),
    )
    op.add_column('case_record', sa.Column('worker_unsafe_by', sa.String(length=80), nullable=True))
    op.execute(
        "UPDATE case_record SET"
        f" worker_unsafe_at = ({LATEST_ALERT.format(column='event_at')}),"
        f" worker_unsafe_by = ({LATEST_ALERT.format(column='worker')})"
    )
    op.create_index('ix_case_record_worker_unsafe', 'case_record', ['worker_unsafe_at'])
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_index('ix_case_record_ref_bytes', table_name='case_record')
