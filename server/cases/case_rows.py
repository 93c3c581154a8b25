"""Writing a rebuilt case onto its rows (the case, its plan items and conflicts), only
what differs, with Core statements on the session's connection: the rebuild runs for every
submission. Also who may be named a case's caseworker (:func:`is_eligible`).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON
from sqlalchemy.orm import Session

from server import db
from server.auth import queries as auth_queries
from server.auth.models import User
from server.auth.permissions import may
from server.cases import queries
from server.cases.merge import CaseState, ItemState
from server.cases.models import CaseConflict, PlanItem
from server.cases.registration import registration, safety_plan_review_due
from server.timeutil import utcnow


def is_eligible(user: User | None) -> bool:
    """Whether the user may be a case's named caseworker."""
    return user is not None and user.is_active and may(user, "case.hold")


def fingerprint(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def caseworker_ref(
    session: Session,
    state: CaseState,
    users: dict[str, User],
    current_id: int | None,
) -> tuple[int, str | None] | None:
    """(id, team) of the state's caseworker; when that user may not hold cases (not, or no
    longer, an active caseworker or supervisor), the case stays where it was."""
    name = state.caseworker
    if name and name not in users:
        users.update(auth_queries.get_users_by_username(session, {name}))
    found = users.get(name) if name else None
    if found is not None and is_eligible(found):
        return (found.id, found.team)
    if name:
        return auth_queries.get_user_ref(session, current_id)
    return None


def case_values(state: CaseState, caseworker: tuple[int, str | None] | None) -> dict[str, Any]:
    values: dict[str, Any] = {
        "status": state.status,
        "caseworker_id": caseworker[0] if caseworker else None,
        "team": caseworker[1] if caseworker else None,
        "risk_level": state.risk_level,
        "contact_frequency_days": state.contact_frequency_days,
        "last_contact_at": state.last_contact_at,
        "next_contact_due": state.next_contact_due,
        "review_due": state.review_due,
        "last_review_at": state.last_review_at,
        "properties": state.properties,
        "provenance": state.provenance,
        "open_conflicts": state.open_conflicts,
        "closed_at": state.closed_at,
        "approval": state.approval.status if state.approval else None,
        "approval_kind": state.approval.kind if state.approval else None,
        "approval_instance_id": state.approval.instance_id if state.approval else None,
        "approval_requested_by": state.approval.requested_by if state.approval else None,
        "approval_comment": state.approval.comment if state.approval else None,
        "transfer": state.transfer.status if state.transfer else None,
        "transfer_team": state.transfer.team if state.transfer else None,
        "transfer_to": state.transfer.to if state.transfer else None,
        "transfer_requested_by": state.transfer.requested_by if state.transfer else None,
        "consent": state.consent.status if state.consent else None,
        "consent_share": state.consent.share_text if state.consent else None,
        "consent_history": (
            [e.to_json() for e in state.consent.history] if state.consent else None
        ),
        "transfer_kind": state.transfer.kind if state.transfer else None,
    }
    if state.opened_at is not None:
        values["opened_at"] = state.opened_at
    # the registration data the reports count, from the merged fields (their provenance
    # and conflicts are the fields')
    values.update(registration(state.properties).columns())
    values["safety_plan_review_due"] = safety_plan_review_due(state.properties)
    return values


def _item_values(item: ItemState) -> dict[str, Any]:
    r = item.referral
    return {
        "referral_since": r.since if r else None,
        "referral_due": r.due if r else None,
        "referral_urgency": r.urgency if r else None,
        "referral_reason": r.reason if r else None,
        "referral_service": r.service_id if r else None,
        "referral_ack_hours": r.acknowledged_hours if r else None,
        "referral_steps": [s.to_json() for s in r.steps] if r else None,
        "kind": item.kind,
        "key": item.key,
        "title": item.title,
        "owner": item.owner,
        "due_date": item.due,
        "status": item.status,
        "is_done": item.is_done,
        "held": item.held,
        "properties": item.properties,
        "provenance": item.provenance,
    }


def _differs(old: Any, new: Any) -> bool:
    if old is new:
        return False
    if type(old) is type(new) and isinstance(new, str | int | date | datetime):
        return bool(old != new)
    return fingerprint(old) != fingerprint(new)


def write_state(
    session: Session,
    case: Any,
    state: CaseState,
    users: dict[str, User],
) -> bool:
    """Copy the state onto an existing case's rows (only what differs); True if anything
    changed."""
    caseworker = caseworker_ref(session, state, users, case["caseworker_id"])
    values = {
        name: value
        for name, value in case_values(state, caseworker).items()
        if _differs(case[name], value)
    }
    if values:
        queries.update_case(session, case["id"], values)
    return write_items_and_conflicts(session, case["id"], state, users, fresh=False) or bool(values)


def write_items_and_conflicts(
    session: Session,
    case_id: int,
    state: CaseState,
    users: dict[str, User],
    *,
    fresh: bool,
) -> bool:
    """Plan items and conflicts of the state onto their rows; ``fresh``: the case was just
    created, so it has none yet. True if anything changed."""
    changed = False
    existing = (
        {} if fresh else {r["item_id"]: r for r in queries.list_plan_item_rows(session, case_id)}
    )
    new_items, changed_items = [], []
    for item in state.items:
        values = _item_values(item)
        row = existing.pop(item.item_id, None)
        if row is None:
            new_items.append({"case_id": case_id, "item_id": item.item_id, **values})
        elif any(_differs(row[k], v) for k, v in values.items()):
            changed_items.append({"id": row["id"], **values})
    db.insert_rows(session, PlanItem, new_items)
    db.update_rows(session, PlanItem, changed_items)
    db.delete_rows(session, PlanItem, [r["id"] for r in existing.values()])
    changed = bool(new_items or changed_items or existing)

    conflicts = (
        {}
        if fresh
        else {r["conflict_key"]: r for r in queries.list_conflict_rows(session, case_id)}
    )
    seen = set()
    new_conflicts: list[dict[str, Any]] = []
    now = utcnow()
    for conflict in state.conflicts:
        seen.add(conflict.key)
        crow = conflicts.get(conflict.key)
        candidates = list(conflict.candidates)
        changes: dict[str, Any] = {}
        if crow is None or fingerprint(crow["candidates"]) != fingerprint(candidates):
            changes["candidates"] = candidates
        if conflict.is_resolved and (crow is None or crow["resolved_at"] != conflict.resolved_at):
            resolver = users.get(conflict.resolved_by) if conflict.resolved_by else None
            changes["resolved_value"] = conflict.resolved_value
            changes["resolved_at"] = conflict.resolved_at
            changes["resolved_by_id"] = (
                resolver.id if resolver else (crow["resolved_by_id"] if crow else None)
            )
        if crow is None:
            # JSON null, not SQL NULL: the column is NOT NULL in the schema and an open
            # conflict has no chosen value yet.
            new_conflicts.append(
                {
                    "case_id": case_id,
                    "conflict_key": conflict.key,
                    "field": conflict.field,
                    "candidates": candidates,
                    "resolved_value": changes.get("resolved_value", JSON.NULL),
                    "resolved_at": changes.get("resolved_at"),
                    "resolved_by_id": changes.get("resolved_by_id"),
                    "detected_at": now,
                }
            )
        elif changes:
            queries.update_case_conflict(session, crow["id"], changes)
            changed = True
    db.insert_rows(session, CaseConflict, new_conflicts)
    # A conflict can vanish when an edit supersedes one side; a resolved one is kept as the
    # record of the supervisor's decision.
    gone = [r["id"] for k, r in conflicts.items() if k not in seen and r["resolved_at"] is None]
    db.delete_rows(session, CaseConflict, gone)
    return changed or bool(new_conflicts or gone)
