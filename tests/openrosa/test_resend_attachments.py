"""A resend of a stored submission may only add files still missing, and only from the
sender or someone who may edit the sender's submissions; a stored file is never replaced.
Any other file is refused with an OpenRosa message, and the refusal is audited."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

from flask import Flask
from sqlalchemy import select

from server import db
from server.audit.models import AuditEvent
from server.submissions.models import Submission
from tests.factories import SIMPLE_FORM, DeviceClient, Factory, submission_xml

PHOTO = "1755699000123.jpg"
TWO_PHOTOS = """
| settings |
| | form_id | version |
| | two_photos | 1 |
| survey |
| | type | name | label |
| | image | photo | Photo |
| | image | photo2 | Another photo |
"""
BODY = f"<note_text>hi</note_text><photo>{PHOTO}</photo>"


def _sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _files(app: Flask) -> dict[str, str | None]:
    """name -> sha256 of the stored submission's files."""
    with app.app_context():
        (stored,) = db.session().scalars(select(Submission)).all()
        return {a.name: a.blob_sha256 for a in stored.attachments}


@dataclass(frozen=True)
class Refusal:
    actor: str
    target_type: str
    target: str
    details: dict[str, Any]


def _refusals(app: Flask) -> list[Refusal]:
    with app.app_context():
        rows = db.session().scalars(
            select(AuditEvent).where(AuditEvent.action == "submission.files_refused")
        )
        return [Refusal(e.actor, e.target_type, e.target, e.details) for e in rows]


def test_a_resend_cannot_replace_a_stored_file(app: Flask, make: Factory, device: DeviceClient):
    make.publish_md(SIMPLE_FORM)
    iid = f"uuid:{uuid.uuid4()}"
    xml = submission_xml(instance_id=iid, body=BODY)
    assert device.submit(xml, {PHOTO: b"the real photo"}).status_code == 201

    replaced = device.submit(xml, {PHOTO: b"another photo"})
    assert replaced.status_code == 409
    assert b'nature="error"' in replaced.data
    assert PHOTO.encode() in replaced.data  # the message names the file
    assert _files(app) == {PHOTO: _sha(b"the real photo")}
    (refusal,) = _refusals(app)
    assert refusal.actor == "cw1"
    assert (refusal.target_type, refusal.target) == ("submission", iid)
    assert refusal.details["files"][0]["name"] == PHOTO
    assert refusal.details["files"][0]["sha256"] == _sha(b"another photo")

    # The same file again is a plain resend: nothing changes, nothing is refused.
    assert device.submit(xml, {PHOTO: b"the real photo"}).status_code == 201
    assert len(_refusals(app)) == 1


def test_the_sender_may_add_a_file_not_stored_yet_but_never_replace_one(
    app: Flask, make: Factory, device: DeviceClient
):
    """Collect sends every file of the instance's folder, split over several POSTs: a later
    POST may carry a file the XML does not name. It is kept; a stored file is never
    replaced, whether the XML names it or not."""
    make.publish_md(SIMPLE_FORM)
    xml = submission_xml(body=BODY)
    assert device.submit(xml, {PHOTO: b"photo", "audit.csv": b"a,b"}).status_code == 201
    assert device.submit(xml, {PHOTO: b"photo", "notes.txt": b"new"}).status_code == 201
    replaced = device.submit(xml, {"audit.csv": b"forged"})
    assert replaced.status_code == 409
    assert b"audit.csv" in replaced.data
    assert _files(app) == {
        PHOTO: _sha(b"photo"),
        "audit.csv": _sha(b"a,b"),
        "notes.txt": _sha(b"new"),
    }
    assert [e.details["files"][0]["name"] for e in _refusals(app)] == ["audit.csv"]


def test_another_teams_phone_can_neither_replace_nor_add_files(
    app: Flask, make: Factory, device: DeviceClient
):
    make.publish_md(SIMPLE_FORM)
    xml = submission_xml(body=BODY)
    assert device.submit(xml).status_code == 201  # the photo is still missing
    make.user("cw_s", "caseworker", team="south")
    make.user("cw_n", "caseworker", team="north")  # a teammate: caseworkers act on their own
    for stranger in ("cw_s", "cw_n"):
        phone = make.device_client(f"phone-{stranger}", stranger)
        refused = phone.submit(xml, {PHOTO: b"not yours"})
        assert refused.status_code == 403, stranger
        assert b'nature="error"' in refused.data
        refused = phone.submit(xml, {"new.jpg": b"new"})
        assert refused.status_code == 403, stranger
    assert _files(app) == {PHOTO: None}
    assert {e.actor for e in _refusals(app)} == {"cw_s", "cw_n"}
    assert all(e.details["code"] == "submission.attachment_forbidden" for e in _refusals(app))


def test_the_senders_supervisor_may_add_the_missing_file(
    app: Flask, make: Factory, device: DeviceClient
):
    make.publish_md(SIMPLE_FORM)
    xml = submission_xml(body=BODY)
    assert device.submit(xml).status_code == 201
    make.user("sup_n", "supervisor", team="north")
    supervisor = make.device_client("phone-sup", "sup_n")
    assert supervisor.submit(xml, {PHOTO: b"photo"}).status_code == 201
    assert _files(app) == {PHOTO: _sha(b"photo")}
    assert _refusals(app) == []


def test_a_split_submission_still_adds_its_later_files(
    app: Flask, make: Factory, device: DeviceClient
):
    """Collect repeats the XML in every POST of a split upload, each with other files."""
    make.publish_md(TWO_PHOTOS)
    second = "1755699000456.jpg"
    xml = submission_xml(
        form_id="two_photos", body=f"<photo>{PHOTO}</photo><photo2>{second}</photo2>"
    )
    first = device.submit(xml, {"audit.csv": b"event,start\n", PHOTO: b"one"}, incomplete=True)
    assert first.status_code == 201
    assert device.submit(xml, {second: b"two"}).status_code == 201
    # and a resend of the whole folder afterwards changes nothing
    everything = {"audit.csv": b"event,start\n", PHOTO: b"one", second: b"two"}
    assert device.submit(xml, everything).status_code == 201
    stored = _files(app)
    assert stored[PHOTO] == _sha(b"one")
    assert stored["audit.csv"] == _sha(b"event,start\n")
    assert _refusals(app) == []
