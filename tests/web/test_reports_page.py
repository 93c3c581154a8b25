"""The Reports page for a supervisor: their team's tables and charts, the CSV download, both
in the audit log, in the user's language."""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import Flask
from sqlalchemy import select

from server import db
from server.audit.models import AuditEvent
from tests.test_reports import YEAR, world
from tests.web.conftest import Web

__all__ = ["world"]  # the fixture, shared with tests/test_reports.py


def test_the_page_the_csv_and_the_audit_log(app: Flask, web: Web, world: dict[str, Any]) -> None:
    sup = web
    assert sup.login("sup_n").status_code == 302
    page = sup.get(f"/reports?{YEAR}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "&lt;5" in text
    assert "<svg" in text
    assert "Lakeside" in text
    assert "south" not in text  # no other team's column, nor a choice of team
    assert 'href="/reports.csv?from=2026-01&amp;to=2026-12"' in text

    download = sup.get(f"/reports.csv?{YEAR}")
    assert download.status_code == 200
    assert download.headers["Content-Disposition"] == (
        "attachment; filename=report-2026-01-2026-12.csv"
    )
    rows = list(csv.reader(io.StringIO(download.get_data(as_text=True))))
    assert rows[0] == ["dimension", "category", "label", "north"]
    assert [r[1:] for r in rows if r[0] == "Sex"] == [
        ["female", "Female", "7"],
        ["male", "Male", "<5"],
        ["other", "Other, or not stated", "<5"],
        ["", "Not recorded", "0"],
        ["", "Total", "9"],
    ]

    with app.app_context():
        actions = (
            db.session()
            .scalars(
                select(AuditEvent.action).where(AuditEvent.actor == "sup_n").order_by(AuditEvent.id)
            )
            .all()
        )
    assert actions[-2:] == ["report.view", "export.report"]

    # in French, with the form's own labels where the form has none in French
    sup.post("/account", {"language": "fr", "time_zone": ""})
    french = sup.get(f"/reports?{YEAR}").get_data(as_text=True)
    assert "Rapports" in french
    assert "Non renseigné" in french


def test_an_admin_sees_every_team_side_by_side(web_as: Any, world: dict[str, Any]) -> None:
    admin = web_as("boss", "admin")
    text = admin.text(f"/reports?{YEAR}&by_team=1")
    for heading in ("All teams", "north", "south", "Region", "Referrals by status"):
        assert f">{heading}<" in text
    assert 'href="/reports.csv?from=2026-01&amp;to=2026-12&amp;by_team=1"' in text
    rows = list(csv.reader(io.StringIO(admin.text(f"/reports.csv?{YEAR}&by_team=1"))))
    assert rows[0] == ["dimension", "category", "label", "All teams", "north", "south"]
    assert ["Sex", "female", "Female", "12", "7", "5"] in rows
