"""The JSON API's blueprint, apart from the package so that the handlers can import it."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")
