"""Reads keep working while another process writes to the SQLite database.

A SQLite transaction that has read cannot start writing once another connection has
committed: it fails at once with "database is locked". Requests that read and then note
something (a token's use, a sign-in, an audit entry for what they showed) must instead wait
for the write lock. Each test holds the lock from a second connection, as a submission being
stored would, and commits a change while the request is under way.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.auth.test_device_auth import H, _basic, _digest_header
from tests.conftest import is_postgres
from tests.factories import PASSWORD, SIMPLE_FORM, Factory

pytestmark = pytest.mark.skipif(is_postgres(), reason="SQLite's single writer lock")


@contextmanager
def another_writer(database_url: str, delay: float = 0.8) -> Iterator[None]:
    """Hold the write lock from another connection and commit a change after ``delay``."""
    conn = sqlite3.connect(
        database_url.removeprefix("sqlite:///"),
        isolation_level=None,
        timeout=30,
        check_same_thread=False,
    )
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("UPDATE user_account SET display_name = display_name || 'x'")
    timer = threading.Timer(delay, lambda: conn.execute("COMMIT"))
    timer.start()
    try:
        yield
    finally:
        timer.join()
        conn.close()


@pytest.fixture
def setup(make: Factory) -> dict[str, str]:
    make.publish_md(SIMPLE_FORM)
    make.user("cw", "caseworker")
    make.user("boss", "admin")
    return {"token": make.api_token("boss")}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_first_use_of_a_token_during_a_write(
    client: FlaskClient, setup: dict[str, str], database_url: str
):
    with another_writer(database_url):
        response = client.get("/api/v1/forms", headers=_bearer(setup["token"]))
    assert response.status_code == 200


def test_an_audited_read_during_a_write(
    client: FlaskClient, setup: dict[str, str], database_url: str
):
    headers = _bearer(setup["token"])
    assert client.get("/api/v1/cases", headers=headers).status_code == 200  # token use noted
    with another_writer(database_url):
        response = client.get("/api/v1/cases", headers=headers)
    assert response.status_code == 200
    assert client.get("/api/v1/cases", headers=headers).status_code == 200


def _basic_form_list(client: FlaskClient, password: str) -> TestResponse:
    return client.get(
        "/formList",
        headers={**H, "Authorization": _basic("cw", password)},
        base_url="https://localhost",
    )


def _digest_form_list(client: FlaskClient, password: str) -> TestResponse:
    challenge = client.head("/submission", headers=H).headers["WWW-Authenticate"]
    auth = _digest_header(challenge, "GET", "/formList", "cw", password)
    return client.get("/formList", headers={**H, "Authorization": auth})


@pytest.mark.parametrize(
    ("sign_in", "password", "status"),
    [
        (_basic_form_list, PASSWORD, 200),
        (_basic_form_list, "wrong", 401),
        (_digest_form_list, PASSWORD, 200),
        (_digest_form_list, "wrong", 401),
    ],
)
def test_a_device_sign_in_during_a_write(
    client: FlaskClient,
    setup: dict[str, str],
    database_url: str,
    sign_in: Callable[[FlaskClient, str], TestResponse],
    password: str,
    status: int,
):
    with another_writer(database_url):
        response = sign_in(client, password)
    assert response.status_code == status
