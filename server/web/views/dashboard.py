"""Placeholder until the page lands."""

from __future__ import annotations

from flask import abort

from server.web import bp
from server.web.access import SUPERVISORS, roles_required


@bp.get("/dashboard")
@roles_required(*SUPERVISORS)
def dashboard() -> str:
    abort(404)
