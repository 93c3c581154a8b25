"""plan items due per caseworker, day and kind, for the dashboard's overdue counts

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 20:50:00.000000

plan_item_due_count (caseworker_id, 0 for none; due_date; kind; n): how many open items
of open cases fall due each day. The dashboard sums the rows before today, instead of
counting every overdue item; the merge keeps it (server/cases/item_counts.py). Filled here
from the items as they stand.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'plan_item_due_count',
        sa.Column('caseworker_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('due_date', sa.Date(), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('n', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            'caseworker_id', 'due_date', 'kind', name=op.f('pk_plan_item_due_count')
        ),
        sqlite_with_rowid=False,
    )
    op.execute(
        "INSERT INTO plan_item_due_count (caseworker_id, due_date, kind, n) "
        "SELECT coalesce(c.caseworker_id, 0), p.due_date, p.kind, count(*) "
        "FROM plan_item p JOIN case_record c ON c.id = p.case_id "
        "WHERE c.status = 'open' AND p.is_done = false AND p.due_date IS NOT NULL "
        "GROUP BY coalesce(c.caseworker_id, 0), p.due_date, p.kind"
    )


def downgrade() -> None:
    op.drop_table('plan_item_due_count')
