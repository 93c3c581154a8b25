"""Applying a submission to its case: route it (by entity id, then reference number),
record its contribution, and rebuild the case. Flush only: ``server.intake`` commits.

How a submission is linked to a case, and whether it may change it, is in the docstring of
``cases.rebuild``; an edit that renumbers the registration that created a case renames the
case here (:func:`_rename_case_if_renumbered`).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace

from sqlalchemy.orm import Session

from server.audit import service as audit
from server.auth import queries as auth_queries
from server.auth.models import User
from server.cases import queries, scope
from server.cases.decisions import audit_decision
from server.cases.limits import (
    check_merge_bounds,
)
from server.cases.mapping import (
    CaseUpdate,
    item_id_for,
    map_submission,
    normalize_title,
    rebase_update,
)
from server.cases.models import (
    CaseAction,
    CaseContribution,
    ContributionState,
    WorkerSafetyAlert,
)
from server.cases.rebuild import (
    HOLD_REF_MISMATCH,
    MOVED,
    Contribution,
    expire_case_rows,
    fill_contribution,
    lock_cases,
    rebuild,
    rebuild_with_pending,
    write_contribution_states,
)
from server.cases.settings import DEFAULT_SETTINGS, CaseSettings
from server.cases.transfer_decisions import request_from_conference
from server.db import write_transaction
from server.errors import AppError
from server.submissions.models import ProcessingState, Submission
from server.submissions.parse import SubmissionEnvelope, parse_envelope
from server.submissions.queries import (
    lock_processing_state,
)
from server.submissions.service import set_processing
from server.timeutil import utcnow
from server.xforms import queries as xform_queries
from server.xforms.definition import FormDefinition


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
    first_applied: bool = False  # applied to its case now, not by an earlier merge


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
    linked the first time (see ``cases.rebuild``). An edit (the submission's
    ``deprecated_id`` names an earlier one) supersedes the earlier contribution unless it is
    held, and may rename the case it registered.
    """
    if read is None:
        read = _read_stored(session, submission)
    definition, envelope = read
    _check_bounds(definition, envelope, settings)
    if submitter is None or submitter.id != submission.submitter_id:
        submitter = auth_queries.get_user(session, submission.submitter_id)
    update = map_submission(
        definition,
        envelope,
        submitter=submitter.username if submitter else None,
        received_at=submission.received_at,
        future_tolerance=settings.future_tolerance,
    )
    # After the pure mapping: hold SQLite's write lock only to write. What was read before
    # (the stored XML, the submitter) does not change once stored.
    with write_transaction(session):
        state = lock_processing_state(session, submission.id, skip_locked=skip_locked)
        if state is None or (states is not None and state not in states):
            return None  # merged meanwhile (a resend, `casework reprocess`), or being merged
        if update is None:
            set_processing(session, submission, ProcessingState.SKIPPED)
            return ApplyResult(instance_id=submission.instance_id, state=ProcessingState.SKIPPED)
        if (
            state == ProcessingState.PENDING
            and submission.is_current
            and not submission.deprecated_id
        ):
            result = _apply_first(session, submission, update, submitter, settings)
        else:
            result = _apply_again(session, submission, update, submitter, settings)
        set_processing(session, submission, ProcessingState.APPLIED)
        if update.worker_unsafe and _record_worker_unsafe(session, submission, submitter, update):
            _audit_worker_unsafe(session, submitter, result, update)
        if (
            update.transfer
            and submitter is not None
            and submission.is_current
            and result.state == ContributionState.APPLIED
            and result.case_ref
        ):
            # a conference decided on a transfer: asked once (``request_from_conference``)
            request_from_conference(
                session,
                result.case_ref,
                update,
                submitter,
                first=result.first_applied,
                settings=settings,
            )
    return result


def _record_worker_unsafe(
    session: Session, submission: Submission, submitter: User | None, update: CaseUpdate
) -> bool:
    """The supervisor's alert (``WorkerSafetyAlert``), from the submission itself whatever
    its routing (applied, or held in the unlinked queue): its worker, their team now, when
    the server received it. Once per submission; True when recorded now."""
    if queries.has_worker_safety_alert(session, submission.id):
        return False
    session.add(
        WorkerSafetyAlert(
            submission_id=submission.id,
            case_ref=update.case_ref,
            worker_id=submitter.id if submitter else None,
            worker=submitter.username if submitter else update.submitter,
            team=submitter.team if submitter else None,
            event_at=update.event_at,
            received_at=submission.received_at,
            attempt=update.attempt,
        )
    )
    session.flush()
    return True


def _audit_worker_unsafe(
    session: Session, submitter: User | None, result: ApplyResult, update: CaseUpdate
) -> None:
    """The supervisor's alert in the audit log, once: when the alert is recorded
    (reprocessing the submission records nothing)."""
    details = {"instance_id": update.instance_id, "at": update.event_at.isoformat()}
    if update.attempt:
        details["attempt"] = update.attempt
    audit.record(
        session,
        submitter,
        "case.worker_unsafe",
        target_type="case",
        target=result.case_ref or update.case_ref,
        details=details,
    )


def _read_stored(
    session: Session, submission: Submission
) -> tuple[FormDefinition, SubmissionEnvelope]:
    version = xform_queries.get_version_by_id(session, submission.xform_version_id)
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
    pending = Contribution(
        id=None,
        entity_id=update.entity_id,
        is_registration=update.is_registration,
        event_at=update.event_at,
        state=ContributionState.UNLINKED,
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
        rebuild_with_pending(
            session,
            update.case_ref,
            settings=settings,
            pending=pending,
            pending_values=values,
            known_users=[submitter] if submitter is not None else [],
        )
    else:
        write_contribution_states(session, [pending], None, pending, values)
    expire_case_rows(session)
    return ApplyResult(
        instance_id=submission.instance_id,
        state=pending.state,
        case_ref=update.case_ref or None,
        case_id=pending.case_id,
        hold_reason=pending.hold_reason,
        first_applied=pending.state == "applied",
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
    was_applied = contribution is not None and contribution.state == "applied"
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
    elif contribution is not None and (
        contribution.state == ContributionState.APPLIED or contribution.hold_reason
    ):
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

    # Every case this may write, locked before the first write (see lock_cases).
    lock_cases(
        session,
        (
            update.case_ref if hold is None else "",
            contribution.case_ref if contribution is not None else "",
            renamed or "",
            old.case_ref if old is not None else "",
        ),
    )
    in_effect = contribution is not None and contribution.state not in (
        ContributionState.SUPERSEDED,
        ContributionState.FAILED,
    )
    if contribution is None:
        contribution = CaseContribution(
            submission_id=submission.id, state=ContributionState.UNLINKED
        )
        session.add(contribution)
    elif contribution.case_ref != update.case_ref:
        refs.add(contribution.case_ref)
    fill_contribution(contribution, update, moved=moved, replaces=submission.deprecated_id)
    contribution.hold_reason = hold
    if not submission.is_current and not in_effect:
        # An earlier version counts only while the edit that replaces it is held; one in
        # effect stays so when it is applied again (the rebuild supersedes it if it must).
        contribution.state = ContributionState.SUPERSEDED
    elif hold is not None:
        contribution.state = ContributionState.UNLINKED
    elif contribution.state in (ContributionState.SUPERSEDED, ContributionState.FAILED):
        contribution.state = ContributionState.UNLINKED  # provisional; rebuild decides
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
        and contribution.state != ContributionState.SUPERSEDED
        and old.state != ContributionState.SUPERSEDED
    ):
        # The edit took effect; the version it replaces was filed under another reference
        # number (the rebuild above superseded it if it was under the same one).
        old.state = ContributionState.SUPERSEDED
        session.flush()
        rebuild(session, old.case_ref, settings=settings)

    return ApplyResult(
        instance_id=submission.instance_id,
        state=contribution.state,
        case_ref=contribution.case_ref or None,
        case_id=contribution.case_id,
        hold_reason=contribution.hold_reason,
        first_applied=not was_applied and contribution.state == "applied",
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
        and old.state == ContributionState.APPLIED
        and old.entity_id == update.entity_id
        and old.case_ref != new_ref
    ):
        return None
    case = queries.get_case_by_entity_id(session, update.entity_id)
    if case is None or case.id != old.case_id or case.case_ref != old.case_ref:
        return None
    if not scope.is_case_visible(session, submitter, case.id):
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
        fill_contribution(c, replace(rebased, items=items), moved=bool(c.update.get(MOVED)))
    case.case_ref = new_ref
    session.add(
        CaseAction.of(
            case.id,
            "rename",
            {"from_ref": former, "to_ref": new_ref, "instance_id": update.instance_id},
            submitter.id,
            utcnow(),
        )
    )
    session.flush()
    details = {"from_ref": former, "instance_id": update.instance_id}
    audit_decision(session, submitter, "case.rename", new_ref, details)
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
