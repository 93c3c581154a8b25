"""Time helpers: the server stores timezone-aware UTC everywhere."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones


def utcnow() -> datetime:
    return datetime.now(UTC)


def known_zone(name: str) -> bool:
    """Whether ``name`` is an IANA time zone this machine knows (``Africa/Nairobi``, ``UTC``)."""
    if not name or name != name.strip() or name.startswith("/") or ".." in name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def zone_names() -> list[str]:
    """Every IANA zone name this machine knows, sorted (for a choice of zone)."""
    return sorted(available_timezones())
