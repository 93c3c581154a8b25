"""Consent and information sharing through the device protocol with the real forms: the
registration records who gave consent, to what and when; a contact log withdraws or
extends it; the phone's case list carries the consent in force (``consent``,
``consent_share``) and the services list each service's kind of agency and whether it is
our own, which the forms' constraints read to refuse a referral that consent does not
cover; one that arrives anyway (an older form, or consent withdrawn meanwhile) is held for
a supervisor, on the case page and the worklist; reprocessing keeps all of it.
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
from server.cases.settings import case_settings
from server.cli import _reapply_all
from server.services.service import create_service
from tests.factories import DeviceClient, Factory, bearer
from tests.realforms import consent_answers, contact_log, new_case_plan
from tests.web.conftest import Web


def _listed(device: DeviceClient, list_name: str = "cases.csv") -> dict[str, dict[str, str]]:
    response = device.get(f"/forms/contact_log/attachments/{list_name}")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    key = "case_ref" if list_name == "cases.csv" else "name"
    return {r[key]: r for r in rows}


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


def _directory(make: Factory) -> None:
    """An outside health clinic (the real forms' ``clinic-1``), an outside police desk and
    our own agency's psychosocial team."""

    def add(session):  # type: ignore[no-untyped-def]
        create_service(
            session,
            {"service_id": "clinic-1", "name": "District clinic", "category": "health",
             "provider": "Health Office", "location": "Main street"},
        )  # fmt: skip
        create_service(
            session,
            {"service_id": "police-1", "name": "Family desk", "category": "other",
             "agency_kind": "police"},
        )  # fmt: skip
        create_service(
            session,
            {"service_id": "pss-1", "name": "Our PSS team", "category": "psychosocial",
             "agency_kind": "ngo", "internal": True},
        )  # fmt: skip

    make._run(add)


def _reprocess_all(app: Flask) -> None:
    with app.app_context():
        _reapply_all(db.session(), case_settings(app))
        db.session().commit()


def test_consent_given_withdrawn_and_extended_reaches_the_case_and_the_phone(
    app: Flask, published: None, make: Factory, device: DeviceClient, client: FlaskClient
) -> None:
    make.user("sup", "supervisor", team="north")
    sup = bearer(make.api_token("sup"))
    _directory(make)
    plan, entity = new_case_plan(
        "CP-CS-1",
        risk="medium",
        consent=consent_answers(by="child_and_caregiver", share="health education"),
    )
    assert device.submit(plan).status_code == 201

    record = _record(client, "CP-CS-1", sup)
    assert record["consent"] == "given"
    assert record["consent_share"] == ["health", "education"]
    [given] = record["consent_history"]
    assert (given["change"], given["by"], given["services"]) == (
        "given",
        "child_and_caregiver",
        "yes",
    )
    assert given["date"] == "2026-11-20" and given["user"] == "cw1"
    assert record["provenance"]["consent_share"]["user"] == "cw1"
    # the referral to the health clinic is covered
    [service] = [i for i in record["plan_items"] if i["kind"] == "service"]
    assert service["held"] is False

    row = _listed(device)["CP-CS-1"]
    assert (row["consent"], row["consent_share"]) == ("given", "health education")
    services = _listed(device, "services.csv")
    assert (services["clinic-1"]["agency_kind"], services["clinic-1"]["internal"]) == (
        "health",
        "no",
    )
    assert services["pss-1"]["internal"] == "yes"
    assert services["police-1"]["agency_kind"] == "police"

    # the caregiver withdraws consent to share with health services
    version = int(row["__version"])
    withdraw = contact_log(
        "CP-CS-1",
        entity,
        base_version=version,
        contact_time="2026-11-24T10:00:00.000+00:00",
        consent=("withdraw", "caregiver", "education", "yes"),
        consent_before="health education",
    )
    assert device.submit(withdraw).status_code == 201
    record = _record(client, "CP-CS-1", sup)
    assert record["consent"] == "withdrawn"
    assert record["consent_share"] == ["education"]
    assert [h["change"] for h in record["consent_history"]] == ["given", "withdrawn"]
    # the open referral to the clinic is no longer covered: held for a supervisor
    [service] = [i for i in record["plan_items"] if i["kind"] == "service"]
    assert service["held"] is True
    row = _listed(device)["CP-CS-1"]
    assert (row["consent"], row["consent_share"]) == ("withdrawn", "education")

    # later the consent is extended to health services and the police: released
    extend = contact_log(
        "CP-CS-1",
        entity,
        base_version=int(row["__version"]),
        contact_time="2026-11-28T10:00:00.000+00:00",
        consent=("extend", "child_and_caregiver", "health education police", "yes"),
        consent_before="education",
    )
    assert device.submit(extend).status_code == 201
    record = _record(client, "CP-CS-1", sup)
    assert record["consent"] == "extended"
    assert record["consent_share"] == ["health", "education", "police"]
    assert [h["change"] for h in record["consent_history"]] == ["given", "withdrawn", "extended"]
    [service] = [i for i in record["plan_items"] if i["kind"] == "service"]
    assert service["held"] is False
    assert _listed(device)["CP-CS-1"]["consent_share"] == "health education police"

    _reprocess_all(app)
    again = _record(client, "CP-CS-1", sup)
    assert again["consent_history"] == record["consent_history"]
    assert again["consent_share"] == record["consent_share"]
