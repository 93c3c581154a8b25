"""referrals followed to delivery: each service's state, when it was reached, and when the
next is due

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 04:40:00.000000

- plan_item gains the referral columns (``server.cases.referrals``), derived by every
  rebuild for items of kind ``service``: referral_since (when its state was reached),
  referral_due (when the next state is due, by urgency), referral_urgency,
  referral_reason, referral_service (the directory service), referral_ack_hours (referred
  to acknowledged) and referral_steps (every state reached).
- Indexes: the overdue referrals in the order they fell due, and each directory service's
  referrals.
- Existing referrals are carried over: their status codes are the states' own (planned,
  referred, in_progress = service started, delivered, declined), reached when the
  submission that set the status says (its provenance), by whom it says; the next state's
  due date is counted from then by the default table (a ``CASEWORK_REFERRAL_DUE`` setting
  takes effect at the case's next rebuild, or ``casework reprocess --all``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

import server.types
from server.cases.referrals import DEFAULT_REFERRAL_RULES, StateStep, referral_of

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

BATCH = 2000

plan_item = sa.table(
    "plan_item",
    sa.column("id", sa.Integer()),
    sa.column("kind", sa.String()),
    sa.column("status", sa.String()),
    sa.column("properties", sa.JSON()),
    sa.column("provenance", sa.JSON()),
    sa.column("referral_since", server.types.UtcDateTime(timezone=True)),
    sa.column("referral_due", sa.Date()),
    sa.column("referral_urgency", sa.String()),
    sa.column("referral_reason", sa.Text()),
    sa.column("referral_service", sa.String()),
    sa.column("referral_ack_hours", sa.Integer()),
    sa.column("referral_steps", sa.JSON()),
)


def _json(raw: Any) -> dict[str, Any]:
    return json.loads(raw) if isinstance(raw, str) else dict(raw or {})


def _at(value: Any) -> datetime | None:
    try:
        at = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def carried_over(
    status: str, properties: dict[str, Any], provenance: dict[str, Any]
) -> dict[str, Any]:
    """The referral columns of an existing service item, from its status's provenance."""
    prov = provenance.get("status") or {}
    at = _at(prov.get("at")) if prov.get("at") else None
    steps = (
        [StateStep(state=status, at=at, by=prov.get("user"), instance_id=prov.get("instance_id"))]
        if at is not None
        else []
    )
    r = referral_of(status, steps, properties, DEFAULT_REFERRAL_RULES)
    return {
        'referral_since': r.since, 'referral_due': r.due, 'referral_urgency': r.urgency,
        'referral_reason': None, 'referral_service': r.service_id, 'referral_ack_hours': None,
        'referral_steps': [s.to_json() for s in r.steps],
    }  # fmt: skip


COLUMNS = (
    'referral_steps', 'referral_ack_hours', 'referral_service', 'referral_reason',
    'referral_urgency', 'referral_due', 'referral_since',
)  # fmt: skip


def upgrade() -> None:
    # ALTER TABLE … ADD COLUMN, not a batch copy of the table, which would lose the plan
    # items list's expression index on SQLite
    op.add_column(
        "plan_item",
        sa.Column("referral_since", server.types.UtcDateTime(timezone=True), nullable=True),
    )
    op.add_column("plan_item", sa.Column("referral_due", sa.Date(), nullable=True))
    op.add_column("plan_item", sa.Column("referral_urgency", sa.String(length=20), nullable=True))
    op.add_column("plan_item", sa.Column("referral_reason", sa.Text(), nullable=True))
    op.add_column("plan_item", sa.Column("referral_service", sa.String(length=64), nullable=True))
    op.add_column("plan_item", sa.Column("referral_ack_hours", sa.Integer(), nullable=True))
    op.add_column("plan_item", sa.Column("referral_steps", server.types.JsonType, nullable=True))
    op.create_index(
        "ix_plan_item_referral_due", "plan_item", ["referral_due", "id", "case_id", "status"]
    )
    op.create_index(
        'ix_plan_item_referral_service', 'plan_item',
        ['referral_service', 'is_done', 'referral_ack_hours', 'case_id'],
    )  # fmt: skip

    conn = op.get_bind()
    last = 0
    while True:
        rows = conn.execute(
            sa.select(
                plan_item.c.id, plan_item.c.status, plan_item.c.properties, plan_item.c.provenance
            )
            .where(plan_item.c.kind == "service", plan_item.c.id > last)
            .order_by(plan_item.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        last = rows[-1][0]
        for item_id, status, properties, provenance in rows:
            values = carried_over(status or "open", _json(properties), _json(provenance))
            conn.execute(plan_item.update().where(plan_item.c.id == item_id).values(**values))


def downgrade() -> None:
    op.drop_index("ix_plan_item_referral_service", table_name="plan_item")
    op.drop_index("ix_plan_item_referral_due", table_name="plan_item")
    # ALTER TABLE … DROP COLUMN (SQLite 3.35 and later), as 0016 does
    for name in COLUMNS:
        op.execute(f"ALTER TABLE plan_item DROP COLUMN {name}")
