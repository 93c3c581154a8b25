"""Template helpers: dates, roles and the navigation each role sees."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime
from flask import Flask, g
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _

from server import db
from server.cases.case_forms import FormWords, read_form_words
from server.cases.mapping import CARE_PLAN, CARE_PLAN_REVIEW
from server.cases.referrals import next_states
from server.web import consent_words
from server.web.access import can
from server.web.locale import user_zone
from server.web.referral_labels import state_label, urgency_label


def _locale() -> Locale:
    return get_locale() or Locale.parse("en")


_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?")


def _parse_when(text: str) -> datetime | date | str:
    """A day or a time as the forms and the provenance record write them (ISO 8601, as
    ODK's date and dateTime answers); any other text is shown as it is."""
    stripped = text.strip()
    try:
        if _ISO_DAY.fullmatch(stripped):
            return date.fromisoformat(stripped)
        if _ISO_TIME.fullmatch(stripped):
            return datetime.fromisoformat(stripped.replace("Z", "+00:00"))
    except ValueError:
        pass
    return text


def when(value: Any) -> str:
    """Every time or day a page shows, in the user's language: a time in the user's time
    zone with the zone named ("6 déc. 2026, 14:05 +0300"), a day as a day (no midnight).
    Answers written as ISO days or times are shown so too; any other value as it is."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        value = _parse_when(value)
    if not isinstance(value, date):  # datetime is a date too
        return str(value)
    locale = _locale()
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)  # the server stores UTC
        pattern = (
            str(locale.datetime_formats["medium"])
            .replace("{1}", locale.date_formats["medium"].pattern)
            .replace("{0}", locale.time_formats["short"].pattern + " z")
        )
        try:
            return format_datetime(value, pattern, tzinfo=ZoneInfo(user_zone()), locale=locale)
        except (OverflowError, ValueError):  # at the edge of the calendar, in another zone
            return str(value.isoformat())
    return format_date(value, "medium", locale=locale)


def html_dir() -> str:
    """``rtl`` for a language written right to left (Arabic), else ``ltr``."""
    return "rtl" if _locale().character_order == "right-to-left" else "ltr"


def zip_self(values: Iterable[Any]) -> list[tuple[Any, Any]]:
    """Options whose text is their value (user names, team names)."""
    return [(v, v) for v in values]


def zip_label(values: Iterable[str]) -> list[tuple[str, str]]:
    """Options whose text is the translated value (statuses, risk levels)."""
    return [(v, str(_(v))) for v in values]


def form_words() -> FormWords:
    """What the forms in use call the codes a page shows (kinds, statuses, risk levels), in
    the user's language: read once per request, from a per-version cache
    (``cases.case_forms.read_form_words``), never per row."""
    found: FormWords | None = g.get("form_words")
    if found is None:
        locale = get_locale()
        found = read_form_words(db.session(), str(locale) if locale else None)
        g.form_words = found
    return found


def item_kind(kind: str) -> str:
    """A plan item's kind as the form that makes such items labels them ("Protection
    need"); else in the interface's words (the care plan's kinds are the server's own)."""
    words = {CARE_PLAN: _("care plan"), CARE_PLAN_REVIEW: _("care plan review")}
    return str(form_words().kind(kind) or words.get(kind) or _(kind))


def item_status(status: str | None, kind: str = "") -> str:
    """A plan item's status as the form that makes items of its kind labels it."""
    if not status:
        return "—"
    return str(form_words().status(kind, status) or _(status))


def risk(level: str | None) -> str:
    """A risk level as the forms label it ("High risk"), "—" when none is recorded."""
    if not level:
        return "—"
    return str(form_words().risk(level) or _(level))


def frequency(days: int | None) -> str:
    """How often a case is to be contacted, as the forms offer it ("Weekly (every 7 days)"),
    else as a number of days."""
    if not days:
        return "—"
    return str(form_words().frequency(days) or ngettext("%(num)s day", "%(num)s days", days))


def risk_options(values: Iterable[str]) -> list[tuple[str, str]]:
    """Options of a risk filter, in the forms' words."""
    return [(v, risk(v)) for v in values]


def status_options(kind: str = "", current: str | None = None) -> list[tuple[str, str]]:
    """Options of a plan item status filter: the statuses the forms offer for items of
    ``kind`` ("": of any kind), in their words, and the one asked for if they do not."""
    words = form_words().item_statuses
    options = dict(words.get(kind) or words.get("") or {})
    if options and current and current not in options:
        options[current] = item_status(current, kind)
    return list(options.items())


def kind_options(values: Iterable[str]) -> list[tuple[str, str]]:
    """Options of a plan item kind filter, in the forms' words."""
    return [(v, item_kind(v)) for v in values]


def item_title(item: Any) -> str:
    """A plan item's title: as typed or picked on the phone, or, for the items the server
    makes itself (the care plan and its review), in the reader's language."""
    if item.kind in (CARE_PLAN, CARE_PLAN_REVIEW):
        return str(_(item.title))
    return str(item.title) if item.title else ""


def referral_choices(status: str) -> list[tuple[str, str]]:
    """The states that may follow a referral's state now, as options."""
    return [(s.value, state_label(s.value)) for s in next_states(status)]


def _globals() -> dict[str, Any]:
    return {
        "can": can,
        "html_lang": str(_locale()),
        "html_dir": html_dir(),
        **consent_words.template_globals(),
    }


def init_app(app: Flask) -> None:
    app.add_template_filter(when, "when")
    app.add_template_filter(zip_self, "zip_self")
    app.add_template_filter(zip_label, "zip_label")
    app.add_template_filter(item_kind, "item_kind")
    app.add_template_filter(item_status, "item_status")
    app.add_template_filter(risk, "risk")
    app.add_template_filter(frequency, "frequency")
    app.add_template_filter(risk_options, "risk_options")
    app.add_template_filter(kind_options, "kind_options")
    app.add_template_global(status_options, "status_options")
    app.add_template_filter(item_title, "item_title")
    app.add_template_filter(state_label, "referral_state")
    app.add_template_filter(urgency_label, "urgency")
    app.add_template_filter(referral_choices, "referral_choices")
    app.context_processor(_globals)
