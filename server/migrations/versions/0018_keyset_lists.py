"""the reference-number search in byte order on PostgreSQL, whatever the collation

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 05:00:00.000000

- ix_case_record_ref_bytes (PostgreSQL only): ``case_ref COLLATE "C"``. A search by the
  start of a reference number is a range of this index (``lists.ref_prefix_clause``
  compares in the same collation), exact whatever the database's own collation; the
  unique index, in the database's collation, serves equality and the sort by number.
  SQLite compares text in byte order already (its unique index serves both).
"""
from __future__ import annotations

from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('CREATE INDEX ix_case_record_ref_bytes ON case_record (case_ref COLLATE "C")')


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_index('ix_case_record_ref_bytes', table_name='case_record')
