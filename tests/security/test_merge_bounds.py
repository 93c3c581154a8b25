"""A submission too large to merge is stored verbatim, its merge refused with a catalogue
error, and a supervisor sees the failure; the bounds are settings (``server.config``).

An answer longer than MAX_ANSWER_BYTES, or more repeat instances than MAX_REPEAT_INSTANCES,
in a case form's submission: the phone gets its 201 (nothing is lost), the submission's
merge is ``failed`` with ``submission.answer_too_large`` / ``submission.too_many_repeats``,
the case does not change, and the team's supervisor reads that state and error through the
submissions API, where failed merges are shown. `casework reprocess` refuses it again.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from server import create_app, db, intake
from server.cases.settings import case_settings
from server.db import get_database
from server.submissions.models import Submission
from tests.conftest import app_config
from tests.factories import DeviceClient, Factory, bearer
from tests.realforms import contact_log, new_case_plan

REF = "CP-BIG-001"
REFERRAL = re.compile(rb"<health_referral>.*?</health_referral>", re.S)


def big_contact(entity_id: str, *, answer_bytes: int = 0, repeats: int = 1) -> tuple[bytes, str]:
    """A real contact log, with its safety-plan answer ``answer_bytes`` long (if given) and
    ``repeats`` instances of its health referral repeat."""
    instance_id = f"uuid:{uuid.uuid4()}"
    xml = contact_log(
        REF,
        entity_id,
        base_version=1,
        contact_time="2026-11-24T10:00:00Z",
        risk="low",
        instance_id=instance_id,
    )
    if answer_bytes:
        xml = xml.replace(b"Aunt, by phone", b"x" * answer_bytes)
    match = REFERRAL.search(xml)
    assert match is not None
    xml = xml[: match.start()] + match.group(0) * repeats + xml[match.end() :]
    return xml, instance_id


@pytest.fixture
def bounded(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    """The app with small bounds, as settings: answers of 1 000 bytes, 20 repeat instances."""
    application = create_app(
        app_config(database_url, tmp_path / "data", MAX_ANSWER_BYTES=1000, MAX_REPEAT_INSTANCES=20)
    )
    yield application
    get_database(application).engine.dispose()


def _stored(app: Flask, instance_id: str) -> Submission:
    with app.app_context():
        session = db.session()
        found = session.query(Submission).filter_by(instance_id=instance_id).one()
        session.expunge(found)
        return found


def _setup(app: Flask) -> tuple[Factory, DeviceClient, str, dict[str, str]]:
    from tests.realforms import xlsform_bytes

    make = Factory(app)
    for form_id in ("case_plan", "contact_log"):
        make.publish_bytes(xlsform_bytes(form_id), f"{form_id}.xlsx")
    make.user("cw1", "caseworker", team="north")
    make.user("sup", "supervisor", team="north")
    phone = make.device_client("phone-1", "cw1")
    plan, entity_id = new_case_plan(REF, risk="high")
    assert phone.submit(plan).status_code == 201
    return make, phone, entity_id, bearer(make.api_token("sup"))


@pytest.mark.parametrize(
    ("size", "code"),
    [
        ({"answer_bytes": 1001}, "submission.answer_too_large"),
        ({"repeats": 21}, "submission.too_many_repeats"),
    ],
    ids=["answer", "repeats"],
)
def test_a_submission_beyond_the_bounds_is_kept_and_its_merge_refused(
    bounded: Flask, size: dict[str, int], code: str
) -> None:
    _, phone, entity_id, sup = _setup(bounded)
    client: FlaskClient = bounded.test_client()
    xml, instance_id = big_contact(entity_id, **size)
    response = phone.submit(xml)
    assert response.status_code == 201  # the data is safe: the phone is done with it

    stored = _stored(bounded, instance_id)
    assert stored.xml == xml  # verbatim
    assert stored.processing_state == "failed"
    assert (stored.processing_error or "").startswith(f"{code}: ")
    case = client.get(f"/api/v1/cases/{REF}", headers=sup).json
    assert case["risk_level"] == "high"  # the contact's "low" was not merged
    assert [t["form_id"] for t in case["timeline"]] == ["case_plan"]

    # the team's supervisor sees the failed merge and why
    seen = client.get(f"/api/v1/forms/contact_log/submissions/{instance_id}", headers=sup)
    assert seen.status_code == 200
    assert seen.json["processing_state"] == "failed"
    assert seen.json["processing_error"].startswith(f"{code}: ")

    # reprocessing refuses it again, with the same code
    with bounded.app_context():
        session = db.session()
        (result,) = intake.reprocess(session, instance_id, settings=case_settings(bounded))
        session.commit()
    assert result.state == "failed"
    assert (result.error or "").startswith(f"{code}: ")


def test_a_submission_within_the_bounds_merges(bounded: Flask) -> None:
    _, phone, entity_id, sup = _setup(bounded)
    xml, instance_id = big_contact(entity_id, answer_bytes=1000, repeats=20)
    assert phone.submit(xml).status_code == 201
    assert _stored(bounded, instance_id).processing_state == "applied"
    case = bounded.test_client().get(f"/api/v1/cases/{REF}", headers=sup).json
    assert case["risk_level"] == "low"


def test_the_default_bounds(app: Flask) -> None:
    """64 KiB per answer and 1 000 repeat instances unless the settings say otherwise."""
    settings = case_settings(app)
    assert (settings.max_answer_bytes, settings.max_repeat_instances) == (64 * 1024, 1000)
    _, phone, entity_id, _ = _setup(app)
    over, over_id = big_contact(entity_id, answer_bytes=64 * 1024 + 1)
    assert phone.submit(over).status_code == 201
    assert (_stored(app, over_id).processing_error or "").startswith(
        "submission.answer_too_large: "
    )
    many, many_id = big_contact(entity_id, repeats=1001)
    assert phone.submit(many).status_code == 201
    assert (_stored(app, many_id).processing_error or "").startswith(
        "submission.too_many_repeats: "
    )
