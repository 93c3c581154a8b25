"""Supervisor decisions on cases: reassign, resolve a conflict, close and reopen, file an
unlinked submission under a case, merge a duplicate registration into its case or register
it as a case of its own. Each records a ``CaseAction`` and an audit entry, then rebuilds the
cases it touched, locked first in the one order (``cases.rebuild.lock_cases``). Flush only;
callers commit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.orm import Session

from server.audit import service as audit
from server.auth import queries as auth_queries
from server.auth.models import User
from server.auth.permissions import may, require
from server.cases import queries, scope
from server.cases.case_rows import fingerprint
from server.cases.mapping import (
    CaseUpdate,
    canonical_ref,
    is_valid_ref,
    rebase_update,
)
from server.cases.models import Case, CaseAction, CaseConflict, CaseContribution, ContributionState
from server.cases.rebuild import RebuildResult, fill_contribution, lock_cases, rebuild
from server.cases.settings import DEFAULT_SETTINGS, CaseSettings
from server.errors import AppError
from server.submissions.scope import get_visible_submission_ids
from server.timeutil import utcnow

# Who may decide what: the permission table (``case.decide``, ``case.close``), then the case scope
# (``cases.scope.case_scope_clause``) for every case read or changed, and the submissions scope
# (``submissions.scope.scope_submitters``) for every queue entry moved. Out of scope
# looks the same as not there, as it does when reading.


def typed_ref(value: str) -> str:
    """A reference number a person typed, filed as the devices' are (``canonical_ref``:
    ``cp- 1`` is ``CP- 1``); ``case.bad_ref`` unless the case plan form would accept it."""
    ref = canonical_ref(value)
    if not is_valid_ref(ref):
        raise AppError("case.bad_ref", details={"case_ref": value[:200]})
    return ref


def case_or_404(session: Session, case_ref: str, actor: User, action: str = "case.decide") -> Case:
    """The case, if it is in the actor's scope (a supervisor decides on cases they see).
    The reference number is looked up in its canonical form (``cp-1`` finds ``CP-1``)."""
    require(actor, action)
    case = queries.get_case_by_ref(session, canonical_ref(case_ref))
    if case is None or not scope.is_case_visible(session, actor, case.id):
        raise AppError("case.not_found", details={"case_ref": case_ref})
    return case


@dataclass(frozen=True)
class DecisionSubject:
    """A case as the page that confirms a decision on it names it."""

    case_ref: str
    status: str
    caseworker: str | None


def get_decision_subject(session: Session, case_ref: str, actor: User) -> DecisionSubject:
    """The case a supervisor is about to close or reassign, by the same rule as the
    decision itself (``case.not_found`` outside the actor's scope)."""
    case = case_or_404(session, case_ref, actor)
    ids = {case.caseworker_id} if case.caseworker_id is not None else set()
    names = auth_queries.get_usernames(session, ids)
    return DecisionSubject(
        case_ref=case.case_ref,
        status=case.status,
        caseworker=names.get(case.caseworker_id) if case.caseworker_id is not None else None,
    )


def _require_in_scope(
    session: Session,
    actor: User,
    named: CaseContribution,
    instance_id: str,
    others: list[CaseContribution] | None = None,
) -> None:
    """Every submission a decision moves must be in the actor's submissions scope: the one
    named (else it is not found) and those that would move with it."""
    ids = {named.submission_id, *(c.submission_id for c in others or [])}
    visible = get_visible_submission_ids(session, actor, ids)
    if named.submission_id not in visible:
        raise AppError("submission.not_found", details={"instance_id": instance_id})
    if not ids <= visible:
        raise AppError(
            "auth.forbidden",
            "Follow-ups of this registration came from outside your team; ask an admin to decide.",
            details={"instance_id": instance_id},
        )


def lock_case(session: Session, case: Case) -> None:
    """:func:`lock_cases` for one case; ``case.not_found`` if it was renumbered meanwhile."""
    session.flush()
    queries.lock_case_ref(session, case.case_ref)
    row = queries.get_case_row_for_update(session, case.case_ref)
    if row is None or row["id"] != case.id:
        raise AppError("case.not_found", details={"case_ref": case.case_ref})


def act(
    session: Session,
    case: Case,
    kind: str,
    payload: dict[str, Any],
    actor: User,
    settings: CaseSettings,
) -> RebuildResult:
    lock_case(session, case)
    session.add(CaseAction.of(case.id, kind, payload, actor.id, utcnow()))
    session.flush()
    # the value a conflict was resolved to stays on the case (it may be a sensitive answer)
    details = {k: v for k, v in payload.items() if k != "value"}
    audit_decision(session, actor, f"case.{kind}", case.case_ref, details)
    return rebuild(session, case.case_ref, settings=settings)


def audit_decision(
    session: Session, actor: User | None, action: str, case_ref: str, details: dict[str, Any]
) -> None:
    """A supervisor's decision (or a renumbering) in the audit log: who, which case, what."""
    audit.record(session, actor, action, target_type="case", target=case_ref, details=details)


def case_holder(session: Session, username: str) -> User:
    """An active user who may hold a case (``case.hold``)."""
    user = auth_queries.get_active_user_by_username(session, username)
    if user is None:
        raise AppError("case.user_not_found", details={"username": username})
    if not may(user, "case.hold"):
        raise AppError(
            "request.invalid",
            "Only a caseworker or a supervisor can hold a case.",
            details={"username": username, "role": user.role},
        )
    return user


def reassign(
    session: Session,
    case_ref: str,
    username: str,
    actor: User,
    *,
    reason: str,
    settings: CaseSettings = DEFAULT_SETTINGS,
) -> RebuildResult:
    """Make ``username`` the case's named caseworker: an active caseworker or supervisor,
    from the actor's team when the actor is a supervisor (``auth.queries.assignable_users_clause``).
    The reason is kept with the decision, with whom the case was with before.
    """
    case = case_or_404(session, case_ref, actor)
    reason = required_reason(reason)
    user = case_holder(session, username)
    if not auth_queries.is_assignable(session, actor, user.id):
        raise AppError(
            "auth.forbidden",
            "You can give a case only to a member of your team.",
            details={"username": username},
        )
    lock_case(session, case)  # whom the case is with, as the decision finds it
    session.refresh(case)
    ids = {case.caseworker_id} if case.caseworker_id else set()
    before = auth_queries.get_usernames(session, ids)
    payload = {
        "username": username,
        "username_before": before.get(case.caseworker_id or 0),
        "reason": reason,
    }
    return act(session, case, "reassign", payload, actor, settings)


def resolve_conflict(
    session: Session,
    case_ref: str,
    conflict_id: int,
    value: Any,
    actor: User,
    *,
    settings: CaseSettings = DEFAULT_SETTINGS,
) -> RebuildResult:
    """Choose one of the values in conflict; it stands until a later update changes it.

    Once: a conflict already resolved is ``case.conflict_resolved``, saying who chose what
    and when. Decided under the case's lock, so of two supervisors at the same moment one
    resolves it and the other is told so.
    """
    case = case_or_404(session, case_ref, actor)
    lock_case(session, case)
    conflict = queries.get_conflict(session, case.id, conflict_id)
    if conflict is None:
        raise AppError("case.conflict_not_found", details={"conflict_id": conflict_id})
    if conflict.resolved_at is not None:
        raise _already_resolved(session, conflict)
    allowed = {fingerprint(c.get("value")) for c in conflict.candidates}
    if fingerprint(value) not in allowed:
        raise AppError(
            "case.bad_value",
            details={"allowed": sorted({str(c.get("value")) for c in conflict.candidates})},
        )
    payload = {"conflict_key": conflict.conflict_key, "field": conflict.field, "value": value}
    return act(session, case, "resolve", payload, actor, settings)


def _already_resolved(session: Session, conflict: CaseConflict) -> AppError:
    ids = {conflict.resolved_by_id} if conflict.resolved_by_id is not None else set()
    who = auth_queries.get_usernames(session, ids).get(conflict.resolved_by_id or 0)
    at = conflict.resolved_at
    value = conflict.resolved_value
    shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    when = at.strftime("%Y-%m-%d %H:%M UTC") if at is not None else "?"
    return AppError(
        "case.conflict_resolved",
        f"This conflict was already resolved by {who or 'someone no longer listed'} "
        f"on {when}: {conflict.field} = {shown}.",
        details={
            "conflict_id": conflict.id,
            "field": conflict.field,
            "resolved_by": who,
            "resolved_at": at.isoformat() if at is not None else None,
            "value": value,
        },
    )


REASON_MAX_LENGTH = 2000


def required_reason(reason: str) -> str:
    """Why a supervisor closes, reopens, reassigns or merges: required, and kept with the
    decision (the case's history) and in the audit log."""
    text = (reason or "").strip()
    if not text or len(text) > REASON_MAX_LENGTH:
        raise AppError("case.reason_required")
    return text


def close_case(
    session: Session,
    case_ref: str,
    actor: User,
    *,
    reason: str,
    settings: CaseSettings = DEFAULT_SETTINGS,
) -> RebuildResult:
    case = case_or_404(session, case_ref, actor, "case.close")
    return act(session, case, "close", {"reason": required_reason(reason)}, actor, settings)


def reopen_case(
    session: Session,
    case_ref: str,
    actor: User,
    *,
    reason: str,
    settings: CaseSettings = DEFAULT_SETTINGS,
) -> RebuildResult:
    case = case_or_404(session, case_ref, actor, "case.close")
    return act(session, case, "reopen", {"reason": required_reason(reason)}, actor, settings)


APPROVAL_DECISIONS = ("approve", "return")


def decide_approval(
    session: Session,
    case_ref: str,
    decision: str,
    actor: User,
    *,
    instance_id: str,
    comment: str = "",
    settings: CaseSettings = DEFAULT_SETTINGS,
) -> RebuildResult:
    """Approve, or return with a comment, the closure or plan ``instance_id`` waiting for
    approval on the case (``case.approval_instance_id``, ``cases.approvals``): a supervisor
    of the case's team (of a case no one holds, of the sender's team:
    ``scope.approval_scope_clause``) or an admin, never the one who sent it. Decided under
    the case's lock, and only if ``instance_id`` (what the supervisor was shown) is still
    the one waiting: two supervisors cannot decide it twice, and a stale click never decides
    something else that waits behind it (``case.not_pending``, with what waits now)."""
    case = case_or_404(session, case_ref, actor, "case.approve")
    if decision not in APPROVAL_DECISIONS:
        raise AppError("case.bad_decision", details={"decision": decision[:30]})
    text = (comment or "").strip()
    if len(text) > REASON_MAX_LENGTH or (decision == "return" and not text):
        raise AppError("case.comment_required")
    lock_case(session, case)
    row = queries.get_case_row_for_update(session, case.case_ref)
    if row is None or row["approval"] != "pending" or row["approval_instance_id"] != instance_id:
        waiting = row["approval_instance_id"] if row and row["approval"] == "pending" else None
        raise AppError(
            "case.not_pending",
            details={"case_ref": case.case_ref, "instance_id": instance_id, "waiting": waiting},
        )
    if row["approval_requested_by"] and row["approval_requested_by"] == actor.username:
        raise AppError("case.own_approval", details={"case_ref": case.case_ref})
    if not scope.may_decide_approval(session, actor, case.id):
        raise AppError(
            "auth.forbidden",
            "No one holds this case: a supervisor of the sender's team, or an admin, decides.",
            details={"case_ref": case.case_ref},
        )
    payload = {
        "instance_id": row["approval_instance_id"],
        "approval_kind": row["approval_kind"],
        "requested_by": row["approval_requested_by"],
        "comment": text,
    }
    return act(session, case, decision, payload, actor, settings)


def link_unlinked(
    session: Session,
    instance_id: str,
    case_ref: str,
    actor: User,
    *,
    settings: CaseSettings = DEFAULT_SETTINGS,
) -> RebuildResult:
    """File a waiting submission (typed with a wrong reference number) under an existing case.

    ``case_ref`` is read as the devices' are (``cp-1`` names ``CP-1``); when it names no
    case the actor sees, a number the case plan form would refuse is ``case.bad_ref``."""
    require(actor, "case.decide")
    contribution = queries.get_contribution_by_instance_id(session, instance_id)
    if contribution is None:
        raise AppError("submission.not_found", details={"instance_id": instance_id})
    _require_in_scope(session, actor, contribution, instance_id)
    if contribution.state != ContributionState.UNLINKED:
        raise AppError("case.not_unlinked", details={"instance_id": instance_id})
    try:
        case = case_or_404(session, case_ref, actor)
    except AppError:
        typed_ref(case_ref)  # a malformed number is said to be so
        raise
    case_ref = case.case_ref
    old_ref = contribution.case_ref
    lock_cases(session, (old_ref, case_ref))
    session.refresh(contribution)  # as the lock holders left it
    if contribution.state != ContributionState.UNLINKED or contribution.case_ref != old_ref:
        raise AppError("case.not_unlinked", details={"instance_id": instance_id})
    _move(contribution, case_ref, keep_registration=False, entity_id=case.entity_id)
    session.add(
        CaseAction.of(
            case.id,
            "link_submission",
            {"instance_id": instance_id, "from_ref": old_ref},
            actor.id,
            utcnow(),
        )
    )
    session.flush()
    audit_decision(
        session, actor, "case.link", case_ref, {"instance_id": instance_id, "from_ref": old_ref}
    )
    if old_ref and old_ref != case_ref:
        rebuild(session, old_ref, settings=settings)
    return rebuild(session, case_ref, settings=settings)


def merge_duplicate(
    session: Session,
    instance_id: str,
    actor: User,
    *,
    reason: str,
    settings: CaseSettings = DEFAULT_SETTINGS,
) -> RebuildResult:
    """Link a duplicate registration into the existing case with its reference number.

    The registration then counts as an ordinary update of that case, and the follow-ups
    made on the duplicate's entity come with it. The reason is kept with the decision.
    """
    require(actor, "case.decide")
    reason = required_reason(reason)
    contribution = _duplicate_or_409(session, actor, instance_id)
    moving = _with_followups(session, contribution)
    _require_in_scope(session, actor, contribution, instance_id, moving)
    case = case_or_404(session, contribution.case_ref, actor)
    lock_cases(session, [case.case_ref, *(c.case_ref for c in moving)])
    _still_duplicates(session, moving, instance_id)
    dup_entity = contribution.entity_id
    for c in moving:
        _move(c, case.case_ref, keep_registration=False, entity_id=case.entity_id)
    session.add(
        CaseAction.of(
            case.id,
            "merge_duplicate",
            {"instance_id": instance_id, "entity_id": dup_entity, "reason": reason},
            actor.id,
            utcnow(),
        )
    )
    session.flush()
    details = {"instance_id": instance_id, "reason": reason}
    audit_decision(session, actor, "case.merge", case.case_ref, details)
    return rebuild(session, case.case_ref, settings=settings)


def register_duplicate_as_new(
    session: Session,
    instance_id: str,
    new_case_ref: str,
    actor: User,
    *,
    settings: CaseSettings = DEFAULT_SETTINGS,
) -> RebuildResult:
    """Register a duplicate as a case of its own under a new reference number (two
    children were given the same number). Its follow-ups move with it. The number is
    filed as the devices' are and must be one the case plan form accepts (``typed_ref``)."""
    require(actor, "case.decide")
    contribution = _duplicate_or_409(session, actor, instance_id)
    moving = _with_followups(session, contribution)
    _require_in_scope(session, actor, contribution, instance_id, moving)
    new_case_ref = typed_ref(new_case_ref)
    if queries.get_case_by_ref(session, new_case_ref) is not None:
        raise AppError(
            "request.invalid",
            message="Choose a reference number that no case has yet.",
            details={"case_ref": new_case_ref},
        )
    old_ref = contribution.case_ref
    lock_cases(session, [new_case_ref, *(c.case_ref for c in moving)])
    _still_duplicates(session, moving, instance_id)
    if queries.get_case_by_ref(session, new_case_ref) is not None:  # taken meanwhile
        raise AppError(
            "request.invalid",
            message="Choose a reference number that no case has yet.",
            details={"case_ref": new_case_ref},
        )
    for c in moving:
        _move(c, new_case_ref, keep_registration=True, entity_id=c.entity_id)
    session.flush()
    result = rebuild(session, new_case_ref, settings=settings)
    if result.case_id is not None:
        session.add(
            CaseAction.of(
                result.case_id,
                "register_duplicate",
                {"instance_id": instance_id, "from_ref": old_ref},
                actor.id,
                utcnow(),
            )
        )
        details = {"instance_id": instance_id, "from_ref": old_ref}
        audit_decision(session, actor, "case.register_new", new_case_ref, details)
    rebuild(session, old_ref, settings=settings)
    session.flush()
    return result


def _duplicate_or_409(session: Session, actor: User, instance_id: str) -> CaseContribution:
    contribution = queries.get_contribution_by_instance_id(session, instance_id)
    if contribution is None:
        raise AppError("submission.not_found", details={"instance_id": instance_id})
    _require_in_scope(session, actor, contribution, instance_id)
    if contribution.state != ContributionState.DUPLICATE or not contribution.is_registration:
        raise AppError(
            "case.not_unlinked",
            message="This submission is not a duplicate registration.",
            details={"instance_id": instance_id},
        )
    return contribution


def _still_duplicates(session: Session, moving: list[CaseContribution], instance_id: str) -> None:
    """After the cases are locked: what was read before is still what a decision on a
    duplicate moves (another decision may have moved it meanwhile)."""
    refs = {c.id: c.case_ref for c in moving}
    for c in moving:
        session.refresh(c)
        if c.state != ContributionState.DUPLICATE or c.case_ref != refs[c.id]:
            raise AppError(
                "case.not_unlinked",
                message="This submission is not a duplicate registration.",
                details={"instance_id": instance_id},
            )


def _with_followups(session: Session, contribution: CaseContribution) -> list[CaseContribution]:
    if not contribution.entity_id:
        return [contribution]
    others = queries.list_contributions_for_entity(
        session, contribution.entity_id, (ContributionState.DUPLICATE,)
    )
    return [contribution] + [c for c in others if c.id != contribution.id]


def _move(
    contribution: CaseContribution, case_ref: str, *, keep_registration: bool, entity_id: str | None
) -> None:
    update = rebase_update(CaseUpdate.from_json(contribution.update), case_ref)
    if not keep_registration:
        update = replace(update, is_registration=False, entity_id=entity_id)
    fill_contribution(contribution, update, moved=True)
    contribution.state = ContributionState.UNLINKED  # provisional; rebuild decides
