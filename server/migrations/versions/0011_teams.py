"""teams: the list of teams an admin keeps, which users' teams are chosen from

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 10:00:00.000000

A user's team stays a name on the account (every scope rule compares names); the names
become a list an admin adds to, so that a mistyped name cannot start a team. Filled here
with every team name accounts already carry.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import server.types

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'team',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=80), nullable=False),
        sa.Column('created_at', server.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_team')),
        sa.UniqueConstraint('name', name=op.f('uq_team_name')),
    )
    op.execute(
        "INSERT INTO team (name, created_at) "
        "SELECT team, min(created_at) FROM user_account "
        "WHERE team IS NOT NULL AND team <> '' GROUP BY team ORDER BY team"
    )


def downgrade() -> None:
    op.drop_table('team')
