"""Every case query, named for what it returns. Services and views compose these.

Scope (who sees which case) is decided here once, in :func:`visible_cases_query`, and
every list that shows cases to a person goes through it.

Over 600 lines: it also holds queries of other tables (contributions, submissions to
reprocess, the dashboard's) and the generic paging helpers. Moving each query to its table's
module and ``paginate`` to ``server.db`` is item 3 of the one-pipeline issue, not done yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    RowMapping,
    Select,
    String,
    Table,
    and_,
    bindparam,
    cast,
    delete,
    false,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy import case as sql_case
from sqlalchemy.orm import Bundle, Session

from server.auth.models import User
from server.cases.mapping import ITEM_KINDS
from server.cases.models import (
    Case,
    CaseAction,
    CaseConflict,
    CaseContribution,
    PlanItem,
    PlanItemDueCount,
)
from server.db import begin_write
from server.submissions.models import Submission
from server.submissions.queries import submission_scope_clause
from server.xforms.models import XFormVersion

DONE_STATUSES = ("delivered", "done", "completed", "closed", "cancelled", "declined")
APPLIED_STATES = ("applied", "unlinked", "duplicate")


# --- one row -------------------------------------------------------------------------------


def get_case_by_ref(session: Session, case_ref: str) -> Case | None:
    return session.scalars(select(Case).where(Case.case_ref == case_ref)).first()


def get_case_by_entity_id(session: Session, entity_id: str) -> Case | None:
    return session.scalars(select(Case).where(Case.entity_id == entity_id)).first()


def lock_case_ref(session: Session, case_ref: str) -> None:
    """Serialize writers of one reference number, even before its case row exists.

    PostgreSQL: a transaction-scoped advisory lock on the reference number, so two
    registrations arriving together cannot both create the case. SQLite: the database write
    lock (one writer at a time is all SQLite has).

    Advisory locks are shared by the whole database, so the key names the schema too: two
    deployments (or test runs) in one database never wait on each other's case numbers.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text(
                "SELECT pg_advisory_xact_lock(hashtextextended(current_schema() || '/' || :ref, 0))"
            ),
            {"ref": case_ref},
        )
    else:
        begin_write(session)


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
            CaseAction.payload["entity_id"].as_string() == entity_id,
        )
        .order_by(CaseAction.id.desc())
    )
    found = session.execute(stmt).first()
    return (found[0], found[1]) if found is not None else None


def get_users_by_username(session: Session, usernames: set[str]) -> dict[str, User]:
    """username -> user, active or not, for those of these names that exist."""
    if not usernames:
        return {}
    stmt = select(User).where(User.username.in_(sorted(usernames)))
    return {u.username: u for u in session.scalars(stmt)}


def get_case_for_update(session: Session, case_ref: str) -> Case | None:
    """The case row, locked until the transaction ends (``FOR UPDATE`` on PostgreSQL)."""
    stmt = select(Case).where(Case.case_ref == case_ref).with_for_update()
    return session.scalars(stmt.execution_options(populate_existing=True)).first()


def get_user(session: Session, user_id: int | None) -> User | None:
    return session.get(User, user_id) if user_id is not None else None


def get_active_user_by_username(session: Session, username: str) -> User | None:
    stmt = select(User).where(User.username == username, User.is_active.is_(True))
    return session.scalars(stmt).first()


def get_usernames(session: Session, user_ids: set[int]) -> dict[int, str]:
    if not user_ids:
        return {}
    rows = session.execute(select(User.id, User.username).where(User.id.in_(user_ids)))
    return {r[0]: r[1] for r in rows}


def get_active_usernames(session: Session, usernames: set[str]) -> set[str]:
    if not usernames:
        return set()
    stmt = select(User.username).where(User.username.in_(usernames), User.is_active.is_(True))
    return set(session.scalars(stmt))


def get_submission_by_instance_id(session: Session, instance_id: str) -> Submission | None:
    return session.scalars(select(Submission).where(Submission.instance_id == instance_id)).first()


def get_xform_version(session: Session, version_id: int) -> XFormVersion | None:
    return session.get(XFormVersion, version_id)


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


def list_contributions_for_ref(
    session: Session, case_ref: str, states: Sequence[str] = APPLIED_STATES
) -> list[CaseContribution]:
    """Contributions filed under a reference number, oldest event first."""
    stmt = (
        select(CaseContribution)
        .where(CaseContribution.case_ref == case_ref, CaseContribution.state.in_(states))
        .order_by(CaseContribution.event_at, CaseContribution.id)
    )
    return list(session.scalars(stmt))


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
        .where(CaseContribution.case_id == case_id, CaseContribution.state == "applied")
        .order_by(CaseContribution.event_at, CaseContribution.id)
    )
    return list(session.scalars(stmt))


def list_timeline(session: Session, case_id: int) -> list[tuple[CaseContribution, Any]]:
    """The case's contributions with their submissions' ``instance_id`` and ``received_at``
    (not the stored XML and answers), oldest event first (for the detail). The rows come
    from ``ix_case_contribution_case``, in its order."""
    submission: Bundle[Any] = Bundle("submission", Submission.instance_id, Submission.received_at)
    stmt = (
        select(CaseContribution, submission)
        .join(Submission, Submission.id == CaseContribution.submission_id)
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


def list_submissions_by_id(session: Session, ids: Sequence[int]) -> list[Submission]:
    """These submissions, in the order of ``ids``."""
    found = {s.id: s for s in session.scalars(select(Submission).where(Submission.id.in_(ids)))}
    return [found[i] for i in ids if i in found]


def list_submissions_to_reprocess(
    session: Session, instance_id: str | None = None, states: Sequence[str] = ("failed",)
) -> list[Submission]:
    """One submission by instance id, or every submission in one of ``states``, oldest
    first."""
    if instance_id is not None:
        stmt = select(Submission).where(Submission.instance_id == instance_id)
    else:
        stmt = (
            select(Submission)
            .where(Submission.processing_state.in_(states))
            .order_by(Submission.received_at, Submission.id)
        )
    return list(session.scalars(stmt))


# --- rebuilding: Core reads and writes on the session's connection ------------------------
#
# The rebuild runs for every submission; these skip the ORM's identity map and unit of work.
# ``cases.service.rebuild`` flushes before it reads and expires the ORM copies it outdated.

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
    PlanItem.properties,
    PlanItem.provenance,
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
    select(CaseAction.id, CaseAction.kind, CaseAction.at, User.username, CaseAction.payload)
    .outerjoin(User, User.id == CaseAction.actor_id)
    .where(CaseAction.case_id == bindparam("case_id"))
    .order_by(CaseAction.at, CaseAction.id)
)
_ACTIVE_USER_REFS = select(User.username, User.id, User.team).where(
    User.username.in_(bindparam("names", expanding=True)), User.is_active.is_(True)
)
_USER_REF = select(User.id, User.team).where(User.id == bindparam("user_id"))
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
    """(id, kind, at, actor username, payload) of the case's supervisor actions."""
    rows = session.connection().execute(_ACTION_ROWS_FOR_CASE, {"case_id": case_id})
    return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]


def get_active_user_refs(
    session: Session, usernames: set[str]
) -> dict[str, tuple[int, str | None]]:
    """username -> (id, team) for those of these names that are active users."""
    if not usernames:
        return {}
    rows = session.connection().execute(_ACTIVE_USER_REFS, {"names": sorted(usernames)})
    return {r[0]: (r[1], r[2]) for r in rows}


def get_user_ref(session: Session, user_id: int | None) -> tuple[int, str | None] | None:
    """(id, team) of a user, active or not."""
    if user_id is None:
        return None
    found = session.connection().execute(_USER_REF, {"user_id": user_id}).first()
    return (found[0], found[1]) if found is not None else None


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


def insert_rows(session: Session, model: type[Any], rows: list[dict[str, Any]]) -> None:
    """One executemany insert (every row with the same keys)."""
    if rows:
        session.connection().execute(insert(model.__table__), rows)


def update_rows(session: Session, model: type[Any], rows: list[dict[str, Any]]) -> None:
    """Update rows by id: each dict holds ``id`` and the same other keys (the SET clause)."""
    if not rows:
        return
    table = model.__table__
    stmt = update(table).where(table.c.id == bindparam("_id"))
    params = [{**{k: v for k, v in r.items() if k != "id"}, "_id": r["id"]} for r in rows]
    session.connection().execute(stmt, params)


def delete_rows(session: Session, model: type[Any], ids: list[int]) -> None:
    if ids:
        table = model.__table__
        session.connection().execute(delete(table).where(table.c.id.in_(ids)))


# --- scope ---------------------------------------------------------------------------------


def case_scope_clause(user: User) -> ColumnElement[bool]:
    """The one rule for which cases a user may see, read or export."""
    if user.role == "admin":
        return true()
    if user.role == "supervisor":
        team_members = select(User.id).where(User.team == user.team, User.team.is_not(None))
        return or_(Case.caseworker_id.in_(team_members), Case.caseworker_id.is_(None))
    if user.role == "caseworker":
        return Case.caseworker_id == user.id
    return false()


ASSIGNABLE_ROLES = ("caseworker", "supervisor")


def assignable_users_clause(actor: User) -> ColumnElement[bool]:
    """The one rule for whom ``actor`` may make a case's caseworker: an active caseworker
    or supervisor; a supervisor may pick only from their own team; nobody else may pick."""
    eligible = and_(User.is_active.is_(True), User.role.in_(ASSIGNABLE_ROLES))
    if actor.role == "admin":
        return eligible
    if actor.role == "supervisor":
        return and_(eligible, User.team == actor.team, User.team.is_not(None))
    return false()


def list_assignable_users(actor: User) -> Select[User]:
    return select(User).where(assignable_users_clause(actor)).order_by(User.username)


def is_assignable(session: Session, actor: User, user_id: int) -> bool:
    stmt = select(User.id).where(User.id == user_id, assignable_users_clause(actor))
    return session.scalar(stmt) is not None


def visible_cases_query(user: User) -> Select[Case]:
    """Cases the user may see: admin all; supervisor the team's and unassigned ones;
    caseworker their own; anyone else none."""
    return select(Case).where(case_scope_clause(user))


def is_case_visible(session: Session, user: User, case_id: int) -> bool:
    stmt = select(Case.id).where(Case.id == case_id, case_scope_clause(user))
    return session.scalar(stmt) is not None


def get_usernames_seeing_case(session: Session, users: Sequence[User], case_id: int) -> set[str]:
    """Which of these users may see the case, by :func:`case_scope_clause` (one query)."""
    if not users:
        return set()
    seen = [sql_case((case_scope_clause(u), true()), else_=false()) for u in users]
    row = session.execute(select(*seen).where(Case.id == case_id)).first()
    if row is None:
        return set()
    return {u.username for u, sees in zip(users, row, strict=True) if sees}


# --- lists ---------------------------------------------------------------------------------

# Counts stop here: past it a list says "10,000+" (its pages still work), so that counting
# never costs more than reading that many index entries.
COUNT_CAP = 10_000


@dataclass(frozen=True)
class Page:
    items: list[Any]
    total: int  # capped at COUNT_CAP (``total_capped`` says so)
    page: int
    per_page: int
    total_capped: bool = False


def count_capped(
    session: Session, stmt: Select[*tuple[Any, ...]], *, ordered: bool = False
) -> tuple[int, bool]:
    """(rows of ``stmt``, up to :data:`COUNT_CAP`; whether there are more). Only the
    statement's FROM and WHERE are read (no columns), so the count can come from an index.
    ``ordered``: count in the statement's order, so that the planner walks the same index
    as for the page (the case list's index holds every filter; without the order SQLite
    may pick another index and read each case's row)."""
    lean: Select[Any] = stmt if ordered else stmt.order_by(None)
    # keep the FROM: a statement with no WHERE would otherwise lose its table, and count 1
    lean = lean.with_only_columns(literal_column("1"), maintain_column_froms=True)
    lean = lean.limit(COUNT_CAP + 1)
    found = session.scalar(select(func.count()).select_from(lean.subquery())) or 0
    return min(found, COUNT_CAP), found > COUNT_CAP


def _page_bounds(page: int, per_page: int) -> tuple[int, int]:
    return max(page, 1), min(max(per_page, 1), 500)


def paginate(
    session: Session, stmt: Select[*tuple[Any, ...]], page: int = 1, per_page: int = 50
) -> Page:
    """Run ``stmt`` for one page (1-based) and count the result (up to COUNT_CAP)."""
    page, per_page = _page_bounds(page, per_page)
    total, capped = count_capped(session, stmt)
    rows = session.execute(stmt.limit(per_page).offset((page - 1) * per_page)).all()
    items = [r[0] if len(r) == 1 else r for r in rows]  # a Row: a tuple, with names
    return Page(items=items, total=total, page=page, per_page=per_page, total_capped=capped)


def paginate_by_id(
    session: Session, stmt: Select[*tuple[Any, ...]], key: Any, page: int = 1, per_page: int = 50
) -> Page:
    """:func:`paginate` for a statement whose rows are wide: the page's ``key`` values (a
    primary key) are picked first, ordered and filtered from the indexes alone; only those
    rows are then read, and put back in that order."""
    page, per_page = _page_bounds(page, per_page)
    total, capped = count_capped(session, stmt, ordered=True)
    ids_stmt = stmt.with_only_columns(key).limit(per_page).offset((page - 1) * per_page)
    ids = list(session.scalars(ids_stmt))
    rows = (
        session.execute(stmt.add_columns(key).order_by(None).where(key.in_(ids))).all()
        if ids
        else []
    )
    position = {k: n for n, k in enumerate(ids)}
    by_id = sorted(rows, key=lambda r: position[r[-1]])
    items = [r[0] if len(r) == 2 else tuple(r)[:-1] for r in by_id]  # less the key
    return Page(items=items, total=total, page=page, per_page=per_page, total_capped=capped)


def _overdue_item_exists(today: date) -> ColumnElement[bool]:
    return (
        select(PlanItem.id)
        .where(
            PlanItem.case_id == Case.id,
            PlanItem.is_done.is_(False),
            PlanItem.due_date < today,
        )
        .exists()
    )


def _has_overdue_item(today: date) -> ColumnElement[bool]:
    """The case has an open plan item past its due date: one probe of
    ``ix_plan_item_case_open`` for each case the list reads anyway, and only for those not
    already overdue by their next contact. (A set of every overdue item's case, read once,
    costs every overdue item in the database on every page, whoever asks.)"""
    return _overdue_item_exists(today)


# The case list's order: the next contact soonest first, undated cases last, then by
# reference number. The expression is the one ``ix_case_record_list_order`` is built on.
CASE_LIST_ORDER: tuple[Any, ...] = (
    func.coalesce(Case.next_contact_due, literal_column("'9999-12-31'")),
    Case.case_ref,
)

# What a case list shows (``schemas.CaseListItemSchema``, the list page): no JSON.
CASE_LIST_COLUMNS = (
    Case.case_ref,
    Case.status,
    Case.team,
    Case.risk_level,
    Case.last_contact_at,
    Case.next_contact_due,
    Case.review_due,
    Case.open_conflicts,
    Case.version,
    Case.updated_at,
)


def ref_prefix_clause(prefix: str) -> ColumnElement[bool]:
    """Reference numbers that begin with ``prefix`` (canonical, as filed): a range on the
    unique index of ``case_ref``, where ``LIKE … ESCAPE`` would read every case. Binary
    order on SQLite, and on PostgreSQL under a C collation (the server's default here)."""
    return and_(Case.case_ref >= prefix, Case.case_ref < prefix + "\U0010ffff")


def paginate_cases(
    session: Session, stmt: Select[*tuple[Any, ...]], page: int = 1, per_page: int = 50
) -> Page:
    """A page of :func:`list_cases`."""
    return paginate_by_id(session, stmt, Case.id, page, per_page)


def list_cases(
    user: User,
    *,
    caseworker: str | None = None,
    status: str | None = None,
    risk: str | None = None,
    overdue_on: date | None = None,
    team: str | None = None,
    ref_prefix: str | None = None,
) -> Select[Any, str | None]:
    """Cases in the user's scope, most urgent contact first: (the case's list columns, as
    one row with those attributes; the caseworker's username). Page it with
    :func:`paginate_cases`.

    ``overdue_on``: only open cases whose next contact is due before that day or that have
    a plan item past its due date.
    """
    cw = User.__table__.alias("cw")
    stmt = (
        select(Bundle("case", *CASE_LIST_COLUMNS), cw.c.username)
        .outerjoin(cw, cw.c.id == Case.caseworker_id)
        .where(case_scope_clause(user))
    )
    if caseworker:
        stmt = stmt.where(cw.c.username == caseworker)
    # Status as coalesce(status, ''): half the cases share a status, and SQLite would seek
    # them through ix_case_next_contact_due and read each row for the other filters, where
    # the list's own index holds status, risk and caseworker together.
    list_status = func.coalesce(Case.status, "")
    if status:
        stmt = stmt.where(list_status == status)
    if risk:
        stmt = stmt.where(Case.risk_level == risk)
    if team:
        stmt = stmt.where(cw.c.team == team)
    if ref_prefix:
        stmt = stmt.where(ref_prefix_clause(ref_prefix))
    if overdue_on is not None:
        # the due date as the list's index holds it (undated: never before a day), so that
        # the test is made on the index entry, not on the case's row
        due = CASE_LIST_ORDER[0]
        stmt = stmt.where(
            list_status == "open",
            or_(due < overdue_on, _has_overdue_item(overdue_on)),
        )
    return stmt.order_by(*CASE_LIST_ORDER)


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


def list_unlinked(user: User) -> Select[Any, Any, str | None]:
    """Submissions waiting for a registration with their reference number (or a supervisor),
    in the user's scope: (contribution, submission, submitter username), oldest first.
    Page it (:func:`paginate`)."""
    return _queue(user, "unlinked").order_by(CaseContribution.event_at, CaseContribution.id)


def list_duplicates(user: User) -> Select[Any, Any, str | None]:
    """Registrations (and their follow-ups) that reuse an existing reference number, in
    the user's scope: (contribution, submission, submitter username). Page it."""
    return _queue(user, "duplicate").order_by(
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
            Case.status == "open",
            Case.next_contact_due <= today + timedelta(days=horizon_days),
        )
        .order_by(Case.next_contact_due, Case.case_ref)
    )


def _not_open_status() -> ColumnElement[bool]:
    """``status <> 'open'`` as two ranges, so that it is read from an index on status."""
    return or_(Case.status < "open", Case.status > "open")


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
    if user.role != "supervisor":  # a caseworker's few hundred cases: from their side
        return nth_overdue_due_date(session, today, n) if user.role == "admin" else None
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


def list_overdue_items(
    user: User, today: date, due_until: date | None = None
) -> Select[PlanItem, Any]:
    """Open plan items past their due date on open cases in scope, oldest due first:
    (item, its case's ``case_ref`` and ``caseworker_id``).

    ``due_until``: only items due by then (:func:`nth_overdue_due_date` for a list of the
    first few of every case's, so that an admin's list reads those, not every overdue
    item)."""
    case: Bundle[Any] = Bundle("case", Case.case_ref, Case.caseworker_id)
    stmt = (
        select(PlanItem, case)
        .join(Case, Case.id == PlanItem.case_id)
        .where(
            case_scope_clause(user),
            Case.status == "open",
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


def plan_item_order() -> tuple[ColumnElement[Any], ...]:
    """How a case's plan items are listed everywhere (case page, API, exports, device lists):
    by kind (need, service, action, decision, then any other), then due date (undated
    last), then item id. Never by row id: that is the order submissions happened to
    arrive in, and the same submissions must list the same way whatever their order."""
    return (
        sql_case(
            *((PlanItem.kind == kind, n) for n, kind in enumerate(ITEM_KINDS)),
            else_=len(ITEM_KINDS),
        ),
        sql_case((PlanItem.due_date.is_(None), 1), else_=0),
        PlanItem.due_date.asc(),
        PlanItem.item_id.asc(),
    )


def list_plan_items(session: Session, case_id: int) -> list[PlanItem]:
    stmt = select(PlanItem).where(PlanItem.case_id == case_id).order_by(*plan_item_order())
    return list(session.scalars(stmt))


def list_conflicts(session: Session, case_id: int) -> list[CaseConflict]:
    stmt = select(CaseConflict).where(CaseConflict.case_id == case_id).order_by(CaseConflict.id)
    return list(session.scalars(stmt))


# --- dashboard -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Dashboard:
    open_cases_by_caseworker: dict[str, int] = field(default_factory=dict)  # "" = unassigned
    contacts_overdue: int = 0
    contacts_due_this_week: int = 0
    overdue_items_by_kind: dict[str, int] = field(default_factory=dict)
    cases_without_review: int = 0  # no review in the last 90 days
    open_conflicts: int = 0
    unlinked_waiting: int = 0
    duplicates_waiting: int = 0


def dashboard_counts(session: Session, user: User, today: date) -> Dashboard:
    """The counts a supervisor's front page shows, within the user's scope.

    The case counts are one pass over ``ix_case_record_scope`` (the caller's caseworkers'
    entries for a supervisor, every entry for an admin), never over the cases' rows."""
    scope = case_scope_clause(user)
    parts = [scope]
    if user.role == "supervisor":
        # The team's ids as values, and the unassigned cases apart: each part seeks its
        # entries in ix_case_record_scope, where "IN (team) OR IS NULL" read the whole index.
        team = session.scalars(
            select(User.id).where(User.team == user.team, User.team.is_not(None))
        ).all()
        parts = [Case.caseworker_id.in_(team), Case.caseworker_id.is_(None)]
    is_open = Case.status == "open"
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
    overdue, week, no_review, conflicts = (sum(int(r[i]) for r in per_cw) for i in (2, 3, 4, 5))

    items = overdue_items_by_kind(session, today, _caseworker_keys(session, user))
    counts = dict(
        session.execute(
            select(CaseContribution.state, func.count(CaseContribution.id))
            .join(Submission, Submission.id == CaseContribution.submission_id)
            .where(
                CaseContribution.state.in_(("unlinked", "duplicate")),
                submission_scope_clause(user),
            )
            .group_by(CaseContribution.state)
        ).all()
    )
    unlinked, duplicates = counts.get("unlinked", 0), counts.get("duplicate", 0)
    return Dashboard(
        open_cases_by_caseworker=dict(sorted(open_by_cw.items())),
        contacts_overdue=overdue,
        contacts_due_this_week=week,
        overdue_items_by_kind=items,
        cases_without_review=no_review,
        open_conflicts=conflicts,
        unlinked_waiting=unlinked,
        duplicates_waiting=duplicates,
    )


def _caseworker_keys(session: Session, user: User) -> list[int] | None:
    """The caseworker keys of ``plan_item_due_count`` in the user's case scope (0: the
    unassigned cases); None for every key (an admin)."""
    if user.role == "admin":
        return None
    if user.role == "supervisor":
        team = select(User.id).where(User.team == user.team, User.team.is_not(None))
        return [0, *session.scalars(team)]
    if user.role == "caseworker":
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


# --- device lists --------------------------------------------------------------------------


def list_case_list_rows(
    user: User,
) -> Select[str, int, str, str | None, str | None, str | None, str, int | None]:
    """Columns of cases.csv for the user's open cases: entity_id, version, case_ref,
    risk_level, caseworker username, next_contact_due, status, contact_frequency_days.
    Ordered by case_ref."""
    cw = User.__table__.alias("cw")
    return (
        select(
            Case.entity_id,
            Case.version,
            Case.case_ref,
            Case.risk_level,
            cw.c.username,
            _date_text(Case.next_contact_due),
            Case.status,
            Case.contact_frequency_days,
        )
        .outerjoin(cw, cw.c.id == Case.caseworker_id)
        .where(_device_scope(user), Case.status == "open")
        .order_by(Case.case_ref)
    )


def list_case_csv_rows(
    user: User,
) -> Select[str, str, int, str, str | None, str | None, str | None, str, int | None]:
    """cases.csv rows exactly as written: entity_id, label ("ref (risk)", or the reference
    number alone), version, case_ref, risk_level, caseworker username, next_contact_due,
    status, contact_frequency_days (the plan's, in days); the user's open cases in device
    scope, ordered by case_ref. The label is built
    by the database so that rows go to the CSV writer untouched."""
    cw = User.__table__.alias("cw")
    has_risk = and_(Case.risk_level.is_not(None), Case.risk_level != "")
    label = sql_case(
        (has_risk, Case.case_ref + " (" + Case.risk_level + ")"), else_=Case.case_ref
    ).label("label")
    return (
        select(
            Case.entity_id,
            label,
            Case.version,
            Case.case_ref,
            Case.risk_level,
            cw.c.username,
            _date_text(Case.next_contact_due),
            Case.status,
            Case.contact_frequency_days,
        )
        .outerjoin(cw, cw.c.id == Case.caseworker_id)
        # coalesce keeps the planner off the status index: walking the case_ref index
        # yields rows already in order, streamed from the first one, where the status index
        # made SQLite sort every open case before returning any.
        .where(_device_scope(user), func.coalesce(Case.status, "") == "open")
        .order_by(Case.case_ref)
    )


def list_plan_item_list_rows(
    user: User,
) -> Select[str, str, str, str, str, str | None, str | None]:
    """Columns of plan_items.csv: item_id, title, case_ref, kind, status, due, key (open
    items of open cases in the user's device scope)."""
    return (
        select(
            PlanItem.item_id,
            PlanItem.title,
            Case.case_ref,
            PlanItem.kind,
            PlanItem.status,
            _date_text(PlanItem.due_date),
            PlanItem.key,
        )
        .join(Case, Case.id == PlanItem.case_id)
        .where(_device_scope(user), Case.status == "open", PlanItem.is_done.is_(False))
        .order_by(Case.case_ref, *plan_item_order())
    )


def _date_text(column: Any) -> Any:
    """A date column as 'YYYY-MM-DD' text, so device lists write it without parsing."""
    return cast(column, String).label(column.key)


def _device_scope(user: User) -> ColumnElement[bool]:
    """Devices carry only what their user works on: a supervisor's phone gets the team's
    cases (not the unassigned ones), an admin's every case."""
    if user.role == "supervisor":
        team_members = select(User.id).where(User.team == user.team, User.team.is_not(None))
        return Case.caseworker_id.in_(team_members)
    return case_scope_clause(user)


def get_known_entity_ids(session: Session, entity_ids: list[str]) -> set[str]:
    """Which of these entity ids belong to a case, or were merged into one (a duplicate
    registration's)."""
    if not entity_ids:
        return set()
    known = set(session.scalars(select(Case.entity_id).where(Case.entity_id.in_(entity_ids))))
    merged = CaseAction.payload["entity_id"].as_string()
    stmt = select(merged).where(CaseAction.kind == "merge_duplicate", merged.in_(entity_ids))
    return known | {e for e in session.scalars(stmt) if e}


def get_listed_entity_ids(session: Session, user: User, entity_ids: list[str]) -> set[str]:
    """Which of these entity ids are on the user's cases.csv (open, in device scope)."""
    if not entity_ids:
        return set()
    stmt = select(Case.entity_id).where(
        Case.entity_id.in_(entity_ids), Case.status == "open", _device_scope(user)
    )
    return set(session.scalars(stmt))


def get_once_listed_entity_ids(session: Session, user: User, entity_ids: list[str]) -> set[str]:
    """Which of these entity ids the user's cases.csv holds or has held, as far as the
    record tells: for an admin every case's (their list is every open case); for others the
    cases that they (a supervisor: anyone of their team) sent a submission about or were
    named caseworker of, the entity ids their own submissions named, and those of their
    registrations merged into another case."""
    if not entity_ids:
        return set()
    if user.role == "admin":
        return get_known_entity_ids(session, entity_ids)
    if user.role == "supervisor" and user.team:
        people: Any = select(User.id).where(User.team == user.team)
    else:
        people = select(User.id).where(User.id == user.id)
    names = select(User.username).where(User.id.in_(people))
    sent = (
        select(CaseContribution.case_id, CaseContribution.entity_id)
        .join(Submission, Submission.id == CaseContribution.submission_id)
        .where(Submission.submitter_id.in_(people))
        .subquery()
    )
    assigned = select(CaseAction.case_id).where(
        CaseAction.kind == "reassign", CaseAction.payload["username"].as_string().in_(names)
    )
    cases = select(Case.entity_id).where(
        Case.entity_id.in_(entity_ids),
        or_(
            Case.caseworker_id.in_(people),
            Case.id.in_(select(sent.c.case_id).where(sent.c.case_id.is_not(None))),
            Case.id.in_(assigned),
        ),
    )
    named = select(sent.c.entity_id).where(sent.c.entity_id.in_(entity_ids))
    # a duplicate registration of theirs, merged into another case: its entity was theirs
    merged_entity = CaseAction.payload["entity_id"].as_string()
    retired = select(merged_entity).where(
        CaseAction.kind == "merge_duplicate",
        merged_entity.in_(entity_ids),
        CaseAction.payload["instance_id"]
        .as_string()
        .in_(select(Submission.instance_id).where(Submission.submitter_id.in_(people))),
    )
    return (
        set(session.scalars(cases))
        | {e for e in session.scalars(named) if e}
        | {e for e in session.scalars(retired) if e}
    )
