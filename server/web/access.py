"""The signed-in user of a page, and what pages ask of the permission table
(``server.auth.permissions``): pages are guarded by its ``@requires(action)``."""

from __future__ import annotations

from typing import cast

from flask_login import current_user

from server import db
from server.auth.models import User
from server.auth.permissions import may
from server.auth.queries import list_users


def me() -> User:
    """The signed-in user (pages only run behind ``@requires``)."""
    user: User = current_user._get_current_object()
    return user


def active_users() -> list[User]:
    """Every active account, by user name."""
    users = cast(list[User], db.session().scalars(list_users()).all())
    return [u for u in users if u.is_active]


def can(action: str) -> bool:
    """Whether the signed-in user may do ``action`` (templates: ``can("case.decide")``)."""
    return bool(current_user.is_authenticated) and may(me(), action)
