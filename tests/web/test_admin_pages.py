"""Forms, users and devices, services, exports and the audit log, role by role."""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

import pytest

from server.auth.qr import read_qr_payload
from tests.factories import Factory
from tests.web import seed, xlsx


def _upload(client: Any, name: str, content: bytes) -> Any:
    return client.post(
        "/forms/preview", {"file": (io.BytesIO(content), name)}, content_type="multipart/form-data"
    )


def test_broken_xlsform_shows_problems_and_publishes_nothing(web_as: Any) -> None:
    designer = web_as("des", "designer")
    response = _upload(designer, "broken.xlsx", xlsx.broken_form())
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "colours" in html
    assert 'class="problems"' in html
    assert "Publish" not in html.split("</table>")[-1]
    assert "broken_form" not in designer.text("/forms")


def test_preview_then_publish_the_same_bytes(web_as: Any, app: Any) -> None:
    designer = web_as("des", "designer")
    name, content = xlsx.good_form()
    html = _upload(designer, name, content).get_data(as_text=True)
    assert "no errors or warnings" in html or "warning" in html
    upload_id = re.search(r'name="upload_id" value="([^"]+)"', html)
    assert upload_id is not None
    # nothing is published by the preview
    assert "No form has been published yet" in designer.text("/forms")
    response = designer.post("/forms/publish", {"upload_id": upload_id.group(1)})
    assert response.status_code == 302
    form_id = response.headers["Location"].rsplit("/", 1)[1]
    page = designer.text(f"/forms/{form_id}")
    assert "XLSForm" in page
    link = re.search(r'href="(/forms/[^"]+/xlsform)"', page)
    assert link is not None
    assert designer.get(link.group(1)).data == content
    xform = re.search(r'href="(/forms/[^"]+/xform)"', page)
    assert xform is not None
    assert b"<h:html" in designer.get(xform.group(1)).data
    # the upload is gone once published
    again = designer.post("/forms/publish", {"upload_id": upload_id.group(1)})
    assert "expired" in designer.text(again.headers["Location"])


def test_publish_refuses_someone_elses_or_forged_upload(web_as: Any) -> None:
    designer = web_as("des", "designer")
    name, content = xlsx.good_form()
    html = _upload(designer, name, content).get_data(as_text=True)
    upload_id = re.search(r'name="upload_id" value="([^"]+)"', html)
    assert upload_id is not None
    other = web_as("des2", "designer")
    assert "expired" in other.text(
        other.post("/forms/publish", {"upload_id": upload_id.group(1)}).headers["Location"]
    )
    forged = other.post("/forms/publish", {"upload_id": "../../secret_key"})
    assert "expired" in other.text(forged.headers["Location"])


def test_form_state_change_and_roles(make: Factory, web_as: Any) -> None:
    seed.publish_case_forms(make)
    designer = web_as("des", "designer")
    assert designer.post("/forms/case_plan/state", {"state": "closing"}).status_code == 302
    assert 'id="form-state">closing' in designer.text("/forms/case_plan")
    sup = web_as("sup", "supervisor", team="north")
    assert sup.get("/forms/case_plan").status_code == 200
    assert sup.post("/forms/case_plan/state", {"state": "open"}).status_code == 403
    cw = web_as("cw", "caseworker")
    assert cw.get("/forms").status_code == 403


def test_upload_without_csrf_is_refused(web_as: Any) -> None:
    designer = web_as("des", "designer")
    name, content = xlsx.good_form()
    response = designer.post(
        "/forms/preview",
        {"file": (io.BytesIO(content), name)},
        csrf=False,
        content_type="multipart/form-data",
    )
    assert response.status_code == 400


def test_admin_manages_users(web_as: Any) -> None:
    admin = web_as("adm", "admin")
    for team in ("north", "south"):
        assert admin.post("/teams", {"name": team}).status_code == 302
    response = admin.post(
        "/users",
        {
            "username": "newcw",
            "role": "caseworker",
            "team": "north",
            "password": "long enough password",
        },
    )
    assert response.status_code == 302
    assert "newcw" in admin.text("/users")
    weak = admin.post("/users", {"username": "weak", "role": "caseworker", "password": "short"})
    assert "at least 10 characters" in admin.text(weak.headers["Location"])
    admin.post("/users/newcw", {"role": "supervisor", "team": "south", "is_active": "no"})
    page = admin.text("/users/newcw")
    assert 'value="supervisor" selected' in page
    assert 'value="south" selected' in page
    assert 'value="no" selected' in page
    assert admin.post("/users/newcw/password", {"password": "another long one"}).status_code == 302


@pytest.mark.parametrize("role", ["supervisor", "caseworker", "designer"])
def test_only_admins_see_users_devices_and_audit(web_as: Any, role: str) -> None:
    client = web_as("u", role, team="north")
    for url in ("/users", "/devices", "/audit"):
        assert client.get(url).status_code == 403, url
    assert (
        client.post(
            "/users", {"username": "x", "role": "admin", "password": "long enough password"}
        ).status_code
        == 403
    )


def test_device_qr_code_carries_the_server_url(make: Factory, web_as: Any) -> None:
    make.user("cw", "caseworker", team="north")
    admin = web_as("adm", "admin")
    response = admin.post("/devices", {"label": "tablet-7", "username": "cw"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<svg" in html
    payload = re.search(r'<pre id="qr-payload">([^<]+)</pre>', html)
    assert payload is not None
    settings = read_qr_payload(payload.group(1))
    url = re.search(r'<code id="server-url">([^<]+)</code>', html)
    assert url is not None
    assert settings["general"]["server_url"] == url.group(1)
    assert url.group(1).startswith("http://localhost/key/")
    assert "tablet-7" in admin.text("/devices")
    assert admin.post("/devices/revoke", {"label": "tablet-7"}).status_code == 302
    assert "revoked" in admin.text("/devices")


def test_services_directory(web_as: Any) -> None:
    sup = web_as("sup", "supervisor", team="north")
    response = sup.post(
        "/services/new",
        {
            "service_id": "clinic-1",
            "name": "North clinic",
            "category": "health",
            "access": "Phone first",
            "focal_points": "Dr A, 555-0100",
            "can_visit": "yes",
            "hours": "8-16",
            "location": "Main road",
        },
    )
    assert response.status_code == 302
    assert "North clinic" in sup.text("/services?q=north")
    assert "North clinic" not in sup.text("/services?q=school")
    sup.post("/services/clinic-1/edit", {"name": "North health clinic", "category": "health"})
    assert "North health clinic" in sup.text("/services")
    bad = sup.post("/services/new", {"service_id": "bad id!", "name": "X", "category": "c"})
    assert bad.status_code == 400
    csv = b"service_id,name,category,location\nlegal-1,Legal aid,Legal aid,Town hall\n,No id,x,\n"
    result = sup.post(
        "/services/import",
        {"file": (io.BytesIO(csv), "services.csv")},
        content_type="multipart/form-data",
    )
    html = result.get_data(as_text=True)
    assert "1 added" in html
    assert "Legal aid" in sup.text("/services")
    cw = web_as("cw", "caseworker")
    assert cw.get("/services").status_code == 200
    assert cw.get("/services/new").status_code == 403


def test_exports_download_and_are_audited(make: Factory, web_as: Any) -> None:
    seed.publish_case_forms(make)
    make.user("cw", "caseworker", team="north")
    seed.submit(make.device_client("p", "cw"), seed.registration("CP-1", seed.new_entity()))
    admin = web_as("adm", "admin")
    response = admin.post(
        "/exports", {"kind": "form", "form_id": "case_plan", "format": "csv", "group_paths": "yes"}
    )
    assert response.status_code == 200
    assert zipfile.ZipFile(io.BytesIO(response.data)).namelist()
    cases = admin.post("/exports", {"kind": "cases", "format": "xlsx"})
    assert cases.status_code == 200
    assert cases.data[:2] == b"PK"
    log = admin.text("/audit?action=export")
    assert "export.form" in log
    assert "export.cases" in log
    assert "case_plan" in log
    bad = admin.post("/exports", {"kind": "cases", "format": "geojson"})
    assert bad.status_code == 302  # back to the page with the reason
    sup = web_as("sup", "supervisor", team="north")
    # a supervisor's form export holds only their team's submissions; sensitive fields only
    # with a reason
    team_export = sup.post("/exports", {"kind": "form", "form_id": "case_plan", "format": "csv"})
    assert team_export.status_code == 200
    sensitive = {
        "kind": "form",
        "form_id": "case_plan",
        "format": "csv",
        "include_sensitive": "yes",
    }
    assert sup.post("/exports", sensitive).status_code == 302  # back: the reason is missing
    assert sup.post("/exports", {**sensitive, "reason": "court order"}).status_code == 200
    assert sup.post("/exports", {"kind": "cases", "format": "csv"}).status_code == 200


def test_audit_log_filters(make: Factory, web_as: Any) -> None:
    make.user("cw", "caseworker")
    admin = web_as("adm", "admin")
    html = admin.text("/audit?actor=adm&action=auth.login")
    assert "auth.login" in html
    assert "user.create" not in admin.text("/audit?action=auth")
    assert admin.get("/audit?since=not-a-date").status_code == 400
