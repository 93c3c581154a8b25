"""Page numbers and ids are bounded: a huge one is a clear 400 (or 404), never a 500."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from server.bounds import MAX_ID, MAX_PAGE
from tests.api.test_bearer_tokens import _sign_in
from tests.factories import DeviceClient, Factory, bearer
from tests.realforms import new_case_plan, xlsform_bytes

HUGE = "99999999999999999999"
LISTS = [
    "/api/v1/forms/case_plan/submissions",
    "/api/v1/cases",
    "/api/v1/followups",
    "/api/v1/services",
]


@pytest.fixture
def token(make: Factory) -> str:
    make.publish_bytes(xlsform_bytes("case_plan"), "case_plan.xlsx")
    make.user("boss", "admin")
    return make.api_token("boss")


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("page", [HUGE, str(MAX_PAGE + 1), "0", "-1", str(2**63)])
def test_a_page_out_of_bounds_is_a_400(client: FlaskClient, token: str, path: str, page: str):
    response = client.get(f"{path}?page={page}", headers=bearer(token))
    assert response.status_code == 400
    body = response.get_json()
    assert body["code"] == "request.invalid"
    assert "page" in body["details"]["fields"]


@pytest.mark.parametrize("path", LISTS)
def test_the_last_page_allowed_is_answered(client: FlaskClient, token: str, path: str):
    response = client.get(f"{path}?page={MAX_PAGE}&per_page=500", headers=bearer(token))
    assert response.status_code == 200
    assert response.get_json()["items"] == []


@pytest.mark.parametrize("conflict_id", [10**23, MAX_ID + 1, 2**63, 0, -5])
def test_a_conflict_id_out_of_bounds_is_a_400(
    client: FlaskClient, token: str, device: DeviceClient, conflict_id: int
):
    plan, _ = new_case_plan("CP-BOUNDS-1")
    assert device.submit(plan).status_code == 201
    response = client.post(
        "/api/v1/cases/CP-BOUNDS-1/conflicts/resolve",
        json={"conflict_id": conflict_id, "value": "low"},
        headers=bearer(token),
    )
    assert response.status_code == 400
    assert "conflict_id" in response.get_json()["details"]["fields"]


def test_the_largest_id_is_only_not_found(client: FlaskClient, token: str, device: DeviceClient):
    plan, _ = new_case_plan("CP-BOUNDS-2")
    assert device.submit(plan).status_code == 201
    response = client.post(
        "/api/v1/cases/CP-BOUNDS-2/conflicts/resolve",
        json={"conflict_id": MAX_ID, "value": "low"},
        headers=bearer(token),
    )
    assert response.status_code == 404
    assert response.get_json()["code"] == "case.conflict_not_found"


def test_pages_bound_their_numbers_too(app: Flask, token: str, device: DeviceClient):
    plan, _ = new_case_plan("CP-BOUNDS-3")
    assert device.submit(plan).status_code == 201
    browser = app.test_client()
    _sign_in(browser, "boss")
    for path in ("/cases", "/services", "/audit"):
        assert browser.get(f"{path}?page={HUGE}").status_code == 400, path
        assert browser.get(f"{path}?page={MAX_PAGE}").status_code == 200, path
    for kind in ("xform", "xlsform"):
        assert browser.get(f"/forms/case_plan/versions/{HUGE}/{kind}").status_code == 404
    page = browser.get("/cases/CP-BOUNDS-3").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf is not None
    resolve = browser.post(
        "/cases/CP-BOUNDS-3/resolve",
        data={"conflict_id": HUGE, "value": '"low"', "csrf_token": csrf.group(1)},
    )
    assert resolve.status_code == 400
