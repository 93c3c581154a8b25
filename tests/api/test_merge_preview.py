"""Before merging a duplicate registration, a supervisor sees what the merge will change on
the case (risk, caseworker, next contact, plan items), and the preview changes nothing."""

from __future__ import annotations

import uuid
from typing import Any

from flask.testing import FlaskClient

from tests.api.test_cases_api import People, _send
from tests.factories import Factory
from tests.realforms import new_case_plan, xlsform_bytes


def _scenario(make: Factory) -> People:
    for form_id in ("case_plan", "contact_log"):
        make.publish_bytes(xlsform_bytes(form_id), f"{form_id}.xlsx")
    make.user("cw-n", "caseworker", team="north")
    make.user("cw-n2", "caseworker", team="north")
    make.user("sup-n", "supervisor", team="north")
    make.user("adm", "admin")
    _send(make, "cw-n", new_case_plan("CP-P-1", caseworker="cw-n", risk="high")[0])
    again = new_case_plan(
        "CP-P-1",
        caseworker="cw-n2",
        risk="low",
        plan_date="2026-11-22",
        frequency="14",
        instance_id="uuid:dup-p",
    )[0]
    _send(make, "cw-n2", again)
    return People(make)


def test_the_preview_shows_what_a_merge_changes_and_changes_nothing(
    make: Factory, client: FlaskClient
) -> None:
    people = _scenario(make)
    sup = people["sup-n"]

    def record() -> dict[str, Any]:
        response = client.get("/api/v1/cases/CP-P-1", headers=sup)
        assert response.status_code == 200
        data: dict[str, Any] = response.json
        return data

    before = record()
    response = client.post(
        "/api/v1/queues/duplicates/preview", headers=sup, json={"instance_id": "uuid:dup-p"}
    )
    assert response.status_code == 200, response.json
    shown = response.json
    assert shown["case_ref"] == "CP-P-1"
    changes = {c["field"]: (c["before"], c["after"]) for c in shown["changes"]}
    assert changes["risk_level"] == ("high", "low")
    assert changes["contact_frequency_days"] == (7, 14)
    assert "caseworker" not in changes  # a merged registration does not move the case
    owners = {
        f["field"]: (f["before"], f["after"])
        for item in shown["items"]
        for f in item["fields"]
        if item["change"] == "changed"
    }
    assert owners["owner"] == ("cw-n", "cw-n2")
    # nothing changed: the case is as it was and the duplicate still waits
    assert record() == before
    queue = client.get("/api/v1/queues/duplicates", headers=sup).json
    assert "uuid:dup-p" in {e["instance_id"] for e in queue}

    # the merge then does what the preview said
    merged = client.post(
        "/api/v1/queues/duplicates/resolve",
        headers=sup,
        json={"instance_id": "uuid:dup-p", "action": "merge", "reason": "same child"},
    )
    assert merged.status_code == 200, merged.json
    after = record()
    for field, (old, new) in changes.items():
        if field in after:
            assert (before[field], after[field]) == (old, new), field


def test_the_preview_is_refused_as_the_merge_would_be(make: Factory, client: FlaskClient) -> None:
    people = _scenario(make)
    make.user("sup-s", "supervisor", team="south")
    for who, iid, code in (
        ("sup-s", "uuid:dup-p", "submission.not_found"),  # out of the supervisor's scope
        ("sup-n", f"uuid:{uuid.uuid4()}", "submission.not_found"),
        ("cw-n", "uuid:dup-p", "auth.forbidden"),
    ):
        response = client.post(
            "/api/v1/queues/duplicates/preview", headers=people[who], json={"instance_id": iid}
        )
        assert response.status_code in (403, 404), response.json
        assert response.json["code"] == code, (who, response.json)
