"""Each user changes their own password on /account, giving the current one. The change
ends the account's other sessions (as a reset by an admin does) and keeps this one; a
wrong current password counts toward the lock-out."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask

from tests.factories import PASSWORD
from tests.web.conftest import Web
from tests.web.test_case_decisions import _flashes, _text
from tests.web.test_sessions import _api_status, _signed_in

NEW = "a brand new passphrase"


def _change(web: Web, current: str, new: str = NEW, again: str | None = None) -> str:
    response = web.post(
        "/account/password",
        {
            "current_password": current,
            "new_password": new,
            "new_password_again": new if again is None else again,
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/account#password"
    return _flashes(web, "/account")


def test_a_user_changes_their_own_password(app: Flask, make: Any, web_as: Any) -> None:
    amina = web_as("amina", "caseworker", team="north")
    elsewhere = Web(app.test_client())
    assert elsewhere.login("amina").status_code == 302
    page = amina.text("/account")
    assert re.search(r'name="current_password" type="password"[^>]*required', page)
    assert 'autocomplete="current-password"' in page

    said = _change(amina, PASSWORD)
    assert said == "Your password is changed. Other sessions of your account are signed out."
    assert _signed_in(amina)  # this session goes on
    assert not _signed_in(elsewhere)  # every other one has ended
    assert _api_status(elsewhere) == 401
    fresh = Web(app.test_client())
    assert fresh.login("amina", PASSWORD).status_code == 401
    assert fresh.login("amina", NEW).status_code == 302

    admin = web_as("adm", "admin")
    audit = _text(admin.text("/audit?action=user.password"))
    assert "amina Changed their own password user.password_change user amina" in audit


def test_a_change_is_refused_without_the_right_current_password(app: Flask, web_as: Any) -> None:
    amina = web_as("amina", "caseworker")
    assert _change(amina, "") == "Your current password is not correct."
    assert _change(amina, "not my password") == "Your current password is not correct."
    assert "not the same" in _change(amina, PASSWORD, again="a brand new passphrasE")
    assert "at least 10 characters" in _change(amina, PASSWORD, new="short")
    assert _signed_in(amina)
    fresh = Web(app.test_client())
    assert fresh.login("amina", NEW).status_code == 401
    assert fresh.login("amina", PASSWORD).status_code == 302


def test_guessing_the_current_password_locks_like_signing_in(app: Flask, web_as: Any) -> None:
    """A session left open is not a way round the lock-out: five wrong current passwords
    lock the account from this address, and then even the right one is refused."""
    amina = web_as("amina", "caseworker")
    for n in range(5):
        assert _change(amina, f"guess number {n}") == "Your current password is not correct."
    assert "Too many failed sign-ins" in _change(amina, PASSWORD)
    assert Web(app.test_client()).login("amina", NEW).status_code == 429
    assert Web(app.test_client()).login("amina", PASSWORD).status_code == 429
