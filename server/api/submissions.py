"""/api/v1/forms/<form_id>/submissions: what arrived, for admins and supervisors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Response, jsonify, request

from server import db
from server.api import bp
from server.api.args import caller, require_roles, use_schema
from server.audit import service as audit
from server.auth.models import Device, User
from server.blobs.queries import get_blob
from server.errors import AppError
from server.submissions import queries
from server.submissions.models import Submission
from server.submissions.schemas import (
    SubmissionDetailSchema,
    SubmissionListArgs,
    SubmissionSummarySchema,
)
from server.xforms import queries as xforms
from server.xforms.models import XFormVersion

READERS = ("admin", "supervisor")


def _summary(submission: Submission) -> dict[str, Any]:
    session = db.session()
    version = session.get(XFormVersion, submission.xform_version_id)
    submitter = session.get(User, submission.submitter_id) if submission.submitter_id else None
    device = session.get(Device, submission.device_id) if submission.device_id else None
    return {
        "instance_id": submission.instance_id,
        "instance_name": submission.instance_name,
        "version": version.version if version else "",
        "submitter": submitter.username if submitter else None,
        "device": device.label if device else None,
        "received_at": submission.received_at,
        "review_state": submission.review_state,
        "processing_state": submission.processing_state,
        "is_encrypted": submission.is_encrypted,
    }


def _submission(form_id: str, instance_id: str) -> Submission:
    session = db.session()
    xform = xforms.get_xform(session, form_id)
    submission = queries.get_by_instance_id(session, instance_id)
    if xform is None or submission is None or submission.xform_id != xform.id:
        raise AppError("submission.not_found")
    return submission


@bp.get("/forms/<form_id>/submissions")
@require_roles(*READERS)
@use_schema(SubmissionListArgs)
def list_submissions(
    form_id: str,
    page: int,
    per_page: int,
    since: datetime | None,
    until: datetime | None,
    submitter: str | None,
) -> Response:
    session = db.session()
    xform = xforms.get_xform(session, form_id)
    if xform is None:
        raise AppError("xform.not_found")
    query = queries.list_for_form(xform.id, since=since, until=until, submitter=submitter)
    total = queries.count(session, query)
    rows = session.scalars(query.limit(per_page).offset((page - 1) * per_page)).all()
    return jsonify(
        {
            "total": total,
            "page": page,
            "per_page": per_page,
            "items": SubmissionSummarySchema(many=True).dump([_summary(s) for s in rows]),
        }
    )


@bp.get("/forms/<form_id>/submissions/<instance_id>")
@require_roles(*READERS)
def get_submission(form_id: str, instance_id: str) -> Response:
    if instance_id.endswith(".xml"):
        return get_submission_xml(form_id, instance_id.removesuffix(".xml"))
    submission = _submission(form_id, instance_id)
    session = db.session()
    detail = _summary(submission) | {
        "root_instance_id": submission.root_instance_id,
        "deprecated_id": submission.deprecated_id,
        "is_current": submission.is_current,
        "processing_error": submission.processing_error,
        "device_key": submission.device_key,
        "attachments": queries.attachments_for(session, submission.id),
        "edits": queries.edit_history(session, submission.root_instance_id),
        "data": submission.data,
    }
    audit.record(
        session,
        caller(),
        "submission.view",
        target_type="submission",
        target=instance_id,
        ip=request.remote_addr,
    )
    return jsonify(SubmissionDetailSchema().dump(detail))


def get_submission_xml(form_id: str, instance_id: str) -> Response:
    submission = _submission(form_id, instance_id)
    audit.record(
        db.session(),
        caller(),
        "submission.view_xml",
        target_type="submission",
        target=instance_id,
        ip=request.remote_addr,
    )
    return Response(submission.xml, content_type="application/xml")


@bp.get("/forms/<form_id>/submissions/<instance_id>/attachments/<name>")
@require_roles(*READERS)
def get_submission_attachment(form_id: str, instance_id: str, name: str) -> Response:
    submission = _submission(form_id, instance_id)
    session = db.session()
    row = next((a for a in submission.attachments if a.name == name), None)
    blob = get_blob(session, row.blob_sha256) if row and row.blob_sha256 else None
    if blob is None:
        raise AppError("request.not_found", "This attachment has not been received.")
    audit.record(
        session,
        caller(),
        "submission.attachment",
        target_type="submission",
        target=instance_id,
        details={"name": name},
        ip=request.remote_addr,
    )
    return Response(
        blob.content,
        content_type="application/octet-stream",
        headers={"Content-Disposition": "attachment"},
    )
