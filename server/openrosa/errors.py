"""Every error a device sees is an OpenRosa response it can show the caseworker."""

from __future__ import annotations

import logging

from flask import Response
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge

from server.auth.loaders import Challenge
from server.edges import ErrorWriter
from server.errors import CATALOGUE, AppError
from server.openrosa.headers import add_openrosa_headers
from server.openrosa.responses import openrosa_message

log = logging.getLogger(__name__)


def app_error_response(error: AppError) -> Response:
    return add_openrosa_headers(
        openrosa_message(error.text, status=error.http_status, nature="error")
    )


def handle_app_error(error: AppError) -> Response:
    return app_error_response(error)


def handle_challenge(challenge: Challenge) -> Response:
    response = app_error_response(challenge.error)
    response.status_code = 401
    for name, value in challenge.headers:
        response.headers.add(name, value)
    return response


def handle_http_exception(error: HTTPException) -> Response:
    if isinstance(error, RequestEntityTooLarge):
        return app_error_response(AppError("request.too_large"))
    status = error.code or 500
    if status >= 500:
        return app_error_response(AppError("server.error"))
    code = {404: "request.not_found", 405: "request.method_not_allowed"}.get(
        status, "request.invalid"
    )
    response = openrosa_message(CATALOGUE[code].message, status=status, nature="error")
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return add_openrosa_headers(response)


def server_error() -> Response:
    return app_error_response(AppError("server.error"))


# What create_app hands server.edges for devices.
WRITER = ErrorWriter(handle_app_error, handle_http_exception, server_error)
