"""Exports: pick a form or the cases, a format and options; download the file."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, time

from flask import abort, current_app, redirect, render_template, request, send_file, url_for
from werkzeug.wrappers import Response

import exports
from server import db
from server.audit import service as audit
from server.errors import AppError
from server.web import bp
from server.web.access import ADMINS, SUPERVISORS, me, roles_required
from server.web.errors import flash_error
from server.xforms import queries as xform_queries

SUFFIX = {"csv": ".zip", "xlsx": ".xlsx", "media": "-media.zip", "geojson": ".geojson"}
MIMETYPE = {
    "csv": "application/zip",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "media": "application/zip",
    "geojson": "application/geo+json",
}
# Form exports carry every team's submissions, so they stay with admins; case exports are
# limited to the cases the person may see.
FORM_EXPORTERS = ADMINS
# Exports are spooled to disk past this size rather than held in memory.
SPOOL_BYTES = 8 * 1024 * 1024


@bp.get("/exports")
@roles_required(*SUPERVISORS)
def export_page() -> str:
    forms = db.session().scalars(xform_queries.list_xforms()).all()
    return render_template(
        "web/exports.html",
        forms=forms if me().role in FORM_EXPORTERS else [],
        form_formats=exports.FORM_FORMATS,
        case_formats=exports.CASE_FORMATS,
    )


def _day(name: str) -> datetime | None:
    value = request.form.get(name, "").strip()
    if not value:
        return None
    try:
        return datetime.combine(datetime.strptime(value, "%Y-%m-%d").date(), time(), UTC)
    except ValueError as exc:
        raise exports.ExportOptionError(f"{name}: use a date like 2024-05-31") from exc


def _options() -> exports.ExportOptions:
    form = request.form
    return exports.ExportOptions(
        labels=form.get("labels") == "yes",
        language=form.get("language", "").strip() or None,
        group_paths=form.get("group_paths", "yes") == "yes",
        split_select_multiple=form.get("split_select_multiple") == "yes",
        include_sensitive=form.get("include_sensitive") == "yes",
        received_from=_day("received_from"),
        received_before=_day("received_before"),
    )


@bp.post("/exports")
@roles_required(*SUPERVISORS)
def export_download() -> Response:
    kind = request.form.get("kind", "")
    fmt = request.form.get("format", "")
    form_id = request.form.get("form_id", "")
    if kind == "form" and me().role not in FORM_EXPORTERS:
        abort(403)
    if kind not in ("form", "cases"):
        abort(400)
    session = db.session()
    spool = tempfile.SpooledTemporaryFile(  # noqa: SIM115 (handed to the response, which closes it)
        max_size=SPOOL_BYTES, dir=current_app.config["DATA_DIR"]
    )
    try:
        options = _options()
        if kind == "form":
            summary = exports.export_form(session, form_id, fmt, spool, options)
            name, target = f"{form_id}{SUFFIX.get(fmt, '')}", form_id
        else:
            summary = exports.export_cases(session, fmt, spool, options, scope_user=me())
            name, target = f"cases{SUFFIX.get(fmt, '')}", "cases"
    except exports.ExportOptionError as error:
        spool.close()
        flash_error(AppError("export.bad_option", str(error)))
        return redirect(url_for("web.export_page"))
    except AppError as error:
        spool.close()
        flash_error(error)
        return redirect(url_for("web.export_page"))
    audit.record(
        session,
        me(),
        f"export.{kind}",
        target_type=kind,
        target=target,
        details={"format": fmt, "options": options.describe(), "rows": summary.tables},
        ip=request.remote_addr,
    )
    spool.seek(0)
    return send_file(
        spool,
        mimetype=MIMETYPE.get(fmt, "application/octet-stream"),
        as_attachment=True,
        download_name=name,
    )
