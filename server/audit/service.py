from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from server import db
from server.audit.models import AuditEvent
from server.auth.models import User


def record(
    session: Session,
    actor: User | None,
    action: str,
    *,
    target_type: str = "",
    target: str = "",
    details: dict[str, Any] | None = None,
    ip: str | None = None,
) -> AuditEvent:
    """Append one entry to the audit log (flush only: it commits with the request).

    A request that has only read (a case shown, a submission viewed) writes it in a write
    transaction, so that the entry waits for SQLite's write lock instead of failing on a
    stale read.
    """
    event = AuditEvent(
        actor_id=actor.id if actor is not None else None,
        actor=actor.username if actor is not None else "",
        action=action,
        target_type=target_type,
        # the target may be what a caller typed (a user name at sign-in): keep what a column
        # can hold, since PostgreSQL refuses NUL in text and enforces the length
        target=target.replace("\x00", "")[:255],
        details=details or {},
        ip=ip,
    )
    with db.write_transaction(session):
        session.add(event)
    return event
