"""Unusual but legitimate requests against a real gunicorn: what the Flask test client lets
through (a non-Latin-1 header, a chunked body) is exactly what a real server may refuse."""

from __future__ import annotations

import http.client
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.collect import CollectClient, multipart
from tests.factories import xform_from_md
from tests.live.conftest import LiveServer

pytestmark = pytest.mark.live

MANIFEST = {"m": "http://openrosa.org/xforms/xformsManifest"}
NAMES = ["صوت.mp3", "my logo.png", "100% café.png"]
FORM = """
| settings |
| | form_id | version |
| | voices | 1 |
| survey |
| | type | name | label | media::audio | media::image |
| | note | intro | Welcome | صوت.mp3 | my logo.png |
| | note | more | More | | 100% café.png |
| | text | answer | Answer | | |
"""


def _phone(server: LiveServer, tmp_path: Path) -> CollectClient:
    form = tmp_path / "voices.xml"
    form.write_text(xform_from_md(FORM), encoding="utf-8")
    media = []
    for name in NAMES:
        (tmp_path / name).write_bytes(f"bytes of {name}".encode())
        media.append(str(tmp_path / name))
    out = server.cli("publish", str(form), *media, "--no-validate")
    assert "missing" not in out, out
    server.cli(
        "create-user", "cw1", "--role", "caseworker", "--password-stdin", input="a long password\n"
    )
    url = server.cli("create-device", "phone", "--user", "cw1").split("Server URL: ")[1]
    return CollectClient(url.split()[0])


def _submission(instance_id: str, encoding: str = "UTF-8") -> bytes:
    return (
        f'<?xml version="1.0" encoding="{encoding}"?><data id="voices" version="1">'
        f"<answer>x</answer><meta><instanceID>{instance_id}</instanceID></meta></data>"
    ).encode()


def test_media_with_non_latin_and_spaced_names_download_over_real_http(
    live_server: LiveServer, tmp_path: Path
):
    phone = _phone(live_server, tmp_path)
    manifest = phone.get(phone.server_url + "/forms/voices/manifest")
    assert manifest.status == 200
    files = {
        m.findtext("m:filename", namespaces=MANIFEST): m.findtext(
            "m:downloadUrl", namespaces=MANIFEST
        )
        for m in ET.fromstring(manifest.body).findall("m:mediaFile", MANIFEST)
    }
    assert set(files) == set(NAMES)
    got = {name: phone.get(url) for name, url in files.items()}
    # gunicorn answers 500 rather than send a header that is not Latin-1
    assert {name: r.status for name, r in got.items()} == dict.fromkeys(NAMES, 200)
    for name, response in got.items():
        assert response.body == f"bytes of {name}".encode()
        disposition = response.headers["content-disposition"]
        assert disposition.startswith("attachment")
        if not name.isascii():
            assert "filename*=UTF-8''" in disposition


def test_unknown_encoding_and_chunked_uploads_over_real_http(
    live_server: LiveServer, tmp_path: Path
):
    phone = _phone(live_server, tmp_path)
    bogus = phone.submit(_submission(f"uuid:{uuid.uuid4()}", encoding="bogus"))
    assert bogus[-1].status == 400
    assert b"encoding" in bogus[-1].body

    body, content_type = multipart(_submission(f"uuid:{uuid.uuid4()}"), [], incomplete=False)
    parts = urlsplit(phone.server_url + "/submission")
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    conn.request(
        "POST",
        parts.path,
        body=iter([body[:100], body[100:]]),
        headers={"X-OpenRosa-Version": "1.0", "Content-Type": content_type},
        encode_chunked=True,
    )
    answer = conn.getresponse()
    assert answer.status == 201, answer.read()
    conn.close()
