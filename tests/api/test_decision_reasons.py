"""The API asks the same reason as the pages for closing, reopening, reassigning and
merging: without one the answer is a JSON 400 and nothing changes; with one it is kept
with the decision (the case's actions) and in the audit log."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.api.test_cases_api import People, people  # noqa: F401  (fixture)

CASES = "/api/v1/cases"
RESOLVE = "/api/v1/queues/duplicates/resolve"
MERGE = {"instance_id": "uuid:dup-n", "action": "merge"}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (f"{CASES}/CP-N-1/close", {}),
        (f"{CASES}/CP-N-1/close", {"reason": ""}),
        (f"{CASES}/CP-N-1/reopen", {}),
        (f"{CASES}/CP-N-1/reassign", {"username": "cw-n2"}),
        (RESOLVE, MERGE),
        (f"{CASES}/CP-N-1/close", {"reason": "x" * 2001}),
    ],
)
def test_a_decision_without_a_reason_is_a_json_400(
    people: People,  # noqa: F811
    client: FlaskClient,
    path: str,
    body: dict[str, Any],
) -> None:
    sup = people["sup-n"]
    before = client.get(f"{CASES}/CP-N-1", headers=sup).json
    response = client.post(path, headers=sup, json=body)
    assert response.status_code == 400, response.json
    assert response.json["code"] == "request.invalid"
    assert "reason" in response.json["details"]["fields"]
    after = client.get(f"{CASES}/CP-N-1", headers=sup).json
    assert (after["status"], after["caseworker"], after["actions"]) == (
        before["status"],
        before["caseworker"],
        before["actions"],
    )


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (f"{CASES}/CP-N-1/close", {"reason": "   "}),
        (f"{CASES}/CP-N-1/reassign", {"username": "cw-n2", "reason": "\n\t"}),
        (RESOLVE, {**MERGE, "reason": "  "}),
    ],
)
def test_a_reason_of_blanks_is_no_reason(
    people: People,  # noqa: F811
    client: FlaskClient,
    path: str,
    body: dict[str, Any],
) -> None:
    response = client.post(path, headers=people["sup-n"], json=body)
    assert response.status_code == 400, response.json
    assert response.json["code"] == "case.reason_required"


def test_the_reason_is_kept_with_the_decision(
    people: People,  # noqa: F811
    client: FlaskClient,
) -> None:
    sup = people["sup-n"]
    moved = {"username": "cw-n2", "reason": "  Caseload  "}
    assert client.post(f"{CASES}/CP-N-1/reassign", headers=sup, json=moved).status_code == 200
    closing = {"reason": "Goals met"}
    assert client.post(f"{CASES}/CP-N-1/close", headers=sup, json=closing).status_code == 200
    merge = {**MERGE, "reason": "Same child"}
    assert client.post(RESOLVE, headers=sup, json=merge).status_code == 200
    actions = client.get(f"{CASES}/CP-N-1", headers=sup).json["actions"]
    assert [(a["kind"], a["actor"], a["payload"].get("reason")) for a in actions] == [
        ("reassign", "sup-n", "Caseload"),
        ("close", "sup-n", "Goals met"),
        ("merge_duplicate", "sup-n", "Same child"),
    ]
    assert actions[0]["payload"]["username_before"] == "cw-n"
