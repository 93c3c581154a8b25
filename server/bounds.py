"""Bounds on the numbers a client may send, so that a huge one is a clear 400, not a 500.

Row ids are INTEGER columns (at most 2**31 - 1 on PostgreSQL); page numbers are bounded so
that the row offset they give stays small enough for any engine.
"""

from __future__ import annotations

from datetime import UTC, datetime

from marshmallow import ValidationError, validate

MAX_ID = 2**31 - 1
MAX_PAGE = 100_000

PAGE = validate.Range(min=1, max=MAX_PAGE)
ROW_ID = validate.Range(min=1, max=MAX_ID)


def in_utc(value: datetime) -> None:
    """A moment that UTC can express: 0001-01-01T00:00+14:00 is before year 1 in UTC."""
    try:
        value.astimezone(UTC)
    except OverflowError as exc:
        raise ValidationError("The date is out of range.") from exc


def parse_id(text: str) -> int | None:
    """A row id written in ASCII digits, or None when ``text`` is not one."""
    if not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if 1 <= value <= MAX_ID else None
