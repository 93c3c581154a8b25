from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.blobs.models import Blob


def get_blob(session: Session, sha256: str) -> Blob | None:
    return session.get(Blob, sha256)


def existing_hashes(session: Session, hashes: set[str]) -> set[str]:
    if not hashes:
        return set()
    rows = session.execute(select(Blob.sha256).where(Blob.sha256.in_(hashes)))
    return {r[0] for r in rows}
