"""How many submissions each form and each version holds, as the forms API and page show
them: an edit replaces the submission it edits, it is not one more."""

from __future__ import annotations

import uuid

from flask.testing import FlaskClient

from tests.factories import Factory, bearer
from tests.realforms import contact_log, new_case_plan


def test_forms_count_their_current_submissions_per_form_and_version(
    published: None, make: Factory, client: FlaskClient
) -> None:
    make.user("cw1", "caseworker", team="north")
    make.user("boss", "admin")
    boss = bearer(make.api_token("boss"))
    phone = make.device_client("p1", "cw1")
    original = f"uuid:{uuid.uuid4()}"
    plan, entity_id = new_case_plan("CP-N-1", instance_id=original)
    assert phone.submit(plan).status_code == 201
    assert phone.submit(new_case_plan("CP-N-2")[0]).status_code == 201
    edit, _ = new_case_plan(
        "CP-N-1", entity_id, instance_id=f"uuid:{uuid.uuid4()}", deprecated_id=original
    )
    assert phone.submit(edit).status_code == 201
    contact = contact_log("CP-N-1", entity_id, base_version=1, contact_time="2026-11-24T10:00:00Z")
    assert phone.submit(contact).status_code == 201

    forms = {f["form_id"]: f for f in client.get("/api/v1/forms", headers=boss).json}
    assert forms["case_plan"]["submissions"] == 2
    assert forms["contact_log"]["submissions"] == 1
    assert forms["case_conference"]["submissions"] == 0
    one = client.get("/api/v1/forms/case_plan", headers=boss).json
    assert one["submissions"] == 2
    assert sum(v["submissions"] for v in one["versions"]) == 2
