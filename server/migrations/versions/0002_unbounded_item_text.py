"""plan item key; unbounded item title, owner and case risk level

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 09:00:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Free text from the forms must never fail a merge on PostgreSQL (a service's
    # "provider, location" easily passes 200 characters). SQLite copies the tables.
    with op.batch_alter_table('plan_item', schema=None) as batch_op:
        batch_op.add_column(sa.Column('key', sa.Text(), nullable=True))
        batch_op.alter_column('title', existing_type=sa.String(length=500), type_=sa.Text(),
                              existing_nullable=False)
        batch_op.alter_column('owner', existing_type=sa.String(length=200), type_=sa.Text(),
                              existing_nullable=True)

    with op.batch_alter_table('case_record', schema=None) as batch_op:
        batch_op.alter_column('risk_level', existing_type=sa.String(length=20), type_=sa.Text(),
                              existing_nullable=True)


def downgrade() -> None:
    # Longer values are cut to the old lengths.
    with op.batch_alter_table('case_record', schema=None) as batch_op:
        batch_op.alter_column('risk_level', existing_type=sa.Text(), type_=sa.String(length=20),
                              existing_nullable=True, postgresql_using='left(risk_level, 20)')

    with op.batch_alter_table('plan_item', schema=None) as batch_op:
        batch_op.alter_column('owner', existing_type=sa.Text(), type_=sa.String(length=200),
                              existing_nullable=True, postgresql_using='left(owner, 200)')
        batch_op.alter_column('title', existing_type=sa.Text(), type_=sa.String(length=500),
                              existing_nullable=False, postgresql_using='left(title, 500)')
        batch_op.drop_column('key')
