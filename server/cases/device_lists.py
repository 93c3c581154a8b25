"""The CSV lists Collect downloads with the forms: cases.csv, plan_items.csv, services.csv.

Each list streams as chunks of CSV text straight from a server-side cursor, so memory stays
flat however many cases there are. Labels carry reference numbers, never a child's name:
a phone can be lost. No column a sensitive answer feeds goes to a phone
(``server.sensitivity``).

What the manifest announces and the download serves comes from ``cases.list_cache``: the
bytes built here, kept with their MD5 until the lists' source changes.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import (
    Select,
    String,
    and_,
    cast,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy import case as sql_case
from sqlalchemy.orm import Session

from server import sensitivity
from server.auth.models import User
from server.auth.permissions import may
from server.cases.models import (
    Case,
    CaseAction,
    CaseContribution,
    CaseStatus,
    PlanItem,
    plan_item_order,
)
from server.cases.referrals import REFERRAL_KIND, next_states
from server.cases.scope import device_scope_clause
from server.services import queries as service_queries
from server.submissions.models import Submission

CASES_HEADER = (
    "name",
    "label",
    "__version",
    "case_ref",
    "risk_level",
    "caseworker",
    "next_contact_due",
    "status",
    "contact_frequency_days",
    # a supervisor's approval of a closure or high-risk plan: pending, approved, returned
    "approval",
    # a transfer of the case: pending, accepted or declined (a code, never a name)
    "transfer",
)
# What a case's label on the phone adds while a supervisor's approval is pending or after
# a return (the case list shows labels; the property ``approval`` holds the code).
APPROVAL_LABELS = {"pending": " - approval pending", "returned": " - returned by supervisor"}
# ``next_states``: a referral's state now and the states that may follow it (space
# separated, what the contact log offers); ``referral_due``: when its next state is due.
PLAN_ITEMS_HEADER = (
    "name", "label", "case_ref", "kind", "status", "due", "key", "next_states", "referral_due"
)  # fmt: skip
SERVICES_HEADER = (
    "name",
    "label",
    "category",
    "provider",
    "location",
    "access",
    "focal_point",
    "description",
    "can_visit",
    "visiting_teams",
)
LIST_NAMES = ("cases.csv", "plan_items.csv", "services.csv")
_HEADERS = {"cases.csv": CASES_HEADER, "plan_items.csv": PLAN_ITEMS_HEADER}

_CHUNK_ROWS = 2000
_FETCH_ROWS = 5000


def case_label(case_ref: str, risk_level: str | None) -> str:
    """What Collect shows for a case: the reference number and the risk, nothing else."""
    return f"{case_ref} ({risk_level})" if risk_level else case_ref


def write_csv(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    """CSV text in chunks of a few thousand rows: the header first, then the rows.

    Cells must already be ``str``, ``int`` or ``None`` (written as empty): the row
    builders below select dates as text so that no per-cell conversion is needed.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(list(header))
    batch: list[Iterable[Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == _CHUNK_ROWS:
            writer.writerows(batch)
            batch.clear()
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    writer.writerows(batch)
    tail = buffer.getvalue()
    if tail:
        yield tail


def _stream(session: Session, stmt: Any) -> Iterator[Any]:
    """Rows of a Core select in batches, straight from the connection (no ORM loading);
    a server-side cursor on PostgreSQL."""
    session.flush()  # a Core read skips the ORM's autoflush
    result = session.connection().execute(stmt, execution_options={"yield_per": _FETCH_ROWS})
    for partition in result.partitions():
        yield from partition


def case_rows(session: Session, user: User) -> Iterator[tuple[Any, ...]]:
    """cases.csv rows for the user's open cases, read in batches."""
    for row in _stream(session, list_case_list_rows(user)):
        entity_id, version, case_ref, risk, caseworker, due, status, frequency, approval = row[:9]
        label = f"{case_ref} ({risk})" if risk else case_ref
        if approval in APPROVAL_LABELS:
            label += APPROVAL_LABELS[approval]
        yield (
            entity_id,
            label,
            version,
            case_ref,
            risk,
            caseworker,
            due,
            status,
            frequency,
            approval,
            row[9],
        )


def plan_item_rows(session: Session, user: User) -> Iterator[tuple[Any, ...]]:
    for item_id, title, case_ref, kind, status, due, key, referral_due in _stream(
        session, list_plan_item_list_rows(user)
    ):
        following = next_states(status) if kind == REFERRAL_KIND else ()
        offered = " ".join([status, *following]) if following else ""
        label = f"{case_ref}: {title or kind}"
        yield (item_id, label, case_ref, kind, status, due, key, offered, referral_due)


def service_rows(session: Session) -> Iterator[tuple[Any, ...]]:
    for row in _stream(session, service_queries.list_service_list_rows()):
        service_id, name, category, provider, location, access, focal, about, visits, teams = row
        label = f"{name} ({provider})" if provider else name
        can_visit = "yes" if visits else "no"
        yield (
            service_id,
            label,
            category,
            provider,
            location,
            access,
            focal,
            about,
            can_visit,
            teams,
        )


def stream_cases_csv(session: Session, user: User) -> Iterator[str]:
    """cases.csv (an ODK entity list) for the user: open cases in their device scope.

    The database builds each row as written (label included), so batches of rows go
    straight from the cursor to the C csv writer with no Python work per row.
    """
    hidden = _hidden(session, "cases.csv", CASES_HEADER)
    if hidden:
        return write_csv(CASES_HEADER, _without(CASES_HEADER, hidden, case_rows(session, user)))
    return _stream_case_csv_rows(session, user)


def _stream_case_csv_rows(session: Session, user: User) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CASES_HEADER)
    session.flush()  # a Core read skips the ORM's autoflush
    result = session.connection().execute(
        list_case_csv_rows(user), execution_options={"yield_per": _FETCH_ROWS}
    )
    for partition in result.partitions():
        writer.writerows(partition)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    tail = buffer.getvalue()
    if tail:
        yield tail


def stream_plan_items_csv(session: Session, user: User) -> Iterator[str]:
    """plan_items.csv: open items of the open cases in the user's device scope."""
    rows = plan_item_rows(session, user)
    hidden = _hidden(session, "plan_items.csv", PLAN_ITEMS_HEADER)
    return write_csv(PLAN_ITEMS_HEADER, _without(PLAN_ITEMS_HEADER, hidden, rows))


def _hidden(session: Session, list_name: str, header: Sequence[str]) -> frozenset[str]:
    """Columns a sensitive answer feeds: a phone never gets them (``server.sensitivity``)."""
    return sensitivity.device_hidden(sensitivity.load_names(session), list_name, header)


def _without(
    header: Sequence[str], hidden: frozenset[str], rows: Iterable[tuple[Any, ...]]
) -> Iterator[tuple[Any, ...]]:
    """The rows with the hidden columns empty; a label that shows one of them is rebuilt
    from the reference number (and the item's kind) alone."""
    if not hidden:
        yield from rows
        return
    at = {name: i for i, name in enumerate(header)}
    blank = [at[c] for c in hidden]
    relabel = "label" in at and ("risk_level" in hidden or "label" in hidden)
    for row in rows:
        cells = list(row)
        for i in blank:
            cells[i] = None
        if relabel:
            ref = cells[at["case_ref"]]
            kind = cells[at["kind"]] if "kind" in at else None
            cells[at["label"]] = f"{ref}: {kind}" if kind else ref
        yield tuple(cells)


def stream_services_csv(session: Session) -> Iterator[str]:
    """services.csv: active services of the directory, the same for everyone."""
    return write_csv(SERVICES_HEADER, service_rows(session))


def stream_list(session: Session, list_name: str, user: User) -> Iterator[str]:
    """One of :data:`LIST_NAMES` by file name; KeyError for any other name."""
    if list_name == "cases.csv":
        return stream_cases_csv(session, user)
    if list_name == "plan_items.csv":
        return stream_plan_items_csv(session, user)
    if list_name == "services.csv":
        return stream_services_csv(session)
    raise KeyError(list_name)


def entity_states(
    session: Session, dataset: str, ids: list[str], user: User
) -> list[tuple[str, bool]]:
    """Answers Collect's integrity check: ``(entity id, deleted)`` for each id asked about.

    Deleted means the server knows the case, it was sent to this user (it is or was on
    their list: ``get_once_listed_entity_ids``) and it has left their list (closed,
    or assigned outside their scope). Any other id is *not* deleted: one the server does not
    know yet may be a registration still on its way (Collect would drop the caseworker's
    offline case), and one the user was never sent gets the same answer, so that the URL
    tells no one which cases exist.
    """
    if dataset != "cases":
        return [(i, False) for i in ids]
    listed = get_listed_entity_ids(session, user, ids)
    known = get_known_entity_ids(session, ids)
    sent = get_once_listed_entity_ids(session, user, ids)
    return [(i, i in known and i in sent and i not in listed) for i in ids]


# --- the lists' queries ------------------------------------------------------------------


def list_case_list_rows(
    user: User,
) -> Select[
    str, int, str, str | None, str | None, str | None, str, int | None, str | None, str | None
]:
    """Columns of cases.csv for the user's open cases: entity_id, version, case_ref,
    risk_level, caseworker username, next_contact_due, status, contact_frequency_days,
    approval, transfer. Ordered by case_ref."""
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
            Case.approval,
            Case.transfer,
        )
        .outerjoin(cw, cw.c.id == Case.caseworker_id)
        .where(device_scope_clause(user), Case.status == CaseStatus.OPEN)
        .order_by(Case.case_ref)
    )


def list_case_csv_rows(
    user: User,
) -> Select[
    str, str, int, str, str | None, str | None, str | None, str, int | None, str | None, str | None
]:
    """cases.csv rows exactly as written: entity_id, label ("ref (risk)", or the reference
    number alone), version, case_ref, risk_level, caseworker username, next_contact_due,
    status, contact_frequency_days (the plan's, in days), approval, transfer; the user's
    open cases in device scope, ordered by case_ref. The label is built by the database so
    that rows go to the CSV writer untouched."""
    cw = User.__table__.alias("cw")
    has_risk = and_(Case.risk_level.is_not(None), Case.risk_level != "")
    approval = sql_case(
        *((Case.approval == k, literal(v)) for k, v in APPROVAL_LABELS.items()), else_=literal("")
    )
    label = (
        sql_case((has_risk, Case.case_ref + " (" + Case.risk_level + ")"), else_=Case.case_ref)
        + approval
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
            Case.approval,
            Case.transfer,
        )
        .outerjoin(cw, cw.c.id == Case.caseworker_id)
        # coalesce keeps the planner off the status index: walking the case_ref index
        # yields rows already in order, streamed from the first one, where the status index
        # made SQLite sort every open case before returning any.
        .where(device_scope_clause(user), func.coalesce(Case.status, "") == CaseStatus.OPEN.value)
        .order_by(Case.case_ref)
    )


def list_plan_item_list_rows(
    user: User,
) -> Select[str, str, str, str, str, str | None, str | None, str | None]:
    """Columns of plan_items.csv: item_id, title, case_ref, kind, status, due, key,
    referral_due (open items of open cases in the user's device scope, and referrals whose
    next state is still due: a delivered service's feedback)."""
    return (
        select(
            PlanItem.item_id,
            PlanItem.title,
            Case.case_ref,
            PlanItem.kind,
            PlanItem.status,
            _date_text(PlanItem.due_date),
            PlanItem.key,
            _date_text(PlanItem.referral_due),
        )
        .join(Case, Case.id == PlanItem.case_id)
        .where(
            device_scope_clause(user),
            Case.status == CaseStatus.OPEN,
            or_(PlanItem.is_done.is_(False), PlanItem.referral_due.is_not(None)),
        )
        .order_by(Case.case_ref, *plan_item_order())
    )


def _date_text(column: Any) -> Any:
    """A date column as 'YYYY-MM-DD' text, so device lists write it without parsing."""
    return cast(column, String).label(column.key)


def get_known_entity_ids(session: Session, entity_ids: list[str]) -> set[str]:
    """Which of these entity ids belong to a case, or were merged into one (a duplicate
    registration's)."""
    if not entity_ids:
        return set()
    known = set(session.scalars(select(Case.entity_id).where(Case.entity_id.in_(entity_ids))))
    merged = CaseAction.entity_id
    stmt = select(merged).where(CaseAction.kind == "merge_duplicate", merged.in_(entity_ids))
    return known | {e for e in session.scalars(stmt) if e}


def get_listed_entity_ids(session: Session, user: User, entity_ids: list[str]) -> set[str]:
    """Which of these entity ids are on the user's cases.csv (open, in device scope)."""
    if not entity_ids:
        return set()
    stmt = select(Case.entity_id).where(
        Case.entity_id.in_(entity_ids), Case.status == CaseStatus.OPEN, device_scope_clause(user)
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
    if may(user, "case.read_all"):
        return get_known_entity_ids(session, entity_ids)
    if may(user, "case.read_team") and user.team:
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
        CaseAction.kind == "reassign", CaseAction.username.in_(names)
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
    merged_entity = CaseAction.entity_id
    retired = select(merged_entity).where(
        CaseAction.kind == "merge_duplicate",
        merged_entity.in_(entity_ids),
        CaseAction.instance_id.in_(
            select(Submission.instance_id).where(Submission.submitter_id.in_(people))
        ),
    )
    return (
        set(session.scalars(cases))
        | {e for e in session.scalars(named) if e}
        | {e for e in session.scalars(retired) if e}
    )
