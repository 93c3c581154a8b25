"""flask-login loaders, and the OpenRosa authentication ladder for devices."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import quote

from flask import Request, Response, current_app, redirect, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from server import db
from server.auth import digest
from server.auth.devices import device_for_token, user_for_api_token
from server.auth.models import Device, User
from server.auth.queries import get_user
from server.auth.service import AuthSettings, authenticate_digest, authenticate_password
from server.bounds import parse_id
from server.errors import AppError


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


def load_session_user(user_id: str) -> User | None:
    """The user of a session cookie, if it was signed in since their last password reset
    or deactivation (``id:generation``, see ``User.get_id``)."""
    row, _, generation = user_id.partition(":")
    row_id = parse_id(row)
    if row_id is None or not (generation.isascii() and generation.isdigit()):
        return None
    user = get_user(db.session(), row_id)
    if user is None or not user.is_active or user.get_id() != user_id:
        return None
    return user


def load_request_user(req: Request) -> User | None:
    """API clients: ``Authorization: Bearer <token>`` made by `casework create-token`."""
    header = req.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return signed_in(lambda: user_for_api_token(db.session(), header[7:].strip()))
    return None


T = TypeVar("T")


def signed_in(check: Callable[[], T]) -> T:
    """Run a check of credentials, then commit at once what it wrote, whatever its outcome:
    a failure counted or a refusal audited stays although the answer is an error, and what
    a good sign-in noted (a nonce count used, a token's use, the sign-in) does not keep
    SQLite's write lock through the rest of a request that may only read."""
    session = db.session()
    try:
        result = check()
    except AppError:
        session.commit()
        raise
    session.commit()
    return result


def unauthorized() -> Response | WerkzeugResponse:
    if request.path.startswith("/api/"):
        raise AppError("auth.required")
    return redirect(url_for("web.login", next=request.full_path))


@dataclass
class Challenge(Exception):
    """A 401 that tells the client how to authenticate (WWW-Authenticate)."""

    error: AppError
    headers: list[tuple[str, str]]


@dataclass(frozen=True)
class DeviceCaller:
    user: User
    device: Device | None


def openrosa_caller(token: str | None) -> DeviceCaller:
    """Authenticate a device request: key in the path, else Digest, else Basic over HTTPS.

    A bad key is a 403 so that Collect never shows a password prompt for it; a request with
    no credentials gets a 401 with the challenges Collect can answer, Digest first.
    """
    session = db.session()
    if token is not None:
        device = device_for_token(session, token)
        return DeviceCaller(user=device.user, device=device)

    settings = auth_settings()
    header = request.headers.get("Authorization", "")
    scheme = header.split(" ", 1)[0].lower()
    if scheme == "digest":
        creds = digest.parse_authorization(header)
        if creds is None:
            raise _challenge(error=AppError("auth.bad_credentials"))
        try:
            user = signed_in(
                lambda: authenticate_digest(
                    session, settings, creds, request.method, _request_uri(), request.remote_addr
                )
            )
        except AppError as error:
            if error.http_status == 401:
                raise _challenge(error=error) from None
            raise  # locked out: no challenge, retrying now cannot help
        if user is None:
            raise _challenge(stale=True)
        return DeviceCaller(user=user, device=None)
    if scheme == "basic":
        if not request.is_secure:
            raise _challenge(error=AppError("auth.https_required"))
        username, password = _basic_credentials(header)
        try:
            user = signed_in(
                lambda: authenticate_password(
                    session, settings, username, password, request.remote_addr, each_request=True
                )
            )
        except AppError as error:
            if error.http_status == 401:  # a 401 says how to try again
                raise _challenge(error=error) from None
            raise
        return DeviceCaller(user=user, device=None)
    raise _challenge()


def _request_uri() -> str:
    """The request target exactly as the client wrote it, which is what it hashed."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if raw:
        return str(raw)
    path = quote(request.environ.get("SCRIPT_NAME", "") + request.environ.get("PATH_INFO", ""))
    query = request.environ.get("QUERY_STRING", "")
    return f"{path}?{query}" if query else path


def _basic_credentials(header: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(header.split(" ", 1)[1].strip()).decode("utf-8")
    except (IndexError, ValueError, binascii.Error, UnicodeDecodeError):
        decoded = ""
    username, _, password = decoded.partition(":")
    return username, password


def _challenge(*, stale: bool = False, error: AppError | None = None) -> Challenge:
    settings = auth_settings()
    headers = [
        ("WWW-Authenticate", digest.challenge(settings.realm, settings.secret_key, stale=stale))
    ]
    if request.is_secure:
        headers.append(("WWW-Authenticate", f'Basic realm="{settings.realm}", charset="UTF-8"'))
    return Challenge(error=error or AppError("auth.required"), headers=headers)
