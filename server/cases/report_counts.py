"""The reports' counts, kept as cases change rather than counted when asked.

``case_report_count`` holds, per (caseworker, month of registration, dimension, value), how
many cases fall in that report cell (``cases.registration.report_keys``: age band, sex,
disability, region, area, intake concern and risk once per case; each need and service
category once per case; each service by its status). A report over a range of months is
then a sum of a few rows per caseworker and month, whatever the number of cases: counting
the cases themselves reads 100 000 index entries per dimension at 100 000 cases.

Everything a case's cells depend on (its caseworker, opening time, report columns, risk
and plan items) is written only by the rebuild of the case, so the rebuild keeps them, as
``cases.item_counts`` keeps the overdue items: :func:`case_counts` before its writes,
:func:`note_change` after them. A user's team is not in the key: a report cut by team
reads the caseworkers' teams when it is asked.

The differences are applied just before COMMIT, in key order, and a savepoint rolled back
(a merge that failed, a preview) takes its differences with it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, event, func, select
from sqlalchemy.orm import Session

from server.cases.models import Case, CaseReportCount, PlanItem
from server.cases.registration import CaseRow, ItemRow, ReportKey, report_keys

_PENDING = "casework.report_count_changes"  # on the connection: a Counter per savepoint level

_UPSERT = (
    "INSERT INTO case_report_count (caseworker_id, month, dimension, value, n) "
    "VALUES ({p}, {p}, {p}, {p}, {p}) "
    "ON CONFLICT (caseworker_id, month, dimension, value) "
    "DO UPDATE SET n = case_report_count.n + excluded.n"
)
_DROP_EMPTY = (
    "DELETE FROM case_report_count "
    "WHERE caseworker_id = {p} AND month = {p} AND dimension = {p} AND value = {p} AND n = 0"
)

# Built once: each runs twice in every merge.
_CASE = select(
    Case.caseworker_id,
    Case.opened_at,
    Case.age_band,
    Case.sex,
    Case.disability,
    Case.admin1,
    Case.admin2,
    Case.intake_concern,
    Case.risk_level,
).where(Case.id == bindparam("case_id"))
_ITEMS = select(PlanItem.kind, PlanItem.key, PlanItem.status, PlanItem.properties).where(
    PlanItem.case_id == bindparam("case_id"), PlanItem.kind.in_(("need", "service"))
)


def case_counts(session: Session, case_id: int | None) -> Counter[ReportKey]:
    """The cells this case adds to as it is stored now: its row, and its needs and
    services (read through ``ix_plan_item_case_open``)."""
    if case_id is None:
        return Counter()
    conn = session.connection()
    row = conn.execute(_CASE, {"case_id": case_id}).first()
    if row is None:
        return Counter()
    items = [ItemRow(k, key, status, props or {}) for k, key, status, props in conn.execute(
        _ITEMS, {"case_id": case_id}
    )]  # fmt: skip
    return report_keys(CaseRow(*row), items)


def note_change(session: Session, case_id: int | None, before: Counter[ReportKey]) -> None:
    """Record what the case's writes changed in the counts (``before``: its
    :func:`case_counts` before them); applied at commit."""
    delta = case_counts(session, case_id)
    delta.subtract(before)
    changes = {k: n for k, n in delta.items() if n}
    if changes:
        levels = session.connection().info.setdefault(_PENDING, [Counter()])
        levels[-1].update(changes)


def recount(session: Session) -> dict[ReportKey, int]:
    """The counts as the cases compute them now (for checks and repairs): every case and
    its needs and services, read in id order."""
    total: Counter[ReportKey] = Counter()
    items: dict[int, list[ItemRow]] = {}
    item_rows = session.execute(
        select(PlanItem.case_id, PlanItem.kind, PlanItem.key, PlanItem.status, PlanItem.properties)
        .where(PlanItem.kind.in_(("need", "service")))
        .order_by(PlanItem.case_id, PlanItem.id)
    )
    for case_id, kind, key, status, props in item_rows:
        items.setdefault(case_id, []).append(ItemRow(kind, key, status, props or {}))
    for case_id, *columns in session.execute(select(Case.id, *_CASE.selected_columns)):
        total.update(report_keys(CaseRow(*columns), items.get(case_id, ())))
    return {k: n for k, n in total.items() if n}


def list_report_counts(
    session: Session, first: date, last: date, caseworker_ids: Sequence[int]
) -> list[tuple[int, str, str, int]]:
    """(caseworker id, dimension, value, cases) summed over the months ``first`` to
    ``last`` (first days) for these caseworker keys (0: unassigned cases). The rows are read
    in the table's own order (caseworker, dimension, value, month), so the sums come out
    grouped with no sort; the months out of range are passed over as they are read."""
    if not caseworker_ids:
        return []
    stmt = (
        select(
            CaseReportCount.caseworker_id,
            CaseReportCount.dimension,
            CaseReportCount.value,
            func.sum(CaseReportCount.n),
        )
        .where(
            CaseReportCount.caseworker_id.in_(sorted(set(caseworker_ids))),
            CaseReportCount.month >= first,
            CaseReportCount.month <= last,
        )
        .group_by(CaseReportCount.caseworker_id, CaseReportCount.dimension, CaseReportCount.value)
    )
    rows = session.connection().execute(stmt)  # Core rows: thousands of them
    return [(int(cw), dim, value, int(n)) for cw, dim, value, n in rows if n]


@event.listens_for(Engine, "savepoint")
def _savepoint(conn: Connection, _name: str) -> None:
    conn.info.setdefault(_PENDING, [Counter()]).append(Counter())


@event.listens_for(Engine, "release_savepoint")
def _release(conn: Connection, _name: str, _xid: Any) -> None:
    levels = conn.info.get(_PENDING)
    if levels and len(levels) > 1:
        inner = levels.pop()
        levels[-1].update(inner)


@event.listens_for(Engine, "rollback_savepoint")
def _rollback_savepoint(conn: Connection, _name: str, _xid: Any) -> None:
    levels = conn.info.get(_PENDING)
    if levels and len(levels) > 1:
        levels.pop()


@event.listens_for(Engine, "commit")
def _apply(conn: Connection) -> None:
    # As cases.item_counts does: raw SQL on the DBAPI cursor, the Connection is committing.
    levels = conn.info.pop(_PENDING, None)
    if not levels:
        return
    total: Counter[ReportKey] = Counter()
    for level in levels:
        total.update(level)
    changes = sorted((k, n) for k, n in total.items() if n)
    if not changes:
        return
    p = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    on_sqlite = conn.dialect.name == "sqlite"

    def day(d: date) -> Any:
        return d.isoformat() if on_sqlite else d  # as SQLAlchemy stores a Date there

    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(
            _UPSERT.format(p=p), [(cw, day(m), dim, v, n) for (cw, m, dim, v), n in changes]
        )
        emptied = [(cw, day(m), dim, v) for (cw, m, dim, v), n in changes if n < 0]
        if emptied:
            cursor.executemany(_DROP_EMPTY.format(p=p), emptied)
    finally:
        cursor.close()


@event.listens_for(Engine, "begin")
@event.listens_for(Engine, "rollback")
def _forget(conn: Connection) -> None:
    conn.info.pop(_PENDING, None)
