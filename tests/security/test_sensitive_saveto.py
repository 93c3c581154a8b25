"""Sensitive answers never reach a phone's own case list (domain.md §Confidentiality).

With ODK Entities, Collect writes every ``entities:saveto`` answer of a finalized form into
its local copy of the case, so a sensitive question with a ``save_to`` would keep its answer
on the phone however the server blanks its lists. The real contact log makes its safety plan
case fields with ``casework:saveto`` instead: the server files them on the case, the phone
never writes them. Checked over the device protocol, with the forms of xlsforms/.
"""

from __future__ import annotations

import csv
import io
import uuid
import xml.etree.ElementTree as ET
from typing import Any

from flask.testing import FlaskClient

from tests.factories import DeviceClient, Factory, bearer
from tests.realforms import contact_log, new_case_plan

REF = "CP-SAVE-001"
SAFETY_PLAN = {
    "safety_plan_contacts": "Aunt, by phone",
    "safety_plan_safe_places": "Neighbour's house",
    "safety_plan_actions": "Call aunt if threatened",
}
CASEWORK = "urn:casework:xforms"
ENTITIES = "http://www.opendatakit.org/xforms/entities"
XF = "{http://www.w3.org/2002/xforms}"
LIST_NS = {"x": "http://openrosa.org/xforms/xformsList"}


def _downloaded_xform(phone: DeviceClient, form_id: str) -> ET.Element:
    """The XForm as Collect downloads it: from the form list's download URL."""
    listing = ET.fromstring(phone.get("/formList").data)
    (entry,) = [
        e
        for e in listing.findall("x:xform", LIST_NS)
        if e.findtext("x:formID", namespaces=LIST_NS) == form_id
    ]
    url = entry.findtext("x:downloadUrl", namespaces=LIST_NS) or ""
    response = phone.get(url.removeprefix(f"http://localhost/key/{phone.token}"))
    assert response.status_code == 200
    return ET.fromstring(response.data)


def _phone_writes(xform: ET.Element) -> dict[str, str]:
    """What Collect writes into its local copy of the case when the form is finalized:
    node path -> case property, one per ``entities:saveto`` bind."""
    return {
        b.get("nodeset", ""): b.get(f"{{{ENTITIES}}}saveto", "")
        for b in xform.iter(f"{XF}bind")
        if b.get(f"{{{ENTITIES}}}saveto")
    }


def _sensitive_nodes(xform: ET.Element) -> set[str]:
    marked = {
        b.get("nodeset", "")
        for b in xform.iter(f"{XF}bind")
        if b.get(f"{{{CASEWORK}}}sensitive") == "yes"
    }
    return {
        b.get("nodeset", "")
        for b in xform.iter(f"{XF}bind")
        if any(
            b.get("nodeset", "") == m or b.get("nodeset", "").startswith(m + "/") for m in marked
        )
    }


def _cases_csv(phone: DeviceClient) -> list[dict[str, str]]:
    body = phone.get("/forms/contact_log/attachments/cases.csv")
    assert body.status_code == 200
    return list(csv.DictReader(io.StringIO(body.get_data(as_text=True))))


def test_a_safety_plan_is_kept_on_the_case_and_never_written_on_the_phone(
    published: None, make: Factory, client: FlaskClient
) -> None:
    make.user("cw1", "caseworker", team="north")
    make.user("sup", "supervisor", team="north")
    make.user("boss", "admin")
    phone = make.device_client("phone-cw1", "cw1")

    # Collect would write no sensitive answer into the phone's own case list
    xform = _downloaded_xform(phone, "contact_log")
    writes = _phone_writes(xform)
    sensitive = _sensitive_nodes(xform)
    assert {n.rsplit("/", 1)[-1] for n in sensitive} >= set(SAFETY_PLAN)
    assert writes, "the contact log still updates the case on the phone (risk level, …)"
    assert not set(writes) & sensitive, sorted(set(writes) & sensitive)
    assert not set(writes.values()) & set(SAFETY_PLAN)

    plan, entity_id = new_case_plan(REF)
    assert phone.submit(plan).status_code == 201
    contact = contact_log(
        REF,
        entity_id,
        base_version=1,
        contact_time="2026-11-24T10:00:00.000Z",
        instance_id=f"uuid:{uuid.uuid4()}",
    )
    assert phone.submit(contact).status_code == 201

    # the case record keeps the safety plan, for whoever may see the case
    for user in ("cw1", "sup", "boss"):
        response = client.get(f"/api/v1/cases/{REF}", headers=bearer(make.api_token(user)))
        assert response.status_code == 200, user
        properties: dict[str, Any] = response.json["properties"]
        for name, answer in SAFETY_PLAN.items():
            assert properties.get(name) == answer, (user, name, properties)

    # the caseworker's phone: its case list holds none of it, and the case as Collect keeps
    # it locally (the downloaded row plus what the contact log's save_to writes) neither
    (row,) = [r for r in _cases_csv(phone) if r["case_ref"] == REF]
    assert not set(row) & set(SAFETY_PLAN), sorted(row)
    local = dict(row)
    local.update(dict.fromkeys(writes.values(), "(answer)"))
    assert not set(local) & set(SAFETY_PLAN)
    text = phone.get("/forms/contact_log/attachments/cases.csv").get_data(as_text=True)
    for answer in SAFETY_PLAN.values():
        assert answer not in text
