"""Referrals followed to delivery, through the device protocol with the real forms: a
service of the plan goes through every state from the phone (referred, acknowledged,
accepted, started, delivered, feedback), each with the time it was reached and the next
state due by its urgency; plan_items.csv offers the phone the states that may follow; a
referral whose next state is overdue is on the worklist and the referrals page; a
supervisor records a state for a provider who phoned back (audited, in the case's history,
kept by reprocessing); the directory shows each service's open referrals and median time to
acknowledge.
"""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from server import db
from server.audit.models import AuditEvent
from server.cases.settings import case_settings
from server.commands.submissions import reapply_all
from server.services.service import create_service
from tests.factories import DeviceClient, Factory, bearer
from tests.realforms import contact_log, new_case_plan, xform
from tests.web.conftest import Web


def _text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def _web(app: Flask, username: str) -> Web:
    web = Web(app.test_client())
    assert web.login(username).status_code == 302
    return web


def _record(client: FlaskClient, ref: str, headers: dict[str, str]) -> dict[str, Any]:
    response = client.get(f"/api/v1/cases/{ref}", headers=headers)
    assert response.status_code == 200, response.json
    record: dict[str, Any] = response.json
    return record


def _service(record: dict[str, Any]) -> dict[str, Any]:
    (item,) = [i for i in record["plan_items"] if i["kind"] == "service"]
    return item


def _plan_items(device: DeviceClient) -> dict[str, dict[str, str]]:
    response = device.get("/forms/contact_log/attachments/plan_items.csv")
    assert response.status_code == 200
    rows = csv.DictReader(io.StringIO(response.get_data(as_text=True)))
    return {r["name"]: r for r in rows}


def _at(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _directory(make: Factory) -> None:
    def add(session):  # type: ignore[no-untyped-def]
        create_service(
            session, {"service_id": "clinic-1", "name": "District clinic", "category": "health"}
        )

    make._run(add)


def test_the_contact_log_offers_only_the_states_that_follow() -> None:
    form = xform("contact_log")
    assert "selected( current()/../referral_next_states , name)" in form
    assert "instance('plan_items')/root/item[name= current()/../plan_service ]/next_states" in form
    assert "<name>acknowledged</name>" in form
    assert "<name>feedback</name>" in form


def test_a_referral_goes_through_every_state_from_the_phone(
    app: Flask, published: None, make: Factory, device: DeviceClient, client: FlaskClient
) -> None:
    _directory(make)
    make.user("sup", "supervisor", team="north")
    sup = bearer(make.api_token("sup"))
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    plan, entity_id = new_case_plan(
        "CP-RS-1",
        plan_date=(start - timedelta(days=1)).date().isoformat(),
        urgency="immediate",
        risk="medium",
    )
    assert device.submit(plan).status_code == 201
    record = _record(client, "CP-RS-1", sup)
    item = _service(record)
    referral = item["referral"]
    assert referral["state"] == "referred"
    assert referral["urgency"] == "immediate"
    assert referral["service_id"] == "clinic-1"
    since = datetime.fromisoformat(referral["since"])
    # an immediate referral is to be acknowledged within two days (the default table)
    assert referral["next_due"] == (since.date() + timedelta(days=2)).isoformat()
    assert referral["next_states"] == ["acknowledged", "declined"]
    row = _plan_items(device)[item["item_id"]]
    assert row["next_states"] == "referred acknowledged declined"
    assert row["referral_due"] == referral["next_due"]

    expected_due = {"acknowledged": 3, "accepted": 3, "in_progress": 14, "delivered": 7}
    at = start
    for n, state in enumerate(
        ("acknowledged", "accepted", "in_progress", "delivered", "feedback"), start=1
    ):
        at += timedelta(hours=5)
        contact = contact_log(
            "CP-RS-1", entity_id, base_version=record["version"], contact_time=_at(at),
            service_updates=[(item["item_id"], state)],
        )  # fmt: skip
        assert device.submit(contact).status_code == 201
        record = _record(client, "CP-RS-1", sup)
        referral = _service(record)["referral"]
        assert referral["state"] == state, n
        assert datetime.fromisoformat(referral["since"]) == at
        days = expected_due.get(state)
        assert referral["next_due"] == (
            (at.date() + timedelta(days=days)).isoformat() if days else None
        )
    steps = [(s["state"], s["by"]) for s in referral["steps"]]
    assert steps == [
        ("referred", "cw1"), ("acknowledged", "cw1"), ("accepted", "cw1"),
        ("in_progress", "cw1"), ("delivered", "cw1"), ("feedback", "cw1"),
    ]  # fmt: skip
    assert referral["acknowledged_hours"] == int(
        (datetime.fromisoformat(referral["steps"][1]["at"]) - since).total_seconds() // 3600
    )
    # feedback recorded: nothing follows, so the phone no longer lists it
    assert item["item_id"] not in _plan_items(device)
    # the delivered service still awaiting feedback was listed; the case page shows the steps
    page = _text(_web(app, "sup").text("/cases/CP-RS-1"))
    assert "Feedback recorded" in page
    assert "Acknowledged" in page


def test_a_declined_referral_keeps_its_reason_and_reprocessing_keeps_the_states(
    app: Flask, published: None, make: Factory, device: DeviceClient, client: FlaskClient
) -> None:
    make.user("sup", "supervisor", team="north")
    sup = bearer(make.api_token("sup"))
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    plan, entity_id = new_case_plan(
        "CP-RS-2", plan_date=(start - timedelta(days=1)).date().isoformat(), risk="medium"
    )
    assert device.submit(plan).status_code == 201
    record = _record(client, "CP-RS-2", sup)
    item_id = _service(record)["item_id"]
    contact = contact_log(
        "CP-RS-2", entity_id, base_version=record["version"],
        contact_time=_at(start + timedelta(hours=3)),
        service_updates=[(item_id, "declined", "No places until March")],
    )  # fmt: skip
    assert device.submit(contact).status_code == 201
    before = _service(_record(client, "CP-RS-2", sup))
    assert before["referral"]["reason"] == "No places until March"
    assert before["referral"]["next_due"] is None
    assert before["is_done"]
    with app.app_context():
        reapply_all(db.session(), case_settings(app))
        db.session().commit()
    after = _service(_record(client, "CP-RS-2", sup))
    assert after["referral"] == before["referral"]


def test_an_overdue_referral_step_is_on_the_worklist_and_the_referrals_page(
    app: Flask, published: None, make: Factory, device: DeviceClient, client: FlaskClient
) -> None:
    make.user("sup", "supervisor", team="north")
    sup = bearer(make.api_token("sup"))
    today = datetime.now(UTC).date()
    plan, entity_id = new_case_plan(
        "CP-RS-3", plan_date=(today - timedelta(days=6)).isoformat(), risk="medium",
        services=(("health", "planned"),), urgency="routine",
    )  # fmt: skip
    assert device.submit(plan).status_code == 201
    referred_at = datetime.combine(today - timedelta(days=5), datetime.min.time(), UTC)
    contact = contact_log(
        "CP-RS-3", entity_id, base_version=1, contact_time=_at(referred_at + timedelta(hours=9)),
        next_contact=(today + timedelta(days=3)).isoformat(), urgency="immediate",
        health_referral=("", "Health referral", "Mobile clinic team, Market square",
                         today.isoformat()),
    )  # fmt: skip
    assert device.submit(contact).status_code == 201
    record = _record(client, "CP-RS-3", sup)
    health = next(
        i for i in record["plan_items"] if i["kind"] == "service" and i["owner"].startswith("Mob")
    )
    due = today - timedelta(days=3)  # referred five days ago, immediate: acknowledged in two
    assert health["referral"]["next_due"] == due.isoformat()
    assert health["referral"]["is_overdue"]

    for user in ("cw1", "sup"):
        web = _web(app, user)
        dashboard = web.text("/dashboard")
        assert re.search(r'id="n-referral-steps-overdue">1<', dashboard), user
        table = dashboard[dashboard.index('id="overdue-referral-steps"') :]
        table = table[: table.index("</table>")]
        assert "CP-RS-3" in table
        assert ">3<" in table
        listed = _text(web.text("/referrals?state_overdue=true"))
        assert "CP-RS-3" in listed
        assert "3 days overdue" in listed
        # filter by state: nothing is acknowledged yet
        assert "CP-RS-3" not in _text(web.text("/referrals?status=acknowledged"))
        assert "CP-RS-3" in _text(web.text("/referrals?status=referred"))
    # another team's supervisor sees none of it
    make.user("sup-south", "supervisor", team="south")
    other = _web(app, "sup-south")
    assert re.search(r'id="n-referral-steps-overdue">0<', other.text("/dashboard"))
    assert "CP-RS-3" not in other.text("/referrals?state_overdue=true")


def test_a_supervisor_records_a_state_on_the_web(
    app: Flask, published: None, make: Factory, device: DeviceClient, client: FlaskClient
) -> None:
    make.user("sup", "supervisor", team="north")
    make.user("sup-south", "supervisor", team="south")
    sup = bearer(make.api_token("sup"))
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    plan, _entity_id = new_case_plan(
        "CP-RS-4", plan_date=(start - timedelta(days=1)).date().isoformat(), risk="medium"
    )
    assert device.submit(plan).status_code == 201
    item_id = _service(_record(client, "CP-RS-4", sup))["item_id"]
    url = f"/cases/CP-RS-4/referrals/{item_id}"

    caseworker = _web(app, "cw1")
    assert caseworker.post(url, {"state": "acknowledged"}).status_code == 403
    assert 'id="referral-update-h"' not in caseworker.text("/cases/CP-RS-4")
    south = _web(app, "sup-south")
    south.post(url, {"state": "acknowledged"})
    assert _service(_record(client, "CP-RS-4", sup))["status"] == "referred"

    web = _web(app, "sup")
    page = web.text("/cases/CP-RS-4")
    form = page[page.index(f'id="referral-update-{item_id}"') :]
    form = form[: form.index("</form>")]
    assert re.findall(r'<option value="(\w+)"', form) == ["acknowledged", "declined"]
    # a state that does not follow, and a decline without a reason, are refused
    assert "does not follow" in _text(
        web.post(url, {"state": "delivered"}, follow_redirects=True).get_data(as_text=True)
    )
    assert "Say why" in _text(
        web.post(url, {"state": "declined"}, follow_redirects=True).get_data(as_text=True)
    )
    assert _service(_record(client, "CP-RS-4", sup))["status"] == "referred"

    assert web.post(url, {"state": "acknowledged"}).status_code == 302
    referral = _service(_record(client, "CP-RS-4", sup))["referral"]
    assert referral["state"] == "acknowledged"
    assert referral["steps"][-1]["by"] == "sup"
    assert referral["steps"][-1]["instance_id"] is None
    history = _text(web.text("/cases/CP-RS-4"))
    assert "Updated the referral District clinic: Referred, now Acknowledged" in history
    with app.app_context():
        events = db.session().query(AuditEvent).filter_by(action="case.referral").all()
        assert [(e.target, e.details["state"]) for e in events] == [("CP-RS-4", "acknowledged")]
    # the phone hears of it: the next states now follow "acknowledged"
    assert _plan_items(device)[item_id]["next_states"] == "acknowledged accepted declined"
    # reprocessing keeps the supervisor's state
    with app.app_context():
        reapply_all(db.session(), case_settings(app))
        db.session().commit()
    assert _service(_record(client, "CP-RS-4", sup))["referral"] == referral


def test_the_directory_shows_open_referrals_and_the_median_time_to_acknowledge(
    app: Flask, published: None, make: Factory, device: DeviceClient, client: FlaskClient
) -> None:
    app.config["REPORT_MIN_CELL"] = 1  # every figure shown, however small
    _directory(make)
    make.user("sup", "supervisor", team="north")
    sup = bearer(make.api_token("sup"))
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    for n, hours in enumerate((10, 30, None), start=1):
        ref = f"CP-RS-D{n}"
        plan, entity_id = new_case_plan(
            ref, plan_date=(start - timedelta(days=1)).date().isoformat(), risk="medium"
        )
        assert device.submit(plan).status_code == 201
        record = _record(client, ref, sup)
        item = _service(record)
        if hours is None:
            continue
        at = datetime.fromisoformat(item["referral"]["since"]) + timedelta(hours=hours)
        contact = contact_log(
            ref, entity_id, base_version=record["version"], contact_time=_at(at),
            service_updates=[(item["item_id"], "acknowledged")],
        )  # fmt: skip
        assert device.submit(contact).status_code == 201
    page = _web(app, "sup").text("/services")
    row = page[page.index("District clinic") :]
    row = row[: row.index("</tr>")]
    assert re.search(r'class="referrals-open">3<', row)
    assert "20.0 hours" in _text(row)  # the median of 10 and 30


def test_referral_due_days_come_from_configuration(make: Factory) -> None:
    from server.cases.referrals import parse_due_setting

    rules = parse_due_setting('{"immediate": {"acknowledged": 1}}')
    since = datetime(2026, 12, 1, 9, tzinfo=UTC)
    assert rules.due("referred", since, "immediate") == date(2026, 12, 2)
    assert rules.due("referred", since, "routine") == date(2026, 12, 11)  # the default
    assert rules.due("feedback", since, "immediate") is None
    for bad in ('{"immediate": {"acknowledged": -1}}', '{"x": {"nonsense": 2}}', "[]"):
        try:
            parse_due_setting(bad)
        except ValueError:
            continue
        raise AssertionError(bad)


def test_the_directory_hides_referral_figures_under_the_reports_threshold(
    app: Flask, published: None, make: Factory, device: DeviceClient
) -> None:
    """Everyone reads the directory: one open referral to a service, or a median of one,
    could point to a child, so under CASEWORK_REPORT_MIN_CELL (5) neither is shown."""
    _directory(make)
    make.user("cw2", "caseworker", team="north")
    plan, _ = new_case_plan("CP-RS-S1", risk="medium")
    assert device.submit(plan).status_code == 201
    page = _web(app, "cw2").text("/services")
    row = page[page.index("District clinic") :]
    row = row[: row.index("</tr>")]
    assert re.search(r'class="referrals-open">&lt; 5<', row), row
    assert re.search(r'class="referrals-ack">—<', row), row
