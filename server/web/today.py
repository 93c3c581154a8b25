"""The day pages count overdue work against (UTC, as the case queries store dates)."""

from __future__ import annotations

from datetime import date

from server.timeutil import utcnow


def today() -> date:
    return utcnow().date()
