"""Every answer carries the browser protections, whatever answered it: a page, an error
page, the API, a device endpoint, a static file. Untrusted XML and files are sandboxed, and
what a phone sent is a download."""

from __future__ import annotations

import hashlib

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.api.test_bearer_tokens import _sign_in
from tests.factories import SIMPLE_FORM, Factory, bearer, submission_xml

INSTANCE = "uuid:0b6c3c1e-9d1b-4c47-a2b8-3f0f9a1d2e7c"


@pytest.fixture
def world(make: Factory, client: FlaskClient) -> dict[str, str]:
    make.publish_md(SIMPLE_FORM, media={"logo.png": b"\x89PNG fake"})
    make.user("adm", "admin")
    make.user("cw", "caseworker", team="north")
    phone = make.device_client("phone-cw", "cw")
    sent = phone.submit(submission_xml(instance_id=INSTANCE), {"photo.jpg": b"\xff\xd8 fake"})
    assert sent.status_code == 201
    _sign_in(client, "adm")
    return {"token": phone.token, "api": make.api_token("adm")}


def _common(response: TestResponse) -> None:
    headers = response.headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] in ("same-origin", "no-referrer")
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]


def _page_policy(response: TestResponse) -> dict[str, str]:
    policy = response.headers["Content-Security-Policy"]
    parts = {}
    for directive in policy.split(";"):
        name, _, value = directive.strip().partition(" ")
        parts[name] = value
    assert parts["default-src"] == "'self'"
    assert parts["object-src"] == "'none'"
    assert parts["base-uri"] == "'self'"
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    return parts


def _sandboxed(response: TestResponse) -> None:
    directives = [d.strip() for d in response.headers["Content-Security-Policy"].split(";")]
    assert "sandbox" in directives  # no allow-scripts, no allow-same-origin


@pytest.mark.parametrize(
    "path",
    ["/login", "/dashboard", "/cases", "/forms", "/devices", "/audit", "/no-such-page"],
)
def test_pages_carry_the_page_policy(client: FlaskClient, world: dict[str, str], path: str):
    response = client.get(path)
    assert response.mimetype == "text/html"
    _common(response)
    _page_policy(response)


def test_the_signed_out_sign_in_page_and_static_files_too(client: FlaskClient):
    for path in ("/login", "/web/static/style.css", "/cases"):
        _common(client.get(path))


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/forms",
        "/api/v1/cases",
        "/api/v1/forms/simple/submissions",
        f"/api/v1/forms/simple/submissions/{INSTANCE}",
        "/api/v1/no-such-thing",
    ],
)
def test_the_api_is_sandboxed_data(client: FlaskClient, world: dict[str, str], path: str):
    for response in (client.get(path), client.get(path, headers=bearer(world["api"]))):
        _common(response)
        _sandboxed(response)


def test_submission_xml_is_a_sandboxed_download(client: FlaskClient, world: dict[str, str]):
    for headers in ({}, bearer(world["api"])):
        response = client.get(f"/api/v1/forms/simple/submissions/{INSTANCE}.xml", headers=headers)
        assert response.status_code == 200
        assert response.headers["Content-Disposition"].startswith("attachment")
        assert response.headers["Content-Disposition"].endswith('.xml"')
        _common(response)
        _sandboxed(response)


def test_submission_attachments_are_sandboxed_downloads(client: FlaskClient, world: dict[str, str]):
    response = client.get(f"/api/v1/forms/simple/submissions/{INSTANCE}/attachments/photo.jpg")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment")
    _common(response)
    _sandboxed(response)


@pytest.mark.parametrize(
    "path",
    [
        "/formList",
        "/forms/simple.xml",
        "/forms/simple/manifest",
        "/forms/simple/attachments/logo.png",
        "/submission",
        "/forms/nothing.xml",
    ],
)
def test_device_answers_are_sandboxed(client: FlaskClient, world: dict[str, str], path: str):
    response = client.get(
        f"/key/{world['token']}{path}?deviceID=collect%3Ax",
        headers={"X-OpenRosa-Version": "1.0"},
    )
    assert response.status_code in (200, 204, 404)
    _common(response)
    _sandboxed(response)


def test_collect_still_gets_the_form_it_needs(client: FlaskClient, world: dict[str, str]):
    """The form download keeps what Collect reads: a 200, the exact bytes the form list
    announced (by MD5), the OpenRosa header; no attachment disposition is needed."""
    token = world["token"]
    listing = client.get(f"/key/{token}/formList", headers={"X-OpenRosa-Version": "1.0"})
    assert listing.status_code == 200
    assert "text/xml" in listing.headers["Content-Type"]
    form = client.get(f"/key/{token}/forms/simple.xml", headers={"X-OpenRosa-Version": "1.0"})
    assert form.status_code == 200
    assert form.headers["X-OpenRosa-Version"] == "1.0"
    assert f"md5:{hashlib.md5(form.data).hexdigest()}" in listing.get_data(as_text=True)
