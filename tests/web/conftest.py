"""Web page fixtures: CSRF switched on, and a client that signs in the way a browser does."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from server import create_app
from server.db import get_database
from tests.conftest import app_config
from tests.factories import PASSWORD

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    """The shared app fixture, with CSRF on so that tests can see it refuse."""
    application = create_app(app_config(database_url, tmp_path / "data", WTF_CSRF_ENABLED=True))
    yield application
    get_database(application).engine.dispose()


class Web:
    """A browser-like test client: keeps the session and the page's CSRF token."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def token(self) -> str:
        page = self.client.get("/login")
        match = _TOKEN.search(page.get_data(as_text=True))
        if match is None:  # signed in: the sign-out form on any page carries it
            page = self.client.get("/", follow_redirects=True)
            match = _TOKEN.search(page.get_data(as_text=True))
        assert match is not None, "no CSRF token on the page"
        return match.group(1)

    def get(self, url: str, **kw: Any) -> TestResponse:
        return self.client.get(url, **kw)

    def post(
        self, url: str, data: dict[str, Any] | None = None, *, csrf: bool = True, **kw: Any
    ) -> TestResponse:
        data = dict(data or {})
        if csrf:
            data["csrf_token"] = self.token()
        return self.client.post(url, data=data, **kw)

    def login(self, username: str, password: str = PASSWORD) -> TestResponse:
        return self.post("/login", {"username": username, "password": password})

    def text(self, url: str, status: int = 200) -> str:
        response = self.client.get(url)
        assert response.status_code == status, (url, response.status_code)
        return response.get_data(as_text=True)


@pytest.fixture
def web(app: Flask) -> Web:
    return Web(app.test_client())


@pytest.fixture
def web_as(app: Flask, make: Any) -> Any:
    """``web_as("sup", "supervisor", team="north")``: a signed-in client for a new user."""

    def sign_in(username: str, role: str, *, team: str | None = None) -> Web:
        make.user(username, role, team=team)
        client = Web(app.test_client())
        response = client.login(username)
        assert response.status_code == 302, response.get_data(as_text=True)
        return client

    return sign_in
