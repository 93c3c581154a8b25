from __future__ import annotations

import hashlib

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from server.blobs.models import Blob
from server.timeutil import utcnow


def store(session: Session, content: bytes) -> str:
    """Store bytes once and return their SHA-256 (hex).

    An insert that ignores an existing row, so two requests storing the same photo at the same
    moment both succeed instead of one failing on the primary key.
    """
    digest = hashlib.sha256(content).hexdigest()
    values = {"sha256": digest, "size": len(content), "content": content, "created_at": utcnow()}
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(Blob).values(**values).on_conflict_do_nothing(index_elements=["sha256"]))
    return digest
