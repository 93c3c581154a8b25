"""The JSON API for integrations and the web pages' scripts (`/api/v1`)."""

from __future__ import annotations

from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from server.api import (  # noqa: F401  (routes register on import)
    cases,
    errors,
    exports,
    reports,
    services,
    submissions,
    xforms,
)
from server.api.bp import bp
from server.errors import AppError

__all__ = ["bp"]

bp.register_error_handler(AppError, errors.handle_app_error)
bp.register_error_handler(ValidationError, errors.handle_validation_error)
bp.register_error_handler(HTTPException, errors.handle_http_exception)
