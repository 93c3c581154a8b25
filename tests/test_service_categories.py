"""Service categories are the codes of the published forms' ``service_category`` list:
the directory page offers them, imports and the API take a code or its label and refuse
anything else, and services.csv carries what the phone needs to show a service."""

from __future__ import annotations

import csv
import html
import io
import re

from flask.testing import FlaskClient

from tests.factories import DeviceClient, Factory, bearer
from tests.realforms import xform

ALLOWED = [
    "health",
    "education",
    "psychosocial",
    "alternative_care",
    "cash_assistance",
    "wash",
    "food",
    "legal_aid",
    "other",
]


def test_the_api_takes_a_category_code_or_its_label_and_refuses_other_text(
    published: None, make: Factory, client: FlaskClient
) -> None:
    make.user("boss", "admin")
    boss = bearer(make.api_token("boss"))
    made = client.post(
        "/api/v1/services",
        headers=boss,
        json={"service_id": "legal-1", "name": "Legal desk", "category": "LEGAL AID"},
    )
    assert made.status_code == 201
    assert made.json["category"] == "legal_aid"
    refused = client.post(
        "/api/v1/services",
        headers=boss,
        json={"service_id": "legal-2", "name": "Legal desk", "category": "legal"},
    )
    assert refused.status_code == 400
    body = refused.get_data(as_text=True)
    assert "legal_aid (Legal aid)" in body
    assert "'legal' is not a service category" in body
    assert (
        client.patch("/api/v1/services/legal-1", headers=boss, json={"category": "Health"}).json[
            "category"
        ]
        == "health"
    )
    patched = client.patch("/api/v1/services/legal-1", headers=boss, json={"category": "x"})
    assert patched.status_code == 400


def test_an_import_refuses_a_category_the_forms_do_not_offer_with_the_row(
    published: None, make: Factory, client: FlaskClient
) -> None:
    make.user("boss", "admin")
    boss = bearer(make.api_token("boss"))
    upload = (
        "service_id,name,category,description,can_visit,visiting_teams\n"
        "legal-1,Legal desk,legal,,,\n"
        "legal-2,Legal clinic,Legal aid,Free advice on documents,yes,North team\n"
        "hc-1,Health centre,Health,,no,\n"
        "cash-1,Cash desk,cash_assistance,,,\n"
    )
    report = client.post(
        "/api/v1/services/import",
        headers=boss,
        data={"file": (io.BytesIO(upload.encode()), "services.csv")},
        content_type="multipart/form-data",
    ).json
    assert report["created"] == 3
    ((error),) = report["errors"]
    assert (error["row"], error["service_id"]) == (2, "legal-1")
    message = error["messages"]["category"][0]
    assert all(code in message for code in ALLOWED)

    # what the phones get: codes the forms filter on, and what each service provides
    make.user("cw1", "caseworker", team="north")
    phone: DeviceClient = make.device_client("phone-1", "cw1")
    rows = list(
        csv.DictReader(
            io.StringIO(phone.get("/forms/case_plan/attachments/services.csv").data.decode())
        )
    )
    assert {(r["name"], r["category"]) for r in rows} == {
        ("legal-2", "legal_aid"),
        ("hc-1", "health"),
        ("cash-1", "cash_assistance"),
    }
    legal = next(r for r in rows if r["name"] == "legal-2")
    assert (legal["description"], legal["can_visit"], legal["visiting_teams"]) == (
        "Free advice on documents",
        "yes",
        "North team",
    )


def test_the_case_plan_shows_what_a_directory_service_provides_and_if_it_can_visit() -> None:
    form = xform("case_plan")
    for column in ("description", "can_visit"):
        assert (
            f"instance('services')/root/item[name= current()/../service ]/{column}"
            in html.unescape(form)
        )
    # the note's text, in the form's first (default) language
    note = re.search(
        r'<text id="/data/services_group/services/service_directory_note:label">'
        r"<value>.*?</value>",
        form,
        re.S,
    )
    assert note is not None
    assert "service_description" in note.group(0)
    assert "service_can_visit" in note.group(0)
