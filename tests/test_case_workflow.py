"""Submissions built from the real xlsforms/, posted through the device protocol, then the
case record checked field by field through the JSON API."""

from __future__ import annotations

import csv
import io
import uuid

from tests.factories import DeviceClient, Factory, approve_all, bearer
from tests.realforms import contact_log, new_case_plan


def _csv(response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_plan_then_contact_makes_one_living_case_record(
    published, make: Factory, device: DeviceClient, client
):
    plan_xml, entity_id = new_case_plan("CP-2026-0042")
    assert device.submit(plan_xml).status_code == 201

    cases = _csv(device.get("/forms/contact_log/attachments/cases.csv"))
    assert [c["case_ref"] for c in cases] == ["CP-2026-0042"]
    assert cases[0]["name"] == entity_id
    assert cases[0]["label"].startswith("CP-2026-0042")
    version = int(cases[0]["__version"])
    items = _csv(device.get("/forms/contact_log/attachments/plan_items.csv"))
    health = next(i for i in items if i["kind"] == "service")

    contact = contact_log(
        "CP-2026-0042",
        entity_id,
        base_version=version,
        contact_time="2026-11-24T10:00:00.000+03:00",
        risk="medium",
        next_contact="2026-12-01",
        service_updates=[(health["name"], "delivered")],
    )
    assert device.submit(contact).status_code == 201

    make.user("sup", "supervisor", team="north")
    token = make.api_token("sup")
    record = client.get("/api/v1/cases/CP-2026-0042", headers=bearer(token)).json
    assert record["status"] == "open"
    assert record["caseworker"] == "cw1"
    assert record["risk_level"] == "medium"  # the contact log changed it
    assert record["contact_frequency_days"] == 7
    assert record["next_contact_due"] == "2026-12-01"  # the date the caseworker set
    assert record["properties"]["safety_plan_contacts"] == "Aunt, by phone"
    assert (
        record["provenance"]["risk_level"]["instance_id"]
        != record["provenance"]["contact_frequency_days"]["instance_id"]
    )
    kinds = sorted(i["kind"] for i in record["plan_items"])
    assert kinds == ["action", "need", "service"]
    service = next(i for i in record["plan_items"] if i["kind"] == "service")
    assert service["status"] == "delivered"
    assert service["is_done"]
    need = next(i for i in record["plan_items"] if i["kind"] == "need")
    assert need["title"] == "Physical violence or abuse"
    assert need["due_date"] == "2026-11-25"
    assert [t["form_id"] for t in record["timeline"]] == ["case_plan", "contact_log"]

    after = _csv(device.get("/forms/contact_log/attachments/cases.csv"))
    assert int(after[0]["__version"]) > version


def test_contact_before_its_case_is_unlinked_then_linked(
    published, make: Factory, device: DeviceClient, client
):
    entity_id = str(uuid.uuid4())
    contact = contact_log(
        "CP-LATE-1", entity_id, base_version=1, contact_time="2026-11-24T10:00:00.000Z"
    )
    assert device.submit(contact).status_code == 201
    make.user("sup", "supervisor", team="north")
    token = make.api_token("sup")
    queue = client.get("/api/v1/queues/unlinked", headers=bearer(token)).json
    assert [q["case_ref"] for q in queue] == ["CP-LATE-1"]

    plan_xml, _ = new_case_plan("CP-LATE-1", entity_id, plan_date="2026-11-20")
    assert device.submit(plan_xml).status_code == 201
    assert client.get("/api/v1/queues/unlinked", headers=bearer(token)).json == []
    record = client.get("/api/v1/cases/CP-LATE-1", headers=bearer(token)).json
    assert len(record["timeline"]) == 2


def test_second_registration_of_a_reference_is_a_duplicate(published, make, device, client):
    first, _ = new_case_plan("CP-DUP-1")
    second, _ = new_case_plan("CP-DUP-1", plan_date="2026-11-21")
    assert device.submit(first).status_code == 201
    assert device.submit(second).status_code == 201
    make.user("boss", "admin")
    token = make.api_token("boss")
    duplicates = client.get("/api/v1/queues/duplicates", headers=bearer(token)).json
    assert len(duplicates) == 1
    record = client.get("/api/v1/cases/CP-DUP-1", headers=bearer(token)).json
    assert len(record["timeline"]) == 1  # never merged silently
    resolved = client.post(
        "/api/v1/queues/duplicates/resolve",
        headers=bearer(token),
        json={
            "instance_id": duplicates[0]["instance_id"],
            "action": "register_new",
            "new_case_ref": "CP-DUP-2",
        },
    )
    assert resolved.status_code == 200, resolved.json
    assert client.get("/api/v1/cases/CP-DUP-2", headers=bearer(token)).status_code == 200


def test_conflicting_offline_edits_wait_for_a_supervisor(published, make, device, client):
    plan_xml, entity_id = new_case_plan("CP-CONF-1", risk="medium")
    assert device.submit(plan_xml).status_code == 201
    other = make.device_client("phone-2", "cw1")  # the caseworker's second phone
    a = contact_log(
        "CP-CONF-1", entity_id, base_version=1, risk="low", contact_time="2026-11-24T10:00:00.000Z"
    )
    b = contact_log(
        "CP-CONF-1", entity_id, base_version=1, risk="high", contact_time="2026-11-24T11:00:00.000Z"
    )
    assert device.submit(a).status_code == 201
    assert other.submit(b).status_code == 201
    make.user("sup", "supervisor", team="north")
    token = make.api_token("sup")
    record = client.get("/api/v1/cases/CP-CONF-1", headers=bearer(token)).json
    (conflict,) = record["conflicts"]  # both changed the risk level; nothing else differs
    assert conflict["field"] == "risk_level"
    assert sorted(c["value"] for c in conflict["candidates"]) == ["high", "low"]
    assert record["open_conflicts"] == 1
    r = client.post(
        "/api/v1/cases/CP-CONF-1/conflicts/resolve",
        headers=bearer(token),
        json={"conflict_id": conflict["id"], "value": "low"},
    )
    assert r.status_code == 200, r.json
    record = client.get("/api/v1/cases/CP-CONF-1", headers=bearer(token)).json
    assert record["risk_level"] == "low"


def test_caseworkers_see_only_their_own_cases(published, make: Factory, device, client):
    plan_xml, _ = new_case_plan("CP-MINE-1")
    assert device.submit(plan_xml).status_code == 201
    make.user("cw2", "caseworker", team="north")
    other_phone = make.device_client("phone-2", "cw2")
    other_plan, _ = new_case_plan("CP-THEIRS-1", caseworker="cw2")
    assert other_phone.submit(other_plan).status_code == 201

    mine = make.api_token("cw1")
    listing = client.get("/api/v1/cases", headers=bearer(mine)).json
    assert [c["case_ref"] for c in listing["items"]] == ["CP-MINE-1"]
    assert client.get("/api/v1/cases/CP-THEIRS-1", headers=bearer(mine)).status_code == 404
    device_list = _csv(device.get("/forms/contact_log/attachments/cases.csv"))
    assert [c["case_ref"] for c in device_list] == ["CP-MINE-1"]
    assert (
        client.post("/api/v1/cases/CP-MINE-1/close", headers=bearer(mine), json={}).status_code
        == 403
    )


def test_closing_takes_the_case_off_devices(published, make, device, client):
    plan_xml, entity_id = new_case_plan("CP-CLOSE-1")
    assert device.submit(plan_xml).status_code == 201
    close = contact_log(
        "CP-CLOSE-1",
        entity_id,
        base_version=1,
        close="yes",
        contact_time="2026-11-25T09:00:00.000Z",
    )
    assert device.submit(close).status_code == 201
    # a closure waits for a supervisor's approval: the case stays on the phone until then
    assert [
        r["case_ref"] for r in _csv(device.get("/forms/contact_log/attachments/cases.csv"))
    ] == ["CP-CLOSE-1"]
    make.user("sup-close", "supervisor", team="north")
    # the high-risk plan, then the closure
    assert approve_all(client, "CP-CLOSE-1", bearer(make.api_token("sup-close"))) == 2
    assert _csv(device.get("/forms/contact_log/attachments/cases.csv")) == []
    integrity = device.get(f"/datasets/cases/integrity?id={entity_id}")
    assert integrity.status_code == 200
    assert b"<deleted>true</deleted>" in integrity.data


def test_edit_replaces_the_old_contribution(published, make, device, client):
    original = f"uuid:{uuid.uuid4()}"
    plan_xml, entity_id = new_case_plan("CP-EDIT-1", risk="high", instance_id=original)
    assert device.submit(plan_xml).status_code == 201
    edited, _ = new_case_plan("CP-EDIT-1", entity_id, risk="low", deprecated_id=original)
    assert device.submit(edited).status_code == 201
    make.user("boss", "admin")
    token = make.api_token("boss")
    record = client.get("/api/v1/cases/CP-EDIT-1", headers=bearer(token)).json
    assert record["risk_level"] == "low"
    assert [t["state"] for t in record["timeline"] if t["state"] == "applied"] == ["applied"]
