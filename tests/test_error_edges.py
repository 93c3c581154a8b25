"""Every error is answered in the caller's language, including the unexpected ones and
addresses no route takes: OpenRosa XML for devices, JSON for the API, a page for people."""

from __future__ import annotations

from typing import Any, NoReturn

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from server.xforms import queries as xform_queries
from tests.factories import SIMPLE_FORM, Factory

H = {"X-OpenRosa-Version": "1.0"}


@pytest.fixture
def served(app: Flask) -> Flask:
    """The app as in production: an unexpected error becomes a 500 response."""
    app.config["PROPAGATE_EXCEPTIONS"] = False
    return app


def _boom(*_args: Any, **_kwargs: Any) -> NoReturn:
    raise RuntimeError("something unexpected")


def _is_openrosa(response: TestResponse, status: int) -> None:
    assert response.status_code == status
    assert response.mimetype == "text/xml"
    assert response.headers["X-OpenRosa-Version"] == "1.0"
    assert b"<OpenRosaResponse" in response.data


def _is_api(response: TestResponse, status: int, code: str) -> None:
    assert response.status_code == status
    assert response.mimetype == "application/json"
    assert response.get_json()["code"] == code
    assert set(response.get_json()) == {"code", "message", "details"}


def test_an_unexpected_error_on_a_device_url_is_openrosa_xml(
    served: Flask, make: Factory, monkeypatch: pytest.MonkeyPatch
):
    make.publish_md(SIMPLE_FORM)
    make.user("cw", "caseworker")
    phone = make.device_client("phone", "cw")
    monkeypatch.setattr(xform_queries, "list_downloadable", _boom)
    response = phone.get("/formList")
    _is_openrosa(response, 500)
    assert b"went wrong on the server" in response.data


def test_an_unexpected_error_on_the_api_is_json(
    served: Flask, make: Factory, monkeypatch: pytest.MonkeyPatch
):
    make.user("boss", "admin")
    token = make.api_token("boss")
    monkeypatch.setattr(xform_queries, "submission_counts", _boom)
    response = served.test_client().get(
        "/api/v1/forms", headers={"Authorization": f"Bearer {token}"}
    )
    _is_api(response, 500, "server.error")


def test_an_unexpected_error_outside_the_blueprints_follows_the_path(served: Flask):
    served.add_url_rule("/api/v1/broken", "broken_api", _boom)
    served.add_url_rule("/broken", "broken_page", _boom)
    client = served.test_client()
    _is_api(client.get("/api/v1/broken"), 500, "server.error")
    page = client.get("/broken")
    assert page.status_code == 500
    assert page.mimetype == "text/html"
    assert "Something went wrong" in page.get_data(as_text=True)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("PUT", "/key/{token}/submission", 405),
        ("DELETE", "/submission", 405),
        ("POST", "/key/{token}/formList", 405),
        ("POST", "/formList", 405),
        ("POST", "/forms/simple.xml", 405),
        ("PUT", "/forms/simple/attachments/a.png", 405),
        ("GET", "/key/{token}/nothing", 404),
        ("GET", "/key/{token}", 404),
        ("GET", "/key/", 404),
    ],
)
def test_device_urls_that_no_route_takes_are_openrosa_xml(
    client: FlaskClient, make: Factory, method: str, path: str, status: int
):
    make.user("cw", "caseworker")
    token = make.device_token("phone", "cw")
    response = client.open(path.format(token=token), method=method, headers=H, data=b"x")
    _is_openrosa(response, status)
    if status == 405:
        assert "GET" in response.headers["Allow"]


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/api", 404, "request.not_found"),
        ("GET", "/api/v2/forms", 404, "request.not_found"),
        ("GET", "/api/v1/nothing", 404, "request.not_found"),
        ("DELETE", "/api/v1/forms", 405, "request.method_not_allowed"),
        ("PUT", "/api/v1/cases/CP-1/close", 405, "request.method_not_allowed"),
    ],
)
def test_api_urls_that_no_route_takes_are_json(
    client: FlaskClient, make: Factory, method: str, path: str, status: int, code: str
):
    make.user("boss", "admin")
    token = make.api_token("boss")
    for headers in ({}, {"Authorization": f"Bearer {token}"}):
        _is_api(client.open(path, method=method, headers=headers), status, code)


def test_people_still_get_pages(client: FlaskClient):
    missing = client.get("/no/such/page")
    assert missing.status_code == 404
    assert missing.mimetype == "text/html"
    wrong_method = client.put("/login")
    assert wrong_method.status_code == 405
    assert wrong_method.mimetype == "text/html"
    forged = client.post("/forms/simple/attachments", data={"x": "y"})  # no CSRF token
    assert forged.status_code == 400
    assert "reload the page" in forged.get_data(as_text=True)


def test_a_session_signed_api_write_without_csrf_token_is_a_json_400(app: Flask, make: Factory):
    from tests.api.test_bearer_tokens import _sign_in

    make.user("des", "designer")
    client = app.test_client()
    _sign_in(client, "des")
    response = client.post("/api/v1/forms/simple/state", json={"state": "open"})
    _is_api(response, 400, "request.invalid")
    assert "CSRF" in response.get_json()["message"]


def test_a_device_post_with_a_browser_cookie_needs_no_csrf_token(
    client: FlaskClient, make: Factory
):
    make.publish_md(SIMPLE_FORM)
    make.user("cw", "caseworker")
    token = make.device_token("phone", "cw")
    client.get("/login")  # the browser's session cookie, with its CSRF token
    from tests.factories import DeviceClient, submission_xml

    phone = DeviceClient(client, token)
    assert phone.submit(submission_xml()).status_code == 201
    _is_openrosa(client.put(f"/key/{token}/submission", headers=H), 405)
