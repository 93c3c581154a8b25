"""The dashboard's counts (open cases per caseworker, contacts due, reviews, conflicts, the
queues), its overdue plan items, worker-safety alerts and approvals waiting, within the
user's case scope. The case counts are one
pass over ``ix_case_record_scope``; overdue items come from the kept counts of
``plan_item_due_count`` (``cases.item_counts``), so neither grows with the items.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    false,
    func,
    or_,
    select,
    true,
)
from sqlalchemy import case as sql_case
from sqlalchemy.orm import Session

from server.auth.models import User
from server.auth.permissions import may
from server.auth.queries import get_usernames
from server.cases.models import (
    Case,
    CaseContribution,
    CaseStatus,
    ContributionState,
    PlanItem,
    PlanItemDueCount,
    WorkerSafetyAlert,
)
from server.cases.scope import approval_scope_clause, case_scope_clause
from server.submissions.models import Submission
from server.submissions.scope import submission_scope_clause


def _not_open_status() -> ColumnElement[bool]:
    """``status <> 'open'`` as two ranges, so that it is read from an index on status."""
    return or_(Case.status < CaseStatus.OPEN, Case.status > CaseStatus.OPEN)


def nth_overdue_due_date(session: Session, today: date, n: int) -> date | None:
    """The due date of the ``n``-th open item past due on an open case, oldest first (any
    case): walks ``ix_plan_item_open_due`` in due order and stops there."""
    not_open = select(Case.id).where(_not_open_status())
    stmt = (
        select(PlanItem.due_date)
        .where(
            PlanItem.is_done.is_(False),
            PlanItem.due_date < today,
            PlanItem.case_id.not_in(not_open),
        )
        .order_by(PlanItem.due_date)
        .offset(n - 1)
        .limit(1)
    )
    found: date | None = session.scalar(stmt)
    return found


def nth_overdue_due_date_in_scope(session: Session, user: User, today: date, n: int) -> date | None:
    """:func:`nth_overdue_due_date` within the user's case scope, from the kept counts
    (``plan_item_due_count``: a few rows per caseworker and day), so that a team's list
    reads the items up to that day, not every overdue item of the team."""
    if not may(user, "case.read_team"):  # a caseworker's few hundred cases: from their side
        return nth_overdue_due_date(session, today, n) if may(user, "case.read_all") else None
    keys = _caseworker_keys(session, user) or []
    per_day = (
        select(PlanItemDueCount.due_date, func.sum(PlanItemDueCount.n))
        .where(PlanItemDueCount.caseworker_id.in_(keys), PlanItemDueCount.due_date < today)
        .group_by(PlanItemDueCount.due_date)
        .order_by(PlanItemDueCount.due_date)
    )
    seen = 0
    for due, count in session.execute(per_day):
        seen += int(count)
        if seen >= n:
            found: date = due
            return found
    return None


@dataclass(frozen=True)
class Dashboard:
    open_cases_by_caseworker: dict[str, int] = field(default_factory=dict)  # "" = unassigned
    contacts_overdue: int = 0
    contacts_due_this_week: int = 0
    overdue_items_by_kind: dict[str, int] = field(default_factory=dict)
    cases_without_review: int = 0  # no review in the last 90 days
    safety_plans_due: int = 0  # open cases whose safety plan is due for review by today
    open_conflicts: int = 0
    unlinked_waiting: int = 0
    duplicates_waiting: int = 0


def dashboard_counts(session: Session, user: User, today: date) -> Dashboard:
    """The counts a supervisor's front page shows, within the user's scope.

    The case counts are one pass over ``ix_case_record_scope`` (the caller's caseworkers'
    entries for a supervisor, every entry for an admin), never over the cases' rows."""
    scope = case_scope_clause(user)
    parts = [scope]
    if may(user, "case.read_team"):
        # The team's ids as values, and the unassigned cases apart: each part seeks its
        # entries in ix_case_record_scope, where "IN (team) OR IS NULL" read the whole index.
        team = session.scalars(
            select(User.id).where(User.team == user.team, User.team.is_not(None))
        ).all()
        parts = [Case.caseworker_id.in_(team), Case.caseworker_id.is_(None)]
    is_open = Case.status == CaseStatus.OPEN
    review_cutoff = datetime.combine(today - timedelta(days=90), datetime.min.time(), UTC)

    def n(condition: ColumnElement[bool]) -> Any:
        return func.coalesce(func.sum(sql_case((condition, 1), else_=0)), 0)

    per_cw = [
        row
        for part in parts
        for row in session.execute(
            select(
                Case.caseworker_id,
                n(is_open),
                n(and_(is_open, Case.next_contact_due < today)),
                n(
                    and_(
                        is_open,
                        Case.next_contact_due >= today,
                        Case.next_contact_due <= today + timedelta(days=7),
                    )
                ),
                n(
                    and_(
                        is_open,
                        or_(
                            Case.last_review_at < review_cutoff,
                            and_(Case.last_review_at.is_(None), Case.opened_at < review_cutoff),
                        ),
                    )
                ),
                func.coalesce(func.sum(Case.open_conflicts), 0),
                n(and_(is_open, Case.safety_plan_review_due <= today)),
            )
            .where(part)
            .group_by(Case.caseworker_id)
        )
    ]
    names = get_usernames(session, {r[0] for r in per_cw if r[0] is not None})
    open_by_cw: dict[str, int] = {}
    for cw_id, open_n, *_ in per_cw:
        if open_n:
            name = names.get(cw_id, "") if cw_id is not None else ""
            open_by_cw[name] = open_by_cw.get(name, 0) + int(open_n)
    overdue, week, no_review, conflicts, safety = (
        sum(int(r[i]) for r in per_cw) for i in (2, 3, 4, 5, 6)
    )

    items = overdue_items_by_kind(session, today, _caseworker_keys(session, user))
    counts = dict(
        session.execute(
            select(CaseContribution.state, func.count(CaseContribution.id))
            .join(Submission, Submission.id == CaseContribution.submission_id)
            .where(
                CaseContribution.state.in_(
                    (ContributionState.UNLINKED, ContributionState.DUPLICATE)
                ),
                submission_scope_clause(user),
            )
            .group_by(CaseContribution.state)
        ).all()
    )
    unlinked, duplicates = (
        counts.get(ContributionState.UNLINKED, 0),
        counts.get(ContributionState.DUPLICATE, 0),
    )
    return Dashboard(
        open_cases_by_caseworker=dict(sorted(open_by_cw.items())),
        contacts_overdue=overdue,
        contacts_due_this_week=week,
        overdue_items_by_kind=items,
        cases_without_review=no_review,
        safety_plans_due=safety,
        open_conflicts=conflicts,
        unlinked_waiting=unlinked,
        duplicates_waiting=duplicates,
    )


def _caseworker_keys(session: Session, user: User) -> list[int] | None:
    """The caseworker keys of ``plan_item_due_count`` in the user's case scope (0: the
    unassigned cases); None for every key (an admin)."""
    if may(user, "case.read_all"):
        return None
    if may(user, "case.read_team"):
        team = select(User.id).where(User.team == user.team, User.team.is_not(None))
        return [0, *session.scalars(team)]
    if may(user, "case.read_own"):
        return [user.id]
    return []


def overdue_items_by_kind(
    session: Session, today: date, caseworker_keys: list[int] | None
) -> dict[str, int]:
    """Open items of open cases due before ``today``, by kind, for these caseworker keys
    (:func:`_caseworker_keys`; None: all): a sum of ``plan_item_due_count`` rows, a few per
    caseworker and day, whatever the number of items (``cases.item_counts`` keeps them)."""
    if caseworker_keys == []:
        return {}
    stmt = select(PlanItemDueCount.kind, func.sum(PlanItemDueCount.n)).where(
        PlanItemDueCount.due_date < today
    )
    if caseworker_keys is not None:
        stmt = stmt.where(PlanItemDueCount.caseworker_id.in_(caseworker_keys))
    rows = session.execute(stmt.group_by(PlanItemDueCount.kind)).all()
    return {kind: int(n) for kind, n in sorted(rows) if n}


# What the dashboard's list of safety alerts shows: the case (its number now, else as
# sent), when (the phone's contact time) and who.
SAFETY_ALERT_COLUMNS = (
    func.coalesce(Case.case_ref, WorkerSafetyAlert.case_ref).label("case_ref"),
    WorkerSafetyAlert.event_at.label("worker_unsafe_at"),
    WorkerSafetyAlert.worker.label("worker_unsafe_by"),
)


def _safety_alert_scope(user: User) -> ColumnElement[bool]:
    """Whose alerts the user sees: an admin everyone's; a supervisor those of the workers
    of their team as it was at the report (wherever the case went since, and whatever
    became of the submission); others their own."""
    if may(user, "case.read_all"):
        return true()
    if may(user, "case.read_team") and user.team:
        return or_(WorkerSafetyAlert.team == user.team, WorkerSafetyAlert.worker_id == user.id)
    return WorkerSafetyAlert.worker_id == user.id


def list_worker_safety_alerts(user: User, since: datetime) -> Select[str, datetime, str | None]:
    """Reports by caseworkers who did not feel safe that the server received at or after
    ``since`` (a report sent late from a phone offline still shows), newest report first:
    rows of :data:`SAFETY_ALERT_COLUMNS`."""
    return (
        select(*SAFETY_ALERT_COLUMNS)
        .select_from(WorkerSafetyAlert)
        .outerjoin(
            CaseContribution,
            CaseContribution.submission_id == WorkerSafetyAlert.submission_id,
        )
        .outerjoin(Case, Case.id == CaseContribution.case_id)
        .where(_safety_alert_scope(user), WorkerSafetyAlert.received_at >= since)
        .order_by(WorkerSafetyAlert.received_at.desc(), WorkerSafetyAlert.id.desc())
    )


# What the dashboard's list of cases waiting for approval shows.
APPROVAL_COLUMNS = (Case.case_ref, Case.approval_kind, Case.approval_requested_by, Case.updated_at)


def list_pending_approvals(user: User) -> Select[str, str | None, str | None, datetime]:
    """Cases whose closure or plan waits for the user's approval
    (``scope.approval_scope_clause``), the
    longest waiting first (by the case's last change): rows of :data:`APPROVAL_COLUMNS`."""
    return (
        select(*APPROVAL_COLUMNS)
        .where(approval_scope_clause(user), Case.approval == "pending")
        .order_by(Case.updated_at, Case.case_ref)
    )


# What the dashboard's list of referrals held for consent shows.
HELD_COLUMNS = (Case.case_ref, PlanItem.title, PlanItem.owner, PlanItem.due_date)


def _held_referrals(user: User) -> ColumnElement[bool]:
    return and_(
        PlanItem.held.is_(True),
        Case.status == CaseStatus.OPEN,
        case_scope_clause(user),
    )


def list_held_referrals(user: User) -> Select[str, str, str | None, date | None]:
    """Open referrals in scope that the consent in force does not cover (``cases.consent``),
    held for a supervisor: rows of :data:`HELD_COLUMNS`, by case then due date. Read from
    ``ix_plan_item_held`` (held rows are few), each joined to its case for the scope."""
    return (
        select(*HELD_COLUMNS)
        .join(Case, Case.id == PlanItem.case_id)
        .where(_held_referrals(user))
        .order_by(Case.case_ref, PlanItem.due_date, PlanItem.id)
    )


# What the dashboard's list of transfers waiting for the user shows.
TRANSFER_COLUMNS = (
    Case.case_ref,
    Case.risk_level,
    Case.team,
    Case.transfer_to,
    Case.transfer_requested_by,
    Case.updated_at,
)


def _transfers_for(user: User) -> ColumnElement[bool]:
    """Pending transfers the user answers: an admin any, a supervisor their team's."""
    pending = Case.transfer == "pending"
    if may(user, "case.read_all"):
        return pending
    if user.team is None:
        return false()
    return and_(pending, Case.transfer_team == user.team)


def list_transfers_waiting(
    user: User,
) -> Select[str, str | None, str | None, str | None, str | None, datetime]:
    """Cases whose transfer waits for the user (the receiving team's supervisor, or an
    admin), whether or not they see the case yet; the longest waiting first: rows of
    :data:`TRANSFER_COLUMNS`."""
    return select(*TRANSFER_COLUMNS).where(_transfers_for(user)).order_by(Case.updated_at)
