"""The one rule for whose submissions (form data) a user may read and act on
(:func:`scope_submitters`), and the checks built on it. Every list of submissions, the
queues and form exports go through it.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, and_, false, or_, select, true
from sqlalchemy.orm import Session

from server.auth.models import User
from server.auth.permissions import may
from server.submissions.models import Submission


def scope_submitters(user: User) -> Select[int] | None:
    """The one rule for whose submissions (form data) a user may read and act on, as the
    ids of those submitters: ``None`` for an admin (everyone's); a supervisor: their own and
    their team members' (active or not); anyone else: nobody's. A submission without a
    submitter is an admin's alone."""
    if may(user, "submission.read_all"):
        return None
    if may(user, "submission.read_team"):
        in_team = and_(User.team == user.team, User.team.is_not(None))
        return select(User.id).where(or_(User.id == user.id, in_team))
    return select(User.id).where(false())


def submission_scope_clause(user: User) -> ColumnElement[bool]:
    """:func:`scope_submitters` as a condition on ``Submission`` rows."""
    submitters = scope_submitters(user)
    return true() if submitters is None else Submission.submitter_id.in_(submitters)


def get_scope_submitter_ids(session: Session, user: User) -> frozenset[int] | None:
    """:func:`scope_submitters` as a set of user ids (``None``: everyone's), for a form
    export's ``submitter_ids``."""
    submitters = scope_submitters(user)
    return None if submitters is None else frozenset(session.scalars(submitters))


def get_visible_submission_ids(session: Session, user: User, submission_ids: set[int]) -> set[int]:
    """Which of these submissions the user may read and act on."""
    if not submission_ids:
        return set()
    stmt = select(Submission.id).where(
        Submission.id.in_(sorted(submission_ids)), submission_scope_clause(user)
    )
    return set(session.scalars(stmt))


def get_visible_by_instance_id(session: Session, user: User, instance_id: str) -> Submission | None:
    """The submission with this instance id, if the user may read it."""
    return session.scalar(
        select(Submission).where(
            Submission.instance_id == instance_id, submission_scope_clause(user)
        )
    )
