"""the worklist and the lists' sorts and filters

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 02:00:00.000000

- case_record.safety_plan_review_due: when the child's safety plan is next reviewed (the
  case field ``safety_plan_review_date``, server/cases/registration.py), derived by every
  rebuild; filled here from the fields the cases hold. The dashboard counts the plans due
  in its one pass over ix_case_record_scope, which now ends with this column.
- case_record (coalesce(next_contact_due, '9999-12-31'), case_ref, then every column the
  case list filters on): the case list's index now holds team, conflicts, the dates and the
  safety plan's review too, so that each filter and the bounded count read its entries,
  never a case's row;
- case_record (risk rank, coalesce(next_contact_due, '9999-12-31'), case_ref, the same
  columns): the worklist's contacts and the case list sorted by risk, high first;
- case_record (opened_at | last_contact_at | updated_at | team | open_conflicts, case_ref,
  status, caseworker_id, next_contact_due) and (status, case_ref, caseworker_id): the case list sorted by
  those columns, a page read in the index's order with the scope told from its entries
  (the cases with a conflict to resolve are a range of the conflicts' one);
- plan_item (coalesce(due_date, '9999-12-31'), id, kind, is_done, status, case_id,
  due_date): the plan-items and referrals pages in their order (undated last), filtered
  on the entries.

Each is pinned by tests/perf/test_query_plans.py.
"""
from __future__ import annotations

import json
from datetime import date
from typing import Any

import sqlalchemy as sa
from alembic import op

from server.cases.registration import safety_plan_review_due

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

BATCH = 2000
LIST_DUE = "coalesce(next_contact_due, '9999-12-31')"
RISK_RANK = (
    "(CASE risk_level WHEN 'high' THEN 0 WHEN 'medium' THEN 1 WHEN 'low' THEN 2 ELSE 3 END)"
)
ITEM_DUE = "coalesce(due_date, '9999-12-31')"
# what the case lists filter on, after their sort keys (server/cases/models.py)
FILTERS = ['status', 'risk_level', 'caseworker_id', 'next_contact_due', 'team',
           'open_conflicts', 'opened_at', 'last_contact_at', 'last_review_at',
           'safety_plan_review_due']
# after a one-column sort key: a team's or caseworker's page told from the entries
SORT_SCOPE = ['status', 'caseworker_id', 'next_contact_due']
SORTS = [('opened', 'opened_at'), ('last_contact', 'last_contact_at'), ('updated', 'updated_at'),
         ('team', 'team'), ('conflicts', 'open_conflicts')]
SCOPE = ['caseworker_id', 'status', 'next_contact_due', 'last_review_at', 'opened_at',
         'open_conflicts']

case_record = sa.table(
    'case_record',
    sa.column('id', sa.Integer()),
    sa.column('properties', sa.JSON()),
    sa.column('safety_plan_review_due', sa.Date()),
)


def upgrade() -> None:
    with op.batch_alter_table('case_record', schema=None) as batch_op:
        batch_op.add_column(sa.Column('safety_plan_review_due', sa.Date(), nullable=True))
    _fill(op.get_bind())
    op.drop_index('ix_case_record_scope', table_name='case_record')
    op.create_index('ix_case_record_scope', 'case_record', [*SCOPE, 'safety_plan_review_due'])
    op.drop_index('ix_case_record_list_order', table_name='case_record')
    op.create_index('ix_case_record_list_order', 'case_record',
                    [sa.text(LIST_DUE), 'case_ref', *FILTERS])
    op.create_index('ix_case_record_risk_order', 'case_record',
                    [sa.text(RISK_RANK), sa.text(LIST_DUE), 'case_ref', *FILTERS])
    for name, column in SORTS:
        op.create_index(f'ix_case_record_{name}', 'case_record', [column, 'case_ref', *SORT_SCOPE])
    op.create_index('ix_case_record_status', 'case_record', ['status', 'case_ref', 'caseworker_id'])
    op.create_index('ix_plan_item_list', 'plan_item',
                    [sa.text(ITEM_DUE), 'id', 'kind', 'is_done', 'status', 'case_id',
                     'due_date'])


def _json(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        value = json.loads(value)
    return value if isinstance(value, dict) else {}


def _fill(conn: sa.Connection) -> None:
    """The column from each case's fields, a batch of cases (in id order) at a time."""
    update = (
        sa.update(case_record)
        .where(case_record.c.id == sa.bindparam('case_id'))
        .values(safety_plan_review_due=sa.bindparam('due'))
    )
    last = 0
    while True:
        cases = conn.execute(
            sa.select(case_record.c.id, case_record.c.properties)
            .where(case_record.c.id > last)
            .order_by(case_record.c.id)
            .limit(BATCH)
        ).all()
        if not cases:
            break
        last = cases[-1][0]
        changed: list[dict[str, date | int]] = []
        for case_id, properties in cases:
            due = safety_plan_review_due(_json(properties))
            if due is not None:
                changed.append({'case_id': case_id, 'due': due})
        if changed:
            conn.execute(update, changed)


def downgrade() -> None:
    op.drop_index('ix_plan_item_list', table_name='plan_item')
    op.drop_index('ix_case_record_conflicts', table_name='case_record')
    op.drop_index('ix_case_record_team', table_name='case_record')
    op.drop_index('ix_case_record_status', table_name='case_record')
    op.drop_index('ix_case_record_updated', table_name='case_record')
    op.drop_index('ix_case_record_last_contact', table_name='case_record')
    op.drop_index('ix_case_record_opened', table_name='case_record')
    op.drop_index('ix_case_record_risk_order', table_name='case_record')
    op.drop_index('ix_case_record_list_order', table_name='case_record')
    op.create_index('ix_case_record_list_order', 'case_record',
                    [sa.text(LIST_DUE), 'case_ref', *FILTERS[:4]])
    op.drop_index('ix_case_record_scope', table_name='case_record')
    op.create_index('ix_case_record_scope', 'case_record', SCOPE)
    # ALTER TABLE … DROP COLUMN (SQLite 3.35 and later) rather than a batch copy of the
    # table, which would lose the case list's expression index on SQLite
    op.execute('ALTER TABLE case_record DROP COLUMN safety_plan_review_due')
