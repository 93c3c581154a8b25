"""/api/v1/services: the services directory that referrals pick from."""

from __future__ import annotations

from flask import Response, jsonify, request

from server import db
from server.api.args import caller, use_schema
from server.api.bp import bp
from server.auth.permissions import requires
from server.errors import AppError
from server.paging import paginate
from server.services import queries, service
from server.services.schemas import (
    ImportReportSchema,
    ServiceInputSchema,
    ServiceQueryArgs,
    ServiceSchema,
)


@bp.get("/services")
@requires("service.read")
@use_schema(ServiceQueryArgs)
def list_services(
    category: str | None,
    q: str | None,
    include_inactive: bool,
    can_visit: bool | None,
    page: int,
    per_page: int,
) -> Response:
    stmt = queries.list_services(
        category=category, q=q, include_inactive=include_inactive, can_visit=can_visit
    )
    result = paginate(db.session(), stmt, page, per_page)
    return jsonify(
        {
            "total": result.total,
            "page": result.page,
            "per_page": result.per_page,
            "items": ServiceSchema(many=True).dump(result.items),
        }
    )


@bp.post("/services")
@requires("service.edit")
def create_service() -> tuple[Response, int]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise AppError("request.invalid", "Send a JSON object.")
    created = service.create_service(db.session(), ServiceInputSchema().load(data), actor=caller())
    return jsonify(ServiceSchema().dump(created)), 201


@bp.patch("/services/<service_id>")
@requires("service.edit")
def update_service(service_id: str) -> Response:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise AppError("request.invalid", "Send a JSON object.")
    changes = ServiceInputSchema(partial=True).load(data)
    updated = service.update_service(db.session(), service_id, changes, actor=caller())
    return jsonify(ServiceSchema().dump(updated))


@bp.post("/services/import")
@requires("service.edit")
def import_services() -> Response:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise AppError("request.invalid", "Attach a CSV or XLSX file as the field 'file'.")
    content = upload.read(service.MAX_IMPORT_BYTES + 1)
    report = service.import_services(
        db.session(),
        upload.filename,
        content,
        dry_run=request.args.get("dry_run") == "true",
        actor=caller(),
    )
    return jsonify(ImportReportSchema().dump(report))
