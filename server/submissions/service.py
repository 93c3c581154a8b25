"""Receiving submissions: store the fact first, interpret it second."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.auth.models import Device, User
from server.blobs import service as blobs
from server.db import begin_write
from server.errors import AppError
from server.submissions.models import Submission, SubmissionAttachment
from server.submissions.parse import SubmissionEnvelope, binary_attachment_names, parse_envelope
from server.submissions.queries import get_by_instance_id, get_by_instance_id_for_update
from server.timeutil import utcnow
from server.xforms.definition import FormDefinition
from server.xforms.models import XForm, XFormVersion
from server.xforms.queries import get_version, get_xform

log = logging.getLogger(__name__)

Outcome = Literal["created", "attachments_added", "edited"]


@dataclass(frozen=True)
class IncomingFile:
    """One multipart part other than the XML, named exactly as the device sent it."""

    name: str
    content: bytes
    content_type: str | None


@dataclass(frozen=True)
class Caller:
    user: User
    device: Device | None
    device_key: str | None = None
    user_agent: str | None = None
    case_settings: Any = None  # cases.service.CaseSettings; None: the defaults


@dataclass(frozen=True)
class Receipt:
    submission: Submission
    outcome: Outcome
    missing_attachments: tuple[str, ...]


def receive(session: Session, xml: bytes, files: list[IncomingFile], caller: Caller) -> Receipt:
    """Store a submission (or more of its files) and commit; then apply it to its case.

    The receipt is committed before anything interprets it, so a failure while merging
    never loses data: the failure is written on the submission for `casework reprocess`.
    """
    envelope = parse_envelope(xml)
    try:
        receipt, definition = _store(session, xml, envelope, files, caller)
        session.commit()
    except IntegrityError:
        # Two identical submissions raced and the other one won: ours is now a resend.
        session.rollback()
        receipt, definition = _store(session, xml, envelope, files, caller)
        session.commit()
    if receipt.outcome != "attachments_added" and not envelope.is_encrypted:
        _apply_to_case(session, receipt.submission, definition, envelope, caller.case_settings)
    return receipt


def _apply_to_case(
    session: Session, submission: Submission, definition: FormDefinition,
    envelope: SubmissionEnvelope, settings: Any,
) -> None:
    from server.cases import service as cases

    begin_write(session)
    options = {"settings": settings} if settings is not None else {}
    cases.apply_or_record_failure(session, submission, definition, envelope, **options)
    session.commit()


def _store(
    session: Session,
    xml: bytes,
    envelope: SubmissionEnvelope,
    files: list[IncomingFile],
    caller: Caller,
) -> tuple[Receipt, FormDefinition]:
    begin_write(session)
    xform = get_xform(session, envelope.form_id)
    if xform is None:
        raise AppError("xform.not_found", details={"form_id": envelope.form_id})
    if xform.state == "closed":
        raise AppError("xform.closed", details={"form_id": envelope.form_id})
    version = get_version(session, xform, envelope.version)
    if version is None:
        raise AppError("xform.version_not_found",
                       details={"form_id": envelope.form_id, "version": envelope.version})
    definition = FormDefinition.from_json(version.definition)
    xml_sha = hashlib.sha256(xml).hexdigest()

    existing = get_by_instance_id_for_update(session, envelope.instance_id)
    if existing is not None:
        if existing.xml_sha256 != xml_sha:
            raise AppError("submission.xml_conflict", details={"instanceID": envelope.instance_id})
        # An identical resend, or the next POST of a split submission: add its files.
        _add_files(session, existing, files)
        return Receipt(existing, "attachments_added", _missing(existing)), definition

    previous: Submission | None = None
    if envelope.deprecated_id:
        previous = get_by_instance_id_for_update(session, envelope.deprecated_id)
        if previous is None:
            raise AppError("submission.deprecated_not_found",
                           details={"deprecatedID": envelope.deprecated_id})
        if not previous.is_current:
            raise AppError("submission.deprecating_old",
                           details={"deprecatedID": envelope.deprecated_id})

    submission = _new_submission(xml, xml_sha, envelope, xform, version, caller, previous)
    session.add(submission)
    session.flush()
    expected = (
        list(envelope.encrypted_files)
        if envelope.is_encrypted
        else binary_attachment_names(envelope.data, [f.path for f in definition.binary_fields])
    )
    for name in expected:
        submission.attachments.append(SubmissionAttachment(name=name))
    session.flush()
    if previous is not None:
        previous.is_current = False
        _carry_over_files(session, previous, submission)
    _add_files(session, submission, files)
    outcome: Outcome = "edited" if previous is not None else "created"
    return Receipt(submission, outcome, _missing(submission)), definition


def _new_submission(
    xml: bytes,
    xml_sha: str,
    envelope: SubmissionEnvelope,
    xform: XForm,
    version: XFormVersion,
    caller: Caller,
    previous: Submission | None,
) -> Submission:
    return Submission(
        instance_id=envelope.instance_id,
        root_instance_id=previous.root_instance_id if previous else envelope.instance_id,
        deprecated_id=envelope.deprecated_id,
        is_current=True,
        xform_id=xform.id,
        xform_version_id=version.id,
        xml=xml,
        xml_sha256=xml_sha,
        instance_name=envelope.instance_name,
        data={} if envelope.is_encrypted else envelope.data,
        is_encrypted=envelope.is_encrypted,
        submitter_id=caller.user.id,
        device_id=caller.device.id if caller.device else None,
        device_key=(caller.device_key or None) and caller.device_key[:255],
        user_agent=(caller.user_agent or None) and caller.user_agent[:500],
        received_at=utcnow(),
        processing_state="skipped" if envelope.is_encrypted else "pending",
    )


def _add_files(session: Session, submission: Submission, files: list[IncomingFile]) -> None:
    by_name = {a.name: a for a in submission.attachments}
    for incoming in files:
        sha = blobs.store(session, incoming.content)
        row = by_name.get(incoming.name)
        if row is None:
            # Not named in the answers (Collect sends every file in the instance folder):
            # kept all the same, because nothing a device sends is thrown away.
            row = SubmissionAttachment(name=incoming.name)
            submission.attachments.append(row)
            by_name[incoming.name] = row
        row.blob_sha256 = sha
        row.size = len(incoming.content)
        row.content_type = (incoming.content_type or "")[:120] or None
        row.received_at = utcnow()
    session.flush()


def _carry_over_files(session: Session, previous: Submission, edited: Submission) -> None:
    """An edit keeps the files it still names without the device sending them again."""
    old = {a.name: a for a in previous.attachments if a.blob_sha256}
    for row in edited.attachments:
        source = old.get(row.name)
        if source is not None and row.blob_sha256 is None:
            row.blob_sha256, row.size = source.blob_sha256, source.size
            row.content_type, row.received_at = source.content_type, source.received_at
    session.flush()


def _missing(submission: Submission) -> tuple[str, ...]:
    return tuple(a.name for a in submission.attachments if a.blob_sha256 is None)


def get_submission(session: Session, instance_id: str) -> Submission:
    submission = get_by_instance_id(session, instance_id)
    if submission is None:
        raise AppError("submission.not_found")
    return submission
