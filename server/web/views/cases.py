"""Placeholder until the page lands."""

from __future__ import annotations

from flask import abort

from server.web import bp
from server.web.access import CASE_READERS, roles_required


@bp.get("/cases")
@roles_required(*CASE_READERS)
def case_list() -> str:
    abort(404)


@bp.get("/queues")
@roles_required("admin", "supervisor")
def queues() -> str:
    abort(404)
