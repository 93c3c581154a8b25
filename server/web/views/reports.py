"""Reports: counts of the cases registered in a range of months, by the registration data
and the plan, as tables and charts, and as CSV; small numbers hidden."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from server import db
from server.auth.permissions import may, requires
from server.disposition import set_attachment
from server.reports import service
from server.reports.service import NO_TEAM, Report
from server.reports.suppression import HIDDEN, SMALL
from server.web.access import active_users, me
from server.web.bp import bp
from server.web.charts import BarChart, bar_chart
from server.web.today import today

DIMENSION_NAMES: dict[str, Any] = {
    "age_band": _l("Age group"),
    "sex": _l("Sex"),
    "disability": _l("Disability (Washington Group short set)"),
    "region": _l("Region"),
    "area": _l("District"),
    "concern": _l("Main concern at intake"),
    "risk": _l("Risk level now"),
    "need": _l("Protection needs"),
    "service": _l("Services planned or referred"),
    "referral": _l("Referrals by status"),
}
# What each breakdown counts, under its title.
DIMENSION_UNITS: dict[str, Any] = {
    "need": _l("Cases with at least one need of each kind (a case may have several)."),
    "service": _l("Cases with at least one service of each kind (a case may have several)."),
    "referral": _l("Services of these cases, by their status now."),
}
DISABILITY = {"yes": _l("With a disability"), "no": _l("Without a disability")}


def _report() -> Report:
    return service.build_report(
        db.session(),
        me(),
        service.parse_request(request.args, today()),
        min_cell=int(current_app.config["REPORT_MIN_CELL"]),
    )


def _marks(report: Report) -> dict[str, str]:
    return {SMALL: f"<{report.min_cell}", HIDDEN: "*"}


def category_label(report: Report, dimension: str, code: str) -> str:
    """A category in the page's language: the form's label in that language if the form
    has one, else its default label (translated when the catalogue knows it), else the
    code; "not recorded" and disability in words."""
    if code == "":
        return str(_("Not recorded"))
    if dimension == "disability" and code in DISABILITY:
        return str(DISABILITY[code])
    found = report.labels.get(dimension, {}).get(code)
    language = str(get_locale() or "en")
    if found is not None and found.has(language):
        return found.text(language)
    if found is not None and found.text():
        # in the form's default language: the catalogues translate the shipped labels
        return str(_(found.text()))
    return str(_(code)) if dimension == "risk" else code


def column_name(team: str | None) -> str:
    if team is None:
        return str(_("All teams"))
    if team == NO_TEAM:
        return str(_("No team"))
    return team


def _charts(report: Report) -> list[BarChart]:
    """One bar chart per breakdown, of the first column shown; a hidden number has no bar
    and its mark for a value."""
    marks = _marks(report)
    charts: list[BarChart] = []
    if not report.columns:
        return charts
    for table in report.tables:
        rows = [
            (category_label(report, table.dimension, row.value), row.cells[0]) for row in table.rows
        ]
        charts.append(
            bar_chart(
                f"chart-{table.dimension}",
                str(DIMENSION_NAMES[table.dimension]),
                [(label, cell.n or 0) for label, cell in rows],
                texts=[marks[c.mark] if c.mark else str(c.n) for _label, c in rows],
            )
        )
    return charts


@bp.get("/reports")
@requires("report.read")
def report_page() -> str:
    report = _report()
    service.record_view(db.session(), me(), report)
    teams = (
        sorted({u.team for u in active_users() if u.team}) if may(me(), "report.read_all") else []
    )
    return render_template(
        "web/reports.html",
        report=report,
        charts=_charts(report),
        marks=_marks(report),
        names=DIMENSION_NAMES,
        units=DIMENSION_UNITS,
        label=lambda dim, code: category_label(report, dim, code),
        column_name=column_name,
        teams=teams,
        args={
            "from": report.request.first.strftime("%Y-%m"),
            "to": report.request.last.strftime("%Y-%m"),
            **({"team": report.request.team} if report.request.team else {}),
            **({"by_team": "1"} if report.request.by_team else {}),
        },
    )


@bp.get("/reports.csv")
@requires("report.read")
def report_csv() -> Response:
    report = _report()
    service.record_view(db.session(), me(), report, export="csv")
    rows = service.csv_rows(
        report,
        dimension_names={k: str(v) for k, v in DIMENSION_NAMES.items()},
        column_names=[column_name(c) for c in report.columns],
        label=lambda dim, code: category_label(report, dim, code),
        marks=_marks(report),
        total_name=_("Total"),
    )
    response = Response(service.write_csv(rows), content_type="text/csv; charset=utf-8")
    span = f"{report.request.first:%Y-%m}-{report.request.last:%Y-%m}"
    team = f"-{report.request.team}" if report.request.team else ""
    set_attachment(response.headers, f"report-{span}{team}.csv")
    response.headers["Cache-Control"] = "no-store"
    return response
