"""A submission stored but never merged (the server stopped in between) is merged later: by a
resend of it, by `casework reprocess`, or when the server starts again. Never twice."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, text

from server import db, intake
from server.cases import routing as cases
from server.cases.models import Case, CaseContribution
from server.cases.settings import case_settings
from server.submissions.models import Submission
from server.submissions.parse import parse_envelope
from server.submissions.queries import get_by_instance_id
from server.xforms.definition import FormDefinition
from server.xforms.models import XFormVersion
from tests.conftest import is_postgres
from tests.factories import DeviceClient
from tests.realforms import new_case_plan


class Killed(BaseException):
    """The process died: nothing after this point ran, nothing uncommitted was kept."""


def _stored_unmerged(device: DeviceClient, monkeypatch: pytest.MonkeyPatch, xml: bytes) -> None:
    """Send ``xml`` and stop the server between storing it and merging it."""

    def die(*_args: Any, **_kwargs: Any) -> Any:
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(cases, "apply", die)
        with pytest.raises(Killed):
            device.submit(xml)


def _state(app: Flask, instance_id: str) -> tuple[str, bool, int]:
    """(processing state, whether the case exists, how many contributions it made)."""
    with app.app_context():
        session = db.session()
        submission = get_by_instance_id(session, instance_id)
        assert submission is not None
        contributions = session.scalar(
            select(func.count())
            .select_from(CaseContribution)
            .where(CaseContribution.submission_id == submission.id)
        )
        case = session.scalar(select(Case).where(Case.case_ref == "CP-CRASH-1"))
        return submission.processing_state, case is not None, int(contributions or 0)


def _instance_id(xml: bytes) -> str:
    return parse_envelope(xml).instance_id


def test_a_resend_merges_a_submission_stored_but_never_merged(
    app: Flask, published: None, device: DeviceClient, monkeypatch: pytest.MonkeyPatch
):
    xml, _ = new_case_plan("CP-CRASH-1")
    _stored_unmerged(device, monkeypatch, xml)
    assert _state(app, _instance_id(xml)) == ("pending", False, 0)

    resent = device.submit(xml)
    assert resent.status_code == 201
    assert _state(app, _instance_id(xml)) == ("applied", True, 1)
    assert device.submit(xml).status_code == 201  # once merged, a resend changes nothing
    assert _state(app, _instance_id(xml)) == ("applied", True, 1)


def test_reprocess_merges_submissions_left_pending_as_well_as_failed(
    app: Flask, published: None, device: DeviceClient, monkeypatch: pytest.MonkeyPatch
):
    xml, _ = new_case_plan("CP-CRASH-1")
    _stored_unmerged(device, monkeypatch, xml)
    with app.app_context():
        session = db.session()
        results = intake.reprocess(session, settings=case_settings(app))
        assert [(r.instance_id, r.state) for r in results] == [(_instance_id(xml), "applied")]
    assert _state(app, _instance_id(xml)) == ("applied", True, 1)
    with app.app_context():  # nothing left to do
        assert intake.reprocess(db.session(), settings=case_settings(app)) == []


def test_the_start_up_sweep_merges_only_what_was_left_pending(
    app: Flask, published: None, device: DeviceClient, monkeypatch: pytest.MonkeyPatch
):
    xml, _ = new_case_plan("CP-CRASH-1")
    _stored_unmerged(device, monkeypatch, xml)
    with app.app_context():
        session = db.session()
        failed = session.scalar(select(Submission).where(Submission.processing_state == "pending"))
        assert failed is not None
        results = intake.reprocess(session, states=("pending",), settings=case_settings(app))
        assert [r.state for r in results] == ["applied"]
    assert _state(app, _instance_id(xml)) == ("applied", True, 1)


@pytest.mark.skipif(not is_postgres(), reason="two transactions merging at once: PostgreSQL")
def test_a_submission_being_merged_is_not_merged_again_by_a_resend_or_reprocess(
    app: Flask, published: None, device: DeviceClient, monkeypatch: pytest.MonkeyPatch
):
    xml, _ = new_case_plan("CP-CRASH-1")
    _stored_unmerged(device, monkeypatch, xml)
    iid = _instance_id(xml)
    settings = case_settings(app)
    with app.app_context():
        # A server process merging it right now: its transaction is open, not committed.
        merging = db.get_database(app).sessionmaker()
        submission = get_by_instance_id(merging, iid)
        assert submission is not None
        version = merging.get(XFormVersion, submission.xform_version_id)
        assert version is not None
        read = (FormDefinition.from_json(version.definition), parse_envelope(xml))
        cases.apply(merging, submission, settings=settings, read=read, states=("pending",))
        answers: list[Any] = []

        def resend() -> None:
            answers.append(device.submit(xml).status_code)

        def reprocess() -> None:
            with app.app_context():
                session = db.session()
                answers.append(intake.reprocess(session, settings=settings))

        others = [threading.Thread(target=resend), threading.Thread(target=reprocess)]
        for t in others:
            t.start()
        others[0].join(timeout=1.5)
        assert others[0].is_alive()  # the resend waits for the merge under way
        merging.commit()
        merging.close()
        for t in others:
            t.join(timeout=30)
        assert sorted(map(str, answers)) == ["201", "[]"]  # reprocess skipped it
    assert _state(app, iid) == ("applied", True, 1)
    with app.app_context():
        assert db.session().execute(text("SELECT count(*) FROM case_record")).scalar() == 1
