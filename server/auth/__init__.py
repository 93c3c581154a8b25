"""Who is calling: browser sessions, API bearer tokens, device keys, Digest and Basic."""

from __future__ import annotations

from flask import Flask, current_app
from flask_login import LoginManager

from server.auth.service import AuthSettings

login_manager = LoginManager()


def auth_settings() -> AuthSettings:
    config = current_app.config
    return AuthSettings(
        realm=config["AUTH_REALM"],
        secret_key=config["SECRET_KEY"],
        base_url=config["BASE_URL"],
        max_failures=int(config["LOGIN_MAX_FAILURES"]),
        lockout_seconds=int(config["LOGIN_LOCKOUT_SECONDS"]),
    )


def init_app(app: Flask) -> None:
    from server.auth import loaders

    login_manager.init_app(app)
    login_manager.session_protection = "strong"
    login_manager.user_loader(loaders.load_session_user)
    login_manager.request_loader(loaders.load_request_user)
    login_manager.unauthorized_handler(loaders.unauthorized)
