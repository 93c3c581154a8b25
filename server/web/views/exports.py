"""Placeholder until the page lands."""

from __future__ import annotations

from flask import abort

from server.web import bp
from server.web.access import SUPERVISORS, roles_required


@bp.get("/exports")
@roles_required(*SUPERVISORS)
def export_page() -> str:
    abort(404)
