"""Digest counts are recorded in the database, so a replay is refused whichever gunicorn
worker process it reaches."""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

import pytest

from tests.auth.test_device_auth import H, _digest_header
from tests.live.conftest import LiveServer

pytestmark = pytest.mark.live


def _get(server: LiveServer, headers: dict[str, str]) -> http.client.HTTPResponse:
    parts = urlsplit(server.base_url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    conn.request("GET", "/formList", headers=headers)  # a new connection each time
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def test_a_replayed_count_is_refused_by_every_worker(live_server: LiveServer):
    live_server.cli(
        "create-user", "cw1", "--role", "caseworker", "--password-stdin", input="a long password\n"
    )
    challenge = _get(live_server, H).getheader("WWW-Authenticate") or ""

    def auth(nc: int) -> dict[str, str]:
        header = _digest_header(
            challenge, "GET", "/formList", "cw1", "a long password", nc=f"{nc:08x}"
        )
        return {**H, "Authorization": header}

    # Collect reuses the nonce with the next count on each request
    assert [_get(live_server, auth(nc)).status for nc in range(1, 9)] == [200] * 8
    for nc in (3, 8):  # replays, each sent several times so that both workers see one
        for _ in range(4):
            replay = _get(live_server, auth(nc))
            assert replay.status == 401
            assert "stale=true" in (replay.getheader("WWW-Authenticate") or "")
    assert _get(live_server, auth(9)).status == 200
