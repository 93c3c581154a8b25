from __future__ import annotations

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import Session, contains_eager

from server.auth.models import ApiToken, Device, User


def get_user_by_username(session: Session, username: str) -> User | None:
    if "\x00" in username:  # names no one, and PostgreSQL refuses NUL in a text parameter
        return None
    return session.scalar(select(User).where(User.username == username))


def get_user(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def count_admins(session: Session) -> int:
    return session.scalar(select(func.count()).where(User.role == "admin")) or 0


def list_users() -> Select[User]:
    return select(User).order_by(User.username)


# Built once: on the path of every device request, where building it cost more than
# running it.
_DEVICE_WITH_USER_BY_TOKEN_HASH = (
    select(Device)
    .join(Device.user)
    .options(contains_eager(Device.user))
    .where(Device.token_hash == bindparam("digest"))
)


def get_device_by_token_hash(session: Session, digest: str) -> Device | None:
    """The device with its user loaded in the same statement: every device request needs
    both."""
    return session.scalar(_DEVICE_WITH_USER_BY_TOKEN_HASH, {"digest": digest})


def get_device_by_label(session: Session, label: str) -> Device | None:
    return session.scalar(select(Device).where(Device.label == label))


def list_devices() -> Select[Device]:
    return select(Device).order_by(Device.created_at.desc())


def get_api_token_by_hash(session: Session, digest: str) -> ApiToken | None:
    return session.scalar(
        select(ApiToken).where(ApiToken.token_hash == digest, ApiToken.revoked_at.is_(None))
    )


def get_api_token(session: Session, token_id: int) -> ApiToken | None:
    return session.get(ApiToken, token_id)


def list_active_api_tokens(session: Session, user_id: int) -> list[ApiToken]:
    return list(
        session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
            .order_by(ApiToken.id)
        )
    )


def list_team_members(session: Session, team: str) -> list[User]:
    return list(session.scalars(select(User).where(User.team == team, User.is_active.is_(True))))
