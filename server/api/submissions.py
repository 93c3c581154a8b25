"""/api/v1/forms/<form_id>/submissions: what arrived, for admins and supervisors.

Who sees what is decided in ``downloads.service`` with the form exports' rules: a
supervisor reads the submissions of their team, and answers marked sensitive (with the
raw XML and the files that hold them) go to admins only. Every read is in the audit log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Response, jsonify, request

from server import db
from server.api.args import caller, use_schema
from server.api.bp import bp
from server.auth.models import Device, User
from server.auth.permissions import requires
from server.disposition import set_attachment
from server.downloads import service
from server.submissions.models import Submission
from server.submissions.schemas import (
    SubmissionDetailSchema,
    SubmissionListArgs,
    SubmissionSummarySchema,
)
from server.xforms.models import XFormVersion


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


@bp.get("/forms/<form_id>/submissions")
@requires("submission.read")
@use_schema(SubmissionListArgs)
def list_submissions(
    form_id: str,
    page: int,
    per_page: int,
    since: datetime | None,
    until: datetime | None,
    submitter: str | None,
) -> Response:
    result = service.list_submissions(
        db.session(),
        caller(),
        form_id,
        page=page,
        per_page=per_page,
        since=since,
        until=until,
        submitter=submitter,
        ip=request.remote_addr,
    )
    return jsonify(
        {
            "total": result.total,
            "page": page,
            "per_page": per_page,
            "items": SubmissionSummarySchema(many=True).dump([_summary(s) for s in result.items]),
        }
    )


@bp.get("/forms/<form_id>/submissions/<instance_id>")
@requires("submission.read")
def get_submission(form_id: str, instance_id: str) -> Response:
    if instance_id.endswith(".xml"):
        return get_submission_xml(form_id, instance_id.removesuffix(".xml"))
    read = service.read_submission(
        db.session(), caller(), form_id, instance_id, ip=request.remote_addr
    )
    submission = read.submission
    detail = _summary(submission) | {
        "root_instance_id": submission.root_instance_id,
        "deprecated_id": submission.deprecated_id,
        "is_current": submission.is_current,
        "processing_error": submission.processing_error,
        "device_key": submission.device_key,
        "attachments": read.attachments,
        "edits": read.edits,
        "data": read.data,
        "includes_sensitive": read.include_sensitive,
    }
    return jsonify(SubmissionDetailSchema().dump(detail))


def get_submission_xml(form_id: str, instance_id: str) -> Response:
    xml = service.read_submission_xml(
        db.session(), caller(), form_id, instance_id, ip=request.remote_addr
    )
    # A phone wrote this XML: a browser gets it as a file to save, never as a document to
    # render on this origin (server.security sandboxes it as well).
    response = Response(xml, content_type="application/xml")
    set_attachment(response.headers, f"{instance_id}.xml")
    return response


@bp.get("/forms/<form_id>/submissions/<instance_id>/attachments/<name>")
@requires("submission.read")
def get_submission_attachment(form_id: str, instance_id: str, name: str) -> Response:
    content = service.read_attachment(
        db.session(), caller(), form_id, instance_id, name, ip=request.remote_addr
    )
    return Response(
        content,
        content_type="application/octet-stream",
        headers={"Content-Disposition": "attachment"},
    )
