"""Applying submissions and supervisor decisions to cases. Flush only; callers commit.

Every change goes the same way: record the input (a ``CaseContribution`` for a submission,
a ``CaseAction`` for a supervisor), then :func:`rebuild` the case from all of its inputs.
Rebuilding is idempotent, so re-running a submission or repeating a rebuild is always safe.

Over 600 lines: it still holds four jobs (routing a submission to its case, the rebuild,
supervisor decisions, the case page's read model). Splitting it into one module each is
item 3 of the one-pipeline issue and has not been done yet; the lock order they share
(:func:`_lock_cases`) must move with them.

How a submission is linked to a case, and whether it may change it:

* **Routing.** A submission whose entity id is a case's (or a duplicate registration's
  that a supervisor merged into the case) is filed under that case. If it names a
  different reference number as well, it is held for a supervisor (``ref_mismatch``): the
  phone's copy of the case is out of date (the case was renumbered, or re-registered under
  a new number), so it could be meant for either case. Any other submission is filed
  under the reference number it names.
* **Registration.** The first registration of a reference number to be applied creates the
  case: devices start using its entity id at once, so it stays the case's entity. A later
  registration of that number with another entity id is a ``duplicate`` for a supervisor,
  whatever its device time says (arrival order decides, on purpose). Only when several
  registrations wait together (a renumbering freed the number) does the earliest by device
  time, then instance id, create the case.
* **Scope.** Any other contribution (a contact log, conference, plan revision, a second
  registration of the case's own entity, an edit) may change a case only if its submitter
  may see that case by the one case-scope rule (``queries.case_scope_clause``) at the moment
  it is first applied. Otherwise it is stored and held for a supervisor in the unlinked
  queue (``out_of_scope``). A follow-up whose entity id is neither the case's nor a waiting
  registration's waits unlinked for its registration.
* **Decided once.** That decision is stored on the contribution: an applied contribution
  stays applied and a held one stays held, whatever happens to the case later, and neither
  a rebuild nor ``casework reprocess`` decides again. (So a case reassigned later keeps the
  history its former caseworker legitimately wrote, and any arrival order of the
  contributions that are in scope gives the same record.) A supervisor's link, merge or
  re-registration files a held or duplicate contribution, and it applies from then on.
* **Naming the caseworker** (also decided once, when the contribution is first applied, and
  stored on it). Only an active caseworker or supervisor can be named. A caseworker's
  registration makes the caseworker the case's caseworker, unless it names an eligible
  member of the caseworker's own team; a caseworker's follow-up never moves the case (the
  answer is ignored). A supervisor may name an eligible member of their team; an admin
  anyone eligible. A registration whose answer is ignored falls back to its submitter when
  the submitter is eligible; otherwise the case stays where it is (unassigned when new).
  An edit of the registration that created the case is read as that registration; a
  second registration of the case's own entity id, like a revision.
* **Edits** (``deprecatedID``) are decided like any submission. An edit supersedes the
  version it edits unless it is held; then the earlier version stays in effect until a
  supervisor files the edit. An edit of the registration that created a case, by someone
  who may see the case, that gives it a reference number no case has, **renames** the
  case: same entity id, same history, derived plan item ids moved to the new number.
* **Versions.** When contributions move into a case (a supervisor's link, merge or
  re-registration) or the case is renamed, its version (``__version`` in cases.csv) jumps
  past every version a phone can hold for it (a phone that updated it from base version
  ``b`` holds ``b + 1``), so Collect replaces its local copy (a phone keeps its own copy
  when the server's version is not higher).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import JSON
from sqlalchemy.orm import Session

from server import sensitivity
from server.audit import service as audit
from server.auth.models import User
from server.cases import item_counts, queries
from server.cases.limits import (
    DEFAULT_MAX_ANSWER_BYTES,
    DEFAULT_MAX_REPEAT_INSTANCES,
    check_merge_bounds,
)
from server.cases.mapping import (
    CaseUpdate,
    canonical_ref,
    is_valid_ref,
    item_id_for,
    map_submission,
    normalize_title,
    rebase_update,
)
from server.cases.merge import ActionRecord, CaseState, ItemState, build_case
from server.cases.models import Case, CaseAction, CaseConflict, CaseContribution, PlanItem
from server.db import begin_write
from server.errors import AppError
from server.submissions.models import Submission
from server.submissions.parse import SubmissionEnvelope, parse_envelope
from server.submissions.queries import (
    get_visible_submission_ids,
    lock_processing_state,
)
from server.submissions.service import set_processing
from server.timeutil import utcnow
from server.xforms.definition import FormDefinition

SUPERVISING_ROLES = ("admin", "supervisor")
# Who may be named a case's caseworker (when active).
CASEWORKER_ROLES = ("caseworker", "supervisor")
# Marks a contribution a supervisor filed by hand (linked, merged or re-registered).
MOVED = "moved_by_supervisor"
# On an edit's contribution: the instance id of the version it replaces.
REPLACES = "replaces"
# Why an "unlinked" contribution is held for a supervisor (CaseContribution.hold_reason).
HOLD_OUT_OF_SCOPE = "out_of_scope"  # its submitter may not see the case it names
HOLD_REF_MISMATCH = "ref_mismatch"  # its entity id and reference number name different cases


@dataclass(frozen=True)
class CaseSettings:
    """Case-work defaults (the caller reads them from config; services read no config)."""

    default_contact_frequency_days: int = 14
    review_interval_days: int = 90
    # An event time (from the phone's clock) later than the time the server received the
    # submission by more than this is taken as the received time (``map_submission``).
    future_event_tolerance_hours: int = 24
    # The largest submission the merge takes (``cases.limits``): one answer's UTF-8 bytes,
    # and the instances of all its repeats.
    max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES
    max_repeat_instances: int = DEFAULT_MAX_REPEAT_INSTANCES

    @property
    def future_tolerance(self) -> timedelta:
        return timedelta(hours=self.future_event_tolerance_hours)


DEFAULT_SETTINGS = CaseSettings()


@dataclass(frozen=True)
class ApplyResult:
    """What became of one submission: ``state`` is the contribution state (applied,
    unlinked, duplicate, superseded), or ``skipped`` (no case role) or ``failed``.
    ``hold_reason`` says why an unlinked one waits for a supervisor (None: for its
    registration)."""

    instance_id: str
    state: str
    case_ref: str | None = None
    case_id: int | None = None
    error: str | None = None
    hold_reason: str | None = None


@dataclass(frozen=True)
class RebuildResult:
    case_ref: str
    case_id: int | None
    changed: bool
    version: int | None


# --- submissions ---------------------------------------------------------------------------


def apply(
    session: Session,
    submission: Submission,
    *,
    settings: CaseSettings = DEFAULT_SETTINGS,
    read: tuple[FormDefinition, SubmissionEnvelope] | None = None,
    submitter: User | None = None,
    states: Collection[str] | None = None,
    skip_locked: bool = False,
) -> ApplyResult | None:
    """Record what the submission says about its case and rebuild that case. Flushes only:
    ``server.intake`` commits, and on an error rolls back and records the failure.

    ``read``: its form definition and parsed envelope (else read again from its stored XML);
    ``submitter``: the user who sent it, when the caller has it loaded. The submission's row
    is locked first; None when its processing state is then not one of ``states`` (None:
    any), or (``skip_locked``) another transaction is merging it right now.

    Idempotent: applying the same submission again changes nothing, and keeps how it was
    linked the first time (see the module docstring). An edit (the submission's
    ``deprecated_id`` names an earlier one) supersedes the earlier contribution unless it is
    held, and may rename the case it registered.
    """
    if read is None:
        begin_write(session)
        read = _read_stored(session, submission)
    definition, envelope = read
    _check_bounds(definition, envelope, settings)
    if submitter is None or submitter.id != submission.submitter_id:
        begin_write(session)
        submitter = queries.get_user(session, submission.submitter_id)
    update = map_submission(
        definition,
        envelope,
        submitter=submitter.username if submitter else None,
        received_at=submission.received_at,
        future_tolerance=settings.future_tolerance,
    )
    begin_write(session)  # after the pure mapping: hold SQLite's write lock only to write
    state = lock_processing_state(session, submission.id, skip_locked=skip_locked)
    if state is None or (states is not None and state not in states):
        return None  # merged meanwhile (a resend, `casework reprocess`), or being merged
    if update is None:
        set_processing(session, submission, "skipped")
        return ApplyResult(instance_id=submission.instance_id, state="skipped")
    if state == "pending" and submission.is_current and not submission.deprecated_id:
        result = _apply_first(session, submission, update, submitter, settings)
    else:
        result = _apply_again(session, submission, update, submitter, settings)
    set_processing(session, submission, "applied")
    return result


def _read_stored(
    session: Session, submission: Submission
) -> tuple[FormDefinition, SubmissionEnvelope]:
    version = queries.get_xform_version(session, submission.xform_version_id)
    if version is None:
        raise AppError("xform.version_not_found", details={"instance_id": submission.instance_id})
    return FormDefinition.from_json(version.definition), parse_envelope(submission.xml)


def _apply_first(
    session: Session,
    submission: Submission,
    update: CaseUpdate,
    submitter: User | None,
    settings: CaseSettings,
) -> ApplyResult:
    """A current submission never merged before and that edits nothing: no contribution of
    it exists yet. The same rules and the same rebuild as :func:`_apply_again`, in fewer
    statements: its contribution is inserted once, with the state the rebuild gives it."""
    update, hold = _route(session, update)
    pending = _Contribution(
        id=None,
        entity_id=update.entity_id,
        is_registration=update.is_registration,
        event_at=update.event_at,
        state="unlinked",
        case_id=None,
        update=update,
        hold_reason=hold,
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
        "created_at": utcnow(),
    }
    if update.case_ref and hold is None:
        _rebuild(
            session,
            update.case_ref,
            settings=settings,
            pending=pending,
            pending_values=values,
            known_users=[submitter] if submitter is not None else [],
        )
    else:
        _write_contribution_states(session, [pending], None, pending, values)
    _expire_case_rows(session)
    return ApplyResult(
        instance_id=submission.instance_id,
        state=pending.state,
        case_ref=update.case_ref or None,
        case_id=pending.case_id,
        hold_reason=pending.hold_reason,
    )


def _apply_again(
    session: Session,
    submission: Submission,
    update: CaseUpdate,
    submitter: User | None,
    settings: CaseSettings,
) -> ApplyResult:
    """A submission merged before, or an edit: its contribution is looked up and kept as
    it was decided, or made and decided now."""
    refs: set[str] = set()
    renamed: str | None = None
    hold: str | None = None
    old = (
        queries.get_contribution_by_instance_id(session, submission.deprecated_id)
        if submission.deprecated_id
        else None
    )
    contribution = queries.get_contribution_for_submission(session, submission.id)
    moved = contribution is not None and bool(contribution.update.get(MOVED))
    if contribution is not None and moved:
        # A supervisor filed this submission elsewhere; re-running it keeps that decision,
        # and how its caseworker answer was read when it was filed (a merged registration
        # is read as a revision: it must not take the case to its submitter again).
        stored = CaseUpdate.from_json(contribution.update)
        update = replace(
            rebase_update(update, contribution.case_ref),
            is_registration=contribution.is_registration,
            entity_id=contribution.entity_id,
            caseworker=stored.caseworker,
        )
    elif contribution is not None and (contribution.state == "applied" or contribution.hold_reason):
        # Linked when it was first applied: re-running it keeps where it was filed, whether
        # it was held, and how its caseworker answer was read.
        if update.case_ref != contribution.case_ref:
            update = rebase_update(update, contribution.case_ref)
        stored = CaseUpdate.from_json(contribution.update)
        update = replace(update, caseworker=stored.caseworker, entity_id=stored.entity_id)
        hold = contribution.hold_reason
    else:
        if old is not None and submitter is not None:
            renamed = _rename_case_if_renumbered(session, old, update, submitter)
        update, hold = _route(session, update)

    # Every case this may write, locked before the first write (see _lock_cases).
    _lock_cases(
        session,
        (
            update.case_ref if hold is None else "",
            contribution.case_ref if contribution is not None else "",
            renamed or "",
            old.case_ref if old is not None else "",
        ),
    )
    in_effect = contribution is not None and contribution.state not in ("superseded", "failed")
    if contribution is None:
        contribution = CaseContribution(submission_id=submission.id, state="unlinked")
        session.add(contribution)
    elif contribution.case_ref != update.case_ref:
        refs.add(contribution.case_ref)
    _fill_contribution(contribution, update, moved=moved, replaces=submission.deprecated_id)
    contribution.hold_reason = hold
    if not submission.is_current and not in_effect:
        # An earlier version counts only while the edit that replaces it is held; one in
        # effect stays so when it is applied again (the rebuild supersedes it if it must).
        contribution.state = "superseded"
    elif hold is not None:
        contribution.state = "unlinked"
    elif contribution.state in ("superseded", "failed"):
        contribution.state = "unlinked"  # provisional; rebuild decides
    session.flush()

    if hold is None:
        refs.add(update.case_ref)
    if renamed:
        refs.add(renamed)
    for ref in sorted(r for r in refs if r):
        rebuild(session, ref, settings=settings, renamed=ref == update.case_ref and bool(renamed))
    if (
        old is not None
        and contribution.hold_reason is None
        and contribution.state != "superseded"
        and old.state != "superseded"
    ):
        # The edit took effect; the version it replaces was filed under another reference
        # number (the rebuild above superseded it if it was under the same one).
        old.state = "superseded"
        session.flush()
        rebuild(session, old.case_ref, settings=settings)

    return ApplyResult(
        instance_id=submission.instance_id,
        state=contribution.state,
        case_ref=contribution.case_ref or None,
        case_id=contribution.case_id,
        hold_reason=contribution.hold_reason,
    )


def _route(session: Session, update: CaseUpdate) -> tuple[CaseUpdate, str | None]:
    """Where a submission is filed, and why it is held for a supervisor (None: it is not).

    By its entity id when that is a case's (a blank reference number then takes the case's),
    or was a duplicate registration's that a supervisor merged into a case (a phone that
    registered the duplicate still holds it: its follow-ups go to the case, as the ones
    made before the merge did); held as ``ref_mismatch`` when it names another reference
    number than that case's; otherwise under the reference number it names.
    """
    if not update.entity_id:
        return update, None
    known_ref = queries.get_case_ref_by_entity_id(session, update.entity_id)
    entity_id = update.entity_id
    if known_ref is None and not update.is_registration:
        merged = queries.get_case_by_merged_entity_id(session, update.entity_id)
        if merged is not None:
            known_ref, entity_id = merged
    if known_ref is None:
        return update, None
    if update.case_ref and update.case_ref != known_ref:
        return update, HOLD_REF_MISMATCH
    routed = update if update.case_ref else rebase_update(update, known_ref)
    return replace(routed, entity_id=entity_id), None


def _rename_case_if_renumbered(
    session: Session, old: CaseContribution, update: CaseUpdate, submitter: User
) -> str | None:
    """Rename a case when ``update`` edits the registration that created it and gives it a
    reference number no case has yet; returns the former reference number, or None (not
    such an edit, the submitter may not see the case, or the number is taken: then the edit
    is routed, and held, like any other).

    The case keeps its entity id and its history: every contribution applied to it moves to
    the new number, and derived plan item ids move with it (explicit answers that named
    the old ids are translated), so devices and item references stay consistent.
    """
    new_ref = update.case_ref
    if not (
        update.is_registration
        and update.entity_id
        and new_ref
        and old.is_registration
        and old.state == "applied"
        and old.entity_id == update.entity_id
        and old.case_ref != new_ref
    ):
        return None
    case = queries.get_case_by_entity_id(session, update.entity_id)
    if case is None or case.id != old.case_id or case.case_ref != old.case_ref:
        return None
    if not queries.is_case_visible(session, submitter, case.id):
        return None
    former = case.case_ref
    for ref in sorted((former, new_ref)):
        queries.lock_case_ref(session, ref)
    if queries.get_case_by_ref(session, new_ref) is not None:
        return None
    moving = queries.list_contributions_for_case(session, case.id)
    updates = [CaseUpdate.from_json(c.update) for c in moving]
    new_ids = {
        i.item_id: item_id_for(new_ref, i.kind, i.key or normalize_title(i.title or ""))
        for u in updates
        for i in u.items
        if not i.is_explicit_id
    }
    for c, u in zip(moving, updates, strict=True):
        rebased = rebase_update(u, new_ref)
        items = tuple(
            replace(i, item_id=new_ids.get(i.item_id, i.item_id)) if i.is_explicit_id else i
            for i in rebased.items
        )
        _fill_contribution(c, replace(rebased, items=items), moved=bool(c.update.get(MOVED)))
    case.case_ref = new_ref
    session.add(
        CaseAction(
            case_id=case.id,
            kind="rename",
            payload={"from_ref": former, "to_ref": new_ref, "instance_id": update.instance_id},
            actor_id=submitter.id,
            at=utcnow(),
        )
    )
    session.flush()
    details = {"from_ref": former, "instance_id": update.instance_id}
    _audit(session, submitter, "case.rename", new_ref, details)
    return former


def _check_bounds(
    definition: FormDefinition, envelope: SubmissionEnvelope, settings: CaseSettings
) -> None:
    """Refuse to merge a case form's submission beyond the bounds (``cases.limits``)."""
    if definition.with_role("ref"):
        check_merge_bounds(
            definition,
            envelope.data,
            max_answer_bytes=settings.max_answer_bytes,
            max_repeat_instances=settings.max_repeat_instances,
        )


def submissions_to_reapply(session: Session) -> list[int]:
    """Ids of every submission to apply again for all data to be read again
    (`casework reprocess --all`): the current ones and the earlier versions still in effect,
    oldest first."""
    return queries.list_submission_ids_to_reapply(session)


def _fill_contribution(
    contribution: CaseContribution,
    update: CaseUpdate,
    *,
    moved: bool = False,
    replaces: str | None = None,
) -> None:
    """Write ``update`` onto the contribution, with the markers the rebuild reads: ``moved``
    (a supervisor filed it) and ``replaces`` (the instance id an edit replaces; kept from
    the stored update when not given)."""
    if replaces is None and contribution.update:
        replaces = contribution.update.get(REPLACES)
    contribution.case_ref = update.case_ref
    contribution.form_id = update.form_id
    contribution.entity_id = update.entity_id
    contribution.is_registration = update.is_registration
    contribution.base_version = update.base_version
    contribution.event_at = update.event_at
    contribution.update = _update_json(update, moved=moved, replaces=replaces)


def _update_json(update: CaseUpdate, *, moved: bool, replaces: str | None) -> dict[str, Any]:
    data = update.to_json()
    if moved:
        data[MOVED] = True
    if replaces:
        data[REPLACES] = replaces
    return data


# --- rebuilding ----------------------------------------------------------------------------


def rebuild(
    session: Session,
    case_ref: str,
    *,
    settings: CaseSettings = DEFAULT_SETTINGS,
    today: date | None = None,
    renamed: bool = False,
) -> RebuildResult:
    """Derive the case filed under ``case_ref`` again from all its inputs.

    Linking follows the rules in the module docstring: the first registration to be applied
    created the case and its entity id stays canonical; other registrations under the same
    reference number, and follow-ups of their entities, become ``duplicate``; follow-ups
    with no registration yet stay ``unlinked`` until it arrives; a contribution not yet
    decided is checked against the case scope once, and the decision is kept.

    Writes only when something changed; ``version`` goes up by one per change, and past
    every version a phone can hold when contributions moved in or the case was ``renamed``.
    """
    session.flush()  # the rebuild reads and writes through Core, after pending ORM changes
    result = _rebuild(session, case_ref, settings=settings, today=today, renamed=renamed)
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
    hold_reason: str | None = None
    loaded_hold_reason: str | None = None
    moved: bool = False  # filed by a supervisor: applies regardless of scope
    replaces: str | None = None  # the instance id this edit replaces
    renamed_caseworker: bool = False  # the caseworker rules changed the update: store it
    is_kept: bool = False  # applied to this case before: its decisions stand
    markers: dict[str, Any] = field(default_factory=dict)  # MOVED / REPLACES, kept as stored

    @property
    def is_held(self) -> bool:
        return self.hold_reason is not None and not self.moved


def _loaded(row: Any) -> _Contribution:
    raw = row["update"]
    markers = {k: raw[k] for k in (MOVED, REPLACES) if raw.get(k)}
    return _Contribution(
        id=row["id"],
        entity_id=row["entity_id"],
        is_registration=row["is_registration"],
        event_at=row["event_at"],
        state=row["state"],
        case_id=row["case_id"],
        update=CaseUpdate.from_json(raw),
        loaded_state=row["state"],
        hold_reason=row["hold_reason"],
        loaded_hold_reason=row["hold_reason"],
        moved=bool(raw.get(MOVED)),
        replaces=raw.get(REPLACES),
        markers=markers,
    )


def _expire_case_rows(session: Session) -> None:
    """The rebuild wrote with Core: ORM copies of case rows in this session are outdated."""
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Case | PlanItem | CaseConflict | CaseContribution | CaseAction):
            session.expire(obj)


def _rebuild(
    session: Session,
    case_ref: str,
    *,
    settings: CaseSettings,
    today: date | None = None,
    pending: _Contribution | None = None,
    pending_values: dict[str, Any] | None = None,
    renamed: bool = False,
    known_users: Sequence[User] = (),
) -> RebuildResult:
    """:func:`rebuild`, plus an optional contribution to insert with the state it gets
    (``known_users``: users already loaded in this session, not read again).

    Statements: the lock, the case, its contributions and the users they name; for a
    case that already existed, its actions, plan items and conflicts, and (when a
    contribution is not decided yet) one scope check; then only the writes that change
    something.
    """
    queries.lock_case_ref(session, case_ref)
    case = queries.get_case_row_for_update(session, case_ref)
    contributions = [_loaded(r) for r in queries.list_contribution_rows_for_ref(session, case_ref)]
    if pending is not None:
        contributions.append(pending)
    case_id: int | None = case["id"] if case is not None else None
    counts_before = item_counts.case_counts(session, case_id)

    # Decided before: applied to this case (kept whatever the case became since), or held.
    undecided: list[_Contribution] = []
    open_: list[_Contribution] = []
    for c in contributions:
        if c.is_held:
            c.state = "unlinked"
        elif c.loaded_state == "applied" and case_id is not None and c.case_id == case_id:
            c.state, c.is_kept = "applied", True
        else:
            open_.append(c)
    registrations = sorted(
        (c for c in open_ if c.is_registration and c.entity_id),
        key=lambda c: (c.event_at, c.update.instance_id),
    )
    creator: _Contribution | None = None
    if case is not None:
        canonical_entity: str | None = case["entity_id"]
    else:
        creator = _creator(session, registrations, pending)
        canonical_entity = creator.entity_id if creator is not None else None
    duplicate_entities = {c.entity_id for c in registrations if c.entity_id != canonical_entity}
    linked = case is not None or creator is not None
    for c in open_:
        if c.is_held:  # a registration _creator found to be another case's
            c.state = "unlinked"
        elif c.moved and linked:
            c.state, c.hold_reason = "applied", None
        elif c.entity_id in duplicate_entities:
            c.state = "duplicate"
        elif not linked or c.entity_id not in (None, canonical_entity):
            c.state = "unlinked"  # waits for its registration
        elif c is creator:
            c.state = "applied"
        else:
            c.state = "unlinked"  # until its scope is decided below
            undecided.append(c)

    actions = (
        [
            ActionRecord(action_id=i, kind=kind, at=at, actor=name, payload=dict(payload))
            for i, kind, at, name, payload in queries.list_action_rows_for_case(session, case["id"])
        ]
        if case is not None
        else []
    )
    named = _named_users([c.update for c in contributions if not c.is_held], actions)
    users = {u.username: u for u in known_users if u.username in named}
    users.update(queries.get_users_by_username(session, named - users.keys()))
    if case_id is not None and undecided:
        _decide_scope(session, case_id, undecided, users)
    _supersede_replaced(contributions)
    # An edit of the registration that created the case is read as that registration.
    registered = {
        c.update.instance_id
        for c in contributions
        if c.is_registration and c.is_kept and c.state == "superseded"
    }
    for c in contributions:
        if c.state == "applied" and not c.is_kept:
            creates = c is creator or (c.is_registration and c.replaces in registered)
            _name_caseworker(c, users, creates=creates)
    moved_in = renamed or any(
        c.moved and c.state == "applied" and not c.is_kept for c in contributions
    )

    version: int | None = case["version"] if case is not None else None
    changed = False
    if creator is not None:
        state = _build(contributions, actions, settings, today)
        values = _case_values(state, _caseworker_ref(session, state, users, None))
        version = max(1, _version_floor(contributions) if moved_in else 1)
        values.update(
            case_ref=case_ref,
            entity_id=canonical_entity,
            opened_at=state.opened_at or creator.event_at,
            updated_at=utcnow(),
            version=version,
        )
        case_id, changed = queries.insert_case(session, values), True
        _write_items_and_conflicts(session, case_id, state, users, fresh=True)
        if undecided:
            # Follow-ups that waited for this registration: decided against the case as
            # it now stands.
            _decide_scope(session, case_id, undecided, users)
            newly = [c for c in undecided if c.state == "applied"]
            for c in newly:
                _name_caseworker(c, users, creates=False)
            row = queries.get_case_row_for_update(session, case_ref) if newly else None
            if row is not None:
                _write_state(session, row, _build(contributions, actions, settings, today), users)
    elif case is not None:
        state = _build(contributions, actions, settings, today)
        changed = _write_state(session, case, state, users)
        if changed or moved_in:
            version = case["version"] + 1
            if moved_in:
                version = max(version, _version_floor(contributions))
            queries.update_case(session, case["id"], {"version": version, "updated_at": utcnow()})

    if changed:
        item_counts.note_change(session, case_id, counts_before)
    _write_contribution_states(session, contributions, case_id, pending, pending_values)
    return RebuildResult(case_ref, case_id, changed, version)


def _creator(
    session: Session, registrations: list[_Contribution], pending: _Contribution | None
) -> _Contribution | None:
    """The registration that creates a case not created yet: the earliest, skipping (and
    holding) any whose entity id another case already has (the pending one was routed, so
    its entity id is not another case's)."""
    for c in registrations:
        if c is pending or queries.get_case_ref_by_entity_id(session, c.entity_id or "") is None:
            return c
        c.hold_reason = HOLD_REF_MISMATCH
    return None


def _decide_scope(
    session: Session, case_id: int, undecided: list[_Contribution], users: dict[str, User]
) -> None:
    """Apply each contribution whose submitter may see the case; hold the others."""
    names = sorted({c.update.submitter for c in undecided if c.update.submitter})
    submitters = [users[n] for n in names if n in users]
    seeing = queries.get_usernames_seeing_case(session, submitters, case_id)
    for c in undecided:
        if c.update.submitter in seeing:
            c.state = "applied"
        else:
            c.state, c.hold_reason = "unlinked", HOLD_OUT_OF_SCOPE


def _supersede_replaced(contributions: list[_Contribution]) -> None:
    """An edit that is not held supersedes the version it replaces (when filed here)."""
    by_instance = {c.update.instance_id: c for c in contributions}
    for c in contributions:
        if c.replaces and not c.is_held and c.state != "superseded":
            old = by_instance.get(c.replaces)
            if old is not None and old is not c:
                old.state = "superseded"


def _build(
    contributions: list[_Contribution],
    actions: list[ActionRecord],
    settings: CaseSettings,
    today: date | None,
) -> CaseState:
    return build_case(
        [c.update for c in contributions if c.state == "applied"],
        actions,
        today=today or utcnow().date(),
        default_frequency_days=settings.default_contact_frequency_days,
        review_interval_days=settings.review_interval_days,
    )


def _version_floor(contributions: list[_Contribution]) -> int:
    """One more than any version a phone can hold for the case: a phone that updated it
    from base version ``b`` holds ``b + 1`` (a registration: 1)."""
    held = [(c.update.base_version or 0) + 1 for c in contributions if c.state == "applied"]
    return max(held, default=0) + 1


def _write_contribution_states(
    session: Session,
    contributions: list[_Contribution],
    case_id: int | None,
    pending: _Contribution | None,
    pending_values: dict[str, Any] | None,
) -> None:
    """Store each contribution's state, case and hold reason where they changed (and its
    update where the caseworker rules changed it); insert the pending one."""
    rows, updates = [], []
    for c in contributions:
        new_case = case_id if c.state == "applied" else None
        stored = (c.loaded_state, c.case_id, c.loaded_hold_reason)
        if c is not pending and (c.state, new_case, c.hold_reason) != stored:
            rows.append(
                {"id": c.id, "state": c.state, "case_id": new_case, "hold_reason": c.hold_reason}
            )
        if c is not pending and c.renamed_caseworker:
            updates.append({"id": c.id, "update": {**c.update.to_json(), **c.markers}})
        c.case_id = new_case
    queries.update_rows(session, CaseContribution, rows)
    queries.update_rows(session, CaseContribution, updates)
    if pending is not None and pending_values is not None:
        row = {
            **pending_values,
            "state": pending.state,
            "case_id": pending.case_id,
            "update": pending.update.to_json(),
            "hold_reason": pending.hold_reason,
        }
        queries.insert_rows(session, CaseContribution, [row])


def _named_users(updates: list[CaseUpdate], actions: list[ActionRecord]) -> set[str]:
    """Every username the state can name: caseworker answers, submitters, the users of
    reassignments and the supervisors who resolved conflicts."""
    names = {u.caseworker for u in updates if u.caseworker}
    names |= {u.submitter for u in updates if u.submitter}
    for a in actions:
        if a.kind == "reassign" and a.payload.get("username"):
            names.add(str(a.payload["username"]))
        elif a.kind == "resolve" and a.actor:
            names.add(a.actor)
    return {n for n in names if n}


def _is_eligible(user: User | None) -> bool:
    """Whether the user may be a case's named caseworker."""
    return user is not None and user.is_active and user.role in CASEWORKER_ROLES


def _may_name(submitter: User | None, named: User | None, *, is_registration: bool) -> bool:
    """Whether the submitter's caseworker answer may name ``named`` (see the module
    docstring)."""
    if submitter is None or named is None or not _is_eligible(named):
        return False
    same_team = submitter.team is not None and named.team == submitter.team
    if submitter.role == "admin":
        return True
    if submitter.role == "supervisor":
        return same_team
    if submitter.role == "caseworker":
        return is_registration and (named.id == submitter.id or same_team)
    return False


def _name_caseworker(c: _Contribution, users: dict[str, User], *, creates: bool) -> None:
    """Read the contribution's caseworker answer by the naming rules, as it is first applied
    (the result is stored on it, so later rebuilds read the same). Only the registration
    that ``creates`` the case (or an edit of it) is read as a registration: a second
    registration of the case's entity is read like a revision."""
    u = c.update
    submitter = users.get(u.submitter) if u.submitter else None
    named = users.get(u.caseworker) if u.caseworker else None
    caseworker = u.caseworker if _may_name(submitter, named, is_registration=creates) else None
    if caseworker is None and creates and submitter and _is_eligible(submitter):
        caseworker = submitter.username
    if caseworker != u.caseworker:
        c.update = replace(u, caseworker=caseworker)
        c.renamed_caseworker = True


def _fingerprint(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _caseworker_ref(
    session: Session,
    state: CaseState,
    users: dict[str, User],
    current_id: int | None,
) -> tuple[int, str | None] | None:
    """(id, team) of the state's caseworker; when that user may not hold cases (not, or no
    longer, an active caseworker or supervisor), the case stays where it was."""
    name = state.caseworker
    if name and name not in users:
        users.update(queries.get_users_by_username(session, {name}))
    found = users.get(name) if name else None
    if found is not None and _is_eligible(found):
        return (found.id, found.team)
    if name:
        return queries.get_user_ref(session, current_id)
    return None


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
    users: dict[str, User],
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


def typed_ref(value: str) -> str:
    """A reference number a person typed, filed as the devices' are (``canonical_ref``:
    ``cp- 1`` is ``CP- 1``); ``case.bad_ref`` unless the case plan form would accept it."""
    ref = canonical_ref(value)
    if not is_valid_ref(ref):
        raise AppError("case.bad_ref", details={"case_ref": value[:200]})
    return ref


def _case_or_404(session: Session, case_ref: str, actor: User) -> Case:
    """The case, if it is in the actor's scope (a supervisor decides on cases they see).
    The reference number is looked up in its canonical form (``cp-1`` finds ``CP-1``)."""
    _require_supervisor(actor)
    case = queries.get_case_by_ref(session, canonical_ref(case_ref))
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


def _lock_cases(session: Session, refs: Iterable[str]) -> None:
    """Lock the cases filed under ``refs`` before writing anything about them, in the one
    order every writer of cases follows: the reference numbers' advisory locks, sorted,
    then the case rows (``FOR UPDATE``), as the rebuild takes them.

    Writing first would not do: a row inserted that refers to a case (a supervisor's
    action) takes a key-share lock on the case row, and a rebuild that holds the advisory
    lock then waits for that row while the writer waits for the advisory lock (PostgreSQL
    answers one of them with a deadlock). A merge locks its submission row before any of
    these (``submissions.queries.lock_processing_state``); a decision locks no submission.
    """
    ordered = sorted({r for r in refs if r})
    for ref in ordered:
        queries.lock_case_ref(session, ref)
    for ref in ordered:
        queries.get_case_row_for_update(session, ref)


def _lock_case(session: Session, case: Case) -> None:
    """:func:`_lock_cases` for one case; ``case.not_found`` if it was renumbered meanwhile."""
    session.flush()
    queries.lock_case_ref(session, case.case_ref)
    row = queries.get_case_row_for_update(session, case.case_ref)
    if row is None or row["id"] != case.id:
        raise AppError("case.not_found", details={"case_ref": case.case_ref})


def _act(
    session: Session,
    case: Case,
    kind: str,
    payload: dict[str, Any],
    actor: User,
    settings: CaseSettings,
) -> RebuildResult:
    _lock_case(session, case)
    session.add(
        CaseAction(case_id=case.id, kind=kind, payload=payload, actor_id=actor.id, at=utcnow())
    )
    session.flush()
    # the value a conflict was resolved to stays on the case (it may be a sensitive answer)
    details = {k: v for k, v in payload.items() if k != "value"}
    _audit(session, actor, f"case.{kind}", case.case_ref, details)
    return rebuild(session, case.case_ref, settings=settings)


def _audit(
    session: Session, actor: User | None, action: str, case_ref: str, details: dict[str, Any]
) -> None:
    """A supervisor's decision (or a renumbering) in the audit log: who, which case, what."""
    audit.record(session, actor, action, target_type="case", target=case_ref, details=details)


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
    """Choose one of the values in conflict; it stands until a later update changes it.

    Once: a conflict already resolved is ``case.conflict_resolved``, saying who chose what
    and when. Decided under the case's lock, so of two supervisors at the same moment one
    resolves it and the other is told so.
    """
    case = _case_or_404(session, case_ref, actor)
    _lock_case(session, case)
    conflict = queries.get_conflict(session, case.id, conflict_id)
    if conflict is None:
        raise AppError("case.conflict_not_found", details={"conflict_id": conflict_id})
    if conflict.resolved_at is not None:
        raise _already_resolved(session, conflict)
    allowed = {_fingerprint(c.get("value")) for c in conflict.candidates}
    if _fingerprint(value) not in allowed:
        raise AppError(
            "case.bad_value",
            details={"allowed": sorted({str(c.get("value")) for c in conflict.candidates})},
        )
    payload = {"conflict_key": conflict.conflict_key, "field": conflict.field, "value": value}
    return _act(session, case, "resolve", payload, actor, settings)


def _already_resolved(session: Session, conflict: CaseConflict) -> AppError:
    ids = {conflict.resolved_by_id} if conflict.resolved_by_id is not None else set()
    who = queries.get_usernames(session, ids).get(conflict.resolved_by_id or 0)
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
    """File a waiting submission (typed with a wrong reference number) under an existing case.

    ``case_ref`` is read as the devices' are (``cp-1`` names ``CP-1``); when it names no
    case the actor sees, a number the case plan form would refuse is ``case.bad_ref``."""
    _require_supervisor(actor)
    contribution = queries.get_contribution_by_instance_id(session, instance_id)
    if contribution is None:
        raise AppError("submission.not_found", details={"instance_id": instance_id})
    _require_in_scope(session, actor, contribution, instance_id)
    if contribution.state != "unlinked":
        raise AppError("case.not_unlinked", details={"instance_id": instance_id})
    try:
        case = _case_or_404(session, case_ref, actor)
    except AppError:
        typed_ref(case_ref)  # a malformed number is said to be so
        raise
    case_ref = case.case_ref
    old_ref = contribution.case_ref
    _lock_cases(session, (old_ref, case_ref))
    session.refresh(contribution)  # as the lock holders left it
    if contribution.state != "unlinked" or contribution.case_ref != old_ref:
        raise AppError("case.not_unlinked", details={"instance_id": instance_id})
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
    _audit(session, actor, "case.link", case_ref, {"instance_id": instance_id, "from_ref": old_ref})
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
    _lock_cases(session, [case.case_ref, *(c.case_ref for c in moving)])
    _still_duplicates(session, moving, instance_id)
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
    _audit(session, actor, "case.merge", case.case_ref, {"instance_id": instance_id})
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
    _require_supervisor(actor)
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
    _lock_cases(session, [new_case_ref, *(c.case_ref for c in moving)])
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
            CaseAction(
                case_id=result.case_id,
                kind="register_duplicate",
                payload={"instance_id": instance_id, "from_ref": old_ref},
                actor_id=actor.id,
                at=utcnow(),
            )
        )
        details = {"instance_id": instance_id, "from_ref": old_ref}
        _audit(session, actor, "case.register_new", new_case_ref, details)
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


def _still_duplicates(session: Session, moving: list[CaseContribution], instance_id: str) -> None:
    """After the cases are locked: what was read before is still what a decision on a
    duplicate moves (another decision may have moved it meanwhile)."""
    refs = {c.id: c.case_ref for c in moving}
    for c in moving:
        session.refresh(c)
        if c.state != "duplicate" or c.case_ref != refs[c.id]:
            raise AppError(
                "case.not_unlinked",
                message="This submission is not a duplicate registration.",
                details={"instance_id": instance_id},
            )


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
    # the sensitive fields the record shows (``server.sensitivity``), for the audit log
    sensitive_read: tuple[str, ...] = ()

    @property
    def warnings(self) -> tuple[str, ...]:
        """What the case lacks that a plan must hold. ``no_protection_need``: no plan has
        named a protection need of the child (one finalized without, by an older form or
        a client that skipped the form's check). The registration is kept, not refused:
        it is a fact, its phone would otherwise keep resending it, and the case must
        exist for the caseworker's next contacts; the case shows it until a plan
        revision names a need."""
        if any(item.kind == "need" for item in self.plan_items):
            return ()
        return ("no_protection_need",)


def get_case_detail(session: Session, case_ref: str, viewer: User) -> CaseDetail:
    """Everything the case page shows; ``case.not_found`` also when out of the viewer's scope
    (so a reference number outside it reveals nothing). The reference number is looked up
    in its canonical form (``cp-1`` finds ``CP-1``). Whoever sees the case reads its
    sensitive answers (``server.sensitivity``); which ones it shows is in ``sensitive_read``,
    for the caller's audit record."""
    if not sensitivity.may_read(viewer.role, sensitivity.Use.VIEW):
        raise AppError("case.not_found", details={"case_ref": case_ref})
    case = queries.get_case_by_ref(session, canonical_ref(case_ref))
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
    plan_items = queries.list_plan_items(session, case.id)
    read = sensitivity.fields_read(
        sensitivity.load_names(session),
        case.properties or {},
        [i.properties or {} for i in plan_items],
        [*(t.changes for t in timeline), *({c.field: c.candidates} for c in conflicts)],
    )
    return CaseDetail(
        case=case,
        caseworker=names.get(case.caseworker_id) if case.caseworker_id else None,
        plan_items=plan_items,
        conflicts=conflicts,
        conflict_resolvers={
            c.id: names[c.resolved_by_id] for c in conflicts if c.resolved_by_id in names
        },
        timeline=timeline,
        actions=actions,
        sensitive_read=tuple(read),
    )


def rebuild_all(
    session: Session, refs: Iterable[str], *, settings: CaseSettings = DEFAULT_SETTINGS
) -> int:
    """Rebuild several cases (after a settings change); returns how many changed."""
    return sum(1 for ref in refs if rebuild(session, ref, settings=settings).changed)
