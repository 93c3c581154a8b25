"""Template helpers: dates, roles and the navigation each role sees."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import Flask
from flask_babel import format_date, format_datetime

from server.web.access import (
    ADMINS,
    CASE_READERS,
    FORM_READERS,
    FORM_WRITERS,
    SERVICE_READERS,
    SERVICE_WRITERS,
    SUPERVISORS,
    can,
)


def when(value: datetime | date | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return str(format_datetime(value, "yyyy-MM-dd HH:mm"))
    return str(format_date(value, "yyyy-MM-dd"))


def _globals() -> dict[str, Any]:
    return {
        "can": can,
        "SUPERVISORS": SUPERVISORS,
        "CASE_READERS": CASE_READERS,
        "FORM_READERS": FORM_READERS,
        "FORM_WRITERS": FORM_WRITERS,
        "SERVICE_WRITERS": SERVICE_WRITERS,
        "SERVICE_READERS": SERVICE_READERS,
        "ADMINS": ADMINS,
    }


def init_app(app: Flask) -> None:
    app.add_template_filter(when, "when")
    app.context_processor(_globals)
