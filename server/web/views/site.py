"""What a browser asks of any site: its icon at the conventional address."""

from __future__ import annotations

from flask import abort, send_from_directory
from werkzeug.wrappers import Response

from server.web.bp import bp

ICON_MAX_AGE = 7 * 24 * 3600


@bp.get("/favicon.ico")
def favicon() -> Response:
    """The pages link their icon; a browser that opens a JSON or XML answer asks here."""
    if bp.static_folder is None:  # the blueprint is made with one
        abort(404)
    return send_from_directory(bp.static_folder, "favicon.ico", max_age=ICON_MAX_AGE)
