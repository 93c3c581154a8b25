"""The case file: the case page and its printable copy read as the forms' own words."""

from __future__ import annotations

import re
import uuid
from typing import Any

from flask import Flask
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from server.audit.models import AuditEvent
from server.db import get_database
from tests.cases import forms
from tests.factories import DeviceClient, Factory
from tests.realforms import case_conference, contact_log, new_case_plan
from tests.web import seed
from tests.web.conftest import Web

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _case(device: DeviceClient, ref: str = "CP-F-1") -> str:
    """A case with a plan, three contacts and a conference, sent by a phone."""
    plan, entity = new_case_plan(ref)
    assert device.submit(plan).status_code == 201
    # days before the tests' "now" (a phone's clock days ahead is not believed)
    for n, (day, risk) in enumerate([(21, "high"), (25, "medium"), (28, "medium")], 1):
        xml = contact_log(
            ref,
            entity,
            base_version=n,
            contact_time=f"2026-11-{day}T10:00:00.000+03:00",
            risk=risk,
            next_contact=f"2026-12-{day - 20:02d}",
        )
        assert device.submit(xml).status_code == 201
    conference = case_conference(
        ref,
        entity,
        base_version=4,
        conference_date="2026-11-30",
        decisions=[
            ("Enrol the child in the village school", "Head teacher", "2027-01-10", "planned")
        ],
    )
    assert device.submit(conference).status_code == 201
    return ref


def _outside_details(html: str) -> str:
    """The page less its provenance disclosures and the hidden values its forms post back
    (an approval names the submission it decides): what a person reads."""
    shown = re.sub(r"<details.*?</details>", "", html, flags=re.S)
    return re.sub(r'<input type="hidden"[^>]*>', "", shown)


def test_the_case_file_shows_the_forms_in_their_own_words(
    published: None, device: DeviceClient, web_as: Any
) -> None:
    ref = _case(device)
    sup = web_as("sup", "supervisor", team="north")
    html = sup.text(f"/cases/{ref}")
    # the conference: its discussion and its decisions, under the form's labels
    assert "Summary of the discussion" in html
    assert "Progress reviewed; school attendance discussed." in html
    assert "Enrol the child in the village school" in html
    assert "Where or how did you meet?" in html
    # a visit: its key messages in words, as the form offers them
    assert "Key messages given" in html
    assert "How to access services" in html
    assert "Home visit" in html
    # the summary: risk in words with its history, caseworker, open items
    assert 'id="case-risk">Medium' in html
    assert "High from" in html
    assert 'id="case-caseworker">cw1<' in html
    # case fields under their questions' labels
    assert "Safe adults and safe places" in html
    assert "Neighbour&#39;s house" in html
    # who sent it, from which phone
    assert "from the phone phone-1" in html
    outside = _outside_details(html)
    assert not _UUID.search(outside), _UUID.search(outside)
    for code in ("home_visit", "risk_level", "safety_plan_contacts", ">in_progress<", ">planned<"):
        assert code not in outside, code
    assert "uuid:" in html  # the provenance keeps them, one click away


def test_the_case_file_is_in_the_users_language(
    published: None, device: DeviceClient, web_as: Any
) -> None:
    ref = _case(device)
    sup = web_as("sup", "supervisor", team="north")
    french = sup.client.get(f"/cases/{ref}", headers={"Accept-Language": "fr"})
    html = french.get_data(as_text=True)
    assert "Visite à domicile" in html
    assert "Home visit" not in html


def test_the_printable_case_file_has_the_same_content_and_is_audited(
    published: None, device: DeviceClient, web_as: Any, db_session: Session
) -> None:
    ref = _case(device)
    sup = web_as("sup", "supervisor", team="north")
    html = sup.text(f"/cases/{ref}/print")
    assert "Summary of the discussion" in html
    assert "Key messages given" in html
    assert 'class="sheet"' in html
    assert 'style="' not in html
    assert '<body class="paper">' in html  # the stylesheet leaves the navigation out
    assert f'href="/cases/{ref}">Back to the case</a>' in html
    events = db_session.scalars(
        select(AuditEvent).where(AuditEvent.action == "case.view", AuditEvent.target == ref)
    ).all()
    assert [(e.actor, (e.details or {}).get("print")) for e in events] == [("sup", True)]
    # each sensitive answer the filled forms show is named, as the case's fields are
    read = events[0].details["sensitive"]
    assert "case_conference:discussion" in read
    assert "contact_log:safety/safety_plan_contacts" in read
    assert "case_plan:needs_group/needs/how_addressed" in read


def test_an_edit_shows_what_it_changed(published: None, device: DeviceClient, web_as: Any) -> None:
    plan, entity = new_case_plan("CP-F-2")
    assert device.submit(plan).status_code == 201
    first_id = f"uuid:{uuid.uuid4()}"
    first = contact_log(
        "CP-F-2",
        entity,
        base_version=1,
        contact_time="2026-12-02T10:00:00.000+03:00",
        risk="medium",
        instance_id=first_id,
    )
    assert device.submit(first).status_code == 201
    edit = contact_log(
        "CP-F-2",
        entity,
        base_version=1,
        contact_time="2026-12-02T10:00:00.000+03:00",
        risk="high",
        deprecated_id=first_id,
    )
    assert device.submit(edit).status_code == 201
    html = web_as("sup", "supervisor", team="north").text("/cases/CP-F-2")
    assert "This edit changed: Risk level now" in html


def test_a_caseworker_outside_the_case_sees_no_case_file(
    published: None, device: DeviceClient, web_as: Any, make: Factory
) -> None:
    ref = _case(device)
    other = web_as("cw2", "caseworker", team="north")
    assert other.get(f"/cases/{ref}").status_code == 404
    assert other.get(f"/cases/{ref}/print").status_code == 404
    south = web_as("sup-s", "supervisor", team="south")
    assert south.get(f"/cases/{ref}").status_code == 404
    owner = Web(make.app.test_client())
    assert owner.login("cw1").status_code == 302
    html = owner.text(f"/cases/{ref}")
    assert "Summary of the discussion" in html
    assert "/attachments/" not in html  # a caseworker reads no submission files


def test_the_case_file_reads_as_many_rows_whatever_its_length(
    published: None, device: DeviceClient, web_as: Any, app: Flask
) -> None:
    """No query per form: the words once per version, the submissions in one query."""
    plan, entity = new_case_plan("CP-F-3")
    assert device.submit(plan).status_code == 201
    sup = web_as("sup", "supervisor", team="north")
    engine = get_database(app).engine
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    def queries_for_page() -> int:
        sup.text("/cases/CP-F-3")  # the forms' words are read: kept for the next look
        statements.clear()
        event.listen(engine, "before_cursor_execute", count)
        try:
            sup.text("/cases/CP-F-3")
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return len(statements)

    short = queries_for_page()
    for n in range(1, 7):
        xml = contact_log(
            "CP-F-3",
            entity,
            base_version=n,
            contact_time=f"2026-12-{n + 1:02d}T10:00:00.000+03:00",
        )
        assert device.submit(xml).status_code == 201
    assert queries_for_page() == short


def test_the_queues_name_forms_by_their_titles(
    published: None, device: DeviceClient, web_as: Any
) -> None:
    held = contact_log(
        "CP-NOWHERE", str(uuid.uuid4()), base_version=1, contact_time="2026-12-02T10:00:00Z"
    )
    assert device.submit(held).status_code == 201
    html = web_as("sup", "supervisor", team="north").text("/queues")
    row = re.search(r"<td>CP-NOWHERE</td>.*?</tr>", html, flags=re.S)
    assert row is not None
    assert "Contact log" in row.group(0)
    assert "contact_log" not in row.group(0)
    words = re.sub(r"<[^>]+>", " ", _outside_details(row.group(0)))  # what a person reads
    assert not _UUID.search(words)


def test_a_photo_answer_is_a_thumbnail_for_those_who_may_read_files(
    make: Factory, web_as: Any
) -> None:
    make.publish_md(forms.CASE_PLAN)
    make.publish_md(
        forms.CONTACT_LOG.replace(
            "| | select_one yn | close |",
            "| | image | photo | Photo of the home | | | | |\n| | select_one yn | close |",
        )
    )
    make.user("cw-n", "caseworker", team="north")
    phone = make.device_client("phone-n", "cw-n")
    entity = seed.new_entity()
    seed.submit(phone, seed.registration("CP-PH-1", entity))
    visit = seed.contact("CP-PH-1", entity, "2024-05-03T10:00:00Z", photo="home.jpg")
    assert phone.submit(visit, {"home.jpg": b"\xff\xd8\xff\xe0 a photo"}).status_code == 201
    sup = web_as("sup-n", "supervisor", team="north")
    html = sup.text("/cases/CP-PH-1")
    found = re.search(r'<img class="thumb" src="([^"]+)" alt="home.jpg"', html)
    assert found is not None
    assert "Photo of the home" in html
    photo = sup.get(found.group(1).replace("&#43;", "+").replace("&amp;", "&"))
    assert photo.status_code == 200
    assert photo.data == b"\xff\xd8\xff\xe0 a photo"
    owner = Web(make.app.test_client())
    assert owner.login("cw-n").status_code == 302
    assert 'class="thumb"' not in owner.text("/cases/CP-PH-1")


def test_a_conflict_and_its_resolution_are_in_the_history_in_words(
    published: None, device: DeviceClient, web_as: Any
) -> None:
    plan, entity = new_case_plan("CP-F-4", risk="medium")
    assert device.submit(plan).status_code == 201
    for risk, hour in (("low", 10), ("high", 11)):
        contact = contact_log(
            "CP-F-4", entity, base_version=1, risk=risk, contact_time=f"2026-11-24T{hour}:00:00Z"
        )
        assert device.submit(contact).status_code == 201
    sup = web_as("sup", "supervisor", team="north")
    html = sup.text("/cases/CP-F-4")
    words = " ".join(re.sub(r"<[^>]+>", " ", _outside_details(html)).split())
    assert "Two edits changed Risk level differently: Low (cw1) / High (cw1)" in words
    conflict_id = re.search(r'name="conflict_id" value="(\d+)"', html)
    assert conflict_id is not None
    done = sup.post(
        "/cases/CP-F-4/resolve", {"conflict_id": conflict_id.group(1), "value": '"low"'}
    )
    assert done.status_code == 302
    words = " ".join(re.sub(r"<[^>]+>", " ", _outside_details(sup.text("/cases/CP-F-4"))).split())
    assert "Resolved a conflict: kept Low for Risk level" in words
    assert "risk_level" not in words
