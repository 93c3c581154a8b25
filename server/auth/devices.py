"""Phones and API tokens: provisioning, revoking, and finding who a token is. Flush only;
callers commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from server import db
from server.audit import service as audit
from server.auth import passwords, qr
from server.auth.models import ApiToken, Device, User
from server.auth.permissions import may
from server.auth.queries import (
    get_api_token,
    get_api_token_by_hash,
    get_device_by_label,
    get_device_by_token_hash,
    get_user_by_username,
    list_active_api_tokens,
)
from server.auth.service import AuthSettings, revoke_tokens
from server.bounds import parse_id
from server.errors import AppError
from server.timeutil import utcnow


@dataclass(frozen=True)
class ProvisionedDevice:
    device: Device
    token: str
    server_url: str
    qr_payload: str


def create_device(
    session: Session, settings: AuthSettings, label: str, username: str, actor: User | None
) -> ProvisionedDevice:
    label = label.strip()
    if not label or len(label) > 120:
        raise AppError("request.invalid", "A device label is 1 to 120 characters.")
    user = get_user_by_username(session, username)
    if user is None or not user.is_active:
        raise AppError("user.not_found")
    if not may(user, "device.hold"):  # the page offers only them; the CLI and API ask here
        raise AppError(
            "request.invalid", "A phone is registered for a caseworker, supervisor or admin."
        )
    if get_device_by_label(session, label) is not None:
        raise AppError("device.exists")
    token = passwords.new_token()
    device = Device(label=label, user_id=user.id, token_hash=passwords.token_hash(token))
    session.add(device)
    session.flush()
    server_url = f"{settings.base_url}/key/{token}"
    payload = qr.make_qr_payload(
        qr.collect_settings(server_url, f"Casework – {user.username}", user.username)
    )
    audit.record(
        session,
        actor,
        "device.create",
        target_type="device",
        target=label,
        details={"user": user.username},
    )
    return ProvisionedDevice(device=device, token=token, server_url=server_url, qr_payload=payload)


def revoke_device(session: Session, label: str, actor: User | None) -> Device:
    device = get_device_by_label(session, label)
    if device is None:
        raise AppError("device.not_found")
    if device.revoked_at is None:
        device.revoked_at = utcnow()
    audit.record(session, actor, "device.revoke", target_type="device", target=label)
    session.flush()
    return device


def device_for_token(session: Session, token: str) -> Device:
    """The active device holding this token; 403 otherwise (never a password prompt)."""
    device = get_device_by_token_hash(session, passwords.token_hash(token))
    if device is None or device.revoked_at is not None or not device.user.is_active:
        raise AppError("auth.device_token")
    return device


def create_api_token(session: Session, username: str, label: str = "") -> tuple[ApiToken, str]:
    user = get_user_by_username(session, username)
    if user is None:
        raise AppError("user.not_found")
    token = passwords.new_token()
    row = ApiToken(user_id=user.id, token_hash=passwords.token_hash(token), label=label)
    session.add(row)
    session.flush()
    audit.record(session, user, "token.create", target_type="user", target=username)
    return row, token


# When a token was last used is noted this often at most, in a short write of its own.
TOKEN_USE_GRANULARITY = timedelta(minutes=10)


def user_for_api_token(session: Session, token: str) -> User | None:
    row = get_api_token_by_hash(session, passwords.token_hash(token))
    if row is None or not row.user.is_active:
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at > TOKEN_USE_GRANULARITY:
        # Not on every request: API reads would otherwise all be writes, and on SQLite
        # a read that turns into a write fails while devices are submitting.
        with db.write_transaction(session):
            row.last_used_at = now
    return row.user


def revoke_api_tokens(session: Session, which: str, actor: User | None) -> list[ApiToken]:
    """Revoke one API token by its number, or every token of a user by user name.

    Returns the tokens revoked now (none when the user has no active token).
    """
    token_id = parse_id(which)
    row = get_api_token(session, token_id) if token_id is not None else None
    if row is not None:
        rows = [row] if row.revoked_at is None else []
    else:
        user = get_user_by_username(session, which)
        if user is None:
            raise AppError("token.not_found")
        rows = list_active_api_tokens(session, user.id)
    return revoke_tokens(session, rows, actor)
