"""Approvals through the device protocol with the real forms: a closure sent from a phone
waits for a supervisor (the case stays open on the phones, its case-list property
``approval`` pending), who approves it or returns it with a comment, on the API or the case
page; a case plan that leaves the case at high risk is in effect and waits for approval.
Only a supervisor of the case's team or an admin decides, never the one who sent it; every
decision is in the case's history and the audit log.
"""

from __future__ import annotations

import csv
import html
import io
import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from server.cases.approvals import APPROVAL_COMMENT_MAX_LENGTH
from tests.factories import DeviceClient, Factory, bearer
from tests.realforms import _calculation, contact_log, new_case_plan, plan_revision, xform
from tests.web.conftest import Web


def _listed(device: DeviceClient) -> dict[str, dict[str, str]]:
    response = device.get("/forms/contact_log/attachments/cases.csv")
    assert response.status_code == 200
    rows = csv.DictReader(io.StringIO(response.get_data(as_text=True)))
    return {r["case_ref"]: r for r in rows}


def _text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def _decide(client: FlaskClient, ref: str, headers: dict[str, str], **body: Any) -> Any:
    """Decide what the caller sees waiting (its ``instance_id``, unless given)."""
    if "instance_id" not in body:
        seen = client.get(f"/api/v1/cases/{ref}", headers=headers)
        waiting = seen.json.get("approval_instance_id") if seen.status_code == 200 else None
        body["instance_id"] = waiting or "nothing-seen"
    return client.post(f"/api/v1/cases/{ref}/approval", json=body, headers=headers)


def test_a_closure_waits_for_approval_and_can_be_returned_then_approved(
    app: Flask, published: None, make: Factory, device: DeviceClient, client: FlaskClient
) -> None:
    make.user("sup", "supervisor", team="north")
    make.user("sup-south", "supervisor", team="south")
    make.user("admin1", "admin")
    sup, south = bearer(make.api_token("sup")), bearer(make.api_token("sup-south"))
    cw1 = bearer(make.api_token("cw1"))
    plan, entity_id = new_case_plan("CP-AP-1", risk="medium")
    assert device.submit(plan).status_code == 201
    record = client.get("/api/v1/cases/CP-AP-1", headers=sup).json
    assert record["approval"] is None  # a medium-risk plan needs none
    assert _listed(device)["CP-AP-1"]["approval"] == ""

    closing = contact_log(
        "CP-AP-1", entity_id, base_version=record["version"], close="yes",
        contact_time="2026-11-25T09:00:00.000Z",
    )  # fmt: skip
    assert device.submit(closing).status_code == 201
    record = client.get("/api/v1/cases/CP-AP-1", headers=sup).json
    assert (record["status"], record["approval"], record["approval_kind"]) == (
        "open",
        "pending",
        "closure",
    )
    assert record["approval_requested_by"] == "cw1"
    assert record["properties"]["closure_reason"] == "goals_met"  # what the phone said
    assert _listed(device)["CP-AP-1"]["approval"] == "pending"  # still on the phone
    assert _listed(device)["CP-AP-1"]["label"] == "CP-AP-1 (medium) - approval pending"

    # who may not decide: the caseworker (role), another team's supervisor (scope)
    assert _decide(client, "CP-AP-1", cw1, decision="approve").status_code == 403
    assert _decide(client, "CP-AP-1", south, decision="approve").status_code == 404
    refused = _decide(client, "CP-AP-1", sup, decision="return")
    assert (refused.status_code, refused.json["code"]) == (400, "case.comment_required")

    returned = _decide(client, "CP-AP-1", sup, decision="return", comment="Visit once more first")
    assert returned.status_code == 200, returned.json
    record = client.get("/api/v1/cases/CP-AP-1", headers=sup).json
    assert (record["status"], record["approval"]) == ("open", "returned")
    assert _listed(device)["CP-AP-1"]["approval"] == "returned"
    assert _listed(device)["CP-AP-1"]["label"] == "CP-AP-1 (medium) - returned by supervisor"
    again = _decide(client, "CP-AP-1", sup, decision="approve")
    assert (again.status_code, again.json["code"]) == (409, "case.not_pending")

    # the caseworker visits again and closes; the supervisor approves on the case page
    closing = contact_log(
        "CP-AP-1", entity_id, base_version=record["version"], close="yes",
        contact_time="2026-11-28T09:00:00.000Z",
    )  # fmt: skip
    assert device.submit(closing).status_code == 201
    web = Web(app.test_client())
    assert web.login("sup").status_code == 302
    dashboard = web.text("/dashboard")
    assert re.search(r'id="n-approvals">1<', dashboard)
    assert "CP-AP-1" in dashboard.split('id="pending-approvals"')[1].split("</table>")[0]
    page = _text(web.text("/cases/CP-AP-1"))
    assert "Waiting for approval" in page
    assert "cw1 closed the case from the phone" in page
    shown = re.search(r'name="instance_id" value="([^"]+)"', web.text("/cases/CP-AP-1"))
    assert shown is not None, "the page does not say which closure its Approve decides"
    form = {"decision": "approve", "instance_id": shown.group(1)}
    assert web.post("/cases/CP-AP-1/approval", form).status_code == 302
    record = client.get("/api/v1/cases/CP-AP-1", headers=sup).json
    assert (record["status"], record["approval"]) == ("closed", "approved")
    assert "CP-AP-1" not in _listed(device)

    history = _text(web.text("/cases/CP-AP-1"))
    assert "Returned the closure sent by cw1" in history
    assert "Reason: Visit once more first" in history
    assert "Approved the closure sent by cw1" in history
    admin = Web(app.test_client())
    assert admin.login("admin1").status_code == 302
    audit = _text(admin.text("/audit?action=case.return"))
    assert "Returned a closure or case plan" in audit
    assert "Approved a closure or case plan" in _text(admin.text("/audit?action=case.approve"))


def test_a_high_risk_plan_waits_for_approval_and_its_sender_cannot_approve_it(
    published: None, make: Factory, device: DeviceClient, client: FlaskClient
) -> None:
    make.user("sup", "supervisor", team="north")
    make.user("sup2", "supervisor", team="north")
    make.user("admin1", "admin")
    sup, sup2 = bearer(make.api_token("sup")), bearer(make.api_token("sup2"))
    admin = bearer(make.api_token("admin1"))
    # the supervisor registers the case on their own phone, for their caseworker
    phone = make.device_client("phone-sup", "sup")
    plan, entity_id = new_case_plan("CP-AP-2", risk="high", caseworker="cw1")
    assert phone.submit(plan).status_code == 201
    record = client.get("/api/v1/cases/CP-AP-2", headers=sup).json
    assert (record["status"], record["risk_level"]) == ("open", "high")  # in effect
    assert (record["approval"], record["approval_kind"]) == ("pending", "plan")
    assert record["approval_requested_by"] == "sup"
    assert _listed(device)["CP-AP-2"]["approval"] == "pending"

    own = _decide(client, "CP-AP-2", sup, decision="approve")
    assert (own.status_code, own.json["code"]) == (403, "case.own_approval")
    returned = _decide(client, "CP-AP-2", sup2, decision="return", comment="Add a safety need")
    assert returned.status_code == 200
    assert client.get("/api/v1/cases/CP-AP-2", headers=sup).json["approval"] == "returned"

    # the caseworker revises the plan, still high risk: it waits again; an admin approves
    record = client.get("/api/v1/cases/CP-AP-2", headers=sup).json
    revision = plan_revision(
        "CP-AP-2", entity_id, base_version=record["version"], risk="high",
        plan_date="2026-11-27",
    )  # fmt: skip
    assert device.submit(revision).status_code == 201
    record = client.get("/api/v1/cases/CP-AP-2", headers=sup).json
    assert (record["approval"], record["approval_requested_by"]) == ("pending", "cw1")
    assert _decide(client, "CP-AP-2", admin, decision="approve").status_code == 200
    record = client.get("/api/v1/cases/CP-AP-2", headers=sup).json
    assert record["approval"] == "approved"
    assert _listed(device)["CP-AP-2"]["approval"] == "approved"
    assert _listed(device)["CP-AP-2"]["label"] == "CP-AP-2 (high)"
    kinds = [a["kind"] for a in record["actions"]]
    assert kinds == ["return", "approve"]


def test_a_stale_approve_click_does_not_approve_a_closure_never_shown(
    app: Flask, published: None, make: Factory, device: DeviceClient, client: FlaskClient
) -> None:
    """Two supervisors look at the case while a high-risk plan waits; a closure arrives
    behind it. One approves the plan; the other's Approve (for the plan they saw) is told
    it no longer waits (409 ``case.not_pending``) and does not approve the closure, on the
    API and on the case page; an Approve that names nothing is refused."""
    make.user("sup", "supervisor", team="north")
    make.user("sup2", "supervisor", team="north")
    sup, sup2 = bearer(make.api_token("sup")), bearer(make.api_token("sup2"))
    plan, entity_id = new_case_plan("CP-RV-3", risk="high")
    assert device.submit(plan).status_code == 201
    seen = client.get("/api/v1/cases/CP-RV-3", headers=sup).json
    assert (seen["approval"], seen["approval_kind"]) == ("pending", "plan")
    web = Web(app.test_client())
    assert web.login("sup").status_code == 302
    stale_page = web.text("/cases/CP-RV-3")
    closing = contact_log(
        "CP-RV-3", entity_id, base_version=seen["version"], risk="high", close="yes",
        contact_time="2026-11-25T09:00:00.000Z",
    )  # fmt: skip
    assert device.submit(closing).status_code == 201
    unnamed = client.post(
        "/api/v1/cases/CP-RV-3/approval", json={"decision": "approve"}, headers=sup
    )
    assert unnamed.status_code in (400, 422), unnamed.json
    plan_id = seen["approval_instance_id"]
    first = _decide(client, "CP-RV-3", sup2, decision="approve", instance_id=plan_id)
    assert first.status_code == 200, first.json
    second = _decide(client, "CP-RV-3", sup, decision="approve", instance_id=plan_id)
    assert (second.status_code, second.json["code"]) == (409, "case.not_pending")
    record = client.get("/api/v1/cases/CP-RV-3", headers=sup).json
    assert record["status"] == "open", "a closure nobody looked at was approved"
    assert (record["approval"], record["approval_kind"]) == ("pending", "closure")
    # the same stale click from the page the supervisor opened before the closure came
    shown = re.search(r'name="instance_id" value="([^"]+)"', stale_page)
    assert shown is not None
    assert shown.group(1) == plan_id
    form = {"decision": "approve", "instance_id": shown.group(1)}
    assert web.post("/cases/CP-RV-3/approval", form).status_code == 302
    record = client.get("/api/v1/cases/CP-RV-3", headers=sup).json
    assert (record["status"], record["approval_kind"]) == ("open", "closure")
    assert "no longer waiting" in _text(web.text("/cases/CP-RV-3"))


def test_a_returned_plan_s_comment_reaches_the_phone_and_the_forms_show_it(
    published: None, make: Factory, device: DeviceClient, client: FlaskClient
) -> None:
    """The caseworker reads why a plan or closure came back, offline: the comment is the
    case-list property ``approval_comment`` (bounded), which the forms that pick the case
    read and show in a note; it goes once the supervisor approves."""
    make.user("sup", "supervisor", team="north")
    sup = bearer(make.api_token("sup"))
    plan, entity_id = new_case_plan("CP-AP-9", risk="high")
    assert device.submit(plan).status_code == 201
    assert _listed(device)["CP-AP-9"]["approval_comment"] == ""  # pending: nothing to read
    why = "Add a safety need, and ask the school. " * 40  # far longer than a phone needs
    returned = _decide(client, "CP-AP-9", sup, decision="return", comment=why)
    assert returned.status_code == 200, returned.json
    row = _listed(device)["CP-AP-9"]
    assert row["approval"] == "returned"
    assert row["approval_comment"].startswith("Add a safety need, and ask the school.")
    assert len(row["approval_comment"]) <= APPROVAL_COMMENT_MAX_LENGTH
    record = client.get("/api/v1/cases/CP-AP-9", headers=sup).json
    assert record["approval_comment"] == row["approval_comment"]

    # the forms that pick the case read the property and show it in a note
    for form_id in ("case_plan", "contact_log", "case_conference"):
        calculation = _calculation(form_id, "approval_comment_now")
        assert "instance('cases')/root/item[name=" in calculation, form_id
        assert calculation.endswith("/approval_comment"), (form_id, calculation)
        assert re.search(
            r'<label ref="jr:itext\(\'/data/[a-z_/]*approval_returned_note:label\'\)"',
            xform(form_id),
        ), form_id

    record = client.get("/api/v1/cases/CP-AP-9", headers=sup).json
    revision = plan_revision(
        "CP-AP-9", entity_id, base_version=record["version"], risk="high", plan_date="2026-11-27"
    )
    assert device.submit(revision).status_code == 201
    assert _listed(device)["CP-AP-9"]["approval_comment"] == ""  # waiting again
    make.user("sup2", "supervisor", team="north")
    assert (
        _decide(client, "CP-AP-9", bearer(make.api_token("sup2")), decision="approve").status_code
        == 200
    )
    assert _listed(device)["CP-AP-9"]["approval_comment"] == ""


def test_an_unassigned_case_s_approval_belongs_to_the_sender_s_team_or_an_admin(
    app: Flask, published: None, make: Factory, client: FlaskClient
) -> None:
    """Every supervisor sees the cases no one holds; deciding what waits on one belongs to a
    supervisor of the team of the one who sent it (or an admin), not to any team's."""
    make.user("adm", "admin", team="north")
    make.user("admin2", "admin")
    make.user("sup", "supervisor", team="north")
    make.user("sup-south", "supervisor", team="south")
    sup, south = bearer(make.api_token("sup")), bearer(make.api_token("sup-south"))
    # an admin's phone registers a high-risk case naming no one who may hold it
    phone = make.device_client("phone-adm", "adm")
    plan, _ = new_case_plan("CP-AP-U", risk="high", caseworker="nobody-here")
    assert phone.submit(plan).status_code == 201
    record = client.get("/api/v1/cases/CP-AP-U", headers=south).json
    assert (record["caseworker"], record["approval"]) == (None, "pending")  # south sees it

    refused = _decide(client, "CP-AP-U", south, decision="approve")
    assert refused.status_code == 403, refused.json
    web = Web(app.test_client())
    assert web.login("sup-south").status_code == 302
    assert re.search(r'id="n-approvals">0<', web.text("/dashboard"))
    assert 'value="approve"' not in web.text("/cases/CP-AP-U")  # no button to press
    assert client.get("/api/v1/cases/CP-AP-U", headers=south).json["approval"] == "pending"

    north = Web(app.test_client())
    assert north.login("sup").status_code == 302
    assert re.search(r'id="n-approvals">1<', north.text("/dashboard"))
    assert 'value="approve"' in north.text("/cases/CP-AP-U")
    assert _decide(client, "CP-AP-U", sup, decision="approve").status_code == 200
    assert client.get("/api/v1/cases/CP-AP-U", headers=sup).json["approval"] == "approved"


def test_an_unassigned_case_sent_by_someone_of_no_team_is_decided_by_an_admin(
    published: None, make: Factory, client: FlaskClient
) -> None:
    make.user("adm", "admin")
    make.user("admin2", "admin")
    make.user("sup", "supervisor", team="north")
    sup, admin2 = bearer(make.api_token("sup")), bearer(make.api_token("admin2"))
    phone = make.device_client("phone-adm", "adm")
    plan, _ = new_case_plan("CP-AP-V", risk="high", caseworker="nobody-here")
    assert phone.submit(plan).status_code == 201
    assert _decide(client, "CP-AP-V", sup, decision="approve").status_code == 403
    assert _decide(client, "CP-AP-V", admin2, decision="approve").status_code == 200


def test_the_dashboards_waiting_counts_stop_at_the_count_cap(
    published: None, make: Factory, device: DeviceClient, app: Flask, monkeypatch: Any
) -> None:
    """A count of what waits (approvals, held referrals, safety alerts) reads at most the
    cap's entries and says "N+" beyond it: at 100 000 cases an unbounded count of the
    plans waiting for approval read 40 000 rows (150 ms on PostgreSQL)."""
    from server import paging

    make.user("sup", "supervisor", team="north")
    for ref in ("CP-CAP-1", "CP-CAP-2", "CP-CAP-3"):
        plan, _ = new_case_plan(ref, risk="high", caseworker="cw1")
        assert device.submit(plan).status_code == 201
    web = Web(app.test_client())
    assert web.login("sup").status_code == 302
    assert re.search(r'id="n-approvals">3<', web.text("/dashboard"))
    monkeypatch.setattr(paging, "COUNT_CAP", 2)
    assert re.search(r'id="n-approvals">2\+<', web.text("/dashboard"))
