"""/api/v1/cases: case records, follow-ups, the supervisor's queues and decisions."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

from flask import Response, current_app, jsonify, request

from server import db, paging
from server.api.args import caller, use_schema
from server.api.bp import bp
from server.audit import service as audit
from server.auth.permissions import requires
from server.cases import case_file, decisions, preview, queries, transfer_decisions
from server.cases.schemas import (
    ApprovalArgs,
    CaseDetailSchema,
    CaseListItemSchema,
    CaseQueryArgs,
    CloseArgs,
    DuplicateArgs,
    FollowupArgs,
    LinkArgs,
    MergePreviewArgs,
    QueueArgs,
    ReassignArgs,
    ResolveConflictArgs,
    TransferAcceptArgs,
    TransferArgs,
    TransferDeclineArgs,
    case_list_kwargs,
    case_rows,
)
from server.cases.settings import case_settings
from server.errors import AppError
from server.timeutil import utcnow


def _page_json(page: Any, items: list[Any]) -> dict[str, Any]:
    return {
        "total": page.total,  # at most paging.COUNT_CAP; "total_capped": there are more
        "total_capped": page.total_capped,
        "page": page.page,
        "per_page": page.per_page,
        "items": items,
    }


def _cursor_url(cursor: str | None) -> str | None:
    """This list's address at ``cursor`` (its filters kept, ``page`` dropped)."""
    if cursor is None:
        return None
    args = {k: v for k, v in request.args.to_dict().items() if k not in ("page", "cursor")}
    return f"{request.base_url}?{urlencode({**args, 'cursor': cursor})}"


def _keyset_json(page: paging.KeysetPage, items: list[Any]) -> dict[str, Any]:
    """A keyset page: the numbered fields as before, and the cursors (and addresses) of
    the pages after and before it."""
    return {
        **_page_json(page, items),
        "next_cursor": page.next_cursor,
        "previous_cursor": page.previous_cursor,
        "next": _cursor_url(page.next_cursor),
        "previous": _cursor_url(page.previous_cursor),
    }


@bp.get("/cases")
@requires("case.read")
def list_cases() -> Response:
    args = CaseQueryArgs().load(request.args.to_dict())
    session = db.session()
    stmt = queries.list_cases(caller(), **case_list_kwargs(args, utcnow().date()))
    page = queries.paginate_cases(
        session, stmt, args["cursor"], args["per_page"], page=args["page"]
    )
    audit.record(
        session,
        caller(),
        "case.list",
        target_type="cases",
        details={
            k: v.isoformat() if isinstance(v, date) else v
            for k, v in args.items()
            if v not in (None, False)
        },
        ip=request.remote_addr,
    )
    return jsonify(_keyset_json(page, CaseListItemSchema(many=True).dump(case_rows(page.items))))


@bp.get("/cases/<path:case_ref>")
@requires("case.read")
def get_case(case_ref: str) -> Response:
    session = db.session()
    detail = case_file.get_case_detail(session, case_ref, caller())
    audit.record(
        session,
        caller(),
        "case.view",
        target_type="case",
        target=detail.case.case_ref,
        details=_sensitive_read(detail),
        ip=request.remote_addr,
    )
    return jsonify(CaseDetailSchema().dump(detail))


@bp.get("/cases/<path:case_ref>/history")
@requires("case.read")
def get_case_history(case_ref: str) -> Response:
    session = db.session()
    found = case_file.get_case_detail(session, case_ref, caller())
    detail = CaseDetailSchema(only=("case_ref", "timeline", "actions", "provenance")).dump(found)
    audit.record(
        session,
        caller(),
        "case.history",
        target_type="case",
        target=detail["case_ref"],
        details=_sensitive_read(found),
        ip=request.remote_addr,
    )
    return jsonify(detail)


def _sensitive_read(detail: case_file.CaseDetail) -> dict[str, Any] | None:
    """The audit details of a case read: the sensitive fields it showed (if any)."""
    return {"sensitive": list(detail.sensitive_read)} if detail.sensitive_read else None


@bp.get("/followups")
@requires("case.read")
@use_schema(FollowupArgs)
def list_followups(horizon_days: int, page: int, per_page: int) -> Response:
    session = db.session()
    stmt = queries.list_due_followups(caller(), utcnow().date(), horizon_days)
    result = paging.paginate(session, stmt, page, per_page)
    items = [
        {
            "case_ref": c.case_ref,
            "next_contact_due": c.next_contact_due.isoformat() if c.next_contact_due else None,
            "risk_level": c.risk_level,
            "status": c.status,
        }
        for c in result.items
    ]
    return jsonify(_page_json(result, items))


def _queue_json(rows: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "instance_id": sub.instance_id,
            "case_ref": contribution.case_ref,
            "form_id": contribution.form_id,
            "entity_id": contribution.entity_id,
            "is_registration": contribution.is_registration,
            "event_at": contribution.event_at.isoformat(),
            "received_at": sub.received_at.isoformat(),
            "submitter": submitter,
            "state": contribution.state,
            "hold_reason": contribution.hold_reason,  # why it waits for a supervisor, if held
        }
        for contribution, sub, submitter in rows
    ]


def _queue_response(stmt: Any, cursor: str | None, page: int, per_page: int) -> Response:
    """One page of a queue, as the list it always was; the count and the pages after and
    before it in headers (``X-Total-Count``, ``Link: <…?cursor=…>; rel="next"``, and
    ``rel="prev"``)."""
    result = paging.paginate_keyset(
        db.session(), stmt, queries.QUEUE_KEY, cursor, per_page, page=page
    )
    response = jsonify(_queue_json(result.items))
    response.headers["X-Total-Count"] = str(result.total) + ("+" if result.total_capped else "")
    links = [
        f'<{url}>; rel="{rel}"'
        for rel, url in (
            ("next", _cursor_url(result.next_cursor)),
            ("prev", _cursor_url(result.previous_cursor)),
        )
        if url
    ]
    if links:
        response.headers["Link"] = ", ".join(links)
    return response


@bp.get("/queues/unlinked")
@requires("queue.read")
@use_schema(QueueArgs)
def unlinked_queue(cursor: str | None, page: int, per_page: int) -> Response:
    return _queue_response(queries.list_unlinked(caller()), cursor, page, per_page)


@bp.get("/queues/duplicates")
@requires("queue.read")
@use_schema(QueueArgs)
def duplicates_queue(cursor: str | None, page: int, per_page: int) -> Response:
    return _queue_response(queries.list_duplicates(caller()), cursor, page, per_page)


def _rebuilt(result: Any) -> Response:
    return jsonify(
        {"case_ref": result.case_ref, "version": result.version, "changed": result.changed}
    )


@bp.post("/cases/<path:case_ref>/reassign")
@requires("case.decide")
@use_schema(ReassignArgs, location="json")
def reassign(case_ref: str, username: str, reason: str) -> Response:
    return _rebuilt(
        decisions.reassign(
            db.session(),
            case_ref,
            username,
            caller(),
            reason=reason,
            settings=case_settings(current_app),
        )
    )


@bp.post("/cases/<path:case_ref>/conflicts/resolve")
@requires("case.decide")
@use_schema(ResolveConflictArgs, location="json")
def resolve_conflict(case_ref: str, conflict_id: int, value: Any) -> Response:
    return _rebuilt(
        decisions.resolve_conflict(
            db.session(),
            case_ref,
            conflict_id,
            value,
            caller(),
            settings=case_settings(current_app),
        )
    )


@bp.post("/cases/<path:case_ref>/close")
@requires("case.close")
@use_schema(CloseArgs, location="json")
def close_case(case_ref: str, reason: str) -> Response:
    return _rebuilt(
        decisions.close_case(
            db.session(), case_ref, caller(), reason=reason, settings=case_settings(current_app)
        )
    )


@bp.post("/cases/<path:case_ref>/approval")
@requires("case.approve")
@use_schema(ApprovalArgs, location="json")
def decide_approval(case_ref: str, decision: str, instance_id: str, comment: str) -> Response:
    """Approve, or return with a comment, the closure or plan waiting on the case."""
    return _rebuilt(
        decisions.decide_approval(
            db.session(),
            case_ref,
            decision,
            caller(),
            instance_id=instance_id,
            comment=comment,
            settings=case_settings(current_app),
        )
    )


@bp.post("/cases/<path:case_ref>/transfer")
@requires("case.transfer")
@use_schema(TransferArgs, location="json")
def request_transfer(
    case_ref: str, username: str, team: str, agency: str, agency_kind: str, reason: str
) -> Response:
    """Ask for a transfer to a caseworker or team (it waits for the receiving supervisor),
    or hand the case to an outside agency (it closes as transferred)."""
    return _rebuilt(
        transfer_decisions.request_transfer(
            db.session(),
            case_ref,
            caller(),
            reason=reason,
            username=username,
            team=team,
            agency=agency,
            agency_kind=agency_kind,
            settings=case_settings(current_app),
        )
    )


@bp.post("/cases/<path:case_ref>/transfer/accept")
@requires("case.transfer_accept")
@use_schema(TransferAcceptArgs, location="json")
def accept_transfer(case_ref: str, username: str) -> Response:
    return _rebuilt(
        transfer_decisions.decide_transfer(
            db.session(),
            case_ref,
            "accept",
            caller(),
            username=username,
            settings=case_settings(current_app),
        )
    )


@bp.post("/cases/<path:case_ref>/transfer/decline")
@requires("case.transfer_accept")
@use_schema(TransferDeclineArgs, location="json")
def decline_transfer(case_ref: str, reason: str) -> Response:
    return _rebuilt(
        transfer_decisions.decide_transfer(
            db.session(),
            case_ref,
            "decline",
            caller(),
            reason=reason,
            settings=case_settings(current_app),
        )
    )


@bp.post("/cases/<path:case_ref>/transfer/withdraw")
@requires("case.transfer")
@use_schema(TransferDeclineArgs, location="json")
def withdraw_transfer(case_ref: str, reason: str) -> Response:
    """Withdraw a pending transfer: the supervisor who asked for it, or an admin; for a
    conference's, a supervisor of the case's team. A reason is required."""
    return _rebuilt(
        transfer_decisions.withdraw_transfer(
            db.session(),
            case_ref,
            caller(),
            reason=reason,
            settings=case_settings(current_app),
        )
    )


@bp.post("/cases/<path:case_ref>/reopen")
@requires("case.close")
@use_schema(CloseArgs, location="json")
def reopen_case(case_ref: str, reason: str) -> Response:
    return _rebuilt(
        decisions.reopen_case(
            db.session(), case_ref, caller(), reason=reason, settings=case_settings(current_app)
        )
    )


@bp.post("/queues/unlinked/link")
@requires("case.decide")
@use_schema(LinkArgs, location="json")
def link_unlinked(instance_id: str, case_ref: str) -> Response:
    return _rebuilt(
        decisions.link_unlinked(
            db.session(), instance_id, case_ref, caller(), settings=case_settings(current_app)
        )
    )


@bp.post("/queues/duplicates/preview")
@requires("case.decide")
@use_schema(MergePreviewArgs, location="json")
def preview_merge(instance_id: str) -> Response:
    """What merging this duplicate would change on its case; nothing is changed."""
    shown = preview.preview_merge(
        db.session(), instance_id, caller(), settings=case_settings(current_app)
    )
    return jsonify(shown.to_json())


@bp.post("/queues/duplicates/resolve")
@requires("case.decide")
@use_schema(DuplicateArgs, location="json")
def resolve_duplicate(
    instance_id: str, action: str, new_case_ref: str | None, reason: str | None
) -> Response:
    session, settings = db.session(), case_settings(current_app)
    if action == "merge":  # the schema requires the reason for a merge
        return _rebuilt(
            decisions.merge_duplicate(
                session, instance_id, caller(), reason=reason or "", settings=settings
            )
        )
    if new_case_ref is None:  # the schema requires it for register_new
        raise AppError("request.invalid", "Give the new case's reference number.")
    return _rebuilt(
        decisions.register_duplicate_as_new(
            session, instance_id, new_case_ref, caller(), settings=settings
        )
    )
