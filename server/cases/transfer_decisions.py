"""Transfers of a case (``cases.transfers``): a supervisor of the case's team, or an admin,
asks for one to another caseworker or team, and the receiving team's supervisor (or an
admin) accepts or declines it; a transfer to an agency outside the system closes the case
as transferred. A case conference that decides on a transfer asks for it from the phone
(:func:`request_from_conference`); the one who asked, or an admin, may withdraw a pending
transfer (:func:`withdraw_transfer`). Each is a ``CaseAction`` with an audit entry, folded
by the rebuild like every decision (``cases.decisions``). Flush only; callers commit.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from server.auth import queries as auth_queries
from server.auth.models import User
from server.auth.permissions import may, require
from server.cases import queries
from server.cases.decisions import (
    REASON_MAX_LENGTH,
    act,
    audit_decision,
    case_holder,
    case_or_404,
    lock_case,
    required_reason,
)
from server.cases.mapping import CaseUpdate, canonical_ref
from server.cases.models import Case, CaseStatus
from server.cases.rebuild import RebuildResult
from server.cases.settings import DEFAULT_SETTINGS, CaseSettings
from server.cases.transfers import (
    ACCEPT,
    CLOSURE_TRANSFERRED,
    DECLINE,
    OUT,
    PENDING,
    REQUEST,
    TO_AGENCY,
    WITHDRAW,
)
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
    if case.transfer_kind == TO_AGENCY:  # a conference's: the case leaves the system now
        out = {
            "agency": case.transfer_to,
            "reason": reason.strip() or _request_reason(session, case),
            "closure_reason": CLOSURE_TRANSFERRED,
            "requested_by": case.transfer_requested_by,
        }
        return act(session, case, OUT, out, actor, settings)
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


def _request_reason(session: Session, case: Case) -> str:
    request = queries.get_latest_action(session, case.id, REQUEST)
    return str(request.payload.get("reason") or "") if request is not None else ""


def request_from_conference(
    session: Session,
    case_ref: str,
    update: CaseUpdate,
    sender: User,
    *,
    first: bool = True,
    settings: CaseSettings = DEFAULT_SETTINGS,
) -> RebuildResult | None:
    """The transfer a case conference decided (``update.transfer``, read from the phone's
    answers), asked for as a supervisor asks on the web: to a caseworker or another team,
    waiting for the receiving team's supervisor; to an outside agency, waiting for the
    supervisor of the case's own team to accept it (the case then closes as transferred).

    Asked once per conference: applying the submission again (a resend, `casework
    reprocess`) finds the request that names it and asks nothing. A transfer that cannot be
    asked (the case closed or a transfer already waiting, a team or person no longer there,
    the case's own team or caseworker) is not asked, and the audit log says why when the
    conference is ``first`` applied; the conference itself stands. None when nothing was
    asked now."""
    wanted = update.transfer
    case = queries.get_case_by_ref(session, case_ref)
    if not wanted or case is None:
        return None
    if queries.has_action_for_instance(session, case.id, REQUEST, update.instance_id):
        return None
    lock_case(session, case)
    session.refresh(case)
    if queries.has_action_for_instance(session, case.id, REQUEST, update.instance_id):
        return None
    payload: dict[str, object] = {
        "reason": wanted.get("reason", "")[:REASON_MAX_LENGTH],
        "instance_id": update.instance_id,
        "source": "conference",
    }
    problem = None
    if case.status != CaseStatus.OPEN:
        problem = "closed"
    elif case.transfer == PENDING:
        problem = "pending"
    elif wanted["kind"] == TO_AGENCY:
        if case.team is None:
            problem = "no_team"
        payload.update(agency=wanted["to"][:AGENCY_MAX_LENGTH], to_team=case.team)
    else:
        target = auth_queries.get_transfer_target(session, wanted["to"])
        if target is None:
            problem = "unknown_target"
        else:
            team, user = target
            if user is not None and user.id != case.caseworker_id:
                payload.update(to_team=team, username=user.username)
            elif user is None and team != case.team:
                payload.update(to_team=team)
            else:
                problem = "own_team" if user is None else "own_caseworker"
    if problem is not None:
        if not first:
            return None
        details = {"instance_id": update.instance_id, "why": problem, "to": wanted["to"][:80]}
        audit_decision(session, sender, "case.transfer_not_asked", case.case_ref, details)
        return None
    return act(session, case, REQUEST, payload, sender, settings)


def withdraws(session: Session, actor: User, case: Case) -> bool:
    """Whether ``actor`` may withdraw the case's pending transfer: an admin; the supervisor
    who asked for it; for a conference's, a supervisor of the case's team (who would have
    asked for it on the web)."""
    if not may(actor, "case.transfer"):
        return False
    if may(actor, "case.read_all") or actor.username == case.transfer_requested_by:
        return True
    request = queries.get_latest_action(session, case.id, REQUEST)
    from_conference = request is not None and request.payload.get("source") == "conference"
    return from_conference and case.team is not None and actor.team == case.team


def withdraw_transfer(
    session: Session,
    case_ref: str,
    actor: User,
    *,
    reason: str,
    settings: CaseSettings = DEFAULT_SETTINGS,
) -> RebuildResult:
    """Withdraw the case's pending transfer, with a reason (``withdraws`` says who may).
    Nothing moves: the case stays with its caseworker, team and phones, and the receiving
    supervisor no longer sees it waiting. Decided under the case's lock, so that a transfer
    accepted meanwhile is not withdrawn (``case.no_transfer``)."""
    case = case_or_404(session, case_ref, actor, "case.transfer")
    reason = required_reason(reason)
    lock_case(session, case)
    session.refresh(case)
    if case.transfer != PENDING:
        raise AppError("case.no_transfer", details={"case_ref": case.case_ref})
    if not withdraws(session, actor, case):
        raise AppError(
            "auth.forbidden",
            "Only the supervisor who asked for the transfer, or an admin, can withdraw it.",
            details={"case_ref": case.case_ref},
        )
    payload = {
        "reason": reason,
        "to_team": case.transfer_team,
        "to": case.transfer_to,
        "requested_by": case.transfer_requested_by,
    }
    return act(session, case, WITHDRAW, payload, actor, settings)
