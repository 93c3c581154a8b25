"""Placeholder until the page lands."""

from __future__ import annotations

from flask import abort

from server.web import bp
from server.web.access import ADMINS, roles_required


@bp.get("/audit")
@roles_required(*ADMINS)
def audit_log() -> str:
    abort(404)
