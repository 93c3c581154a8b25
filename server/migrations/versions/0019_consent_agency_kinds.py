"""consent: the consent in force on a case, held referrals, and the agency of each service

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 04:30:00.000000

- case_record.consent, consent_share, consent_history: the consent in force (given /
  not_possible / withdrawn / extended), the kinds of agency information may be shared with,
  and what each submission that touched consent left in force, derived by every rebuild
  from the case's fields (``cases.consent``). No form recorded consent before this version,
  so existing cases have none (NULL); ``casework reprocess --all`` derives them anyway.
- plan_item.held: a referral to an outside agency that the consent in force does not
  cover, flagged for a supervisor (ix_plan_item_held: the worklist's few). False for
  existing items until their case is next rebuilt.
- service.agency_kind, service.internal: the kind of agency a service belongs to and
  whether it is our own agency. Existing services get the kind their category implies
  (health, education, legal aid -> justice, cash assistance and alternative care -> social
  protection, any other -> ngo) and are outside agencies (internal = false): an admin
  marks the agency's own services in the directory.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import server.types

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

KIND_BY_CATEGORY = {
    "health": "health",
    "education": "education",
    "legal_aid": "justice",
    "cash_assistance": "social_protection",
    "alternative_care": "social_protection",
}


def upgrade() -> None:
    op.add_column("case_record", sa.Column("consent", sa.String(length=20), nullable=True))
    op.add_column("case_record", sa.Column("consent_share", sa.String(length=200), nullable=True))
    op.add_column(
        "case_record", sa.Column("consent_history", server.types.JsonType, nullable=True)
    )
    op.add_column(
        "plan_item",
        sa.Column("held", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_plan_item_held", "plan_item", ["held", "case_id"], unique=False)
    op.add_column(
        "service",
        sa.Column("agency_kind", sa.String(length=40), nullable=False, server_default="ngo"),
    )
    op.add_column(
        "service",
        sa.Column("internal", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    service = sa.table("service", sa.column("category", sa.String()), sa.column("agency_kind"))
    for category, kind in KIND_BY_CATEGORY.items():
        op.execute(
            service.update().where(service.c.category == category).values(agency_kind=kind)
        )


def downgrade() -> None:
    op.drop_index("ix_plan_item_held", table_name="plan_item")
    # ALTER TABLE … DROP COLUMN (SQLite 3.35 and later) rather than a batch copy of the
    # table, which would lose the case list's expression index on SQLite
    for table, name in (
        ("service", "internal"),
        ("service", "agency_kind"),
        ("plan_item", "held"),
        ("case_record", "consent_history"),
        ("case_record", "consent_share"),
        ("case_record", "consent"),
    ):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {name}")
