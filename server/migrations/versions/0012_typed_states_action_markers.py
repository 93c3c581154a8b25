"""case_action markers as columns: whom a case was reassigned to, the submission a decision
moved, and the entity of a duplicate registration merged in

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 02:00:00.000000

These were keys of the decision's JSON payload, which the phones' lists looked up with a
JSON path that no index serves. They move to columns (and out of the payload), row by row
so that the same code runs on SQLite and PostgreSQL.
"""
from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

MARKERS = ('username', 'instance_id', 'entity_id')


def _as_dict(payload: Any) -> dict[str, Any]:
    if isinstance(payload, str):  # SQLite hands JSON back as text through a plain select
        payload = json.loads(payload)
    return dict(payload or {})


def upgrade() -> None:
    with op.batch_alter_table('case_action') as batch:
        batch.add_column(sa.Column('username', sa.String(length=80), nullable=True))
        batch.add_column(sa.Column('instance_id', sa.String(length=255), nullable=True))
        batch.add_column(sa.Column('entity_id', sa.String(length=64), nullable=True))
        batch.create_index('ix_case_action_username', ['username'])
        batch.create_index('ix_case_action_entity_id', ['entity_id'])
    conn = op.get_bind()
    rows = conn.execute(sa.text('SELECT id, payload FROM case_action')).all()
    for action_id, raw in rows:
        payload = _as_dict(raw)
        if not any(k in payload for k in MARKERS):
            continue
        values = {k: payload.pop(k, None) for k in MARKERS}
        values = {k: (str(v) if v is not None else None) for k, v in values.items()}
        conn.execute(
            sa.text(
                'UPDATE case_action SET username = :username, instance_id = :instance_id,'
                ' entity_id = :entity_id, payload = :payload WHERE id = :id'
            ).bindparams(sa.bindparam('payload', type_=_json_type(conn))),
            {**values, 'payload': payload, 'id': action_id},
        )


def _json_type(conn: sa.Connection) -> sa.types.TypeEngine[Any]:
    if conn.dialect.name == 'postgresql':
        return JSONB()
    return sa.JSON()


def downgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.text('SELECT id, payload, username, instance_id, entity_id FROM case_action')
    ).all()
    for action_id, raw, *markers in rows:
        payload = _as_dict(raw)
        payload.update({k: v for k, v in zip(MARKERS, markers, strict=True) if v is not None})
        conn.execute(
            sa.text('UPDATE case_action SET payload = :payload WHERE id = :id').bindparams(
                sa.bindparam('payload', type_=_json_type(conn))
            ),
            {'payload': payload, 'id': action_id},
        )
    with op.batch_alter_table('case_action') as batch:
        batch.drop_index('ix_case_action_entity_id')
        batch.drop_index('ix_case_action_username')
        batch.drop_column('entity_id')
        batch.drop_column('instance_id')
        batch.drop_column('username')
