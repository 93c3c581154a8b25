"""Case tests work below the app, on the suite's database fixture (``tests/conftest.py``),
and send submissions through the pipeline (``World.submit``)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

import server.models  # noqa: F401  (registers every table on Base.metadata)
from server import intake
from server.auth.models import User
from server.cases.routing import ApplyResult
from server.submissions.models import Submission
from server.submissions.service import Caller
from server.xforms.models import XForm, XFormVersion
from tests.cases import forms


@pytest.fixture
def engine(bare_engine: Engine) -> Engine:
    """The case tests work below the app, on the suite's one database fixture."""
    return bare_engine


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as s:
        yield s
        s.rollback()


class World:
    """Rows a case test needs: users, published forms, received submissions."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.versions: dict[str, XFormVersion] = {}

    def user(self, username: str, role: str = "caseworker", team: str | None = "north") -> User:
        user = User(username=username, role=role, team=team)
        self.session.add(user)
        self.session.flush()
        return user

    def version(self, md: str) -> XFormVersion:
        definition = forms.definition(md)
        if definition.form_id in self.versions:
            return self.versions[definition.form_id]
        xml = forms.xform(md)
        xform = XForm(form_id=definition.form_id, title=definition.title)
        self.session.add(xform)
        self.session.flush()
        version = XFormVersion(
            xform_id=xform.id,
            version=definition.version,
            xml=xml,
            md5=hashlib.md5(xml.encode(), usedforsecurity=False).hexdigest(),
            definition=definition.to_json(),
        )
        self.session.add(version)
        self.session.flush()
        self.versions[definition.form_id] = version
        return version

    def submit(
        self, md: str, xml: bytes, submitter: User | None, received_at: datetime
    ) -> tuple[Submission, ApplyResult]:
        """Send a submission through the pipeline, as a device would (``intake.receive``)."""
        self.version(md)
        self.session.commit()
        caller = Caller(user=submitter or self.anyone(), device=None)
        receipt, result = intake.receive(self.session, xml, [], caller, received_at=received_at)
        assert result is not None
        submission = self.session.get(Submission, receipt.submission.id)
        assert submission is not None
        return submission, result

    def anyone(self) -> User:
        """A sender for a form that names no case."""
        found = self.session.query(User).filter_by(username="anyone").one_or_none()
        return found or self.user("anyone", team=None)


@pytest.fixture
def world(session: Session) -> World:
    return World(session)
