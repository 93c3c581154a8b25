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
