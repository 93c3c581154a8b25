"""Submissions as Collect sends them, and the decisions the server makes about them."""

from __future__ import annotations

import hashlib
import uuid

from sqlalchemy import func, select

from server.blobs.models import Blob
from server.submissions.models import Submission, SubmissionAttachment
from tests.factories import SIMPLE_FORM, DeviceClient, Factory, submission_xml

PHOTO_BODY = "<note_text>hi</note_text><photo>1755699000123.jpg</photo>"


def _count(db_session, model) -> int:
    db_session.rollback()  # end the read snapshot; see what the requests committed
    return db_session.scalar(select(func.count()).select_from(model))


def test_head_is_204_with_accept_content_length(device: DeviceClient):
    response = device.head("/submission")
    assert response.status_code == 204
    assert response.headers["X-OpenRosa-Accept-Content-Length"] == "100000000"
    assert response.headers["X-OpenRosa-Version"] == "1.0"
    assert device.get("/submission").status_code == 204


def test_post_is_201_and_stores_xml_byte_for_byte(make: Factory, device: DeviceClient, db_session):
    make.publish_md(SIMPLE_FORM)
    xml = submission_xml(body="<note_text>café &amp; ünïcode</note_text>")
    response = device.submit(xml)
    assert response.status_code == 201, response.data
    assert b"<OpenRosaResponse" in response.data
    assert response.headers["Content-Type"] == "text/xml; charset=utf-8"
    stored = db_session.scalar(select(Submission))
    assert stored.xml == xml
    assert stored.data["note_text"] == ["café & ünïcode"]
    assert stored.device_key == "collect:AbCdEfGh12345678"


def test_post_without_openrosa_header_is_400(make: Factory, device: DeviceClient):
    make.publish_md(SIMPLE_FORM)
    r = device.client.post(f"/key/{device.token}/submission", data={})
    assert r.status_code == 400
    assert b"X-OpenRosa-Version" in r.data


def test_identical_resend_is_201_and_creates_nothing(
    make: Factory, device: DeviceClient, db_session
):
    make.publish_md(SIMPLE_FORM)
    xml = submission_xml()
    assert device.submit(xml).status_code == 201
    assert device.submit(xml).status_code == 201
    assert _count(db_session, Submission) == 1


def test_changed_xml_for_known_instance_is_409(make: Factory, device: DeviceClient, db_session):
    make.publish_md(SIMPLE_FORM)
    iid = f"uuid:{uuid.uuid4()}"
    assert device.submit(submission_xml(instance_id=iid)).status_code == 201
    r = device.submit(submission_xml(instance_id=iid, body="<note_text>changed</note_text>"))
    assert r.status_code == 409
    assert b'nature="error"' in r.data
    assert _count(db_session, Submission) == 1


def test_split_submission_joins_attachments(make: Factory, device: DeviceClient, db_session):
    make.publish_md(SIMPLE_FORM)
    xml = submission_xml(body=PHOTO_BODY + "<extra>audit.csv</extra>")
    first = device.submit(xml, {"audit.csv": b"event,start\n"}, incomplete=True)
    assert first.status_code == 201
    photo = b"\xff\xd8\xff jpeg bytes"
    second = device.submit(xml, {"1755699000123.jpg": photo})
    assert second.status_code == 201
    assert _count(db_session, Submission) == 1
    rows = {a.name: a for a in db_session.scalars(select(SubmissionAttachment))}
    assert rows["1755699000123.jpg"].blob_sha256 == hashlib.sha256(photo).hexdigest()
    assert rows["audit.csv"].blob_sha256 is not None


def test_attachment_missing_then_supplied_by_resend(
    make: Factory, device: DeviceClient, db_session
):
    make.publish_md(SIMPLE_FORM)
    xml = submission_xml(body=PHOTO_BODY)
    assert device.submit(xml).status_code == 201
    row = db_session.scalar(select(SubmissionAttachment))
    assert row.name == "1755699000123.jpg"
    assert row.blob_sha256 is None
    assert device.submit(xml, {"1755699000123.jpg": b"jpeg"}).status_code == 201
    db_session.rollback()  # end the read snapshot; see what the requests committed
    assert db_session.scalar(select(SubmissionAttachment)).blob_sha256 is not None


def test_identical_attachments_are_stored_once(make: Factory, device: DeviceClient, db_session):
    make.publish_md(SIMPLE_FORM)
    for _ in range(2):
        xml = submission_xml(body=PHOTO_BODY)
        assert device.submit(xml, {"1755699000123.jpg": b"same bytes"}).status_code == 201
    assert _count(db_session, Blob) == 1


def test_deprecated_id_makes_an_edit_of_the_current_version(make, device, db_session):
    make.publish_md(SIMPLE_FORM)
    original = f"uuid:{uuid.uuid4()}"
    assert (
        device.submit(
            submission_xml(instance_id=original, body=PHOTO_BODY), {"1755699000123.jpg": b"jpeg"}
        ).status_code
        == 201
    )
    edit = f"uuid:{uuid.uuid4()}"
    r = device.submit(
        submission_xml(
            instance_id=edit, deprecated_id=original, body=PHOTO_BODY.replace("hi", "edited")
        )
    )
    assert r.status_code == 201
    db_session.rollback()  # end the read snapshot; see what the requests committed
    rows = {s.instance_id: s for s in db_session.scalars(select(Submission))}
    assert rows[original].is_current is False
    assert rows[edit].is_current is True
    assert rows[edit].root_instance_id == original
    # the photo the edit still names carries over without being sent again
    (photo,) = rows[edit].attachments
    assert photo.blob_sha256 is not None

    stale = device.submit(submission_xml(deprecated_id=original))
    assert stale.status_code == 409
    unknown = device.submit(submission_xml(deprecated_id="uuid:not-there"))
    assert unknown.status_code == 404


def test_an_edit_cannot_replace_a_submission_of_another_form(make, device, db_session):
    make.publish_md(SIMPLE_FORM)
    make.publish_md(SIMPLE_FORM.replace("| simple | 1 |", "| other | 1 |"))
    original = f"uuid:{uuid.uuid4()}"
    assert device.submit(submission_xml(instance_id=original)).status_code == 201
    response = device.submit(submission_xml(form_id="other", deprecated_id=original))
    assert response.status_code == 404
    assert b"<OpenRosaResponse" in response.data
    assert b"not a submission of this form" in response.data
    db_session.rollback()
    (stored,) = db_session.scalars(select(Submission)).all()
    assert (stored.instance_id, stored.is_current) == (original, True)


def test_only_the_sender_or_their_supervisor_can_replace_a_submission(
    make: Factory, device: DeviceClient, db_session
):
    make.publish_md(SIMPLE_FORM)
    original = f"uuid:{uuid.uuid4()}"
    assert device.submit(submission_xml(instance_id=original)).status_code == 201
    make.user("cw2", "caseworker", team="north")  # a teammate: caseworkers act on their own
    make.user("sup_s", "supervisor", team="south")
    make.user("sup_n", "supervisor", team="north")
    for stranger in ("cw2", "sup_s"):
        refused = make.device_client(f"phone-{stranger}", stranger).submit(
            submission_xml(deprecated_id=original)
        )
        assert refused.status_code == 403, stranger
        assert b"their supervisor" in refused.data
    db_session.rollback()
    (stored,) = db_session.scalars(select(Submission)).all()
    assert (stored.instance_id, stored.is_current) == (original, True)

    edit = f"uuid:{uuid.uuid4()}"
    supervisor = make.device_client("phone-sup-n", "sup_n")
    assert (
        supervisor.submit(submission_xml(instance_id=edit, deprecated_id=original)).status_code
        == 201
    )
    again = device.submit(submission_xml(deprecated_id=edit))  # the sender edits the new version
    assert again.status_code == 201


def test_unknown_form_version_and_closed_form(make: Factory, device: DeviceClient, client):
    make.publish_md(SIMPLE_FORM)
    assert device.submit(submission_xml(form_id="nope")).status_code == 404
    r = device.submit(submission_xml(version="999"))
    assert r.status_code == 404
    assert b"Get Blank Form" in r.data
    make.user("admin", "admin")
    token = make.api_token("admin")
    client.post(
        "/api/v1/forms/simple/state",
        json={"state": "closing"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert device.submit(submission_xml()).status_code == 201  # closing still accepts
    client.post(
        "/api/v1/forms/simple/state",
        json={"state": "closed"},
        headers={"Authorization": f"Bearer {token}"},
    )
    closed = device.submit(submission_xml())
    assert closed.status_code == 409
    assert b"closed" in closed.data


def test_older_versions_still_accept_submissions(make: Factory, device: DeviceClient):
    make.publish_md(SIMPLE_FORM)
    make.publish_md(SIMPLE_FORM.replace("| simple | 1 |", "| simple | 2 |"))
    assert device.submit(submission_xml(version="1")).status_code == 201
    assert device.submit(submission_xml(version="2")).status_code == 201


def test_encrypted_submission_is_stored_intact(make: Factory, device: DeviceClient, db_session):
    make.publish_md(SIMPLE_FORM)
    iid = f"uuid:{uuid.uuid4()}"
    manifest = (
        '<data xmlns="http://www.opendatakit.org/xforms/encrypted" id="simple" version="1" '
        'encrypted="yes"><base64EncryptedKey>a2V5</base64EncryptedKey>'
        f'<orx:meta xmlns:orx="http://openrosa.org/xforms"><orx:instanceID>{iid}</orx:instanceID>'
        "</orx:meta><media><file>1.jpg.enc</file></media>"
        "<encryptedXmlFile>submission.xml.enc</encryptedXmlFile>"
        "<base64EncryptedElementSignature>c2ln</base64EncryptedElementSignature></data>"
    ).encode()
    files = {"submission.xml.enc": b"\x01\x02ciphertext", "1.jpg.enc": b"\x03\x04"}
    assert device.submit(manifest, files).status_code == 201
    stored = db_session.scalar(select(Submission))
    assert stored.is_encrypted
    assert stored.xml == manifest
    assert {a.name for a in stored.attachments} == {"submission.xml.enc", "1.jpg.enc"}
    assert all(a.blob_sha256 for a in stored.attachments)
