"""The integrity URL answers only about entities the phone's user was sent.

Collect asks about the cases it holds offline. An id that is on the caller's cases.csv is
not deleted; an id that was on it and has left it (closed, reassigned away) is deleted, so
the phone drops it. Any other id (another team's case, another caseworker's) gets exactly
the answer an id the server never heard of gets: not deleted. So the URL cannot be used to
learn which cases exist.
"""

from __future__ import annotations

import uuid

from flask.testing import FlaskClient

from tests.factories import DeviceClient, Factory, approve_all, bearer
from tests.realforms import contact_log, new_case_plan


def _answer(phone: DeviceClient, entity_id: str) -> bytes:
    response = phone.get(f"/datasets/cases/integrity?id={entity_id}")
    assert response.status_code == 200
    return response.data.replace(entity_id.encode(), b"ID")


def test_the_integrity_url_says_nothing_about_cases_the_caller_was_never_sent(
    published: None, make: Factory, client: FlaskClient
) -> None:
    make.user("cw1", "caseworker", team="north")
    make.user("cw2", "caseworker", team="north")
    make.user("cw3", "caseworker", team="south")
    make.user("sup", "supervisor", team="north")
    make.user("sup-s", "supervisor", team="south")
    make.user("boss", "admin")
    phones = {u: make.device_client(f"phone-{u}", u) for u in ("cw1", "cw2", "cw3", "sup-s")}
    phones["sup"] = make.device_client("phone-sup", "sup")
    phones["boss"] = make.device_client("phone-boss", "boss")
    sup = bearer(make.api_token("sup"))

    kept, kept_id = new_case_plan("CP-INT-001", caseworker="cw1")
    moved, moved_id = new_case_plan("CP-INT-002", caseworker="cw1")
    closed, closed_id = new_case_plan("CP-INT-003", caseworker="cw1")
    for xml in (kept, moved, closed):
        assert phones["cw1"].submit(xml).status_code == 201
    others, others_id = new_case_plan("CP-INT-004", caseworker="cw2")
    assert phones["cw2"].submit(others).status_code == 201
    south, south_id = new_case_plan("CP-INT-005", caseworker="cw3")
    assert phones["cw3"].submit(south).status_code == 201

    # CP-INT-002 goes to cw2; CP-INT-003 is closed
    moved_to = client.post(
        "/api/v1/cases/CP-INT-002/reassign",
        headers=sup,
        json={"username": "cw2", "reason": "caseload"},
    )
    assert moved_to.status_code == 200
    close = contact_log(
        "CP-INT-003", closed_id, base_version=1, close="yes", contact_time="2026-11-25T09:00Z"
    )
    assert phones["cw1"].submit(close).status_code == 201
    assert approve_all(client, "CP-INT-003", sup) == 2  # the high-risk plan, the closure

    kept_answer = b"<deleted>false</deleted>"
    unknown = _answer(phones["cw1"], str(uuid.uuid4()))
    assert kept_answer in unknown
    gone = unknown.replace(kept_answer, b"<deleted>true</deleted>")

    expected = {
        # on the list now: kept; was on it and left: deleted; never on it: as unknown
        "cw1": {kept_id: unknown, moved_id: gone, closed_id: gone, others_id: unknown},
        "cw2": {kept_id: unknown, moved_id: unknown, others_id: unknown, closed_id: unknown},
        "cw3": {kept_id: unknown, moved_id: unknown, closed_id: unknown, south_id: unknown},
        "sup": {kept_id: unknown, closed_id: gone, south_id: unknown},
        "sup-s": {kept_id: unknown, closed_id: unknown, others_id: unknown, south_id: unknown},
        "boss": {kept_id: unknown, closed_id: gone, south_id: unknown},
    }
    for user, answers in expected.items():
        for entity_id, answer in answers.items():
            assert _answer(phones[user], entity_id) == answer, (user, entity_id)

    # one request about several ids answers for each alike
    several = (
        phones["cw3"].get(f"/datasets/cases/integrity?id={kept_id},{south_id},{closed_id}").data
    )
    assert b"<deleted>true</deleted>" not in several
