"""The lists people work from: cases (sorted by any of their columns, filtered by team,
caseworker, risk, status, overdue, dates and any part of the reference number) and plan
items across cases (the plan-items and referrals pages), within the user's case scope.

Each list reads lean columns (never the cases' JSON), in the order of an index that holds
its filters (``cases.models``; pinned by ``tests/perf/test_query_plans.py``), and is paged
with a bounded count by keyset (``server.paging.paginate_keyset``: a cursor holds the sort
keys of the row a page ends at, and the next page seeks the index from there), so that a
page costs what the caller may see, not the size of the database, and page 50 what page 1
costs.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, literal_column, or_, select
from sqlalchemy.orm import Bundle, Session

from server.auth.models import User
from server.auth.permissions import may
from server.cases.models import CASE_RISK_RANK, Case, PlanItem
from server.cases.scope import case_scope_clause
from server.paging import KeysetPage, paginate_keyset
from server.types import byte_order

# A case's next contact as the list indexes hold it: undated cases last.
NEXT_DUE = func.coalesce(Case.next_contact_due, literal_column("'9999-12-31'"))
# High risk first, then medium, low, and none recorded: the text of
# ``ix_case_record_risk_order``'s first column, so that the index serves the order.
RISK_RANK: ColumnElement[int] = literal_column(
    CASE_RISK_RANK.replace("risk_level", "case_record.risk_level")
)
# A plan item's due date as ``ix_plan_item_list`` holds it: undated items last.
ITEM_DUE = func.coalesce(PlanItem.due_date, literal_column("'9999-12-31'"))
UNDATED = date(9999, 12, 31)

# The case list's order: the next contact soonest first, undated cases last, then by
# reference number. The expression is the one ``ix_case_record_list_order`` is built on.
CASE_LIST_ORDER: tuple[Any, ...] = (NEXT_DUE, Case.case_ref)

# What a case list shows (``schemas.CaseListItemSchema``, the list page): no JSON.
CASE_LIST_COLUMNS = (
    Case.case_ref,
    Case.status,
    Case.team,
    Case.risk_level,
    Case.last_contact_at,
    Case.next_contact_due,
    Case.review_due,
    Case.opened_at,
    Case.open_conflicts,
    Case.version,
    Case.updated_at,
)

# The sorts a case list offers (``?sort=``), each ending with the reference number so that
# equal keys always list the same way. "due" is the default.
CASE_SORTS = (
    "due",
    "ref",
    "caseworker",
    "team",
    "status",
    "risk",
    "last_contact",
    "opened",
    "updated",
    "conflicts",
)
REVIEW_INTERVAL = timedelta(days=90)


@dataclass(frozen=True)
class CaseFilters:
    """What a case list is narrowed to; None (or False) means any.

    ``overdue_on``: open cases whose next contact is due before that day, or that have an
    open plan item past its due date. ``*_from``/``*_to``: days, both included (times are
    compared in UTC). ``no_review_on``: open cases with no review in the 90 days before
    that day. ``safety_due_by``: open cases whose safety plan is due for review by then.
    """

    caseworker: str | None = None
    status: str | None = None
    risk: str | None = None
    overdue_on: date | None = None
    team: str | None = None
    ref_prefix: str | None = None
    ref_contains: str | None = None
    opened_from: date | None = None
    opened_to: date | None = None
    last_contact_from: date | None = None
    last_contact_to: date | None = None
    due_from: date | None = None
    due_to: date | None = None
    conflicts: bool = False
    no_review_on: date | None = None
    safety_due_by: date | None = None


FILTER_NAMES = tuple(f.name for f in fields(CaseFilters))


def _start(day: date) -> datetime:
    return datetime.combine(day, time.min, UTC)


def _day_range(column: Any, first: date | None, last: date | None) -> list[ColumnElement[bool]]:
    """A timestamp column within days ``first``..``last`` (UTC), either end open."""
    out = []
    if first is not None:
        out.append(column >= _start(first))
    if last is not None:
        out.append(column < _start(last + timedelta(days=1)))
    return out


def _overdue_item_exists(today: date) -> ColumnElement[bool]:
    """The case has an open plan item past its due date: one probe of
    ``ix_plan_item_case_open`` for each case the list reads anyway, and only for those not
    already overdue by their next contact. (A set of every overdue item's case, read once,
    costs every overdue item in the database on every page, whoever asks.)"""
    return (
        select(PlanItem.id)
        .where(
            PlanItem.case_id == Case.id,
            PlanItem.is_done.is_(False),
            PlanItem.due_date < today,
        )
        .exists()
    )


def no_review_clause(today: date) -> ColumnElement[bool]:
    """Open cases with no review in the 90 days before ``today`` (never reviewed: opened
    before then), as the dashboard counts them."""
    cutoff = _start(today - REVIEW_INTERVAL)
    return and_(
        Case.status == "open",
        or_(
            Case.last_review_at < cutoff,
            and_(Case.last_review_at.is_(None), Case.opened_at < cutoff),
        ),
    )


def ref_prefix_clause(prefix: str) -> ColumnElement[bool]:
    """Reference numbers that begin with ``prefix`` (canonical, as filed): a range of an
    index of ``case_ref``, where ``LIKE … ESCAPE`` would read every case. The range is
    taken in byte order (``types.byte_order``), whatever the database's collation: under
    another one (``en_US``, ICU) the strings between ``prefix`` and ``prefix`` + U+10FFFF
    are not those that begin with it. SQLite: the unique index; PostgreSQL: its twin in
    the C collation, ``ix_case_record_ref_bytes``."""
    ref = byte_order(Case.case_ref)
    return and_(ref >= prefix, ref < prefix + "\U0010ffff")


def case_sort(sort: str, *, descending: bool = False, username: Any = None) -> tuple[Any, ...]:
    """ORDER BY of a case list for one of :data:`CASE_SORTS` (else the default), each key
    then the reference number, all ascending or all descending (so that an index read
    backwards serves a descending sort)."""
    keys: dict[str, tuple[Any, ...]] = {
        "due": (NEXT_DUE,),
        "ref": (),
        "caseworker": (username,) if username is not None else (),
        "team": (Case.team,),
        "status": (Case.status,),
        "risk": (RISK_RANK, NEXT_DUE),
        "last_contact": (Case.last_contact_at,),
        "opened": (Case.opened_at,),
        "updated": (Case.updated_at,),
        "conflicts": (Case.open_conflicts,),
    }
    order = (*keys.get(sort, keys["due"]), Case.case_ref)
    return tuple(k.desc() for k in order) if descending else order


def paginate_cases(
    session: Session,
    stmt: Select[*tuple[Any, ...]],
    cursor: str | None = None,
    per_page: int = 50,
    *,
    page: int = 1,
) -> KeysetPage:
    """A page of :func:`list_cases` after (or before) ``cursor``; ``page``: the older
    numbered pages (no cursor)."""
    return paginate_keyset(session, stmt, Case.id, cursor, per_page, page=page, ordered_count=True)


def list_cases(
    user: User, *, sort: str = "due", descending: bool = False, **filters: Any
) -> Select[Any, str | None]:
    """Cases in the user's scope narrowed by :class:`CaseFilters` (given by name), in the
    order of ``sort`` (:data:`CASE_SORTS`; the default: most urgent contact first): (the
    case's list columns, as one row with those attributes; the caseworker's username).
    Page it with :func:`paginate_cases`."""
    f = CaseFilters(**filters)
    cw = User.__table__.alias("cw")
    stmt = (
        select(Bundle("case", *CASE_LIST_COLUMNS), cw.c.username)
        .outerjoin(cw, cw.c.id == Case.caseworker_id)
        .where(case_scope_clause(user))
    )
    if f.caseworker:
        stmt = stmt.where(cw.c.username == f.caseworker)
    # Status as coalesce(status, ''): half the cases share a status, and SQLite would seek
    # them through ix_case_next_contact_due and read each row for the other filters, where
    # the list's own index holds status, risk and caseworker together.
    list_status = func.coalesce(Case.status, "")
    if f.status:
        stmt = stmt.where(list_status == f.status)
    if f.risk:
        stmt = stmt.where(Case.risk_level == f.risk)
    if f.team:
        stmt = stmt.where(cw.c.team == f.team)
    if f.ref_prefix:
        stmt = stmt.where(ref_prefix_clause(f.ref_prefix))
    if f.ref_contains:
        # any part: read from the list index's entries (they hold case_ref), never the rows
        stmt = stmt.where(Case.case_ref.contains(f.ref_contains, autoescape=True))
    where = [
        *_day_range(Case.opened_at, f.opened_from, f.opened_to),
        *_day_range(Case.last_contact_at, f.last_contact_from, f.last_contact_to),
    ]
    if f.due_from is not None:
        where.append(Case.next_contact_due >= f.due_from)
    if f.due_to is not None:
        where.append(Case.next_contact_due <= f.due_to)
    if f.conflicts:
        where.append(Case.open_conflicts > 0)  # the words of ix_case_record_conflicts
    if f.no_review_on is not None:
        where.append(no_review_clause(f.no_review_on))
    if f.safety_due_by is not None:
        where += [list_status == "open", Case.safety_plan_review_due <= f.safety_due_by]
    if f.overdue_on is not None:
        # the due date as the list's index holds it (undated: never before a day), so that
        # the test is made on the index entry, not on the case's row
        where += [
            list_status == "open",
            or_(f.overdue_on > NEXT_DUE, _overdue_item_exists(f.overdue_on)),
        ]
    if where:
        stmt = stmt.where(*where)
    return stmt.order_by(*case_sort(sort, descending=descending, username=cw.c.username))


# --- plan items across cases ---------------------------------------------------------------

# What the plan-items and referrals pages show of an item and its case: no JSON.
ITEM_LIST_COLUMNS = (
    PlanItem.id,
    PlanItem.item_id,
    PlanItem.kind,
    PlanItem.title,
    PlanItem.owner,
    PlanItem.due_date,
    PlanItem.status,
    PlanItem.is_done,
    PlanItem.referral_due,
    PlanItem.referral_urgency,
)


@dataclass(frozen=True)
class ItemFilters:
    """What a plan-items list is narrowed to; None (or False) means any. ``overdue_on``:
    open items of open cases due before that day; ``due_from``/``due_to``: both included."""

    kind: str | None = None
    status: str | None = None
    open_only: bool = False
    overdue_on: date | None = None
    team: str | None = None
    caseworker: str | None = None
    due_from: date | None = None
    due_to: date | None = None
    # referrals whose next state was due before that day (open cases), in the order they
    # fell due (``ix_plan_item_referral_due``)
    state_overdue_on: date | None = None


ITEM_FILTER_NAMES = tuple(f.name for f in fields(ItemFilters))


def list_items(user: User, **filters: Any) -> Select[Any, Any, str | None]:
    """Plan items of the cases in the user's scope, narrowed by :class:`ItemFilters`
    (given by name), due soonest first (undated last), then by row: (the item's list
    columns, its case's reference number and status, the caseworker's username). Read in
    the order of ``ix_plan_item_list``; page it with :func:`paginate_items`.

    What is asked of the case (scope, caseworker, team, open) is a set of case ids, read
    once from the cases' indexes, so that an item read in due order is told in or out from
    its own entry; the case's row is joined (outer, on its key) only for the columns shown,
    so that the bound count and the page's ids never read a case's 4 KB row (a team's
    page 50 of referrals read 130 000 of them)."""
    f = ItemFilters(**filters)
    cw = User.__table__.alias("cw")
    stmt = (
        select(
            Bundle("item", *ITEM_LIST_COLUMNS),
            Bundle("case", Case.case_ref, Case.status),
            cw.c.username,
        )
        .outerjoin(Case, Case.id == PlanItem.case_id)
        .outerjoin(cw, cw.c.id == Case.caseworker_id)
        .where(*_item_conditions(user, f))
    )
    if f.state_overdue_on is not None:
        return stmt.order_by(PlanItem.referral_due, PlanItem.id)
    return stmt.order_by(ITEM_DUE, PlanItem.id)


def _item_conditions(user: User, f: ItemFilters) -> list[ColumnElement[bool]]:
    """The WHERE of :func:`list_items`: on the items' own columns only (what is asked of the
    case is a set of case ids), so that a count needs no join."""
    cases: list[ColumnElement[bool]] = []
    if not may(user, "case.read_all"):
        cases.append(case_scope_clause(user))
    if f.caseworker:
        cases.append(Case.caseworker_id.in_(select(User.id).where(User.username == f.caseworker)))
    if f.team:
        cases.append(Case.caseworker_id.in_(select(User.id).where(User.team == f.team)))
    where: list[ColumnElement[bool]] = []
    if f.overdue_on is not None:
        where += [PlanItem.is_done.is_(False), f.overdue_on > ITEM_DUE]
        if cases:
            cases.append(Case.status == "open")
        else:  # every open case: the closed ones, fewer, left out
            closed = select(Case.id).where(or_(Case.status < "open", Case.status > "open"))
            where.append(PlanItem.case_id.not_in(closed))
    if f.state_overdue_on is not None:
        where.append(PlanItem.referral_due < f.state_overdue_on)
        if cases:
            cases.append(Case.status == "open")
        elif f.overdue_on is None:  # every open case: the closed ones, fewer, left out
            closed = select(Case.id).where(or_(Case.status < "open", Case.status > "open"))
            where.append(PlanItem.case_id.not_in(closed))
    if cases:
        where.append(PlanItem.case_id.in_(select(Case.id).where(*cases)))
    # Only referrals (services) have a next state, so with ``state_overdue_on`` their kind
    # goes without saying: asked of each row, it would read every item where the entries
    # of the referral-due index alone answer.
    if f.kind and not (f.kind == "service" and f.state_overdue_on is not None):
        where.append(PlanItem.kind == f.kind)
    if f.status:
        where.append(PlanItem.status == f.status)
    if f.open_only:
        where.append(PlanItem.is_done.is_(False))
    if f.due_from is not None:
        where += [f.due_from <= ITEM_DUE, ITEM_DUE < UNDATED]
    if f.due_to is not None:
        where.append(f.due_to >= ITEM_DUE)
    return where


def count_items(user: User, **filters: Any) -> Select[Any]:
    """The items of :func:`list_items`, for :func:`server.paging.count_capped`: no join (the
    list's outer joins to the case and its caseworker only add columns), so the count is
    read from the items' indexes."""
    return select(PlanItem.id).where(*_item_conditions(user, ItemFilters(**filters)))


def paginate_items(
    session: Session,
    stmt: Select[*tuple[Any, ...]],
    cursor: str | None = None,
    per_page: int = 50,
    *,
    page: int = 1,
    count: Select[Any] | None = None,
) -> KeysetPage:
    """A page of :func:`list_items` after (or before) ``cursor``: the items' ids first,
    from the indexes. The bounded count is made in no order, so that for a team or a
    caseworker it starts from their cases' entries, not from every item's in due order;
    give it the list's :func:`count_items` so that it reads no case's row either."""
    return paginate_keyset(session, stmt, PlanItem.id, cursor, per_page, page=page, count=count)
