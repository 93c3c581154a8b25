"""What leaves the server as form data: exports and submissions read through the API,
each checked (role, scope, sensitive fields), recorded in the audit log, then sent.

The export runs in a thread writing into a pipe, with its own database session, so the
first bytes leave at once and memory stays flat whatever the size.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from exports import (
    FORMATS,
    ExportOptionError,
    ExportOptions,
    check_case_language,
    export_cases,
    export_form,
)
from exports.tables import sensitive_paths, without_sensitive
from server import sensitivity
from server.audit import service as audit
from server.audit.models import AuditEvent
from server.auth.models import User
from server.auth.permissions import may, require
from server.blobs.queries import get_blob
from server.errors import AppError
from server.submissions import queries as submissions
from server.submissions import scope as submission_scope
from server.submissions.models import Submission, SubmissionAttachment
from server.submissions.parse import DataNode
from server.xforms.definition import FormDefinition
from server.xforms.queries import get_xform, list_versions

log = logging.getLogger(__name__)

# Who may export or read submissions: ``export.form``, ``export.cases`` and
# ``submission.read`` in ``server.auth.permissions``. A supervisor's form export holds only
# the submissions of their team (and their own); they read submissions in the same scope.
CHUNK = 256 * 1024


@dataclass(frozen=True)
class ExportRequest:
    kind: str  # "form" | "cases"
    fmt: str
    options: ExportOptions
    form_id: str | None = None

    @property
    def filename(self) -> str:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
        base = re.sub(r"[^A-Za-z0-9_.-]", "_", self.form_id or "cases")
        return f"{base}-{stamp}.{FORMATS[self.fmt].extension}"

    @property
    def content_type(self) -> str:
        return FORMATS[self.fmt].content_type


def may_read_sensitive(actor: User) -> bool:
    """Answers to questions marked ``casework:sensitive``: read by whoever may see the
    submission (``server.sensitivity``, the one rule); the caller has checked the scope."""
    return sensitivity.may_read(actor.role, sensitivity.Use.VIEW)


def _check_role(actor: User, args: dict[str, Any], action: str = "export.cases") -> str | None:
    """The recorded reason for sensitive fields (None without them); refuses the export
    when the role may not make it, or may not have sensitive fields, or gave no reason."""
    require(actor, action)
    return sensitivity.check_export(
        actor.role, args.get("include_sensitive", False), args.get("reason")
    )


def _described(fmt: str, options: ExportOptions, reason: str | None) -> dict[str, Any]:
    return {"format": fmt, **options.describe(), **({"reason": reason} if reason else {})}


def last_export_at(session: Session, actor: User, form_id: str) -> datetime | None:
    return session.scalar(
        select(AuditEvent.at)
        .where(
            AuditEvent.action == "export.form",
            AuditEvent.actor_id == actor.id,
            AuditEvent.target == form_id,
        )
        .order_by(AuditEvent.at.desc())
        .limit(1)
    )


def prepare_form_export(
    session: Session, actor: User, form_id: str, args: dict[str, Any], ip: str | None = None
) -> ExportRequest:
    """Check and record a form export; ``args`` as loaded by FormExportArgs."""
    reason = _check_role(actor, args, "export.form")
    if get_xform(session, form_id) is None:
        raise AppError("xform.not_found")
    received_from = args.get("received_from")
    if args.get("since_last_export"):
        received_from = last_export_at(session, actor, form_id) or received_from
    submitter_ids = submission_scope.get_scope_submitter_ids(session, actor)
    try:
        options = ExportOptions(
            labels=args.get("labels", False),
            language=args.get("language"),
            group_paths=args.get("group_paths", True),
            split_select_multiple=args.get("split_select_multiple", False),
            include_sensitive=args.get("include_sensitive", False),
            received_from=received_from,
            received_before=args.get("received_before"),
            submitter_ids=submitter_ids,
        )
    except ExportOptionError as exc:
        raise AppError("export.bad_option", str(exc)) from exc
    request = ExportRequest("form", args.get("format", "csv"), options, form_id)
    audit.record(
        session,
        actor,
        "export.form",
        target_type="form",
        target=form_id,
        details=_described(request.fmt, options, reason),
        ip=ip,
    )
    return request


def prepare_case_export(
    session: Session, actor: User, args: dict[str, Any], ip: str | None = None
) -> ExportRequest:
    reason = _check_role(actor, args)
    try:
        options = ExportOptions(
            include_sensitive=args.get("include_sensitive", False),
            labels=args.get("labels", False),
            language=args.get("language"),
        )
        if options.labels and options.language:
            check_case_language(session, options.language)
    except ExportOptionError as exc:
        raise AppError("export.bad_option", str(exc)) from exc
    request = ExportRequest("cases", args.get("format", "csv"), options)
    audit.record(
        session,
        actor,
        "export.cases",
        target_type="cases",
        target="all" if may(actor, "case.read_all") else f"team:{actor.team}",
        details=_described(request.fmt, options, reason),
        ip=ip,
    )
    return request


def run_export(
    session: Session, request: ExportRequest, fh: Any, scope_user: User | None, progress: Any = None
) -> Any:
    if request.kind == "form":
        if request.form_id is None:
            raise ValueError("a form export request without its form")
        return export_form(session, request.form_id, request.fmt, fh, request.options, progress)
    return export_cases(session, request.fmt, fh, request.options, scope_user, progress)


def stream(engine: Engine, request: ExportRequest, actor: User) -> Iterator[bytes]:
    """Yield the export's bytes as they are written (a thread fills a pipe)."""
    read_fd, write_fd = os.pipe()
    scope = None if may(actor, "case.read_all") else actor
    failure: list[BaseException] = []

    def produce() -> None:
        factory = sessionmaker(bind=engine, expire_on_commit=False)
        try:
            with os.fdopen(write_fd, "wb", buffering=CHUNK) as out, factory() as session:
                run_export(session, request, out, scope)
        except BrokenPipeError:
            log.info("export download abandoned by the client")
        except BaseException as exc:  # reported after the stream ends
            log.exception("export failed")
            failure.append(exc)

    worker = threading.Thread(target=produce, name="export", daemon=True)
    worker.start()
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        while chunk := pipe.read(CHUNK):
            yield chunk
    worker.join()
    if failure:
        raise RuntimeError("the export stopped before the end") from failure[0]


# --- submissions through the API -----------------------------------------------------------
#
# The same rules as a form export: a reader sees the submissions of the scope
# (``submissions.scope.scope_submitters``); answers to sensitive questions, the raw XML
# that holds them and the files that answer them follow ``server.sensitivity``.


@dataclass(frozen=True)
class SubmissionPage:
    total: int
    items: list[Submission]


@dataclass(frozen=True)
class SubmissionRead:
    """One submission as its reader may see it."""

    submission: Submission
    data: DataNode
    attachments: list[SubmissionAttachment]
    edits: list[Submission]
    include_sensitive: bool


def _check_reader(actor: User) -> None:
    require(actor, "submission.read")


@dataclass(frozen=True)
class _Readable:
    submission: Submission
    sensitive_paths: frozenset[str]  # of the form, over all its versions


def _readable(session: Session, actor: User, form_id: str, instance_id: str) -> _Readable:
    """The submission, if it belongs to the form and the actor's scope; a submission out
    of scope is as unknown as one that does not exist."""
    _check_reader(actor)
    xform = get_xform(session, form_id)
    found = submission_scope.get_visible_by_instance_id(session, actor, instance_id)
    if xform is None or found is None or found.xform_id != xform.id:
        raise AppError("submission.not_found")
    definitions = [FormDefinition.from_json(v.definition) for v in list_versions(session, xform)]
    return _Readable(found, sensitive_paths(definitions))


def list_submissions(
    session: Session,
    actor: User,
    form_id: str,
    *,
    page: int,
    per_page: int,
    since: datetime | None = None,
    until: datetime | None = None,
    submitter: str | None = None,
    ip: str | None = None,
) -> SubmissionPage:
    """A page of the form's current submissions in the actor's scope, newest first."""
    _check_reader(actor)
    xform = get_xform(session, form_id)
    if xform is None:
        raise AppError("xform.not_found")
    query = submissions.list_for_form(
        xform.id, actor, since=since, until=until, submitter=submitter
    )
    total = submissions.count(session, query)
    rows = list(session.scalars(query.limit(per_page).offset((page - 1) * per_page)))
    filters = {"since": since, "until": until, "submitter": submitter}
    audit.record(
        session,
        actor,
        "submission.list",
        target_type="form",
        target=form_id,
        details={
            **{k: v.isoformat() if isinstance(v, datetime) else v for k, v in filters.items() if v},
            "page": page,
            "count": len(rows),
        },
        ip=ip,
    )
    return SubmissionPage(total, rows)


def read_submission(
    session: Session, actor: User, form_id: str, instance_id: str, ip: str | None = None
) -> SubmissionRead:
    """The submission's answers and files, sensitive ones as ``server.sensitivity`` decides.
    Recorded in the audit log, with the sensitive answers the reader got."""
    readable = _readable(session, actor, form_id, instance_id)
    submission, paths = readable.submission, readable.sensitive_paths
    attachments = submissions.attachments_for(session, submission.id)
    answers = sensitivity.answers_for(submission.data, paths, may_read_sensitive(actor))
    if not answers.include_sensitive:
        attachments = [
            a
            for a in attachments
            if not _is_sensitive_file(submission, a, paths, set(answers.hidden_values))
        ]
    details: dict[str, Any] = {"form_id": form_id, "include_sensitive": answers.include_sensitive}
    if answers.read:
        details["sensitive"] = list(answers.read)
    audit.record(
        session,
        actor,
        "submission.view",
        target_type="submission",
        target=instance_id,
        details=details,
        ip=ip,
    )
    return SubmissionRead(
        submission=submission,
        data=answers.data,
        attachments=attachments,
        edits=submissions.edit_history(session, submission.root_instance_id, actor),
        include_sensitive=answers.include_sensitive,
    )


def read_submission_xml(
    session: Session, actor: User, form_id: str, instance_id: str, ip: str | None = None
) -> bytes:
    """The submission exactly as it arrived. It holds every answer, so only someone who may
    read its sensitive answers gets it when the form has questions marked sensitive."""
    readable = _readable(session, actor, form_id, instance_id)
    if not may_read_sensitive(actor) and readable.sensitive_paths:
        raise AppError(
            "auth.forbidden",
            "The form data holds answers marked sensitive; your role cannot read it whole.",
        )
    audit.record(
        session,
        actor,
        "submission.view_xml",
        target_type="submission",
        target=instance_id,
        details={"form_id": form_id, "include_sensitive": may_read_sensitive(actor)},
        ip=ip,
    )
    return readable.submission.xml


def read_attachment(
    session: Session,
    actor: User,
    form_id: str,
    instance_id: str,
    name: str,
    ip: str | None = None,
) -> bytes:
    """One file of the submission; a file answering a sensitive question goes only to
    someone who may read sensitive answers."""
    readable = _readable(session, actor, form_id, instance_id)
    submission, paths = readable.submission, readable.sensitive_paths
    row = next(
        (a for a in submissions.attachments_for(session, submission.id) if a.name == name), None
    )
    blob = get_blob(session, row.blob_sha256) if row and row.blob_sha256 else None
    if row is None or blob is None:
        raise AppError("request.not_found", "This attachment has not been received.")
    if not may_read_sensitive(actor):
        _, hidden = without_sensitive(submission.data, paths)
        if _is_sensitive_file(submission, row, paths, hidden):
            raise AppError(
                "auth.forbidden",
                "This file answers a question marked sensitive; your role cannot read it.",
            )
    audit.record(
        session,
        actor,
        "submission.attachment",
        target_type="submission",
        target=instance_id,
        details={"form_id": form_id, "name": name},
        ip=ip,
    )
    return blob.content


def _is_sensitive_file(
    submission: Submission,
    attachment: SubmissionAttachment,
    paths: frozenset[str],
    hidden_values: set[str],
) -> bool:
    """A file named by a sensitive answer; every file of an encrypted submission of a form
    with sensitive questions (each holds answers the server cannot tell apart)."""
    if submission.is_encrypted and paths:
        return True
    return attachment.name in hidden_values
