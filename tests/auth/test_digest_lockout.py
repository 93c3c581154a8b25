"""Digest sign-in shares the password lock-out: counted failures, refusal while locked, audit."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.audit.models import AuditEvent
from server.auth.digest import make_nonce
from server.auth.models import LoginThrottle, User
from tests.auth.test_device_auth import H, _basic, _digest_header
from tests.factories import PASSWORD, Factory


def _challenge(client: FlaskClient) -> str:
    response = client.head("/submission", headers=H)
    assert response.status_code == 401
    return response.headers["WWW-Authenticate"]


def _digest_head(client: FlaskClient, password: str, *, challenge: str | None = None) -> int:
    auth = _digest_header(challenge or _challenge(client), "HEAD", "/submission", "cw", password)
    return client.head("/submission", headers={**H, "Authorization": auth}).status_code


def _user(db_session: Session) -> User:
    db_session.rollback()  # a fresh read: see what the requests committed
    user = db_session.scalar(select(User).where(User.username == "cw"))
    assert user is not None
    return user


def _failures(db_session: Session) -> int:
    """Failures counted for "cw" from the test client's address (0 once cleared)."""
    db_session.rollback()
    row = db_session.scalar(
        select(LoginThrottle).where(LoginThrottle.scope == "pair", LoginThrottle.username == "cw")
    )
    return row.failures if row is not None else 0


def _locked(db_session: Session) -> bool:
    db_session.rollback()
    return any(
        row.locked_until is not None
        for row in db_session.scalars(select(LoginThrottle).where(LoginThrottle.username == "cw"))
    )


def _actions(db_session: Session) -> list[str]:
    db_session.rollback()
    return list(db_session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_wrong_digest_answers_are_counted_and_lock_the_account(
    make: Factory, client: FlaskClient, db_session: Session
):
    make.user("cw", "caseworker")
    for _ in range(4):
        assert _digest_head(client, "a wrong guess") == 401
    assert _failures(db_session) == 4
    assert _actions(db_session).count("auth.login_failed") == 4
    assert _digest_head(client, "a wrong guess") == 401
    assert _locked(db_session)
    # locked: refused with the right answer, by Digest and by Basic alike
    assert _digest_head(client, PASSWORD) == 429
    basic = client.head(
        "/submission",
        headers={**H, "Authorization": _basic("cw", PASSWORD)},
        base_url="https://localhost",
    )
    assert basic.status_code == 429
    assert "auth.login_locked" in _actions(db_session)


def test_an_account_locked_by_basic_refuses_the_right_digest_answer(
    make: Factory, client: FlaskClient
):
    make.user("cw", "caseworker")
    for _ in range(5):
        client.head(
            "/submission",
            headers={**H, "Authorization": _basic("cw", "wrong")},
            base_url="https://localhost",
        )
    response = client.get(
        "/formList",
        headers={
            **H,
            "Authorization": _digest_header(_challenge(client), "GET", "/formList", "cw", PASSWORD),
        },
    )
    assert response.status_code == 429
    assert b"Too many failed sign-ins" in response.data
    assert response.headers["X-OpenRosa-Version"] == "1.0"


def test_challenges_and_stale_nonces_are_not_failures(
    make: Factory, client: FlaskClient, db_session: Session
):
    make.user("cw", "caseworker")
    for _ in range(6):
        _challenge(client)  # Collect's first request carries no credentials
    stale = re.sub(
        r'nonce="[^"]+"',
        f'nonce="{make_nonce("test-secret-key", now=1_000_000)}"',
        _challenge(client),
    )
    for _ in range(6):
        response = client.head(
            "/submission",
            headers={
                **H,
                "Authorization": _digest_header(stale, "HEAD", "/submission", "cw", PASSWORD),
            },
        )
        assert response.status_code == 401
        assert "stale=true" in response.headers["WWW-Authenticate"]
    assert (_failures(db_session), _locked(db_session)) == (0, False)
    assert _digest_head(client, PASSWORD) == 204


def test_a_good_digest_answer_resets_the_count_and_is_noted(
    make: Factory, client: FlaskClient, db_session: Session
):
    make.user("cw", "caseworker")
    assert _digest_head(client, "a wrong guess") == 401
    assert _failures(db_session) == 1
    assert _digest_head(client, PASSWORD) == 204
    assert _digest_head(client, PASSWORD) == 204
    assert _failures(db_session) == 0
    assert _user(db_session).last_login_at is not None
    # noted once, not on every request Collect makes
    assert _actions(db_session).count("auth.login") == 1


@pytest.mark.parametrize(
    "params",
    [
        {"nonce": "1.\u00e9"},
        {"response": "\u00e9"},
        {"username": "\u00e9"},
        {"nonce": "\u00b2.x"},
        {"algorithm": "\u00e9"},
    ],
)
def test_non_ascii_digest_values_are_refused_with_a_challenge(
    make: Factory, client: FlaskClient, params: dict[str, str]
):
    make.user("cw", "caseworker")
    auth = _digest_header(_challenge(client), "HEAD", "/submission", "cw", PASSWORD)
    for name, value in params.items():
        auth = re.sub(rf'\b{name}="?[^",]*"?', f'{name}="{value}"', auth)
    response = client.head("/submission", headers={**H, "Authorization": auth})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Digest ")


def test_a_wrong_basic_password_is_answered_with_the_challenges(make: Factory, client: FlaskClient):
    make.user("cw", "caseworker")
    response = client.get(
        "/formList",
        headers={**H, "Authorization": _basic("cw", "wrong")},
        base_url="https://localhost",
    )
    assert response.status_code == 401
    challenges = response.headers.get_all("WWW-Authenticate")
    assert [c.split()[0] for c in challenges] == ["Digest", "Basic"]
