"""CASEWORK_TRUST_PROXY decides whether X-Forwarded-Proto is believed, in gunicorn too."""

from __future__ import annotations

import base64
import http.client
from urllib.parse import urlsplit

import pytest

from tests.live.conftest import LiveServer

pytestmark = pytest.mark.live


@pytest.fixture(params=["false", "true"])
def live_server_env(request: pytest.FixtureRequest) -> dict[str, str]:
    return {"CASEWORK_TRUST_PROXY": request.param}


def test_basic_over_plain_http_is_refused_unless_a_trusted_proxy_says_https(
    live_server: LiveServer,
):
    live_server.cli(
        "create-user", "cw1", "--role", "caseworker", "--password-stdin", input="a long password\n"
    )
    parts = urlsplit(live_server.base_url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    basic = base64.b64encode(b"cw1:a long password").decode()
    conn.request(
        "GET",
        "/formList",
        headers={
            "X-OpenRosa-Version": "1.0",
            "Authorization": f"Basic {basic}",
            "X-Forwarded-Proto": "https",  # from 127.0.0.1, over plain HTTP
        },
    )
    response = conn.getresponse()
    answer = response.read()
    conn.close()
    if live_server.env["CASEWORK_TRUST_PROXY"] == "true":
        assert response.status == 200, answer
    else:
        assert response.status == 401, answer
        assert b"Basic authentication is accepted over HTTPS only" in answer
        challenges = response.headers.get_all("WWW-Authenticate") or []
        assert [c.split()[0] for c in challenges] == ["Digest"]
