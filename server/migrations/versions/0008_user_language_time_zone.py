"""user account: the language and time zone each user chose for the web pages

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 20:30:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Both empty for every existing account: the browser's language and the organisation's
    # time zone, as before. Plain nullable ADD COLUMNs: no copy of the table.
    op.add_column('user_account', sa.Column('language', sa.String(length=10), nullable=True))
    op.add_column('user_account', sa.Column('time_zone', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('user_account') as batch:
        batch.drop_column('time_zone')
        batch.drop_column('language')
