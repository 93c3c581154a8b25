"""worker safety alerts: one per report, kept with the worker, their team and when received

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 03:30:00.000000

- worker_safety_alert: a submission whose caseworker said they did not feel safe, recorded
  when it arrives whatever its routing (applied, or held in the unlinked queue), with the
  worker, the worker's team at the time and when the server received it. The dashboard
  shows a supervisor the alerts of their team's workers received in the last 30 days, so
  a reassigned case does not take the alert to another team, a report held for a
  supervisor still alerts, and a report sent late from a phone offline still shows.
- Filled from the stored contributions that say so (``worker_unsafe`` in their update),
  held ones included; the team is the worker's team now (the best the database knows).
  The case columns ``worker_unsafe_at`` / ``worker_unsafe_by`` (0013) stay: the case's own
  latest report, shown on the case.
"""
from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

import server.types

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

BATCH = 2000

contribution = sa.table(
    'case_contribution',
    sa.column('id', sa.Integer()),
    sa.column('submission_id', sa.Integer()),
    sa.column('case_ref', sa.String()),
    sa.column('update', sa.JSON()),
)
submission = sa.table(
    'submission',
    sa.column('id', sa.Integer()),
    sa.column('submitter_id', sa.Integer()),
    sa.column('received_at', server.types.UtcDateTime(timezone=True)),
)
user = sa.table(
    'user_account',
    sa.column('id', sa.Integer()),
    sa.column('username', sa.String()),
    sa.column('team', sa.String()),
)


def _update(raw: Any) -> dict[str, Any]:
    return json.loads(raw) if isinstance(raw, str) else dict(raw or {})


def _aware(value: str) -> datetime:
    at = datetime.fromisoformat(value)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def upgrade() -> None:
    alert = op.create_table(
        'worker_safety_alert',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('submission_id', sa.Integer(), nullable=False),
        sa.Column('case_ref', sa.String(length=120), nullable=False),
        sa.Column('worker_id', sa.Integer(), nullable=True),
        sa.Column('worker', sa.String(length=80), nullable=True),
        sa.Column('team', sa.String(length=80), nullable=True),
        sa.Column('event_at', server.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column('received_at', server.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column('attempt', sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(
            ['submission_id'], ['submission.id'],
            name=op.f('fk_worker_safety_alert_submission_id_submission'),
        ),
        sa.ForeignKeyConstraint(
            ['worker_id'], ['user_account.id'],
            name=op.f('fk_worker_safety_alert_worker_id_user_account'),
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_worker_safety_alert')),
        sa.UniqueConstraint('submission_id', name=op.f('uq_worker_safety_alert_submission_id')),
    )  # fmt: skip
    with op.batch_alter_table('worker_safety_alert', schema=None) as batch_op:
        batch_op.create_index(
            'ix_worker_safety_alert_team_received', ['team', 'received_at'], unique=False
        )
        batch_op.create_index(
            'ix_worker_safety_alert_received', ['received_at'], unique=False
        )
        batch_op.create_index(
            batch_op.f('ix_worker_safety_alert_worker_id'), ['worker_id'], unique=False
        )

    conn = op.get_bind()
    last = 0
    while True:
        rows = conn.execute(
            sa.select(
                contribution.c.id, contribution.c.submission_id, contribution.c.case_ref,
                contribution.c.update, submission.c.received_at, user.c.id, user.c.username,
                user.c.team,
            )
            .select_from(contribution)
            .join(submission, submission.c.id == contribution.c.submission_id)
            .outerjoin(user, user.c.id == submission.c.submitter_id)
            .where(contribution.c.id > last)
            .order_by(contribution.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        last = rows[-1][0]
        alerts = []
        for _, submission_id, case_ref, raw, received_at, user_id, username, team in rows:
            update = _update(raw)
            if not update.get('worker_unsafe') or not update.get('event_at'):
                continue
            alerts.append(
                {'submission_id': submission_id, 'case_ref': case_ref or update.get('case_ref'),
                 'worker_id': user_id, 'worker': username or update.get('submitter'),
                 'team': team, 'event_at': _aware(update['event_at']),
                 'received_at': received_at, 'attempt': update.get('attempt') or None}
            )  # fmt: skip
        if alerts:
            conn.execute(alert.insert(), alerts)


def downgrade() -> None:
    with op.batch_alter_table('worker_safety_alert', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_worker_safety_alert_worker_id'))
        batch_op.drop_index('ix_worker_safety_alert_received')
        batch_op.drop_index('ix_worker_safety_alert_team_received')
    op.drop_table('worker_safety_alert')
