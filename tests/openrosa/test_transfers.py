"""Transfers through the device protocol with the real forms: a supervisor asks to move a
case to a caseworker of another team; the receiving team's supervisor accepts (the old
caseworker's phone loses the case, the new one's gains it, plan items the old caseworker
held follow) or declines with a reason (nothing moves; the reason is in the history); a
transfer to an outside agency closes the case as transferred. Only the case's supervisor or
an admin asks, only the receiving supervisor or an admin answers; reprocessing every
submission leaves the result as it was.
"""

from __future__ import annotations

import csv
import html
import io
import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from server import db
from server.cases import item_counts, report_counts
from server.cases.settings import case_settings
from server.commands.submissions import reapply_all
from tests.cases.test_item_counts import stored, stored_report_counts
from tests.factories import DeviceClient, Factory, bearer
from tests.realforms import contact_log, new_case_plan
from tests.web.conftest import Web


def _listed(device: DeviceClient) -> dict[str, dict[str, str]]:
    response = device.get("/forms/contact_log/attachments/cases.csv")
    assert response.status_code == 200
    rows = csv.DictReader(io.StringIO(response.get_data(as_text=True)))
    return {r["case_ref"]: r for r in rows}


def _post(client: FlaskClient, path: str, headers: dict[str, str], **body: Any) -> Any:
    return client.post(f"/api/v1/cases/{path}", json=body, headers=headers)


def _record(client: FlaskClient, ref: str, headers: dict[str, str]) -> dict[str, Any]:
    response = client.get(f"/api/v1/cases/{ref}", headers=headers)
    assert response.status_code == 200, response.json
    record: dict[str, Any] = response.json
    return record


def _text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def _web(app: Flask, username: str) -> Web:
    web = Web(app.test_client())
    assert web.login(username).status_code == 302
    return web


def _reprocess_all(app: Flask) -> None:
    """What `casework reprocess --all` does, on this app's database."""
    with app.app_context():
        reapply_all(db.session(), case_settings(app))
        db.session().commit()


def test_a_transfer_accepted_moves_the_case_to_the_other_team(
    app: Flask, published: None, make: Factory, device: DeviceClient, client: FlaskClient
) -> None:
    make.user("sup", "supervisor", team="north")
    make.user("sup-south", "supervisor", team="south")
    make.user("sup-east", "supervisor", team="east")
    make.user("cw2", "caseworker", team="south")
    make.user("admin1", "admin")
    sup, south = bearer(make.api_token("sup")), bearer(make.api_token("sup-south"))
    east, cw1 = bearer(make.api_token("sup-east")), bearer(make.api_token("cw1"))
    phone2 = make.device_client("phone-2", "cw2")
    plan, _ = new_case_plan("CP-TR-1", risk="medium")
    assert device.submit(plan).status_code == 201
    assert "CP-TR-1" in _listed(device)

    # who may not ask: the caseworker (role), another team's supervisor (scope)
    ask = {"username": "cw2", "reason": "The family moved south"}
    assert _post(client, "CP-TR-1/transfer", cw1, **ask).status_code == 403
    assert _post(client, "CP-TR-1/transfer", south, **ask).status_code == 404
    asked = _post(client, "CP-TR-1/transfer", sup, **ask)
    assert asked.status_code == 200, asked.json
    record = _record(client, "CP-TR-1", sup)
    assert (record["transfer"], record["transfer_team"], record["caseworker"]) == (
        "pending",
        "south",
        "cw1",
    )
    assert _listed(device)["CP-TR-1"]["transfer"] == "pending"  # a code, never a name
    again = _post(client, "CP-TR-1/transfer", sup, **ask)
    assert (again.status_code, again.json["code"]) == (409, "case.transfer_pending")

    # who may not answer: the caseworker, the asking supervisor, a third team's supervisor
    assert _post(client, "CP-TR-1/transfer/accept", cw1).status_code == 403
    assert _post(client, "CP-TR-1/transfer/accept", sup).status_code == 404
    assert _post(client, "CP-TR-1/transfer/accept", east).status_code == 404
    accepted = _post(client, "CP-TR-1/transfer/accept", south)
    assert accepted.status_code == 200, accepted.json
    record = _record(client, "CP-TR-1", south)
    assert (record["caseworker"], record["team"], record["transfer"]) == (
        "cw2",
        "south",
        "accepted",
    )
    owners = {i["kind"]: i["owner"] for i in record["plan_items"]}
    assert owners["need"] == owners["action"] == "cw2"  # what cw1 held follows the case
    assert owners["service"] == "District clinic"  # a provider's stays theirs
    assert "CP-TR-1" not in _listed(device)
    assert _listed(phone2)["CP-TR-1"]["transfer"] == "accepted"
    assert client.get("/api/v1/cases/CP-TR-1", headers=sup).status_code == 404  # out of scope

    with app.app_context():  # the reports' and overdue items' counts moved with the case
        session = db.session()
        assert stored_report_counts(session) == report_counts.recount(session)
        assert any(team == "south" for team, *_ in stored_report_counts(session))
        assert stored(session) == item_counts.recount(session)
    history = client.get("/api/v1/cases/CP-TR-1/history", headers=south).json
    assert "transfer_accept" in str(history)

    _reprocess_all(app)
    after = _record(client, "CP-TR-1", south)
    assert (after["caseworker"], after["team"], after["transfer"]) == ("cw2", "south", "accepted")
    assert after["version"] == record["version"]


def test_a_transfer_declined_leaves_the_case_where_it_was(
    app: Flask, published: None, make: Factory, device: DeviceClient, client: FlaskClient
) -> None:
    make.user("sup", "supervisor", team="north")
    make.user("sup-south", "supervisor", team="south")
    make.user("admin1", "admin")
    sup, south = bearer(make.api_token("sup")), bearer(make.api_token("sup-south"))
    plan, _ = new_case_plan("CP-TR-2", risk="high")
    assert device.submit(plan).status_code == 201
    asked = _post(client, "CP-TR-2/transfer", sup, team="south", reason="Closer to school")
    assert asked.status_code == 200, asked.json
    refused = _post(client, "CP-TR-2/transfer/decline", south, reason="")
    assert refused.status_code == 400
    declined = _post(client, "CP-TR-2/transfer/decline", south, reason="No caseworker free")
    assert declined.status_code == 200, declined.json
    record = _record(client, "CP-TR-2", sup)
    assert (record["caseworker"], record["team"], record["transfer"]) == (
        "cw1",
        "north",
        "declined",
    )
    assert _listed(device)["CP-TR-2"]["transfer"] == "declined"
    history = client.get("/api/v1/cases/CP-TR-2/history", headers=sup).json
    assert "No caseworker free" in str(history)
    late = _post(client, "CP-TR-2/transfer/accept", south)
    assert late.status_code == 404  # nothing waits for them any more

    _reprocess_all(app)
    after = _record(client, "CP-TR-2", sup)
    assert (after["caseworker"], after["transfer"]) == ("cw1", "declined")


def test_a_transfer_to_an_outside_agency_closes_the_case_as_transferred(
    app: Flask, published: None, make: Factory, device: DeviceClient, client: FlaskClient
) -> None:
    make.user("sup", "supervisor", team="north")
    sup = bearer(make.api_token("sup"))
    plan, _ = new_case_plan("CP-TR-3", risk="medium")
    assert device.submit(plan).status_code == 201
    out = _post(
        client, "CP-TR-3/transfer", sup, agency="District social welfare", reason="Out of area"
    )
    assert out.status_code == 200, out.json
    record = _record(client, "CP-TR-3", sup)
    assert (record["status"], record["transfer"], record["transfer_to"]) == (
        "closed",
        "out",
        "District social welfare",
    )
    assert "CP-TR-3" not in _listed(device)
    _reprocess_all(app)
    assert _record(client, "CP-TR-3", sup)["status"] == "closed"


def test_on_the_web_a_transfer_is_asked_then_answered_from_the_receivers_dashboard(
    app: Flask, published: None, make: Factory, device: DeviceClient, client: FlaskClient
) -> None:
    make.user("sup", "supervisor", team="north")
    make.user("sup-south", "supervisor", team="south")
    make.user("cw2", "caseworker", team="south")
    sup = bearer(make.api_token("sup"))
    for ref in ("CP-TW-1", "CP-TW-2"):
        assert device.submit(new_case_plan(ref, risk="medium")[0]).status_code == 201
    asking = _web(app, "sup")
    page = _text(asking.text("/cases/CP-TW-1/transfer"))
    assert "Transfer case CP-TW-1?" in page
    assert "cw2 (south)" in page
    assert (
        asking.post("/cases/CP-TW-1/transfer", {"to": "team:south", "reason": ""}).status_code
        == 302
    )
    assert _record(client, "CP-TW-1", sup)["transfer"] is None  # no reason, nothing asked
    for ref in ("CP-TW-1", "CP-TW-2"):
        asked = asking.post(f"/cases/{ref}/transfer", {"to": "user:cw2", "reason": "Moved"})
        assert asked.status_code == 302
    assert "Transfer pending" in _text(asking.text("/cases/CP-TW-1"))

    receiving = _web(app, "sup-south")
    dashboard = receiving.text("/dashboard")
    waiting = _text(dashboard.split('id="transfers-waiting"')[1].split("</table>")[0])
    assert "CP-TW-1" in waiting
    assert "CP-TW-2" in waiting
    assert "No transfer is waiting for you." in _text(asking.text("/dashboard"))
    assert receiving.post("/cases/CP-TW-1/transfer/accept", {}).status_code == 302
    assert (
        receiving.post(
            "/cases/CP-TW-2/transfer/decline", {"reason": "Our caseload is full"}
        ).status_code
        == 302
    )
    moved = _text(receiving.text("/cases/CP-TW-1"))
    assert "Accepted the transfer: the case moved to cw2 (team south, was cw1)" in moved
    kept = _text(asking.text("/cases/CP-TW-2"))
    assert "The transfer to team south was declined: Our caseload is full" in kept
    assert "Declined the transfer to team south; the case stays where it was" in kept
    assert _record(client, "CP-TW-2", sup)["caseworker"] == "cw1"


def test_the_outside_transfer_summary_holds_no_sensitive_or_free_text_answer(
    app: Flask, published: None, make: Factory, device: DeviceClient, client: FlaskClient
) -> None:
    make.user("sup", "supervisor", team="north")
    sup = bearer(make.api_token("sup"))
    plan, entity_id = new_case_plan("CP-TS-1", risk="high")
    assert device.submit(plan).status_code == 201
    version = _record(client, "CP-TS-1", sup)["version"]
    visit = contact_log(
        "CP-TS-1", entity_id, base_version=version, contact_time="2026-11-22T09:00:00.000Z"
    )
    assert device.submit(visit).status_code == 201
    web = _web(app, "sup")
    out = web.post(
        "/cases/CP-TS-1/transfer",
        {"to": "agency:", "agency": "District social welfare", "reason": "Out of area"},
    )
    assert out.status_code == 302
    assert out.headers["Location"].endswith("/cases/CP-TS-1/transfer/summary")
    record = _record(client, "CP-TS-1", sup)
    assert (record["status"], record["transfer"]) == ("closed", "out")
    summary = _text(web.text("/cases/CP-TS-1/transfer/summary"))
    assert "Transfer summary: case CP-TS-1" in summary
    assert "District social welfare" in summary
    assert "no free-text answer and no sensitive field" in summary
    assert "Safety plan made or changed 2026-11-22" in summary
    assert "Safety plan review 2026-12-20" in summary
    for typed in (
        "Safety plan with aunt",
        "Meet the school counsellor",
        "Physical violence or abuse",
        "Aunt, by phone",
        "Neighbour's house",
        "Call aunt if threatened",
    ):
        assert typed not in summary
    page = _text(web.text("/cases/CP-TS-1"))
    assert "Transferred to District social welfare; the case is closed as transferred." in page
    assert "Transferred the case to District social welfare, outside the system" in page
    # a case not transferred out has no summary; a caseworker never sees one
    assert device.submit(new_case_plan("CP-TS-2")[0]).status_code == 201
    assert web.get("/cases/CP-TS-2/transfer/summary").status_code == 404
    assert _web(app, "cw1").get("/cases/CP-TS-1/transfer/summary").status_code == 403


def test_an_admin_answers_a_team_transfer_naming_a_member_of_that_team(
    app: Flask, published: None, make: Factory, device: DeviceClient, client: FlaskClient
) -> None:
    make.user("sup", "supervisor", team="north")
    make.user("cw2", "caseworker", team="south")
    make.user("admin1", "admin")
    sup, admin = bearer(make.api_token("sup")), bearer(make.api_token("admin1"))
    assert device.submit(new_case_plan("CP-TA-1", risk="low")[0]).status_code == 201
    bad = _post(client, "CP-TA-1/transfer", sup, team="north", reason="Same team")
    assert (bad.status_code, bad.json["code"]) == (400, "case.bad_transfer")
    both = _post(client, "CP-TA-1/transfer", sup, team="south", username="cw2", reason="x")
    assert (both.status_code, both.json["code"]) == (400, "case.bad_transfer")
    assert _post(client, "CP-TA-1/transfer", sup, team="south", reason="Moved").status_code == 200
    wrong = _post(client, "CP-TA-1/transfer/accept", admin, username="cw1")  # not of south
    assert wrong.status_code == 403
    accepted = _post(client, "CP-TA-1/transfer/accept", admin, username="cw2")
    assert accepted.status_code == 200, accepted.json
    record = _record(client, "CP-TA-1", admin)
    assert (record["caseworker"], record["team"], record["transfer"]) == (
        "cw2",
        "south",
        "accepted",
    )


def test_a_pending_transfer_is_withdrawn_by_who_asked_with_a_reason(
    app: Flask, published: None, make: Factory, device: DeviceClient, client: FlaskClient
) -> None:
    make.user("sup", "supervisor", team="north")
    make.user("sup2", "supervisor", team="north")
    make.user("sup-south", "supervisor", team="south")
    make.user("cw2", "caseworker", team="south")
    make.user("admin1", "admin")
    sup, sup2 = bearer(make.api_token("sup")), bearer(make.api_token("sup2"))
    south, cw1 = bearer(make.api_token("sup-south")), bearer(make.api_token("cw1"))
    phone2 = make.device_client("phone-2", "cw2")
    plan, _ = new_case_plan("CP-TR-W", risk="medium")
    assert device.submit(plan).status_code == 201
    before = _listed(device)["CP-TR-W"]
    asked = _post(client, "CP-TR-W/transfer", sup, username="cw2", reason="Moved south")
    assert asked.status_code == 200, asked.json

    # who may not withdraw: the caseworker (role), another supervisor of the team, the
    # receiving supervisor; nobody without a reason
    assert _post(client, "CP-TR-W/transfer/withdraw", cw1, reason="x").status_code == 403
    assert _post(client, "CP-TR-W/transfer/withdraw", sup2, reason="x").status_code == 403
    assert _post(client, "CP-TR-W/transfer/withdraw", south, reason="x").status_code == 404
    no_reason = _post(client, "CP-TR-W/transfer/withdraw", sup, reason=" ")
    assert (no_reason.status_code, no_reason.json["code"]) == (400, "case.reason_required")
    withdrawn = _post(client, "CP-TR-W/transfer/withdraw", sup, reason="The family stays")
    assert withdrawn.status_code == 200, withdrawn.json
    record = _record(client, "CP-TR-W", sup)
    assert (record["caseworker"], record["team"], record["transfer"]) == (
        "cw1",
        "north",
        "withdrawn",
    )
    # the phones keep the case where it was; the receiving supervisor has nothing to answer
    after = _listed(device)["CP-TR-W"]
    assert (after["name"], after["caseworker"], after["status"]) == (
        before["name"],
        "cw1",
        "open",
    )
    assert "CP-TR-W" not in _listed(phone2)
    assert _post(client, "CP-TR-W/transfer/accept", south).status_code == 404
    again = _post(client, "CP-TR-W/transfer/withdraw", sup, reason="Twice")
    assert (again.status_code, again.json["code"]) == (409, "case.no_transfer")
    south_web = _web(app, "sup-south")
    assert "CP-TR-W" not in south_web.text("/dashboard").split('id="transfers-waiting"')[1]

    # in the history, with the reason, and in the audit log
    web = _web(app, "sup")
    page = _text(web.text("/cases/CP-TR-W"))
    assert "Withdrew the transfer to team south" in page
    assert "The family stays" in page
    admin = _web(app, "admin1")
    assert "Withdrew a case's transfer" in _text(admin.text("/audit?action=case.transfer_withdraw"))

    # on the web: asked again, an admin withdraws it from the case page
    assert _post(client, "CP-TR-W/transfer", sup, team="south", reason="Again").status_code == 200
    page = admin.text("/cases/CP-TR-W")
    assert "transfer/withdraw" in page
    assert "transfer/withdraw" not in _web(app, "sup2").text("/cases/CP-TR-W")
    posted = admin.post("/cases/CP-TR-W/transfer/withdraw", {"reason": "Asked by mistake"})
    assert posted.status_code == 302
    assert _record(client, "CP-TR-W", sup)["transfer"] == "withdrawn"

    _reprocess_all(app)
    assert _record(client, "CP-TR-W", sup)["transfer"] == "withdrawn"
