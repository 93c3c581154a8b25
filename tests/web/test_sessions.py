"""A password reset or a deactivation ends the user's open sessions: the signed cookie a
browser still holds stops working, on pages and on the API, and a later reactivation does
not bring it back. Deactivation also revokes the user's API tokens for good."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from tests.factories import bearer
from tests.web.conftest import Web


def _signed_in(web: Web) -> bool:
    response = web.get("/cases")
    if response.status_code == 302:
        assert response.headers["Location"].startswith("/login")
        return False
    assert response.status_code == 200
    return True


def _api_status(web: Web) -> int:
    return web.get("/api/v1/cases").status_code


def test_a_password_reset_ends_the_users_sessions(web_as: Any) -> None:
    admin = web_as("adm", "admin")
    amina = web_as("amina", "caseworker", team="north")
    assert _signed_in(amina)
    assert _api_status(amina) == 200
    assert (
        admin.post("/users/amina/password", {"password": "a new long password"}).status_code == 302
    )
    assert not _signed_in(amina)
    assert _api_status(amina) == 401
    # the new password opens a new session
    assert amina.login("amina", "a new long password").status_code == 302
    assert _signed_in(amina)


def test_an_admin_resetting_their_own_password_stays_signed_in(web_as: Any) -> None:
    admin = web_as("adm", "admin")
    assert admin.post("/users/adm/password", {"password": "a new long password"}).status_code == 302
    assert _signed_in(admin)


def test_a_deactivation_ends_sessions_even_after_reactivation(web_as: Any) -> None:
    admin = web_as("adm", "admin")
    amina = web_as("amina", "caseworker", team="north")
    assert _signed_in(amina)
    off = {"role": "caseworker", "team": "north", "is_active": "no"}
    assert admin.post("/users/amina", off).status_code == 302
    assert not _signed_in(amina)
    assert admin.post("/users/amina", {**off, "is_active": "yes"}).status_code == 302
    assert not _signed_in(amina)
    assert _api_status(amina) == 401


def test_a_deactivation_revokes_api_tokens(web_as: Any, make: Any, client: FlaskClient) -> None:
    admin = web_as("adm", "admin")
    make.user("robot", "supervisor", team="north")
    token = bearer(make.api_token("robot"))
    assert client.get("/api/v1/cases", headers=token).status_code == 200
    off = {"role": "supervisor", "team": "north", "is_active": "no"}
    assert admin.post("/users/robot", off).status_code == 302
    assert client.get("/api/v1/cases", headers=token).status_code == 401
    assert admin.post("/users/robot", {**off, "is_active": "yes"}).status_code == 302
    assert client.get("/api/v1/cases", headers=token).status_code == 401


def test_a_saved_edit_that_keeps_the_user_active_ends_nothing(web_as: Any) -> None:
    admin = web_as("adm", "admin")
    amina = web_as("amina", "caseworker", team="north")
    on = {"role": "caseworker", "team": "north", "is_active": "yes"}
    assert admin.post("/users/amina", on).status_code == 302
    assert _signed_in(amina)
