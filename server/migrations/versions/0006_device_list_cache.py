"""device lists: a version counter per source, and the generated lists cached with their MD5

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 19:50:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import server.types

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'list_version',
        sa.Column('source', sa.String(length=40), nullable=False),
        sa.Column('counter', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('source', name=op.f('pk_list_version')),
    )
    op.create_table(
        'device_list_cache',
        sa.Column('list_name', sa.String(length=80), nullable=False),
        sa.Column('scope', sa.String(length=200), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('list_format', sa.Integer(), nullable=False),
        sa.Column('md5', sa.String(length=32), nullable=False),
        sa.Column('content', sa.LargeBinary(), nullable=False),
        sa.Column('created_at', server.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('list_name', 'scope', name=op.f('pk_device_list_cache')),
    )


def downgrade() -> None:
    op.drop_table('device_list_cache')
    op.drop_table('list_version')
