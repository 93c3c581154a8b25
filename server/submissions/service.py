"""Storing submissions verbatim: the fact, before anything interprets it (``server.intake``
runs the whole walk of a submission and commits)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from server.audit import service as audit
from server.auth.models import Device, User
from server.blobs import service as blobs
from server.db import write_transaction
from server.errors import AppError
from server.submissions.models import ProcessingState, Submission, SubmissionAttachment
from server.submissions.parse import SubmissionEnvelope, binary_attachment_names
from server.submissions.queries import (
    get_by_instance_id,
    get_by_instance_id_for_update,
    insert_attachments,
    insert_new_submission,
    set_processing_state,
)
from server.submissions.scope import get_visible_submission_ids
from server.timeutil import utcnow
from server.xforms.definition import FormDefinition
from server.xforms.models import FormState, XForm, XFormVersion
from server.xforms.queries import get_version, get_version_by_id, get_version_ref, get_xform

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


@dataclass(frozen=True)
class Receipt:
    submission: Submission
    outcome: Outcome
    missing_attachments: tuple[str, ...]


def store(
    session: Session,
    xml: bytes,
    envelope: SubmissionEnvelope,
    files: list[IncomingFile],
    caller: Caller,
    *,
    received_at: datetime | None = None,
) -> tuple[Receipt, FormDefinition]:
    """Store a submission verbatim (or more files of one stored already), flushed; the
    caller commits (``server.intake``). Its ``processing_state`` is ``pending`` until it is
    merged (``skipped`` if encrypted: the server cannot read it)."""
    files = usable_files(files)
    with write_transaction(session):
        if not envelope.deprecated_id:
            fresh = _store_new(session, xml, envelope, files, caller, received_at)
            if fresh is not None:
                return fresh
            # Already stored: a resend, or the second POST of a split submission.
        return _store(session, xml, envelope, files, caller, received_at)


def set_processing(
    session: Session, submission: Submission, state: str, error: str | None = None
) -> None:
    """Write how far the merge of a submission went (the object may be one this session
    never loaded: a submission stored in a few Core statements)."""
    with write_transaction(session):
        set_processing_state(session, submission.id, state, error)
    set_committed_value(submission, "processing_state", state)
    set_committed_value(submission, "processing_error", error)


# A file's name is its key within the submission; Android's file systems allow 255 bytes.
MAX_NAME_LENGTH = 255


def usable_files(files: list[IncomingFile]) -> list[IncomingFile]:
    """The files to keep, each once; raises if one cannot be kept exactly as it was sent
    (the device then keeps the submission and can resend it, so nothing is lost)."""
    kept: dict[str, IncomingFile] = {}
    for incoming in files:
        name = incoming.name
        if not name:
            if not incoming.content:
                continue  # an empty, unnamed part (an empty form field) carries nothing
            raise AppError("submission.bad_part", "A file in this upload has no name.")
        if "\x00" in name or len(name) > MAX_NAME_LENGTH:
            raise AppError(
                "submission.bad_part",
                "A file in this upload has a name that cannot be a file name "
                "(longer than 255 characters, or containing a NUL character).",
            )
        seen = kept.get(name)
        if seen is not None and seen.content != incoming.content:
            raise AppError(
                "submission.bad_part",
                "Two files in this upload have the same name but different content.",
                details={"name": name},
            )
        kept[name] = incoming
    return list(kept.values())


def _is_file_name(name: str) -> bool:
    return bool(name) and "\x00" not in name and len(name) <= MAX_NAME_LENGTH


def _expected_files(envelope: SubmissionEnvelope, definition: FormDefinition) -> list[str]:
    """The files the answers name. A value that cannot be a file's name (longer than any
    file system allows) is left to the stored XML: no file can ever arrive for it."""
    names = (
        list(envelope.encrypted_files)
        if envelope.is_encrypted
        else binary_attachment_names(envelope.data, [f.path for f in definition.binary_fields])
    )
    return [n for n in names if _is_file_name(n)]


def _text(value: str | None, limit: int) -> str | None:
    """Request metadata as a column can hold it: no NUL characters (PostgreSQL refuses them
    in text), at most ``limit`` characters. The raw XML keeps anything that came from it."""
    if not value:
        return None
    return value.replace("\x00", "")[:limit] or None


def _content_type(value: str | None) -> str | None:
    value = _text(value, 120)
    return value if value is not None and value.isascii() and value.isprintable() else None


# Parsed form definitions by (version id, md5): a published version never changes, and the
# md5 guards against an id reused after a deletion.
_definitions: dict[tuple[int, str | None], FormDefinition] = {}


def _definition(session: Session, version_id: int, md5: str | None) -> FormDefinition:
    key = (version_id, md5)
    found = _definitions.get(key)
    if found is None:
        version = get_version_by_id(session, version_id)
        if version is None:
            raise AppError("xform.version_not_found")
        found = FormDefinition.from_json(version.definition)
        if len(_definitions) > 500:
            _definitions.clear()
        _definitions[key] = found
    return found


def _store_new(
    session: Session,
    xml: bytes,
    envelope: SubmissionEnvelope,
    files: list[IncomingFile],
    caller: Caller,
    received_at: datetime | None,
) -> tuple[Receipt, FormDefinition] | None:
    """Store a submission whose instance id is new, in a few Core statements; ``None``
    (having written nothing) if that instance id is already stored."""
    ref = get_version_ref(session, envelope.form_id, envelope.version)
    if ref is None:
        raise AppError("xform.not_found", details={"form_id": envelope.form_id})
    xform_id, xform_state, version_id, md5 = ref
    if xform_state == FormState.CLOSED:
        raise AppError("xform.closed", details={"form_id": envelope.form_id})
    if version_id is None:
        raise AppError(
            "xform.version_not_found",
            details={"form_id": envelope.form_id, "version": envelope.version},
        )
    definition = _definition(session, version_id, md5)
    now = received_at or utcnow()
    values = {
        "instance_id": envelope.instance_id,
        "root_instance_id": envelope.instance_id,
        "deprecated_id": None,
        "is_current": True,
        "xform_id": xform_id,
        "xform_version_id": version_id,
        "xml": xml,
        "xml_sha256": hashlib.sha256(xml).hexdigest(),
        "instance_name": _text(envelope.instance_name, 500),
        "data": {} if envelope.is_encrypted else envelope.data,
        "is_encrypted": envelope.is_encrypted,
        "submitter_id": caller.user.id,
        "device_id": caller.device.id if caller.device else None,
        "device_key": _text(caller.device_key, 255),
        "user_agent": _text(caller.user_agent, 500),
        "received_at": now,
        "review_state": "received",
        "processing_state": ProcessingState.SKIPPED
        if envelope.is_encrypted
        else ProcessingState.PENDING,
        "processing_error": None,
    }
    submission_id = insert_new_submission(session, values)
    if submission_id is None:
        return None
    expected = _expected_files(envelope, definition)
    rows: dict[str, dict[str, Any]] = {
        name: {
            "submission_id": submission_id,
            "name": name,
            "blob_sha256": None,
            "size": None,
            "content_type": None,
            "received_at": None,
        }
        for name in expected
    }
    for incoming in files:
        # Files not named in the answers are kept too (Collect sends the whole folder).
        rows[incoming.name] = {
            "submission_id": submission_id,
            "name": incoming.name,
            "blob_sha256": blobs.store(session, incoming.content),
            "size": len(incoming.content),
            "content_type": _content_type(incoming.content_type),
            "received_at": utcnow(),
        }
    insert_attachments(session, list(rows.values()))
    submission = Submission(id=submission_id, **values)
    missing = tuple(n for n, r in rows.items() if r["blob_sha256"] is None)
    return Receipt(submission, "created", missing), definition


# A resend's files refused: the refusal is kept in the audit log (``record_refusal``).
FILES_REFUSED = ("submission.attachment_conflict", "submission.attachment_forbidden")


def record_refusal(
    session: Session, envelope: SubmissionEnvelope, caller: Caller, exc: AppError
) -> None:
    """Audit a resend's files refused (after the refused request's changes rolled back)."""
    audit.record(
        session,
        caller.user,
        "submission.files_refused",
        target_type="submission",
        target=envelope.instance_id,
        details={
            "code": exc.code,
            "form_id": envelope.form_id,
            "device_key": _text(caller.device_key, 255),
            "files": exc.details.get("files", []),
        },
    )


def _store(
    session: Session,
    xml: bytes,
    envelope: SubmissionEnvelope,
    files: list[IncomingFile],
    caller: Caller,
    received_at: datetime | None,
) -> tuple[Receipt, FormDefinition]:
    xform = get_xform(session, envelope.form_id)
    if xform is None:
        raise AppError("xform.not_found", details={"form_id": envelope.form_id})
    if xform.state == FormState.CLOSED:
        raise AppError("xform.closed", details={"form_id": envelope.form_id})
    version = get_version(session, xform, envelope.version)
    if version is None:
        raise AppError(
            "xform.version_not_found",
            details={"form_id": envelope.form_id, "version": envelope.version},
        )
    definition = FormDefinition.from_json(version.definition)
    xml_sha = hashlib.sha256(xml).hexdigest()

    existing = get_by_instance_id_for_update(session, envelope.instance_id)
    if existing is not None:
        if existing.xml_sha256 != xml_sha:
            raise AppError("submission.xml_conflict", details={"instanceID": envelope.instance_id})
        # An identical resend, or the next POST of a split submission: add its files.
        _add_missing_files(session, existing, files, caller)
        return Receipt(existing, "attachments_added", _missing(existing)), definition

    previous: Submission | None = None
    if envelope.deprecated_id:
        previous = get_by_instance_id_for_update(session, envelope.deprecated_id)
        if previous is None:
            raise AppError(
                "submission.deprecated_not_found", details={"deprecatedID": envelope.deprecated_id}
            )
        if previous.xform_id != xform.id:
            # An edit replaces a record of its own form: like ODK Central, which looks the
            # deprecatedID up within the form, another form's record is not found here.
            raise AppError(
                "submission.deprecated_not_found",
                "The submission this edit replaces is not a submission of this form.",
                details={"deprecatedID": envelope.deprecated_id},
            )
        if not previous.is_current:
            raise AppError(
                "submission.deprecating_old", details={"deprecatedID": envelope.deprecated_id}
            )
        if not _may_edit(session, caller.user, previous):
            raise AppError(
                "submission.edit_forbidden", details={"deprecatedID": envelope.deprecated_id}
            )

    submission = _new_submission(xml, xml_sha, envelope, xform, version, caller, previous)
    submission.received_at = received_at or submission.received_at
    session.add(submission)
    session.flush()
    expected = _expected_files(envelope, definition)
    for name in expected:
        submission.attachments.append(SubmissionAttachment(name=name))
    session.flush()
    if previous is not None:
        previous.is_current = False
        _carry_over_files(session, previous, submission)
    _add_files(session, submission, files)
    outcome: Outcome = "edited" if previous is not None else "created"
    return Receipt(submission, outcome, _missing(submission)), definition


def _may_edit(session: Session, user: User, previous: Submission) -> bool:
    """Who may replace a submission: the sender of it or of the record's first version, or
    whoever may act on the sender's submissions (the sender's supervisors, admins)."""
    if user.id == previous.submitter_id:
        return True
    if previous.root_instance_id != previous.instance_id:
        first = get_by_instance_id(session, previous.root_instance_id)
        if first is not None and first.submitter_id == user.id:
            return True
    return previous.id in get_visible_submission_ids(session, user, {previous.id})


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
        instance_name=_text(envelope.instance_name, 500),
        data={} if envelope.is_encrypted else envelope.data,
        is_encrypted=envelope.is_encrypted,
        submitter_id=caller.user.id,
        device_id=caller.device.id if caller.device else None,
        device_key=_text(caller.device_key, 255),
        user_agent=_text(caller.user_agent, 500),
        received_at=utcnow(),
        processing_state=ProcessingState.SKIPPED
        if envelope.is_encrypted
        else ProcessingState.PENDING,
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
        row.content_type = _content_type(incoming.content_type)
        row.received_at = utcnow()
    session.flush()


# Refused files listed in an error and its audit entry, at most.
_LISTED_FILES = 20


def _add_missing_files(
    session: Session, submission: Submission, files: list[IncomingFile], caller: Caller
) -> None:
    """What a resend (or the next POST of a split submission, which repeats the XML) may
    add: the files still missing, sent by the sender or by someone who may edit the
    sender's submissions (:func:`_may_edit`). Missing: named by the stored XML and not
    received yet, or (as Collect sends every file of the instance's folder, split over the
    POSTs) not stored at all under that name. A file identical to the stored one changes
    nothing. A stored file is never replaced: another content under a stored name, or any
    file from someone else, refuses the whole request and changes nothing."""
    by_name = {a.name: a for a in submission.attachments}
    adding: list[tuple[SubmissionAttachment | None, IncomingFile]] = []
    refused: list[IncomingFile] = []
    for incoming in files:
        row = by_name.get(incoming.name)
        if row is None or row.blob_sha256 is None:
            adding.append((row, incoming))
        elif row.blob_sha256 != hashlib.sha256(incoming.content).hexdigest():
            refused.append(incoming)
    if not adding and not refused:
        return

    def details(listed: list[IncomingFile]) -> dict[str, Any]:
        return {
            "instanceID": submission.instance_id,
            "files": [
                {
                    "name": f.name,
                    "size": len(f.content),
                    "sha256": hashlib.sha256(f.content).hexdigest(),
                    "stored": f.name in by_name,
                }
                for f in listed[:_LISTED_FILES]
            ],
        }

    if not _may_edit(session, caller.user, submission):
        changes = refused + [f for _, f in adding]
        raise AppError("submission.attachment_forbidden", details=details(changes))
    if refused:
        names = ", ".join(f.name for f in refused[:_LISTED_FILES])
        raise AppError(
            "submission.attachment_conflict",
            "This form is already on the server with other files of these names; sending "
            f"it again cannot replace them: {names}.",
            details=details(refused),
        )
    for row, incoming in adding:
        if row is None:
            row = SubmissionAttachment(name=incoming.name)
            submission.attachments.append(row)
        row.blob_sha256 = blobs.store(session, incoming.content)
        row.size = len(incoming.content)
        row.content_type = _content_type(incoming.content_type)
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
