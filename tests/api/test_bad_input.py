"""Text and dates no database can hold are refused at the door with a clear 400.

PostgreSQL cannot store or even compare text holding a NUL character, and a time such as
0001-01-01T00:00+14:00 has no UTC equivalent; both used to reach a query and fail as a 500.
"""

from __future__ import annotations

import base64

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.api.test_bearer_tokens import _sign_in
from tests.factories import SIMPLE_FORM, Factory, bearer

H = {"X-OpenRosa-Version": "1.0"}


@pytest.fixture
def token(make: Factory) -> str:
    make.publish_md(SIMPLE_FORM)
    make.user("boss", "admin")
    return make.api_token("boss")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/cases?ref=CP%00", None),
        ("GET", "/api/v1/cases?team=a%00b", None),
        ("GET", "/api/v1/forms/simple/submissions?submitter=%00", None),
        ("GET", "/api/v1/forms/sim%00ple", None),
        ("GET", "/api/v1/cases/CP-1%00", None),
        ("GET", "/api/v1/services?q=%00", None),
        ("POST", "/api/v1/services", {"service_id": "s1", "name": "a\u0000", "category": "x"}),
        ("POST", "/api/v1/queues/unlinked/link", {"instance_id": "a\u0000", "case_ref": "b"}),
        ("POST", "/api/v1/services", {"service_id": "s1", "name\u0000": "a", "category": "x"}),
    ],
)
def test_nul_characters_are_a_json_400(
    client: FlaskClient, token: str, method: str, path: str, body: object
):
    response = client.open(path, method=method, json=body, headers=bearer(token))
    assert response.status_code == 400
    assert response.get_json()["code"] == "request.invalid"
    assert "NUL" in response.get_json()["message"]


def test_deeply_nested_json_is_a_400(client: FlaskClient, token: str):
    for body in (b"[" * 100_000, b"[" * 500 + b"]" * 500):
        response = client.post(
            "/api/v1/services",
            data=body,
            headers={**bearer(token), "Content-Type": "application/json"},
        )
        assert response.status_code == 400
        assert "nested too deeply" in response.get_json()["message"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/key/{token}/forms/sim%00ple.xml", 404),
        ("/key/{token}/forms/simple/attachments/a%00.png", 404),
        ("/key/{token}/submission?deviceID=collect%3A%00", 204),  # (a POST stores it cleaned)
        ("/key/{token}/datasets/cases/integrity?id=%00", 200),  # an id no entity has
    ],
)
def test_nul_characters_on_device_urls_find_nothing(
    client: FlaskClient, make: Factory, path: str, status: int
):
    make.user("cw", "caseworker")
    device_token = make.device_token("phone", "cw")
    response = client.get(path.format(token=device_token), headers=H)
    assert response.status_code == status
    assert response.headers["X-OpenRosa-Version"] == "1.0"


def test_a_nul_in_a_user_name_is_only_wrong_credentials(client: FlaskClient, make: Factory):
    make.user("cw", "caseworker")
    basic = "Basic " + base64.b64encode(b"cw\x00:whatever").decode()
    response = client.get(
        "/formList", headers={**H, "Authorization": basic}, base_url="https://localhost"
    )
    assert response.status_code == 401
    assert "WWW-Authenticate" in response.headers
    page = client.post("/login", data={"username": "cw\x00", "password": "whatever"})
    assert page.status_code == 400
    assert page.mimetype == "text/html"


@pytest.mark.parametrize(
    "query",
    [
        "/api/v1/forms/simple/submissions?since=0001-01-01T00:00:00%2B14:00",
        "/api/v1/forms/simple/submissions?until=9999-12-31T23:59:59-14:00",
        "/api/v1/forms/simple/export?received_from=0001-01-01T00:00:00%2B14:00",
        "/api/v1/forms/simple/export?received_before=9999-12-31T23:59:59-14:00",
    ],
)
def test_times_without_a_utc_equivalent_are_a_400(client: FlaskClient, token: str, query: str):
    response = client.get(query, headers=bearer(token))
    assert response.status_code == 400
    assert "out of range" in str(response.get_json()["details"])


def test_the_audit_page_refuses_a_day_without_an_end(app: Flask, make: Factory):
    make.user("boss", "admin")
    browser = app.test_client()
    _sign_in(browser, "boss")
    assert browser.get("/audit?until=9999-12-31").status_code == 400
    assert browser.get("/audit?until=2026-12-31").status_code == 200
