"""login throttle by account and address; Digest nonce counts accepted once

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 19:50:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import server.types

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('login_throttle',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('scope', sa.String(length=10), nullable=False),
    sa.Column('username', sa.String(length=80), nullable=True),
    sa.Column('address', sa.String(length=64), nullable=True),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('window_started_at', server.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('locked_until', server.types.UtcDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_login_throttle'))
    )
    op.create_index(op.f('ix_login_throttle_username'), 'login_throttle', ['username'], unique=False)
    op.create_table('digest_nonce_use',
    sa.Column('nonce', sa.String(length=64), nullable=False),
    sa.Column('nc', sa.BigInteger(), nullable=False),
    sa.Column('expires_at', server.types.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('nonce', name=op.f('pk_digest_nonce_use'))
    )
    op.create_index(op.f('ix_digest_nonce_use_expires_at'), 'digest_nonce_use', ['expires_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_digest_nonce_use_expires_at'), table_name='digest_nonce_use')
    op.drop_table('digest_nonce_use')
    op.drop_index(op.f('ix_login_throttle_username'), table_name='login_throttle')
    op.drop_table('login_throttle')
