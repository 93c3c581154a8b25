"""The language and the time zone the pages are shown in."""

from __future__ import annotations

from flask import current_app, request
from flask_login import current_user

from server.auth.models import LANGUAGES
from server.timeutil import known_zone


def select_locale() -> str | None:
    """The language the signed-in user chose on their account page, else the best the
    browser asks for (Accept-Language), else English."""
    chosen = getattr(current_user, "language", None)
    if chosen in LANGUAGES:
        return str(chosen)
    return request.accept_languages.best_match(LANGUAGES) or LANGUAGES[0]


def user_zone() -> str:
    """The time zone pages show times in: the user's own, else the organisation's."""
    chosen = getattr(current_user, "time_zone", None)
    if chosen and known_zone(chosen):
        return str(chosen)
    return str(current_app.config["TIMEZONE"])
