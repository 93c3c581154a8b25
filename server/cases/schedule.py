"""When a case's next contact and its next review are due. Pure: no Flask, no database.

The merge (``cases.merge``) asks once a case's inputs are folded, from the case's fields
(the plan's contact frequency, the dates a caseworker chose, with their provenance) and
the times of the case's last contact and review.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from server.cases.mapping import MAX_CONTACT_FREQUENCY_DAYS, NEXT_CONTACT, REVIEW_DATE


def contact_frequency(value: Any) -> int | None:
    """The plan's days between contacts; None unless a whole number in range."""
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or not 0 < value <= MAX_CONTACT_FREQUENCY_DAYS
    ):
        return None
    return value


def next_contact_due(
    values: Mapping[str, Any],
    provenance: Mapping[str, dict[str, Any]],
    *,
    frequency: int | None,
    last_contact_at: datetime | None,
    opened_at: datetime | None,
    default_frequency_days: int,
) -> date | None:
    """When the case's next contact is due: the plan's frequency (else the default) after
    the last contact (else the opening), or the date the caseworker chose if sooner."""
    next_due = date_or_none(values.get(NEXT_CONTACT))
    next_set_at = _prov_at(provenance.get(NEXT_CONTACT))
    # A date the caseworker chose stands unless a later contact did not repeat it.
    if next_due is not None and last_contact_at and next_set_at and next_set_at < last_contact_at:
        next_due = None
    anchor = last_contact_at or opened_at
    if anchor is not None:
        # Contact is due from the plan's frequency and the last contact; a date the
        # caseworker set can bring it forward, never push it past the plan.
        by_plan = _plus_days(anchor.date(), frequency or default_frequency_days)
        if by_plan is not None and (
            next_due is None or (frequency is not None and by_plan < next_due)
        ):
            next_due = by_plan
    return next_due


def review_due(
    values: Mapping[str, Any],
    provenance: Mapping[str, dict[str, Any]],
    *,
    last_review_at: datetime | None,
    opened_at: datetime | None,
    review_interval_days: int,
) -> date | None:
    """When the case's next review is due: the date set at the last review, else the
    interval after the last review (else the opening)."""
    due = date_or_none(values.get(REVIEW_DATE))
    set_at = _prov_at(provenance.get(REVIEW_DATE))
    if due is not None and last_review_at and set_at and set_at < last_review_at:
        due = None
    if due is None:
        anchor = last_review_at or opened_at
        if anchor is not None:
            due = _plus_days(anchor.date(), review_interval_days)
    return due


def _plus_days(day: date, days: int) -> date | None:
    """``day`` + ``days``; None past the end of the calendar (a phone dated 9999)."""
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return None


def date_or_none(value: Any) -> date | None:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def _prov_at(prov: dict[str, Any] | None) -> datetime | None:
    if not prov or not prov.get("at"):
        return None
    return datetime.fromisoformat(prov["at"])
