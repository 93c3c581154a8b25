"""A case conference that decides on a transfer asks for it from the phone, through the
device protocol with the real forms: the conference form picks the caseworker or team from
``transfer_targets.csv`` (a list the phone downloads with the form, so it works offline),
or names an outside agency. The transfer then waits, like one a supervisor asks for on the
web, for the receiving team's supervisor (for an agency: the supervisor of the case's own
team) to accept or decline it; nothing moves until then. Applying the conference again
(a resend, `casework reprocess --all`) asks nothing twice.
"""

from __future__ import annotations

import csv
import html
import io
import re
import xml.etree.ElementTree as ET
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from server import db
from server.audit.models import AuditEvent
from server.cases.settings import case_settings
from server.commands.submissions import reapply_all
from tests.factories import DeviceClient, Factory, bearer
from tests.realforms import case_conference, new_case_plan
from tests.web.conftest import Web

MAN = "{http://openrosa.org/xforms/xformsManifest}"


def _listed(device: DeviceClient) -> dict[str, dict[str, str]]:
    response = device.get("/forms/contact_log/attachments/cases.csv")
    assert response.status_code == 200
    return {r["case_ref"]: r for r in csv.DictReader(io.StringIO(response.get_data(as_text=True)))}


def _targets(device: DeviceClient) -> dict[tuple[str, str], str]:
    """transfer_targets.csv as the conference form's manifest hands it to the phone:
    (kind, label) -> code."""
    manifest = device.get("/forms/case_conference/manifest")
    assert manifest.status_code == 200
    names = [
        f.findtext(f"{MAN}filename") for f in ET.fromstring(manifest.data).iter(f"{MAN}mediaFile")
    ]
    assert "transfer_targets.csv" in names
    response = device.get("/forms/case_conference/attachments/transfer_targets.csv")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert rows
    assert set(rows[0]) == {"name", "label", "kind", "team"}
    return {(r["kind"], r["label"]): r["name"] for r in rows}


def _record(client: FlaskClient, ref: str, headers: dict[str, str]) -> dict[str, Any]:
    response = client.get(f"/api/v1/cases/{ref}", headers=headers)
    assert response.status_code == 200, response.json
    record: dict[str, Any] = response.json
    return record


def _post(client: FlaskClient, path: str, headers: dict[str, str], **body: Any) -> Any:
    return client.post(f"/api/v1/cases/{path}", json=body, headers=headers)


def _text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def _web(app: Flask, username: str) -> Web:
    web = Web(app.test_client())
    assert web.login(username).status_code == 302
    return web


def _reprocess_all(app: Flask) -> None:
    with app.app_context():
        reapply_all(db.session(), case_settings(app))
        db.session().commit()


def test_a_conference_transfer_to_a_caseworker_waits_for_the_receiving_supervisor(
    app: Flask, published: None, make: Factory, device: DeviceClient, client: FlaskClient
) -> None:
    make.user("sup", "supervisor", team="north")
    make.user("sup-south", "supervisor", team="south")
    make.user("cw2", "caseworker", team="south")
    make.user("des", "designer")
    sup, south = bearer(make.api_token("sup")), bearer(make.api_token("sup-south"))
    phone2 = make.device_client("phone-2", "cw2")
    plan, entity_id = new_case_plan("CP-CT-1", risk="medium")
    assert device.submit(plan).status_code == 201
    targets = _targets(device)
    assert ("team", "south") in targets
    assert ("caseworker", "cw2 (south)") in targets
    assert not any(label.startswith("des") for _, label in targets)  # holds no case

    record = _record(client, "CP-CT-1", sup)
    conference = case_conference(
        "CP-CT-1", entity_id, base_version=record["version"], outcome="transfer",
        transfer_kind="caseworker", transfer_caseworker=targets[("caseworker", "cw2 (south)")],
        transfer_reason="The family moved to the south district",
    )  # fmt: skip
    assert device.submit(conference).status_code == 201
    record = _record(client, "CP-CT-1", sup)
    assert (record["transfer"], record["transfer_kind"], record["transfer_team"]) == (
        "pending",
        "caseworker",
        "south",
    )
    assert (record["transfer_to"], record["transfer_requested_by"]) == ("cw2", "cw1")
    assert (record["status"], record["caseworker"]) == ("open", "cw1")  # nothing moved yet
    assert _listed(device)["CP-CT-1"]["transfer"] == "pending"
    assert "CP-CT-1" not in _listed(phone2)
    # the receiving supervisor sees it waiting; the case's own does not answer it
    assert _post(client, "CP-CT-1/transfer/accept", sup).status_code == 404
    history = client.get("/api/v1/cases/CP-CT-1/history", headers=sup).json
    assert "The family moved to the south district" in str(history)
    page = _text(_web(app, "sup").text("/cases/CP-CT-1"))
    assert "The case conference decided to transfer the case to cw2 (team south)" in page
    assert "The family moved to the south district" in page
    waiting = _web(app, "sup-south").text("/dashboard").split('id="transfers-waiting"')[1]
    assert "CP-CT-1" in waiting.split("</table>")[0]

    # a resend and a reprocess of every submission ask nothing twice
    assert device.submit(conference).status_code in (200, 201)
    _reprocess_all(app)
    record = _record(client, "CP-CT-1", sup)
    assert [a["kind"] for a in record["actions"]] == ["transfer_request"]

    accepted = _post(client, "CP-CT-1/transfer/accept", south)
    assert accepted.status_code == 200, accepted.json
    record = _record(client, "CP-CT-1", south)
    assert (record["caseworker"], record["team"], record["transfer"]) == (
        "cw2",
        "south",
        "accepted",
    )
    assert "CP-CT-1" not in _listed(device)
    assert _listed(phone2)["CP-CT-1"]["transfer"] == "accepted"
    _reprocess_all(app)
    again = _record(client, "CP-CT-1", south)
    assert [a["kind"] for a in again["actions"]] == ["transfer_request", "transfer_accept"]
    assert (again["caseworker"], again["version"]) == ("cw2", record["version"])


def test_a_conference_transfer_to_a_team_can_be_declined(
    app: Flask, published: None, make: Factory, device: DeviceClient, client: FlaskClient
) -> None:
    make.user("sup", "supervisor", team="north")
    make.user("sup-south", "supervisor", team="south")
    sup, south = bearer(make.api_token("sup")), bearer(make.api_token("sup-south"))
    plan, entity_id = new_case_plan("CP-CT-2", risk="medium")
    assert device.submit(plan).status_code == 201
    targets = _targets(device)
    conference = case_conference(
        "CP-CT-2", entity_id, base_version=_record(client, "CP-CT-2", sup)["version"],
        outcome="transfer", transfer_kind="team", transfer_team=targets[("team", "south")],
        transfer_reason="Closer to the school",
    )  # fmt: skip
    assert device.submit(conference).status_code == 201
    record = _record(client, "CP-CT-2", sup)
    assert (record["transfer"], record["transfer_kind"], record["transfer_team"]) == (
        "pending",
        "team",
        "south",
    )
    declined = _post(client, "CP-CT-2/transfer/decline", south, reason="No caseworker free")
    assert declined.status_code == 200, declined.json
    record = _record(client, "CP-CT-2", sup)
    assert (record["caseworker"], record["team"], record["transfer"]) == (
        "cw1",
        "north",
        "declined",
    )


def test_a_conference_transfer_to_an_agency_waits_for_the_case_s_supervisor(
    app: Flask, published: None, make: Factory, device: DeviceClient, client: FlaskClient
) -> None:
    make.user("sup", "supervisor", team="north")
    make.user("sup-south", "supervisor", team="south")
    sup, south = bearer(make.api_token("sup")), bearer(make.api_token("sup-south"))
    plan, entity_id = new_case_plan("CP-CT-3", risk="medium")
    assert device.submit(plan).status_code == 201
    conference = case_conference(
        "CP-CT-3", entity_id, base_version=_record(client, "CP-CT-3", sup)["version"],
        outcome="transfer", transfer_kind="agency", transfer_to="District social welfare office",
        transfer_reason="Needs the statutory service",
    )  # fmt: skip
    assert device.submit(conference).status_code == 201
    record = _record(client, "CP-CT-3", sup)
    assert (record["status"], record["transfer"], record["transfer_kind"]) == (
        "open",
        "pending",
        "agency",
    )
    assert record["transfer_to"] == "District social welfare office"
    assert "CP-CT-3" in _listed(device)  # still the caseworker's until a supervisor accepts
    assert _post(client, "CP-CT-3/transfer/accept", south).status_code == 404
    accepted = _post(client, "CP-CT-3/transfer/accept", sup)
    assert accepted.status_code == 200, accepted.json
    record = _record(client, "CP-CT-3", sup)
    assert (record["status"], record["transfer"]) == ("closed", "out")
    assert record["transfer_requested_by"] == "cw1"
    assert "CP-CT-3" not in _listed(device)
    _reprocess_all(app)
    after = _record(client, "CP-CT-3", sup)
    assert (after["status"], after["transfer"]) == ("closed", "out")
    assert [a["kind"] for a in after["actions"]] == ["transfer_request", "transfer_out"]


def test_a_conference_transfer_that_cannot_be_asked_is_audited_and_the_conference_stands(
    app: Flask, published: None, make: Factory, device: DeviceClient, client: FlaskClient
) -> None:
    make.user("sup", "supervisor", team="north")
    make.user("admin1", "admin")
    sup, admin = bearer(make.api_token("sup")), bearer(make.api_token("admin1"))
    plan, entity_id = new_case_plan("CP-CT-4", risk="medium")
    assert device.submit(plan).status_code == 201
    own_team = _targets(device)[("team", "north")]
    conference = case_conference(
        "CP-CT-4", entity_id, base_version=_record(client, "CP-CT-4", sup)["version"],
        outcome="transfer", transfer_kind="team", transfer_team=own_team,
        transfer_reason="Asked by mistake",
    )  # fmt: skip
    assert device.submit(conference).status_code == 201
    record = _record(client, "CP-CT-4", sup)
    assert record["transfer"] is None
    assert record["actions"] == []
    assert record["properties"]["conference_outcome"] == "transfer"
    with app.app_context():
        stmt = select(AuditEvent.target, AuditEvent.details).where(
            AuditEvent.action == "case.transfer_not_asked"
        )
        found = db.session().execute(stmt).all()
    assert [(t, d["why"]) for t, d in found] == [("CP-CT-4", "own_team")]
    _reprocess_all(app)  # applied again: still nothing asked, and nothing audited twice
    assert _record(client, "CP-CT-4", admin)["actions"] == []
    with app.app_context():
        assert len(db.session().execute(stmt).all()) == 1


def test_a_conference_transfer_is_withdrawn_by_a_supervisor_of_the_case_s_team(
    app: Flask, published: None, make: Factory, device: DeviceClient, client: FlaskClient
) -> None:
    make.user("sup", "supervisor", team="north")
    make.user("sup-south", "supervisor", team="south")
    sup, south = bearer(make.api_token("sup")), bearer(make.api_token("sup-south"))
    cw1 = bearer(make.api_token("cw1"))
    plan, entity_id = new_case_plan("CP-CT-5", risk="medium")
    assert device.submit(plan).status_code == 201
    conference = case_conference(
        "CP-CT-5", entity_id, base_version=_record(client, "CP-CT-5", sup)["version"],
        outcome="transfer", transfer_kind="team", transfer_team=_targets(device)[("team", "south")],
        transfer_reason="Closer to the school",
    )  # fmt: skip
    assert device.submit(conference).status_code == 201
    # the caseworker who sent it cannot withdraw it (their role asks for no transfer)
    assert _post(client, "CP-CT-5/transfer/withdraw", cw1, reason="x").status_code == 403
    withdrawn = _post(client, "CP-CT-5/transfer/withdraw", sup, reason="Discussed again")
    assert withdrawn.status_code == 200, withdrawn.json
    record = _record(client, "CP-CT-5", sup)
    assert (record["transfer"], record["caseworker"], record["team"]) == (
        "withdrawn",
        "cw1",
        "north",
    )
    assert _post(client, "CP-CT-5/transfer/accept", south).status_code == 404
    _reprocess_all(app)  # the conference is not asked for again
    assert [a["kind"] for a in _record(client, "CP-CT-5", sup)["actions"]] == [
        "transfer_request",
        "transfer_withdraw",
    ]
