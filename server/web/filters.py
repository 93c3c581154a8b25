"""Template helpers: dates, roles and the navigation each role sees."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from flask import Flask
from flask_babel import format_date, format_datetime
from flask_babel import gettext as _

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


def zip_self(values: Iterable[Any]) -> list[tuple[Any, Any]]:
    """Options whose text is their value (user names, team names)."""
    return [(v, v) for v in values]


def zip_label(values: Iterable[str]) -> list[tuple[str, str]]:
    """Options whose text is the translated value (statuses, risk levels)."""
    return [(v, str(_(v))) for v in values]


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
    app.add_template_filter(zip_self, "zip_self")
    app.add_template_filter(zip_label, "zip_label")
    app.context_processor(_globals)
