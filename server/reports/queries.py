"""Every report query, named for what it returns."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.auth.models import User
from server.blobs.models import Blob
from server.cases.models import CaseReportCount
from server.xforms.models import FormAttachment, XForm


def list_report_counts(
    session: Session, first: date, last: date, caseworker_ids: Sequence[int]
) -> list[tuple[int, str, str, int]]:
    """(caseworker id, dimension, value, cases) summed over the months ``first`` to
    ``last`` (first days) for these caseworker keys (0: unassigned cases). The rows are read
    in the table's own order (caseworker, dimension, value, month), so the sums come out
    grouped with no sort; the months out of range are passed over as they are read."""
    if not caseworker_ids:
        return []
    stmt = (
        select(
            CaseReportCount.caseworker_id,
            CaseReportCount.dimension,
            CaseReportCount.value,
            func.sum(CaseReportCount.n),
        )
        .where(
            CaseReportCount.caseworker_id.in_(sorted(set(caseworker_ids))),
            CaseReportCount.month >= first,
            CaseReportCount.month <= last,
        )
        .group_by(CaseReportCount.caseworker_id, CaseReportCount.dimension, CaseReportCount.value)
    )
    rows = session.connection().execute(stmt)  # Core rows: thousands of them
    return [(int(cw), dim, value, int(n)) for cw, dim, value, n in rows if n]


def list_user_teams(session: Session) -> dict[int, str | None]:
    """user id -> team, for every account (a case's caseworker may be inactive now)."""
    return {row[0]: row[1] for row in session.execute(select(User.id, User.team))}


def get_current_media(session: Session, name: str) -> tuple[str, bytes] | None:
    """(SHA-256, bytes) of the media file ``name`` of an open form's current version (the
    newest such version when several forms carry one)."""
    stmt = (
        select(Blob.sha256, Blob.content)
        .select_from(FormAttachment)
        .join(XForm, XForm.current_version_id == FormAttachment.version_id)
        .join(Blob, Blob.sha256 == FormAttachment.blob_sha256)
        .where(XForm.state == "open", FormAttachment.name == name)
        .order_by(FormAttachment.version_id.desc())
        .limit(1)
    )
    row: Any = session.execute(stmt).first()
    return (row[0], bytes(row[1])) if row is not None else None
