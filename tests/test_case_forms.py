"""Each real form from xlsforms/, posted through the device protocol, and what it does to
the case record, field by field (through the JSON API): plan revisions, case conferences,
contacts made offline at the same time, referrals made at a contact."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from server import create_app, db, intake
from server.cases import routing
from server.cases.settings import case_settings
from server.submissions.models import Submission
from tests.factories import DeviceClient, Factory, approve_all
from tests.realforms import (
    case_conference,
    checked,
    contact_log,
    new_case_plan,
    plan_revision,
)
from tests.web.conftest import Web


@pytest.fixture
def boss(make: Factory) -> dict[str, str]:
    make.user("boss", "admin")
    return {"Authorization": f"Bearer {make.api_token('boss')}"}


def _csv(response: Any) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def _record(client: Any, headers: dict[str, str], case_ref: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/cases/{case_ref}", headers=headers)
    assert response.status_code == 200, response.json
    record: dict[str, Any] = response.json
    return record


def _items(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {i["title"]: i for i in record["plan_items"]}


def _version(device: DeviceClient, case_ref: str) -> int:
    rows = _csv(device.get("/forms/contact_log/attachments/cases.csv"))
    return int(next(r for r in rows if r["case_ref"] == case_ref)["__version"])


# --- concurrent contacts ---------------------------------------------------------------------


@pytest.mark.parametrize("keeper_is_later", [False, True])
def test_contacts_from_one_version_conflict_only_where_both_changed_the_case(
    published, make: Factory, device: DeviceClient, client, boss, keeper_is_later: bool
):
    plan, entity = new_case_plan("CP-C-1", risk="medium", frequency="14")
    assert device.submit(plan).status_code == 201
    # the team's supervisor visits too (a second caseworker's contact would be held: only
    # the case's caseworker and the team's supervisors may change it)
    make.user("sup2", "supervisor", team="north")
    other = make.device_client("phone-2", "sup2")
    # cw1 keeps the risk at medium; sup2, offline on the same version, raises it to high
    keep_at, raise_at = "2026-11-24T10:00:00.000Z", "2026-11-25T10:00:00.000Z"
    if keeper_is_later:
        keep_at, raise_at = raise_at, keep_at
    kept = contact_log(
        "CP-C-1",
        entity,
        base_version=1,
        contact_time=keep_at,
        risk="medium",
        mode="home_visit",
        next_contact="2026-12-05",
    )
    raised = contact_log(
        "CP-C-1",
        entity,
        base_version=1,
        contact_time=raise_at,
        risk="high",
        mode="phone",
        next_contact="2026-11-28",
    )
    assert device.submit(kept).status_code == 201
    assert other.submit(raised).status_code == 201

    record = _record(client, boss, "CP-C-1")
    assert record["conflicts"] == []
    assert record["open_conflicts"] == 0
    # the raise stands, whichever visit came later: keeping the risk changed nothing
    assert record["risk_level"] == "high"
    assert record["provenance"]["risk_level"]["user"] == "sup2"
    # how the contact took place and the next contact are the latest contact's
    later_mode, later_next = (
        ("home_visit", "2026-12-05") if keeper_is_later else ("phone", "2026-11-28")
    )
    assert record["properties"]["last_contact_mode"] == later_mode
    assert record["properties"]["next_contact_date"] == later_next
    assert record["next_contact_due"] == later_next
    assert record["last_contact_at"] == "2026-11-25T10:00:00+00:00"
    # one key per answer: nothing stored twice under the role's old names
    assert "next_contact" not in record["properties"]
    assert "review_due" not in record["properties"]


# --- same-day events ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("revised_at", "risk"),
    [("2026-11-24T15:30:00.000+03:00", "low"), ("2026-11-24T08:00:00.000+03:00", "high")],
)
def test_a_plan_dated_today_counts_at_the_time_it_was_filled_in(
    published, device: DeviceClient, client, boss, revised_at: str, risk: str
):
    plan, entity = new_case_plan("CP-T-1", risk="medium", plan_date="2026-11-20")
    assert device.submit(plan).status_code == 201
    visit = contact_log(
        "CP-T-1",
        entity,
        base_version=1,
        risk="high",
        contact_time="2026-11-24T09:00:00.000+03:00",
        next_contact="2026-11-27",
    )
    assert device.submit(visit).status_code == 201
    revision = plan_revision(
        "CP-T-1",
        entity,
        base_version=2,
        risk="low",
        plan_date="2026-11-24",
        start="2026-11-24T07:50:00.000+03:00",
        end=revised_at,
    )
    assert device.submit(revision).status_code == 201

    record = _record(client, boss, "CP-T-1")
    assert record["risk_level"] == risk  # the later of the two on that day
    revision_event = next(
        t for t in record["timeline"] if t["form_id"] == "case_plan" and not t["is_registration"]
    )
    assert datetime.fromisoformat(revision_event["event_at"]) == datetime.fromisoformat(revised_at)


# --- plan revision -----------------------------------------------------------------------------


def test_plan_revision_updates_picked_items_and_keeps_the_rest(
    published, make: Factory, device: DeviceClient, client, boss
):
    plan, entity = new_case_plan("CP-R-1", risk="high", frequency="7", plan_date="2026-11-20")
    assert device.submit(plan).status_code == 201
    items = {i["kind"]: i for i in _csv(device.get("/forms/case_plan/attachments/plan_items.csv"))}
    assert set(items) == {"need", "service", "action"}
    assert items["need"]["key"] == "physical_violence"
    assert items["service"]["key"] == "health"
    visit = contact_log(
        "CP-R-1",
        entity,
        base_version=1,
        contact_time="2026-11-24T10:00:00.000Z",
        risk="high",
        next_contact="2026-11-30",
        service_updates=[(items["service"]["name"], "delivered")],
    )
    assert device.submit(visit).status_code == 201

    # The supervisor revises the plan on their own phone: the form fills in the case's
    # caseworker (cw1), not the supervisor's username.
    make.user("sup", "supervisor", team="north")
    phone = make.device_client("sup-phone", "sup")
    version = _version(phone, "CP-R-1")
    revision = plan_revision(
        "CP-R-1",
        entity,
        base_version=version,
        case_caseworker="cw1",
        username="sup",
        risk="medium",
        plan_date="2026-11-27",
        frequency="14",
        review="2027-02-20",
        existing=[
            (items["need"]["name"], "in_progress", items["need"]["due"]),
            (items["action"]["name"], "done", items["action"]["due"]),
        ],
        needs=[
            {
                "need_category": "psychosocial_distress",
                "need_key": "psychosocial_distress",
                "need_title": "Psychosocial distress",
                "how_addressed": "Weekly group sessions",
                "need_owner": "psychosocial worker, NGO",
                "need_due": "2026-12-15",
                "need_status": "planned",
            }
        ],
    )
    assert phone.submit(revision).status_code == 201

    record = _record(client, boss, "CP-R-1")
    assert record["caseworker"] == "cw1"
    assert record["risk_level"] == "medium"
    assert record["contact_frequency_days"] == 14
    assert record["review_due"] == "2027-02-20"
    assert record["last_review_at"] == "2026-11-27T23:59:59+00:00"  # dated, not timed
    assert record["properties"]["plan_date"] == "2026-11-27"
    assert record["properties"]["review_date"] == "2027-02-20"
    assert record["conflicts"] == []
    by_title = _items(record)
    assert set(by_title) == {
        "Physical violence or abuse",
        "District clinic",
        "Meet the school counsellor",
        "Psychosocial distress",
    }
    need = by_title["Physical violence or abuse"]
    assert (need["kind"], need["status"], need["due_date"], need["owner"]) == (
        "need",
        "in_progress",
        "2026-11-25",
        "cw1",
    )
    assert need["provenance"]["status"]["user"] == "sup"
    assert need["provenance"]["due"]["user"] == "cw1"  # repeated as it was: no change
    action = by_title["Meet the school counsellor"]
    assert (action["kind"], action["status"], action["is_done"]) == ("action", "done", True)
    # not picked in the revision: the delivered service stays delivered
    service = by_title["District clinic"]
    assert (service["status"], service["is_done"]) == ("delivered", True)
    new_need = by_title["Psychosocial distress"]
    assert (new_need["status"], new_need["owner"]) == ("planned", "psychosocial worker, NGO")
    # the case stays on its caseworker's phone
    cw1_cases = _csv(device.get("/forms/contact_log/attachments/cases.csv"))
    assert [c["case_ref"] for c in cw1_cases] == ["CP-R-1"]
    assert cw1_cases[0]["caseworker"] == "cw1"


def test_plan_revision_answering_the_current_status_changes_nothing(
    published, make: Factory, device: DeviceClient, client, boss
):
    plan, entity = new_case_plan("CP-R-2", plan_date="2026-11-20")
    assert device.submit(plan).status_code == 201
    need = next(
        i
        for i in _csv(device.get("/forms/case_plan/attachments/plan_items.csv"))
        if i["kind"] == "need"
    )
    make.user("sup2", "supervisor", team="north")
    other = make.device_client("phone-2", "sup2")
    # Two revisions from version 1: one only confirms the need's status (as the form fills
    # it in), the other moves it on.
    same = plan_revision(
        "CP-R-2",
        entity,
        base_version=1,
        risk="high",
        frequency="7",
        plan_date="2026-11-22",
        existing=[(need["name"], need["status"], need["due"])],
    )
    moved = plan_revision(
        "CP-R-2",
        entity,
        base_version=1,
        risk="high",
        frequency="7",
        plan_date="2026-11-21",
        username="sup2",
        existing=[(need["name"], "done", need["due"])],
    )
    assert device.submit(same).status_code == 201
    assert other.submit(moved).status_code == 201
    record = _record(client, boss, "CP-R-2")
    assert record["conflicts"] == []
    assert _items(record)["Physical violence or abuse"]["status"] == "done"


# --- case conference ---------------------------------------------------------------------------


def test_case_conference_reviews_the_case_and_adds_its_decisions(
    published, device: DeviceClient, client, boss
):
    plan, entity = new_case_plan("CP-K-1", plan_date="2026-11-20")
    assert device.submit(plan).status_code == 201
    conference = case_conference(
        "CP-K-1",
        entity,
        base_version=1,
        conference_date="2026-11-26",
        decisions=[
            (
                "Refer the family to cash assistance",
                "social welfare officer, DSW",
                "2026-12-10",
                "planned",
            ),
            (
                "Enrol the child in the catch-up class",
                "teacher, Hilltop School",
                "2027-01-05",
                "in_progress",
            ),
        ],
        outcome="remain_open",
        review="2027-01-20",
        start="2026-11-26T13:40:00.000+01:00",
        end="2026-11-26T14:10:00.000+01:00",
    )
    assert device.submit(conference).status_code == 201

    record = _record(client, boss, "CP-K-1")
    assert record["status"] == "open"
    assert record["review_due"] == "2027-01-20"
    assert record["last_review_at"] == "2026-11-26T13:10:00+00:00"  # the form's end time
    assert record["last_contact_at"] is None  # a conference is not a contact
    properties = record["properties"]
    assert properties["last_conference_date"] == "2026-11-26"
    assert properties["conference_outcome"] == "remain_open"
    assert properties["review_date"] == "2027-01-20"
    assert "discussion" not in properties  # answers without save_to stay with the submission
    decisions = {i["title"]: i for i in record["plan_items"] if i["kind"] == "decision"}
    assert {t: (d["owner"], d["due_date"], d["status"]) for t, d in decisions.items()} == {
        "Refer the family to cash assistance": (
            "social welfare officer, DSW",
            "2026-12-10",
            "planned",
        ),
        "Enrol the child in the catch-up class": (
            "teacher, Hilltop School",
            "2027-01-05",
            "in_progress",
        ),
    }
    (event,) = [t for t in record["timeline"] if t["form_id"] == "case_conference"]
    assert event["is_review"]
    assert not event["is_contact"]
    assert record["conflicts"] == []


def test_case_conference_can_close_the_case(published, device: DeviceClient, client, boss):
    plan, entity = new_case_plan("CP-K-2", plan_date="2026-11-20")
    assert device.submit(plan).status_code == 201
    conference = case_conference(
        "CP-K-2",
        entity,
        base_version=1,
        conference_date="2026-11-26",
        outcome="close",
        closure_reason="goals_met",
    )
    assert device.submit(conference).status_code == 201
    record = _record(client, boss, "CP-K-2")
    assert (record["status"], record["approval"], record["approval_kind"]) == (
        "open",
        "pending",
        "plan",  # the high-risk plan first; the closure waits behind it
    )
    assert approve_all(client, "CP-K-2", boss) == 2
    record = _record(client, boss, "CP-K-2")
    assert record["status"] == "closed"
    assert record["next_contact_due"] is None
    assert record["properties"]["closure_reason"] == "goals_met"
    assert record["properties"]["conference_outcome"] == "close"
    assert _csv(device.get("/forms/contact_log/attachments/cases.csv")) == []


# --- referrals at a contact -------------------------------------------------------------------


def test_a_referral_at_a_contact_is_a_new_item_not_the_plans_health_service(
    published, device: DeviceClient, client, boss
):
    plan, entity = new_case_plan("CP-H-1", plan_date="2026-11-20")
    assert device.submit(plan).status_code == 201
    service = next(
        i
        for i in _csv(device.get("/forms/contact_log/attachments/plan_items.csv"))
        if i["kind"] == "service"
    )
    delivered = contact_log(
        "CP-H-1",
        entity,
        base_version=1,
        contact_time="2026-11-24T10:00:00Z",
        next_contact="2026-11-30",
        service_updates=[(service["name"], "delivered")],
    )
    assert device.submit(delivered).status_code == 201
    referral = contact_log(
        "CP-H-1",
        entity,
        base_version=2,
        contact_time="2026-11-30T10:00:00Z",
        next_contact="2026-12-05",
        health_referral=("mh-1", "Maternal health unit (MoH)", "MoH, Ward 3", "2026-12-02"),
    )
    assert device.submit(referral).status_code == 201

    services = {i["title"]: i for i in _record(client, boss, "CP-H-1")["plan_items"]}
    assert (services["District clinic"]["status"], services["District clinic"]["owner"]) == (
        "delivered",
        "District clinic",
    )
    made = services["Maternal health unit (MoH)"]
    assert (made["kind"], made["owner"], made["status"], made["due_date"]) == (
        "service",
        "MoH, Ward 3",
        "referred",
        "2026-12-02",
    )
    # the new referral is followed up like any other service of the plan; the delivered one
    # stays on the phone until its feedback is recorded
    listed = _csv(device.get("/forms/contact_log/attachments/plan_items.csv"))
    assert sorted(i["label"] for i in listed if i["kind"] == "service") == [
        "CP-H-1: District clinic",
        "CP-H-1: Maternal health unit (MoH)",
    ]


def test_a_referral_from_an_older_contact_log_keeps_off_the_plans_item(
    published, device: DeviceClient, client, boss
):
    """contact_log 2026112201 keyed every health referral 'health', the plan's key for its
    health service; phones not yet updated still send that."""
    plan, entity = new_case_plan("CP-H-2", plan_date="2026-11-20")
    assert device.submit(plan).status_code == 201
    referral = contact_log(
        "CP-H-2",
        entity,
        base_version=1,
        contact_time="2026-11-30T10:00:00Z",
        next_contact="2026-12-05",
        health_referral=("mh-1", "Maternal health unit (MoH)", "MoH, Ward 3", "2026-12-02"),
    )
    referral = re.sub(
        rb"<health_key>[^<]*</health_key>", b"<health_key>health</health_key>", referral
    )
    assert device.submit(referral).status_code == 201
    services = {i["title"]: i for i in _record(client, boss, "CP-H-2")["plan_items"]}
    plan_service = services["District clinic"]
    assert (plan_service["status"], plan_service["owner"], plan_service["due_date"]) == (
        "referred",
        "District clinic",
        "2026-12-01",
    )
    assert services["Maternal health unit (MoH)"]["status"] == "referred"


# --- odd input never fails a merge -------------------------------------------------------------


def test_long_provider_and_location_are_kept_whole(published, device: DeviceClient, client, boss):
    owner = "P" * 150 + ", " + "L" * 100  # service_by: "provider, location" from the directory
    plan, _ = new_case_plan("CP-PG-1")
    plan = plan.replace(
        b"<service_by>District clinic</service_by>", f"<service_by>{owner}</service_by>".encode()
    )
    assert device.submit(plan).status_code == 201
    record = _record(client, boss, "CP-PG-1")
    assert _items(record)["District clinic"]["owner"] == owner


def test_an_impossible_contact_frequency_is_ignored(
    published, device: DeviceClient, client, boss, db_session
):
    plan, _ = new_case_plan("CP-O-1", frequency="7")
    plan = plan.replace(
        b"<contact_frequency_days>7</contact_frequency_days>",
        b"<contact_frequency_days>1e400</contact_frequency_days>",
    )
    assert device.submit(plan).status_code == 201
    states = db_session.scalars(select(Submission.processing_state)).all()
    assert states == ["applied"]
    record = _record(client, boss, "CP-O-1")
    assert record["contact_frequency_days"] is None
    assert record["next_contact_due"] == "2026-12-04"  # registration + the default 14 days


def test_reference_numbers_differing_only_in_case_are_one_case(
    published, device: DeviceClient, client, boss
):
    first, _ = new_case_plan("cp-dup-9 ")
    second, _ = new_case_plan("CP-DUP-9", plan_date="2026-11-21")
    assert device.submit(first).status_code == 201
    assert device.submit(second).status_code == 201
    record = _record(client, boss, "CP-DUP-9")
    assert record["case_ref"] == "CP-DUP-9"
    duplicates = client.get("/api/v1/queues/duplicates", headers=boss).json
    assert [d["case_ref"] for d in duplicates] == ["CP-DUP-9"]


# --- the test answers themselves ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("form_id", "answers"),
    [
        ("case_plan", {"needs_group": {"needs": [{"need_category": "physical_safety"}]}}),
        ("case_plan", {"follow_up": {"child_participation": "planning_meeting interviewed"}}),
        ("contact_log", {"participants": "child caregiver"}),
        ("case_conference", {"nickname": "x"}),
    ],
)
def test_answers_the_forms_do_not_offer_are_refused(form_id: str, answers: dict[str, Any]):
    with pytest.raises(AssertionError, match="answers the form does not offer"):
        checked(form_id, answers)


# --- a phone whose clock runs ahead ----------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_a_phone_whose_clock_runs_years_ahead_does_not_win_every_later_merge(
    published, make: Factory, device: DeviceClient, client, boss
):
    plan, entity = new_case_plan("CP-CLOCK-1", risk="medium", frequency="14")
    assert device.submit(plan).status_code == 201
    make.user("sup2", "supervisor", team="north")
    wrong_clock = make.device_client("phone-2", "sup2")
    now = datetime.now(UTC)
    # the supervisor's phone thinks it is years later; it raises the risk
    ahead = contact_log(
        "CP-CLOCK-1",
        entity,
        base_version=1,
        contact_time=_iso(now + timedelta(days=1500)),
        risk="high",
        mode="phone",
        next_contact=(now + timedelta(days=1510)).date().isoformat(),
    )
    assert wrong_clock.submit(ahead).status_code == 201
    received = _record(client, boss, "CP-CLOCK-1")
    last_contact = datetime.fromisoformat(received["last_contact_at"])
    # the contact counts when the server got it, not years from now
    assert now - timedelta(minutes=5) <= last_contact <= datetime.now(UTC)
    assert received["risk_level"] == "high"

    # the caseworker's next contact, a few minutes later, on the version it saw
    later = contact_log(
        "CP-CLOCK-1",
        entity,
        base_version=2,
        contact_time=_iso(datetime.now(UTC) + timedelta(minutes=5)),
        risk="low",
        mode="home_visit",
        next_contact=(now + timedelta(days=14)).date().isoformat(),
    )
    assert device.submit(later).status_code == 201
    record = _record(client, boss, "CP-CLOCK-1")
    assert record["risk_level"] == "low"
    assert record["properties"]["last_contact_mode"] == "home_visit"
    assert record["next_contact_due"] == (now + timedelta(days=14)).date().isoformat()
    assert record["conflicts"] == []

    # reading the submissions again gives the same record: the received time is stored
    with make.app.app_context():
        session = db.session()
        results = intake.reapply(session, routing.submissions_to_reapply(session))
        session.commit()
    assert [r.state for r in results] == ["applied"] * 3
    assert _record(client, boss, "CP-CLOCK-1") == record


def test_the_tolerance_set_for_the_server_decides_at_ingest(
    published, make: Factory, device: DeviceClient, client, boss
):
    make.app.config["FUTURE_EVENT_TOLERANCE_HOURS"] = 0
    plan, entity = new_case_plan("CP-CLOCK-2")
    assert device.submit(plan).status_code == 201
    sent = datetime.now(UTC)
    # an hour ahead: within the default day, beyond a tolerance of none
    ahead = contact_log(
        "CP-CLOCK-2", entity, base_version=1, contact_time=_iso(sent + timedelta(hours=1))
    )
    assert device.submit(ahead).status_code == 201
    last_contact = datetime.fromisoformat(_record(client, boss, "CP-CLOCK-2")["last_contact_at"])
    assert sent - timedelta(minutes=5) <= last_contact <= datetime.now(UTC)


def test_the_tolerance_for_clocks_ahead_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CASEWORK_FUTURE_EVENT_TOLERANCE_HOURS", "48")
    app = create_app({"DATA_DIR": str(tmp_path), "TESTING": True})
    assert case_settings(app).future_tolerance == timedelta(hours=48)
    monkeypatch.setenv("CASEWORK_FUTURE_EVENT_TOLERANCE_HOURS", "-5")  # counts as none
    app = create_app({"DATA_DIR": str(tmp_path), "TESTING": True})
    assert case_settings(app).future_tolerance == timedelta(0)
    monkeypatch.delenv("CASEWORK_FUTURE_EVENT_TOLERANCE_HOURS")
    app = create_app({"DATA_DIR": str(tmp_path), "TESTING": True})
    assert case_settings(app).future_tolerance == timedelta(hours=24)


# --- the order plan items are listed in ------------------------------------------------------


def _need(key: str, title: str, due: str) -> dict[str, str]:
    return {
        "need_category": key,
        "need_key": key,
        "need_title": title,
        "how_addressed": "",
        "need_owner": "cw1",
        "need_due": due,
        "need_status": "planned",
    }


@pytest.mark.parametrize("later_first", [False, True])
def test_plan_items_are_listed_by_kind_then_due_date_whatever_the_arrival_order(
    published, make: Factory, device: DeviceClient, client, boss, later_first: bool
):
    """The same submissions in two arrival orders list a case's items the same way: by
    kind (need, service, action, decision), then due date (undated last), then item id,
    on the case API, the case page, the case export and the phones' plan_items.csv."""
    plan, entity = new_case_plan("CP-ORDER-1")
    assert device.submit(plan).status_code == 201
    revisions = [
        plan_revision(
            "CP-ORDER-1",
            entity,
            base_version=1,
            needs=[_need("documentation", "Birth certificate", "2026-11-22")],
        ),
        plan_revision(
            "CP-ORDER-1", entity, base_version=1, needs=[_need("neglect", "Neglect at home", "")]
        ),
    ]
    if later_first:
        revisions.reverse()
    for xml in revisions:
        assert device.submit(xml).status_code == 201

    expected = [
        ("need", "Birth certificate"),  # due 2026-11-22
        ("need", "Physical violence or abuse"),  # due 2026-11-25
        ("need", "Neglect at home"),  # no due date
        ("service", "District clinic"),
        ("action", "Meet the school counsellor"),
    ]
    record = _record(client, boss, "CP-ORDER-1")
    assert [(i["kind"], i["title"]) for i in record["plan_items"]] == expected

    phones = _csv(device.get("/forms/contact_log/attachments/plan_items.csv"))
    assert [(i["kind"], i["label"]) for i in phones] == [
        (kind, f"CP-ORDER-1: {title}") for kind, title in expected
    ]

    export = client.get("/api/v1/cases/export?format=csv", headers=boss)
    with zipfile.ZipFile(io.BytesIO(export.get_data())) as archive:
        text = archive.read("plan_items.csv").decode("utf-8-sig")
    exported = list(csv.DictReader(io.StringIO(text)))
    assert [(i["kind"], i["title"]) for i in exported] == expected

    make.user("sup-page", "supervisor", team="north")
    browser = Web(make.app.test_client())
    assert browser.login("sup-page").status_code == 302
    page = browser.text("/cases/CP-ORDER-1")
    shown = [page.index(title) for _, title in expected]
    assert shown == sorted(shown)
