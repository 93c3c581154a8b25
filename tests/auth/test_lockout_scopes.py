"""The lock-out counts failures per account from one address, per address, and per account
from everywhere (with a much higher bar), and answers the same for names that exist and
names that do not, by Basic and by Digest alike."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from server.auth.models import LoginThrottle
from server.timeutil import utcnow
from tests.auth.test_device_auth import H, _basic, _digest_header
from tests.factories import PASSWORD, Factory

ATTACKER = "203.0.113.7"
OWNER = "198.51.100.20"


def _basic_head(client: FlaskClient, username: str, password: str, address: str) -> int:
    return client.head(
        "/submission",
        headers={**H, "Authorization": _basic(username, password)},
        base_url="https://localhost",
        environ_base={"REMOTE_ADDR": address},
    ).status_code


def _digest_head(client: FlaskClient, username: str, password: str, address: str) -> int:
    challenge = client.head("/submission", headers=H).headers["WWW-Authenticate"]
    auth = _digest_header(challenge, "HEAD", "/submission", username, password)
    return client.head(
        "/submission",
        headers={**H, "Authorization": auth},
        environ_base={"REMOTE_ADDR": address},
    ).status_code


@pytest.mark.parametrize("attempt", [_basic_head, _digest_head])
def test_unknown_names_are_answered_like_known_ones(make: Factory, client: FlaskClient, attempt):
    make.user("cw", "caseworker")
    known = [attempt(client, "cw", "a wrong guess", ATTACKER) for _ in range(6)]
    unknown = [attempt(client, "nobody", "a wrong guess", ATTACKER) for _ in range(6)]
    assert known == unknown == [401] * 5 + [429]


@pytest.mark.parametrize("attempt", [_basic_head, _digest_head])
def test_failures_from_one_address_do_not_lock_the_owner_out_from_another(
    make: Factory, client: FlaskClient, attempt
):
    make.user("admin1", "admin")
    for _ in range(8):
        attempt(client, "admin1", "a wrong guess", ATTACKER)
    assert attempt(client, "admin1", PASSWORD, ATTACKER) == 429
    assert attempt(client, "admin1", PASSWORD, OWNER) == 204


def test_an_address_failing_across_accounts_is_locked_for_every_account(
    make: Factory, client: FlaskClient, app: Flask
):
    app.config["LOGIN_ADDRESS_MAX_FAILURES"] = 8
    make.user("cw", "caseworker")
    for n in range(8):  # never 5 on one name: only the address's count can lock it
        assert _basic_head(client, f"guess{n % 4}", "a wrong guess", ATTACKER) == 401
    assert _basic_head(client, "cw", PASSWORD, ATTACKER) == 429
    assert _digest_head(client, "cw", PASSWORD, ATTACKER) == 429
    assert _basic_head(client, "cw", PASSWORD, OWNER) == 204


def test_many_addresses_failing_on_one_account_lock_it_everywhere(
    make: Factory, client: FlaskClient, app: Flask
):
    app.config["LOGIN_ACCOUNT_MAX_FAILURES"] = 12
    make.user("cw", "caseworker")
    for n in range(12):  # 3 from each of 4 addresses: no address nor pair reaches its bar
        assert _basic_head(client, "cw", "a wrong guess", f"192.0.2.{n % 4}") == 401
    assert _basic_head(client, "cw", PASSWORD, OWNER) == 429
    assert _basic_head(client, "other", PASSWORD, OWNER) == 401  # other accounts are not


def test_failures_count_within_the_lockout_time_and_old_counts_are_cleared(
    make: Factory, client: FlaskClient, db_session: Session
):
    make.user("cw", "caseworker")
    for _ in range(4):
        assert _basic_head(client, "cw", "a wrong guess", ATTACKER) == 401
    db_session.rollback()
    long_ago = utcnow() - timedelta(hours=1)
    db_session.execute(update(LoginThrottle).values(window_started_at=long_ago))
    db_session.add(
        LoginThrottle(
            key="x" * 64,
            scope="address",
            address="192.0.2.99",
            failures=3,
            window_started_at=long_ago,
        )
    )
    db_session.commit()
    assert _basic_head(client, "cw", "a wrong guess", ATTACKER) == 401  # a new count: 1
    assert _basic_head(client, "cw", PASSWORD, ATTACKER) == 204
    db_session.rollback()
    rows = db_session.scalars(select(LoginThrottle)).all()
    assert sorted((row.scope, row.failures) for row in rows) == [("account", 1), ("address", 1)]
