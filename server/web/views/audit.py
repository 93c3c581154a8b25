"""The audit log (admin): who saw, changed or exported what, and when."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from flask import abort, render_template, request
from flask_babel import get_locale

from server import db
from server.audit import queries
from server.audit.models import AuditEvent
from server.auth.permissions import requires
from server.bounds import MAX_PAGE
from server.cases.case_forms import read_current_labels
from server.errors import AppError
from server.paging import paginate_keyset
from server.web.audit_text import action_label, audit_details, question_namer, target_label
from server.web.bp import bp

PER_PAGE = 100


def _day(name: str) -> datetime | None:
    value = request.args.get(name, "").strip()
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        abort(400)
    if day.year > 9998:  # the "until" day's end must still be a date
        abort(400)
    return datetime.combine(day, time(), UTC)


@bp.get("/audit")
@requires("audit.read")
def audit_log() -> str:
    args = {
        k: request.args.get(k, "").strip() for k in ("actor", "action", "target", "since", "until")
    }
    until = _day("until")
    stmt = queries.list_events(
        actor=args["actor"] or None,
        action=args["action"] or None,
        target=args["target"] or None,
        since=_day("since"),
        until=until + timedelta(days=1) if until else None,  # the whole "until" day
    )
    try:
        page_no = int(request.args.get("page", "1"))  # the older numbered pages
    except ValueError:
        abort(400)
    if not 1 <= page_no <= MAX_PAGE:
        abort(400)
    cursor = request.args.get("cursor", "").strip() or None
    try:
        page = paginate_keyset(db.session(), stmt, AuditEvent.id, cursor, PER_PAGE, page=page_no)
    except AppError:  # a cursor garbled
        abort(400)
    locale = get_locale()
    question = question_namer(read_current_labels(db.session(), str(locale) if locale else None))
    return render_template(
        "web/audit.html",
        page=page,
        args={k: v for k, v in args.items() if v},
        action_label=action_label,
        audit_details=lambda details: audit_details(details, question),
        target_label=target_label,
    )
