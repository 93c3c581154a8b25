"""Linking submissions to cases through the device protocol, with the real xlsforms/:
who may write to a case, what each phone receives, renumbering a case by editing its
registration, and re-registering a duplicate while a phone still holds the old number."""

from __future__ import annotations

import csv
import io
import uuid
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from flask.testing import FlaskClient

from server import intake
from server.cases import rebuild
from tests.factories import DeviceClient, Factory, PublishedByCli, bearer, link_unlinked
from tests.realforms import contact_log, new_case_plan, plan_revision

MAN = {"m": "http://openrosa.org/xforms/xformsManifest"}
CASES = "/forms/contact_log/attachments/cases.csv"
ITEMS = "/forms/contact_log/attachments/plan_items.csv"


def _csv(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def _list_hash(phone: DeviceClient, name: str) -> str:
    doc = ET.fromstring(phone.get("/forms/contact_log/manifest").data)
    return next(
        str(m.findtext("m:hash", namespaces=MAN))
        for m in doc.findall("m:mediaFile", MAN)
        if m.findtext("m:filename", namespaces=MAN) == name
    )


def _deleted(phone: DeviceClient, entity_id: str) -> bool:
    body = phone.get(f"/datasets/cases/integrity?id={entity_id}").data
    assert b"<deleted>" in body
    return b"<deleted>true</deleted>" in body


def test_a_caseworker_can_neither_write_to_nor_receive_another_caseworkers_case(
    published: None, make: Factory, client: FlaskClient
) -> None:
    make.user("cw1", "caseworker", team="north")
    make.user("cw2", "caseworker", team="north")
    make.user("cw3", "caseworker", team="south")
    make.user("sup", "supervisor", team="north")
    phones = {u: make.device_client(f"phone-{u}", u) for u in ("cw1", "cw2", "cw3")}
    before = {
        u: (_list_hash(p, "cases.csv"), _list_hash(p, "plan_items.csv")) for u, p in phones.items()
    }
    plan, entity_id = new_case_plan("CP-A-001", caseworker="cw1", risk="high")
    assert phones["cw1"].submit(plan).status_code == 201
    sup = bearer(make.api_token("sup"))

    for intruder in ("cw2", "cw3"):
        phone = phones[intruder]
        # a contact naming the case by its reference number, with a made-up entity id
        forged = contact_log(
            "CP-A-001", str(uuid.uuid4()), base_version=1, risk="low",
            contact_time="2026-11-24T10:00:00.000Z",
        )  # fmt: skip
        # a contact with the case's real entity id, and a revision naming themselves
        real = contact_log(
            "CP-A-001", entity_id, base_version=1, risk="low",
            contact_time="2026-11-24T11:00:00.000Z",
        )  # fmt: skip
        takeover = plan_revision("CP-A-001", entity_id, base_version=1, caseworker=intruder)
        for xml in (forged, real, takeover):
            assert phone.submit(xml).status_code == 201

    record = client.get("/api/v1/cases/CP-A-001", headers=sup).json
    assert (record["caseworker"], record["risk_level"], record["version"]) == ("cw1", "high", 1)
    assert [t["submitter"] for t in record["timeline"]] == ["cw1"]

    def held(headers: dict[str, str]) -> list[tuple[str, str, str, str]]:
        queue = client.get("/api/v1/queues/unlinked", headers=headers).json
        return sorted(
            (q["submitter"], q["case_ref"], q["state"], q["hold_reason"] or "") for q in queue
        )

    # a made-up entity waits for a registration; the others are out of the sender's scope
    expected = {
        u: [(u, "CP-A-001", "unlinked", "")] + [(u, "CP-A-001", "unlinked", "out_of_scope")] * 2
        for u in ("cw2", "cw3")
    }
    assert held(sup) == expected["cw2"]  # the north supervisor sees the north team's only
    make.user("boss", "admin")
    assert held(bearer(make.api_token("boss"))) == expected["cw2"] + expected["cw3"]

    # The case changes again on cw1's phone: the others' lists and tokens do not move.
    assert phones["cw1"].submit(
        contact_log("CP-A-001", entity_id, base_version=1, contact_time="2026-11-25T10:00:00Z")
    ).status_code == 201  # fmt: skip
    assert [r["case_ref"] for r in _csv(phones["cw1"].get(CASES))] == ["CP-A-001"]
    assert {r["case_ref"] for r in _csv(phones["cw1"].get(ITEMS))} == {"CP-A-001"}
    assert not _deleted(phones["cw1"], entity_id)
    for intruder in ("cw2", "cw3"):
        phone = phones[intruder]
        assert _csv(phone.get(CASES)) == []
        assert _csv(phone.get(ITEMS)) == []
        assert (_list_hash(phone, "cases.csv"), _list_hash(phone, "plan_items.csv")) == before[
            intruder
        ]
        assert _deleted(phone, entity_id)  # never "keep it": it is not theirs
        token = bearer(make.api_token(intruder))
        assert client.get("/api/v1/cases/CP-A-001", headers=token).status_code == 404


def test_a_supervisor_links_a_held_contact_and_it_applies(
    published: None, make: Factory, client: FlaskClient
) -> None:
    make.user("cw1", "caseworker", team="north")
    make.user("cw2", "caseworker", team="north")
    make.user("sup", "supervisor", team="north")
    plan, entity_id = new_case_plan("CP-L-1", caseworker="cw1", risk="high")
    assert make.device_client("p1", "cw1").submit(plan).status_code == 201
    held_id = f"uuid:{uuid.uuid4()}"
    covering = contact_log(
        "CP-L-1", entity_id, base_version=1, risk="low", instance_id=held_id,
        contact_time="2026-11-24T10:00:00.000Z",
    )  # fmt: skip
    assert make.device_client("p2", "cw2").submit(covering).status_code == 201
    sup = bearer(make.api_token("sup"))
    (waiting,) = client.get("/api/v1/queues/unlinked", headers=sup).json
    assert waiting["instance_id"] == held_id
    linked = link_unlinked(client, sup, held_id, "CP-L-1")
    assert linked.status_code == 200, linked.json
    record = client.get("/api/v1/cases/CP-L-1", headers=sup).json
    assert (record["caseworker"], record["risk_level"]) == ("cw1", "low")
    assert client.get("/api/v1/queues/unlinked", headers=sup).json == []


def test_register_new_replaces_the_phones_stale_copy_and_holds_its_stale_contacts(
    published: None, make: Factory, client: FlaskClient
) -> None:
    make.user("cw1", "caseworker", team="north")
    make.user("cw2", "caseworker", team="north")
    make.user("boss", "admin")
    boss = bearer(make.api_token("boss"))
    p1, p2 = make.device_client("p1", "cw1"), make.device_client("p2", "cw2")
    first, _ = new_case_plan("CP-X-1", caseworker="cw1")
    assert p1.submit(first).status_code == 201
    dup_id = f"uuid:{uuid.uuid4()}"
    second, e2 = new_case_plan(
        "CP-X-1", caseworker="cw2", plan_date="2026-11-21", instance_id=dup_id
    )
    assert p2.submit(second).status_code == 201
    # cw2's phone keeps working on its own copy (local versions 1 -> 2)
    offline = contact_log("CP-X-1", e2, base_version=1, contact_time="2026-11-22T10:00:00Z")
    assert p2.submit(offline).status_code == 201

    resolved = client.post(
        "/api/v1/queues/duplicates/resolve",
        headers=boss,
        json={"instance_id": dup_id, "action": "register_new", "new_case_ref": "CP-X-2"},
    )
    assert resolved.status_code == 200, resolved.json
    (row,) = _csv(p2.get(CASES))
    assert (row["name"], row["case_ref"]) == (e2, "CP-X-2")
    assert int(row["__version"]) > 2  # higher than the phone's copy, so Collect replaces it

    # A contact made before the phone refreshed still says CP-X-1: held, not given to cw1's
    # case; the supervisor files it under CP-X-2.
    stale_id = f"uuid:{uuid.uuid4()}"
    stale = contact_log(
        "CP-X-1", e2, base_version=2, risk="low", instance_id=stale_id,
        contact_time="2026-11-29T10:00:00Z",
    )  # fmt: skip
    assert p2.submit(stale).status_code == 201
    x1 = client.get("/api/v1/cases/CP-X-1", headers=boss).json
    assert [t["submitter"] for t in x1["timeline"]] == ["cw1"]
    assert [q["instance_id"] for q in client.get("/api/v1/queues/unlinked", headers=boss).json] == [
        stale_id
    ]
    linked = link_unlinked(client, boss, stale_id, "CP-X-2")
    assert linked.status_code == 200, linked.json
    x2 = client.get("/api/v1/cases/CP-X-2", headers=boss).json
    assert (x2["caseworker"], x2["risk_level"], len(x2["timeline"])) == ("cw2", "low", 3)


def test_editing_the_registration_to_fix_its_number_renames_the_case(
    published: None, make: Factory, client: FlaskClient
) -> None:
    make.user("cw1", "caseworker", team="north")
    make.user("boss", "admin")
    boss = bearer(make.api_token("boss"))
    phone = make.device_client("p1", "cw1")
    original = f"uuid:{uuid.uuid4()}"
    plan, entity_id = new_case_plan("CP-TYPO-1", instance_id=original)
    assert phone.submit(plan).status_code == 201
    health = next(i for i in _csv(phone.get(ITEMS)) if i["kind"] == "service")
    contact = contact_log(
        "CP-TYPO-1", entity_id, base_version=1, contact_time="2026-11-24T10:00:00Z",
        service_updates=[(health["name"], "delivered")],
    )  # fmt: skip
    assert phone.submit(contact).status_code == 201
    version = int(_csv(phone.get(CASES))[0]["__version"])

    edit_id = f"uuid:{uuid.uuid4()}"
    fixed, _ = new_case_plan("CP-FIX-1", entity_id, instance_id=edit_id, deprecated_id=original)
    assert phone.submit(fixed).status_code == 201

    submission = client.get(f"/api/v1/forms/case_plan/submissions/{edit_id}", headers=boss).json
    assert (submission["processing_state"], submission["processing_error"]) == ("applied", None)
    assert client.get("/api/v1/cases/CP-TYPO-1", headers=boss).status_code == 404
    record = client.get("/api/v1/cases/CP-FIX-1", headers=boss).json
    assert record["entity_id"] == entity_id
    assert [t["state"] for t in record["timeline"]] == ["applied", "applied"]
    service_item = next(i for i in record["plan_items"] if i["kind"] == "service")
    assert (service_item["status"], service_item["is_done"]) == ("delivered", True)
    assert len(record["plan_items"]) == 3  # the contact's update met the renamed item
    (row,) = _csv(phone.get(CASES))
    assert (row["name"], row["case_ref"]) == (entity_id, "CP-FIX-1")
    assert int(row["__version"]) > version
    assert {i["case_ref"] for i in _csv(phone.get(ITEMS))} == {"CP-FIX-1"}
    assert client.get("/api/v1/queues/unlinked", headers=boss).json == []

    # Re-running the edit (or the whole history) changes nothing.
    for iid, state in ((edit_id, "applied"), (original, "superseded")):
        (result,) = make._run(lambda session, iid=iid: intake.reprocess(session, iid))
        assert result.state == state, result
    again = client.get("/api/v1/cases/CP-FIX-1", headers=boss).json
    assert again["version"] == record["version"]
    assert again["plan_items"] == record["plan_items"]


def test_a_failed_merge_is_redone_by_casework_reprocess(
    published_by_cli: PublishedByCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = published_by_cli
    casework, phone, client, boss = world.casework, world.phone, world.client, world.boss
    original = f"uuid:{uuid.uuid4()}"
    plan, entity_id = new_case_plan("CP-R-1", instance_id=original)

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("merge exploded")

    with monkeypatch.context() as patch:
        patch.setattr(rebuild, "build_case", broken)
        assert phone.submit(plan).status_code == 201  # the data is safe all the same
        edit_id = f"uuid:{uuid.uuid4()}"
        fixed, _ = new_case_plan("CP-R-2", entity_id, instance_id=edit_id, deprecated_id=original)
        assert phone.submit(fixed).status_code == 201
    for iid in (original, edit_id):
        stored = client.get(f"/api/v1/forms/case_plan/submissions/{iid}", headers=boss).json
        assert stored["processing_state"] == "failed", stored
    assert client.get("/api/v1/cases/CP-R-1", headers=boss).status_code == 404

    # Oldest first: the replaced registration counts for nothing, its edit makes the case.
    output = casework("reprocess")
    assert f"{original}: superseded CP-R-1" in output
    assert f"{edit_id}: applied CP-R-2" in output
    assert "2 submission(s) reprocessed." in output
    record = client.get("/api/v1/cases/CP-R-2", headers=boss).json
    assert (record["entity_id"], [t["instance_id"] for t in record["timeline"]]) == (
        entity_id,
        [edit_id],
    )
    assert "0 submission(s) reprocessed." in casework("reprocess")
    assert f"{edit_id}: applied CP-R-2" in casework("reprocess", edit_id)
    assert client.get("/api/v1/cases/CP-R-2", headers=boss).json["version"] == record["version"]

    # Renumbering again, this time with the merge working: the case is renamed, and
    # re-running the edit changes nothing.
    second_id = f"uuid:{uuid.uuid4()}"
    again, _ = new_case_plan("CP-R-3", entity_id, instance_id=second_id, deprecated_id=edit_id)
    assert phone.submit(again).status_code == 201
    renamed = client.get("/api/v1/cases/CP-R-3", headers=boss).json
    assert renamed["entity_id"] == entity_id
    assert client.get("/api/v1/cases/CP-R-2", headers=boss).status_code == 404
    assert f"{second_id}: applied CP-R-3" in casework("reprocess", second_id)
    assert client.get("/api/v1/cases/CP-R-3", headers=boss).json == renamed


def test_every_case_list_a_phone_receives_is_in_the_audit_log(
    published: None, make: Factory, device: DeviceClient, db_session: Any
) -> None:
    from sqlalchemy import select

    from server.audit.models import AuditEvent

    plan, _ = new_case_plan("CP-AUD-1", caseworker="cw1")
    assert device.submit(plan).status_code == 201
    first = device.get(CASES)
    assert first.status_code == 200
    assert device.get(ITEMS).status_code == 200
    unchanged = device.get(CASES, headers={"If-None-Match": first.headers["ETag"]})
    assert unchanged.status_code == 304  # nothing sent again: nothing to record

    db_session.rollback()
    events = db_session.scalars(
        select(AuditEvent).where(AuditEvent.action == "device.list_download")
    ).all()
    assert [(e.actor, e.target, e.details["device"]) for e in events] == [
        ("cw1", "cases.csv", "phone-1"),
        ("cw1", "plan_items.csv", "phone-1"),
    ]
    assert events[0].details["hash"] == first.headers["ETag"].strip('"')
