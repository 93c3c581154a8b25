"""Hostile and broken uploads: each a clear 4xx OpenRosa answer, with nothing half-stored."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from server.blobs.models import Blob
from server.submissions.models import Submission, SubmissionAttachment
from tests.factories import SIMPLE_FORM, DeviceClient, Factory, submission_xml

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE data [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<data id="simple"><note_text>&xxe;</note_text><meta><instanceID>uuid:x1</instanceID></meta></data>"""

BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<data id="simple"><note_text>&lol3;</note_text><meta><instanceID>uuid:x2</instanceID></meta></data>"""


def _nothing_stored(db_session) -> bool:
    db_session.rollback()
    counts = [
        db_session.scalar(select(func.count()).select_from(m))
        for m in (Submission, SubmissionAttachment, Blob)
    ]
    return counts == [0, 0, 0]


@pytest.mark.parametrize(
    ("xml", "status", "words"),
    [
        (b"<data id='simple'><note_text>unclosed</data>", 400, b"not well-formed"),
        (submission_xml()[:60], 400, b"not well-formed"),
        (b"", 400, b"not well-formed"),
        (XXE, 400, b"refuses"),
        (BOMB, 400, b"refuses"),
        (b"<data><meta><instanceID>uuid:1</instanceID></meta></data>", 400, b"which form"),
        (
            submission_xml()
            .replace(b"<instanceID>", b"<other>")
            .replace(b"</instanceID>", b"</other>"),
            400,
            b"instanceID",
        ),
        (submission_xml(form_id="unknown"), 404, b"no form"),
        (submission_xml(version="77"), 404, b"version"),
        (
            b'<?xml version="1.0" encoding="bogus"?>'
            b'<data id="simple" version="1"><meta><instanceID>uuid:e1</instanceID></meta></data>',
            400,
            b"encoding",
        ),
        (submission_xml(body="<a>" * 150 + "deep" + "</a>" * 150), 400, b"nested"),
        (submission_xml(body="<a>" * 5000 + "deep" + "</a>" * 5000), 400, b"nested"),
        (submission_xml(instance_id="uuid:" + "a" * 300), 400, b"longer than 255"),
    ],
    ids=[
        "malformed",
        "truncated",
        "empty",
        "xxe",
        "entity-bomb",
        "no-form-id",
        "no-instance-id",
        "unknown-form",
        "unknown-version",
        "unknown-encoding",
        "nested-too-deep",
        "nested-past-recursion-limit",
        "instance-id-too-long",
    ],
)
def test_bad_xml_is_refused_cleanly(
    make: Factory, device: DeviceClient, db_session, xml, status, words
):
    make.publish_md(SIMPLE_FORM)
    response = device.submit(xml, {"photo.jpg": b"bytes"})
    assert response.status_code == status, response.data
    assert b"<OpenRosaResponse" in response.data
    assert b'nature="error"' in response.data
    assert words in response.data
    assert _nothing_stored(db_session)


def test_multipart_without_xml_part(make: Factory, device: DeviceClient, db_session):
    make.publish_md(SIMPLE_FORM)
    response = device.client.post(
        f"/key/{device.token}/submission",
        data={"photo.jpg": (io.BytesIO(b"x"), "photo.jpg")},
        headers={"X-OpenRosa-Version": "1.0"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert b"xml_submission_file" in response.data
    assert _nothing_stored(db_session)


def test_body_over_the_limit_is_413_openrosa(make: Factory, device: DeviceClient, db_session, app):
    make.publish_md(SIMPLE_FORM)
    app.config["MAX_CONTENT_LENGTH"] = 50_000
    response = device.submit(submission_xml(), {"big.jpg": b"\0" * 60_000})
    assert response.status_code == 413
    assert b"<OpenRosaResponse" in response.data
    assert _nothing_stored(db_session)


def test_a_submission_over_what_devices_are_told_is_413_openrosa(
    make: Factory, device: DeviceClient, db_session, app
):
    """Form uploads may be larger than submissions; a submission is held to its own limit."""
    make.publish_md(SIMPLE_FORM)
    app.config["MAX_SUBMISSION_BODY_BYTES"] = 50_000
    response = device.submit(submission_xml(), {"big.jpg": b"\0" * 60_000})
    assert response.status_code == 413
    assert b"<OpenRosaResponse" in response.data
    assert _nothing_stored(db_session)


def test_file_names_are_matched_exactly_and_never_used_as_paths(make, device, db_session, app):
    make.publish_md(SIMPLE_FORM)
    body = "<note_text>x</note_text><photo>фото 1.jpg</photo>"
    xml = submission_xml(body=body)
    files = {"фото 1.jpg": b"photo", "../../etc/passwd": b"sneaky"}
    assert device.submit(xml, files).status_code == 201
    db_session.rollback()
    names = {a.name: a.blob_sha256 for a in db_session.scalars(select(SubmissionAttachment))}
    assert names["фото 1.jpg"] is not None
    # kept as a name in the database only; nothing was written under the data folder
    assert "passwd" in "".join(names)
    from pathlib import Path

    data_dir = Path(app.config["DATA_DIR"])
    assert not any(p.name == "passwd" for p in data_dir.parent.rglob("*"))


def _raw_submit(device: DeviceClient, parts: list[tuple[bytes, bytes]], **headers: str):
    """POST a multipart body built byte for byte: (part headers, content) pairs."""
    boundary = b"hostile-boundary"
    body = bytearray()
    for head, content in parts:
        body += b"--" + boundary + b"\r\n" + head + b"\r\n\r\n" + content + b"\r\n"
    body += b"--" + boundary + b"--\r\n"
    return device.client.post(
        f"{device.prefix}/submission" + headers.pop("query", ""),
        data=bytes(body),
        content_type="multipart/form-data; boundary=hostile-boundary",
        headers={"X-OpenRosa-Version": "1.0", **headers},
    )


def _xml_part(xml: bytes) -> tuple[bytes, bytes]:
    head = b'Content-Disposition: form-data; name="xml_submission_file"; filename="i.xml"'
    return head + b"\r\nContent-Type: text/xml", xml


def _file_part(name: bytes, content: bytes = b"x", content_type: bytes = b"image/jpeg"):
    head = b'Content-Disposition: form-data; name="' + name + b'"; filename="' + name + b'"'
    return head + b"\r\nContent-Type: " + content_type, content


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        (b"a" * 252 + b".jpg", b"x", b"cannot be a file name"),
        (b"a\x00b.jpg", b"x", b"cannot be a file name"),
        (b"", b"x", b"no name"),
    ],
    ids=["name-over-255", "name-with-nul", "unnamed-with-content"],
)
@pytest.mark.parametrize("lf_only", [False, True], ids=["lean-parser", "werkzeug-parser"])
def test_a_file_that_cannot_be_kept_refuses_the_whole_upload(
    make: Factory, device: DeviceClient, db_session, name, content, words, lf_only
):
    make.publish_md(SIMPLE_FORM)
    parts = [_xml_part(submission_xml()), _file_part(name, content)]
    if lf_only:  # bare LF line ends: left to werkzeug's parser
        boundary = b"hostile-boundary"
        body = b"".join(b"--" + boundary + b"\n" + h + b"\n\n" + c + b"\n" for h, c in parts)
        response = device.client.post(
            f"{device.prefix}/submission",
            data=body + b"--" + boundary + b"--\n",
            content_type="multipart/form-data; boundary=hostile-boundary",
            headers={"X-OpenRosa-Version": "1.0"},
        )
    else:
        response = _raw_submit(device, parts)
    assert response.status_code == 400, response.data
    assert b"<OpenRosaResponse" in response.data
    assert words in response.data
    assert _nothing_stored(db_session)


def test_an_empty_unnamed_part_is_ignored(make: Factory, device: DeviceClient, db_session):
    make.publish_md(SIMPLE_FORM)
    response = _raw_submit(device, [_xml_part(submission_xml()), _file_part(b"", b"")])
    assert response.status_code == 201, response.data
    db_session.rollback()
    assert db_session.scalars(select(SubmissionAttachment.name)).all() == []


def test_two_different_xml_parts_are_refused(make: Factory, device: DeviceClient, db_session):
    make.publish_md(SIMPLE_FORM)
    first, second = submission_xml(), submission_xml()
    response = _raw_submit(device, [_xml_part(first), _xml_part(second)])
    assert response.status_code == 400
    assert b"two different parts" in response.data
    assert _nothing_stored(db_session)
    again = _raw_submit(device, [_xml_part(first), _xml_part(first)])
    assert again.status_code == 201  # the same part twice is one submission


def test_two_different_files_of_one_name_are_refused(
    make: Factory, device: DeviceClient, db_session
):
    make.publish_md(SIMPLE_FORM)
    xml = submission_xml(body="<note_text>x</note_text><photo>p.jpg</photo>")
    parts = [_xml_part(xml), _file_part(b"p.jpg", b"one"), _file_part(b"p.jpg", b"two")]
    response = _raw_submit(device, parts)
    assert response.status_code == 400
    assert b"same name" in response.data
    assert _nothing_stored(db_session)


def test_compressed_upload_is_refused_clearly(make: Factory, device: DeviceClient, db_session):
    import gzip

    make.publish_md(SIMPLE_FORM)
    boundary = "gz"
    body = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="xml_submission_file"; filename="i.xml"\r\n'
        f"Content-Type: text/xml\r\n\r\n{submission_xml().decode()}\r\n--{boundary}--\r\n"
    ).encode()
    response = device.client.post(
        f"{device.prefix}/submission",
        data=gzip.compress(body),
        content_type=f"multipart/form-data; boundary={boundary}",
        headers={"X-OpenRosa-Version": "1.0", "Content-Encoding": "gzip"},
    )
    assert response.status_code == 400
    assert b"uncompressed" in response.data
    assert _nothing_stored(db_session)


def test_odd_but_valid_metadata_is_stored_as_a_column_can_hold_it(
    make: Factory, device: DeviceClient, db_session
):
    """A long instanceName, NUL in deviceID, User-Agent or a part's Content-Type (which
    PostgreSQL refuses in text), a binary answer no file could be called: the submission is
    kept, byte for byte, and the metadata made storable."""
    make.publish_md(SIMPLE_FORM)
    long_name = "n" * 600
    photo = "p" * 300 + ".jpg"
    xml = submission_xml(body=f"<note_text>x</note_text><photo>{photo}</photo>").replace(
        b"</meta>", f"<instanceName>{long_name}</instanceName></meta>".encode()
    )
    response = _raw_submit(
        device,
        [_xml_part(xml), _file_part(b"extra.jpg", b"jpg", b"image/jp\x00eg")],
        query="?deviceID=collect%00abc",
        **{"User-Agent": "Collect\x00/1"},
    )
    assert response.status_code == 201, response.data
    db_session.rollback()
    submission = db_session.scalars(select(Submission)).one()
    assert submission.xml == xml
    assert submission.instance_name == long_name[:500]
    assert submission.device_key == "collectabc"
    assert submission.user_agent == "Collect/1"
    assert submission.data["photo"] == [photo]
    (attachment,) = submission.attachments
    assert (attachment.name, attachment.content_type) == ("extra.jpg", "image/jpeg")


def test_urls_with_nul_are_not_found(make: Factory, device: DeviceClient):
    make.publish_md(SIMPLE_FORM)
    for path in (
        "/forms/sim%00ple.xml",
        "/forms/sim%00ple/manifest",
        "/forms/simple/attachments/a%00.png",
    ):
        response = device.get(path)
        assert response.status_code == 404, path
        assert b"<OpenRosaResponse" in response.data


def test_integrity_ignores_ids_that_could_not_be_entity_ids(make: Factory, device: DeviceClient):
    import xml.etree.ElementTree as ET

    response = device.get("/datasets/cases/integrity?id=ok-1,a%00b,c%01d," + "y" * 300)
    assert response.status_code == 200
    entities = ET.fromstring(response.data).findall("entities/entity")  # well-formed XML
    assert [e.get("id") for e in entities] == ["ok-1"]


@pytest.mark.parametrize("username", ["a\x00b", "u" * 300], ids=["nul", "over-255"])
@pytest.mark.parametrize("scheme", ["Basic", "Digest"])
def test_odd_user_names_in_credentials_are_only_wrong_credentials(client, username, scheme):
    import base64

    if scheme == "Basic":
        credentials = base64.b64encode(f"{username}:password".encode()).decode()
    else:
        credentials = (
            f'username="{username}", realm="casework", nonce="1.x", uri="/formList", '
            'response="0123456789abcdef0123456789abcdef"'
        )
    response = client.get(
        "/formList",
        headers={"X-OpenRosa-Version": "1.0", "Authorization": f"{scheme} {credentials}"},
        base_url="https://localhost",
    )
    assert response.status_code == 401
    assert b"<OpenRosaResponse" in response.data
