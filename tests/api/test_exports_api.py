"""Streamed export downloads: roles, sensitive fields, the audit log, and the bytes."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest
from sqlalchemy import select

from server.audit.models import AuditEvent
from tests.exports.conftest import element, xlsform
from tests.exports.forms import DISCLOSURE_ANSWERS, DISCLOSURE_FILES, DISCLOSURE_SURVEY
from tests.factories import Factory, bearer, submission_xml
from tests.realforms import new_case_plan, xlsform_bytes


@pytest.fixture
def with_cases(make: Factory, device) -> None:
    make.publish_bytes(xlsform_bytes("case_plan"), "case_plan.xlsx")
    for n in range(3):
        plan, _ = new_case_plan(f"CP-EXP-{n}")
        assert device.submit(plan).status_code == 201


def _main_table(data: bytes) -> list[dict[str, str]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        name = next(n for n in archive.namelist() if n.startswith("case_plan") and "-" not in n)
        text = archive.read(name).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def test_admin_downloads_a_csv_zip_without_sensitive_fields(with_cases, make, client, db_session):
    make.user("boss", "admin")
    token = make.api_token("boss")
    response = client.get("/api/v1/forms/case_plan/export?format=csv", headers=bearer(token))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/zip"
    assert 'filename="case_plan-' in response.headers["Content-Disposition"]
    rows = _main_table(response.get_data())
    assert len(rows) == 3
    assert not any("risk_summary" in column for column in rows[0])  # sensitive by default
    unexplained = client.get(
        "/api/v1/forms/case_plan/export?include_sensitive=true", headers=bearer(token)
    )
    assert unexplained.status_code == 400
    assert unexplained.json["code"] == "export.reason_required"
    with_sensitive = client.get(
        "/api/v1/forms/case_plan/export?include_sensitive=true&reason=audit", headers=bearer(token)
    )
    assert any("risk_summary" in column for column in _main_table(with_sensitive.get_data())[0])
    events = db_session.scalars(
        select(AuditEvent).where(AuditEvent.action == "export.form").order_by(AuditEvent.id)
    )
    described = [e.details for e in events]
    assert [(d["include_sensitive"], d.get("reason")) for d in described] == [
        (False, None),
        (True, "audit"),
    ]


def test_supervisors_export_cases_with_sensitive_fields_only_with_a_reason(
    with_cases, make, client
):
    make.user("sup", "supervisor", team="north")
    token = make.api_token("sup")
    assert client.get("/api/v1/cases/export", headers=bearer(token)).status_code == 200
    refused = client.get("/api/v1/cases/export?include_sensitive=true", headers=bearer(token))
    assert refused.status_code == 400
    assert refused.json["code"] == "export.reason_required"
    asked = client.get(
        "/api/v1/cases/export?include_sensitive=true&reason=review", headers=bearer(token)
    )
    assert asked.status_code == 200
    assert asked.get_data()  # read to the end: the download streams
    # a form export holds only the submissions of the supervisor's team
    mine = client.get("/api/v1/forms/case_plan/export", headers=bearer(token))
    assert mine.status_code == 200
    assert len(_main_table(mine.get_data())) == 3
    make.user("sup2", "supervisor", team="south")
    other = client.get("/api/v1/forms/case_plan/export", headers=bearer(make.api_token("sup2")))
    assert _main_table(other.get_data()) == []


@pytest.mark.parametrize("role", ["caseworker", "designer"])
def test_other_roles_cannot_export(with_cases, make, client, role: str):
    make.user("someone", role)
    token = make.api_token("someone")
    assert client.get("/api/v1/forms/case_plan/export", headers=bearer(token)).status_code == 403
    assert client.get("/api/v1/cases/export", headers=bearer(token)).status_code == 403


def test_case_export_and_bad_options(with_cases, make, client):
    make.user("boss", "admin")
    token = make.api_token("boss")
    response = client.get("/api/v1/cases/export?format=xlsx", headers=bearer(token))
    assert response.status_code == 200
    assert response.get_data()[:2] == b"PK"
    bad = client.get("/api/v1/forms/case_plan/export?format=pdf", headers=bearer(token))
    assert bad.status_code == 400
    assert bad.json["code"] == "request.invalid"
    missing = client.get("/api/v1/forms/nope/export", headers=bearer(token))
    assert missing.status_code == 404


def test_services_api_and_import(make: Factory, client):
    make.user("boss", "admin")
    make.user("cw9", "caseworker")
    admin, caseworker = make.api_token("boss"), make.api_token("cw9")
    body = {
        "service_id": "clinic-1",
        "name": "District clinic",
        "category": "health",
        "access": "Open weekdays; phone first",
        "can_visit": True,
    }
    created = client.post("/api/v1/services", json=body, headers=bearer(admin))
    assert created.status_code == 201, created.json
    assert client.post("/api/v1/services", json=body, headers=bearer(caseworker)).status_code == 403
    changed = client.patch(
        "/api/v1/services/clinic-1", json={"hours": "8-16"}, headers=bearer(admin)
    )
    assert changed.json["hours"] == "8-16"
    upload = "service_id,name,category\nlegal-1,Legal aid desk,legal_aid\n,No id,food\n"
    report = client.post(
        "/api/v1/services/import",
        headers=bearer(admin),
        data={"file": (io.BytesIO(upload.encode()), "services.csv")},
        content_type="multipart/form-data",
    ).json
    assert report["created"] == 1
    assert report["errors"][0]["row"] == 3
    listing = client.get("/api/v1/services?q=legal", headers=bearer(caseworker)).json
    assert [s["service_id"] for s in listing["items"]] == ["legal-1"]


def test_since_last_export_only_brings_what_is_new(with_cases, make, client, device):
    make.user("boss", "admin")
    token = make.api_token("boss")
    first = client.get(
        "/api/v1/forms/case_plan/export?since_last_export=true", headers=bearer(token)
    )
    assert len(_main_table(first.get_data())) == 3
    plan, _ = new_case_plan("CP-EXP-NEW")
    assert device.submit(plan).status_code == 201
    second = client.get(
        "/api/v1/forms/case_plan/export?since_last_export=true", headers=bearer(token)
    )
    rows = _main_table(second.get_data())
    assert len(rows) == 1
    everything = client.get("/api/v1/forms/case_plan/export", headers=bearer(token))
    assert len(_main_table(everything.get_data())) == 4


def test_a_supervisors_case_export_holds_exactly_the_cases_they_can_list(make, client):
    make.publish_bytes(xlsform_bytes("case_plan"), "case_plan.xlsx")
    make.user("cw_n", "caseworker", team="north")
    make.user("cw_s", "caseworker", team="south")
    for caseworker, ref in (("cw_n", "CP-N-1"), ("cw_s", "CP-S-1")):
        phone = make.device_client(f"{caseworker}-phone", caseworker)
        plan, _ = new_case_plan(ref, caseworker=caseworker)
        assert phone.submit(plan).status_code == 201
    make.user("cw_x", "caseworker", team="south")
    moved = make.device_client("cw_x-phone", "cw_x")
    assert moved.submit(new_case_plan("CP-X-1", caseworker="cw_x")[0]).status_code == 201
    # cw_x joins the north team: their cases follow them to the north supervisor
    with make.app.app_context():
        from server import db
        from server.auth.queries import get_user_by_username
        from server.auth.service import update_user

        update_user(db.session(), get_user_by_username(db.session(), "cw_x"), team="north")
        db.session().commit()
    make.user("sup", "supervisor", team="north")
    token = make.api_token("sup")
    listed = {
        c["case_ref"] for c in client.get("/api/v1/cases", headers=bearer(token)).json["items"]
    }
    export = client.get("/api/v1/cases/export?format=csv", headers=bearer(token))
    with zipfile.ZipFile(io.BytesIO(export.get_data())) as archive:
        name = next(n for n in archive.namelist() if n.startswith("cases"))
        rows = list(csv.DictReader(io.StringIO(archive.read(name).decode("utf-8-sig"))))
    assert {r["case_ref"] for r in rows} == listed == {"CP-N-1", "CP-X-1"}


def _media_names(data: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return sorted(archive.namelist())


def test_the_media_export_holds_sensitive_files_only_when_asked_with_a_reason(make, client):
    """A file answering a sensitive question, or a question inside a sensitive group, is in
    a media export only when an admin or the team's supervisor asks with a reason; the
    submissions API gives it to them as it gives the answers."""
    make.publish_md(xlsform(DISCLOSURE_SURVEY, "disclose", "1"))
    make.user("cw-n", "caseworker", team="north")
    make.user("sup-n", "supervisor", team="north")
    make.user("adm", "admin")
    body = "".join(element(name, value) for name, value in DISCLOSURE_ANSWERS.items())
    files = DISCLOSURE_FILES
    phone = make.device_client("cw-n-phone", "cw-n")
    response = phone.submit(submission_xml("disclose", "1", "uuid:d1", body=body), files)
    assert response.status_code == 201

    supervisor = bearer(make.api_token("sup-n"))
    media = client.get("/api/v1/forms/disclose/export?format=media", headers=supervisor)
    assert media.status_code == 200
    assert _media_names(media.get_data()) == ["uuid-d1/house.jpg"]
    detail = client.get("/api/v1/forms/disclose/submissions/uuid:d1", headers=supervisor).json
    assert len(detail["attachments"]) == 4
    drawing = client.get(
        "/api/v1/forms/disclose/submissions/uuid:d1/attachments/drawing.jpg", headers=supervisor
    )
    assert drawing.status_code == 200
    refused = client.get(
        "/api/v1/forms/disclose/export?format=media&include_sensitive=true", headers=supervisor
    )
    assert refused.status_code == 400
    asked = client.get(
        "/api/v1/forms/disclose/export?format=media&include_sensitive=true&reason=court",
        headers=supervisor,
    )
    assert len(_media_names(asked.get_data())) == 4

    admin = bearer(make.api_token("adm"))
    plain = client.get("/api/v1/forms/disclose/export?format=media", headers=admin)
    assert _media_names(plain.get_data()) == ["uuid-d1/house.jpg"]
    everything = client.get(
        "/api/v1/forms/disclose/export?format=media&include_sensitive=true&reason=court",
        headers=admin,
    )
    assert _media_names(everything.get_data()) == [
        "uuid-d1/bruise.jpg",
        "uuid-d1/drawing.jpg",
        "uuid-d1/house.jpg",
        "uuid-d1/uncle.jpg",
    ]
