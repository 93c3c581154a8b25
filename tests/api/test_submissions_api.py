"""Who reads which submission through the API, and what of it: the form exports' rules.

A supervisor reads the submissions of their own team (and their own); answers to questions
marked ``casework:sensitive``, the raw XML that holds them and the files that answer them
go to admins only; every read is in the audit log.
"""

from __future__ import annotations

import csv
import io
import zipfile

import pytest
from flask import Flask
from sqlalchemy import select

from server import db
from server.audit.models import AuditEvent
from server.auth.queries import get_user_by_username
from server.auth.service import update_user
from tests.factories import Factory, bearer, submission_xml

SENSITIVE_FORM = """
| survey |
| | type | name | label | bind::casework:sensitive |
| | text | note_text | Note | |
| | text | story | What happened | yes |
| | image | photo | Photo | |
| | image | injury_photo | Injury photo | yes |
| | begin_repeat | visits | Visits | |
| | date | visit_date | Date | |
| | text | visit_notes | Notes | yes |
| | end_repeat | | | |
| settings |
| | form_id | version | namespaces |
| | sens | 1 | casework="urn:casework:xforms" |
"""

# the sensitive answers a reader of a "sens" submission gets, as the audit log names them
READ = ["injury_photo", "story", "visits/visit_notes"]

PLAIN_FORM = """
| survey |
| | type | name | label |
| | text | note_text | Note |
| settings |
| | form_id | version |
| | plain | 1 |
"""

BODY = (
    "<note_text>home visit</note_text><story>what the child said</story>"
    "<photo>house.jpg</photo><injury_photo>bruise.jpg</injury_photo>"
    "<visits><visit_date>2026-11-20</visit_date><visit_notes>private</visit_notes></visits>"
    "<visits><visit_date>2026-11-27</visit_date><visit_notes>also private</visit_notes></visits>"
)


def _submit(make: Factory, username: str, instance_id: str, form_id: str = "sens") -> None:
    phone = make.device_client(f"{username}-{instance_id}", username)
    if form_id == "sens":
        xml = submission_xml("sens", "1", instance_id, body=BODY)
        files = {"house.jpg": b"house", "bruise.jpg": b"bruise"}
    else:
        xml = submission_xml(form_id, "1", instance_id, body="<note_text>n</note_text>")
        files = {}
    response = phone.submit(xml, files)
    assert response.status_code == 201, response.get_data(as_text=True)


@pytest.fixture
def teams(make: Factory) -> None:
    """cw-n (north) sent uuid:north, cw-s (south) sent uuid:south, sup-n (north) sent
    uuid:sup-n; one user of every role to read them."""
    make.publish_md(SENSITIVE_FORM)
    make.user("cw-n", "caseworker", team="north")
    make.user("cw-s", "caseworker", team="south")
    make.user("sup-n", "supervisor", team="north")
    make.user("sup-s", "supervisor", team="south")
    make.user("sup-none", "supervisor")
    make.user("adm", "admin")
    make.user("des", "designer")
    _submit(make, "cw-n", "uuid:north")
    _submit(make, "cw-s", "uuid:south")
    _submit(make, "sup-n", "uuid:sup-n")


def _listed(client, username: str, make: Factory, form_id: str = "sens") -> set[str]:
    response = client.get(
        f"/api/v1/forms/{form_id}/submissions", headers=bearer(make.api_token(username))
    )
    assert response.status_code == 200, response.json
    assert response.json["total"] == len(response.json["items"])
    return {item["instance_id"] for item in response.json["items"]}


@pytest.mark.parametrize(
    ("reader", "sees"),
    [
        ("adm", {"uuid:north", "uuid:south", "uuid:sup-n"}),
        ("sup-n", {"uuid:north", "uuid:sup-n"}),
        ("sup-s", {"uuid:south"}),
        ("sup-none", set()),
    ],
)
def test_a_reader_lists_and_opens_only_the_submissions_of_their_scope(
    teams, make: Factory, client, reader: str, sees: set[str]
) -> None:
    assert _listed(client, reader, make) == sees
    headers = bearer(make.api_token(reader))
    for instance_id in ("uuid:north", "uuid:south", "uuid:sup-n"):
        base = f"/api/v1/forms/sens/submissions/{instance_id}"
        detail = client.get(base, headers=headers)
        xml = client.get(f"{base}.xml", headers=headers)
        photo = client.get(f"{base}/attachments/house.jpg", headers=headers)
        if instance_id in sees:
            assert detail.status_code == 200
            assert photo.status_code == 200
            assert photo.data == b"house"
        else:  # out of scope looks exactly like unknown
            for response in (detail, xml, photo):
                assert response.status_code == 404
                assert response.json["code"] == "submission.not_found"


@pytest.mark.parametrize("reader", ["cw-n", "des"])
def test_caseworkers_and_designers_read_no_submissions(teams, make: Factory, client, reader):
    headers = bearer(make.api_token(reader))
    for url in (
        "/api/v1/forms/sens/submissions",
        "/api/v1/forms/sens/submissions/uuid:north",
        "/api/v1/forms/sens/submissions/uuid:north.xml",
        "/api/v1/forms/sens/submissions/uuid:north/attachments/house.jpg",
    ):
        response = client.get(url, headers=headers)
        assert response.status_code == 403, url
        assert response.json["code"] == "auth.forbidden"


def test_the_teams_supervisor_gets_sensitive_answers_files_and_the_raw_xml(
    teams, make: Factory, client
) -> None:
    # whoever may see the submission reads its sensitive answers (server.sensitivity)
    headers = bearer(make.api_token("sup-n"))
    base = "/api/v1/forms/sens/submissions/uuid:north"
    detail = client.get(base, headers=headers).json
    assert detail["includes_sensitive"] is True
    data = detail["data"]
    assert data["note_text"] == ["home visit"]
    assert data["story"] == ["what the child said"]
    assert [v["visit_notes"] for v in data["visits"]] == [["private"], ["also private"]]
    assert sorted(a["name"] for a in detail["attachments"]) == ["bruise.jpg", "house.jpg"]
    assert client.get(f"{base}/attachments/bruise.jpg", headers=headers).data == b"bruise"
    raw = client.get(f"{base}.xml", headers=headers)
    assert raw.status_code == 200
    assert b"what the child said" in raw.data


def test_an_admin_gets_everything_and_the_log_says_so(
    teams, make: Factory, client, app: Flask
) -> None:
    headers = bearer(make.api_token("adm"))
    base = "/api/v1/forms/sens/submissions/uuid:south"
    detail = client.get(base, headers=headers).json
    assert detail["includes_sensitive"] is True
    assert detail["data"]["story"] == ["what the child said"]
    assert [v["visit_notes"] for v in detail["data"]["visits"]] == [["private"], ["also private"]]
    assert sorted(a["name"] for a in detail["attachments"]) == ["bruise.jpg", "house.jpg"]
    assert client.get(f"{base}/attachments/bruise.jpg", headers=headers).data == b"bruise"
    assert b"what the child said" in client.get(f"{base}.xml", headers=headers).data
    with app.app_context():
        events = db.session().scalars(
            select(AuditEvent).where(AuditEvent.actor == "adm").order_by(AuditEvent.id)
        )
        reads = [(e.action, e.target, e.details) for e in events if e.action != "token.create"]
    assert reads == [
        (
            "submission.view",
            "uuid:south",
            {"form_id": "sens", "include_sensitive": True, "sensitive": READ},
        ),
        (
            "submission.attachment",
            "uuid:south",
            {"form_id": "sens", "name": "bruise.jpg"},
        ),
        ("submission.view_xml", "uuid:south", {"form_id": "sens", "include_sensitive": True}),
    ]


def test_every_read_by_a_supervisor_is_in_the_audit_log(
    teams, make: Factory, client, app: Flask
) -> None:
    headers = bearer(make.api_token("sup-n"))
    client.get("/api/v1/forms/sens/submissions?submitter=cw-n", headers=headers)
    client.get("/api/v1/forms/sens/submissions/uuid:north", headers=headers)
    client.get("/api/v1/forms/sens/submissions/uuid:north/attachments/house.jpg", headers=headers)
    with app.app_context():
        events = db.session().scalars(
            select(AuditEvent).where(AuditEvent.actor == "sup-n").order_by(AuditEvent.id)
        )
        reads = [(e.action, e.target, e.details) for e in events if e.action != "token.create"]
    assert reads == [
        ("submission.list", "sens", {"submitter": "cw-n", "page": 1, "count": 1}),
        (
            "submission.view",
            "uuid:north",
            {"form_id": "sens", "include_sensitive": True, "sensitive": READ},
        ),
        ("submission.attachment", "uuid:north", {"form_id": "sens", "name": "house.jpg"}),
    ]


def test_raw_xml_of_a_form_without_sensitive_questions_is_the_teams(make: Factory, client):
    make.publish_md(PLAIN_FORM)
    make.user("cw-n", "caseworker", team="north")
    make.user("sup-n", "supervisor", team="north")
    _submit(make, "cw-n", "uuid:plain", form_id="plain")
    raw = client.get(
        "/api/v1/forms/plain/submissions/uuid:plain.xml", headers=bearer(make.api_token("sup-n"))
    )
    assert raw.status_code == 200
    assert b"<note_text>n</note_text>" in raw.data


def test_the_submissions_api_and_the_form_export_hold_the_same_submissions(
    teams, make: Factory, client, app: Flask
) -> None:
    # A caseworker who left the team keeps their submissions with the team's supervisor.
    with app.app_context():
        session = db.session()
        update_user(session, get_user_by_username(session, "cw-n"), is_active=False)
        session.commit()
    token = make.api_token("sup-n")
    listed = _listed(client, "sup-n", make)
    export = client.get("/api/v1/forms/sens/export?format=csv", headers=bearer(token))
    assert export.status_code == 200
    with zipfile.ZipFile(io.BytesIO(export.get_data())) as archive:
        name = next(n for n in archive.namelist() if n == "sens.csv")
        rows = list(csv.DictReader(io.StringIO(archive.read(name).decode("utf-8-sig"))))
    assert {r["KEY"] for r in rows} == listed == {"uuid:north", "uuid:sup-n"}
    assert not any("story" in column for column in rows[0])
