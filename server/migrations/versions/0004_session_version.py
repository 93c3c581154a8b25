"""user account: a session generation, raised to end every session of the account

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 19:45:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Session cookies now name the generation they were signed for; cookies from before
    # this change name none and are refused, so everyone signs in once more. A plain ADD
    # COLUMN with a default on both engines: no copy of the table.
    op.add_column(
        'user_account',
        sa.Column('session_version', sa.Integer(), nullable=False, server_default='0'),
    )


def downgrade() -> None:
    with op.batch_alter_table('user_account') as batch:
        batch.drop_column('session_version')
