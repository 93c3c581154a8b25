"""Downloads of exports: checked, recorded in the audit log, then streamed.

The export runs in a thread writing into a pipe, with its own database session, so the
first bytes leave at once and memory stays flat whatever the size.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from exports import ExportOptionError, ExportOptions, export_cases, export_form
from server.audit import service as audit
from server.audit.models import AuditEvent
from server.auth.models import User
from server.auth.queries import list_team_members
from server.errors import AppError
from server.xforms.queries import get_xform

log = logging.getLogger(__name__)

EXPORT_ROLES = ("admin", "supervisor")
# A supervisor's form export holds only the submissions of their team (and their own).
FORM_EXPORT_ROLES = EXPORT_ROLES
CHUNK = 256 * 1024
CONTENT_TYPES = {
    "csv": ("application/zip", "csv.zip"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    "media": ("application/zip", "media.zip"),
    "geojson": ("application/geo+json", "geojson"),
}


@dataclass(frozen=True)
class ExportRequest:
    kind: str  # "form" | "cases"
    fmt: str
    options: ExportOptions
    form_id: str | None = None

    @property
    def filename(self) -> str:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
        base = re.sub(r"[^A-Za-z0-9_.-]", "_", self.form_id or "cases")
        return f"{base}-{stamp}.{CONTENT_TYPES[self.fmt][1]}"

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.fmt][0]


def _check_role(
    actor: User, include_sensitive: bool, roles: tuple[str, ...] = EXPORT_ROLES
) -> None:
    if actor.role not in roles:
        raise AppError("auth.forbidden", "Your role cannot make this export.")
    if include_sensitive and actor.role != "admin":
        raise AppError("auth.forbidden", "Only an admin can include sensitive fields.")


def last_export_at(session: Session, actor: User, form_id: str) -> datetime | None:
    return session.scalar(
        select(AuditEvent.at)
        .where(
            AuditEvent.action == "export.form",
            AuditEvent.actor_id == actor.id,
            AuditEvent.target == form_id,
        )
        .order_by(AuditEvent.at.desc())
        .limit(1)
    )


def prepare_form_export(
    session: Session, actor: User, form_id: str, args: dict[str, Any], ip: str | None = None
) -> ExportRequest:
    """Check and record a form export; ``args`` as loaded by FormExportArgs."""
    _check_role(actor, args.get("include_sensitive", False), FORM_EXPORT_ROLES)
    if get_xform(session, form_id) is None:
        raise AppError("xform.not_found")
    received_from = args.get("received_from")
    if args.get("since_last_export"):
        received_from = last_export_at(session, actor, form_id) or received_from
    submitter_ids = None
    if actor.role == "supervisor":
        team = list_team_members(session, actor.team) if actor.team else []
        submitter_ids = frozenset({actor.id, *(member.id for member in team)})
    try:
        options = ExportOptions(
            labels=args.get("labels", False),
            language=args.get("language"),
            group_paths=args.get("group_paths", True),
            split_select_multiple=args.get("split_select_multiple", False),
            include_sensitive=args.get("include_sensitive", False),
            received_from=received_from,
            received_before=args.get("received_before"),
            submitter_ids=submitter_ids,
        )
    except ExportOptionError as exc:
        raise AppError("export.bad_option", str(exc)) from exc
    request = ExportRequest("form", args.get("format", "csv"), options, form_id)
    audit.record(
        session,
        actor,
        "export.form",
        target_type="form",
        target=form_id,
        details={"format": request.fmt, **options.describe()},
        ip=ip,
    )
    return request


def prepare_case_export(
    session: Session, actor: User, args: dict[str, Any], ip: str | None = None
) -> ExportRequest:
    _check_role(actor, args.get("include_sensitive", False))
    options = ExportOptions(include_sensitive=args.get("include_sensitive", False))
    request = ExportRequest("cases", args.get("format", "csv"), options)
    audit.record(
        session,
        actor,
        "export.cases",
        target_type="cases",
        target=f"team:{actor.team}" if actor.role == "supervisor" else "all",
        details={"format": request.fmt, **options.describe()},
        ip=ip,
    )
    return request


def run_export(
    session: Session, request: ExportRequest, fh: Any, scope_user: User | None, progress: Any = None
) -> Any:
    if request.kind == "form":
        assert request.form_id is not None
        return export_form(session, request.form_id, request.fmt, fh, request.options, progress)
    return export_cases(session, request.fmt, fh, request.options, scope_user, progress)


def stream(engine: Engine, request: ExportRequest, actor: User) -> Iterator[bytes]:
    """Yield the export's bytes as they are written (a thread fills a pipe)."""
    read_fd, write_fd = os.pipe()
    scope = actor if actor.role == "supervisor" else None
    failure: list[BaseException] = []

    def produce() -> None:
        factory = sessionmaker(bind=engine, expire_on_commit=False)
        try:
            with os.fdopen(write_fd, "wb", buffering=CHUNK) as out, factory() as session:
                run_export(session, request, out, scope)
        except BrokenPipeError:
            log.info("export download abandoned by the client")
        except BaseException as exc:  # reported after the stream ends
            log.exception("export failed")
            failure.append(exc)

    worker = threading.Thread(target=produce, name="export", daemon=True)
    worker.start()
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        while chunk := pipe.read(CHUNK):
            yield chunk
    worker.join()
    if failure:
        raise RuntimeError("the export stopped before the end") from failure[0]
