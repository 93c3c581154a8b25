"""JSON text that is not Unicode: a lone surrogate escape (``"\\ud800"``) is valid JSON
syntax, but no database, log or page can hold the string it makes. Every JSON body is
checked once at the door, so each endpoint answers the API's JSON 400, never a 500."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tests.factories import Factory, bearer
from tests.realforms import new_case_plan, xlsform_bytes

LONE = ["\\ud800", "\\udfff", "a\\udc00b", "\\ude00\\ud83d"]


@pytest.fixture
def boss(make: Factory) -> dict[str, str]:
    make.publish_bytes(xlsform_bytes("case_plan"), "case_plan.xlsx")
    make.user("cw1", "caseworker", team="north")
    make.user("boss", "admin")
    phone = make.device_client("phone-1", "cw1")
    assert phone.submit(new_case_plan("CP-1")[0]).status_code == 201
    return {**bearer(make.api_token("boss")), "Content-Type": "application/json"}


@pytest.mark.parametrize("lone", LONE)
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/v1/cases/CP-1/reassign", '{"username": "%s", "reason": "caseload"}'),
        ("POST", "/api/v1/cases/CP-1/close", '{"reason": "%s"}'),
        ("POST", "/api/v1/cases/CP-1/conflicts/resolve", '{"field": "risk_level", "value": "%s"}'),
        ("POST", "/api/v1/queues/unlinked/link", '{"instance_id": "%s", "case_ref": "CP-1"}'),
        ("POST", "/api/v1/services", '{"service_id": "s1", "name": "%s", "category": "x"}'),
        ("PATCH", "/api/v1/services/s1", '{"name": "x", "%s": 1}'),
    ],
)
def test_a_lone_surrogate_in_json_is_a_400(
    client: FlaskClient, boss: dict[str, str], method: str, path: str, body: str, lone: str
) -> None:
    response = client.open(path, method=method, data=body % lone, headers=boss)
    assert response.status_code == 400, response.get_data(as_text=True)
    answer = response.get_json()
    assert answer["code"] == "request.invalid"
    assert "surrogate" in answer["message"]


def test_a_surrogate_pair_is_one_character_and_fine(
    client: FlaskClient, boss: dict[str, str]
) -> None:
    response = client.post(
        "/api/v1/cases/CP-1/close", data='{"reason": "done \\ud83d\\ude00"}', headers=boss
    )
    assert response.status_code == 200, response.get_data(as_text=True)
