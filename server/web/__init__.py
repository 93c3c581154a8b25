"""Web pages for supervisors, caseworkers, form designers and admins.

The pages call the same services and queries as the JSON API; a view reads the request,
calls one service function and renders the result. Every form carries a CSRF token (checked
for the whole app by ``server.request_checks``, which ``create_app`` wires).
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask_babel import Babel

from server.web import errors, filters, labels, views  # noqa: F401  (routes register on import)
from server.web.bp import bp
from server.web.catalogues import compile_stale
from server.web.locale import select_locale, user_zone

__all__ = ["bp", "init_app", "user_zone"]

babel = Babel()

TRANSLATIONS = Path(__file__).parent / "translations"


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    compile_stale(TRANSLATIONS)
    babel.init_app(app, locale_selector=select_locale)
    app.register_blueprint(bp)
    filters.init_app(app)
