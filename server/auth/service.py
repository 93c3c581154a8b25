"""Users, teams, passwords and sign-in (lock-outs, Digest). Flush only; callers commit.
Phones and API tokens are ``auth.devices``."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from server import db
from server.audit import service as audit
from server.auth import digest, passwords
from server.auth.models import (
    LANGUAGES,
    ApiToken,
    DigestNonceUse,
    LoginThrottle,
    Team,
    User,
)
from server.auth.permissions import ROLES
from server.auth.queries import (
    count_team_members,
    get_lockout,
    get_team,
    get_team_by_folded_name,
    get_user_by_username,
    list_active_api_tokens,
)
from server.errors import AppError
from server.timeutil import known_zone, utcnow


@dataclass(frozen=True)
class AuthSettings:
    realm: str
    secret_key: str
    base_url: str
    max_failures: int = 5  # for one account from one address
    lockout_seconds: int = 900
    address_max_failures: int = 20  # from one address, whatever the accounts
    account_max_failures: int = 100  # for one account, from every address


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise AppError("user.bad_role")


def create_user(
    session: Session,
    settings: AuthSettings,
    username: str,
    role: str,
    password: str,
    *,
    team: str | None = None,
    display_name: str = "",
    actor: User | None = None,
) -> User:
    _check_role(role)
    username = username.strip()
    if not username or len(username) > 80:
        raise AppError("request.invalid", "A user name is 1 to 80 characters.")
    if get_user_by_username(session, username) is not None:
        raise AppError("user.exists")
    team = _listed_team(session, team)
    user = User(username=username, role=role, team=team, display_name=display_name)
    _apply_password(user, settings, password)
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor,
        "user.create",
        target_type="user",
        target=username,
        details={"role": role, "team": team},
    )
    return user


def _apply_password(user: User, settings: AuthSettings, password: str) -> None:
    if len(password) < passwords.MIN_PASSWORD_LENGTH:
        raise AppError("user.weak_password")
    user.password_hash = passwords.hash_password(password)
    ha1 = passwords.digest_ha1(user.username, settings.realm, password)
    user.digest_ha1 = passwords.seal_ha1(ha1, settings.secret_key)


def set_password(
    session: Session, settings: AuthSettings, user: User, password: str, actor: User | None
) -> None:
    _apply_password(user, settings, password)
    user.failed_logins = 0
    user.locked_until = None
    user.end_sessions()  # whoever held the old password is signed out everywhere
    session.execute(delete(LoginThrottle).where(LoginThrottle.username == user.username))
    audit.record(session, actor, "user.password_reset", target_type="user", target=user.username)


def change_own_password(
    session: Session,
    settings: AuthSettings,
    user: User,
    current: str,
    new: str,
    ip: str | None,
) -> None:
    """A user changes their own password, giving the current one. A wrong current password
    counts toward the sign-in lock-out as a wrong sign-in does (a borrowed session cannot
    be used to guess it), and is refused while that lock-out lasts. The change ends every
    other session of the account, as a reset does; the caller signs the current one in
    again."""
    now = utcnow()
    throttle = _refuse_if_locked(session, user, user.username, ip, now)
    if not current or not passwords.verify_password(user.password_hash, current):
        if current:
            _count_failure(session, settings, user, user.username, ip, now)
        raise AppError("user.wrong_password")
    _apply_password(user, settings, new)
    user.end_sessions()
    own = [row.key for row in throttle if row.scope == "pair"]
    if own:  # the failures of this account from this address: it is its owner
        session.execute(delete(LoginThrottle).where(LoginThrottle.key.in_(own)))
    session.flush()
    audit.record(
        session, user, "user.password_change", target_type="user", target=user.username, ip=ip
    )


def lift_lockout(session: Session, key: str, actor: User | None) -> LoginThrottle:
    """End a sign-in lock-out now (an admin who knows the failures were the owner's):
    its failures are forgotten too. Returns the lock-out lifted, for its names."""
    row = get_lockout(session, key)
    if row is None or row.locked_until is None or row.locked_until <= utcnow():
        raise AppError("auth.lockout_not_found")
    session.delete(row)
    session.flush()
    audit.record(
        session,
        actor,
        "auth.lockout_lift",
        target_type="user" if row.username is not None else "address",
        target=row.username if row.username is not None else (row.address or ""),
        details={"scope": row.scope, "user": row.username, "address": row.address},
    )
    return row


def update_user(
    session: Session,
    user: User,
    *,
    role: str | None = None,
    team: str | None = None,
    is_active: bool | None = None,
    actor: User | None = None,
) -> User:
    if role is not None:
        _check_role(role)
    if team is not None and (team or None) != user.team:
        team = _listed_team(session, team) or ""
    before = {"role": user.role, "team": user.team, "is_active": user.is_active}
    if role is not None:
        user.role = role
    if team is not None:
        user.team = team or None
    if is_active is not None:
        if user.is_active and not is_active:
            # Deactivation ends the account's sessions and API tokens for good: a later
            # reactivation does not bring them back.
            user.end_sessions()
            revoke_tokens(session, list_active_api_tokens(session, user.id), actor)
        user.is_active = is_active
    session.flush()
    # (the reports count cases by their caseworker's team now: ``cases.report_counts``
    # moves theirs with them as this flush writes the change)
    after = {"role": user.role, "team": user.team, "is_active": user.is_active}
    # what changed, and what it was (an edit that changes nothing is no decision)
    changes: dict[str, Any] = {k: v for k, v in after.items() if before[k] != v}
    changes.update({f"{k}_before": before[k] for k in list(changes)})
    if changes:
        audit.record(
            session, actor, "user.update", target_type="user", target=user.username, details=changes
        )
    return user


def _listed_team(session: Session, team: str | None) -> str | None:
    """The team a user is given: none, or one of the teams an admin has added
    (``user.unknown_team`` otherwise: a mistyped name starts no team)."""
    name = (team or "").strip()
    if not name:
        return None
    if get_team(session, name) is None:
        raise AppError("user.unknown_team", details={"team": name[:80]})
    return name


def create_team(session: Session, name: str, actor: User | None) -> Team:
    """Add a team to the list users' teams are chosen from. A name that differs from an
    existing one only in letter case is refused too ("North" beside "north")."""
    name = " ".join(name.split())
    if not name or len(name) > 80:
        raise AppError("team.bad_name")
    existing = get_team_by_folded_name(session, name)
    if existing is not None:
        raise AppError("team.exists", details={"team": existing.name})
    team = Team(name=name)
    session.add(team)
    session.flush()
    audit.record(session, actor, "team.create", target_type="team", target=name)
    return team


def delete_team(session: Session, name: str, actor: User | None) -> None:
    """Take a team off the list; only one no account names (a name added by mistake)."""
    team = get_team(session, name)
    if team is None:
        raise AppError("team.not_found", details={"team": name[:80]})
    members = count_team_members(session, team.name)
    if members:
        raise AppError("team.not_empty", details={"team": team.name, "members": members})
    session.delete(team)
    session.flush()
    audit.record(session, actor, "team.delete", target_type="team", target=team.name)


def set_preferences(
    session: Session, user: User, *, language: str | None, time_zone: str | None
) -> User:
    """A user's own language and time zone for the web pages; empty: the defaults (the
    browser's language, the organisation's zone)."""
    language = (language or "").strip() or None
    time_zone = (time_zone or "").strip() or None
    if language is not None and language not in LANGUAGES:
        raise AppError("user.bad_language")
    if time_zone is not None and not known_zone(time_zone):
        raise AppError("user.bad_time_zone")
    user.language, user.time_zone = language, time_zone
    session.flush()
    audit.record(
        session,
        user,
        "user.preferences",
        target_type="user",
        target=user.username,
        details={"language": language, "time_zone": time_zone},
    )
    return user


# Collect sends its credentials with every request; a good one is noted this often at most.
SIGN_IN_NOTE_INTERVAL = timedelta(minutes=10)


def authenticate_password(
    session: Session,
    settings: AuthSettings,
    username: str,
    password: str,
    ip: str | None,
    *,
    each_request: bool = False,
) -> User:
    """Check a password with lock-out after repeated failures. Raises AppError.

    ``each_request``: the password comes with every request (HTTP Basic from a device), so a
    good one is noted in the audit log every SIGN_IN_NOTE_INTERVAL, not every time.
    """
    if "\x00" in username:  # no user has one, and the database cannot even look it up
        raise AppError("auth.bad_credentials")
    user = get_user_by_username(session, username)
    now = utcnow()
    throttle = _refuse_if_locked(session, user, username, ip, now)
    ok = passwords.verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.is_active:
        raise _count_failure(session, settings, user, username, ip, now)
    _note_sign_in(session, user, ip, now, each_request=each_request, throttle=throttle)
    return user


def authenticate_digest(
    session: Session,
    settings: AuthSettings,
    creds: digest.DigestCredentials,
    method: str,
    request_uri: str,
    ip: str | None,
) -> User | None:
    """Check an HTTP Digest answer, with the same lock-out as passwords. Raises AppError.

    Returns None when the answer is right but was made with an expired nonce: the client
    retries at once with a fresh one (``stale=true``), and nothing is counted. An answer that
    cannot be checked (a nonce or realm that is not ours, another request's URI, a scheme we
    did not offer) is refused without counting: it is no attempt at the password.
    """
    state = digest.nonce_state(settings.secret_key, creds.nonce)
    if (
        state == "invalid"
        or creds.realm != settings.realm
        or creds.uri != request_uri
        or not digest.is_offered(creds)
        or "\x00" in creds.username
    ):
        raise AppError("auth.bad_credentials")
    user = get_user_by_username(session, creds.username)
    now = utcnow()
    throttle = _refuse_if_locked(session, user, creds.username, ip, now)
    # No user, or no Digest secret that opens with this server's key: counted like a wrong
    # answer, so that the lock-out tells no one which names exist.
    ha1 = digest_ha1_for(user, settings) if user is not None else None
    if (
        user is None
        or ha1 is None
        or not digest.verify(creds, ha1, method, request_uri)
        or not user.is_active
    ):
        raise _count_failure(session, settings, user, creds.username, ip, now)
    if state == "stale" or not _first_use_of_count(session, creds, now):
        return None  # an old nonce, or a count already used (a replay): ask again, stale
    _note_sign_in(session, user, ip, now, each_request=True, throttle=throttle)
    return user


def _first_use_of_count(session: Session, creds: digest.DigestCredentials, now: datetime) -> bool:
    """Accept each nonce count (``nc``) once and only above the last one accepted, across
    processes: one UPDATE per request, an INSERT for a nonce's first use."""
    try:
        nc = int(creds.nc or "1", 16)  # without qop there is no count: the nonce serves once
    except ValueError:
        return False
    if not 0 < nc <= 0xFFFFFFFF:
        return False
    raise_count = (
        update(DigestNonceUse)
        .where(DigestNonceUse.nonce == creds.nonce, DigestNonceUse.nc < nc)
        .values(nc=nc)
    )
    with db.write_transaction(session):
        if session.execute(raise_count).rowcount == 1:  # type: ignore[attr-defined]
            return True
        _delete_unlocked(session, DigestNonceUse.nonce, DigestNonceUse.expires_at < now)
        stamp = digest.nonce_stamp(creds.nonce)  # a nonce of ours: verified before
        first = (
            _insert_ignoring_duplicates(session, DigestNonceUse)
            .values(
                nonce=creds.nonce,
                nc=nc,
                expires_at=datetime.fromtimestamp(
                    stamp + digest.NONCE_LIFETIME_SECONDS, now.tzinfo
                ),
            )
            .returning(DigestNonceUse.nonce)
        )
        if session.execute(first).first() is not None:
            return True
        # another process recorded this nonce in the meantime: is this count above its?
        return bool(session.execute(raise_count).rowcount == 1)  # type: ignore[attr-defined]


def _delete_unlocked(session: Session, key: Any, condition: Any) -> None:
    """Delete some rows that meet ``condition``, passing over those another transaction has
    locked (PostgreSQL): a clean-up that never waits, so never deadlocks with a sign-in."""
    keys = session.scalars(
        select(key).where(condition).limit(500).with_for_update(skip_locked=True)
    ).all()
    if keys:
        session.execute(delete(key.class_).where(key.in_(keys)))


def _insert_ignoring_duplicates(session: Session, model: Any) -> Any:
    """INSERT … ON CONFLICT DO NOTHING, on either engine."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(model).on_conflict_do_nothing()


def _throttle_scopes(
    username: str, ip: str | None
) -> list[tuple[str, str, str | None, str | None]]:
    """(key, scope, username, address) for each scope a sign-in is counted in."""
    address = ip or ""

    def key(*parts: str) -> str:
        return hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogatepass")).hexdigest()

    return [
        (key("pair", username, address), "pair", username, address),
        (key("address", address), "address", None, address),
        (key("account", username), "account", username, None),
    ]


def _threshold(settings: AuthSettings, scope: str) -> int:
    return {
        "pair": settings.max_failures,
        "address": settings.address_max_failures,
        "account": settings.account_max_failures,
    }[scope]


def _refuse_if_locked(
    session: Session, user: User | None, username: str, ip: str | None, now: datetime
) -> list[LoginThrottle]:
    """Refuse while this account from this address, this address, or this account is
    locked, whatever is offered, even the right password, and whether the name exists or
    not. Returns the counts found (a good sign-in clears its own)."""
    keys = [key for key, *_ in _throttle_scopes(username, ip)]
    rows = list(session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(keys))))
    if any(row.locked_until is not None and row.locked_until > now for row in rows):
        with db.write_transaction(session):
            audit.record(
                session, user, "auth.login_locked", target_type="user", target=username, ip=ip
            )
        raise AppError("auth.locked")
    return rows


def _count_failure(
    session: Session,
    settings: AuthSettings,
    user: User | None,
    username: str,
    ip: str | None,
    now: datetime,
) -> AppError:
    """Record a wrong password (or Digest answer) at once, in each scope; a scope locks for
    ``lockout_seconds`` when it reaches its number of failures within that time. Returns the
    error to raise."""
    window = timedelta(seconds=settings.lockout_seconds)
    scopes = sorted(_throttle_scopes(username, ip))  # one lock order everywhere
    with db.write_transaction(session):
        session.execute(
            _insert_ignoring_duplicates(session, LoginThrottle).values(
                [
                    {
                        "key": key,
                        "scope": scope,
                        "username": name[:80] if name is not None else None,
                        "address": address[:64] if address is not None else None,
                        "failures": 0,
                        "window_started_at": now,
                    }
                    for key, scope, name, address in scopes
                ]
            )
        )
        rows = session.scalars(
            select(LoginThrottle)
            .where(LoginThrottle.key.in_([key for key, *_ in scopes]))
            .order_by(LoginThrottle.key)
            .with_for_update()  # count concurrent failures exactly
            .execution_options(populate_existing=True)
        )
        for row in rows:
            if row.window_started_at < now - window:
                row.failures, row.window_started_at = 0, now
            row.failures += 1
            if row.failures >= _threshold(settings, row.scope):
                row.locked_until = now + window
                row.failures, row.window_started_at = 0, now
        session.flush()
        _delete_unlocked(  # counts that have run out
            session,
            LoginThrottle.key,
            and_(
                LoginThrottle.window_started_at < now - window,
                or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until < now),
            ),
        )
        audit.record(session, user, "auth.login_failed", target_type="user", target=username, ip=ip)
    return AppError("auth.bad_credentials")


def _note_sign_in(
    session: Session,
    user: User,
    ip: str | None,
    now: datetime,
    *,
    each_request: bool,
    throttle: list[LoginThrottle],
) -> None:
    """Note a good sign-in, and clear the failures counted for this account from this
    address (not those of the address, nor of the account from everywhere: a good password
    between guesses must not reset them).

    The user's row is written before the counts, the order in which a password reset
    takes them (``set_password``), so that the two never wait on each other (PostgreSQL).
    """
    noted_lately = (
        each_request
        and user.failed_logins == 0
        and user.locked_until is None
        and user.last_login_at is not None
        and now - user.last_login_at < SIGN_IN_NOTE_INTERVAL
    )
    if not noted_lately:
        with db.write_transaction(session):
            user.failed_logins = 0
            user.locked_until = None
            user.last_login_at = now
            audit.record(
                session, user, "auth.login", target_type="user", target=user.username, ip=ip
            )
    own = [row.key for row in throttle if row.scope == "pair" and row.failures]
    if own:
        with db.write_transaction(session):
            session.execute(delete(LoginThrottle).where(LoginThrottle.key.in_(own)))


def digest_ha1_for(user: User, settings: AuthSettings) -> str | None:
    return passwords.open_ha1(user.digest_ha1, settings.secret_key)


def revoke_tokens(session: Session, rows: list[ApiToken], actor: User | None) -> list[ApiToken]:
    """Revoke these API tokens (a deactivated account's, or one named), each audited."""
    now = utcnow()
    for token in rows:
        token.revoked_at = now
        audit.record(
            session,
            actor,
            "token.revoke",
            target_type="user",
            target=token.user.username,
            details={"token": token.id, "label": token.label},
        )
    session.flush()
    return rows
