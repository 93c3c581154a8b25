"""Form list, form download, manifest and media: what Collect fetches before filling forms."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET

import pytest

from tests.factories import SIMPLE_FORM, DeviceClient, Factory

NS = {
    "x": "http://openrosa.org/xforms/xformsList",
    "m": "http://openrosa.org/xforms/xformsManifest",
}

MEDIA_FORM = """
| settings |
| | form_id | version |
| | with_media | 3 |
| survey |
| | type | name | label | media::image |
| | note | intro | Welcome | logo.png |
"""


def test_form_list_is_openrosa_xml_with_md5_of_served_bytes(make: Factory, device: DeviceClient):
    make.publish_md(SIMPLE_FORM)
    response = device.get("/formList")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert response.headers["X-OpenRosa-Version"] == "1.0"
    root = ET.fromstring(response.data)
    assert root.tag == "{http://openrosa.org/xforms/xformsList}xforms"
    (entry,) = root.findall("x:xform", NS)
    assert entry.findtext("x:formID", namespaces=NS) == "simple"
    assert entry.findtext("x:version", namespaces=NS) == "1"
    download = entry.findtext("x:downloadUrl", namespaces=NS)
    assert download == f"http://localhost/key/{device.token}/forms/simple.xml"
    assert entry.find("x:manifestUrl", NS) is None  # the form names no media

    form = device.get(download.removeprefix(f"http://localhost/key/{device.token}"))
    assert form.status_code == 200
    digest = hashlib.md5(form.data).hexdigest()
    assert entry.findtext("x:hash", namespaces=NS) == f"md5:{digest}"


def test_device_id_is_tolerated_on_every_url(make: Factory, device: DeviceClient):
    make.publish_md(SIMPLE_FORM)
    assert device.get("/formList?deviceID=collect%3Axyz").status_code == 200
    assert device.get("/forms/simple.xml").status_code == 200


def test_manifest_lists_media_with_md5_prefix_and_serves_bytes(make: Factory, device: DeviceClient):
    logo = b"\x89PNG fake logo bytes"
    make.publish_md(MEDIA_FORM, media={"logo.png": logo})
    listing = ET.fromstring(device.get("/formList").data)
    manifest_url = listing.find("x:xform/x:manifestUrl", NS).text
    assert manifest_url == f"http://localhost/key/{device.token}/forms/with_media/manifest"
    manifest = device.get("/forms/with_media/manifest")
    assert manifest.status_code == 200
    assert manifest.headers["Content-Type"].startswith("text/xml")
    assert manifest.headers["X-OpenRosa-Version"] == "1.0"
    media = ET.fromstring(manifest.data).find("m:mediaFile", NS)
    assert media.findtext("m:filename", namespaces=NS) == "logo.png"
    assert media.findtext("m:hash", namespaces=NS) == "md5:" + hashlib.md5(logo).hexdigest()
    url = media.findtext("m:downloadUrl", namespaces=NS)
    got = device.get(url.removeprefix(f"http://localhost/key/{device.token}"))
    assert got.status_code == 200
    assert got.data == logo


def test_closing_and_closed_forms_leave_the_list(make: Factory, device: DeviceClient, client):
    make.publish_md(SIMPLE_FORM)
    make.user("designer", "designer")
    token = make.api_token("designer")
    for state in ("closing", "closed"):
        r = client.post(
            "/api/v1/forms/simple/state",
            json={"state": state},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 200
        root = ET.fromstring(device.get("/formList").data)
        assert root.findall("x:xform", NS) == []


def test_unknown_form_is_openrosa_404(device: DeviceClient):
    response = device.get("/forms/nope.xml")
    assert response.status_code == 404
    assert b"OpenRosaResponse" in response.data
    assert response.headers["X-OpenRosa-Version"] == "1.0"


def test_urls_come_from_base_url_not_request_host(make: Factory, device: DeviceClient):
    make.publish_md(SIMPLE_FORM)
    response = device.client.get(
        f"/key/{device.token}/formList",
        headers={"X-OpenRosa-Version": "1.0", "Host": "10.0.0.5:8000"},
    )
    assert b"http://localhost/key/" in response.data
    assert b"10.0.0.5" not in response.data


def _set_state(make: Factory, client, form_id: str, state: str) -> None:
    make.user("designer", "designer")
    token = make.api_token("designer")
    response = client.post(
        f"/api/v1/forms/{form_id}/state",
        json={"state": state},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/forms/with_media.xml",
        "/forms/with_media/manifest",
        "/forms/with_media/attachments/logo.png",
    ],
)
def test_a_closed_form_is_no_longer_served(make: Factory, device: DeviceClient, client, path):
    make.publish_md(MEDIA_FORM, media={"logo.png": b"logo"})
    assert device.get(path).status_code == 200
    _set_state(make, client, "with_media", "closed")
    response = device.get(path)
    assert response.status_code == 409
    assert b"<OpenRosaResponse" in response.data
    assert b"closed" in response.data


def test_a_closing_form_is_still_served_to_the_devices_that_have_it(
    make: Factory, device: DeviceClient, client
):
    make.publish_md(MEDIA_FORM, media={"logo.png": b"logo"})
    _set_state(make, client, "with_media", "closing")
    assert device.get("/forms/with_media.xml").status_code == 200
    assert device.get("/forms/with_media/manifest").status_code == 200
    assert device.get("/forms/with_media/attachments/logo.png").data == b"logo"


ODD_NAMES = ["my logo.png", "50%.png", "a?b#c.png", "صوت 1.mp3", "é&<x>.png"]


def test_media_with_odd_names_are_listed_with_urls_that_fetch_them(
    make: Factory, device: DeviceClient
):
    rows = "\n".join(f"| | note | n{i} | Note | {name} |" for i, name in enumerate(ODD_NAMES))
    form = f"""
| settings |
| | form_id | version |
| | odd_media | 1 |
| survey |
| | type | name | label | media::image |
{rows}
"""
    files = {name: f"bytes of {name}".encode() for name in ODD_NAMES}
    result = make.publish_md(form, media=files)
    assert result.missing_media == ()
    prefix = f"http://localhost/key/{device.token}"
    listing = ET.fromstring(device.get("/formList").data)
    manifest_url = listing.find("x:xform/x:manifestUrl", NS).text
    manifest = ET.fromstring(device.get(manifest_url.removeprefix(prefix)).data)
    listed = {
        m.findtext("m:filename", namespaces=NS): m.findtext("m:downloadUrl", namespaces=NS)
        for m in manifest.findall("m:mediaFile", NS)
    }
    assert set(listed) == set(ODD_NAMES)
    for name, url in listed.items():
        path = url.removeprefix(prefix)
        # one encoded path segment: nothing Collect's URL parser would split or choke on
        assert path.isascii()
        assert not set(" ?#") & set(path)
        got = device.get(path)
        assert got.status_code == 200, name
        assert got.data == files[name]
        got.headers["Content-Disposition"].encode("latin-1")  # a header gunicorn can send


def test_a_form_id_with_odd_characters_gives_urls_that_work(make: Factory, device: DeviceClient):
    make.publish_md(
        MEDIA_FORM.replace("| with_media | 3 |", "| fö%rm 2 | 3 |"), media={"logo.png": b"logo"}
    )
    prefix = f"http://localhost/key/{device.token}"
    (entry,) = ET.fromstring(device.get("/formList").data).findall("x:xform", NS)
    assert entry.findtext("x:formID", namespaces=NS) == "fö%rm 2"
    download = entry.findtext("x:downloadUrl", namespaces=NS)
    assert download == f"{prefix}/forms/f%C3%B6%25rm%202.xml"
    assert b'id="f\xc3\xb6%rm 2"' in device.get(download.removeprefix(prefix)).data
    manifest_url = entry.findtext("x:manifestUrl", namespaces=NS)
    manifest = ET.fromstring(device.get(manifest_url.removeprefix(prefix)).data)
    media_url = manifest.find("m:mediaFile", NS).findtext("m:downloadUrl", namespaces=NS)
    assert device.get(media_url.removeprefix(prefix)).data == b"logo"
