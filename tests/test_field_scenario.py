"""A field scenario through the device protocol with the real forms and three phones: a
plan, a contact made offline and sent before its plan, a conference, a resend, and two
phones updating one case from the same version. The case is then read back over the API
and checked field by field."""

from __future__ import annotations

import csv
import io

from flask.testing import FlaskClient

from server.services.service import create_service
from tests.factories import DeviceClient, Factory, bearer
from tests.realforms import case_conference, contact_log, new_case_plan

REF = "CP-FIELD-1"


def _case_row(phone: DeviceClient, form_id: str) -> dict[str, str]:
    response = phone.get(f"/forms/{form_id}/attachments/cases.csv")
    assert response.status_code == 200
    (row,) = [
        r
        for r in csv.DictReader(io.StringIO(response.get_data(as_text=True)))
        if r["case_ref"] == REF
    ]
    return row


def _items(phone: DeviceClient) -> list[dict[str, str]]:
    response = phone.get("/forms/contact_log/attachments/plan_items.csv")
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_three_phones_in_the_field(published: None, make: Factory, client: FlaskClient) -> None:
    make.user("cw1", "caseworker", team="north")
    make.user("sup", "supervisor", team="north")
    make._run(
        lambda s: create_service(
            s,
            {
                "service_id": "clinic-1",
                "name": "District clinic",
                "category": "Health",
                "provider": "District Health Office",
                "location": "Main road",
            },
        )
    )
    phone = make.device_client("cw1-phone", "cw1")
    tablet = make.device_client("cw1-tablet", "cw1")  # the caseworker's second device
    sup_phone = make.device_client("sup-phone", "sup")
    sup = bearer(make.api_token("sup"))

    # 1. Offline, the caseworker registers the case and records a contact; the phone sends
    #    the contact first (a flaky connection), then the plan.
    plan, entity_id = new_case_plan(REF, risk="high", frequency="7", plan_date="2026-11-20")
    first_contact = contact_log(
        REF, entity_id, base_version=1, risk="high", contact_time="2026-11-22T10:00:00.000Z",
        next_contact="2026-12-13",  # later than the plan's weekly contact
    )  # fmt: skip
    assert phone.submit(first_contact).status_code == 201
    assert client.get(f"/api/v1/cases/{REF}", headers=sup).status_code == 404
    assert phone.submit(plan).status_code == 201
    record = client.get(f"/api/v1/cases/{REF}", headers=sup).json
    assert [t["form_id"] for t in record["timeline"]] == ["case_plan", "contact_log"]
    assert record["next_contact_due"] == "2026-11-29"  # the contact + 7 days, not 12-13

    # 2. The plan is sent again (Collect did not see the answer): nothing is duplicated.
    resend = phone.submit(plan)
    assert resend.status_code == 201
    assert client.get(f"/api/v1/cases/{REF}", headers=sup).json["version"] == record["version"]

    # 3. The supervisor's phone records the case conference.
    seen = _case_row(sup_phone, "case_conference")
    assert seen["contact_frequency_days"] == "7"
    conference = case_conference(
        REF, entity_id, base_version=int(seen["__version"]), conference_date="2026-11-26",
        decisions=[("Enrol the child in the catch-up class", "teacher, Hilltop School",
                    "2027-01-05", "in_progress")],
        review="2027-01-20",
        start="2026-11-26T13:40:00.000+01:00", end="2026-11-26T14:10:00.000+01:00",
    )  # fmt: skip
    assert sup_phone.submit(conference).status_code == 201

    # 4. Both of the caseworker's devices update the case from the same version.
    version = int(_case_row(phone, "contact_log")["__version"])
    assert int(_case_row(tablet, "contact_log")["__version"]) == version
    health = next(i for i in _items(tablet) if i["kind"] == "service" and i["key"] == "health")
    morning = contact_log(
        REF, entity_id, base_version=version, risk="low", mode="phone",
        contact_time="2026-11-27T09:00:00.000Z", next_contact="2026-11-29",
        service_updates=[(health["name"], "delivered")],
    )  # fmt: skip
    afternoon = contact_log(
        REF, entity_id, base_version=version, risk="medium",
        contact_time="2026-11-27T15:00:00.000Z", next_contact="2026-12-30",
        health_referrals=[("", "Health referral", "Mobile clinic team, Market square",
                           "2026-11-29")],
    )  # fmt: skip
    assert phone.submit(afternoon).status_code == 201
    assert tablet.submit(morning).status_code == 201

    # 5. The case, field by field.
    record = client.get(f"/api/v1/cases/{REF}", headers=sup).json
    assert record["status"] == "open"
    assert record["entity_id"] == entity_id
    assert record["caseworker"] == "cw1"
    assert record["team"] == "north"
    assert record["contact_frequency_days"] == 7
    assert record["opened_at"].startswith("2026-11-20")
    assert record["closed_at"] is None
    assert record["last_contact_at"] == "2026-11-27T15:00:00+00:00"
    # the afternoon contact set 30 December; the plan wants contact every 7 days
    assert record["properties"]["next_contact_date"] == "2026-12-30"
    assert record["next_contact_due"] == "2026-12-04"
    assert record["last_review_at"] == "2026-11-26T13:10:00+00:00"
    assert record["review_due"] == "2027-01-20"
    properties = record["properties"]
    assert properties["review_date"] == "2027-01-20"
    assert properties["last_conference_date"] == "2026-11-26"
    assert properties["conference_outcome"] == "remain_open"
    assert properties["last_contact_mode"] == "home_visit"  # the latest contact's
    assert properties["alternative_care_needed"] == "no"
    assert properties["safety_plan_contacts"] == "Aunt, by phone"
    # the two devices changed the risk level differently from one version: a supervisor
    # decides; nothing else they said conflicts
    (conflict,) = record["conflicts"]
    assert conflict["field"] == "risk_level"
    assert sorted(c["value"] for c in conflict["candidates"]) == ["low", "medium"]
    assert record["open_conflicts"] == 1

    items = {(i["kind"], i["title"]): i for i in record["plan_items"]}
    assert set(items) == {
        ("need", "Physical violence or abuse"),
        ("service", "District clinic"),
        ("action", "Meet the school counsellor"),
        ("decision", "Enrol the child in the catch-up class"),
        ("service", "Health referral"),
    }
    clinic = items[("service", "District clinic")]
    assert (clinic["status"], clinic["is_done"]) == ("delivered", True)
    referral = items[("service", "Health referral")]
    assert (referral["owner"], referral["due_date"], referral["status"]) == (
        "Mobile clinic team, Market square",
        "2026-11-29",
        "referred",
    )
    decision = items[("decision", "Enrol the child in the catch-up class")]
    assert (decision["owner"], decision["due_date"], decision["status"]) == (
        "teacher, Hilltop School",
        "2027-01-05",
        "in_progress",
    )
    timeline = [(t["form_id"], t["state"]) for t in record["timeline"]]
    assert timeline == [
        ("case_plan", "applied"),
        ("contact_log", "applied"),
        ("case_conference", "applied"),
        ("contact_log", "applied"),
        ("contact_log", "applied"),
    ]
    # and every phone gets the case as it now stands
    for device in (phone, tablet, sup_phone):
        row = _case_row(device, "contact_log")
        assert (row["__version"], row["next_contact_due"]) == (
            str(record["version"]),
            "2026-12-04",
        )
