"""Applying submissions and supervisor decisions to cases. Flush only; callers commit.

Every change goes the same way: record the input (a ``CaseContribution`` for a submission,
a ``CaseAction`` for a supervisor), then :func:`rebuild` the case from all of its inputs.
Rebuilding is idempotent, so re-running a submission or repeating a rebuild is always safe.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON
from sqlalchemy.orm import Session

from server.auth.models import User
from server.cases import queries
from server.cases.mapping import CaseUpdate, map_submission, rebase_update
from server.cases.merge import ActionRecord, CaseState, ItemState, build_case
from server.cases.models import Case, CaseAction, CaseConflict, CaseContribution, PlanItem
from server.db import begin_write
from server.errors import AppError
from server.submissions.models import Submission
from server.submissions.parse import SubmissionEnvelope, parse_envelope
from server.submissions.queries import get_visible_submission_ids, set_processing_state
from server.timeutil import utcnow
from server.xforms.definition import FormDefinition

SUPERVISING_ROLES = ("admin", "supervisor")
# Marks a contribution a supervisor filed by hand (linked, merged or re-registered).
MOVED = "moved_by_supervisor"


@dataclass(frozen=True)
class CaseSettings:
    """Case-work defaults (the caller reads them from config; services read no config)."""

    default_contact_frequency_days: int = 14
    review_interval_days: int = 90


DEFAULT_SETTINGS = CaseSettings()


@dataclass(frozen=True)
class ApplyResult:
    """What became of one submission: ``state`` is the contribution state (applied,
    unlinked, duplicate, superseded), or ``skipped`` (no case role) or ``failed``."""

    instance_id: str
    state: str
    case_ref: str | None = None
    case_id: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class RebuildResult:
    case_ref: str
    case_id: int | None
    changed: bool
    version: int | None


# --- submissions ---------------------------------------------------------------------------


def apply_submission(
    session: Session,
    submission: Submission,
    definition: FormDefinition,
    envelope: SubmissionEnvelope,
    *,
    settings: CaseSettings = DEFAULT_SETTINGS,
) -> ApplyResult:
    """Record what the submission says about its case and rebuild that case.

    Idempotent: applying the same submission again changes nothing. An edit (the
    submission's ``deprecated_id`` names an earlier one) supersedes the earlier
    contribution. Raises on unexpected errors; see :func:`apply_or_record_failure`.
    """
    begin_write(session)
    submitter = queries.get_user(session, submission.submitter_id)
    update = map_submission(
        definition,
        envelope,
        submitter=submitter.username if submitter else None,
        received_at=submission.received_at,
    )
    if update is None:
        submission.processing_state = "skipped"
        submission.processing_error = None
        session.flush()
        return ApplyResult(instance_id=submission.instance_id, state="skipped")

    refs: set[str] = set()
    if not update.case_ref and update.entity_id:
        # A follow-up that names the case only by its entity (ref left blank).
        known = queries.get_case_by_entity_id(session, update.entity_id)
        if known is not None:
            update = rebase_update(update, known.case_ref)

    if submission.deprecated_id:
        old = queries.get_contribution_by_instance_id(session, submission.deprecated_id)
        if old is not None and old.state != "superseded":
            old.state = "superseded"
            refs.add(old.case_ref)

    contribution = queries.get_contribution_for_submission(session, submission.id)
    if contribution is not None and contribution.update.get(MOVED):
        # A supervisor filed this submission elsewhere; re-running it keeps that decision.
        update = replace(
            rebase_update(update, contribution.case_ref),
            is_registration=contribution.is_registration,
            entity_id=contribution.entity_id,
        )
    if contribution is None:
        contribution = CaseContribution(submission_id=submission.id)
        session.add(contribution)
    elif contribution.case_ref != update.case_ref:
        refs.add(contribution.case_ref)
    _fill_contribution(
        contribution, update, moved=bool(contribution.update and contribution.update.get(MOVED))
    )
    if not submission.is_current:
        contribution.state = "superseded"
    elif contribution.state in ("superseded", "failed"):
        contribution.state = "unlinked"  # provisional; rebuild decides
    contribution.error = None
    session.flush()

    refs.add(update.case_ref)
    for ref in sorted(r for r in refs if r):
        rebuild(session, ref, settings=settings)

    submission.processing_state = "applied"
    submission.processing_error = None
    session.flush()
    return ApplyResult(
        instance_id=submission.instance_id,
        state=contribution.state,
        case_ref=contribution.case_ref or None,
        case_id=contribution.case_id,
    )


@dataclass(frozen=True)
class NewSubmission:
    """A submission just stored for the first time (not an edit): no contribution of it
    can exist yet, so applying it skips looking for one."""

    id: int
    instance_id: str
    received_at: datetime
    submitter: str | None  # username


def apply_new_submission(
    session: Session,
    submission: NewSubmission,
    definition: FormDefinition,
    envelope: SubmissionEnvelope,
    *,
    settings: CaseSettings = DEFAULT_SETTINGS,
) -> ApplyResult:
    """:func:`apply_submission` for a submission received a moment ago that edits nothing.

    The same rules and the same rebuild, in fewer statements: its contribution is inserted
    once, with the state the rebuild gives it. Raises on unexpected errors; the caller
    rolls back and records the failure on the submission.
    """
    update = map_submission(
        definition, envelope, submitter=submission.submitter, received_at=submission.received_at
    )
    begin_write(session)  # after the pure mapping: hold SQLite's write lock only to write
    if update is None:
        set_processing_state(session, submission.id, "skipped")
        return ApplyResult(instance_id=submission.instance_id, state="skipped")
    if not update.case_ref and update.entity_id:
        # A follow-up that names the case only by its entity (ref left blank).
        known = queries.get_case_by_entity_id(session, update.entity_id)
        if known is not None:
            update = rebase_update(update, known.case_ref)
    pending = _Contribution(
        id=None,
        entity_id=update.entity_id,
        is_registration=update.is_registration,
        event_at=update.event_at,
        state="unlinked",
        case_id=None,
        update=update,
    )
    values = {
        "submission_id": submission.id,
        "case_ref": update.case_ref,
        "form_id": update.form_id,
        "entity_id": update.entity_id,
        "is_registration": update.is_registration,
        "base_version": update.base_version,
        "event_at": update.event_at,
        "update": update.to_json(),
        "error": None,
        "created_at": utcnow(),
    }
    if update.case_ref:
        _rebuild(
            session, update.case_ref, settings=settings, pending=pending, pending_values=values
        )
    else:
        _write_contribution_states(session, [pending], None, pending, values)
    set_processing_state(session, submission.id, "applied")
    return ApplyResult(
        instance_id=submission.instance_id,
        state=pending.state,
        case_ref=update.case_ref or None,
        case_id=pending.case_id,
    )


def record_failure(session: Session, submission_id: int, exc: BaseException) -> str:
    """Write a merge failure on the submission (after the merge's transaction rolled back)."""
    error = f"{type(exc).__name__}: {exc}"[:2000]
    begin_write(session)
    set_processing_state(session, submission_id, "failed", error)
    return error


def apply_or_record_failure(
    session: Session,
    submission: Submission,
    definition: FormDefinition,
    envelope: SubmissionEnvelope,
    *,
    settings: CaseSettings = DEFAULT_SETTINGS,
) -> ApplyResult:
    """:func:`apply_submission` inside a savepoint; on any error, roll the savepoint back and
    record ``processing_state='failed'`` with the error on the submission instead.

    The submission itself must already be committed (a submission is a fact before it is
    interpreted); the device gets its 201 either way.
    """
    # SQLite: take the write lock before the savepoint's first read, so a busy database
    # makes us wait our turn instead of failing the upgrade from reader to writer.
    begin_write(session)
    try:
        with session.begin_nested():
            return apply_submission(session, submission, definition, envelope, settings=settings)
    except Exception as exc:  # any failure: the data is safe and the merge can be re-run
        session.expire_all()
        submission.processing_state = "failed"
        submission.processing_error = f"{type(exc).__name__}: {exc}"[:2000]
        session.flush()
        return ApplyResult(
            instance_id=submission.instance_id, state="failed", error=submission.processing_error
        )


def reprocess(
    session: Session,
    instance_id: str | None = None,
    *,
    settings: CaseSettings = DEFAULT_SETTINGS,
) -> list[ApplyResult]:
    """Apply one submission again (by instance id), or every submission whose merge failed.

    Idempotent: reprocessing an applied submission leaves its case as it was.
    """
    submissions = queries.list_submissions_to_reprocess(session, instance_id)
    if instance_id is not None and not submissions:
        raise AppError("submission.not_found", details={"instance_id": instance_id})
    results = []
    for submission in submissions:
        version = queries.get_xform_version(session, submission.xform_version_id)
        if version is None:
            raise AppError(
                "xform.version_not_found", details={"instance_id": submission.instance_id}
            )
        definition = FormDefinition.from_json(version.definition)
        try:
            envelope = parse_envelope(submission.xml)
        except AppError as exc:
            submission.processing_state = "failed"
            submission.processing_error = f"{exc.code}: {exc.text}"
            results.append(
                ApplyResult(submission.instance_id, "failed", error=submission.processing_error)
            )
            continue
        results.append(
            apply_or_record_failure(session, submission, definition, envelope, settings=settings)
        )
    session.flush()
    return results


def _fill_contribution(
    contribution: CaseContribution, update: CaseUpdate, *, moved: bool = False
) -> None:
    contribution.case_ref = update.case_ref
    contribution.form_id = update.form_id
    contribution.entity_id = update.entity_id
    contribution.is_registration = update.is_registration
    contribution.base_version = update.base_version
    contribution.event_at = update.event_at
    contribution.update = {**update.to_json(), MOVED: True} if moved else update.to_json()


# --- rebuilding ----------------------------------------------------------------------------


def rebuild(
    session: Session,
    case_ref: str,
    *,
    settings: CaseSettings = DEFAULT_SETTINGS,
    today: date | None = None,
) -> RebuildResult:
    """Derive the case filed under ``case_ref`` again from all its inputs.

    Linking: the earliest registration (by event time, then instance id) creates the case,
    unless the case already exists, in which case the registration carrying its entity id
    stays canonical (devices know the case by that id). Other registrations under the same
    reference number, and follow-ups of their entities, become ``duplicate``; follow-ups with
    no registration yet stay ``unlinked`` until it arrives.

    Writes only when something changed; ``version`` goes up by one per change.
    """
    session.flush()  # the rebuild reads and writes through Core, after pending ORM changes
    result = _rebuild(session, case_ref, settings=settings, today=today)
    _expire_case_rows(session)
    return result


@dataclass
class _Contribution:
    """A contribution as the rebuild sees it; ``id`` is None for one not inserted yet."""

    id: int | None
    entity_id: str | None
    is_registration: bool
    event_at: datetime
    state: str
    case_id: int | None
    update: CaseUpdate
    loaded_state: str | None = None  # as stored, to write only what changed


def _expire_case_rows(session: Session) -> None:
    """The rebuild wrote with Core: ORM copies of case rows in this session are outdated."""
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Case | PlanItem | CaseConflict | CaseContribution):
            session.expire(obj)


def _rebuild(
    session: Session,
    case_ref: str,
    *,
    settings: CaseSettings,
    today: date | None = None,
    pending: _Contribution | None = None,
    pending_values: dict[str, Any] | None = None,
) -> RebuildResult:
    """:func:`rebuild`, plus an optional contribution to insert with the state it gets.

    Statements: the lock, the case, its contributions and the users they name; then, for a
    case that already existed, its actions, plan items and conflicts; then only the writes
    that change something.
    """
    queries.lock_case_ref(session, case_ref)
    case = queries.get_case_row_for_update(session, case_ref)
    contributions = [
        _Contribution(
            id=r["id"],
            entity_id=r["entity_id"],
            is_registration=r["is_registration"],
            event_at=r["event_at"],
            state=r["state"],
            case_id=r["case_id"],
            update=CaseUpdate.from_json(r["update"]),
            loaded_state=r["state"],
        )
        for r in queries.list_contribution_rows_for_ref(session, case_ref)
    ]
    if pending is not None:
        contributions.append(pending)

    registrations = sorted(
        (c for c in contributions if c.is_registration and c.entity_id),
        key=lambda c: (c.event_at, c.update.instance_id),
    )
    if case is not None:
        canonical_entity: str | None = case["entity_id"]
    else:
        canonical_entity = registrations[0].entity_id if registrations else None
    duplicate_entities = {c.entity_id for c in registrations if c.entity_id != canonical_entity} - {
        None
    }
    creating = case is None and canonical_entity is not None

    # Everything below reads the state, so compute it before writing any row.
    linked = case is not None or creating
    for c in contributions:
        if c.entity_id in duplicate_entities:
            c.state = "duplicate"
        elif not linked:
            c.state = "unlinked"
        else:
            c.state = "applied"
    applied = [c.update for c in contributions if c.state == "applied"]
    actions = (
        [
            ActionRecord(action_id=i, kind=kind, at=at, actor=name, payload=dict(payload))
            for i, kind, at, name, payload in queries.list_action_rows_for_case(session, case["id"])
        ]
        if case is not None
        else []
    )
    users: dict[str, tuple[int, str | None]] = {}
    if linked:
        users = queries.get_active_user_refs(session, _named_users(applied, actions))
        applied = _normalize_caseworkers(applied, users)
    state = (
        build_case(
            applied,
            actions,
            today=today or utcnow().date(),
            default_frequency_days=settings.default_contact_frequency_days,
            review_interval_days=settings.review_interval_days,
        )
        if linked
        else None
    )

    case_id: int | None = case["id"] if case is not None else None
    version: int | None = case["version"] if case is not None else None
    changed = False
    if creating and state is not None:
        first = registrations[0]
        values = _case_values(state, _caseworker_ref(session, state, users, None))
        values.update(
            case_ref=case_ref,
            entity_id=canonical_entity,
            opened_at=state.opened_at or first.event_at,
            updated_at=utcnow(),
            version=1,
        )
        case_id, version, changed = queries.insert_case(session, values), 1, True
        _write_items_and_conflicts(session, case_id, state, users, fresh=True)
    elif case is not None and state is not None:
        changed = _write_state(session, case, state, users)
        if changed:
            version = case["version"] + 1
            queries.update_case(session, case["id"], {"version": version, "updated_at": utcnow()})

    _write_contribution_states(session, contributions, case_id, pending, pending_values)
    return RebuildResult(case_ref, case_id, changed, version)


def _write_contribution_states(
    session: Session,
    contributions: list[_Contribution],
    case_id: int | None,
    pending: _Contribution | None,
    pending_values: dict[str, Any] | None,
) -> None:
    """Store each contribution's state and case where it changed; insert the pending one."""
    rows = []
    for c in contributions:
        new_case = case_id if c.state == "applied" else None
        if c is not pending and (c.state, new_case) != (c.loaded_state, c.case_id):
            rows.append({"id": c.id, "state": c.state, "case_id": new_case})
        c.case_id = new_case
    queries.update_rows(session, CaseContribution, rows)
    if pending is not None and pending_values is not None:
        row = {**pending_values, "state": pending.state, "case_id": pending.case_id}
        queries.insert_rows(session, CaseContribution, [row])


def _named_users(updates: list[CaseUpdate], actions: list[ActionRecord]) -> set[str]:
    """Every username the state can name: caseworker answers, registering submitters, the
    users of reassignments and the supervisors who resolved conflicts."""
    names = {u.caseworker for u in updates if u.caseworker}
    names |= {u.submitter for u in updates if u.is_registration and u.submitter}
    for a in actions:
        if a.kind == "reassign" and a.payload.get("username"):
            names.add(str(a.payload["username"]))
        elif a.kind == "resolve" and a.actor:
            names.add(a.actor)
    return {n for n in names if n}


def _normalize_caseworkers(
    updates: list[CaseUpdate], active: dict[str, tuple[int, str | None]]
) -> list[CaseUpdate]:
    """A caseworker answer that names no active user is ignored; the registration's
    caseworker then falls back to its submitter."""
    out = []
    for u in updates:
        caseworker = u.caseworker if u.caseworker in active else None
        if caseworker is None and u.is_registration:
            caseworker = u.submitter
        out.append(replace(u, caseworker=caseworker) if caseworker != u.caseworker else u)
    return out


def _fingerprint(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _caseworker_ref(
    session: Session,
    state: CaseState,
    users: dict[str, tuple[int, str | None]],
    current_id: int | None,
) -> tuple[int, str | None] | None:
    if state.caseworker and state.caseworker not in users:
        users.update(queries.get_active_user_refs(session, {state.caseworker}))
    found = users.get(state.caseworker) if state.caseworker else None
    if found is None and state.caseworker:
        # reassigned to someone since deactivated: keep the case where it was
        found = queries.get_user_ref(session, current_id)
    return found


def _case_values(state: CaseState, caseworker: tuple[int, str | None] | None) -> dict[str, Any]:
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
    }
    if state.opened_at is not None:
        values["opened_at"] = state.opened_at
    return values


def _item_values(item: ItemState) -> dict[str, Any]:
    return {
        "kind": item.kind,
        "key": item.key,
        "title": item.title,
        "owner": item.owner,
        "due_date": item.due,
        "status": item.status,
        "is_done": item.is_done,
        "properties": item.properties,
        "provenance": item.provenance,
    }


def _differs(old: Any, new: Any) -> bool:
    if old is new:
        return False
    if type(old) is type(new) and isinstance(new, str | int | date | datetime):
        return bool(old != new)
    return _fingerprint(old) != _fingerprint(new)


def _write_state(
    session: Session,
    case: Any,
    state: CaseState,
    users: dict[str, tuple[int, str | None]],
) -> bool:
    """Copy the state onto an existing case's rows (only what differs); True if anything
    changed."""
    caseworker = _caseworker_ref(session, state, users, case["caseworker_id"])
    values = {
        name: value
        for name, value in _case_values(state, caseworker).items()
        if _differs(case[name], value)
    }
    if values:
        queries.update_case(session, case["id"], values)
    return _write_items_and_conflicts(session, case["id"], state, users, fresh=False) or bool(
        values
    )


def _write_items_and_conflicts(
    session: Session,
    case_id: int,
    state: CaseState,
    users: dict[str, tuple[int, str | None]],
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
    queries.insert_rows(session, PlanItem, new_items)
    queries.update_rows(session, PlanItem, changed_items)
    queries.delete_rows(session, PlanItem, [r["id"] for r in existing.values()])
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
        if crow is None or _fingerprint(crow["candidates"]) != _fingerprint(candidates):
            changes["candidates"] = candidates
        if conflict.is_resolved and (crow is None or crow["resolved_at"] != conflict.resolved_at):
            resolver = users.get(conflict.resolved_by) if conflict.resolved_by else None
            changes["resolved_value"] = conflict.resolved_value
            changes["resolved_at"] = conflict.resolved_at
            changes["resolved_by_id"] = (
                resolver[0] if resolver else (crow["resolved_by_id"] if crow else None)
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
    queries.insert_rows(session, CaseConflict, new_conflicts)
    # A conflict can vanish when an edit supersedes one side; a resolved one is kept as the
    # record of the supervisor's decision.
    gone = [r["id"] for k, r in conflicts.items() if k not in seen and r["resolved_at"] is None]
    queries.delete_rows(session, CaseConflict, gone)
    return changed or bool(new_conflicts or gone)


# --- supervisor decisions ------------------------------------------------------------------


# Who may decide what: the actor's role (admin or supervisor), then the case scope
# (``queries.case_scope_clause``) for every case read or changed, and the submissions scope
# (``submissions.queries.scope_submitters``) for every queue entry moved. Out of scope
# looks the same as not there, as it does when reading.


def _require_supervisor(actor: User) -> None:
    if actor.role not in SUPERVISING_ROLES:
        raise AppError("auth.forbidden")


def _case_or_404(session: Session, case_ref: str, actor: User) -> Case:
    """The case, if it is in the actor's scope (a supervisor decides on cases they see)."""
    _require_supervisor(actor)
    case = queries.get_case_by_ref(session, case_ref)
    if case is None or not queries.is_case_visible(session, actor, case.id):
        raise AppError("case.not_found", details={"case_ref": case_ref})
    return case


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


def _act(
    session: Session,
    case: Case,
    kind: str,
    payload: dict[str, Any],
    actor: User,
    settings: CaseSettings,
) -> RebuildResult:
    session.add(
        CaseAction(case_id=case.id, kind=kind, payload=payload, actor_id=actor.id, at=utcnow())
    )
    session.flush()
    return rebuild(session, case.case_ref, settings=settings)


def reassign(
    session: Session,
    case_ref: str,
    username: str,
    actor: User,
    *,
    settings: CaseSettings = DEFAULT_SETTINGS,
) -> RebuildResult:
    """Make ``username`` the case's named caseworker: an active caseworker or supervisor,
    from the actor's team when the actor is a supervisor (``queries.assignable_users_clause``).
    """
    case = _case_or_404(session, case_ref, actor)
    user = queries.get_active_user_by_username(session, username)
    if user is None:
        raise AppError("case.user_not_found", details={"username": username})
    if user.role not in queries.ASSIGNABLE_ROLES:
        raise AppError(
            "request.invalid",
            "Only a caseworker or a supervisor can hold a case.",
            details={"username": username, "role": user.role},
        )
    if not queries.is_assignable(session, actor, user.id):
        raise AppError(
            "auth.forbidden",
            "You can give a case only to a member of your team.",
            details={"username": username},
        )
    return _act(session, case, "reassign", {"username": username}, actor, settings)


def resolve_conflict(
    session: Session,
    case_ref: str,
    conflict_id: int,
    value: Any,
    actor: User,
    *,
    settings: CaseSettings = DEFAULT_SETTINGS,
) -> RebuildResult:
    """Choose one of the values in conflict; it stands until a later update changes it."""
    case = _case_or_404(session, case_ref, actor)
    conflict = queries.get_conflict(session, case.id, conflict_id)
    if conflict is None:
        raise AppError("case.conflict_not_found", details={"conflict_id": conflict_id})
    allowed = {_fingerprint(c.get("value")) for c in conflict.candidates}
    if _fingerprint(value) not in allowed:
        raise AppError(
            "case.bad_value",
            details={"allowed": sorted({str(c.get("value")) for c in conflict.candidates})},
        )
    payload = {"conflict_key": conflict.conflict_key, "field": conflict.field, "value": value}
    return _act(session, case, "resolve", payload, actor, settings)


def close_case(
    session: Session,
    case_ref: str,
    actor: User,
    *,
    reason: str = "",
    settings: CaseSettings = DEFAULT_SETTINGS,
) -> RebuildResult:
    case = _case_or_404(session, case_ref, actor)
    return _act(session, case, "close", {"reason": reason}, actor, settings)


def reopen_case(
    session: Session,
    case_ref: str,
    actor: User,
    *,
    reason: str = "",
    settings: CaseSettings = DEFAULT_SETTINGS,
) -> RebuildResult:
    case = _case_or_404(session, case_ref, actor)
    return _act(session, case, "reopen", {"reason": reason}, actor, settings)


def link_unlinked(
    session: Session,
    instance_id: str,
    case_ref: str,
    actor: User,
    *,
    settings: CaseSettings = DEFAULT_SETTINGS,
) -> RebuildResult:
    """File a waiting submission (typed with a wrong reference number) under an existing case."""
    _require_supervisor(actor)
    contribution = queries.get_contribution_by_instance_id(session, instance_id)
    if contribution is None:
        raise AppError("submission.not_found", details={"instance_id": instance_id})
    _require_in_scope(session, actor, contribution, instance_id)
    if contribution.state != "unlinked":
        raise AppError("case.not_unlinked", details={"instance_id": instance_id})
    case = _case_or_404(session, case_ref, actor)
    old_ref = contribution.case_ref
    _move(contribution, case_ref, keep_registration=False, entity_id=case.entity_id)
    session.add(
        CaseAction(
            case_id=case.id,
            kind="link_submission",
            payload={"instance_id": instance_id, "from_ref": old_ref},
            actor_id=actor.id,
            at=utcnow(),
        )
    )
    session.flush()
    if old_ref and old_ref != case_ref:
        rebuild(session, old_ref, settings=settings)
    return rebuild(session, case_ref, settings=settings)


def merge_duplicate(
    session: Session,
    instance_id: str,
    actor: User,
    *,
    settings: CaseSettings = DEFAULT_SETTINGS,
) -> RebuildResult:
    """Link a duplicate registration into the existing case with its reference number.

    The registration then counts as an ordinary update of that case, and the follow-ups
    made on the duplicate's entity come with it.
    """
    _require_supervisor(actor)
    contribution = _duplicate_or_409(session, actor, instance_id)
    moving = _with_followups(session, contribution)
    _require_in_scope(session, actor, contribution, instance_id, moving)
    case = _case_or_404(session, contribution.case_ref, actor)
    dup_entity = contribution.entity_id
    for c in moving:
        _move(c, case.case_ref, keep_registration=False, entity_id=case.entity_id)
    session.add(
        CaseAction(
            case_id=case.id,
            kind="merge_duplicate",
            payload={"instance_id": instance_id, "entity_id": dup_entity},
            actor_id=actor.id,
            at=utcnow(),
        )
    )
    session.flush()
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
    children were given the same number). Its follow-ups move with it."""
    _require_supervisor(actor)
    contribution = _duplicate_or_409(session, actor, instance_id)
    moving = _with_followups(session, contribution)
    _require_in_scope(session, actor, contribution, instance_id, moving)
    new_case_ref = new_case_ref.strip()
    if not new_case_ref or queries.get_case_by_ref(session, new_case_ref) is not None:
        raise AppError(
            "request.invalid",
            message="Choose a reference number that no case has yet.",
            details={"case_ref": new_case_ref},
        )
    old_ref = contribution.case_ref
    for c in moving:
        _move(c, new_case_ref, keep_registration=True, entity_id=c.entity_id)
    session.flush()
    result = rebuild(session, new_case_ref, settings=settings)
    if result.case_id is not None:
        session.add(
            CaseAction(
                case_id=result.case_id,
                kind="register_duplicate",
                payload={"instance_id": instance_id, "from_ref": old_ref},
                actor_id=actor.id,
                at=utcnow(),
            )
        )
    rebuild(session, old_ref, settings=settings)
    session.flush()
    return result


def _duplicate_or_409(session: Session, actor: User, instance_id: str) -> CaseContribution:
    contribution = queries.get_contribution_by_instance_id(session, instance_id)
    if contribution is None:
        raise AppError("submission.not_found", details={"instance_id": instance_id})
    _require_in_scope(session, actor, contribution, instance_id)
    if contribution.state != "duplicate" or not contribution.is_registration:
        raise AppError(
            "case.not_unlinked",
            message="This submission is not a duplicate registration.",
            details={"instance_id": instance_id},
        )
    return contribution


def _with_followups(session: Session, contribution: CaseContribution) -> list[CaseContribution]:
    if not contribution.entity_id:
        return [contribution]
    others = queries.list_contributions_for_entity(session, contribution.entity_id, ("duplicate",))
    return [contribution] + [c for c in others if c.id != contribution.id]


def _move(
    contribution: CaseContribution, case_ref: str, *, keep_registration: bool, entity_id: str | None
) -> None:
    update = rebase_update(CaseUpdate.from_json(contribution.update), case_ref)
    if not keep_registration:
        update = replace(update, is_registration=False, entity_id=entity_id)
    _fill_contribution(contribution, update, moved=True)
    contribution.state = "unlinked"  # provisional; rebuild decides


# --- reading -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineEntry:
    instance_id: str
    form_id: str
    event_at: datetime
    received_at: datetime
    submitter: str | None
    state: str
    is_registration: bool
    is_contact: bool
    is_review: bool
    changes: dict[str, Any]


@dataclass(frozen=True)
class ActionEntry:
    kind: str
    at: datetime
    actor: str | None
    payload: dict[str, Any]


@dataclass(frozen=True)
class CaseDetail:
    case: Case
    caseworker: str | None
    plan_items: list[PlanItem]
    conflicts: list[CaseConflict]
    conflict_resolvers: dict[int, str]
    timeline: list[TimelineEntry]
    actions: list[ActionEntry]


def get_case_detail(session: Session, case_ref: str, viewer: User) -> CaseDetail:
    """Everything the case page shows; ``case.not_found`` also when out of the viewer's scope
    (so a reference number outside it reveals nothing)."""
    case = queries.get_case_by_ref(session, case_ref)
    if case is None or not queries.is_case_visible(session, viewer, case.id):
        raise AppError("case.not_found", details={"case_ref": case_ref})
    conflicts = queries.list_conflicts(session, case.id)
    names = queries.get_usernames(
        session,
        {i for i in [case.caseworker_id, *(c.resolved_by_id for c in conflicts)] if i is not None},
    )
    timeline = []
    for contribution, submission in queries.list_timeline(session, case.id):
        update = CaseUpdate.from_json(contribution.update)
        timeline.append(
            TimelineEntry(
                instance_id=submission.instance_id,
                form_id=contribution.form_id,
                event_at=contribution.event_at,
                received_at=submission.received_at,
                submitter=update.submitter,
                state=contribution.state,
                is_registration=contribution.is_registration,
                is_contact=update.is_contact,
                is_review=update.is_review,
                changes=dict(update.properties),
            )
        )
    actions = [
        ActionEntry(kind=a.kind, at=a.at, actor=name, payload=dict(a.payload))
        for a, name in queries.list_actions_for_case(session, case.id)
    ]
    return CaseDetail(
        case=case,
        caseworker=names.get(case.caseworker_id) if case.caseworker_id else None,
        plan_items=queries.list_plan_items(session, case.id),
        conflicts=conflicts,
        conflict_resolvers={
            c.id: names[c.resolved_by_id] for c in conflicts if c.resolved_by_id in names
        },
        timeline=timeline,
        actions=actions,
    )


def rebuild_all(
    session: Session, refs: Iterable[str], *, settings: CaseSettings = DEFAULT_SETTINGS
) -> int:
    """Rebuild several cases (after a settings change); returns how many changed."""
    return sum(1 for ref in refs if rebuild(session, ref, settings=settings).changed)
