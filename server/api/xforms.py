"""/api/v1/forms: publish and inspect forms."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify, request

from server import db
from server.api.args import caller, use_schema
from server.api.bp import bp
from server.auth.permissions import requires
from server.errors import AppError
from server.xforms import queries, service
from server.xforms.schemas import FormSchema, FormStateArgs, ProblemSchema


def _form_json(xform: Any, counts: dict[int, int], by_version: dict[int, int]) -> dict[str, Any]:
    data: dict[str, Any] = FormSchema().dump(xform)
    data["submissions"] = counts.get(xform.id, 0)
    for dumped, version in zip(data["versions"], xform.versions, strict=True):
        dumped["submissions"] = by_version.get(version.id, 0)
    return data


@bp.get("/forms")
@requires("form.read")
def list_forms() -> Response:
    session = db.session()
    counts = queries.submission_counts(session)
    forms = session.scalars(queries.list_xforms()).all()
    return jsonify(
        [_form_json(x, counts, queries.submission_counts_by_version(session, x)) for x in forms]
    )


@bp.get("/forms/<form_id>")
@requires("form.read")
def get_form(form_id: str) -> Response:
    session = db.session()
    xform = queries.get_xform(session, form_id)
    if xform is None:
        raise AppError("xform.not_found")
    by_version = queries.submission_counts_by_version(session, xform)
    # (the form's own count is its versions', not a count of every form's submissions)
    return jsonify(_form_json(xform, {xform.id: sum(by_version.values())}, by_version))


@bp.post("/forms")
@requires("form.publish")
def publish_form() -> tuple[Response, int]:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise AppError("request.invalid", "Attach the XLSForm as the multipart field 'file'.")
    content = upload.read(current_app.config["MAX_FORM_UPLOAD_BYTES"] + 1)
    if len(content) > current_app.config["MAX_FORM_UPLOAD_BYTES"]:
        raise AppError("request.too_large")
    media = {
        part.filename or name: part.read()
        for name, part in request.files.items(multi=True)
        if name == "media"
    }
    result = service.publish(
        db.session(),
        content,
        upload.filename,
        media=media,
        validate=current_app.config["ODK_VALIDATE"],
        actor=caller(),
    )
    body = {
        "form_id": result.version.xform.form_id,
        "version": result.version.version,
        "is_new": result.is_new,
        "warnings": ProblemSchema(many=True).dump([w.to_json() for w in result.warnings]),
        "missing_media": list(result.missing_media),
    }
    return jsonify(body), 201 if result.is_new else 200


@bp.post("/forms/<form_id>/state")
@requires("form.publish")
@use_schema(FormStateArgs, location="json")
def set_form_state(form_id: str, state: str) -> Response:
    xform = service.set_state(db.session(), form_id, state, caller())
    return jsonify({"form_id": xform.form_id, "state": xform.state})
