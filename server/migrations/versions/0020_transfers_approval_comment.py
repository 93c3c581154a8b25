"""approval comment and transfer kind: why a supervisor returned a closure or plan, and
what a transfer is to, on the case

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 04:30:00.000000

- case_record.approval_comment: the comment of the return that stands (whitespace runs as
  one space, at most 500 characters), derived by every rebuild from the case's supervisor
  actions (``cases.approvals``); the phones' case list carries it (``approval_comment``)
  so the caseworker reads why, offline.
- case_record.transfer_kind: what the case's transfer is to (caseworker, team or agency),
  derived by every rebuild; a case conference can now ask for a transfer to an outside
  agency that waits for a supervisor, so ``out`` alone no longer says it. Filled from the
  transfers made so far: ``out`` was to an agency, one naming someone to a caseworker,
  another to a team.
- approval_comment is filled for the cases whose approval stands returned, from the
  return that decided the submission shown (``approval_instance_id``), as the rebuild
  would. Text (bounded by the rebuild), like the other answers the case keeps.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

MAX = 500

case_record = sa.table(
    "case_record",
    sa.column("id", sa.Integer()),
    sa.column("approval", sa.String()),
    sa.column("approval_instance_id", sa.String()),
    sa.column("approval_comment", sa.String()),
)
case_action = sa.table(
    "case_action",
    sa.column("id", sa.Integer()),
    sa.column("case_id", sa.Integer()),
    sa.column("kind", sa.String()),
    sa.column("instance_id", sa.String()),  # a marker column since 0012
    sa.column("payload", sa.JSON()),
)


def _bounded(text: str) -> str | None:
    # the same rule as cases.approvals.bounded_comment (kept here: a migration stays as it ran)
    flat = " ".join(text.split())
    if not flat:
        return None
    if len(flat) <= MAX:
        return flat
    cut = flat[: MAX - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > MAX // 2 else cut) + "…"


def _payload(raw: Any) -> dict[str, Any]:
    return json.loads(raw) if isinstance(raw, str) else dict(raw or {})


def upgrade() -> None:
    with op.batch_alter_table("case_record", schema=None) as batch_op:
        batch_op.add_column(sa.Column("approval_comment", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("transfer_kind", sa.String(length=20), nullable=True))
    conn = op.get_bind()
    conn.execute(
        sa.text(
            "UPDATE case_record SET transfer_kind = CASE WHEN transfer = 'out' THEN 'agency' "
            "WHEN transfer_to IS NOT NULL THEN 'caseworker' ELSE 'team' END "
            "WHERE transfer IS NOT NULL"
        )
    )
    returned = conn.execute(
        sa.select(case_record.c.id, case_record.c.approval_instance_id).where(
            case_record.c.approval == "returned"
        )
    ).all()
    for case_id, instance_id in returned:
        actions = conn.execute(
            sa.select(case_action.c.kind, case_action.c.instance_id, case_action.c.payload)
            .where(case_action.c.case_id == case_id, case_action.c.kind.in_(("approve", "return")))
            .order_by(case_action.c.id)
        ).all()
        comment = None
        for kind, decided, raw in actions:
            payload = _payload(raw)
            if (decided or payload.get("instance_id")) == instance_id:
                comment = _bounded(str(payload.get("comment") or "")) if kind == "return" else None
        if comment:
            conn.execute(
                case_record.update()
                .where(case_record.c.id == case_id)
                .values(approval_comment=comment)
            )


def downgrade() -> None:
    # ALTER TABLE … DROP COLUMN (SQLite 3.35 and later) rather than a batch copy of the
    # table, which would lose the case list's expression index on SQLite
    op.execute("ALTER TABLE case_record DROP COLUMN transfer_kind")
    op.execute("ALTER TABLE case_record DROP COLUMN approval_comment")
