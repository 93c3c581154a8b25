"""approvals: where a supervisor's approval of a closure or a high-risk plan stands

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 03:00:00.000000

- case_record.approval (pending / approved / returned), approval_kind (closure / plan),
  approval_instance_id, approval_requested_by: derived by every rebuild
  (server/cases/approvals.py); ix_case_record_approval lists the pending ones.
- What took effect before approvals were required stays in effect: every closure and case
  plan already applied to a case is recorded as approved (a ``case_action`` ``approve``
  with no actor, naming what it was (``approval_kind``) and who sent it (``requested_by``),
  marked ``before_approvals`` and its comment saying why: the history reads "Recorded as
  approved when approvals began"), so that a rebuild (``casework reprocess --all``) does
  not reopen a closed case or ask for a plan made before. A submission a supervisor already
  decided (an ``approve`` or ``return`` kept from an earlier upgrade) is left as decided:
  a returned closure stays returned. The case columns stay empty until the case's next
  rebuild, which reads them as approved.
- The downgrade keeps the supervisors' decisions (``approve`` / ``return`` rows, with
  their comments, actors and times: case history): code from before approvals ignores
  those action kinds when it rebuilds a case, and upgrading again finds them.
"""
from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

BATCH = 2000
COMMENT = 'Took effect before approvals were required.'

contribution = sa.table(
    'case_contribution',
    sa.column('id', sa.Integer()),
    sa.column('case_id', sa.Integer()),
    sa.column('form_id', sa.String()),
    sa.column('state', sa.String()),
    sa.column('update', sa.JSON()),
)
action = sa.table(
    'case_action',
    sa.column('case_id', sa.Integer()),
    sa.column('kind', sa.String()),
    sa.column('instance_id', sa.String()),
    sa.column('payload', sa.JSON()),
    sa.column('actor_id', sa.Integer()),
    sa.column('at', sa.DateTime(timezone=True)),
)


def _update(raw: Any) -> dict[str, Any]:
    return json.loads(raw) if isinstance(raw, str) else dict(raw or {})


def upgrade() -> None:
    with op.batch_alter_table('case_record', schema=None) as batch_op:
        batch_op.add_column(sa.Column('approval', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('approval_kind', sa.String(length=20), nullable=True))
        batch_op.add_column(
            sa.Column('approval_instance_id', sa.String(length=255), nullable=True)
        )
        batch_op.add_column(
            sa.Column('approval_requested_by', sa.String(length=80), nullable=True)
        )
        batch_op.create_index('ix_case_record_approval', ['approval'], unique=False)

    conn = op.get_bind()
    now = datetime.now(UTC)
    decided = {
        str(iid)
        for iid in conn.execute(
            sa.select(action.c.instance_id).where(
                action.c.kind.in_(('approve', 'return')), action.c.instance_id.is_not(None)
            )
        ).scalars()
    }
    last = 0
    while True:
        rows = conn.execute(
            sa.select(
                contribution.c.id, contribution.c.case_id, contribution.c.form_id,
                contribution.c.update,
            )
            .where(
                contribution.c.id > last,
                contribution.c.state == 'applied',
                contribution.c.case_id.is_not(None),
            )
            .order_by(contribution.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        last = rows[-1][0]
        approved = []
        for _, case_id, form_id, raw in rows:
            update = _update(raw)
            if update.get('instance_id') in decided:
                continue  # a supervisor's decision already stands
            if update.get('close'):
                kind = 'closure'
            elif update.get('is_plan') or form_id == 'case_plan':
                kind = 'plan'
            else:
                continue
            payload = {'comment': COMMENT, 'approval_kind': kind,
                       'requested_by': update.get('submitter'), 'before_approvals': True}
            approved.append(
                {'case_id': case_id, 'kind': 'approve',
                 'instance_id': update.get('instance_id'),
                 'payload': payload, 'actor_id': None, 'at': now}
            )  # fmt: skip
        if approved:
            conn.execute(action.insert(), approved)


def downgrade() -> None:
    # the approve / return decisions stay (see above): they are the case's history
    op.drop_index('ix_case_record_approval', table_name='case_record')
    # ALTER TABLE … DROP COLUMN (SQLite 3.35 and later) rather than a batch copy of the
    # table, which would lose the case list's expression index on SQLite
    for name in ('approval_requested_by', 'approval_instance_id', 'approval_kind', 'approval'):
        op.execute(f'ALTER TABLE case_record DROP COLUMN {name}')
