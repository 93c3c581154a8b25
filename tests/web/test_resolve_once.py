"""A conflict is resolved once: whoever comes second is told what was decided, by whom and
when (JSON from the API, a message on the case page), and the first decision stands."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask

from tests.factories import DeviceClient, Factory, bearer
from tests.realforms import contact_log, new_case_plan

REF = "CP-ONCE-1"


def _conflict_id(app: Flask, make: Factory, device: DeviceClient) -> int:
    plan, entity_id = new_case_plan(REF, risk="medium")
    assert device.submit(plan).status_code == 201
    for risk, hour in (("low", 10), ("high", 11)):
        contact = contact_log(
            REF, entity_id, base_version=1, risk=risk, contact_time=f"2026-11-24T{hour}:00:00Z"
        )
        assert device.submit(contact).status_code == 201
    mine = bearer(make.api_token("cw1"))
    (conflict,) = app.test_client().get(f"/api/v1/cases/{REF}", headers=mine).json["conflicts"]
    return int(conflict["id"])


def test_the_api_answers_409_with_what_was_decided(
    app: Flask, published: None, make: Factory, device: DeviceClient
):
    conflict_id = _conflict_id(app, make, device)
    make.user("sup1", "supervisor", team="north")
    make.user("sup2", "supervisor", team="north")
    client = app.test_client()
    path = f"/api/v1/cases/{REF}/conflicts/resolve"
    first = client.post(
        path,
        headers=bearer(make.api_token("sup1")),
        json={"conflict_id": conflict_id, "value": "low"},
    )
    assert first.status_code == 200, first.json
    second = client.post(
        path,
        headers=bearer(make.api_token("sup2")),
        json={"conflict_id": conflict_id, "value": "high"},
    )
    assert second.status_code == 409
    body: dict[str, Any] = second.json
    assert body["code"] == "case.conflict_resolved"
    assert body["details"]["resolved_by"] == "sup1"
    assert body["details"]["value"] == "low"
    assert body["details"]["field"] == "risk_level"
    assert body["details"]["resolved_at"]
    assert "sup1" in body["message"]
    case = client.get(f"/api/v1/cases/{REF}", headers=bearer(make.api_token("sup2"))).json
    assert case["risk_level"] == "low"  # the first decision stands


def test_the_case_page_says_who_resolved_it_and_to_what(
    app: Flask, published: None, make: Factory, device: DeviceClient, web_as: Any
):
    conflict_id = _conflict_id(app, make, device)
    first, second = (
        web_as("sup1", "supervisor", team="north"),
        web_as("sup2", "supervisor", team="north"),
    )
    form = {"conflict_id": str(conflict_id), "value": json.dumps("low")}
    assert first.post(f"/cases/{REF}/resolve", form).status_code == 302
    form["value"] = json.dumps("high")
    again = second.post(f"/cases/{REF}/resolve", form, follow_redirects=True)
    page = again.get_data(as_text=True)
    assert again.status_code == 200
    assert "already resolved by sup1" in page
    assert "risk_level = low" in page
