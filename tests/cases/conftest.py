"""A throwaway database per test, on SQLite and on PostgreSQL, plus row builders.

PostgreSQL tests use a schema of their own (``cases_tests_<pid>``) in the shared ``test``
database, and are skipped when no server answers.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

import server.models  # noqa: F401  (registers every table on Base.metadata)
from server import intake
from server.auth.models import User
from server.cases.routing import ApplyResult
from server.db import Base, make_engine
from server.submissions.models import Submission
from server.submissions.service import Caller
from server.xforms.models import XForm, XFormVersion
from tests.cases import forms
from tests.conftest import TEST_DATABASE, is_postgres

PG_URL = TEST_DATABASE if is_postgres() else "postgresql+psycopg://postgres@127.0.0.1/test"
# One engine per run, the run's own (CASEWORK_TEST_DATABASE), as every other folder does.
ENGINE = "postgresql" if is_postgres() else "sqlite"


@pytest.fixture(scope="session")
def pg_engine() -> Iterator[Engine | None]:
    schema = f"cases_tests_{os.getpid()}"
    admin = create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except OperationalError:
        admin.dispose()
        yield None
        return
    engine = make_engine(f"{PG_URL}?options=-csearch_path%3D{schema}")
    yield engine
    engine.dispose()
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=[ENGINE])
def engine(
    request: pytest.FixtureRequest, tmp_path: Path, pg_engine: Engine | None
) -> Iterator[Engine]:
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'cases.sqlite3'}")
        Base.metadata.create_all(eng)
        yield eng
        eng.dispose()
        return
    if pg_engine is None:
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL is not reachable, and CI must test it")
        pytest.skip("PostgreSQL is not reachable")
    Base.metadata.drop_all(pg_engine)
    Base.metadata.create_all(pg_engine)
    yield pg_engine
    Base.metadata.drop_all(pg_engine)


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
