"""Who may do what: the one table of actions and the roles allowed each.

Handlers and services ask by action name, never by a tuple of roles:

- :func:`require` raises the catalogue's ``auth.forbidden`` when the user may not;
- :func:`may` answers yes or no (templates, services choosing what to show);
- :func:`requires` is the one decorator for routes of every edge (pages, the JSON API and
  the device protocol); it marks the view with its action (``view.required_action``), which
  ``tests/security/test_permission_table.py`` checks for every route. A refusal
  is an ``AppError`` that each edge writes in its own format (page, JSON, OpenRosa XML).

Which cases or submissions a user then sees is the scope rule's business
(``cases.scope``, ``submissions.scope``); they ask this table which roles see everything
(``*.read_all``), their team's (``*.read_team``) or their own (``case.read_own``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from flask import current_app
from flask_login import current_user

from server.auth.models import User
from server.errors import AppError

ADMIN = "admin"
SUPERVISOR = "supervisor"
CASEWORKER = "caseworker"
DESIGNER = "designer"
ROLES = (ADMIN, SUPERVISOR, CASEWORKER, DESIGNER)

_EVERYONE = frozenset(ROLES)
_CASE_PEOPLE = frozenset({ADMIN, SUPERVISOR, CASEWORKER})
_SUPERVISORS = frozenset({ADMIN, SUPERVISOR})
_FORM_PEOPLE = frozenset({ADMIN, SUPERVISOR, DESIGNER})
_FORM_WRITERS = frozenset({ADMIN, DESIGNER})
_ADMINS = frozenset({ADMIN})

# action -> the roles allowed it. Keep it in the order the matrix prints.
PERMISSIONS: Mapping[str, frozenset[str]] = {
    # one's own account: the front page, language, time zone and password
    "account.own": _EVERYONE,
    "dashboard.read": _CASE_PEOPLE,  # a caseworker's own worklist, a team's, every case
    # cases: read within scope; the scope's reach
    "case.read": _CASE_PEOPLE,
    "case.read_all": _ADMINS,
    "case.read_team": frozenset({SUPERVISOR}),  # the team's cases, and the unassigned ones
    "case.read_own": frozenset({CASEWORKER}),  # the cases they hold
    # who may be named a case's caseworker, or be given a case
    "case.hold": frozenset({CASEWORKER, SUPERVISOR}),
    # whom a submission's caseworker answer, or a reassignment, may name: anyone, a
    # teammate, or (a registration only) oneself or a teammate
    "case.assign_any": _ADMINS,
    "case.assign_team": frozenset({SUPERVISOR}),
    "case.assign_at_registration": frozenset({CASEWORKER}),
    # supervisor decisions: reassign, resolve a conflict, the unlinked and duplicate queues
    "case.decide": _SUPERVISORS,
    "case.close": _SUPERVISORS,  # close and reopen
    # approve, or return with a comment, a closure or high-risk plan sent from a phone
    # (never the sender's own: ``cases.decisions.decide_approval``)
    "case.approve": _SUPERVISORS,
    # ask for a transfer of a case in scope to another caseworker, team or outside agency;
    # accept or decline one (the receiving team's supervisor: ``cases.transfer_decisions``)
    "case.transfer": _SUPERVISORS,
    "case.transfer_accept": _SUPERVISORS,
    # update a referral's state on the web, for a provider who phoned back
    # (``cases.referral_decisions``)
    "referral.update": _SUPERVISORS,
    "queue.read": _SUPERVISORS,
    # submissions (form data) through the API, within the submissions scope
    "submission.read": _SUPERVISORS,
    "submission.read_all": _ADMINS,
    "submission.read_team": frozenset({SUPERVISOR}),  # their own and their team's
    # answers marked casework:sensitive, on screen, for whoever may see the case
    "submission.read_sensitive": _CASE_PEOPLE,
    # the device protocol: the form list, forms, media and lists (only one's own cases are
    # in them), and the probe before a submission
    "form.download": _EVERYONE,
    "submission.send": _CASE_PEOPLE,
    "device.hold": _CASE_PEOPLE,  # a phone may be registered for them
    "form.read": _FORM_PEOPLE,
    "form.publish": _FORM_WRITERS,  # preview, publish, open/close, media
    "service.read": _CASE_PEOPLE,
    "service.edit": _SUPERVISORS,
    "export.form": _SUPERVISORS,
    "export.cases": _SUPERVISORS,
    "export.sensitive": _SUPERVISORS,  # with a reason
    "report.read": _SUPERVISORS,
    "report.read_all": _ADMINS,  # any team's, or all; a supervisor: their team's only
    "user.manage": _ADMINS,  # users, teams, devices, sign-in lock-outs
    "audit.read": _ADMINS,
}

# What a refused caller is told, where the catalogue's words say too little.
REFUSALS: Mapping[str, str] = {
    "submission.send": "Only caseworkers, supervisors and admins can send forms.",
    "submission.read": "Your role cannot read submissions.",
    "export.form": "Your role cannot make this export.",
    "export.cases": "Your role cannot make this export.",
    "export.sensitive": "Only an admin or a supervisor can include sensitive fields.",
}


def roles_for(action: str) -> frozenset[str]:
    """The roles allowed ``action``; a name not in the table is a programming error."""
    try:
        return PERMISSIONS[action]
    except KeyError:
        raise ValueError(f"unknown action {action!r}: add it to PERMISSIONS") from None


def role_may(role: str | None, action: str) -> bool:
    return role in roles_for(action)


def may(user: User | None, action: str) -> bool:
    """Whether ``user`` may do ``action`` (no user: no)."""
    return role_may(user.role if user is not None else None, action)


def require(user: User | None, action: str) -> None:
    """Raise the catalogue's ``auth.forbidden`` unless ``user`` may do ``action``."""
    if not may(user, action):
        raise AppError("auth.forbidden", REFUSALS.get(action))


F = TypeVar("F", bound=Callable[..., Any])
# Who calls this route, from the view's arguments: the user, or an answer to return instead
# (a sign-in redirect). Raises the edge's own error when nobody is signed in.
Who = Callable[[dict[str, Any]], Any]


def signed_in_user(_view_args: dict[str, Any]) -> User | Any:
    """The caller of a page or of the API: the session's user or the bearer token's; signed
    out: flask-login's answer (the sign-in page, or ``auth.required`` on ``/api``)."""
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]
    user: User = current_user._get_current_object()
    return user


def requires(action: str, *, who: Who = signed_in_user) -> Callable[[F], F]:
    """The route needs ``action``: the caller (``who``) is authenticated, then asked the
    table. The view carries its action as ``required_action``."""
    roles_for(action)  # an unknown name fails at import, not at the first request

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            user = who(kwargs)
            if not isinstance(user, User):
                return user
            require(user, action)
            return view(*args, **kwargs)

        wrapper.required_action = action  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorator


def matrix() -> str:
    """The table as text, one action a line and a column per role."""
    width = max(map(len, PERMISSIONS))
    head = " ".join(f"{r:^10}" for r in ROLES)
    lines = [f"{'action':<{width}}  {head}"]
    for action, roles in PERMISSIONS.items():
        marks = " ".join(f"{'x' if r in roles else '.':^10}" for r in ROLES)
        lines.append(f"{action:<{width}}  {marks}")
    return "\n".join(lines)
