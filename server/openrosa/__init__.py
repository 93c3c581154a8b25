"""The device protocol ODK Collect speaks. HTTP only: the rules live in the services."""

from __future__ import annotations

from werkzeug.exceptions import HTTPException

from server.auth.loaders import Challenge
from server.errors import AppError
from server.openrosa import errors, headers, views  # noqa: F401  (routes register on import)
from server.openrosa.bp import bp

bp.before_request(headers.require_openrosa_version)
bp.after_request(headers.add_openrosa_headers)
bp.register_error_handler(AppError, errors.handle_app_error)
bp.register_error_handler(Challenge, errors.handle_challenge)
bp.register_error_handler(HTTPException, errors.handle_http_exception)
