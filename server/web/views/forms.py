"""Forms: upload an XLSForm, preview its problems, publish, manage versions and state."""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from server import db
from server.auth.permissions import requires
from server.blobs.queries import get_blob
from server.bounds import MAX_ID
from server.disposition import set_attachment
from server.errors import AppError
from server.web import uploads
from server.web.access import me
from server.web.bp import bp
from server.web.errors import flash_error
from server.xforms import queries, service
from server.xforms.models import FORM_STATES, XForm, XFormVersion


def _xform_or_404(form_id: str) -> XForm:
    xform = queries.get_xform(db.session(), form_id)
    if xform is None:
        raise AppError("xform.not_found")
    return xform


def _version_or_404(xform: XForm, version_id: int) -> XFormVersion:
    version = queries.get_version_by_id(db.session(), version_id)
    if version is None or version.xform_id != xform.id:
        abort(404)
    return version


def _read_upload(field: str) -> tuple[str, bytes]:
    upload = request.files.get(field)
    if upload is None or not upload.filename:
        raise AppError("request.invalid", _("Choose a file to upload."))
    limit = int(current_app.config["MAX_FORM_UPLOAD_BYTES"])
    content = upload.read(limit + 1)
    if len(content) > limit:
        raise AppError("request.too_large")
    return upload.filename, content


@bp.get("/forms")
@requires("form.read")
def form_list() -> str:
    session = db.session()
    forms = session.scalars(queries.list_xforms()).all()
    return render_template(
        "web/forms/list.html", forms=forms, counts=queries.submission_counts(session)
    )


@bp.post("/forms/preview")
@requires("form.publish")
def form_preview() -> str | tuple[str, int]:
    """Convert and check the upload without publishing; keep its bytes for the publish."""
    try:
        raw_name, content = _read_upload("file")
        filename = service.safe_filename(raw_name)
    except AppError as error:
        return _preview_failed(error, "")
    try:
        preview = service.build(content, filename, validate=current_app.config["ODK_VALIDATE"])
    except AppError as error:
        return _preview_failed(error, filename)
    upload_id = uploads.stage(current_app.config["DATA_DIR"], filename, content, me().id)
    existing = queries.get_xform(db.session(), preview.definition.form_id)
    published = (
        queries.get_version(db.session(), existing, preview.definition.version)
        if existing is not None
        else None
    )
    return render_template(
        "web/forms/preview.html",
        preview=preview,
        problems=[w.to_json() for w in preview.warnings],
        filename=filename,
        upload_id=upload_id,
        existing=existing,
        published=published,
    )


def _preview_failed(error: AppError, filename: str) -> tuple[str, int]:
    problems: list[dict[str, Any]] = [
        p for p in error.details.get("problems", []) if isinstance(p, dict)
    ]
    page = render_template(
        "web/forms/preview.html",
        preview=None,
        problems=problems,
        filename=filename,
        error=_(error.text),
    )
    return page, error.http_status


@bp.post("/forms/publish")
@requires("form.publish")
def form_publish() -> Response:
    data_dir = current_app.config["DATA_DIR"]
    upload_id = request.form.get("upload_id", "")
    try:
        staged = uploads.load(data_dir, upload_id, me().id)
        result = service.publish(
            db.session(),
            staged.content,
            staged.filename,
            validate=current_app.config["ODK_VALIDATE"],
            actor=me(),
        )
    except AppError as error:
        flash_error(error)
        return redirect(url_for("web.form_list"))
    uploads.discard(data_dir, upload_id)
    version = result.version
    if result.is_new:
        flash(
            _(
                "Published %(form)s version %(version)s.",
                form=version.xform.form_id,
                version=version.version,
            ),
            "success",
        )
    else:
        flash(_("This version was already published; nothing changed."), "info")
    if result.missing_media:
        flash(
            _(
                "Upload these media files on the form page: %(names)s",
                names=", ".join(result.missing_media),
            ),
            "error",
        )
    return redirect(url_for("web.form_detail", form_id=version.xform.form_id))


@bp.get("/forms/<form_id>")
@requires("form.read")
def form_detail(form_id: str) -> str:
    session = db.session()
    xform = _xform_or_404(form_id)
    return render_template(
        "web/forms/detail.html",
        xform=xform,
        versions=list(reversed(queries.list_versions(session, xform))),
        counts=queries.submission_counts_by_version(session, xform),
        states=FORM_STATES,
    )


@bp.post("/forms/<form_id>/state")
@requires("form.publish")
def form_state(form_id: str) -> Response:
    try:
        service.set_state(db.session(), form_id, request.form.get("state", ""), me())
        flash(_("The form is now %(state)s.", state=_(request.form.get("state", ""))), "success")
    except AppError as error:
        flash_error(error)
    return redirect(url_for("web.form_detail", form_id=form_id))


@bp.post("/forms/<form_id>/attachments")
@requires("form.publish")
def form_attachment(form_id: str) -> Response:
    try:
        xform = _xform_or_404(form_id)
        name, content = _read_upload("file")
        attachment = service.upload_attachment(db.session(), xform, name, content, me())
        flash(_("Uploaded %(name)s.", name=attachment.name), "success")
    except AppError as error:
        flash_error(error)
    return redirect(url_for("web.form_detail", form_id=form_id))


@bp.get(f"/forms/<form_id>/versions/<int(max={MAX_ID}):version_id>/xlsform")
@requires("form.read")
def form_download_xlsform(form_id: str, version_id: int) -> Response:
    version = _version_or_404(_xform_or_404(form_id), version_id)
    blob = get_blob(db.session(), version.source_sha256) if version.source_sha256 else None
    if blob is None:
        abort(404)
    return _download(
        blob.content,
        version.source_filename or f"{form_id}.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


@bp.get(f"/forms/<form_id>/versions/<int(max={MAX_ID}):version_id>/xform")
@requires("form.read")
def form_download_xform(form_id: str, version_id: int) -> Response:
    version = _version_or_404(_xform_or_404(form_id), version_id)
    name = f"{form_id}-{version.version}.xml"
    return _download(version.xml.encode("utf-8"), name, "application/xml")


def _download(content: bytes, filename: str, mimetype: str) -> Response:
    response = Response(content, mimetype=mimetype)
    safe = service.safe_filename(filename)
    set_attachment(response.headers, safe)
    return response
