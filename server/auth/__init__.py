"""Who is calling: browser sessions, API bearer tokens, device keys, Digest and Basic."""

from __future__ import annotations

from typing import Any

from flask import Flask, Request, current_app
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_login import LoginManager

from server.auth.service import AuthSettings

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


def auth_settings() -> AuthSettings:
    config = current_app.config
    return AuthSettings(
        realm=config["AUTH_REALM"],
        secret_key=config["SECRET_KEY"],
        base_url=config["BASE_URL"],
        max_failures=int(config["LOGIN_MAX_FAILURES"]),
        lockout_seconds=int(config["LOGIN_LOCKOUT_SECONDS"]),
        address_max_failures=int(config["LOGIN_ADDRESS_MAX_FAILURES"]),
        account_max_failures=int(config["LOGIN_ACCOUNT_MAX_FAILURES"]),
    )


def init_app(app: Flask) -> None:
    from server.auth import loaders

    app.session_interface = _SessionInterface()
    login_manager.init_app(app)
    login_manager.session_protection = "strong"
    login_manager.user_loader(loaders.load_session_user)
    login_manager.request_loader(loaders.load_request_user)
    login_manager.unauthorized_handler(loaders.unauthorized)
