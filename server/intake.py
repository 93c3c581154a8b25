"""The walk of a submission, from receipt to its case: the only code that commits a
submission or calls the merge.

1. **Store** (``submissions.store``) the XML verbatim and its files; commit. From here on
   the submission is a fact, whatever becomes of its interpretation.
2. **Merge** (``cases.apply``) what it says into its case; commit. A failure rolls the merge
   back and is written on the submission (here only); the device gets its 201 all the same.

Step 2 runs again for a resend of one never merged (the server stopped in between), for
`casework reprocess` and at `casework serve`'s start; it locks the submission first.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.auth.models import User
from server.cases import routing as cases
from server.cases.routing import ApplyResult
from server.cases.settings import DEFAULT_SETTINGS, CaseSettings
from server.errors import AppError
from server.submissions import queries as submission_queries
from server.submissions import service as submissions
from server.submissions.models import ProcessingState, Submission
from server.submissions.parse import SubmissionEnvelope, parse_envelope
from server.submissions.service import Caller, IncomingFile, Receipt
from server.xforms.definition import FormDefinition

log = logging.getLogger(__name__)

# What `casework reprocess` picks up by default: merges that failed or never ran.
UNMERGED_STATES = (ProcessingState.FAILED, ProcessingState.PENDING)


def receive(
    session: Session,
    xml: bytes,
    files: list[IncomingFile],
    caller: Caller,
    *,
    settings: CaseSettings = DEFAULT_SETTINGS,
    received_at: datetime | None = None,
) -> tuple[Receipt, ApplyResult | None]:
    """A device's (or a test's) submission, stored and committed, then merged: the receipt,
    and what became of it in its case (None: encrypted, or merged already)."""
    envelope = parse_envelope(xml)
    receipt, definition = _store(session, xml, envelope, files, caller, received_at)
    if receipt.submission.processing_state != ProcessingState.PENDING:
        return receipt, None
    read, submission = (definition, envelope), receipt.submission
    return receipt, _merge(session, submission, settings, read=read, submitter=caller.user)


def _store(
    session: Session,
    xml: bytes,
    envelope: SubmissionEnvelope,
    files: list[IncomingFile],
    caller: Caller,
    received_at: datetime | None,
) -> tuple[Receipt, FormDefinition]:
    """Step 1. Two identical submissions racing: the one that lost is stored again, as the
    resend it now is. A resend's files refused: the refusal is audited, then raised."""

    def store() -> tuple[Receipt, FormDefinition]:
        stored = submissions.store(session, xml, envelope, files, caller, received_at=received_at)
        session.commit()
        return stored

    try:
        try:
            return store()
        except IntegrityError:
            session.rollback()
            return store()
    except AppError as exc:
        if exc.code in submissions.FILES_REFUSED:
            session.rollback()
            submissions.record_refusal(session, envelope, caller, exc)
            session.commit()
        raise


def _merge(
    session: Session,
    submission: Submission,
    settings: CaseSettings,
    *,
    read: tuple[FormDefinition, SubmissionEnvelope] | None = None,
    submitter: User | None = None,
    states: Collection[str] | None = (ProcessingState.PENDING,),
    skip_locked: bool = False,
) -> ApplyResult | None:
    """Step 2 (``cases.apply`` says what the arguments mean); None: not in ``states``."""
    try:
        result = cases.apply(
            session,
            submission,
            settings=settings,
            read=read,
            submitter=submitter,
            states=states,
            skip_locked=skip_locked,
        )
        session.commit()
        return result
    except Exception as exc:  # any failure: the data is safe and the merge can be re-run
        session.rollback()
        error = f"{exc.code if isinstance(exc, AppError) else type(exc).__name__}: {exc}"[:2000]
        submissions.set_processing(session, submission, ProcessingState.FAILED, error)
        session.commit()
        log.exception("merging submission %s failed", submission.instance_id)
        return ApplyResult(
            instance_id=submission.instance_id, state=ProcessingState.FAILED, error=error
        )


def reprocess(
    session: Session,
    instance_id: str | None = None,
    *,
    states: Sequence[str] = UNMERGED_STATES,
    settings: CaseSettings = DEFAULT_SETTINGS,
) -> list[ApplyResult]:
    """Step 2 again for one submission (by instance id, whatever its state) or each in one
    of ``states``, oldest first; one that another process is merging now is left to it."""
    found = submission_queries.list_submissions_to_reprocess(session, instance_id, states)
    if instance_id is not None and not found:
        raise AppError("submission.not_found", details={"instance_id": instance_id})
    session.commit()
    one = instance_id is not None
    merged = [
        _merge(session, s, settings, states=None if one else states, skip_locked=not one)
        for s in found
    ]
    return [r for r in merged if r is not None]


def reapply(
    session: Session, submission_ids: Sequence[int], *, settings: CaseSettings = DEFAULT_SETTINGS
) -> list[ApplyResult]:
    """`casework reprocess --all`: step 2 again for these submissions, in this order, read
    with today's rules (links, holds and names stay as they were decided). Idempotent."""
    found = submission_queries.list_submissions_by_id(session, submission_ids)
    session.commit()
    merged = [_merge(session, s, settings, states=None) for s in found]
    return [r for r in merged if r is not None]
