"""When the event a submission records happened, and the answers that say so. Pure: no
Flask, no database (``cases.mapping`` reads every submission through these).

The event time (``event_time``, else the form's ``end`` or ``start``) comes from the phone's
clock: one later than the time the server received the submission plus a tolerance is taken
as the received time (:func:`bounded_by_receipt`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from server.submissions.parse import DataNode, values_at
from server.xforms.definition import FieldDef, FormDefinition


def first_answer(data: DataNode, f: FieldDef) -> str | None:
    """The first non-blank answer to ``f``, trimmed (None: not answered)."""
    for value in values_at(data, f.path):
        if value.strip():
            return value.strip()
    return None


def parse_date(value: str) -> date | None:
    """An ODK date (or the day of a dateTime); None when it is not one."""
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        return None


def _parse_datetime(value: str) -> datetime | None:
    """An ODK dateTime, aware, in the offset the phone wrote (UTC when it wrote none)."""
    text = value.strip()
    if len(text) <= 10:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _utc(value: datetime) -> datetime | None:
    """``value`` in UTC; None at the edges of the calendar (year 1 or 9999 with an offset)."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        return None


# A date-only event that was recorded on another day counts at the end of its day: it was
# written down after everything else that happened that day.
_END_OF_DAY = time(23, 59, 59)


def event_time(definition: FormDefinition, data: DataNode, received_at: datetime) -> datetime:
    """When the event happened, in UTC.

    * The ``event_time`` answer, when it has a time of day.
    * A date-only answer takes its time of day from the form's ``end`` timestamp when
      ``end`` falls on that date (in the phone's own offset), else from ``start``; when
      neither does, the end of that day (23:59:59) in the phone's offset (UTC if unknown).
    * No usable answer: ``end``, then ``start``, then the time the server got it.
    """
    stamps: list[datetime] = []
    for name in ("end", "start"):
        for f in definition.fields:
            if f.name == name and f.type == "dateTime" and f.repeat is None and f.kind == "field":
                value = first_answer(data, f)
                parsed = _parse_datetime(value) if value else None
                if parsed is not None:
                    stamps.append(parsed)
    for f in definition.with_role("event_time"):
        if f.repeat is not None:
            continue
        value = first_answer(data, f)
        if value is None:
            continue
        when = _parse_datetime(value)
        if when is None:
            day = parse_date(value) if len(value) <= 10 else None
            if day is None:
                continue
            same_day = [s for s in stamps if s.date() == day]
            tz = stamps[0].tzinfo if stamps else UTC
            when = same_day[0] if same_day else datetime.combine(day, _END_OF_DAY, tz)
        utc = _utc(when)
        if utc is not None:
            return utc
    for stamp in stamps:
        utc = _utc(stamp)
        if utc is not None:
            return utc
    return aware(received_at)


def bounded_by_receipt(event_at: datetime, received_at: datetime, tolerance: timedelta) -> datetime:
    """``event_at``, or the time the server received it when the phone's time is later
    than that by more than ``tolerance`` (a clock set in the future)."""
    received = aware(received_at)
    try:
        latest = received + tolerance
    except OverflowError:  # at the end of the calendar nothing is later
        return event_at
    return received if event_at > latest else event_at
