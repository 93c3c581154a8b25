"""The one rule for which cases a user may see, read, decide on or export
(:func:`case_scope_clause`), and what a user's phone carries (:func:`device_scope_clause`).
Every query that shows cases to a person, a phone or an export goes through it.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, and_, false, or_, select, true
from sqlalchemy import case as sql_case
from sqlalchemy.orm import Session

from server.auth.models import User
from server.auth.permissions import may
from server.cases.models import Case


def case_scope_clause(user: User) -> ColumnElement[bool]:
    """The one rule for which cases a user may see, read or export."""
    if may(user, "case.read_all"):
        return true()
    if may(user, "case.read_team"):
        team_members = select(User.id).where(User.team == user.team, User.team.is_not(None))
        return or_(Case.caseworker_id.in_(team_members), Case.caseworker_id.is_(None))
    if may(user, "case.read_own"):
        return Case.caseworker_id == user.id
    return false()


def approval_scope_clause(user: User) -> ColumnElement[bool]:
    """The cases whose waiting closure or plan the user decides (``case.approve``): an
    admin's, every case; a supervisor's, their team's cases, and of the cases no one holds
    (which every supervisor sees) only those whose approval was asked by a member of their
    team. An unassigned case sent by someone of no team is an admin's to decide."""
    if may(user, "case.read_all"):
        return true()
    if may(user, "case.read_team") and user.team is not None:
        team_members = select(User.id).where(User.team == user.team)
        team_names = select(User.username).where(User.team == user.team)
        return or_(
            Case.caseworker_id.in_(team_members),
            and_(Case.caseworker_id.is_(None), Case.approval_requested_by.in_(team_names)),
        )
    return false()


def may_decide_approval(session: Session, user: User, case_id: int) -> bool:
    """Whether the case is in the user's :func:`approval_scope_clause`."""
    stmt = select(Case.id).where(Case.id == case_id, approval_scope_clause(user))
    return session.scalar(stmt) is not None


def is_case_visible(session: Session, user: User, case_id: int) -> bool:
    stmt = select(Case.id).where(Case.id == case_id, case_scope_clause(user))
    return session.scalar(stmt) is not None


def get_usernames_seeing_case(session: Session, users: Sequence[User], case_id: int) -> set[str]:
    """Which of these users may see the case, by :func:`case_scope_clause` (one query)."""
    if not users:
        return set()
    seen = [sql_case((case_scope_clause(u), true()), else_=false()) for u in users]
    row = session.execute(select(*seen).where(Case.id == case_id)).first()
    if row is None:
        return set()
    return {u.username for u, sees in zip(users, row, strict=True) if sees}


def device_scope_clause(user: User) -> ColumnElement[bool]:
    """Devices carry only what their user works on: a supervisor's phone gets the team's
    cases (not the unassigned ones), an admin's every case."""
    if may(user, "case.read_team"):
        team_members = select(User.id).where(User.team == user.team, User.team.is_not(None))
        return Case.caseworker_id.in_(team_members)
    return case_scope_clause(user)
