"""The reports' counts, kept as cases change rather than counted when asked.

``case_report_count`` holds, per (team, report cell, month of registration), how many cases
fall in that cell (``cases.registration.report_keys``: age band, sex, disability, region,
district, intake concern and risk once per case; each need and service category once per
case; each service by its status). The team is the case's caseworker's team now ("" for
no caseworker or a caseworker without a team), as the scope rule reads it. A report over a
range of months then sums a few rows per team and cell (20 000 at 100 000 cases and 20
teams), read in the key's order so that they come out grouped: counting the cases reads
100 000 index entries per breakdown.

Everything a case's cells depend on (its caseworker, opening time, report columns, risk
and plan items) is written only by the rebuild of the case, so the rebuild keeps them, as
``cases.item_counts`` keeps the overdue items: :func:`case_counts` before its writes,
:func:`note_change` after them, by caseworker. Just before COMMIT the differences are
filed under each caseworker's team, read then, and applied in key order; a savepoint
rolled back (a merge that failed, a preview) takes its differences with it.

A caseworker who changes team takes their cases' cells along (:func:`move_caseworker`, in
the same transaction as the change, once the flush has written the user's row: a session
hook here sees the change, so the accounts code below the cases needs no call up to them).
On PostgreSQL the two cannot cross: the change holds
the user's row, and a merge files its differences only after reading the row ``FOR
SHARE``, so a merge either commits before the change (whose move then carries its cells)
or reads the new team.
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    bindparam,
    event,
    func,
    inspect,
    or_,
    select,
)
from sqlalchemy.orm import Session

from server.auth.models import User
from server.cases.models import Case, CaseReportCount, PlanItem
from server.cases.pending_counts import PendingCounts
from server.cases.registration import CaseRow, ItemRow, ReportKey, report_keys

# (team, "" for none; dimension; value; month)
TeamKey = tuple[str, str, str, date]


_UPSERT = (
    "INSERT INTO case_report_count (team, dimension, value, month, n) "
    "VALUES ({p}, {p}, {p}, {p}, {p}) "
    "ON CONFLICT (team, dimension, value, month) "
    "DO UPDATE SET n = case_report_count.n + excluded.n"
)
_DROP_EMPTY = (
    "DELETE FROM case_report_count "
    "WHERE team = {p} AND dimension = {p} AND value = {p} AND month = {p} AND n = 0"
)

_CASE_COLUMNS = (
    Case.caseworker_id,
    Case.opened_at,
    Case.age_band,
    Case.sex,
    Case.disability,
    Case.admin1,
    Case.admin2,
    Case.intake_concern,
    Case.risk_level,
)
_ITEM_COLUMNS = (PlanItem.kind, PlanItem.key, PlanItem.status, PlanItem.properties)
# Built once: it runs twice in every merge. The case's row and its needs and services in
# one statement (through ``ix_plan_item_case_open``).
_CASE_WITH_ITEMS = (
    select(*_CASE_COLUMNS, *_ITEM_COLUMNS)
    .select_from(Case)
    .outerjoin(PlanItem, (PlanItem.case_id == Case.id) & PlanItem.kind.in_(("need", "service")))
    .where(Case.id == bindparam("case_id"))
)


def case_counts(session: Session, case_id: int | None) -> Counter[ReportKey]:
    """The cells this case adds to as it is stored now, under its caseworker."""
    if case_id is None:
        return Counter()
    rows = session.connection().execute(_CASE_WITH_ITEMS, {"case_id": case_id}).all()
    if not rows:
        return Counter()
    width = len(_CASE_COLUMNS)
    case = CaseRow(*rows[0][:width])
    items = [ItemRow(k, key, status, props or {}) for k, key, status, props in (
        r[width:] for r in rows if r[width] is not None
    )]  # fmt: skip
    return report_keys(case, items)


def note_change(session: Session, case_id: int | None, before: Counter[ReportKey]) -> None:
    """Record what the case's writes changed in the counts (``before``: its
    :func:`case_counts` before them); filed under the teams and applied at commit."""
    _PENDING.note(session, case_counts(session, case_id), before)


def caseworker_counts(
    session: Session, caseworker_ids: set[int] | None = None
) -> Counter[ReportKey]:
    """The cells of every case (or of these caseworkers' cases; 0: the unassigned ones) as
    the cases compute them now, by caseworker."""
    total: Counter[ReportKey] = Counter()
    cases = select(Case.id, *_CASE_COLUMNS)
    items_stmt = select(PlanItem.case_id, *_ITEM_COLUMNS).where(
        PlanItem.kind.in_(("need", "service"))
    )
    if caseworker_ids is not None:
        ids = sorted(i for i in caseworker_ids if i)
        owned: ColumnElement[bool] = Case.caseworker_id.in_(ids)
        if 0 in caseworker_ids:
            owned = or_(owned, Case.caseworker_id.is_(None))
        cases = cases.where(owned)
        items_stmt = items_stmt.where(PlanItem.case_id.in_(select(Case.id).where(owned)))
    items: dict[int, list[ItemRow]] = {}
    for case_id, kind, key, status, props in session.execute(
        items_stmt.order_by(PlanItem.case_id, PlanItem.id)
    ):
        items.setdefault(case_id, []).append(ItemRow(kind, key, status, props or {}))
    for case_id, *columns in session.execute(cases):
        total.update(report_keys(CaseRow(*columns), items.get(case_id, ())))
    return total


def by_team(counts: Counter[ReportKey], teams: dict[int, str | None]) -> dict[TeamKey, int]:
    """Counts by caseworker filed under each caseworker's team ("" for none)."""
    out: Counter[TeamKey] = Counter()
    for (cw, month, dim, value), n in counts.items():
        out[(teams.get(cw) or "", dim, value, month)] += n
    return {k: n for k, n in out.items() if n}


def recount(session: Session) -> dict[TeamKey, int]:
    """The counts as the cases and the users' teams give them now (checks and repairs)."""
    teams = {row[0]: row[1] for row in session.execute(select(User.id, User.team))}
    return by_team(caseworker_counts(session), teams)


def move_caseworker(
    session: Session, user_id: int, old_team: str | None, new_team: str | None
) -> None:
    """File the cells of a caseworker's cases under their new team: called in the
    transaction that changes the team, after the user's row is written (and so held)."""
    if (old_team or "") == (new_team or ""):
        return
    cells = caseworker_counts(session, {user_id})
    moved: Counter[TeamKey] = Counter()
    for (_, month, dim, value), n in cells.items():
        moved[(old_team or "", dim, value, month)] -= n
        moved[(new_team or "", dim, value, month)] += n
    _write(session.connection(), sorted((k, n) for k, n in moved.items() if n))


@event.listens_for(Session, "after_flush")
def _move_team_changes(session: Session, _context: Any) -> None:
    """Each user whose team the flush changed takes their cases' cells to the new team."""
    for user in [o for o in session.dirty if isinstance(o, User)]:
        history: Any = inspect(user).attrs.team.history
        if history.has_changes():
            old = history.deleted[0] if history.deleted else None
            move_caseworker(session, user.id, old, user.team)


def list_report_counts(
    session: Session, first: date, last: date
) -> list[tuple[str, str, str, int]]:
    """(team, dimension, value, cases) summed over the months ``first`` to ``last`` (first
    days), every team's. The rows are read in the table's own order (team, dimension, value,
    month), so the sums come out grouped with no sort; the months out of range are passed
    over as they are read."""
    stmt = (
        select(
            CaseReportCount.team,
            CaseReportCount.dimension,
            CaseReportCount.value,
            func.sum(CaseReportCount.n),
        )
        .where(CaseReportCount.month >= first, CaseReportCount.month <= last)
        .group_by(CaseReportCount.team, CaseReportCount.dimension, CaseReportCount.value)
    )
    rows = session.connection().execute(stmt)  # Core rows: thousands of them
    return [(team, dim, value, int(n)) for team, dim, value, n in rows if n]


def _write(conn: Connection, changes: list[tuple[TeamKey, int]]) -> None:
    """Add these differences to the rows (raw SQL on the DBAPI cursor: it also runs while
    the Connection is committing), dropping rows that fall to 0."""
    if not changes:
        return
    p = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    on_sqlite = conn.dialect.name == "sqlite"

    def day(d: date) -> Any:
        return d.isoformat() if on_sqlite else d  # as SQLAlchemy stores a Date there

    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(
            _UPSERT.format(p=p), [(t, dim, v, day(m), n) for (t, dim, v, m), n in changes]
        )
        emptied = [(t, dim, v, day(m)) for (t, dim, v, m), n in changes if n < 0]
        if emptied:
            cursor.executemany(_DROP_EMPTY.format(p=p), emptied)
    finally:
        cursor.close()


def _teams_now(conn: Connection, caseworker_ids: list[int]) -> dict[int, str | None]:
    """The caseworkers' teams, their rows held against a change of team until COMMIT
    (PostgreSQL; SQLite has one writer at a time)."""
    if not caseworker_ids:
        return {}
    p = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    lock = " FOR SHARE" if conn.dialect.name == "postgresql" else ""
    marks = ", ".join([p] * len(caseworker_ids))
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(
            f"SELECT id, team FROM user_account WHERE id IN ({marks}) ORDER BY id{lock}",  # noqa: S608 (placeholders only)
            caseworker_ids,
        )
        return {int(uid): team for uid, team in cursor.fetchall()}
    finally:
        cursor.close()


def _file_by_team(conn: Connection, total: Counter[ReportKey]) -> None:
    """A transaction's differences, filed under each caseworker's team as it commits."""
    teams = _teams_now(conn, sorted({cw for (cw, *_) in total if cw}))
    _write(conn, sorted(by_team(total, teams).items()))


_PENDING: PendingCounts[ReportKey] = PendingCounts("report", _file_by_team)
