"""Every API error is JSON: {"code", "message", "details"}."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify
from flask_wtf.csrf import CSRFError
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge

from server.edges import ErrorWriter
from server.errors import CATALOGUE, AppError


def _json(code: str, message: str, status: int, details: dict[str, Any] | None = None) -> Response:
    response = jsonify({"code": code, "message": message, "details": details or {}})
    response.status_code = status
    return response


def handle_app_error(error: AppError) -> Response:
    response = _json(error.code, error.text, error.http_status, error.details)
    if error.http_status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="casework"'
    return response


def handle_validation_error(error: ValidationError) -> Response:
    messages = error.messages if isinstance(error.messages, dict) else {"_": error.messages}
    return _json("request.invalid", "Some values are not valid.", 400, {"fields": messages})


CSRF_MESSAGE = (
    "A request signed in by the session cookie must carry the page's CSRF token "
    "(X-CSRFToken header). Scripts use an API token instead."
)


def handle_http_exception(error: HTTPException) -> Response:
    if isinstance(error, RequestEntityTooLarge):
        return handle_app_error(AppError("request.too_large"))
    if isinstance(error, CSRFError):
        return handle_app_error(AppError("request.invalid", CSRF_MESSAGE))
    status = error.code or 500
    if status >= 500:
        return handle_app_error(AppError("server.error"))
    code = {404: "request.not_found", 405: "request.method_not_allowed"}.get(
        status, "request.invalid"
    )
    response = _json(code, CATALOGUE[code].message, status)
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response


def server_error() -> Response:
    return handle_app_error(AppError("server.error"))


# What create_app hands server.edges for API clients.
WRITER = ErrorWriter(handle_app_error, handle_http_exception, server_error)
