"""Who is calling: browser sessions, API bearer tokens, device keys, Digest and Basic."""

from __future__ import annotations

from typing import Any

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_login import LoginManager

from server.auth import loaders
from server.auth.loaders import auth_settings

__all__ = ["auth_settings", "init_app", "is_bearer", "login_manager"]

login_manager = LoginManager()


def is_bearer(request: Request) -> bool:
    return request.headers.get("Authorization", "").lower().startswith("bearer ")


class _TokenSession(SecureCookieSession):
    """The empty session of a bearer-token request; it is never saved."""


class _SessionInterface(SecureCookieSessionInterface):
    """Browsers keep their signed-cookie session. A request with a bearer token is
    authenticated by the token alone: a cookie it carries is not read, and its response sets
    none. (Strong session protection would otherwise treat a cookie without a signed-in
    user as a tampered session and refuse the token too.)"""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if is_bearer(request):
            return _TokenSession()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: Any, response: Any) -> None:
        if isinstance(session, _TokenSession):
            return
        super().save_session(app, session, response)


def init_app(app: Flask) -> None:
    app.session_interface = _SessionInterface()
    login_manager.init_app(app)
    login_manager.session_protection = "strong"
    login_manager.user_loader(loaders.load_session_user)
    login_manager.request_loader(loaders.load_request_user)
    login_manager.unauthorized_handler(loaders.unauthorized)
