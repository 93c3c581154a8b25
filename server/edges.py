"""Who is asking, and who writes their errors: a readable page for people, OpenRosa XML
for devices, JSON for the API; never a stack trace.

``create_app`` wires this once for the whole app, with one :class:`ErrorWriter` per edge.
Each blueprint handles errors in its own routes; these handlers are the app's, which Flask
consults for unexpected errors anywhere (its 500 handler is found before any blueprint's)
and for addresses no route takes. They pick the edge by the route, else by the path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from flask import Flask, current_app, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException, InternalServerError

from server.errors import AppError

log = logging.getLogger(__name__)

WEB, API, OPENROSA = "web", "api", "openrosa"
EXTENSION = "casework.error_writers"


@dataclass(frozen=True)
class ErrorWriter:
    """How one edge answers an error of the catalogue, an HTTP error, and a server error."""

    app_error: Callable[[AppError], ResponseReturnValue]
    http_error: Callable[[HTTPException], ResponseReturnValue]
    server_error: Callable[[], ResponseReturnValue]


def edge() -> str:
    """Who is asking: "openrosa" (a device), "api" (an API client) or "web" (a person).

    Told by the route that matched; for an address no route takes, by its path, and for a
    device address asked with a method it does not take, by what answers GET there.
    """
    if request.blueprint is not None:
        return request.blueprint if request.blueprint in (OPENROSA, API) else WEB
    path = request.path
    if path == "/api" or path.startswith("/api/"):
        return API
    if path == "/key" or path.startswith("/key/"):
        return OPENROSA
    adapter = current_app.url_map.bind_to_environ(request.environ)
    try:
        endpoint, _args = adapter.match(method="GET")
    except HTTPException:
        return WEB
    return OPENROSA if str(endpoint).startswith(f"{OPENROSA}.") else WEB


def _writer() -> ErrorWriter:
    writers: Mapping[str, ErrorWriter] = current_app.extensions[EXTENSION]
    return writers[edge()]


def handle_app_error(error: AppError) -> ResponseReturnValue:
    return _writer().app_error(error)


def handle_http_exception(error: HTTPException) -> ResponseReturnValue:
    return _writer().http_error(error)


def handle_server_error(error: InternalServerError) -> ResponseReturnValue:
    log.error("unhandled error on %s", request.path, exc_info=error.original_exception)
    return _writer().server_error()


def init_app(app: Flask, writers: Mapping[str, ErrorWriter]) -> None:
    missing = {WEB, API, OPENROSA} - writers.keys()
    if missing:
        raise ValueError(f"no error writer for {sorted(missing)}")
    app.extensions[EXTENSION] = dict(writers)
    app.register_error_handler(AppError, handle_app_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(InternalServerError, handle_server_error)
