"""Web pages for supervisors, caseworkers, form designers and admins.

The pages call the same services and queries as the JSON API; a view reads the request,
calls one service function and renders the result. Every form carries a CSRF token.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask, current_app, request
from flask_babel import Babel
from flask_wtf.csrf import CSRFProtect

from server.auth import is_bearer

bp = Blueprint(
    "web",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/web/static",
)

csrf = CSRFProtect()
babel = Babel()

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
LANGUAGES = ("en",)


def _select_locale() -> str | None:
    return request.accept_languages.best_match(LANGUAGES) or LANGUAGES[0]


def _check_csrf() -> None:
    """CSRF on every state-changing browser request.

    Devices (the OpenRosa blueprint) authenticate with a key in the path or Digest, never a
    cookie, so a forged cross-site request carries nothing they would accept. Requests with
    a bearer token are exempt too: a browser cannot attach an Authorization header to a
    cross-site form post, and such a request is never signed in by its cookie (see
    server.auth). Anything riding on the session cookie must carry the token. A request
    that no route takes is left to be answered 404 or 405 by its own edge.
    """
    if not current_app.config.get("WTF_CSRF_ENABLED", True) or request.method in SAFE_METHODS:
        return
    if request.routing_exception is not None or request.blueprint == "openrosa":
        return
    if is_bearer(request):
        return
    csrf.protect()


def init_app(app: Flask) -> None:
    # CSRFProtect's own hook would also check device posts; ours decides (see _check_csrf).
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    csrf.init_app(app)
    app.config.setdefault(
        "BABEL_TRANSLATION_DIRECTORIES", str(Path(__file__).parent / "translations")
    )
    babel.init_app(app, locale_selector=_select_locale)
    app.before_request(_check_csrf)

    from server.web import errors, filters, labels, views  # noqa: F401  (routes register on import)

    app.register_blueprint(bp)
    errors.init_app(app)
    filters.init_app(app)
