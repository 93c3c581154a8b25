"""The dashboard's overdue plan items, counted as they change rather than when asked.

``plan_item_due_count`` holds, per (caseworker, due date, kind), how many open items of
open cases fall due that day. "Overdue as of today" is then the sum of the rows dated
before today: a few rows per caseworker and day, whatever the number of items, where a
count reads every overdue item (300 000 at 100 000 cases).

Everything the count depends on (an item's kind, due date and done flag, its case's
status and caseworker) is written only by the rebuild of the case, so the rebuild keeps
it: :func:`case_counts` before its writes, :func:`note_change` after them, which records
the difference. A user's team is not in the key: a supervisor's scope is read at query
time as the team's caseworker ids.

The differences are applied just before COMMIT, in key order (``cases.pending_counts``).
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

from sqlalchemy import Connection, bindparam, func, select
from sqlalchemy.orm import Session

from server.cases.models import Case, CaseStatus, PlanItem
from server.cases.pending_counts import PendingCounts

# (caseworker id, 0 for none; due date; kind)
Key = tuple[int, date, str]


_UPSERT = (
    "INSERT INTO plan_item_due_count (caseworker_id, due_date, kind, n) "
    "VALUES ({p}, {p}, {p}, {p}) "
    "ON CONFLICT (caseworker_id, due_date, kind) "
    "DO UPDATE SET n = plan_item_due_count.n + excluded.n"
)
_DROP_EMPTY = (
    "DELETE FROM plan_item_due_count "
    "WHERE caseworker_id = {p} AND due_date = {p} AND kind = {p} AND n = 0"
)


# Built once: it runs twice in every merge.
_CASE_COUNTS = (
    select(Case.caseworker_id, PlanItem.due_date, PlanItem.kind, func.count())
    .select_from(Case)
    .join(PlanItem, PlanItem.case_id == Case.id)
    .where(
        Case.id == bindparam("case_id"),
        Case.status == CaseStatus.OPEN,
        PlanItem.is_done.is_(False),
        PlanItem.due_date.is_not(None),
    )
    .group_by(Case.caseworker_id, PlanItem.due_date, PlanItem.kind)
)


def case_counts(session: Session, case_id: int | None) -> Counter[Key]:
    """The rows this case adds to the counts as it is stored now (nothing if it is not
    open): one read of ``ix_plan_item_case_open``."""
    if case_id is None:
        return Counter()
    rows = session.connection().execute(_CASE_COUNTS, {"case_id": case_id})
    return Counter({_key(row): int(row[3]) for row in rows})


def note_change(session: Session, case_id: int | None, before: Counter[Key]) -> None:
    """Record what the case's writes changed in the counts (``before``: its
    :func:`case_counts` before them); applied at commit."""
    _PENDING.note(session, case_counts(session, case_id), before)


def recount(session: Session) -> dict[Key, int]:
    """The counts as a direct count of the items computes them (for checks and repairs)."""
    stmt = (
        select(Case.caseworker_id, PlanItem.due_date, PlanItem.kind, func.count())
        .select_from(PlanItem)
        .join(Case, Case.id == PlanItem.case_id)
        .where(
            Case.status == CaseStatus.OPEN,
            PlanItem.is_done.is_(False),
            PlanItem.due_date.is_not(None),
        )
        .group_by(Case.caseworker_id, PlanItem.due_date, PlanItem.kind)
    )
    return {_key(row): int(row[3]) for row in session.execute(stmt)}


def _key(row: Any) -> Key:
    return (int(row[0] or 0), row[1], str(row[2]))  # 0: no caseworker


def _write(conn: Connection, total: Counter[Key]) -> None:
    changes = sorted(total.items())
    p = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    on_sqlite = conn.dialect.name == "sqlite"

    def day(d: date) -> Any:
        return d.isoformat() if on_sqlite else d  # as SQLAlchemy stores a Date there

    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(_UPSERT.format(p=p), [(cw, day(d), k, n) for (cw, d, k), n in changes])
        emptied = [(cw, day(d), k) for (cw, d, k), n in changes if n < 0]
        if emptied:
            cursor.executemany(_DROP_EMPTY.format(p=p), emptied)
    finally:
        cursor.close()


_PENDING: PendingCounts[Key] = PendingCounts("plan_item_due", _write)
