"""Who may open which page: signed in, and holding one of the page's roles."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import abort
from flask_login import current_user

from server.auth import login_manager
from server.auth.models import User

F = TypeVar("F", bound=Callable[..., Any])

SUPERVISORS = ("admin", "supervisor")
CASE_READERS = ("admin", "supervisor", "caseworker")
FORM_READERS = ("admin", "supervisor", "designer")
FORM_WRITERS = ("admin", "designer")
SERVICE_READERS = ("admin", "supervisor", "caseworker")
SERVICE_WRITERS = ("admin", "supervisor")
ADMINS = ("admin",)


def roles_required(*roles: str) -> Callable[[F], F]:
    """Redirect to the sign-in page when signed out; 403 when the role does not fit."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if roles and current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def me() -> User:
    """The signed-in user (pages only run behind :func:`roles_required`)."""
    user: User = current_user._get_current_object()
    return user


def active_users() -> list[User]:
    """Every active account, by user name."""
    from server import db
    from server.auth.queries import list_users

    users = cast(list[User], db.session().scalars(list_users()).all())
    return [u for u in users if u.is_active]


def can(*roles: str) -> bool:
    return bool(current_user.is_authenticated and current_user.role in roles)
