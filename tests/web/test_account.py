"""Sign in, sign out, lock-out, CSRF and the landing page of each role."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from server.audit.models import AuditEvent
from server.auth.models import LoginThrottle
from tests.web.conftest import Web


def test_signed_out_pages_redirect_to_sign_in(web: Web) -> None:
    response = web.get("/cases")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_sign_in_lands_on_the_role_page(web: Web, make: Any) -> None:
    make.user("sup", "supervisor", team="north")
    response = web.login("sup")
    assert response.status_code == 302
    assert web.get("/").headers["Location"] == "/dashboard"


@pytest.mark.parametrize(
    ("role", "landing"),
    [("caseworker", "/dashboard"), ("designer", "/forms"), ("admin", "/dashboard")],
)
def test_each_role_lands_on_its_page(web_as: Any, role: str, landing: str) -> None:
    client = web_as("u1", role, team="north")
    assert client.get("/").headers["Location"] == landing


def test_wrong_password_is_refused_and_counted(web: Web, make: Any, db_session: Any) -> None:
    make.user("cw", "caseworker")
    response = web.login("cw", "not the password")
    assert response.status_code == 401
    assert "not correct" in response.get_data(as_text=True)
    counted = db_session.scalar(
        select(LoginThrottle).where(LoginThrottle.scope == "pair", LoginThrottle.username == "cw")
    )
    assert counted.failures == 1
    actions = db_session.scalars(select(AuditEvent.action)).all()
    assert "auth.login_failed" in actions


def test_repeated_failures_lock_the_account(web: Web, make: Any) -> None:
    make.user("cw", "caseworker")
    for _ in range(5):
        web.login("cw", "wrong password!")
    response = web.login("cw")  # right password, but locked now
    assert response.status_code == 429
    assert web.get("/cases").status_code == 302


def test_unknown_names_lock_out_like_known_ones(web: Web, make: Any) -> None:
    make.user("cw", "caseworker")
    known = [web.login("cw", "wrong password!").status_code for _ in range(6)]
    unknown = [web.login("nobody", "wrong password!").status_code for _ in range(6)]
    assert known == unknown == [401] * 5 + [429]


def test_failures_from_another_address_do_not_lock_the_owner_out(
    web: Web, make: Any, app: Any
) -> None:
    make.user("cw", "caseworker")
    attacker = Web(app.test_client())
    attacker.client.environ_base["REMOTE_ADDR"] = "203.0.113.7"
    for _ in range(6):
        attacker.login("cw", "wrong password!")
    assert attacker.login("cw").status_code == 429
    assert web.login("cw").status_code == 302  # the owner, from the usual address


def test_next_only_goes_to_this_server(web: Web, make: Any) -> None:
    make.user("cw", "caseworker")
    response = web.post(
        "/login?next=//evil.example/x", {"username": "cw", "password": "correct horse battery"}
    )
    assert response.headers["Location"] == "/"


def test_sign_in_without_csrf_token_is_refused(web: Web, make: Any) -> None:
    make.user("cw", "caseworker")
    response = web.post(
        "/login", {"username": "cw", "password": "correct horse battery"}, csrf=False
    )
    assert response.status_code == 400
    assert "expired" in response.get_data(as_text=True)


def test_sign_out_needs_a_post_with_token(web_as: Any) -> None:
    client = web_as("cw", "caseworker")
    assert client.post("/logout", csrf=False).status_code == 400
    assert client.get("/").headers["Location"] == "/dashboard"
    assert client.post("/logout").status_code == 302
    assert client.get("/").headers["Location"].startswith("/login")


def test_api_with_bearer_token_needs_no_csrf(app: Any, make: Any) -> None:
    make.user("des", "designer")
    token = make.api_token("des")
    response = app.test_client().post(
        "/api/v1/forms/nope/state",
        json={"state": "open"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 404  # reached the handler: no CSRF refusal


def test_api_on_a_session_cookie_needs_csrf(web_as: Any) -> None:
    client = web_as("des", "designer")
    response = client.client.post("/api/v1/forms/nope/state", json={"state": "open"})
    assert response.status_code == 400
    assert response.get_json()["code"] == "request.invalid"


def test_devices_post_without_csrf(device: Any) -> None:
    response = device.head("/submission")
    assert response.status_code == 204


def test_unknown_page_is_a_readable_404(web_as: Any) -> None:
    client = web_as("cw", "caseworker")
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "Page not found" in response.get_data(as_text=True)


def test_pages_have_a_skip_link_and_labels(web: Web) -> None:
    html = web.text("/login")
    assert 'class="skip-link" href="#main"' in html
    assert '<label for="f-username">' in html
    assert '<label for="f-password">' in html
