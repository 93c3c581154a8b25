"""registration data for reports on the case, and the reports' kept counts

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 23:00:00.000000

- case_record: age_years, age_band, sex, disability, admin1, admin2, intake_concern, the
  registration data the reports count (server/cases/registration.py), derived from the
  case's fields by every rebuild; filled here from the fields the cases hold.
- case_report_count (team of the caseworker, "" for none; dimension; value; month; n): how
  many cases registered in a month fall in each report cell; the Reports page sums these
  rows instead of counting cases (server/cases/report_counts.py keeps them). Filled here
  from the cases, their needs and services and their caseworkers' teams as they stand.

The derivations are the application's pure functions (server.cases.registration), so that
the counts filled here are the ones the merge then keeps.
"""
from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from server.cases.registration import CaseRow, ItemRow, registration, report_keys

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

COLUMNS = ('age_years', 'age_band', 'sex', 'disability', 'admin1', 'admin2', 'intake_concern')
BATCH = 2000

case_record = sa.table(
    'case_record',
    sa.column('id', sa.Integer()),
    sa.column('properties', sa.JSON()),
    sa.column('caseworker_id', sa.Integer()),
    sa.column('opened_at', sa.DateTime(timezone=True)),
    sa.column('risk_level', sa.Text()),
    *(sa.column(c, sa.Integer() if c == 'age_years' else sa.String()) for c in COLUMNS),
)
plan_item = sa.table(
    'plan_item',
    sa.column('id', sa.Integer()),
    sa.column('case_id', sa.Integer()),
    sa.column('kind', sa.String()),
    sa.column('key', sa.Text()),
    sa.column('status', sa.String()),
    sa.column('properties', sa.JSON()),
)
counts = sa.table(
    'case_report_count',
    sa.column('team', sa.String()),
    sa.column('dimension', sa.String()),
    sa.column('value', sa.String()),
    sa.column('month', sa.Date()),
    sa.column('n', sa.Integer()),
)
users = sa.table('user_account', sa.column('id', sa.Integer()), sa.column('team', sa.String()))


def upgrade() -> None:
    with op.batch_alter_table('case_record', schema=None) as batch_op:
        batch_op.add_column(sa.Column('age_years', sa.Integer(), nullable=True))
        for name in COLUMNS[1:]:
            batch_op.add_column(sa.Column(name, sa.String(length=64), nullable=True))
    op.create_table(
        'case_report_count',
        sa.Column('team', sa.String(length=80), nullable=False),
        sa.Column('dimension', sa.String(length=20), nullable=False),
        sa.Column('value', sa.String(length=64), nullable=False),
        sa.Column('month', sa.Date(), nullable=False),
        sa.Column('n', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            'team', 'dimension', 'value', 'month', name=op.f('pk_case_report_count')
        ),
        sqlite_with_rowid=False,
    )
    _fill(op.get_bind())


def _json(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        value = json.loads(value)
    return value if isinstance(value, dict) else {}


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _fill(conn: sa.Connection) -> None:
    """The columns and the counts, a batch of cases (in id order) and their needs and
    services at a time, so that memory does not grow with the database."""
    update = (
        sa.update(case_record)
        .where(case_record.c.id == sa.bindparam('case_id'))
        .values({c: sa.bindparam(f'new_{c}') for c in COLUMNS})
    )
    total: Counter[Any] = Counter()
    last = 0
    while True:
        cases = conn.execute(
            sa.select(case_record.c.id, case_record.c.properties, case_record.c.caseworker_id,
                      case_record.c.opened_at, case_record.c.risk_level)
            .where(case_record.c.id > last)
            .order_by(case_record.c.id)
            .limit(BATCH)
        ).all()
        if not cases:
            break
        first, last = cases[0][0], cases[-1][0]
        items: dict[int, list[ItemRow]] = {}
        for case_id, kind, key, status, properties in conn.execute(
            sa.select(plan_item.c.case_id, plan_item.c.kind, plan_item.c.key,
                      plan_item.c.status, plan_item.c.properties)
            .where(plan_item.c.case_id.between(first, last),
                   plan_item.c.kind.in_(('need', 'service')))
        ):
            items.setdefault(case_id, []).append(ItemRow(kind, key, status, _json(properties)))
        changed = []
        for case_id, properties, caseworker_id, opened_at, risk_level in cases:
            found = registration(_json(properties))
            if any(v is not None for v in found.columns().values()):
                changed.append(
                    {'case_id': case_id, **{f'new_{k}': v for k, v in found.columns().items()}}
                )
            row = CaseRow(caseworker_id, _utc(opened_at), found.age_band, found.sex,
                          found.disability, found.admin1, found.admin2, found.intake_concern,
                          risk_level)
            total.update(report_keys(row, items.get(case_id, ())))
        if changed:
            conn.execute(update, changed)
    teams = {uid: team for uid, team in conn.execute(sa.select(users.c.id, users.c.team))}
    by_team: Counter[Any] = Counter()
    for (cw, month, dim, value), n in total.items():
        by_team[(teams.get(cw) or '', dim, value, month)] += n
    rows = [
        {'team': team, 'dimension': dim, 'value': value, 'month': month, 'n': n}
        for (team, dim, value, month), n in sorted(by_team.items()) if n
    ]
    for start in range(0, len(rows), BATCH):
        conn.execute(sa.insert(counts), rows[start:start + BATCH])


def downgrade() -> None:
    op.drop_table('case_report_count')
    with op.batch_alter_table('case_record', schema=None) as batch_op:
        for name in reversed(COLUMNS):
            batch_op.drop_column(name)
