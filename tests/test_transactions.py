"""The transaction rule: services flush and the edges commit; SQLite writers go through
``db.write_transaction``."""

from __future__ import annotations

import ast
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, jsonify
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from server import db
from server.audit import service as audit
from server.audit.models import AuditEvent
from server.auth import auth_settings
from server.auth import devices as auth_devices
from server.auth import service as auth
from server.auth.models import ApiToken, LoginThrottle, User
from server.errors import AppError
from server.openrosa import views
from tests.conftest import is_postgres
from tests.factories import PASSWORD, SIMPLE_FORM, DeviceClient, Factory, submission_xml

ROOT = Path(__file__).resolve().parents[1]


def _written(engine: Engine) -> dict[str, Any]:
    """What another connection sees committed of what the service calls below write."""
    with engine.connect() as conn:
        return {
            "audit": conn.scalar(select(func.count()).select_from(AuditEvent)),
            "throttle": conn.scalar(select(func.count()).select_from(LoginThrottle)),
            "token_used": conn.scalar(select(ApiToken.last_used_at)),
            "signed_in": conn.scalar(select(User.last_login_at).where(User.username == "boss")),
        }


# Service calls that write, each after the request has written something of its own (an
# audit entry): a service that committed would keep both.
CALLS: dict[str, Callable[[Session, str], Any]] = {
    "an audit entry": lambda s, _: audit.record(s, None, "test.probe"),
    "an API token's use noted": lambda s, token: auth_devices.user_for_api_token(s, token),
    "a sign-in noted": lambda s, _: auth.authenticate_password(
        s, auth_settings(), "boss", PASSWORD, "192.0.2.1"
    ),
    "a failed sign-in counted": lambda s, _: auth.authenticate_password(
        s, auth_settings(), "boss", "wrong password", "192.0.2.1"
    ),
}


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("call", list(CALLS))
def test_a_request_that_fails_after_a_service_call_leaves_nothing_written(
    app: Flask, make: Factory, engine: Engine, call: str, method: str
):
    make.user("boss", "admin")
    token = make.api_token("boss")
    called = []

    def view() -> Any:
        session = db.session()
        audit.record(session, None, "test.before")
        with suppress(AppError):
            CALLS[call](session, token)
        called.append(call)
        raise AppError("request.invalid")

    app.config["WTF_CSRF_ENABLED"] = False
    app.add_url_rule("/test/fails-after-a-service", "fails", view, methods=[method])
    before = _written(engine)
    response = app.test_client().open("/test/fails-after-a-service", method=method)
    assert (response.status_code, called) == (400, [call])
    assert _written(engine) == before


@pytest.mark.skipif(is_postgres(), reason="SQLite's one write lock")
def test_a_write_transaction_after_a_read_waits_its_turn_and_leaves_the_commit(
    app: Flask, engine: Engine
):
    with app.app_context():
        session = db.session()
        session.scalars(select(AuditEvent)).all()  # a read transaction
        with engine.begin() as other:  # another connection commits meanwhile
            other.execute(insert(AuditEvent).values(actor="", action="test.other", details={}))
        # Writing in the read transaction now would fail at once ("database is locked").
        with db.write_transaction(session):
            session.add(AuditEvent(actor="", action="test.mine", details={}))
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == 2  # flushed
        assert _written(engine)["audit"] == 1  # not committed: that is the edge's
        session.commit()
    assert _written(engine)["audit"] == 2


@pytest.mark.skipif(is_postgres(), reason="SQLite's one write lock")
@pytest.mark.parametrize(("method", "writer"), [("POST", True), ("GET", False)])
def test_each_transaction_of_a_request_that_may_write_begins_as_a_writer(
    app: Flask, method: str, writer: bool
):
    def view() -> Any:
        session = db.session()
        session.execute(select(1))
        first = session.connection().get_execution_options().get(db.WRITE_INTENT, False)
        session.commit()  # an edge's commit in the middle of the request
        session.execute(select(1))
        second = session.connection().get_execution_options().get(db.WRITE_INTENT, False)
        return jsonify([first, second])

    app.config["WTF_CSRF_ENABLED"] = False
    app.add_url_rule("/test/writer", "writer", view, methods=[method])
    assert app.test_client().open("/test/writer", method=method).get_json() == [writer, writer]


# Where a commit may be written: the edges. Everything else flushes.
EDGES = ("server/db.py", "server/intake.py", "server/auth/loaders.py")
EDGE_PACKAGES = ("server/api/", "server/openrosa/", "server/web/", "server/commands/")


def test_only_the_edges_commit():
    found = []
    for path in sorted([*ROOT.glob("server/**/*.py"), *ROOT.glob("exports/**/*.py")]):
        name = path.relative_to(ROOT).as_posix()
        if name in EDGES or name.startswith(EDGE_PACKAGES):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr == "commit":
                found.append(f"{name}:{node.lineno}")
    assert found == []


@pytest.mark.skipif(is_postgres(), reason="SQLite's one write lock")
def test_a_submission_body_is_parsed_outside_the_write_lock(
    make: Factory, device: DeviceClient, monkeypatch: pytest.MonkeyPatch
):
    make.publish_md(SIMPLE_FORM)
    seen = []
    parse = views._submission_parts

    def watched() -> Any:
        session = db.session()
        conn = session.connection()
        seen.append(bool(conn.get_execution_options().get(db.WRITE_INTENT)))
        return parse()

    monkeypatch.setattr(views, "_submission_parts", watched)
    assert device.submit(submission_xml()).status_code == 201
    assert seen == [False]
