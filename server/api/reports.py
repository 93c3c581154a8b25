"""Reports over the API: the same counts as the Reports page, as JSON or CSV."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify, request

from server import db
from server.api.args import caller
from server.api.bp import bp
from server.auth.permissions import requires
from server.disposition import set_attachment
from server.reports import service
from server.reports.service import NO_TEAM, Cell, Report
from server.reports.suppression import HIDDEN, SMALL
from server.timeutil import utcnow


def _shown(cell: Cell, marks: dict[str, str]) -> int | str:
    return marks[cell.mark] if cell.mark else int(cell.n or 0)


def _label(report: Report, dimension: str, code: str) -> str:
    """In the form's default language (the API speaks no page language)."""
    found = report.labels.get(dimension, {}).get(code)
    return (found.text() if found is not None else "") or code


def _json(report: Report, marks: dict[str, str]) -> dict[str, Any]:
    return {
        "from": report.request.first.strftime("%Y-%m"),
        "to": report.request.last.strftime("%Y-%m"),
        "counted": "cases registered in these months (UTC), by their answers now",
        "min_cell": report.min_cell,
        "marks": {marks[SMALL]: f"fewer than {report.min_cell}", marks[HIDDEN]: "hidden so that "
                  "a smaller number cannot be worked out from the totals"},
        "columns": [
            "all" if c is None else ("no team" if c == NO_TEAM else c) for c in report.columns
        ],
        "tables": [
            {
                "dimension": t.dimension,
                "rows": [
                    {
                        "value": r.value,
                        "label": _label(report, t.dimension, r.value) if r.value else "",
                        "counts": [_shown(c, marks) for c in r.cells],
                    }
                    for r in t.rows
                ],
                "total": [_shown(c, marks) for c in t.total] if t.total is not None else None,
            }
            for t in report.tables
        ],
    }  # fmt: skip


@bp.get("/reports")
@requires("report.read")
def report() -> Response:
    """``?from=YYYY-MM&to=YYYY-MM`` (default: the last twelve months), ``team=`` (one
    team), ``by_team=true`` (every team side by side, admins), ``format=csv``."""
    fmt = request.args.get("format", "json")
    if fmt not in ("json", "csv"):
        fmt = "json"
    session, user = db.session(), caller()
    built = service.build_report(
        session,
        user,
        service.parse_request(request.args, utcnow().date()),
        min_cell=int(current_app.config["REPORT_MIN_CELL"]),
    )
    marks = {SMALL: f"<{built.min_cell}", HIDDEN: "*"}
    service.record_view(session, user, built, export="csv" if fmt == "csv" else None)
    if fmt == "json":
        return jsonify(_json(built, marks))
    rows = service.csv_rows(
        built,
        dimension_names={},
        column_names=[
            "all" if c is None else ("no team" if c == NO_TEAM else c) for c in built.columns
        ],
        label=lambda dim, code: _label(built, dim, code) if code else "not recorded",
        marks=marks,
        total_name="total",
    )
    response = Response(service.write_csv(rows), content_type="text/csv; charset=utf-8")
    set_attachment(
        response.headers,
        f"report-{built.request.first:%Y-%m}-{built.request.last:%Y-%m}.csv",
    )
    response.headers["Cache-Control"] = "no-store"
    return response
