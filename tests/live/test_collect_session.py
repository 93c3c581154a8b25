"""A phone's day against a real server process over real HTTP: provision by QR, fetch the
forms, media and case list, send a case plan (HEAD then POST, split posts, a resend),
then a contact log for the case it just registered."""

from __future__ import annotations

import csv
import hashlib
import io
import xml.etree.ElementTree as ET

import pytest

from server.auth.qr import read_qr_payload
from tests.collect import CollectClient
from tests.live.conftest import ROOT, LiveServer
from tests.realforms import contact_log, new_case_plan

pytestmark = pytest.mark.live

LIST = {"x": "http://openrosa.org/xforms/xformsList"}
MANIFEST = {"m": "http://openrosa.org/xforms/xformsManifest"}


def _provision(server: LiveServer) -> CollectClient:
    server.cli("create-team", "north")
    server.cli(
        "create-user",
        "cw1",
        "--role",
        "caseworker",
        "--team",
        "north",
        "--password-stdin",
        input="a long password\n",
    )
    out = server.cli("create-device", "phone-1", "--user", "cw1")
    payload = out.split("QR payload: ")[1].split()[0]
    settings = read_qr_payload(payload)
    return CollectClient(settings["general"]["server_url"])


def test_a_phone_day_over_real_http(live_server: LiveServer):
    live_server.cli("publish-xlsforms", str(ROOT / "xlsforms"))
    phone = _provision(live_server)
    assert phone.server_url.startswith(live_server.base_url + "/key/")

    listing = phone.form_list()
    assert listing.status == 200
    assert listing.headers["content-type"] == "text/xml; charset=utf-8"
    assert listing.headers["x-openrosa-version"] == "1.0"
    forms = {
        x.findtext("x:formID", namespaces=LIST): x
        for x in ET.fromstring(listing.body).findall("x:xform", LIST)
    }
    assert set(forms) == {"case_plan", "contact_log", "case_conference", "care_plan"}

    for form_id, entry in forms.items():
        download = phone.get(entry.findtext("x:downloadUrl", namespaces=LIST))
        assert download.status == 200
        assert entry.findtext("x:hash", namespaces=LIST) == (
            "md5:" + hashlib.md5(download.body).hexdigest()
        ), form_id
        manifest_url = entry.findtext("x:manifestUrl", namespaces=LIST)
        manifest = phone.get(manifest_url)
        assert manifest.status == 200
        assert manifest.headers["x-openrosa-version"] == "1.0"
        files = {
            m.findtext("m:filename", namespaces=MANIFEST): m
            for m in ET.fromstring(manifest.body).findall("m:mediaFile", MANIFEST)
        }
        assert "cases.csv" in files
        cases = files["cases.csv"]
        assert cases.get("type") == "entityList"
        assert cases.findtext("m:hash", namespaces=MANIFEST).startswith("md5:")
        assert phone.get(cases.findtext("m:integrityUrl", namespaces=MANIFEST)).status == 200
        for media in files.values():
            got = phone.get(media.findtext("m:downloadUrl", namespaces=MANIFEST))
            assert got.status == 200

    plan, entity_id = new_case_plan("CP-LIVE-1")
    # 250 KB of audit log and photo against a 200 KB limit: Collect splits the upload
    files = {"audit.csv": b"event,node,start\n" * 8000, "sketch.jpg": b"\xff\xd8" * 60000}
    responses = phone.submit(plan, files)
    assert [r.status for r in responses] == [201, 201]  # split in two POSTs
    assert b"<OpenRosaResponse" in responses[-1].body
    resend = phone.submit(plan, files)
    assert [r.status for r in resend] == [201, 201]  # an identical resend creates nothing
    assert [line.split()[0] for line in phone.sent[-3:]] == ["HEAD", "POST", "POST"]

    manifest = phone.get(forms["contact_log"].findtext("x:manifestUrl", namespaces=LIST))
    cases_url = next(
        m.findtext("m:downloadUrl", namespaces=MANIFEST)
        for m in ET.fromstring(manifest.body).findall("m:mediaFile", MANIFEST)
        if m.findtext("m:filename", namespaces=MANIFEST) == "cases.csv"
    )
    rows = list(csv.DictReader(io.StringIO(phone.get(cases_url).body.decode())))
    assert [(r["name"], r["case_ref"]) for r in rows] == [(entity_id, "CP-LIVE-1")]

    contact = contact_log(
        "CP-LIVE-1",
        entity_id,
        base_version=int(rows[0]["__version"]),
        contact_time="2026-11-24T10:00:00.000+03:00",
        next_contact="2026-12-01",
    )
    assert phone.submit(contact)[-1].status == 201

    token = live_server.cli("create-token", "cw1").strip()
    import json
    import urllib.request

    request = urllib.request.Request(
        f"{live_server.base_url}/api/v1/cases/CP-LIVE-1",
        headers={"Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        record = json.load(answer)
    assert record["next_contact_due"] == "2026-12-01"
    assert [t["form_id"] for t in record["timeline"]] == ["case_plan", "contact_log"]
