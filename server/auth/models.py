from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db import Base
from server.timeutil import utcnow
from server.types import UtcDateTime

# the languages the web pages are translated into, the source language first
LANGUAGES = ("en", "fr", "es", "ar", "pt")


class User(UserMixin, Base):  # type: ignore[misc]  # flask-login ships no types
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(20))
    team: Mapped[str | None] = mapped_column(String(80), default=None)
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    # MD5(username:realm:password), which HTTP Digest needs; password-equivalent for this
    # realm only, so it is kept encrypted with the server's secret key.
    digest_ha1: Mapped[str | None] = mapped_column(String(255), default=None)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # Raised when the password is reset or the account is deactivated: a browser session
    # signed for an older value is no longer accepted (see get_id and the user loader).
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The user's own choices for the web pages; none: the browser's language, and the
    # organisation's time zone (CASEWORK_TIMEZONE).
    language: Mapped[str | None] = mapped_column(String(10), default=None)
    time_zone: Mapped[str | None] = mapped_column(String(64), default=None)

    devices: Mapped[list[Device]] = relationship(back_populates="user")

    def get_id(self) -> str:
        """What the session cookie holds: the user's id and the session generation."""
        return f"{self.id}:{self.session_version or 0}"

    def end_sessions(self) -> None:
        """Every browser session signed in before now stops working."""
        self.session_version = (self.session_version or 0) + 1


class Team(Base):
    """A team from the list an admin keeps. A user's team (``User.team``, by name) is
    picked from it, so a mistyped name cannot start a team of its own; supervisors see the
    cases of their team's caseworkers."""

    __tablename__ = "team"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Device(Base):
    """A phone provisioned for one user. Its token travels in the URL path (/key/<token>)."""

    __tablename__ = "device"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    label: Mapped[str] = mapped_column(String(120), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    last_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)

    user: Mapped[User] = relationship(back_populates="devices")

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class ApiToken(Base):
    """A bearer token for the JSON API, shown once and kept only as a hash."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)

    user: Mapped[User] = relationship()


class LoginThrottle(Base):
    """Failed sign-ins counted in one scope, for the lock-out: one account from one address
    (``pair``), one address whatever the account (``address``), or one account from every
    address (``account``). User names are counted whether or not such a user exists."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the scope
    scope: Mapped[str] = mapped_column(String(10))
    username: Mapped[str | None] = mapped_column(String(80), default=None, index=True)
    address: Mapped[str | None] = mapped_column(String(64), default=None)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)


class DigestNonceUse(Base):
    """The highest nonce count accepted with each Digest nonce still valid: a count is
    accepted once, so a captured Authorization header cannot be replayed."""

    __tablename__ = "digest_nonce_use"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    nc: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
