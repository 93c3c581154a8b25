"""Queries on the cases' tables (cases, their contributions, actions, plan items and
conflicts), named for what they return: single rows, a case's inputs, the rebuild's Core
reads and writes, the case lists and queues. Services and views compose these.

Who sees which case is decided in ``cases.scope``; whose submissions a user reads, in
``submissions.scope``. The dashboard's counts are in ``cases.dashboard``, the device lists'
queries in ``cases.device_lists``, referrals by directory service in
``cases.referral_queries``; paging in ``server.paging``, bulk writes in ``server.db``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    RowMapping,
    Select,
    Table,
    bindparam,
    insert,
    or_,
    select,
    text,
)
from sqlalchemy.orm import Bundle, Session

from server.auth.models import Device, User

# the case list, named here as before (explicit re-exports)
from server.cases.lists import CASE_LIST_COLUMNS as CASE_LIST_COLUMNS
from server.cases.lists import CASE_LIST_ORDER as CASE_LIST_ORDER
from server.cases.lists import list_cases as list_cases
from server.cases.lists import paginate_cases as paginate_cases
from server.cases.lists import ref_prefix_clause as ref_prefix_clause
from server.cases.models import (
    Case,
    CaseAction,
    CaseConflict,
    CaseContribution,
    CaseStatus,
    ContributionState,
    PlanItem,
    WorkerSafetyAlert,
    action_details,
    plan_item_order,
)
from server.cases.scope import case_scope_clause
from server.db import update_rows, write_transaction
from server.submissions.models import Submission
from server.submissions.scope import submission_scope_clause

APPLIED_STATES = (
    ContributionState.APPLIED,
    ContributionState.UNLINKED,
    ContributionState.DUPLICATE,
)


# --- one row -------------------------------------------------------------------------------


def get_case_by_ref(session: Session, case_ref: str) -> Case | None:
    return session.scalars(select(Case).where(Case.case_ref == case_ref)).first()


def get_case_by_entity_id(session: Session, entity_id: str) -> Case | None:
    return session.scalars(select(Case).where(Case.entity_id == entity_id)).first()


def lock_case_ref(session: Session, case_ref: str) -> None:
    """Serialize writers of one reference number, even before its case row exists.

    PostgreSQL: a transaction-scoped advisory lock on the reference number, so two
    registrations arriving together cannot both create the case. SQLite: the write
    transaction's lock on the whole database (one writer at a time is all SQLite has).

    Advisory locks are shared by the whole database, so the key names the schema too: two
    deployments (or test runs) in one database never wait on each other's case numbers.
    """
    with write_transaction(session):
        if session.get_bind().dialect.name == "postgresql":
            session.execute(
                text(
                    "SELECT pg_advisory_xact_lock("
                    "hashtextextended(current_schema() || '/' || :ref, 0))"
                ),
                {"ref": case_ref},
            )


_CASE_REF_BY_ENTITY = select(Case.case_ref).where(Case.entity_id == bindparam("entity_id"))


def get_case_ref_by_entity_id(session: Session, entity_id: str) -> str | None:
    """The reference number of the case devices know by this entity id, if any."""
    # A Core statement on the connection: asked once for every submission.
    found = session.connection().execute(_CASE_REF_BY_ENTITY, {"entity_id": entity_id}).first()
    return found[0] if found is not None else None


def get_case_by_merged_entity_id(session: Session, entity_id: str) -> tuple[str, str] | None:
    """(reference number, entity id) of the case a duplicate registration with this entity
    id was merged into, if one was."""
    stmt = (
        select(Case.case_ref, Case.entity_id)
        .join(CaseAction, CaseAction.case_id == Case.id)
        .where(
            CaseAction.kind == "merge_duplicate",
            CaseAction.entity_id == entity_id,
        )
        .order_by(CaseAction.id.desc())
    )
    found = session.execute(stmt).first()
    return (found[0], found[1]) if found is not None else None


def get_contribution_for_submission(
    session: Session, submission_id: int
) -> CaseContribution | None:
    stmt = select(CaseContribution).where(CaseContribution.submission_id == submission_id)
    return session.scalars(stmt).first()


def get_contribution_by_instance_id(session: Session, instance_id: str) -> CaseContribution | None:
    stmt = (
        select(CaseContribution)
        .join(Submission, Submission.id == CaseContribution.submission_id)
        .where(Submission.instance_id == instance_id)
    )
    return session.scalars(stmt).first()


def get_conflict(session: Session, case_id: int, conflict_id: int) -> CaseConflict | None:
    """The conflict as stored now (read again even if this session holds a copy)."""
    stmt = (
        select(CaseConflict)
        .where(CaseConflict.case_id == case_id, CaseConflict.id == conflict_id)
        .execution_options(populate_existing=True)
    )
    return session.scalars(stmt).first()


# --- a case's inputs -----------------------------------------------------------------------


def list_contributions_for_entity(
    session: Session, entity_id: str, states: Sequence[str] = APPLIED_STATES
) -> list[CaseContribution]:
    stmt = select(CaseContribution).where(
        CaseContribution.entity_id == entity_id, CaseContribution.state.in_(states)
    )
    return list(session.scalars(stmt))


def list_contributions_for_case(session: Session, case_id: int) -> list[CaseContribution]:
    """The contributions applied to a case (state ``applied``), oldest event first."""
    stmt = (
        select(CaseContribution)
        .where(
            CaseContribution.case_id == case_id, CaseContribution.state == ContributionState.APPLIED
        )
        .order_by(CaseContribution.event_at, CaseContribution.id)
    )
    return list(session.scalars(stmt))


def list_timeline(session: Session, case_id: int) -> list[tuple[CaseContribution, Any]]:
    """The case's contributions with their submissions' id, ``instance_id``, ``received_at``,
    version, the instance it replaced, and the label of the phone that sent it (not the
    stored XML and answers), oldest event first (for the detail). The rows come
    from ``ix_case_contribution_case``, in its order."""
    submission: Bundle[Any] = Bundle(
        "submission",
        Submission.id,
        Submission.instance_id,
        Submission.received_at,
        Submission.xform_version_id,
        Submission.deprecated_id,
        Submission.is_encrypted,
        Device.label.label("device"),
    )
    stmt = (
        select(CaseContribution, submission)
        .join(Submission, Submission.id == CaseContribution.submission_id)
        .outerjoin(Device, Device.id == Submission.device_id)
        .where(CaseContribution.case_id == case_id)
        .order_by(CaseContribution.event_at, CaseContribution.id)
    )
    return [(c, s) for c, s in session.execute(stmt)]


def list_actions_for_case(session: Session, case_id: int) -> list[tuple[CaseAction, str | None]]:
    """The case's supervisor actions with the actor's username, oldest first."""
    stmt = (
        select(CaseAction, User.username)
        .outerjoin(User, User.id == CaseAction.actor_id)
        .where(CaseAction.case_id == case_id)
        .order_by(CaseAction.at, CaseAction.id)
    )
    return [(a, name) for a, name in session.execute(stmt)]


def list_submission_ids_to_reapply(session: Session) -> list[int]:
    """Ids of every submission whose contribution counts, or may count, for a case: the
    current versions, and earlier versions still in effect (the edit that replaces them is
    held for a supervisor), oldest first."""
    in_effect = select(CaseContribution.submission_id).where(
        CaseContribution.state.in_(APPLIED_STATES)
    )
    stmt = (
        select(Submission.id)
        .where(or_(Submission.is_current.is_(True), Submission.id.in_(in_effect)))
        .order_by(Submission.received_at, Submission.id)
    )
    return list(session.scalars(stmt))


# --- rebuilding: Core reads and writes on the session's connection ------------------------
#
# The rebuild runs for every submission; these skip the ORM's identity map and unit of work.
# ``cases.rebuild.rebuild`` flushes before it reads and expires the ORM copies it outdated.

_CASE_COLUMNS = tuple(Case.__table__.c)
_CONTRIBUTION_COLUMNS = (
    CaseContribution.id,
    CaseContribution.entity_id,
    CaseContribution.is_registration,
    CaseContribution.event_at,
    CaseContribution.state,
    CaseContribution.case_id,
    CaseContribution.update,
    CaseContribution.hold_reason,
)
_PLAN_ITEM_COLUMNS = (
    PlanItem.id,
    PlanItem.item_id,
    PlanItem.kind,
    PlanItem.key,
    PlanItem.title,
    PlanItem.owner,
    PlanItem.due_date,
    PlanItem.status,
    PlanItem.is_done,
    PlanItem.held,
    PlanItem.properties,
    PlanItem.provenance,
    PlanItem.referral_since,
    PlanItem.referral_due,
    PlanItem.referral_urgency,
    PlanItem.referral_reason,
    PlanItem.referral_service,
    PlanItem.referral_ack_hours,
    PlanItem.referral_steps,
)
_CONFLICT_COLUMNS = (
    CaseConflict.id,
    CaseConflict.conflict_key,
    CaseConflict.candidates,
    CaseConflict.resolved_at,
    CaseConflict.resolved_by_id,
)


# Built once: executing a constant statement skips building and coercing it per call.
_CASE_ROW_FOR_UPDATE = (
    select(*_CASE_COLUMNS).where(Case.case_ref == bindparam("ref")).with_for_update()
)
_CONTRIBUTION_ROWS_FOR_REF = (
    select(*_CONTRIBUTION_COLUMNS)
    .where(
        CaseContribution.case_ref == bindparam("ref"),
        CaseContribution.state.in_(bindparam("states", expanding=True)),
    )
    .order_by(CaseContribution.event_at, CaseContribution.id)
)
_ACTION_ROWS_FOR_CASE = (
    select(
        CaseAction.id,
        CaseAction.kind,
        CaseAction.at,
        User.username,
        CaseAction.payload,
        CaseAction.username,
        CaseAction.instance_id,
        CaseAction.entity_id,
    )
    .outerjoin(User, User.id == CaseAction.actor_id)
    .where(CaseAction.case_id == bindparam("case_id"))
    .order_by(CaseAction.at, CaseAction.id)
)
_PLAN_ITEM_ROWS = (
    select(*_PLAN_ITEM_COLUMNS)
    .where(PlanItem.case_id == bindparam("case_id"))
    .order_by(PlanItem.id)
)
_CONFLICT_ROWS = (
    select(*_CONFLICT_COLUMNS)
    .where(CaseConflict.case_id == bindparam("case_id"))
    .order_by(CaseConflict.id)
)


def get_case_row_for_update(session: Session, case_ref: str) -> RowMapping | None:
    """The case's columns by name, locked until the transaction ends (``FOR UPDATE``)."""
    result = session.connection().execute(_CASE_ROW_FOR_UPDATE, {"ref": case_ref})
    return result.mappings().first()


def list_contribution_rows_for_ref(
    session: Session, case_ref: str, states: Sequence[str] = APPLIED_STATES
) -> list[RowMapping]:
    """id, entity_id, is_registration, event_at, state, case_id, update and hold_reason of
    the contributions filed under a reference number, oldest event first."""
    params = {"ref": case_ref, "states": list(states)}
    return list(session.connection().execute(_CONTRIBUTION_ROWS_FOR_REF, params).mappings())


def list_action_rows_for_case(
    session: Session, case_id: int
) -> list[tuple[int, str, datetime, str | None, dict[str, Any]]]:
    """(id, kind, at, actor username, details) of the case's supervisor actions."""
    rows = session.connection().execute(_ACTION_ROWS_FOR_CASE, {"case_id": case_id})
    return [(r[0], r[1], r[2], r[3], action_details(r[4], r[5], r[6], r[7])) for r in rows]


def list_plan_item_rows(session: Session, case_id: int) -> list[RowMapping]:
    return list(session.connection().execute(_PLAN_ITEM_ROWS, {"case_id": case_id}).mappings())


def list_conflict_rows(session: Session, case_id: int) -> list[RowMapping]:
    return list(session.connection().execute(_CONFLICT_ROWS, {"case_id": case_id}).mappings())


_CASE_TABLE: Table = Case.__table__  # type: ignore[assignment]  # a mapped Table
_INSERT_CASE = insert(_CASE_TABLE).returning(_CASE_TABLE.c.id)


def insert_case(session: Session, values: dict[str, Any]) -> int:
    case_id: int = session.connection().execute(_INSERT_CASE, values).scalar_one()
    return case_id


def update_case(session: Session, case_id: int, values: dict[str, Any]) -> None:
    update_rows(session, Case, [{"id": case_id, **values}])


def update_case_conflict(session: Session, conflict_id: int, values: dict[str, Any]) -> None:
    update_rows(session, CaseConflict, [{"id": conflict_id, **values}])


# --- lists ---------------------------------------------------------------------------------


# The case list lives in ``cases.lists`` (its sorts and filters); named here as before.


# What a queue shows (the queues page, ``/api/v1/queues/…``): never the stored XML, the
# parsed answers or the contribution's update.
QUEUE_CONTRIBUTION_COLUMNS = (
    CaseContribution.id,
    CaseContribution.case_ref,
    CaseContribution.form_id,
    CaseContribution.entity_id,
    CaseContribution.is_registration,
    CaseContribution.event_at,
    CaseContribution.state,
    CaseContribution.hold_reason,
)
QUEUE_SUBMISSION_COLUMNS = (Submission.instance_id, Submission.received_at)


def _queue(user: User, state: str) -> Select[Any, Any, str | None]:
    """Contributions in ``state`` with their submission and submitter's username, for the
    submissions in the user's scope (the queues hold form data not yet in any case, so
    the submissions rule decides who sees and acts on them). Each row: (the contribution's
    queue columns, the submission's, the username), read from ``ix_case_contribution_state``."""
    submitter = User.__table__.alias("submitter")
    return (
        select(
            Bundle("contribution", *QUEUE_CONTRIBUTION_COLUMNS),
            Bundle("submission", *QUEUE_SUBMISSION_COLUMNS),
            submitter.c.username,
        )
        .join(Submission, Submission.id == CaseContribution.submission_id)
        .outerjoin(submitter, submitter.c.id == Submission.submitter_id)
        .where(CaseContribution.state == state, submission_scope_clause(user))
    )


# The queues' rows are paged by this key (``paging.paginate_keyset``), in each queue's order.
QUEUE_KEY = CaseContribution.id


def list_unlinked(user: User) -> Select[Any, Any, str | None]:
    """Submissions waiting for a registration with their reference number (or a supervisor),
    in the user's scope: (contribution, submission, submitter username), oldest first.
    Page it (``paging.paginate``)."""
    return _queue(user, ContributionState.UNLINKED).order_by(
        CaseContribution.event_at, CaseContribution.id
    )


def list_duplicates(user: User) -> Select[Any, Any, str | None]:
    """Registrations (and their follow-ups) that reuse an existing reference number, in
    the user's scope: (contribution, submission, submitter username). Page it."""
    return _queue(user, ContributionState.DUPLICATE).order_by(
        CaseContribution.case_ref, CaseContribution.event_at, CaseContribution.id
    )


# What a follow-up list shows (the dashboard, ``/api/v1/followups``).
FOLLOWUP_COLUMNS = (Case.case_ref, Case.next_contact_due, Case.risk_level, Case.status)


def list_due_followups(
    user: User, today: date, horizon_days: int = 7
) -> Select[str, date | None, str | None, str]:
    """Open cases in scope whose next contact is due by ``today + horizon_days`` (overdue
    ones included), soonest first: rows of :data:`FOLLOWUP_COLUMNS`."""
    return (
        select(*FOLLOWUP_COLUMNS)
        .where(
            case_scope_clause(user),
            Case.status == CaseStatus.OPEN,
            Case.next_contact_due <= today + timedelta(days=horizon_days),
        )
        .order_by(Case.next_contact_due, Case.case_ref)
    )


def list_overdue_items(
    user: User, today: date, due_until: date | None = None
) -> Select[PlanItem, Any]:
    """Open plan items past their due date on open cases in scope, oldest due first:
    (item, its case's ``case_ref`` and ``caseworker_id``).

    ``due_until``: only items due by then (``cases.dashboard.nth_overdue_due_date`` for a
    list of the first few of every case's, so that an admin's list reads those, not every
    overdue item)."""
    case: Bundle[Any] = Bundle("case", Case.case_ref, Case.caseworker_id)
    stmt = (
        select(PlanItem, case)
        .join(Case, Case.id == PlanItem.case_id)
        .where(
            case_scope_clause(user),
            Case.status == CaseStatus.OPEN,
            PlanItem.is_done.is_(False),
            PlanItem.due_date < today,
        )
        .order_by(PlanItem.due_date, Case.case_ref, *plan_item_order())
    )
    if due_until is not None:
        # as a set of item ids from ix_plan_item_open_due, so that the items (few) lead the
        # join, not every case
        # (one bound only: given two on due_date, SQLite seeks by the first, "< today",
        # and read every overdue item's entry)
        bound = PlanItem.due_date <= due_until if due_until < today else PlanItem.due_date < today
        due_by = select(PlanItem.id).where(PlanItem.is_done.is_(False), bound)
        stmt = stmt.where(PlanItem.id.in_(due_by))
    return stmt


def get_plan_item(session: Session, case_id: int, item_id: str) -> PlanItem | None:
    stmt = select(PlanItem).where(PlanItem.case_id == case_id, PlanItem.item_id == item_id)
    return session.scalars(stmt).one_or_none()


def list_plan_items(session: Session, case_id: int) -> list[PlanItem]:
    stmt = select(PlanItem).where(PlanItem.case_id == case_id).order_by(*plan_item_order())
    return list(session.scalars(stmt))


def list_conflicts(session: Session, case_id: int) -> list[CaseConflict]:
    stmt = select(CaseConflict).where(CaseConflict.case_id == case_id).order_by(CaseConflict.id)
    return list(session.scalars(stmt))


def latest_worker_safety_alert(session: Session, case_id: int) -> WorkerSafetyAlert | None:
    """The latest contact or attempt of the case (among the submissions applied to it) at
    which the caseworker did not feel safe: its alert, by the case's contributions
    (``ix_case_contribution_case``) and each one's alert by its submission."""
    stmt = (
        select(WorkerSafetyAlert)
        .join(CaseContribution, CaseContribution.submission_id == WorkerSafetyAlert.submission_id)
        .where(
            CaseContribution.case_id == case_id,
            CaseContribution.state == ContributionState.APPLIED,
        )
        .order_by(WorkerSafetyAlert.event_at.desc(), WorkerSafetyAlert.id.desc())
        .limit(1)
    )
    return session.scalar(stmt)


def has_worker_safety_alert(session: Session, submission_id: int) -> bool:
    """Whether the submission's safety alert is already recorded."""
    stmt = select(WorkerSafetyAlert.id).where(WorkerSafetyAlert.submission_id == submission_id)
    return session.scalar(stmt) is not None


def has_action_for_instance(session: Session, case_id: int, kind: str, instance_id: str) -> bool:
    """Whether the case holds an action of ``kind`` that names this submission (a
    conference's transfer request, once asked)."""
    stmt = select(CaseAction.id).where(
        CaseAction.case_id == case_id,
        CaseAction.kind == kind,
        CaseAction.instance_id == instance_id,
    )
    return session.scalar(stmt.limit(1)) is not None


def get_latest_action(session: Session, case_id: int, kind: str) -> CaseAction | None:
    """The case's latest action of ``kind``."""
    stmt = (
        select(CaseAction)
        .where(CaseAction.case_id == case_id, CaseAction.kind == kind)
        .order_by(CaseAction.at.desc(), CaseAction.id.desc())
        .limit(1)
    )
    return session.scalar(stmt)
