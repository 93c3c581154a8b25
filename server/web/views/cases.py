"""Cases: the filterable list, the case page and its supervisor actions, the queues."""

from __future__ import annotations

import json
from datetime import date
from typing import Any, cast

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError
from werkzeug.wrappers import Response

from server import db, paging
from server.audit import service as audit
from server.auth import queries as auth_queries
from server.auth.models import User
from server.auth.permissions import may, requires
from server.bounds import parse_id
from server.cases import (
    case_file,
    decisions,
    preview,
    queries,
    scope,
    settings,
    transfer_decisions,
)
from server.cases.case_forms import CaseForms, read_case_forms
from server.cases.lists import CASE_SORTS
from server.cases.models import CaseStatus
from server.cases.schemas import RISK_LEVELS, STATUSES, CaseQueryArgs, case_list_kwargs
from server.cases.settings import case_settings
from server.cases.transfers import PENDING
from server.errors import AppError
from server.web.access import me
from server.web.bp import bp
from server.web.errors import flash_error
from server.web.history import case_history
from server.web.today import today
from server.xforms import queries as xform_queries

QUEUE_PER_PAGE = 50


def _sees_others(user: User) -> bool:
    """Whether the user's case list holds other people's cases (a filter by caseworker)."""
    return may(user, "case.read_all") or may(user, "case.read_team")


def _query_args() -> dict[str, Any]:
    """The list's filters from the query string; empty fields mean "any"."""
    raw = {k: v for k, v in request.args.items() if v.strip()}
    try:
        loaded: dict[str, Any] = CaseQueryArgs().load(raw)
    except ValidationError:
        abort(400)
    return loaded


def assignable_caseworkers(user: User) -> list[str]:
    """Whom the user may make a case's caseworker (``auth.queries.assignable_users_clause``)."""
    return [u.username for u in db.session().scalars(auth_queries.list_assignable_users(user))]


@bp.get("/cases")
@requires("case.read")
def case_list() -> str:
    args = _query_args()
    user = me()
    day = today()
    stmt = queries.list_cases(user, **case_list_kwargs(args, day))
    try:
        page = queries.paginate_cases(
            db.session(), cast(Any, stmt), args["cursor"], args["per_page"], page=args["page"]
        )
    except AppError:  # a cursor garbled, or made for another sort
        abort(400)
    filters = {
        k: v.isoformat() if isinstance(v, date) else v
        for k, v in args.items()
        if k not in ("page", "cursor") and v
        if (k, v) not in (("sort", "due"), ("dir", "asc"), ("per_page", 50))
    }
    return render_template(
        "web/cases/list.html",
        page=page,
        filters=filters,
        statuses=STATUSES,
        risks=RISK_LEVELS,
        sorts=CASE_SORTS,
        caseworkers=assignable_caseworkers(user) if _sees_others(user) else [],
        teams=team_names(user),
        today=day,
    )


def team_names(user: User) -> list[str]:
    """The teams a list may be narrowed to: every team for an admin, their own for a
    supervisor, none for a caseworker (their cases are theirs)."""
    if may(user, "case.read_all"):
        return list(auth_queries.list_team_names(db.session()))
    return [user.team] if may(user, "case.read_team") and user.team else []


def _detail(case_ref: str, *, printing: bool = False) -> tuple[case_file.CaseDetail, CaseForms]:
    """The case as its page shows it, with its forms' words in the user's language; every
    look at a case goes into the audit log (with the sensitive answers it shows)."""
    session = db.session()
    detail = case_file.get_case_detail(session, case_ref, me())
    locale = get_locale()
    forms = read_case_forms(session, detail, str(locale) if locale else None)
    sensitive = [*detail.sensitive_read, *forms.sensitive_read]
    audit.record(
        session,
        me(),
        "case.view",
        target_type="case",
        target=detail.case.case_ref,
        details={
            **({"print": True} if printing else {}),
            **({"sensitive": sensitive} if sensitive else {}),
        }
        or None,
        ip=request.remote_addr,
    )
    return detail, forms


def _page(template: str, detail: case_file.CaseDetail, forms: CaseForms, **extra: Any) -> str:
    user = me()
    return render_template(
        template,
        d=detail,
        f=forms,
        history=case_history(detail, forms),
        today=today(),
        may_read_files=may(user, "submission.read"),
        **extra,
    )


@bp.get("/cases/<path:case_ref>/print")
@requires("case.read")
def case_print(case_ref: str) -> str:
    detail, forms = _detail(case_ref, printing=True)
    return _page("web/cases/print.html", detail, forms)


@bp.get("/cases/<path:case_ref>")
@requires("case.read")
def case_detail(case_ref: str) -> str:
    detail, forms = _detail(case_ref)
    user = me()
    case = detail.case
    return _page(
        "web/cases/detail.html",
        detail,
        forms,
        caseworkers=assignable_caseworkers(user) if may(user, "case.decide") else [],
        as_json=lambda v: json.dumps(v, sort_keys=True),
        may_withdraw_transfer=case.transfer == PENDING
        and transfer_decisions.withdraws(db.session(), user, case),
        may_approve=case.approval == "pending"
        and may(user, "case.approve")
        and scope.may_decide_approval(db.session(), user, case.id),
    )


def _settings() -> settings.CaseSettings:
    """The same case-work settings the submission path merges with."""
    found: settings.CaseSettings = case_settings(current_app)
    return found


def _back(case_ref: str) -> Response:
    return redirect(url_for("web.case_detail", case_ref=case_ref))


def _subject(case_ref: str) -> decisions.DecisionSubject:
    """The case a supervisor is about to decide on, by the decisions' own scope rule."""
    return decisions.get_decision_subject(db.session(), case_ref, me())


def _refused(error: AppError, case_ref: str, confirm: Response) -> Response:
    """After a refused decision: back to its confirmation page when a reason was missing,
    else to the case."""
    flash_error(error)
    return confirm if error.code == "case.reason_required" else _back(case_ref)


@bp.get("/cases/<path:case_ref>/reassign")
@requires("case.decide")
def case_reassign_confirm(case_ref: str) -> str:
    """The second step of a reassignment: whom to, and why."""
    return render_template(
        "web/cases/reassign.html",
        case=_subject(case_ref),
        chosen=request.args.get("username", ""),
        caseworkers=assignable_caseworkers(me()),
    )


@bp.post("/cases/<path:case_ref>/reassign")
@requires("case.decide")
def case_reassign(case_ref: str) -> Response:
    username = request.form.get("username", "").strip()
    try:
        decisions.reassign(
            db.session(),
            case_ref,
            username,
            me(),
            reason=request.form.get("reason", ""),
            settings=_settings(),
        )
    except AppError as error:
        again = url_for("web.case_reassign_confirm", case_ref=case_ref, username=username)
        return _refused(error, case_ref, redirect(again))
    flash(_("The case is now with %(name)s.", name=username), "success")
    return _back(case_ref)


@bp.post("/cases/<path:case_ref>/resolve")
@requires("case.decide")
def case_resolve(case_ref: str) -> Response:
    try:
        conflict_id = parse_id(request.form.get("conflict_id", ""))
        value = json.loads(request.form.get("value", ""))
    except ValueError:
        abort(400)
    if conflict_id is None:
        abort(400)
    try:
        decisions.resolve_conflict(
            db.session(), case_ref, conflict_id, value, me(), settings=_settings()
        )
    except AppError as error:
        flash_error(error)
        return _back(case_ref)
    flash(_("Conflict resolved."), "success")
    return _back(case_ref)


@bp.get("/cases/<path:case_ref>/close")
@requires("case.close")
def case_close_confirm(case_ref: str) -> Response | str:
    """The second step of closing a case: what closing does, and why it is closed."""
    case = _subject(case_ref)
    if case.status != CaseStatus.OPEN:
        flash(_("The case is already closed."), "error")
        return _back(case.case_ref)
    return render_template("web/cases/close.html", case=case)


@bp.post("/cases/<path:case_ref>/close")
@requires("case.close")
def case_close(case_ref: str) -> Response:
    try:
        decisions.close_case(
            db.session(),
            case_ref,
            me(),
            reason=request.form.get("reason", ""),
            settings=_settings(),
        )
    except AppError as error:
        return _refused(
            error, case_ref, redirect(url_for("web.case_close_confirm", case_ref=case_ref))
        )
    flash(_("The case is closed."), "success")
    return _back(case_ref)


@bp.post("/cases/<path:case_ref>/approval")
@requires("case.approve")
def case_approval(case_ref: str) -> Response:
    """Approve, or return with a comment, what waits for approval on the case page."""
    decision = request.form.get("decision", "")
    try:
        decisions.decide_approval(
            db.session(),
            case_ref,
            decision,
            me(),
            instance_id=request.form.get("instance_id", ""),
            comment=request.form.get("comment", ""),
            settings=_settings(),
        )
    except AppError as error:  # the comment is asked on the case page itself
        flash_error(error)
        return _back(case_ref)
    if decision == "approve":
        flash(_("Approved."), "success")
    else:
        flash(_("Returned to the caseworker with your comment."), "success")
    return _back(case_ref)


@bp.post("/cases/<path:case_ref>/reopen")
@requires("case.close")
def case_reopen(case_ref: str) -> Response:
    try:
        decisions.reopen_case(
            db.session(),
            case_ref,
            me(),
            reason=request.form.get("reason", ""),
            settings=_settings(),
        )
    except AppError as error:  # the reason is asked on the case page itself
        flash_error(error)
        return _back(case_ref)
    flash(_("The case is open again."), "success")
    return _back(case_ref)


def _queue_page(session: Any, name: str, stmt: Any) -> paging.KeysetPage:
    """``?unlinked=C`` / ``?duplicates=C``: the page of that queue at cursor ``C`` (each
    pages alone; none: its first page)."""
    cursor = request.args.get(name, "").strip() or None
    try:
        return paging.paginate_keyset(session, stmt, queries.QUEUE_KEY, cursor, QUEUE_PER_PAGE)
    except AppError:  # a cursor garbled, or made for the other queue
        abort(400)


@bp.get("/queues")
@requires("queue.read")
def queues() -> str:
    session = db.session()
    unlinked = _queue_page(session, "unlinked", queries.list_unlinked(me()))
    duplicates = _queue_page(session, "duplicates", queries.list_duplicates(me()))
    pages = {
        name: request.args[name]
        for name in ("unlinked", "duplicates")
        if request.args.get(name, "").strip()
    }
    return render_template(
        "web/cases/queues.html",
        unlinked=unlinked.items,
        duplicates=duplicates.items,
        unlinked_page=unlinked,
        duplicates_page=duplicates,
        pages=pages,
        form_titles=xform_queries.get_form_titles(session),
    )


@bp.post("/queues/link")
@requires("case.decide")
def queue_link() -> Response:
    try:
        result = decisions.link_unlinked(
            db.session(),
            request.form.get("instance_id", ""),
            request.form.get("case_ref", ""),
            me(),
            settings=_settings(),
        )
    except AppError as error:
        flash_error(error)
        return redirect(url_for("web.queues"))
    flash(_("The submission is now part of case %(ref)s.", ref=result.case_ref), "success")
    return redirect(url_for("web.queues"))


# What a merge preview's fields are called on the page.
PREVIEW_FIELDS = {
    "caseworker": _l("Caseworker"),
    "team": _l("Team"),
    "status": _l("Status"),
    "risk_level": _l("Risk level"),
    "contact_frequency_days": _l("Contact every (days)"),
    "last_contact_at": _l("Last contact"),
    "next_contact_due": _l("Next contact due"),
    "review_due": _l("Review due"),
    "last_review_at": _l("Last review"),
    "open_conflicts": _l("Open conflicts"),
    "kind": _l("Kind"),
    "title": _l("Title"),
    "owner": _l("Owner"),
    "due_date": _l("Due"),
    "is_done": _l("Done"),
}


@bp.get("/queues/duplicate/preview")
@requires("case.decide")
def queue_duplicate_preview() -> Response | str:
    """What merging a duplicate would change, with the button that merges it."""
    instance_id = request.args.get("instance_id", "")
    try:
        shown = preview.preview_merge(db.session(), instance_id, me(), settings=_settings())
    except AppError as error:
        flash_error(error)
        return redirect(url_for("web.queues"))
    return render_template("web/cases/merge_preview.html", p=shown, names=PREVIEW_FIELDS)


@bp.post("/queues/duplicate")
@requires("case.decide")
def queue_duplicate() -> Response:
    """Register a duplicate as a new case, or merge it (from its preview page, with a
    reason; a merge refused for want of one goes back to that page)."""
    instance_id = request.form.get("instance_id", "")
    try:
        if request.form.get("action") == "register_new":
            new_ref = request.form.get("new_case_ref", "")
            registered = decisions.register_duplicate_as_new(
                db.session(), instance_id, new_ref, me(), settings=_settings()
            )
            flash(_("Registered as a new case %(ref)s.", ref=registered.case_ref), "success")
        else:
            result = decisions.merge_duplicate(
                db.session(),
                instance_id,
                me(),
                reason=request.form.get("reason", ""),
                settings=_settings(),
            )
            flash(_("Merged into case %(ref)s.", ref=result.case_ref), "success")
    except AppError as error:
        flash_error(error)
        if error.code == "case.reason_required":
            return redirect(url_for("web.queue_duplicate_preview", instance_id=instance_id))
    return redirect(url_for("web.queues"))
