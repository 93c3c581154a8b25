"""Streamed export downloads for admins and supervisors."""

from __future__ import annotations

from flask import Response, request, stream_with_context

from server import db
from server.api.args import caller
from server.api.bp import bp
from server.auth.permissions import requires
from server.downloads import service
from server.downloads.schemas import CaseExportArgs, FormExportArgs


def _download(export: service.ExportRequest) -> Response:
    # The audit record is committed before the first byte leaves.
    db.session().commit()
    engine = db.get_database_engine()
    body = service.stream(engine, export, caller())
    return Response(
        stream_with_context(body),
        content_type=export.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{export.filename}"',
            "Cache-Control": "no-store",
        },
    )


@bp.get("/forms/<form_id>/export")
@requires("export.form")
def export_form(form_id: str) -> Response:
    args = FormExportArgs().load(request.args.to_dict())
    return _download(
        service.prepare_form_export(db.session(), caller(), form_id, args, request.remote_addr)
    )


@bp.get("/cases/export")
@requires("export.cases")
def export_cases() -> Response:
    args = CaseExportArgs().load(request.args.to_dict())
    return _download(service.prepare_case_export(db.session(), caller(), args, request.remote_addr))
