"""Placeholder until the page lands."""

from __future__ import annotations

from flask import abort

from server.web import bp
from server.web.access import SERVICE_READERS, roles_required


@bp.get("/services")
@roles_required(*SERVICE_READERS)
def service_list() -> str:
    abort(404)
