"""The JSON API for forms and submissions: roles, paging, errors in spreadsheet terms."""

from __future__ import annotations

import io

import openpyxl
import pytest

from tests.factories import (
    SIMPLE_FORM,
    DeviceClient,
    Factory,
    bearer,
    submission_xml,
    xform_from_md,
)


def xlsx(rows_by_sheet: dict[str, list[list[str]]]) -> bytes:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in rows_by_sheet.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


GOOD = {
    "survey": [["type", "name", "label"], ["text", "q1", "Question"], ["integer", "age", "Age"]],
    "settings": [["form_id", "version"], ["api_form", "2026112201"]],
}
BROKEN = {
    "survey": [
        ["type", "name", "label"],
        ["text", "q1", "Question"],
        ["select_one missing_list", "q2", "Pick"],
    ],
    "choices": [["list_name", "name", "label"], ["yes_no", "yes", "Yes"]],
    "settings": [["form_id", "version"], ["api_form", "2026112202"]],
}


def _upload(client, token: str, content: bytes, name: str = "form.xlsx"):
    return client.post(
        "/api/v1/forms",
        data={"file": (io.BytesIO(content), name)},
        headers=bearer(token),
        content_type="multipart/form-data",
    )


def test_publish_xlsform_then_list(make: Factory, client):
    make.user("des", "designer")
    token = make.api_token("des")
    response = _upload(client, token, xlsx(GOOD))
    assert response.status_code == 201, response.json
    assert response.json["form_id"] == "api_form"
    listing = client.get("/api/v1/forms", headers=bearer(token)).json
    assert listing[0]["form_id"] == "api_form"
    assert listing[0]["state"] == "open"
    assert listing[0]["versions"][0]["version"] == "2026112201"
    again = _upload(client, token, xlsx(GOOD))
    assert again.status_code == 200
    assert again.json["is_new"] is False


def test_conversion_errors_name_sheet_row_and_column(make: Factory, client):
    make.user("des", "designer")
    token = make.api_token("des")
    response = _upload(client, token, xlsx(BROKEN))
    assert response.status_code == 400
    body = response.json
    assert body["code"] == "xform.invalid"
    (problem,) = body["details"]["problems"]
    assert problem["sheet"] == "survey"
    assert problem["row"] == 3
    assert "missing_list" in problem["message"]
    assert client.get("/api/v1/forms", headers=bearer(token)).json == []


def test_same_version_with_changes_is_refused(make: Factory, client):
    make.user("des", "designer")
    token = make.api_token("des")
    assert _upload(client, token, xlsx(GOOD)).status_code == 201
    changed = {**GOOD, "survey": [*GOOD["survey"], ["text", "q3", "More"]]}
    response = _upload(client, token, xlsx(changed))
    assert response.status_code == 409
    assert response.json["code"] == "xform.version_unchanged"
    assert "version" in response.json["message"]


def test_not_a_spreadsheet(make: Factory, client):
    make.user("des", "designer")
    token = make.api_token("des")
    assert _upload(client, token, b"hello", "notes.txt").json["code"] == "xform.file_type"
    broken = _upload(client, token, b"PK\x03\x04 not really", "form.xlsx")
    assert broken.status_code == 400
    assert broken.json["code"] == "xform.invalid"


def test_an_xform_declaring_an_unknown_encoding_is_refused(make: Factory, client):
    make.user("des", "designer")
    token = make.api_token("des")
    xml = xform_from_md(SIMPLE_FORM).replace(
        '<?xml version="1.0"?>', '<?xml version="1.0" encoding="bogus"?>'
    )
    assert 'encoding="bogus"' in xml
    response = _upload(client, token, xml.encode(), "form.xml")
    assert response.status_code == 400
    assert response.json["code"] == "xform.invalid"
    assert "encoding" in response.json["message"]
    assert client.get("/api/v1/forms", headers=bearer(token)).json == []


@pytest.mark.parametrize(
    ("role", "status"),
    [("caseworker", 403), ("supervisor", 200), ("admin", 200), ("designer", 403)],
)
def test_submission_api_roles(make: Factory, client, role: str, status: int):
    make.publish_md(SIMPLE_FORM)
    make.user("someone", role)
    token = make.api_token("someone")
    assert (
        client.get("/api/v1/forms/simple/submissions", headers=bearer(token)).status_code == status
    )


def test_api_requires_authentication(client):
    response = client.get("/api/v1/forms")
    assert response.status_code == 401
    assert response.json["code"] == "auth.required"
    bad = client.get("/api/v1/forms", headers=bearer("nope"))
    assert bad.status_code == 401


def test_submissions_list_detail_and_xml(make: Factory, client, device: DeviceClient):
    make.publish_md(SIMPLE_FORM)
    make.user("boss", "supervisor", team="north")  # the phone's caseworker is in north
    token = make.api_token("boss")
    ids = []
    for i in range(3):
        xml = submission_xml(body=f"<note_text>n{i}</note_text><photo>p{i}.jpg</photo>")
        assert device.submit(xml, {f"p{i}.jpg": b"jpg" * i}).status_code == 201
        ids.append(xml)
    page = client.get("/api/v1/forms/simple/submissions?per_page=2", headers=bearer(token)).json
    assert page["total"] == 3
    assert len(page["items"]) == 2
    newest = page["items"][0]
    assert newest["submitter"] == "cw1"
    assert newest["device"] == "phone-1"
    iid = newest["instance_id"]
    detail = client.get(f"/api/v1/forms/simple/submissions/{iid}", headers=bearer(token)).json
    assert detail["attachments"][0]["name"] == "p2.jpg"
    assert len(detail["attachments"][0]["sha256"]) == 64
    assert detail["edits"][0]["instance_id"] == iid
    raw = client.get(f"/api/v1/forms/simple/submissions/{iid}.xml", headers=bearer(token))
    assert raw.data == ids[2]
    filtered = client.get(
        "/api/v1/forms/simple/submissions?submitter=nobody", headers=bearer(token)
    ).json
    assert filtered["total"] == 0
    bad = client.get("/api/v1/forms/simple/submissions?per_page=0", headers=bearer(token))
    assert bad.status_code == 400
    assert bad.json["code"] == "request.invalid"
    # a supervisor of no team reads nobody's submissions
    make.user("lone", "supervisor")
    lone = bearer(make.api_token("lone"))
    assert client.get("/api/v1/forms/simple/submissions", headers=lone).json["total"] == 0
    assert client.get(f"/api/v1/forms/simple/submissions/{iid}", headers=lone).status_code == 404
