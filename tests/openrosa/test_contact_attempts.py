"""Contacts that did not happen, and a caseworker who did not feel safe: through the device
protocol with the real forms (xlsforms/contact_log.xlsx), read back on the API, the pages
and the phones' case list.

A failed attempt is on the case's history but is not a contact, so the case stays due (and
overdue). A "did not feel safe" answer alerts the supervisor of the case's team on the
dashboard, shows in the history, is audited once, and reprocessing keeps it; no one outside
the case's scope sees it.
"""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import date, timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from server import db, intake
from server.audit.models import AuditEvent
from server.cases import routing
from server.cases.settings import case_settings
from tests.auth.test_device_auth import _digest_header
from tests.factories import PASSWORD, DeviceClient, Factory, bearer
from tests.realforms import contact_attempt, contact_log, new_case_plan
from tests.web.conftest import Web

H = {"X-OpenRosa-Version": "1.0"}


def _cases_csv(device: DeviceClient) -> list[dict[str, str]]:
    response = device.get("/forms/contact_log/attachments/cases.csv")
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def _signed_in(app: Flask, username: str) -> FlaskClient:
    web = Web(app.test_client())
    response = web.login(username)
    assert response.status_code == 302, response.get_data(as_text=True)
    return web.client


def _text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def _reprocess_all(app: Flask) -> None:
    """What `casework reprocess --all` does: every current submission merged again."""
    with app.app_context():
        session = db.session()
        ids = routing.submissions_to_reapply(session)
        results = intake.reapply(session, ids, settings=case_settings(app))
        session.commit()
    assert ids
    assert all(r.error is None for r in results)


def _register(device: DeviceClient, ref: str, *, days_ago: int) -> str:
    plan_date = (date.today() - timedelta(days=days_ago)).isoformat()
    plan, entity_id = new_case_plan(ref, risk="high", frequency="7", plan_date=plan_date)
    assert device.submit(plan).status_code == 201
    return entity_id


def test_a_failed_attempt_is_on_the_history_and_leaves_the_case_overdue(
    app: Flask, published: None, make: Factory, device: DeviceClient, client: FlaskClient
) -> None:
    today = date.today()
    make.user("sup", "supervisor", team="north")
    sup = bearer(make.api_token("sup"))
    entity_id = _register(device, "CP-AT-1", days_ago=20)
    before = client.get("/api/v1/cases/CP-AT-1", headers=sup).json
    due = before["next_contact_due"]
    assert due == (today - timedelta(days=13)).isoformat()  # registered + 7 days: overdue

    attempted = f"{(today - timedelta(days=1)).isoformat()}T10:00:00.000Z"
    for reason in ("no_answer", "child_not_present", "unsafe_to_talk"):
        attempt = contact_attempt(
            "CP-AT-1", entity_id, base_version=before["version"], contact_time=attempted,
            reason=reason,
        )  # fmt: skip
        assert device.submit(attempt).status_code == 201

    record = client.get("/api/v1/cases/CP-AT-1", headers=sup).json
    assert record["last_contact_at"] is None
    assert record["next_contact_due"] == due  # still overdue
    assert record["properties"] == before["properties"]
    assert record["worker_unsafe_at"] is None
    attempts = [e for e in record["timeline"] if e["attempt"]]
    assert sorted(e["attempt"] for e in attempts) == [
        "child_not_present",
        "no_answer",
        "unsafe_to_talk",
    ]
    assert not any(e["is_contact"] for e in attempts)
    assert all(e["state"] == "applied" and e["changes"] == {} for e in attempts)
    followups = client.get("/api/v1/followups?horizon_days=0", headers=sup).json
    assert [(c["case_ref"], c["next_contact_due"]) for c in followups["items"]] == [
        ("CP-AT-1", due)
    ]
    (row,) = _cases_csv(device)
    assert row["next_contact_due"] == due

    page = _text(_signed_in(app, "sup").get("/cases/CP-AT-1").get_data(as_text=True))
    assert "Attempted contact: no answer" in page
    assert "Attempted contact: child not present" in page
    assert "Attempted contact: unsafe to talk" in page
    assert "overdue" in page

    _reprocess_all(app)  # the same record from the same submissions
    again = client.get("/api/v1/cases/CP-AT-1", headers=sup).json
    assert {k: v for k, v in again.items() if k != "updated_at"} == {
        k: v for k, v in record.items() if k != "updated_at"
    }

    # a contact that took place counts, and moves the next contact on
    contacted = f"{today.isoformat()}T09:00:00.000Z"
    contact = contact_log(
        "CP-AT-1", entity_id, base_version=record["version"], risk="high",
        contact_time=contacted,
    )  # fmt: skip
    assert device.submit(contact).status_code == 201
    record = client.get("/api/v1/cases/CP-AT-1", headers=sup).json
    assert record["last_contact_at"].startswith(today.isoformat())
    assert record["next_contact_due"] == (today + timedelta(days=7)).isoformat()


def test_a_caseworker_who_did_not_feel_safe_alerts_the_supervisor_of_the_team(
    app: Flask,
    published: None,
    make: Factory,
    device: DeviceClient,
    client: FlaskClient,
) -> None:
    today = date.today()
    make.user("sup", "supervisor", team="north")
    make.user("sup2", "supervisor", team="south")
    make.user("cw2", "caseworker", team="south")
    sup = bearer(make.api_token("sup"))
    entity_id = _register(device, "CP-AT-2", days_ago=3)
    _register(device, "CP-AT-3", days_ago=3)
    version = client.get("/api/v1/cases/CP-AT-2", headers=sup).json["version"]

    dashboard = _text(_signed_in(app, "sup").get("/dashboard").get_data(as_text=True))
    assert "No caseworker reported feeling unsafe." in dashboard

    # sent by the caseworker's own account over HTTP Digest, as Collect does without a key
    unsafe_at = f"{(today - timedelta(days=1)).isoformat()}T16:30:00.000Z"
    xml = contact_log(
        "CP-AT-2", entity_id, base_version=version, risk="high", contact_time=unsafe_at,
        felt_safe="no",
    )  # fmt: skip
    uri = "/submission?deviceID=collect%3Aabc"
    challenge = client.head(uri, headers=H).headers["WWW-Authenticate"]
    auth = _digest_header(challenge, "POST", uri, "cw1", PASSWORD)
    response = client.post(
        uri,
        data={"xml_submission_file": (io.BytesIO(xml), "instance.xml", "text/xml")},
        headers={**H, "Authorization": auth},
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    # an attempt at which the caseworker felt safe raises nothing
    other = client.get("/api/v1/cases/CP-AT-3", headers=sup).json
    calm = contact_attempt(
        "CP-AT-3", other["entity_id"], base_version=other["version"], contact_time=unsafe_at,
    )  # fmt: skip
    assert device.submit(calm).status_code == 201

    record = client.get("/api/v1/cases/CP-AT-2", headers=sup).json
    assert record["worker_unsafe_at"].startswith((today - timedelta(days=1)).isoformat())
    assert record["worker_unsafe_by"] == "cw1"
    assert record["last_contact_at"] is not None  # a contact all the same

    supervisor = _signed_in(app, "sup")
    page = supervisor.get("/dashboard").get_data(as_text=True)
    assert re.search(r'id="n-safety-alerts">1<', page)
    alerts = _text(page.split('id="safety-alerts"')[1].split("</table>")[0])
    assert "CP-AT-2" in alerts
    assert "cw1" in alerts
    assert "CP-AT-3" not in alerts
    history = _text(supervisor.get("/cases/CP-AT-2").get_data(as_text=True))
    assert "The caseworker did not feel safe; the supervisor is alerted" in history

    def audited() -> list[tuple[str, str]]:
        # an app context of its own: one held open would be every request's (and its user's)
        with app.app_context():
            stmt = select(AuditEvent).where(AuditEvent.action == "case.worker_unsafe")
            return [(e.actor, e.target) for e in db.session().scalars(stmt)]

    assert audited() == [("cw1", "CP-AT-2")]
    make.user("admin1", "admin")
    audit_page = _signed_in(app, "admin1").get("/audit?action=case.worker_unsafe")
    assert "A caseworker did not feel safe at a contact" in _text(audit_page.get_data(as_text=True))

    _reprocess_all(app)  # derived again, not audited again
    assert len(audited()) == 1
    page = _signed_in(app, "sup").get("/dashboard").get_data(as_text=True)
    assert re.search(r'id="n-safety-alerts">1<', page)

    # another team's supervisor does not see it; another team's caseworker sees neither the
    # dashboard nor the case
    page = _signed_in(app, "sup2").get("/dashboard").get_data(as_text=True)
    assert re.search(r'id="n-safety-alerts">0<', page)
    assert "CP-AT-2" not in page
    other_caseworker = _signed_in(app, "cw2")
    own = other_caseworker.get("/dashboard")  # their own worklist: nothing of another's
    assert own.status_code == 200
    assert "CP-AT-2" not in own.get_data(as_text=True)
    assert other_caseworker.get("/cases/CP-AT-2").status_code == 404
    cw2 = bearer(make.api_token("cw2"))
    assert client.get("/api/v1/cases/CP-AT-2", headers=cw2).status_code == 404


def _safety_alerts(app: Flask, username: str) -> str:
    """How many safety alerts the user's dashboard counts."""
    web = Web(app.test_client())
    assert web.login(username).status_code == 302
    found = re.search(r'id="n-safety-alerts">(\d+)<', web.text("/dashboard"))
    assert found is not None
    return found.group(1)


def test_unsafe_contact_held_for_a_supervisor_still_alerts(
    app: Flask, published: None, make: Factory, device: DeviceClient, client: FlaskClient
) -> None:
    """A teammate covering cw1's visit (not the case's caseworker) says they did not feel
    safe: the submission is held in the unlinked queue (they may not see the case), and the
    supervisor of the team gets no safety alert at all."""
    make.user("sup", "supervisor", team="north")
    make.user("cw3", "caseworker", team="north")
    sup = bearer(make.api_token("sup"))
    plan, entity_id = new_case_plan("CP-RV-1", risk="high")
    assert device.submit(plan).status_code == 201
    version = client.get("/api/v1/cases/CP-RV-1", headers=sup).json["version"]
    yesterday = f"{(date.today() - timedelta(days=1)).isoformat()}T16:30:00.000Z"
    covering = make.device_client("phone-3", "cw3")
    xml = contact_log(
        "CP-RV-1", entity_id, base_version=version, contact_time=yesterday, felt_safe="no"
    )
    assert covering.submit(xml).status_code == 201
    held = client.get("/api/v1/queues/unlinked", headers=sup).json
    assert [(e["case_ref"], e["hold_reason"]) for e in held] == [("CP-RV-1", "out_of_scope")]
    assert _safety_alerts(app, "sup") == "1", "no alert for a held unsafe contact"


def test_unsafe_contact_sent_late_from_offline_still_alerts(
    app: Flask, published: None, make: Factory, device: DeviceClient, client: FlaskClient
) -> None:
    """A caseworker offline for five weeks sends the visit at which they did not feel safe:
    the alert is dated by the phone's contact time, so the dashboard's 30 days never show it."""
    make.user("sup", "supervisor", team="north")
    sup = bearer(make.api_token("sup"))
    plan, entity_id = new_case_plan("CP-RV-2", risk="high")
    assert device.submit(plan).status_code == 201
    version = client.get("/api/v1/cases/CP-RV-2", headers=sup).json["version"]
    weeks_ago = f"{(date.today() - timedelta(days=35)).isoformat()}T16:30:00.000Z"
    xml = contact_log(
        "CP-RV-2", entity_id, base_version=version, contact_time=weeks_ago, felt_safe="no"
    )
    assert device.submit(xml).status_code == 201
    assert client.get("/api/v1/cases/CP-RV-2", headers=sup).json["worker_unsafe_by"] == "cw1"
    assert _safety_alerts(app, "sup") == "1", "a late-arriving alert is never shown"


def test_the_unsafe_workers_supervisor_keeps_the_alert_after_the_case_moves(
    app: Flask, published: None, make: Factory, device: DeviceClient, client: FlaskClient
) -> None:
    """cw1 (north) did not feel safe yesterday; the next morning an admin moves the case to
    a south caseworker. The alert is about cw1's safety, but it follows the case: north's
    supervisor loses it (and south's supervisor gets north's worker's incident)."""
    make.user("sup", "supervisor", team="north")
    make.user("sup-south", "supervisor", team="south")
    make.user("cw2", "caseworker", team="south")
    make.user("admin1", "admin")
    sup, admin = bearer(make.api_token("sup")), bearer(make.api_token("admin1"))
    plan, entity_id = new_case_plan("CP-RV-7", risk="high")
    assert device.submit(plan).status_code == 201
    version = client.get("/api/v1/cases/CP-RV-7", headers=sup).json["version"]
    yesterday = f"{(date.today() - timedelta(days=1)).isoformat()}T16:30:00.000Z"
    xml = contact_log(
        "CP-RV-7", entity_id, base_version=version, contact_time=yesterday, felt_safe="no"
    )
    assert device.submit(xml).status_code == 201
    assert _safety_alerts(app, "sup") == "1"
    moved = client.post(
        "/api/v1/cases/CP-RV-7/reassign",
        json={"username": "cw2", "reason": "Family moved south"},
        headers=admin,
    )
    assert moved.status_code == 200, moved.json
    assert _safety_alerts(app, "sup") == "1", "the unsafe caseworker's supervisor lost it"
    assert _safety_alerts(app, "sup-south") == "0", "another team's supervisor got it"
