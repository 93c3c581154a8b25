"""indexes for the lists, the dashboard, the case page and the queues

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 19:45:00.000000

Each index serves one query plan, pinned by tests/perf/test_query_plans.py:

- case_contribution (case_id, event_at, id): a case page's timeline;
- case_contribution (state, event_at, id, submission_id): the queues, and their counts
  from the index alone;
- case_record (caseworker_id, status, next_contact_due, last_review_at, opened_at,
  open_conflicts): the dashboard's counts in one pass over the caller's scope (it replaces
  ix_case_caseworker_status, its prefix);
- case_record (coalesce(next_contact_due, '9999-12-31'), case_ref, status, risk_level,
  caseworker_id, next_contact_due): the case list in its order (undated last), its filters
  and its count read from the index alone;
- plan_item (is_done, due_date, case_id, kind) and (case_id, is_done, due_date, kind):
  overdue items, from the items' side or the cases' side;
- audit_event (actor, at) and (target, at): the audit log filtered by who or what.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

LIST_ORDER = "coalesce(next_contact_due, '9999-12-31')"


def upgrade() -> None:
    op.create_index('ix_case_contribution_case', 'case_contribution',
                    ['case_id', 'event_at', 'id'])
    op.create_index('ix_case_contribution_state', 'case_contribution',
                    ['state', 'event_at', 'id', 'submission_id'])
    op.drop_index('ix_case_caseworker_status', table_name='case_record')
    op.create_index('ix_case_record_scope', 'case_record',
                    ['caseworker_id', 'status', 'next_contact_due', 'last_review_at',
                     'opened_at', 'open_conflicts'])
    op.create_index('ix_case_record_list_order', 'case_record',
                    [sa.text(LIST_ORDER), 'case_ref', 'status', 'risk_level', 'caseworker_id',
                     'next_contact_due'])
    op.create_index('ix_plan_item_open_due', 'plan_item',
                    ['is_done', 'due_date', 'case_id', 'kind'])
    op.create_index('ix_plan_item_case_open', 'plan_item',
                    ['case_id', 'is_done', 'due_date', 'kind'])
    op.create_index('ix_audit_event_actor_at', 'audit_event', ['actor', 'at'])
    op.create_index('ix_audit_event_target_at', 'audit_event', ['target', 'at'])


def downgrade() -> None:
    op.drop_index('ix_audit_event_target_at', table_name='audit_event')
    op.drop_index('ix_audit_event_actor_at', table_name='audit_event')
    op.drop_index('ix_plan_item_case_open', table_name='plan_item')
    op.drop_index('ix_plan_item_open_due', table_name='plan_item')
    op.drop_index('ix_case_record_list_order', table_name='case_record')
    op.drop_index('ix_case_record_scope', table_name='case_record')
    op.create_index('ix_case_caseworker_status', 'case_record', ['caseworker_id', 'status'])
    op.drop_index('ix_case_contribution_state', table_name='case_contribution')
    op.drop_index('ix_case_contribution_case', table_name='case_contribution')
