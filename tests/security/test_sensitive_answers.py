"""One rule for sensitive answers (domain.md §Confidentiality), surface by surface and role
by role: whoever may see the case reads them and the read is audited; a designer never;
exports carry them only for an admin or supervisor who gives a reason; phones never.

The case is cw1's (team north): a plan whose need says how it will be addressed, and a
contact log with a safety plan, both sensitive in the real forms of xlsforms/.
"""

from __future__ import annotations

import csv
import io
import uuid
import zipfile
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from server import db
from server.audit.models import AuditEvent
from tests.factories import DeviceClient, Factory, PublishedByCli, bearer, xform_from_md
from tests.realforms import contact_log, new_case_plan
from tests.web.conftest import Web

REF = "CP-SENS-001"
SECRETS = ("Aunt, by phone", "Neighbour", "Call aunt if threatened", "Safety plan with aunt")
READERS = ("boss", "sup", "cw1")  # admin, the team's supervisor, the case's caseworker
OUTSIDERS = ("sup-s", "cw2")  # another team's supervisor, another caseworker of the team
REASON = "Court request 2026/114"


@dataclass
class World:
    client: FlaskClient
    tokens: dict[str, dict[str, str]]
    phones: dict[str, DeviceClient]
    contact_id: str


@pytest.fixture
def world(published: None, make: Factory, client: FlaskClient) -> World:
    make.user("cw1", "caseworker", team="north")
    make.user("cw2", "caseworker", team="north")
    make.user("sup", "supervisor", team="north")
    make.user("sup-s", "supervisor", team="south")
    make.user("boss", "admin")
    make.user("des", "designer")
    phone = make.device_client("phone-cw1", "cw1")
    plan, entity_id = new_case_plan(REF)
    assert phone.submit(plan).status_code == 201
    contact_id = f"uuid:{uuid.uuid4()}"
    contact = contact_log(
        REF,
        entity_id,
        base_version=1,
        contact_time="2026-11-24T10:00:00.000Z",
        instance_id=contact_id,
    )
    assert phone.submit(contact).status_code == 201
    phones = {"cw1": phone}
    for name in ("sup", "boss"):
        phones[name] = make.device_client(f"phone-{name}", name)
    users = ("cw1", "cw2", "sup", "sup-s", "boss", "des")
    tokens = {u: bearer(make.api_token(u)) for u in users}
    return World(client, tokens, phones, contact_id)


def _audits(app: Flask, action: str) -> list[AuditEvent]:
    """The audit log, read in an app context of its own (a context held open across the
    test client's requests would share ``g``, and so the signed-in user, between them)."""
    with app.app_context():
        session = db.session()
        events = list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
            )
        )
        session.expunge_all()
        return events


def _shows(body: str | bytes, secrets: tuple[str, ...] = SECRETS) -> list[bool]:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = text.replace("&#39;", "'").replace("&#x27;", "'")
    return [s in text for s in secrets]


EXPECTED_READ = ["item.how_addressed", "safety_plan_actions", "safety_plan_contacts"]


# --- the case API and its history ----------------------------------------------------------


@pytest.mark.parametrize("path", [f"/api/v1/cases/{REF}", f"/api/v1/cases/{REF}/history"])
def test_case_api_shows_sensitive_answers_to_readers_and_audits_each_read(
    world: World, app: Flask, path: str
) -> None:
    for user in READERS:
        response = world.client.get(path, headers=world.tokens[user])
        assert response.status_code == 200, user
        expected = SECRETS if path.endswith(REF) else SECRETS[:3]  # history: the case's fields
        assert all(_shows(response.get_data(), expected)), user
    for user, status in (("sup-s", 404), ("cw2", 404), ("des", 403)):
        response = world.client.get(path, headers=world.tokens[user])
        assert response.status_code == status, user
        assert not any(_shows(response.get_data())), user
    action = "case.history" if path.endswith("history") else "case.view"
    events = _audits(app, action)
    assert [e.actor for e in events] == list(READERS)
    for event in events:
        read = event.details["sensitive"]
        assert set(EXPECTED_READ[1:]) <= set(read), read
        if action == "case.view":
            assert "item.how_addressed" in read


# --- the case page and the printable file --------------------------------------------------


def _signed_in(app: Flask, username: str) -> Web:
    web = Web(app.test_client())
    response = web.login(username)
    assert response.status_code == 302, response.get_data(as_text=True)
    return web


@pytest.mark.parametrize("path", [f"/cases/{REF}", f"/cases/{REF}/print"])
def test_case_page_and_print_show_sensitive_answers_to_readers_and_audit_each_read(
    world: World, app: Flask, path: str
) -> None:
    for user in READERS:
        response = _signed_in(app, user).get(path)
        assert response.status_code == 200, user
        assert _shows(response.get_data())[:3] == [True] * 3, user
    for user, status in (("sup-s", 404), ("cw2", 404), ("des", 403)):
        response = _signed_in(app, user).get(path)
        assert response.status_code == status, user
        assert not any(_shows(response.get_data())), user
    events = [
        e
        for e in _audits(app, "case.view")
        if bool(e.details.get("print")) == path.endswith("print")
    ]
    assert [e.actor for e in events] == list(READERS)
    for event in events:
        assert set(EXPECTED_READ) <= set(event.details["sensitive"]), event.details


# --- the submissions API -------------------------------------------------------------------


def test_submission_api_gives_sensitive_answers_to_who_sees_the_case(
    world: World, app: Flask
) -> None:
    base = f"/api/v1/forms/contact_log/submissions/{world.contact_id}"
    for user in ("boss", "sup"):
        answers = world.client.get(base, headers=world.tokens[user])
        assert answers.status_code == 200, user
        assert answers.json["includes_sensitive"] is True
        assert _shows(answers.get_data())[:3] == [True] * 3, user
        raw = world.client.get(f"{base}.xml", headers=world.tokens[user])
        assert raw.status_code == 200, user
    # another team's supervisor does not see it; the submissions API is not for caseworkers
    # or designers at all
    for user, status in (("sup-s", 404), ("cw1", 403), ("cw2", 403), ("des", 403)):
        response = world.client.get(base, headers=world.tokens[user])
        assert response.status_code == status, user
        assert not any(_shows(response.get_data())), user
    events = _audits(app, "submission.view")
    assert [e.actor for e in events] == ["boss", "sup"]
    for event in events:
        assert event.details["include_sensitive"] is True
        assert "safety/safety_plan_contacts" in event.details["sensitive"]


# --- exports -------------------------------------------------------------------------------


def _zip_text(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return "\n".join(zf.read(n).decode("utf-8") for n in zf.namelist())


@pytest.mark.parametrize(
    "path", ["/api/v1/cases/export", "/api/v1/forms/contact_log/export"], ids=["cases", "form"]
)
def test_exports_carry_sensitive_answers_only_when_asked_with_a_reason(
    world: World, app: Flask, path: str
) -> None:
    secrets = SECRETS[:3]
    for user in ("boss", "sup"):
        plain = world.client.get(path, headers=world.tokens[user])
        assert plain.status_code == 200, user
        assert not any(_shows(_zip_text(plain.get_data()), secrets)), user
        unexplained = world.client.get(f"{path}?include_sensitive=true", headers=world.tokens[user])
        assert unexplained.status_code == 400, user
        assert unexplained.json["code"] == "export.reason_required"
        blank = world.client.get(
            f"{path}?include_sensitive=true&reason=%20%20", headers=world.tokens[user]
        )
        assert blank.status_code == 400, user
        asked = world.client.get(
            f"{path}?include_sensitive=true&reason={REASON}", headers=world.tokens[user]
        )
        assert asked.status_code == 200, (user, asked.get_data(as_text=True)[:300])
        assert all(_shows(_zip_text(asked.get_data()), secrets)), user
    for user in ("cw1", "des"):
        refused = world.client.get(
            f"{path}?include_sensitive=true&reason={REASON}", headers=world.tokens[user]
        )
        assert refused.status_code == 403, user
    action = "export.cases" if "cases" in path else "export.form"
    events = _audits(app, action)
    described = [(e.actor, e.details["include_sensitive"], e.details.get("reason")) for e in events]
    assert described == [
        ("boss", False, None),
        ("boss", True, REASON),
        ("sup", False, None),
        ("sup", True, REASON),
    ]


def test_the_export_page_asks_for_a_reason_with_sensitive_fields(world: World, app: Flask) -> None:
    web = _signed_in(app, "sup")
    page = web.get("/exports").get_data(as_text=True)
    assert 'name="reason"' in page
    form = {"kind": "cases", "format": "csv", "include_sensitive": "yes"}
    refused = web.post("/exports", data=form)
    assert refused.status_code == 302  # back to the page, with the message
    assert "needs a reason" in web.get("/exports").get_data(as_text=True)
    asked = web.post("/exports", data={**form, "reason": REASON})
    assert asked.status_code == 200
    assert all(_shows(_zip_text(asked.get_data()), SECRETS[:3]))
    events = _audits(app, "export.cases")
    assert [(e.actor, e.details.get("reason")) for e in events] == [("sup", REASON)]


def test_the_cli_export_needs_a_reason_for_sensitive_fields(
    published_by_cli: PublishedByCli, tmp_path: Any
) -> None:
    cli = published_by_cli
    plan, entity_id = new_case_plan(REF)
    assert cli.phone.submit(plan).status_code == 201
    contact = contact_log(REF, entity_id, base_version=1, contact_time="2026-11-24T10:00:00Z")
    assert cli.phone.submit(contact).status_code == 201
    out = tmp_path / "cases.zip"
    for command in (["export-cases"], ["export", "contact_log"]):
        with pytest.raises(AssertionError, match=r"export\.reason_required"):
            cli.casework(*command, "--out", str(out), "--include-sensitive")
        cli.casework(*command, "--out", str(out), "--include-sensitive", "--reason", REASON)
        assert all(_shows(_zip_text(out.read_bytes()), SECRETS[:3])), command
    reasons = [e.details.get("reason") for e in _audits(cli.app, "export.cases")]
    reasons += [e.details.get("reason") for e in _audits(cli.app, "export.form")]
    assert reasons == [REASON, REASON]


# --- phones --------------------------------------------------------------------------------

LISTS = ("cases.csv", "plan_items.csv")


def test_no_device_list_carries_a_sensitive_answer(world: World) -> None:
    for user, phone in world.phones.items():
        for name in LISTS:
            for form in ("contact_log", "case_plan"):
                body = phone.get(f"/forms/{form}/attachments/{name}")
                assert body.status_code == 200
                assert not any(_shows(body.get_data())), (user, name)
                assert REF in body.get_data(as_text=True)  # the case itself is listed


# A form that marks answers feeding the device lists sensitive: the risk level of a case,
# and the title and due date of a plan item.
MARKING_FORM = """
| survey |
| | type | name | label | save_to | bind::casework:role | bind::casework:sensitive |
| | text | ref | Reference | | ref | |
| | select_one risk | risk_now | Risk | | risk | yes |
| | begin_repeat | acts | Actions | | action | |
| | text | act_title | What | | title | yes |
| | date | act_due | By when | | due | yes |
| | select_one st | act_status | Status | | status | |
| | end_repeat | | | | | |
| choices |
| | list_name | name | label |
| | risk | high | High |
| | st | open | Open |
| settings |
| | form_id | version | namespaces |
| | risk_note | 1 | casework="urn:casework:xforms" |
"""


def _rows(phone: DeviceClient, name: str) -> list[dict[str, str]]:
    body = phone.get(f"/forms/contact_log/attachments/{name}").get_data(as_text=True)
    return list(csv.DictReader(io.StringIO(body)))


def test_device_lists_leave_out_every_column_a_sensitive_answer_feeds(
    world: World, make: Factory
) -> None:
    phone = world.phones["cw1"]
    before = _rows(phone, "cases.csv")
    assert before[0]["risk_level"] == "medium"
    actions = [r for r in _rows(phone, "plan_items.csv") if r["kind"] == "action"]
    assert actions
    assert actions[0]["due"]
    assert "counsellor" in actions[0]["label"]
    xform_from_md(MARKING_FORM)  # converts
    make.publish_md(MARKING_FORM)

    (case,) = _rows(phone, "cases.csv")
    assert (case["case_ref"], case["risk_level"], case["label"]) == (REF, "", REF)
    assert None not in case
    assert None not in case.values()
    assert case["contact_frequency_days"] == before[0]["contact_frequency_days"]
    items = _rows(phone, "plan_items.csv")
    assert items
    assert all(r["due"] == "" for r in items)
    assert all("counsellor" not in r["label"] for r in items)
    assert {r["label"] for r in items if r["kind"] == "action"} == {f"{REF}: action"}
    assert all(r["status"] for r in items)  # what is not sensitive still travels


FREQUENCY_FORM = """
| survey |
| | type | name | label | bind::casework:role | bind::casework:sensitive |
| | text | ref | Reference | ref | |
| | integer | every | Contact every (days) | contact_frequency | yes |
| settings |
| | form_id | version | namespaces |
| | frequency_note | 1 | casework="urn:casework:xforms" |
"""


def test_a_sensitive_contact_frequency_leaves_the_phones_list_whole(
    world: World, make: Factory
) -> None:
    phone = world.phones["cw1"]
    assert _rows(phone, "cases.csv")[0]["contact_frequency_days"]
    make.publish_md(FREQUENCY_FORM)

    manifest = phone.get("/forms/contact_log/manifest")
    assert manifest.status_code == 200
    (case,) = _rows(phone, "cases.csv")
    assert None not in case
    assert None not in case.values()
    assert (case["case_ref"], case["contact_frequency_days"]) == (REF, "")
