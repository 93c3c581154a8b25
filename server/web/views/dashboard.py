"""The worklist: what needs the signed-in user today (their own cases for a caseworker,
the team's for a supervisor, every case for an admin), as counts that each open the list
they count, short lists with a link to the whole list, and charts."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from flask import render_template
from flask_babel import gettext as _

from server import db, paging
from server.auth.permissions import may, requires
from server.cases import dashboard as dashboard_queries
from server.cases import lists
from server.cases.models import Case, PlanItem
from server.web.access import me
from server.web.bp import bp
from server.web.charts import bar_chart
from server.web.today import today

PLAN_KINDS = ("need", "service", "action", "decision", "care_plan", "care_plan_review")
LIST_LIMIT = 20
# How long a caseworker's "did not feel safe" stays on the dashboard.
SAFETY_ALERT_DAYS = 30
WEEK = timedelta(days=7)
# Drawn about as wide as the page lays them out, so that the labels keep their size.
CHART_WIDTH, CHART_LABEL_WIDTH = 380, 170


@bp.get("/dashboard")
@requires("dashboard.read")
def dashboard() -> str:
    session = db.session()
    user, day = me(), today()
    counts = dashboard_queries.dashboard_counts(session, user, day)
    kind_labels = {
        "need": _("Needs"),
        "service": _("Referrals (services)"),
        "action": _("Actions"),
        "decision": _("Decisions"),
        "care_plan": _("Care plans"),
        "care_plan_review": _("Care plan reviews"),
    }
    charts = [
        bar_chart(
            "chart-contacts",
            _("Contacts"),
            [
                (_("Overdue"), counts.contacts_overdue),
                (_("Due this week"), counts.contacts_due_this_week),
            ],
            tones=("alert", "soon"),
            width=CHART_WIDTH,
            label_width=CHART_LABEL_WIDTH,
        ),
        bar_chart(
            "chart-items",
            _("Plan items overdue"),
            [(kind_labels[k], counts.overdue_items_by_kind.get(k, 0)) for k in PLAN_KINDS],
            alert=True,
            width=CHART_WIDTH,
            label_width=CHART_LABEL_WIDTH,
        ),
    ]
    if may(user, "case.decide"):  # a caseworker's caseload would be one bar: their own
        charts.insert(
            0,
            bar_chart(
                "chart-caseload",
                _("Open cases per caseworker"),
                [
                    (name or _("unassigned"), n)
                    for name, n in counts.open_cases_by_caseworker.items()
                ],
                width=CHART_WIDTH,
                label_width=CHART_LABEL_WIDTH,
            ),
        )
    # The lists are the first rows of the very lists their "more" links open.
    contacts, more_contacts = paging.first_by_id(
        session,
        lists.list_cases(user, status="open", due_to=day + WEEK, sort="risk"),
        Case.id,
        LIST_LIMIT,
    )
    items, more_items = paging.first_by_id(
        session, lists.list_items(user, overdue_on=day), PlanItem.id, LIST_LIMIT
    )
    # referrals whose next state is overdue, in the order they fell due
    steps_stmt = lists.list_items(user, kind="service", state_overdue_on=day)
    steps, more_steps = paging.first_by_id(session, steps_stmt, PlanItem.id, LIST_LIMIT)
    steps_n, steps_more_n = paging.count_capped(
        session, lists.count_items(user, kind="service", state_overdue_on=day)
    )
    since = datetime.combine(day - timedelta(days=SAFETY_ALERT_DAYS), time.min, UTC)
    # what waits is counted up to the cap ("10000+"), like every list
    alerts_stmt = dashboard_queries.list_worker_safety_alerts(user, since)
    alerts_n, alerts_more = paging.count_capped(session, alerts_stmt)
    alerts = session.execute(alerts_stmt.limit(LIST_LIMIT)).all()
    approvals_stmt = dashboard_queries.list_pending_approvals(user)
    approvals_n, approvals_more = paging.count_capped(session, approvals_stmt)
    approvals = session.execute(approvals_stmt.limit(LIST_LIMIT)).all()
    held_stmt = dashboard_queries.list_held_referrals(user)
    held_n, held_more = paging.count_capped(session, held_stmt)
    held = session.execute(held_stmt.limit(LIST_LIMIT)).all() if held_n else []
    transfers = (
        session.execute(dashboard_queries.list_transfers_waiting(user).limit(LIST_LIMIT)).all()
        if may(user, "case.transfer_accept")
        else None
    )
    return render_template(
        "web/dashboard.html",
        transfers=transfers,
        approvals=approvals,
        approvals_n=approvals_n,
        approvals_more=approvals_more,
        held_referrals=held,
        held_referrals_n=held_n,
        held_referrals_more=held_more,
        safety_alerts=alerts,
        safety_alerts_n=alerts_n,
        safety_alerts_more=alerts_more,
        safety_alert_days=SAFETY_ALERT_DAYS,
        counts=counts,
        charts=charts,
        kinds=PLAN_KINDS,
        kind_labels=kind_labels,
        contacts=contacts,
        more_contacts=more_contacts,
        items=items,
        more_items=more_items,
        steps=steps,
        more_steps=more_steps,
        steps_n=steps_n,
        steps_more_n=steps_more_n,
        today=day,
        yesterday=day - timedelta(days=1),
        week_end=day + WEEK,
        is_supervising=may(user, "case.decide"),
    )
