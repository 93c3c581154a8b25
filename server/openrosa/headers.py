"""Headers every OpenRosa exchange carries (protocol notes §1.5)."""

from __future__ import annotations

from email.utils import formatdate

from flask import Response, current_app, request

from server.errors import AppError


def require_openrosa_version() -> None:
    # HEAD/GET probes from browsers are let through so that a person opening the URL gets a
    # readable answer; everything Collect sends carries the header.
    if request.method == "POST" and request.headers.get("X-OpenRosa-Version") != "1.0":
        raise AppError("openrosa.version_header")


def add_openrosa_headers(response: Response) -> Response:
    response.headers["X-OpenRosa-Version"] = "1.0"
    response.headers["X-OpenRosa-Accept-Content-Length"] = str(
        current_app.config["MAX_SUBMISSION_BYTES"]
    )
    response.headers["Date"] = formatdate(usegmt=True)
    response.headers.setdefault("Content-Language", "en")
    # Collect's HTTP cache would otherwise reuse a stale form list (notes §1.4).
    response.headers.setdefault("Cache-Control", "no-cache")
    return response
