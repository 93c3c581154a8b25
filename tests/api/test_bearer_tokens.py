"""A bearer token authenticates its request by itself, whatever cookies come with it."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

from tests.factories import PASSWORD, Factory


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _sign_in(client: FlaskClient, username: str, **kw: object) -> None:
    page = client.get("/login", **kw).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match is not None
    response = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": match.group(1)},
        **kw,
    )
    assert response.status_code == 302


def test_a_token_works_after_the_client_picked_up_a_session_cookie(
    client: FlaskClient, make: Factory
):
    make.user("des", "designer")
    headers = _bearer(make.api_token("des"))
    assert client.get("/api/v1/forms", headers=headers).status_code == 200
    client.get("/login")  # a cookie with a CSRF token and no signed-in user
    assert client.get_cookie("session") is not None
    for _ in range(3):
        assert client.get("/api/v1/forms", headers=headers).status_code == 200


def test_token_responses_set_no_cookie(client: FlaskClient, make: Factory):
    make.user("des", "designer")
    headers = _bearer(make.api_token("des"))
    client.get("/login")
    for response in (
        client.get("/api/v1/forms", headers=headers),
        client.get("/api/v1/forms/nope", headers=headers),
        client.get("/api/v1/forms", headers=_bearer("not a token")),
    ):
        assert "Set-Cookie" not in response.headers


def test_the_token_decides_who_is_calling_not_the_cookie(app: Flask, make: Factory):
    make.user("boss", "admin")
    make.user("cw", "caseworker")
    client = app.test_client()
    _sign_in(client, "boss")
    assert client.get("/api/v1/forms").status_code == 200  # the admin's session
    # a caseworker's token on the same client: the caseworker may not list forms
    assert client.get("/api/v1/forms", headers=_bearer(make.api_token("cw"))).status_code == 403
    # a wrong token is not rescued by the admin's cookie
    refused = client.get("/api/v1/forms", headers=_bearer("not a token"))
    assert refused.status_code == 401
    assert refused.get_json()["code"] == "auth.required"
    assert client.get("/api/v1/forms").status_code == 200  # the session itself is untouched


def test_browser_sessions_keep_their_strong_protection(app: Flask, make: Factory):
    make.user("boss", "admin")
    client = app.test_client()
    _sign_in(client, "boss", headers={"User-Agent": "browser one"})
    assert client.get("/dashboard", headers={"User-Agent": "browser one"}).status_code == 200
    # the same cookie from another client fingerprint is not signed in
    moved = client.get("/dashboard", headers={"User-Agent": "somewhere else"})
    assert moved.status_code == 302
    assert moved.headers["Location"].startswith("/login")
