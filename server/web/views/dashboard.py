"""The supervisor's front page: caseload, overdue work and waiting queues, with charts."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from flask import render_template
from flask_babel import gettext as _

from server import db
from server.auth.permissions import may, requires
from server.cases import dashboard as dashboard_queries
from server.cases import queries
from server.web.access import me
from server.web.bp import bp
from server.web.charts import bar_chart
from server.web.today import today

PLAN_KINDS = ("need", "service", "action", "decision", "care_plan", "care_plan_review")
LIST_LIMIT = 20
# How long a caseworker's "did not feel safe" stays on the dashboard.
SAFETY_ALERT_DAYS = 30


@bp.get("/dashboard")
@requires("dashboard.read")
def dashboard() -> str:
    session = db.session()
    user, day = me(), today()
    counts = dashboard_queries.dashboard_counts(session, user, day)
    kind_labels = {
        "need": _("Needs"),
        "service": _("Services"),
        "action": _("Actions"),
        "decision": _("Decisions"),
        "care_plan": _("Care plans"),
        "care_plan_review": _("Care plan reviews"),
    }
    charts = [
        bar_chart(
            "chart-caseload",
            _("Open cases per caseworker"),
            [(name or _("unassigned"), n) for name, n in counts.open_cases_by_caseworker.items()],
        ),
        bar_chart(
            "chart-contacts",
            _("Contacts"),
            [
                (_("Overdue"), counts.contacts_overdue),
                (_("Due this week"), counts.contacts_due_this_week),
            ],
            alert=True,
        ),
        bar_chart(
            "chart-items",
            _("Plan items overdue"),
            [(kind_labels[k], counts.overdue_items_by_kind.get(k, 0)) for k in PLAN_KINDS],
            alert=True,
        ),
    ]
    due = session.execute(queries.list_due_followups(user, day).limit(LIST_LIMIT)).all()
    # only the items up to the LIST_LIMIT-th due date in the user's scope (a seek), not
    # every overdue item
    until = dashboard_queries.nth_overdue_due_date_in_scope(session, user, day, LIST_LIMIT)
    overdue_items = session.execute(
        queries.list_overdue_items(user, day, due_until=until).limit(LIST_LIMIT)
    ).all()
    since = datetime.combine(day - timedelta(days=SAFETY_ALERT_DAYS), time.min, UTC)
    alerts_n = session.scalar(dashboard_queries.count_worker_safety_alerts(user, since)) or 0
    alerts = session.execute(
        dashboard_queries.list_worker_safety_alerts(user, since).limit(LIST_LIMIT)
    ).all()
    approvals_n = session.scalar(dashboard_queries.count_pending_approvals(user)) or 0
    approvals = session.execute(
        dashboard_queries.list_pending_approvals(user).limit(LIST_LIMIT)
    ).all()
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
        safety_alerts=alerts,
        safety_alerts_n=alerts_n,
        safety_alert_days=SAFETY_ALERT_DAYS,
        counts=counts,
        charts=charts,
        due=due,
        overdue_items=overdue_items,
        today=day,
    )
