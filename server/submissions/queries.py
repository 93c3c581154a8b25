from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Select,
    Table,
    bindparam,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from server.auth.models import User
from server.submissions.models import ProcessingState, Submission, SubmissionAttachment
from server.submissions.parse import DataNode
from server.submissions.scope import submission_scope_clause


def get_by_instance_id(session: Session, instance_id: str) -> Submission | None:
    if "\x00" in instance_id:  # names nothing, and PostgreSQL refuses NUL in a text parameter
        return None
    return session.scalar(select(Submission).where(Submission.instance_id == instance_id))


def get_by_instance_id_for_update(session: Session, instance_id: str) -> Submission | None:
    return session.scalar(
        select(Submission).where(Submission.instance_id == instance_id).with_for_update()
    )


# --- lists ---------------------------------------------------------------------------------


def list_for_form(
    xform_id: int,
    viewer: User,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    submitter: str | None = None,
) -> Select[Submission]:
    """Current versions of a form's submissions that ``viewer`` may read, newest first."""
    query = select(Submission).where(
        Submission.xform_id == xform_id,
        Submission.is_current.is_(True),
        submission_scope_clause(viewer),
    )
    if since is not None:
        query = query.where(Submission.received_at >= since)
    if until is not None:
        query = query.where(Submission.received_at < until)
    if submitter:
        query = query.join(User, Submission.submitter_id == User.id).where(
            User.username == submitter
        )
    return query.order_by(Submission.received_at.desc(), Submission.id.desc())


def count(session: Session, query: Select[Submission]) -> int:
    return session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0


def edit_history(session: Session, root_instance_id: str, viewer: User) -> list[Submission]:
    """Every version of one record that ``viewer`` may read, oldest first."""
    return list(
        session.scalars(
            select(Submission)
            .where(Submission.root_instance_id == root_instance_id, submission_scope_clause(viewer))
            .order_by(Submission.received_at, Submission.id)
        )
    )


def attachments_for(session: Session, submission_id: int) -> list[SubmissionAttachment]:
    return list(
        session.scalars(
            select(SubmissionAttachment)
            .where(SubmissionAttachment.submission_id == submission_id)
            .order_by(SubmissionAttachment.name)
        )
    )


def list_submissions_by_id(session: Session, ids: Sequence[int]) -> list[Submission]:
    """These submissions, in the order of ``ids``."""
    found = {s.id: s for s in session.scalars(select(Submission).where(Submission.id.in_(ids)))}
    return [found[i] for i in ids if i in found]


def list_answers(
    session: Session, ids: Sequence[int], instance_ids: Sequence[str] = ()
) -> dict[str, DataNode]:
    """The answers of the submissions ``ids`` and of those named by ``instance_ids`` (the
    versions an edit replaced), by instance ID, in one query: as parsed from their stored
    XML when they arrived (``parse.parse_envelope(xml).data``), not the XML again."""
    if not ids and not instance_ids:
        return {}
    stmt = select(Submission.instance_id, Submission.data).where(
        or_(Submission.id.in_(ids), Submission.instance_id.in_(instance_ids))
    )
    return {str(i): data for i, data in session.execute(stmt) if data}


def list_submissions_to_reprocess(
    session: Session,
    instance_id: str | None = None,
    states: Sequence[str] = (ProcessingState.FAILED,),
) -> list[Submission]:
    """One submission by instance id, or every submission in one of ``states``, oldest
    first."""
    if instance_id is not None:
        stmt = select(Submission).where(Submission.instance_id == instance_id)
    else:
        stmt = (
            select(Submission)
            .where(Submission.processing_state.in_(states))
            .order_by(Submission.received_at, Submission.id)
        )
    return list(session.scalars(stmt))


# --- the receipt hot path: Core statements on the session's connection, no unit of work ----


_SUBMISSION = cast(Table, Submission.__table__)
_INSERT_NEW = {
    name: dialect.insert(_SUBMISSION)
    .on_conflict_do_nothing(index_elements=["instance_id"])
    .returning(_SUBMISSION.c.id)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
_SET_PROCESSING = (
    update(_SUBMISSION)
    .where(_SUBMISSION.c.id == bindparam("_id"))
    .values(processing_state=bindparam("state"), processing_error=bindparam("error"))
)


def insert_new_submission(session: Session, values: dict[str, Any]) -> int | None:
    """Insert a submission unless its instance id is already stored; its id, or ``None``
    when a row with that instance id exists (a resend, or a race another request won)."""
    stmt = _INSERT_NEW[session.get_bind().dialect.name]
    return session.connection().execute(stmt, values).scalar()


def insert_attachments(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.connection().execute(insert(cast(Table, SubmissionAttachment.__table__)), rows)


def lock_processing_state(
    session: Session, submission_id: int, *, skip_locked: bool = False
) -> str | None:
    """The submission's processing state, its row locked until the transaction ends, so that
    one transaction at a time merges a submission: whoever gets the lock second sees the
    state the first one committed. PostgreSQL: ``FOR NO KEY UPDATE`` (rows that refer to
    the submission can still be inserted); SQLite: the database's write lock, which the
    caller's ``db.write_transaction`` holds already.

    Taken before any case lock (see ``cases.queries.lock_case_ref``). ``skip_locked``:
    ``None`` at once when another transaction holds the row (it is merging it right now);
    also ``None`` for an unknown id.
    """
    stmt = (
        select(Submission.processing_state)
        .where(Submission.id == submission_id)
        .with_for_update(key_share=True, skip_locked=skip_locked)
    )
    return session.execute(stmt).scalar()


def set_processing_state(
    session: Session, submission_id: int, state: str, error: str | None = None
) -> None:
    session.connection().execute(
        _SET_PROCESSING, {"_id": submission_id, "state": state, "error": error}
    )
