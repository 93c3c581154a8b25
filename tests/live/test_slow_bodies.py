"""Bodies that arrive slowly, or that are too large, against a real gunicorn on SQLite: a
slow body holds one thread and never the app, and a body over the limit gets an answer the
client can read."""

from __future__ import annotations

import http.client
import socket
import threading
import time
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

import pytest

from tests.live.conftest import LiveServer

pytestmark = pytest.mark.live

# fewer than the threads of one worker process (8): each slow body holds a thread, and
# before both workers have started, one may get them all
SLOW_SENDERS = 6
SENDING_SECONDS = 12.0
QUICK = 2.0  # what GET /login may take while the slow bodies arrive


def _slow_chunked(base_url: str, path: str, stop: threading.Event, started: list[int]) -> None:
    """POST a chunked body one byte at a time, until ``stop`` (or SENDING_SECONDS)."""
    parts = urlsplit(base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(
            (
                f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nX-OpenRosa-Version: 1.0\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\n"
                "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            ).encode()
        )
        started.append(1)
        deadline = time.monotonic() + SENDING_SECONDS
        while not stop.is_set() and time.monotonic() < deadline:
            sock.sendall(b"1\r\nx\r\n")
            stop.wait(0.5)


def _get_login_seconds(base_url: str) -> float:
    """How long GET /login takes; infinity when it has no answer within 3 s."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=3)
    started = time.monotonic()
    try:
        conn.request("GET", "/login")
        response = conn.getresponse()
        response.read()
    except TimeoutError:
        return float("inf")
    finally:
        conn.close()
    assert response.status == 200
    return time.monotonic() - started


def test_slow_chunked_bodies_do_not_stall_other_requests(live_server: LiveServer):
    stop = threading.Event()
    started: list[int] = []
    senders = [
        threading.Thread(
            target=_slow_chunked,
            args=(live_server.base_url, "/login" if n % 2 else "/submission", stop, started),
        )
        for n in range(SLOW_SENDERS)
    ]
    for sender in senders:
        sender.start()
    try:
        time.sleep(1.0)  # every sender has sent its headers and a few bytes
        waits = [_get_login_seconds(live_server.base_url) for _ in range(3)]
        still_sending = sum(sender.is_alive() for sender in senders)
    finally:
        stop.set()
        for sender in senders:
            sender.join(timeout=SENDING_SECONDS + 5)
    assert len(started) == SLOW_SENDERS
    assert max(waits) < QUICK, f"GET /login waited {waits} s behind slow bodies"
    assert still_sending == SLOW_SENDERS, "the senders ended too soon to prove anything"


# A small limit for the whole body as well, so that a body can be over both limits.
BODY_LIMIT = 1_500_000


@pytest.fixture
def live_server_env() -> dict[str, str]:
    return {"CASEWORK_MAX_CONTENT_LENGTH": str(BODY_LIMIT)}


def _phone_path(server: LiveServer) -> str:
    server.cli(
        "create-user", "cw1", "--role", "caseworker", "--password-stdin", input="a long password\n"
    )
    url = server.cli("create-device", "phone", "--user", "cw1").split("Server URL: ")[1]
    return urlsplit(url.split()[0]).path


@pytest.mark.parametrize(
    "size",
    [
        1_300_000,  # over the advertised 200 000 (and framing), under the whole-body limit
        # over every limit and more than loopback buffers hold: refused before it is read,
        # then drained so that the client, still sending, is not reset
        BODY_LIMIT + 20_000_000,
    ],
)
def test_a_submission_over_the_limit_gets_a_413_the_client_reads(
    live_server: LiveServer, size: int
):
    path = _phone_path(live_server) + "/submission?deviceID=collect%3Abig"
    boundary = "b0undary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="xml_submission_file"; '
        'filename="x.xml"\r\nContent-Type: text/xml\r\n\r\n<data id="x"/>\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="big.jpg"; filename="big.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    body = head + b"\xff" * (size - len(head) - len(tail)) + tail
    parts = urlsplit(live_server.base_url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    conn.request(
        "POST",
        path,
        body=body,
        headers={
            "X-OpenRosa-Version": "1.0",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )
    response = conn.getresponse()
    answer = response.read()
    conn.close()
    assert response.status == 413
    assert response.getheader("X-OpenRosa-Accept-Content-Length") == "200000"
    message = ET.fromstring(answer)
    assert message.tag == "{http://openrosa.org/http/response}OpenRosaResponse"
    assert "larger than the server accepts" in answer.decode()
