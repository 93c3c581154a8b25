"""Transfers on the web (``cases.transfer_decisions``): the page that asks for one, the
receiving supervisor's Accept and Decline, and the printable summary of a case handed to
an outside agency."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from server import db
from server.auth import queries as auth_queries
from server.auth.permissions import requires
from server.cases import decisions, transfer_decisions
from server.cases.models import CaseStatus
from server.cases.settings import CaseSettings, case_settings
from server.cases.transfer_summary import get_transfer_summary
from server.errors import AppError
from server.web.access import me
from server.web.bp import bp
from server.web.errors import flash_error


def _settings() -> CaseSettings:
    found: CaseSettings = case_settings(current_app)
    return found


def _back(case_ref: str) -> Response:
    return redirect(url_for("web.case_detail", case_ref=case_ref))


@bp.get("/cases/<path:case_ref>/transfer")
@requires("case.transfer")
def case_transfer_confirm(case_ref: str) -> Response | str:
    """Ask for a transfer: to whom (a caseworker, a team, an outside agency), and why."""
    session = db.session()
    case = decisions.get_decision_subject(session, case_ref, me())
    if case.status != CaseStatus.OPEN:
        flash(_("The case is already closed."), "error")
        return _back(case.case_ref)
    holders = [
        (u, t) for u, t in session.execute(auth_queries.list_case_holders()) if u != case.caseworker
    ]
    return render_template(
        "web/cases/transfer.html",
        case=case,
        holders=holders,
        teams=auth_queries.list_team_names(session),
        chosen=request.args.get("to", ""),
    )


@bp.post("/cases/<path:case_ref>/transfer")
@requires("case.transfer")
def case_transfer(case_ref: str) -> Response:
    to = request.form.get("to", "")
    kind, _sep, target = to.partition(":")
    if kind == "agency":
        target = request.form.get("agency", "")
    try:
        transfer_decisions.request_transfer(
            db.session(),
            case_ref,
            me(),
            reason=request.form.get("reason", ""),
            username=target if kind == "user" else "",
            team=target if kind == "team" else "",
            agency=target if kind == "agency" else "",
            agency_kind=request.form.get("agency_kind", "") if kind == "agency" else "",
            settings=_settings(),
        )
    except AppError as error:
        flash_error(error)
        if error.code in ("case.reason_required", "case.bad_transfer"):
            return redirect(url_for("web.case_transfer_confirm", case_ref=case_ref, to=to))
        return _back(case_ref)
    if kind == "agency":
        flash(_("The case is closed as transferred. Print the summary for the agency."), "success")
        return redirect(url_for("web.case_transfer_summary", case_ref=case_ref))
    flash(_("Transfer requested; it waits for the receiving supervisor."), "success")
    return _back(case_ref)


@bp.post("/cases/<path:case_ref>/transfer/accept")
@requires("case.transfer_accept")
def case_transfer_accept(case_ref: str) -> Response:
    try:
        result = transfer_decisions.decide_transfer(
            db.session(),
            case_ref,
            "accept",
            me(),
            username=request.form.get("username", ""),
            settings=_settings(),
        )
    except AppError as error:
        flash_error(error)
        return redirect(url_for("web.dashboard"))
    flash(_("Transfer accepted: the case is now with your team."), "success")
    return _back(result.case_ref)


@bp.post("/cases/<path:case_ref>/transfer/decline")
@requires("case.transfer_accept")
def case_transfer_decline(case_ref: str) -> Response:
    try:
        transfer_decisions.decide_transfer(
            db.session(),
            case_ref,
            "decline",
            me(),
            reason=request.form.get("reason", ""),
            settings=_settings(),
        )
    except AppError as error:
        flash_error(error)
        return redirect(url_for("web.dashboard"))
    flash(_("Transfer declined; the case stays where it was."), "success")
    return redirect(url_for("web.dashboard"))


@bp.post("/cases/<path:case_ref>/transfer/withdraw")
@requires("case.transfer")
def case_transfer_withdraw(case_ref: str) -> Response:
    """Withdraw a pending transfer (the supervisor who asked, or an admin), with a reason."""
    try:
        transfer_decisions.withdraw_transfer(
            db.session(),
            case_ref,
            me(),
            reason=request.form.get("reason", ""),
            settings=_settings(),
        )
    except AppError as error:
        flash_error(error)
        return _back(case_ref)
    flash(_("Transfer withdrawn; the case stays where it was."), "success")
    return _back(case_ref)


@bp.get("/cases/<path:case_ref>/transfer/summary")
@requires("case.transfer")
def case_transfer_summary(case_ref: str) -> str:
    """The printable summary for the outside agency: only what consent allows."""
    summary = get_transfer_summary(db.session(), case_ref, me())
    return render_template("web/cases/transfer_summary.html", s=summary)
