"""Transfers of a case (``cases.transfers``): a supervisor of the case's team, or an admin,
asks for one to another caseworker or team, and the receiving team's supervisor (or an
admin) accepts or declines it; a transfer to an agency outside the system closes the case
as transferred. Each is a ``CaseAction`` with an audit entry, folded by the rebuild like
every decision (``cases.decisions``). Flush only; callers commit.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from server.auth import queries as auth_queries
from server.auth.models import User
from server.auth.permissions import may, require
from server.cases import queries
from server.cases.decisions import act, case_holder, case_or_404, lock_case, required_reason
from server.cases.mapping import canonical_ref
from server.cases.models import Case, CaseStatus
from server.cases.rebuild import RebuildResult
from server.cases.settings import DEFAULT_SETTINGS, CaseSettings
from server.cases.transfers import ACCEPT, DECLINE, OUT, PENDING, REQUEST
from server.errors import AppError
from server.services.schemas import AGENCY_KINDS

AGENCY_MAX_LENGTH = 200
TRANSFER_DECISIONS = ("accept", "decline")


def request_transfer(
    session: Session,
    case_ref: str,
    actor: User,
    *,
    reason: str,
    username: str = "",
    team: str = "",
    agency: str = "",
    agency_kind: str = "",
    settings: CaseSettings = DEFAULT_SETTINGS,
) -> RebuildResult:
    """Ask for the case to move to ``username`` (a caseworker or supervisor of another
    team, or of the case's own), to ``team`` (another team: its supervisor chooses who
    holds it), or hand it to ``agency`` outside the system (it closes at once, as
    transferred; ``agency_kind``, its kind of agency, decides what the summary it gets may
    hold: ``cases.transfer_summary``). Exactly one of the three; the case open, no transfer
    already waiting."""
    case = case_or_404(session, case_ref, actor, "case.transfer")
    reason = required_reason(reason)
    username, team, agency = username.strip(), team.strip(), agency.strip()
    agency_kind = agency_kind.strip()
    if sum(map(bool, (username, team, agency))) != 1 or len(agency) > AGENCY_MAX_LENGTH:
        raise AppError("case.bad_transfer", details={"case_ref": case.case_ref})
    if agency_kind and (not agency or agency_kind not in AGENCY_KINDS):
        raise AppError("case.bad_transfer", details={"case_ref": case.case_ref})
    lock_case(session, case)
    session.refresh(case)
    if case.status != CaseStatus.OPEN:
        raise AppError("case.bad_transfer", details={"case_ref": case.case_ref})
    if case.transfer == PENDING:
        raise AppError("case.transfer_pending", details={"case_ref": case.case_ref})
    if agency:
        payload = {"agency": agency, "reason": reason, "closure_reason": "transferred"}
        if agency_kind:
            payload["agency_kind"] = agency_kind
        return act(session, case, OUT, payload, actor, settings)
    if username:
        user = case_holder(session, username)
        if user.team is None or user.id == case.caseworker_id:
            raise AppError("case.bad_transfer", details={"username": username})
        team = user.team
    elif auth_queries.get_team(session, team) is None or team == case.team:
        raise AppError("case.bad_transfer", details={"team": team[:80]})
    payload = {"to_team": team, "reason": reason, **({"username": username} if username else {})}
    return act(session, case, REQUEST, payload, actor, settings)


def receives(actor: User, case: Case) -> bool:
    """Whether ``actor`` answers the case's pending transfer: an admin, or a supervisor of
    the receiving team."""
    if may(actor, "case.read_all"):
        return True
    return case.transfer_team is not None and actor.team == case.transfer_team


def get_pending_transfer(session: Session, case_ref: str, actor: User) -> Case:
    """The case whose pending transfer ``actor`` answers (``case.not_found`` for anyone
    else: the receiving supervisor need not see the case before it moves)."""
    require(actor, "case.transfer_accept")
    case = queries.get_case_by_ref(session, canonical_ref(case_ref))
    if case is None or case.transfer != PENDING or not receives(actor, case):
        raise AppError("case.not_found", details={"case_ref": case_ref})
    return case


def decide_transfer(
    session: Session,
    case_ref: str,
    decision: str,
    actor: User,
    *,
    username: str = "",
    reason: str = "",
    settings: CaseSettings = DEFAULT_SETTINGS,
) -> RebuildResult:
    """Accept or decline (with a reason) the case's pending transfer. On acceptance the
    case is held by the caseworker the request named, else by ``username`` (a member of the
    receiving team), else by the accepting supervisor; its team, scope, the phones' lists
    and plan-item owners follow as on a reassignment. Decided under the case's lock, so
    that a transfer is answered once."""
    if decision not in TRANSFER_DECISIONS:
        raise AppError("case.bad_decision", details={"decision": decision[:30]})
    case = get_pending_transfer(session, case_ref, actor)
    lock_case(session, case)
    session.refresh(case)
    if case.transfer != PENDING:
        raise AppError("case.no_transfer", details={"case_ref": case.case_ref})
    if decision == "decline":
        payload = {"reason": required_reason(reason), "to_team": case.transfer_team}
        return act(session, case, DECLINE, payload, actor, settings)
    to = case.transfer_to or username.strip() or actor.username
    user = case_holder(session, to)
    if user.team != case.transfer_team:
        raise AppError(
            "auth.forbidden",
            "The case goes to a member of the receiving team.",
            details={"username": to},
        )
    ids = {case.caseworker_id} if case.caseworker_id else set()
    before = auth_queries.get_usernames(session, ids).get(case.caseworker_id or 0)
    payload = {
        "username": to,
        "username_before": before,
        "to_team": case.transfer_team,
        **({"reason": reason.strip()} if reason.strip() else {}),
    }
    return act(session, case, ACCEPT, payload, actor, settings)
