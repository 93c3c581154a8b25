"""Exports: pick a form or the cases, a format and options; download the file."""

from __future__ import annotations

from datetime import UTC, datetime, time

from flask import Response, abort, redirect, render_template, request, stream_with_context, url_for
from marshmallow import ValidationError
from werkzeug.wrappers import Response as WerkzeugResponse

import exports
from server import db
from server.auth.permissions import may, requires
from server.downloads import service as downloads
from server.downloads.schemas import CaseExportArgs, FormExportArgs
from server.errors import AppError
from server.web.access import me
from server.web.bp import bp
from server.web.errors import flash_error
from server.xforms import queries as xform_queries


@bp.get("/exports")
@requires("export.cases")
def export_page() -> str:
    session = db.session()
    forms = session.scalars(xform_queries.list_xforms()).all()
    # the label languages the forms in use offer, as they name them ("French (fr)")
    languages = sorted(
        {
            str(language)
            for _form, version in xform_queries.list_downloadable(session)
            for language in (version.definition or {}).get("languages", ())
        }
    )
    return render_template(
        "web/exports.html",
        languages=languages,
        # who may export what is decided in downloads.service; this hides what would be refused
        forms=forms if may(me(), "export.form") else [],
        form_formats=[exports.FORMATS[name] for name in exports.FORM_FORMATS],
        case_formats=[exports.FORMATS[name] for name in exports.CASE_FORMATS],
    )


def _day(name: str) -> str | None:
    value = request.form.get(name, "").strip()
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError as exc:
        raise ValidationError({name: ["Use a date like 2024-05-31."]}) from exc
    return datetime.combine(day, time(), UTC).isoformat()


def _form_args() -> dict[str, str]:
    form = request.form
    args = {
        key: form[key]
        for key in (
            "format",
            "language",
            "labels",
            "group_paths",
            "split_select_multiple",
            "include_sensitive",
            "reason",
            "since_last_export",
        )
        if form.get(key)
    }
    for name in ("received_from", "received_before"):
        value = _day(name)
        if value:
            args[name] = value
    return args


@bp.post("/exports")
@requires("export.cases")
def export_download() -> Response | WerkzeugResponse:
    kind = request.form.get("kind", "")
    if kind not in ("form", "cases"):
        abort(400)
    session = db.session()
    try:
        if kind == "form":
            export = downloads.prepare_form_export(
                session,
                me(),
                request.form.get("form_id", ""),
                FormExportArgs().load(_form_args()),
                request.remote_addr,
            )
        else:
            export = downloads.prepare_case_export(
                session, me(), CaseExportArgs().load(_form_args()), request.remote_addr
            )
    except ValidationError as error:
        flash_error(AppError("export.bad_option", _first_message(error.messages)))
        return redirect(url_for("web.export_page"))
    except AppError as error:
        if error.http_status == 403:
            abort(403)
        flash_error(error)
        return redirect(url_for("web.export_page"))
    # The audit record is committed before the first byte leaves.
    session.commit()
    body = downloads.stream(db.get_database_engine(), export, me())
    return Response(
        stream_with_context(body),
        content_type=export.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{export.filename}"',
            "Cache-Control": "no-store",
        },
    )


def _first_message(messages: object) -> str:
    if isinstance(messages, dict):
        for key, value in messages.items():
            return f"{key}: {_first_message(value)}"
    if isinstance(messages, list) and messages:
        return _first_message(messages[0])
    return str(messages)
