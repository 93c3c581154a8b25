"""Language and time: the shipped catalogues are complete, each user reads the pages in
their language (their account setting, else their browser's), Arabic right to left, and
every time in the chosen zone with the zone named."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po
from flask import Flask
from sqlalchemy import select

from server import create_app, db
from server.auth.models import LANGUAGES, User
from server.config import ConfigError
from server.db import get_database
from server.web.filters import when
from tests.conftest import app_config
from tests.web.conftest import Web

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "server" / "web" / "translations"


def _catalogue(language: str) -> Any:
    with (TRANSLATIONS / language / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh, locale=language)


def _fresh_template(tmp_path: Path) -> Any:
    """The template extracted now from the code, as `make translations` extracts it."""
    pot = tmp_path / "messages.pot"
    CommandLineInterface().run(
        [
            "pybabel",
            "--quiet",
            "extract",
            "-F",
            str(ROOT / "babel.cfg"),
            "-k",
            "lazy_gettext",
            "-k",
            "_l",
            "-k",
            "_k:3",
            "--no-location",
            "-o",
            str(pot),
            str(ROOT),
        ]
    )
    with pot.open("rb") as fh:
        return read_po(fh)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_of_every_catalogue_is_translated(language: str) -> None:
    catalogue = _catalogue(language)
    missing = [m.id for m in catalogue if m.id and (m.fuzzy or not all(_strings(m.string)))]
    assert missing == [], f"{language}: {len(missing)} messages untranslated or fuzzy"
    # the placeholders (%(name)s) of each translation are those of the English
    problems = [(m.id, [str(e) for e in errors]) for m, errors in catalogue.check()]
    assert problems == []


def _strings(string: str | tuple[str, ...]) -> tuple[str, ...]:
    return string if isinstance(string, tuple) else (string,)


def test_the_catalogues_cover_every_message_in_the_code(tmp_path: Path) -> None:
    """A string marked for translation that no catalogue has yet fails here: run
    `make translations` and translate it."""
    wanted = {m.id for m in _fresh_template(tmp_path) if m.id}
    assert len(wanted) > 300  # the extraction found the templates, views and errors
    for language in LANGUAGES:
        have = {m.id for m in _catalogue(language) if m.id}
        assert sorted(wanted - have) == [], f"{language} lacks these messages"


def test_shipped_languages_are_the_ones_offered() -> None:
    shipped = {p.parent.parent.name for p in TRANSLATIONS.glob("*/LC_MESSAGES/messages.po")}
    assert shipped == set(LANGUAGES)


def _html_tag(page: str) -> str:
    match = re.search(r"<html[^>]*>", page)
    assert match is not None
    return match.group(0)


def test_the_browser_language_is_the_default(web: Web) -> None:
    page = web.get("/login", headers={"Accept-Language": "ar;q=1, en;q=0.5"})
    text = page.get_data(as_text=True)
    assert _html_tag(text) == '<html lang="ar" dir="rtl">'
    assert "تسجيل الدخول" in text  # Sign in
    french = web.get("/login", headers={"Accept-Language": "fr-CA,fr;q=0.9"}).get_data(as_text=True)
    assert _html_tag(french) == '<html lang="fr" dir="ltr">'
    assert "Se connecter" in french
    english = web.get("/login").get_data(as_text=True)
    assert _html_tag(english) == '<html lang="en" dir="ltr">'
    assert "Sign in" in english


def _user(app: Flask, username: str) -> User:
    """The user as stored now (in an app context of its own: a context held open around
    the requests would be shared by them)."""
    with app.app_context():
        user = db.session().scalar(select(User).where(User.username == username))
        assert user is not None
        db.session().expunge(user)
        return user


def test_the_account_setting_chooses_the_language(app: Flask, web_as: Any) -> None:
    sup = web_as("sup", "supervisor", team="north")
    arabic_browser = {"Accept-Language": "ar"}
    assert 'dir="rtl"' in sup.get("/dashboard", headers=arabic_browser).get_data(as_text=True)

    response = sup.post("/account", {"language": "fr", "time_zone": ""})
    assert response.status_code == 302
    page = sup.get("/dashboard", headers=arabic_browser).get_data(as_text=True)
    assert _html_tag(page) == '<html lang="fr" dir="ltr">'
    assert "Tableau de bord" in page
    assert "Dashboard" not in page
    assert "contacts en retard" in page

    sup.post("/account", {"language": "ar", "time_zone": ""})
    page = sup.get("/dashboard").get_data(as_text=True)  # whatever the browser asks
    assert _html_tag(page) == '<html lang="ar" dir="rtl">'
    assert "لوحة المتابعة" in page  # Dashboard

    sup.post("/account", {"language": "", "time_zone": ""})  # back to the browser's
    page = sup.get("/dashboard", headers={"Accept-Language": "es"}).get_data(as_text=True)
    assert _html_tag(page) == '<html lang="es" dir="ltr">'
    assert _user(app, "sup").language is None


def test_the_account_page_refuses_what_it_does_not_offer(app: Flask, web_as: Any) -> None:
    cw = web_as("cw", "caseworker", team="north")
    page = cw.get("/account").get_data(as_text=True)
    assert "Français" in page
    assert "العربية" in page
    cw.post("/account", {"language": "xx", "time_zone": ""})
    assert "Choose one of the languages offered." in cw.text("/account")
    cw.post("/account", {"language": "", "time_zone": "Mars/Olympus_Mons"})
    assert "Choose a time zone from the list" in cw.text("/account")
    user = _user(app, "cw")
    assert (user.language, user.time_zone) == (None, None)
    cw.post("/account", {"language": "pt", "time_zone": "America/Sao_Paulo"})
    user = _user(app, "cw")
    assert (user.language, user.time_zone) == ("pt", "America/Sao_Paulo")


def _last_login(app: Flask, username: str, at: datetime) -> None:
    with app.app_context():
        user = db.session().scalar(select(User).where(User.username == username))
        assert user is not None
        user.last_login_at = at
        db.session().commit()


def test_times_show_in_the_organisation_zone_with_the_zone(app: Flask, web_as: Any) -> None:
    app.config["TIMEZONE"] = "Africa/Nairobi"
    admin = web_as("adm", "admin")
    _last_login(app, "adm", datetime(2026, 12, 6, 11, 5, tzinfo=UTC))
    page = admin.text("/users")
    assert "Dec 6, 2026, 2:05\u202fPM +0300" in page
    assert "2026-12-06 11:05" not in page

    # a user's own zone wins, and their language formats it
    admin.post("/account", {"language": "fr", "time_zone": "Europe/Paris"})
    _last_login(app, "adm", datetime(2026, 12, 6, 11, 5, tzinfo=UTC))
    assert "6 déc. 2026, 12:05 +0100" in admin.text("/users")


def test_times_show_utc_by_default_and_days_as_days(app: Flask) -> None:
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        assert when(datetime(2026, 12, 6, 11, 5, tzinfo=UTC)) == "Dec 6, 2026, 11:05\u202fAM UTC"
        # a day (a due date, a date-only answer) is a day: no midnight, no zone
        assert when(date(2026, 12, 6)) == "Dec 6, 2026"
        assert when("2026-12-06") == "Dec 6, 2026"
        # the times the provenance record keeps as text are times like the others
        assert when("2026-12-06T11:05:00+00:00") == "Dec 6, 2026, 11:05\u202fAM UTC"
        assert when("2026-12-06T14:05:00.000+03:00") == "Dec 6, 2026, 11:05\u202fAM UTC"
        assert when("not a time") == "not a time"
        assert when("20261206") == "20261206"  # a number, not a day
        assert when(12) == "12"
    with app.test_request_context("/"):
        app.config["TIMEZONE"] = "Pacific/Kiritimati"  # +14:00: past the end of the calendar
        assert when("9999-12-31T23:00:00Z") == "9999-12-31T23:00:00+00:00"
        app.config["TIMEZONE"] = "UTC"
        assert when(None) == "—"
    with app.test_request_context("/", headers={"Accept-Language": "ar"}):
        assert when(date(2026, 12, 6)) == "06\u200f/12\u200f/2026"


def test_an_unknown_organisation_zone_is_refused_at_start(database_url: str, tmp_path: Path):
    with pytest.raises(ConfigError, match="CASEWORK_TIMEZONE='Africa/Atlantis'"):
        create_app(app_config(database_url, tmp_path / "data", TIMEZONE="Africa/Atlantis"))
    app = create_app(app_config(database_url, tmp_path / "data", TIMEZONE="Asia/Amman"))
    assert app.config["TIMEZONE"] == "Asia/Amman"
    get_database(app).engine.dispose()


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_page_opens_in_every_language(web_as: Any, language: str) -> None:
    admin = web_as("adm", "admin")
    asks = {"Accept-Language": language}
    for url in (
        "/dashboard",
        "/cases",
        "/queues",
        "/forms",
        "/services",
        "/services/new",
        "/services/import",
        "/exports",
        "/users",
        "/users/adm",
        "/teams",
        "/devices",
        "/audit",
        "/account",
        "/no-such-page",
    ):
        response = admin.get(url, headers=asks)
        assert response.status_code == (404 if url == "/no-such-page" else 200), url
        assert f'lang="{language}"' in _html_tag(response.get_data(as_text=True)), url


def test_the_audit_log_reads_in_the_pages_language(web_as: Any) -> None:
    """The sentences of server/web/audit_text.py (marked with ``_l``) are in the catalogues."""
    admin = web_as("adm", "admin")  # signing in is recorded
    french = admin.get("/audit", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert "Connexion<br>" in french
    assert "Signed in" not in french
    portuguese = admin.get("/audit", headers={"Accept-Language": "pt"}).get_data(as_text=True)
    assert "Início de sessão<br>" in portuguese
