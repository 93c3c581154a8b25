"""Export tests: forms and submissions stored on the suite's database fixture."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from xml.sax.saxutils import escape

import pytest
from pyxform.xls2xform import convert
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

import server.models  # noqa: F401 - registers every table on Base.metadata
from server import intake
from server.auth.models import Device, User
from server.submissions.models import Submission
from server.submissions.service import Caller, IncomingFile
from server.xforms.definition import parse_definition
from server.xforms.models import XForm, XFormVersion


@pytest.fixture
def session(bare_engine: Engine) -> Iterator[Session]:
    """The export tests work below the app, on the suite's one database fixture."""
    with Session(bare_engine) as s:
        yield s


def xlsform(survey: str, form_id: str, version: str, choices: str = "") -> str:
    """A markdown XLSForm with the casework namespace declared (for sensitive fields)."""
    settings = (
        "| settings |\n| | form_id | version | namespaces |\n"
        f'| | {form_id} | {version} | casework="urn:casework:xforms" |\n'
    )
    return f"| survey |\n{survey}\n{choices}\n{settings}"


def publish(session: Session, md: str) -> XFormVersion:
    return publish_xml(session, convert(xlsform=md, file_type=".md").xform)


def publish_xml(session: Session, xml: str) -> XFormVersion:
    definition = parse_definition(xml)
    xform = session.query(XForm).filter_by(form_id=definition.form_id).one_or_none()
    if xform is None:
        xform = XForm(form_id=definition.form_id, title=definition.title)
        session.add(xform)
        session.flush()
    version = XFormVersion(
        xform_id=xform.id,
        version=definition.version,
        title=definition.title,
        xml=xml,
        md5=hashlib.md5(xml.encode()).hexdigest(),
        definition=definition.to_json(),
    )
    session.add(version)
    session.flush()
    xform.current_version_id = version.id
    session.flush()
    return version


def make_user(session: Session, username: str, role: str = "caseworker") -> User:
    user = User(username=username, role=role)
    session.add(user)
    session.flush()
    return user


def make_device(session: Session, label: str, user: User) -> Device:
    device = Device(
        label=label, user_id=user.id, token_hash=hashlib.sha256(label.encode()).hexdigest()
    )
    session.add(device)
    session.flush()
    return device


def element(name: str, value: object) -> str:
    """Submission XML for one element: a str is a leaf, a list repeats, a dict nests."""
    if isinstance(value, list):
        return "".join(element(name, v) for v in value)
    if isinstance(value, dict):
        inner = "".join(element(k, v) for k, v in value.items())
        return f"<{name}>{inner}</{name}>"
    return f"<{name}>{escape(str(value))}</{name}>" if value != "" else f"<{name}/>"


def submit(
    session: Session,
    version: XFormVersion,
    answers: dict[str, object],
    *,
    instance_id: str | None = None,
    received_at: datetime | None = None,
    submitter: User | None = None,
    device: Device | None = None,
    files: dict[str, bytes] | None = None,
    is_current: bool = True,
    review_state: str = "received",
) -> Submission:
    """Send a submission through the pipeline (``intake.receive``), as a phone would, then
    give it the review state (and, for an old version of an edit, the place) asked for."""
    instance_id = instance_id or f"uuid:{uuid.uuid4()}"
    root = version.definition["root_name"]
    body = "".join(element(k, v) for k, v in answers.items())
    xml = (
        f'<{root} id="{version.definition["form_id"]}" version="{version.version}">'
        f"{body}<meta><instanceID>{instance_id}</instanceID></meta></{root}>"
    ).encode()
    incoming = [IncomingFile(name, content, None) for name, content in (files or {}).items()]
    caller = Caller(user=submitter or _sender(session), device=device)
    received_at = received_at or datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
    receipt, _ = intake.receive(session, xml, incoming, caller, received_at=received_at)
    # sent by no one known (as to a form open to anonymous phones), reviewed, or replaced
    session.execute(
        update(Submission)
        .where(Submission.id == receipt.submission.id)
        .values(
            submitter_id=submitter.id if submitter else None,
            review_state=review_state,
            is_current=is_current,
        )
    )
    submission = session.get(Submission, receipt.submission.id)
    assert submission is not None
    session.refresh(submission)
    return submission


def _sender(session: Session) -> User:
    found = session.query(User).filter_by(username="sender").one_or_none()
    return found or make_user(session, "sender")
