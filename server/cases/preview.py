"""What merging a duplicate registration would change, shown before the supervisor decides.

A merge files the duplicate (and its follow-ups) under the existing case as ordinary
updates: its answers can change the risk level, the next contact, the plan items' owners
and more. :func:`preview_merge` takes the decision inside a savepoint, reads the case
before and after, and rolls the savepoint back: nothing is kept but an audit entry that
the supervisor looked (the preview shows the case's fields). Flush only; callers commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from server.audit import service as audit
from server.auth import queries as auth_queries
from server.auth.models import User
from server.cases import decisions, queries, settings
from server.cases.mapping import canonical_ref
from server.cases.models import ContributionState
from server.db import write_transaction
from server.errors import AppError

# The case's own fields a merge can change, in the order a page shows them.
CASE_FIELDS = (
    "caseworker",
    "team",
    "status",
    "risk_level",
    "contact_frequency_days",
    "last_contact_at",
    "next_contact_due",
    "review_due",
    "last_review_at",
    "open_conflicts",
)
ITEM_FIELDS = ("kind", "title", "owner", "due_date", "status", "is_done")


@dataclass(frozen=True)
class Change:
    field: str
    before: Any
    after: Any

    def to_json(self) -> dict[str, Any]:
        return {"field": self.field, "before": _plain(self.before), "after": _plain(self.after)}


@dataclass(frozen=True)
class ItemChange:
    item_id: str
    title: str | None
    change: str  # added | removed | changed
    fields: tuple[Change, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "title": self.title,
            "change": self.change,
            "fields": [f.to_json() for f in self.fields],
        }


@dataclass(frozen=True)
class MergePreview:
    instance_id: str
    case_ref: str
    changes: tuple[Change, ...]
    items: tuple[ItemChange, ...]
    moving: int  # submissions the merge files under the case (the registration included)

    def to_json(self) -> dict[str, Any]:
        return {
            "instance_id": self.instance_id,
            "case_ref": self.case_ref,
            "changes": [c.to_json() for c in self.changes],
            "items": [i.to_json() for i in self.items],
            "moving": self.moving,
        }


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value


def _read(session: Session, case_ref: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    case = queries.get_case_by_ref(session, case_ref)
    if case is None:
        return {}, {}
    names = auth_queries.get_usernames(
        session, {case.caseworker_id} if case.caseworker_id else set()
    )
    values = {name: getattr(case, name, None) for name in CASE_FIELDS if name != "caseworker"}
    values["caseworker"] = names.get(case.caseworker_id) if case.caseworker_id else None
    items = {
        i.item_id: {name: getattr(i, name) for name in ITEM_FIELDS}
        for i in queries.list_plan_items(session, case.id)
    }
    return values, items


def _item_changes(
    before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]
) -> list[ItemChange]:
    found = []
    for item_id in sorted(before.keys() | after.keys()):
        old, new = before.get(item_id), after.get(item_id)
        if old is None and new is not None:
            found.append(ItemChange(item_id, new["title"], "added"))
        elif new is None and old is not None:
            found.append(ItemChange(item_id, old["title"], "removed"))
        elif old is not None and new is not None:
            fields = tuple(
                Change(name, old[name], new[name]) for name in ITEM_FIELDS if old[name] != new[name]
            )
            if fields:
                found.append(ItemChange(item_id, new["title"], "changed", fields))
    return found


def preview_merge(
    session: Session,
    instance_id: str,
    actor: User,
    *,
    settings: settings.CaseSettings = settings.DEFAULT_SETTINGS,
) -> MergePreview:
    """What :func:`decisions.merge_duplicate` would change on the case, without changing it.
    Refused exactly as the merge would be (role, scope, not a duplicate)."""
    # It writes (then rolls back): on SQLite a transaction that read first could not write
    # once another connection committed, so what it reads is read in a write transaction.
    with write_transaction(session):
        contribution = queries.get_contribution_by_instance_id(session, instance_id)
        case_ref = canonical_ref(contribution.case_ref) if contribution is not None else ""
        before, items_before = _read(session, case_ref)
        savepoint = session.begin_nested()
        try:
            moving = (
                len(
                    queries.list_contributions_for_entity(
                        session, contribution.entity_id, (ContributionState.DUPLICATE,)
                    )
                )
                if contribution is not None and contribution.entity_id
                else 1
            )
            # rolled back with everything else it writes: no reason is asked for a look
            result = decisions.merge_duplicate(
                session, instance_id, actor, reason="preview", settings=settings
            )
            after, items_after = _read(session, result.case_ref)
        finally:
            savepoint.rollback()
            session.expire_all()
    if not after:  # the merge made no case: nothing to show (not expected)
        raise AppError("case.not_found", details={"case_ref": case_ref})
    changes = tuple(
        Change(name, before.get(name), after[name])
        for name in CASE_FIELDS
        if before.get(name) != after[name]
    )
    audit.record(
        session,
        actor,
        "case.merge_preview",
        target_type="case",
        target=result.case_ref,
        details={"instance_id": instance_id},
    )
    return MergePreview(
        instance_id=instance_id,
        case_ref=result.case_ref,
        changes=changes,
        items=tuple(_item_changes(items_before, items_after)),
        moving=max(moving, 1),
    )
