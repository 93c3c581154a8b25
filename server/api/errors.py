"""Every API error is JSON: {"code", "message", "details"}."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

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


def handle_http_exception(error: HTTPException) -> Response:
    if isinstance(error, RequestEntityTooLarge):
        return handle_app_error(AppError("request.too_large"))
    code = {404: "request.not_found", 405: "request.method_not_allowed"}.get(
        error.code or 400, "request.invalid"
    )
    return _json(code, CATALOGUE[code].message, error.code or 400)
