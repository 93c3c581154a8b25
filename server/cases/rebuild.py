"""The rebuild: derive a case again from all of its inputs. Flush only; callers commit.

Every change goes the same way: record the input (a ``CaseContribution`` for a submission,
``cases.routing``; a ``CaseAction`` for a supervisor, ``cases.decisions``), then
:func:`rebuild` the case from all of its inputs. Rebuilding is idempotent, so re-running a
submission or repeating a rebuild is always safe. The rebuilt state is written onto the
case's rows by ``cases.case_rows``; every writer of cases locks them in one order
(:func:`lock_cases`).

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
  may see that case by the one case-scope rule (``cases.scope.case_scope_clause``) at the moment
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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from server import db
from server.auth import queries as auth_queries
from server.auth.models import User
from server.auth.permissions import may
from server.cases import item_counts, queries, report_counts, scope
from server.cases.case_rows import (
    case_values,
    caseworker_ref,
    is_eligible,
    write_items_and_conflicts,
    write_state,
)
from server.cases.mapping import (
    CaseUpdate,
)
from server.cases.merge import ActionRecord, CaseState, build_case
from server.cases.models import (
    Case,
    CaseAction,
    CaseConflict,
    CaseContribution,
    ContributionState,
    PlanItem,
)
from server.cases.settings import DEFAULT_SETTINGS, CaseSettings
from server.timeutil import utcnow

# Marks a contribution a supervisor filed by hand (linked, merged or re-registered).
MOVED = "moved_by_supervisor"
# On an edit's contribution: the instance id of the version it replaces.
REPLACES = "replaces"
# Why an "unlinked" contribution is held for a supervisor (CaseContribution.hold_reason).
HOLD_OUT_OF_SCOPE = "out_of_scope"  # its submitter may not see the case it names
HOLD_REF_MISMATCH = "ref_mismatch"  # its entity id and reference number name different cases


@dataclass(frozen=True)
class RebuildResult:
    case_ref: str
    case_id: int | None
    changed: bool
    version: int | None


def fill_contribution(
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
    result = rebuild_with_pending(
        session, case_ref, settings=settings, today=today, renamed=renamed
    )
    expire_case_rows(session)
    return result


@dataclass
class Contribution:
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


def _loaded(row: Any) -> Contribution:
    raw = row["update"]
    markers = {k: raw[k] for k in (MOVED, REPLACES) if raw.get(k)}
    return Contribution(
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


def expire_case_rows(session: Session) -> None:
    """The rebuild wrote with Core: ORM copies of case rows in this session are outdated."""
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Case | PlanItem | CaseConflict | CaseContribution | CaseAction):
            session.expire(obj)


def rebuild_with_pending(
    session: Session,
    case_ref: str,
    *,
    settings: CaseSettings,
    today: date | None = None,
    pending: Contribution | None = None,
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
    report_before = report_counts.case_counts(session, case_id)

    # Decided before: applied to this case (kept whatever the case became since), or held.
    undecided: list[Contribution] = []
    open_: list[Contribution] = []
    for c in contributions:
        if c.is_held:
            c.state = ContributionState.UNLINKED
        elif (
            c.loaded_state == ContributionState.APPLIED
            and case_id is not None
            and c.case_id == case_id
        ):
            c.state, c.is_kept = ContributionState.APPLIED, True
        else:
            open_.append(c)
    registrations = sorted(
        (c for c in open_ if c.is_registration and c.entity_id),
        key=lambda c: (c.event_at, c.update.instance_id),
    )
    creator: Contribution | None = None
    if case is not None:
        canonical_entity: str | None = case["entity_id"]
    else:
        creator = _creator(session, registrations, pending)
        canonical_entity = creator.entity_id if creator is not None else None
    duplicate_entities = {c.entity_id for c in registrations if c.entity_id != canonical_entity}
    linked = case is not None or creator is not None
    for c in open_:
        if c.is_held:  # a registration _creator found to be another case's
            c.state = ContributionState.UNLINKED
        elif c.moved and linked:
            c.state, c.hold_reason = ContributionState.APPLIED, None
        elif c.entity_id in duplicate_entities:
            c.state = ContributionState.DUPLICATE
        elif not linked or c.entity_id not in (None, canonical_entity):
            c.state = ContributionState.UNLINKED  # waits for its registration
        elif c is creator:
            c.state = ContributionState.APPLIED
        else:
            c.state = ContributionState.UNLINKED  # until its scope is decided below
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
    users.update(auth_queries.get_users_by_username(session, named - users.keys()))
    if case_id is not None and undecided:
        _decide_scope(session, case_id, undecided, users)
    _supersede_replaced(contributions)
    # An edit of the registration that created the case is read as that registration.
    registered = {
        c.update.instance_id
        for c in contributions
        if c.is_registration and c.is_kept and c.state == ContributionState.SUPERSEDED
    }
    for c in contributions:
        if c.state == ContributionState.APPLIED and not c.is_kept:
            creates = c is creator or (c.is_registration and c.replaces in registered)
            _name_caseworker(c, users, creates=creates)
    moved_in = renamed or any(
        c.moved and c.state == ContributionState.APPLIED and not c.is_kept for c in contributions
    )

    version: int | None = case["version"] if case is not None else None
    changed = False
    if creator is not None:
        state = _build(contributions, actions, settings, today)
        values = case_values(state, caseworker_ref(session, state, users, None))
        version = max(1, _version_floor(contributions) if moved_in else 1)
        values.update(
            case_ref=case_ref,
            entity_id=canonical_entity,
            opened_at=state.opened_at or creator.event_at,
            updated_at=utcnow(),
            version=version,
        )
        case_id, changed = queries.insert_case(session, values), True
        write_items_and_conflicts(session, case_id, state, users, fresh=True)
        if undecided:
            # Follow-ups that waited for this registration: decided against the case as
            # it now stands.
            _decide_scope(session, case_id, undecided, users)
            newly = [c for c in undecided if c.state == ContributionState.APPLIED]
            for c in newly:
                _name_caseworker(c, users, creates=False)
            row = queries.get_case_row_for_update(session, case_ref) if newly else None
            if row is not None:
                write_state(session, row, _build(contributions, actions, settings, today), users)
    elif case is not None:
        state = _build(contributions, actions, settings, today)
        changed = write_state(session, case, state, users)
        if changed or moved_in:
            version = case["version"] + 1
            if moved_in:
                version = max(version, _version_floor(contributions))
            queries.update_case(session, case["id"], {"version": version, "updated_at": utcnow()})

    if changed:
        item_counts.note_change(session, case_id, counts_before)
        report_counts.note_change(session, case_id, report_before)
    write_contribution_states(session, contributions, case_id, pending, pending_values)
    return RebuildResult(case_ref, case_id, changed, version)


def _creator(
    session: Session, registrations: list[Contribution], pending: Contribution | None
) -> Contribution | None:
    """The registration that creates a case not created yet: the earliest, skipping (and
    holding) any whose entity id another case already has (the pending one was routed, so
    its entity id is not another case's)."""
    for c in registrations:
        if c is pending or queries.get_case_ref_by_entity_id(session, c.entity_id or "") is None:
            return c
        c.hold_reason = HOLD_REF_MISMATCH
    return None


def _decide_scope(
    session: Session, case_id: int, undecided: list[Contribution], users: dict[str, User]
) -> None:
    """Apply each contribution whose submitter may see the case; hold the others."""
    names = sorted({c.update.submitter for c in undecided if c.update.submitter})
    submitters = [users[n] for n in names if n in users]
    seeing = scope.get_usernames_seeing_case(session, submitters, case_id)
    for c in undecided:
        if c.update.submitter in seeing:
            c.state = ContributionState.APPLIED
        else:
            c.state, c.hold_reason = ContributionState.UNLINKED, HOLD_OUT_OF_SCOPE


def _supersede_replaced(contributions: list[Contribution]) -> None:
    """An edit that is not held supersedes the version it replaces (when filed here)."""
    by_instance = {c.update.instance_id: c for c in contributions}
    for c in contributions:
        if c.replaces and not c.is_held and c.state != ContributionState.SUPERSEDED:
            old = by_instance.get(c.replaces)
            if old is not None and old is not c:
                old.state = ContributionState.SUPERSEDED


def _build(
    contributions: list[Contribution],
    actions: list[ActionRecord],
    settings: CaseSettings,
    today: date | None,
) -> CaseState:
    return build_case(
        [c.update for c in contributions if c.state == ContributionState.APPLIED],
        actions,
        today=today or utcnow().date(),
        default_frequency_days=settings.default_contact_frequency_days,
        review_interval_days=settings.review_interval_days,
        approvals=settings.approvals,
        referrals=settings.referrals,
    )


def _version_floor(contributions: list[Contribution]) -> int:
    """One more than any version a phone can hold for the case: a phone that updated it
    from base version ``b`` holds ``b + 1`` (a registration: 1)."""
    held = [
        (c.update.base_version or 0) + 1
        for c in contributions
        if c.state == ContributionState.APPLIED
    ]
    return max(held, default=0) + 1


def write_contribution_states(
    session: Session,
    contributions: list[Contribution],
    case_id: int | None,
    pending: Contribution | None,
    pending_values: dict[str, Any] | None,
) -> None:
    """Store each contribution's state, case and hold reason where they changed (and its
    update where the caseworker rules changed it); insert the pending one."""
    rows, updates = [], []
    for c in contributions:
        new_case = case_id if c.state == ContributionState.APPLIED else None
        stored = (c.loaded_state, c.case_id, c.loaded_hold_reason)
        if c is not pending and (c.state, new_case, c.hold_reason) != stored:
            rows.append(
                {"id": c.id, "state": c.state, "case_id": new_case, "hold_reason": c.hold_reason}
            )
        if c is not pending and c.renamed_caseworker:
            updates.append({"id": c.id, "update": {**c.update.to_json(), **c.markers}})
        c.case_id = new_case
    db.update_rows(session, CaseContribution, rows)
    db.update_rows(session, CaseContribution, updates)
    if pending is not None and pending_values is not None:
        row = {
            **pending_values,
            "state": pending.state,
            "case_id": pending.case_id,
            "update": pending.update.to_json(),
            "hold_reason": pending.hold_reason,
        }
        db.insert_rows(session, CaseContribution, [row])


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


def _may_name(submitter: User | None, named: User | None, *, is_registration: bool) -> bool:
    """Whether the submitter's caseworker answer may name ``named`` (see the module
    docstring)."""
    if submitter is None or named is None or not is_eligible(named):
        return False
    same_team = submitter.team is not None and named.team == submitter.team
    if may(submitter, "case.assign_any"):
        return True
    if may(submitter, "case.assign_team"):
        return same_team
    if may(submitter, "case.assign_at_registration"):
        return is_registration and (named.id == submitter.id or same_team)
    return False


def _name_caseworker(c: Contribution, users: dict[str, User], *, creates: bool) -> None:
    """Read the contribution's caseworker answer by the naming rules, as it is first applied
    (the result is stored on it, so later rebuilds read the same). Only the registration
    that ``creates`` the case (or an edit of it) is read as a registration: a second
    registration of the case's entity is read like a revision."""
    u = c.update
    submitter = users.get(u.submitter) if u.submitter else None
    named = users.get(u.caseworker) if u.caseworker else None
    caseworker = u.caseworker if _may_name(submitter, named, is_registration=creates) else None
    if caseworker is None and creates and submitter and is_eligible(submitter):
        caseworker = submitter.username
    if caseworker != u.caseworker:
        c.update = replace(u, caseworker=caseworker)
        c.renamed_caseworker = True


def lock_cases(session: Session, refs: Iterable[str]) -> None:
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


def rebuild_all(
    session: Session, refs: Iterable[str], *, settings: CaseSettings = DEFAULT_SETTINGS
) -> int:
    """Rebuild several cases (after a settings change); returns how many changed."""
    return sum(1 for ref in refs if rebuild(session, ref, settings=settings).changed)
