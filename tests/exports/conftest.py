"""Fixtures for export tests: a fresh database per test on SQLite and on PostgreSQL."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from xml.sax.saxutils import escape

import pytest
from pyxform.xls2xform import convert
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

import server.models  # noqa: F401 - registers every table on Base.metadata
from server.auth.models import Device, User
from server.blobs.service import store
from server.db import Base, make_engine
from server.submissions.models import Submission, SubmissionAttachment
from server.submissions.parse import parse_envelope
from server.xforms.definition import parse_definition
from server.xforms.models import XForm, XFormVersion
from tests.conftest import TEST_DATABASE, is_postgres

POSTGRES_URL = TEST_DATABASE if is_postgres() else "postgresql+psycopg://postgres@127.0.0.1/test"


def _postgres_engine() -> Iterator[Engine]:
    schema = f"exports_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception as exc:  # no server here: run the SQLite half only
        admin.dispose()
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL not available, and CI must test it: {exc}")
        pytest.skip(f"PostgreSQL not available: {exc}")
    engine = create_engine(POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"})
    try:
        Base.metadata.create_all(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_engine() -> Iterator[Engine]:
    yield from _postgres_engine()


@pytest.fixture(params=["postgresql" if is_postgres() else "sqlite"])  # the run's engine
def session(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[Session]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path}/exports.db")
        Base.metadata.create_all(engine)
    else:
        engine = request.getfixturevalue("pg_engine")
        names = ", ".join(t.name for t in Base.metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    with Session(engine) as s:
        yield s
    if request.param == "sqlite":
        engine.dispose()


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
    instance_id = instance_id or f"uuid:{uuid.uuid4()}"
    root = version.definition["root_name"]
    body = "".join(element(k, v) for k, v in answers.items())
    xml = (
        f'<{root} id="{version.definition["form_id"]}" version="{version.version}">'
        f"{body}<meta><instanceID>{instance_id}</instanceID></meta></{root}>"
    ).encode()
    envelope = parse_envelope(xml)
    submission = Submission(
        instance_id=instance_id,
        root_instance_id=instance_id,
        is_current=is_current,
        xform_id=version.xform_id,
        xform_version_id=version.id,
        xml=xml,
        xml_sha256=hashlib.sha256(xml).hexdigest(),
        data=envelope.data,
        submitter_id=submitter.id if submitter else None,
        device_id=device.id if device else None,
        received_at=received_at or datetime(2024, 5, 1, 9, 30, tzinfo=UTC),
        review_state=review_state,
    )
    session.add(submission)
    session.flush()
    for name, content in (files or {}).items():
        digest = store(session, content)
        session.add(
            SubmissionAttachment(
                submission_id=submission.id, name=name, blob_sha256=digest, size=len(content)
            )
        )
    session.flush()
    return submission
